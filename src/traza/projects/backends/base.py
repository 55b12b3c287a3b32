"""The backend interface: where a project's entry point runs.

MLflow's plugin contract is :class:`AbstractBackend` with its one ``run`` method; a plugin
installed under the ``mlflow.project_backend`` entry point group implements it and is used
as it is. Traza's own backends (``local``, ``slurm``, ``ray``; later ``kubernetes``) are
:class:`TrazaBackend` subclasses: they take a :class:`Submission` carrying every option of
``traza.projects.run`` (run name, environment manager, ...), which MLflow's signature can only
pass inside ``backend_config`` under its reserved keys.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from traza.projects.submitted import SubmittedRun

#: Keys MLflow adds to ``backend_config`` before calling a plugin (``mlflow.projects.utils``).
ENV_MANAGER = "ENV_MANAGER"
SYNCHRONOUS = "SYNCHRONOUS"
DOCKER_ARGS = "DOCKER_ARGS"
STORAGE_DIR = "STORAGE_DIR"
BUILD_IMAGE = "build_image"
DOCKER_AUTH = "docker_auth"
RESERVED_KEYS = (ENV_MANAGER, SYNCHRONOUS, DOCKER_ARGS, STORAGE_DIR, BUILD_IMAGE, DOCKER_AUTH)


class AbstractBackend(abc.ABC):
    """MLflow's ``AbstractBackend``: submit an entry point, return a :class:`SubmittedRun`.

    ``run`` should return once the project is submitted (the caller waits when the user asked
    for a synchronous run).
    """

    @abc.abstractmethod
    def run(
        self,
        project_uri: str,
        entry_point: str,
        params: dict[str, Any],
        version: str | None,
        backend_config: dict[str, Any],
        tracking_uri: str,
        experiment_id: str,
    ) -> SubmittedRun:
        """Submit ``entry_point`` of the project at ``project_uri`` in ``experiment_id``."""


@dataclass(frozen=True)
class Submission:
    """Everything ``traza.projects.run`` was asked, for one backend to act on."""

    uri: str
    entry_point: str = "main"
    version: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    experiment_id: str = "0"
    tracking_uri: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # the backend's own settings
    env_manager: str | None = None
    storage_dir: str | None = None
    synchronous: bool = True
    run_id: str | None = None
    run_name: str | None = None
    docker_args: dict[str, Any] | None = None
    build_image: bool = False
    extra_tags: dict[str, str] = field(default_factory=dict)


class TrazaBackend(AbstractBackend):
    """A backend that takes the whole :class:`Submission` (Traza's built-ins).

    ``run`` keeps MLflow's signature, so a Traza backend can also be called the way MLflow
    calls plugins (the reserved ``backend_config`` keys carry the other options).
    """

    #: The name given to ``--backend``; also the ``mlflow.project.backend`` tag.
    name: str = ""

    @abc.abstractmethod
    def submit(self, submission: Submission) -> SubmittedRun:
        """Create the run, submit the entry point and return at once (the caller waits)."""

    def run(
        self,
        project_uri: str,
        entry_point: str,
        params: dict[str, Any],
        version: str | None,
        backend_config: dict[str, Any],
        tracking_uri: str,
        experiment_id: str,
    ) -> SubmittedRun:
        config = dict(backend_config or {})
        reserved = {key: config.pop(key, None) for key in RESERVED_KEYS}
        return self.submit(
            Submission(
                uri=project_uri,
                entry_point=entry_point,
                version=version,
                parameters=dict(params or {}),
                experiment_id=str(experiment_id),
                tracking_uri=tracking_uri,
                config=config,
                env_manager=reserved[ENV_MANAGER],
                storage_dir=reserved[STORAGE_DIR],
                synchronous=reserved[SYNCHRONOUS] is not False,
                docker_args=reserved[DOCKER_ARGS],
                build_image=bool(reserved[BUILD_IMAGE]),
            )
        )
