"""``traza.projects.run(..., backend=NAME)`` for any backend but ``local``: hand the project to
a built-in :class:`TrazaBackend` or to an MLflow plugin, then wait for it when synchronous.

Kept apart from :mod:`traza.projects.runner`, which runs entry points on this machine; the
backends reuse its checks, run creation and ending (``_prepare``, ``open_run``, ``_finish``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from traza.projects import backends
from traza.projects.backends import base
from traza.projects.runner import _experiment_id, _wait, store_uri
from traza.projects.submitted import SubmittedRun


def submit_to(
    backend: str,
    backend_config: dict[str, Any] | str | None,
    submission: base.Submission,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
) -> SubmittedRun:
    """Hand ``submission`` (its experiment and tracking URI are filled here) to the backend
    called ``backend``; wait when it is synchronous. A plugin gets MLflow's call, and its run
    the backend and run-name tags."""
    from traza.client import TrazaClient

    chosen = backends.load_backend(backend)
    config = backends.load_config(backend_config)
    client = TrazaClient()
    exp_id = _experiment_id(client, experiment_name, experiment_id or None)
    s = dataclasses.replace(
        submission, experiment_id=exp_id, tracking_uri=store_uri(client.tracking_uri), config=config
    )
    submitted: SubmittedRun
    if isinstance(chosen, backends.TrazaBackend):
        submitted = chosen.submit(s)
    else:
        reserved = {
            base.ENV_MANAGER: s.env_manager, base.SYNCHRONOUS: s.synchronous,
            base.DOCKER_ARGS: s.docker_args, base.STORAGE_DIR: s.storage_dir,
            base.BUILD_IMAGE: s.build_image, base.DOCKER_AUTH: None,
        }  # fmt: skip
        submitted = chosen.run(
            s.uri, s.entry_point, s.parameters, s.version, {**config, **reserved},
            s.tracking_uri, exp_id,
        )  # fmt: skip
        client.set_tag(submitted.run_id, "mlflow.project.backend", backend)
        if s.run_name:
            client.set_tag(submitted.run_id, "mlflow.runName", s.run_name)
    if s.synchronous:
        _wait(submitted)
    return submitted
