"""``docker_env`` projects: the engine is asked first, then the entry point runs in a container.

The project folder is mounted at MLflow's path (``/mlflow/projects/code``) and is the working
directory; the run's variables are passed with ``-e``. A local store is mounted too, so Traza
inside the container logs into it (the real ``mlflow`` needs a tracking server there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from traza.exceptions import ExecutionException
from traza.projects.spec import DockerEnv

WORKDIR = "/mlflow/projects/code"
STORE_MOUNT = "/mlflow/tmp/mlruns"


def check_engine() -> None:
    """Raise unless ``docker info`` answers (a client without an engine is not enough)."""
    if shutil.which("docker") is None:
        raise ExecutionException(
            "This project has a docker_env, but the docker executable is not on PATH. Install "
            "Docker (https://docs.docker.com/install/) or run a project without docker_env."
        )
    try:
        result = subprocess.run(
            ["docker", "info"], capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        raise ExecutionException(
            "This project has a docker_env, but no Docker engine answers: `docker info` did "
            "not reply within 30 s."
        ) from None
    if result.returncode != 0:
        why = (result.stderr or result.stdout).strip().splitlines()
        raise ExecutionException(
            "This project has a docker_env, but no Docker engine answers: `docker info` failed"
            + (f" ({why[-1]})" if why else "")
            + ". Start the Docker daemon (or point DOCKER_HOST at one) and run again."
        )


def build_image(project_dir: Path, name: str | None, base: str, commit: str | None) -> str:
    """An image of ``base`` with the project copied in (``--build-image``); returns its tag."""
    tag = (name or "docker-project").lower() + (f":{commit[:7]}" if commit else "")
    with tempfile.TemporaryDirectory(prefix="traza-docker-") as context:
        shutil.copytree(project_dir, Path(context) / "project", symlinks=True)
        dockerfile = Path(context) / "Dockerfile"
        dockerfile.write_text(f"FROM {base}\nCOPY project/ {WORKDIR}/\nWORKDIR {WORKDIR}\n")
        result = subprocess.run(["docker", "build", "-t", tag, context], check=False)
    if result.returncode != 0:
        raise ExecutionException(f"`docker build` of the project image {tag} failed.")
    return tag


def check_environment(env: DockerEnv) -> None:
    """The host variables the project copies into the container must be set (checked early)."""
    for entry in env.environment:
        if len(entry) == 1 and entry[0] not in os.environ:
            names = ", ".join(e[0] for e in env.environment if len(e) == 1)
            raise ExecutionException(
                f"This project expects the {names} environment variables to be set on the "
                f"machine running the project, but {entry[0]} was not set."
            )


def _store_mount(store_uri: str) -> tuple[list[str], str]:
    """(``-v`` arguments, the URI the container sees) for the run's store."""
    if store_uri.startswith("file:"):
        # The client's tracking URI: a folder store is always an absolute ``file:`` URI there.
        folder = urllib.parse.unquote(urllib.parse.urlparse(store_uri).path)
        return ["-v", f"{folder}:{STORE_MOUNT}"], f"file://{STORE_MOUNT}"
    if store_uri.startswith("sqlite:///"):
        path = Path(store_uri[len("sqlite:///") :])
        return ["-v", f"{path.parent}:{STORE_MOUNT}"], f"sqlite:///{STORE_MOUNT}/{path.name}"
    return [], store_uri


def docker_argv(
    env: DockerEnv,
    image: str,
    project_dir: Path,
    command: list[str],
    run_env: dict[str, str],
    store_uri: str,
    docker_args: dict[str, Any] | None,
) -> list[str]:
    """The ``docker run`` argument list for ``command`` (as MLflow builds it, plus the mount)."""
    argv = ["docker", "run", "--rm", "-v", f"{project_dir}:{WORKDIR}", "-w", WORKDIR]
    for name, value in (docker_args or {}).items():
        flag = f"-{name}" if len(name) == 1 else f"--{name}"
        if isinstance(value, bool):
            argv += [flag] if value else []
        else:
            argv += [flag, str(value)]
    mount, container_uri = _store_mount(store_uri)
    argv += mount
    variables = dict(run_env)
    variables["TRAZA_TRACKING_URI"] = container_uri
    if not store_uri.startswith(("http://", "https://")):
        variables["MLFLOW_TRACKING_URI"] = container_uri
    check_environment(env)
    for entry in env.environment:
        variables[entry[0]] = entry[1] if len(entry) == 2 else os.environ[entry[0]]
    for volume in env.volumes:
        argv += ["-v", volume]
    for key, value in variables.items():
        argv += ["-e", f"{key}={value}"]
    return [*argv, image, *command]
