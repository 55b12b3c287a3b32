"""The ``local`` backend: the entry point runs on this machine (``traza.projects.runner``)."""

from __future__ import annotations

from traza.projects.backends.base import Submission, TrazaBackend
from traza.projects.submitted import SubmittedRun


class LocalBackend(TrazaBackend):
    """Runs the project here, as ``traza run`` without ``--backend`` does."""

    name = "local"

    def submit(self, submission: Submission) -> SubmittedRun:
        from traza.projects.runner import run

        s = submission
        return run(
            s.uri, s.entry_point, s.version, s.parameters, docker_args=s.docker_args,
            experiment_id=s.experiment_id, backend="local", storage_dir=s.storage_dir,
            synchronous=False, run_id=s.run_id, run_name=s.run_name, env_manager=s.env_manager,
            build_image=s.build_image,
        )  # fmt: skip
