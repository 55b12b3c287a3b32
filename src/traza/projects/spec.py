"""The ``MLproject`` file: entry points, parameters and the one environment a project names.

The format is MLflow's. A folder without an ``MLproject`` is still a project: its ``.py`` and
``.sh`` files can be run as entry points. Everything here is checked before a run is created,
so a malformed project never leaves a run behind.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traza.exceptions import ExecutionException, invalid

MLPROJECT_NAME = "mlproject"  # matched case-insensitively, as MLflow does
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"
ENV_KEYS = ("python_env", "conda_env", "docker_env")
SCRIPT_EXTENSIONS = (".py", ".sh")


@dataclass(frozen=True)
class Parameter:
    """A declared parameter. ``default`` is ``None`` when the parameter is required."""

    name: str
    type: str = "string"
    default: str | None = None


@dataclass(frozen=True)
class EntryPoint:
    name: str
    command: str
    parameters: dict[str, Parameter] = field(default_factory=dict)


@dataclass(frozen=True)
class DockerEnv:
    image: str
    volumes: tuple[str, ...] = ()
    #: ``("NAME",)`` copies a host variable; ``("NAME", "value")`` sets one.
    environment: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str | None
    entry_points: dict[str, EntryPoint]
    #: ``python_env.yaml`` to build from (given, or found by the default rule), if any.
    python_env: Path | None = None
    conda_env: Path | None = None
    docker_env: DockerEnv | None = None

    @property
    def env_type(self) -> str:
        """``python``, ``conda`` or ``docker``: what the project asks for (MLflow's env types)."""
        if self.docker_env is not None:
            return "docker"
        return "conda" if self.conda_env is not None else "python"

    def entry_point(self, name: str) -> EntryPoint:
        """The entry point ``name``; a ``.py``/``.sh`` file in the project runs as a script."""
        if name in self.entry_points:
            return self.entry_points[name]
        extension = os.path.splitext(name)[1]
        if extension == ".py":
            return EntryPoint(name, f"python {shlex.quote(name)}")
        if extension == ".sh":
            shell = os.environ.get("SHELL") or "bash"
            return EntryPoint(name, f"{shlex.quote(shell)} {shlex.quote(name)}")
        raise ExecutionException(
            f"Could not find {name} among entry points {sorted(self.entry_points)} or interpret "
            f"{name} as a runnable script. Supported script file extensions: "
            f"{list(SCRIPT_EXTENSIONS)}",
            error_code="INVALID_PARAMETER_VALUE",
        )


def find_mlproject(directory: Path) -> Path | None:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        raise invalid(f"Project directory {directory} does not exist.") from None
    for name in names:
        if name.lower() == MLPROJECT_NAME and (directory / name).is_file():
            return directory / name
    return None


def _invalid(path: Path, why: str) -> ExecutionException:
    return ExecutionException(
        f"Project configuration ({path.name} file) was invalid: {why}",
        error_code="INVALID_PARAMETER_VALUE",
    )


def load_project(directory: Path) -> Project:
    """Read ``directory``'s ``MLproject`` (if any) into a :class:`Project`."""
    directory = Path(directory)
    path = find_mlproject(directory)
    data: Any = {}
    if path is not None:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
        except yaml.YAMLError as e:
            raise _invalid(path, f"not valid YAML ({e}).") from None
        if not isinstance(data, dict):
            raise _invalid(path, "the top level must be a mapping (name, entry_points, ...).")
    assert path is not None or not data
    env_keys = [k for k in ENV_KEYS if k in data]
    if len(env_keys) > 1:
        raise ExecutionException(
            f"Project cannot contain multiple environment fields: {set(env_keys)}",
            error_code="INVALID_PARAMETER_VALUE",
        )
    name = data.get("name")
    entry_points = _entry_points(path, data.get("entry_points")) if path else {}
    if "docker_env" in data:
        assert path is not None
        return Project(directory, _str(name), entry_points, docker_env=_docker(path, data))
    if data.get("python_env"):
        env = _env_file(directory, data["python_env"], "python_env file")
        return Project(directory, _str(name), entry_points, python_env=env)
    if data.get("conda_env"):
        env = _env_file(directory, data["conda_env"], "conda environment file")
        return Project(directory, _str(name), entry_points, conda_env=env)
    if (directory / PYTHON_ENV_FILE).is_file():
        return Project(directory, _str(name), entry_points, python_env=directory / PYTHON_ENV_FILE)
    if (directory / CONDA_ENV_FILE).is_file():
        return Project(directory, _str(name), entry_points, conda_env=directory / CONDA_ENV_FILE)
    return Project(directory, _str(name), entry_points)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _env_file(directory: Path, relative: Any, what: str) -> Path:
    path = (directory / str(relative)).resolve()
    if not path.is_file():
        raise ExecutionException(
            f"Project specified {what} {path}, but no such file was found.",
            error_code="INVALID_PARAMETER_VALUE",
        )
    return path


def _entry_points(path: Path, data: Any) -> dict[str, EntryPoint]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _invalid(path, "entry_points must be a mapping of names to entry points.")
    result = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("command"), str):
            raise _invalid(path, f"entry point {name!r} needs a 'command' string.")
        params = spec.get("parameters") or {}
        if not isinstance(params, dict):
            raise _invalid(path, f"the parameters of entry point {name!r} must be a mapping.")
        result[str(name)] = EntryPoint(
            str(name),
            spec["command"],
            {str(k): _parameter(path, str(k), v) for k, v in params.items()},
        )
    return result


def _parameter(path: Path, name: str, spec: Any) -> Parameter:
    """A bare type string (required) or ``{type, default}``; values kept as YAML spells them."""
    if isinstance(spec, str):
        return Parameter(name, spec)
    if spec is None:
        return Parameter(name)
    if not isinstance(spec, dict):
        raise _invalid(path, f"parameter {name!r} must be a type or a {{type, default}} mapping.")
    default = spec.get("default")
    return Parameter(
        name, str(spec.get("type") or "string"), None if default is None else str(default)
    )


def _docker(path: Path, data: dict[str, Any]) -> DockerEnv:
    docker = data["docker_env"]
    if not isinstance(docker, dict) or not docker.get("image"):
        raise _invalid(path, "Docker environment specified but no image attribute found.")
    volumes = docker.get("volumes") or []
    if not isinstance(volumes, list) or not all(isinstance(v, str) for v in volumes):
        raise _invalid(
            path,
            "Docker volumes must be a list of strings, e.g.: "
            '\'["/path1/:/path1", "/path2/:/path2"]\'',
        )
    environment = docker.get("environment") or []
    entries: list[tuple[str, ...]] = []
    for entry in environment if isinstance(environment, list) else [None]:
        if isinstance(entry, str):
            entries.append((entry,))
        elif isinstance(entry, list) and len(entry) == 2:
            entries.append((str(entry[0]), str(entry[1])))
        else:
            raise _invalid(
                path,
                "environment must be a list containing either strings (to copy environment "
                "variables from host system) or lists of string pairs (to define new "
                'environment variables). E.g.: \'[["NEW_VAR", "new_value"], '
                '"VAR_TO_COPY_FROM_HOST"]\'',
            )
    return DockerEnv(str(docker["image"]), tuple(volumes), tuple(entries))
