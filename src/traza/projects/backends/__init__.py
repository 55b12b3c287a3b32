"""Where ``traza run --backend NAME`` sends a project: the registry of backends.

Built-ins first (``local``, ``slurm``, ``ray``, each imported only when chosen), then plugins
installed under MLflow's ``mlflow.project_backend`` entry point group, whose object is called
to build an :class:`AbstractBackend`. A new built-in (Kubernetes, say) is one module with a
:class:`TrazaBackend` subclass and one line in ``BUILTIN``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from traza.exceptions import ExecutionException
from traza.projects.backends.base import AbstractBackend, Submission, TrazaBackend

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "AbstractBackend",
    "Submission",
    "TrazaBackend",
    "available",
    "load_backend",
    "load_config",
]

ENTRY_POINT_GROUP = "mlflow.project_backend"
#: name -> "module:class" of Traza's own backends.
BUILTIN = {
    "local": "traza.projects.backends.local:LocalBackend",
    "slurm": "traza.projects.backends.slurm:SlurmBackend",
    "ray": "traza.projects.backends.ray:RayBackend",
}


def _plugins() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Every backend name ``--backend`` accepts here, built-ins first."""
    return [*BUILTIN, *sorted(n for n in _plugins() if n not in BUILTIN)]


def load_backend(name: str) -> AbstractBackend:
    """The backend called ``name``; an :class:`ExecutionException` naming the choices else."""
    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        backend: Any = getattr(importlib.import_module(module), attr)()
        return backend  # type: ignore[no-any-return]
    plugin = _plugins().get(name)
    if plugin is None:
        raise ExecutionException(
            f"Unknown backend {name!r}. Available: {', '.join(available())} (plugins install "
            f"under the {ENTRY_POINT_GROUP!r} entry point group).",
            error_code="INVALID_PARAMETER_VALUE",
        )
    try:
        builder = plugin.load()
        backend = builder()
    except Exception as e:
        raise ExecutionException(
            f"The backend plugin {name!r} ({plugin.value}) could not be loaded: "
            f"{type(e).__name__}: {e}"
        ) from e
    if not callable(getattr(backend, "run", None)):
        raise ExecutionException(
            f"The backend plugin {name!r} ({plugin.value}) gave {type(backend).__name__}, "
            "which has no run() method (an AbstractBackend is expected)."
        )
    return backend  # type: ignore[no-any-return]


def load_config(value: dict[str, Any] | str | Path | None) -> dict[str, Any]:
    """A backend configuration from a dict, a JSON/YAML file path or a JSON string."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    text = str(value)
    path = Path(text).expanduser()
    is_file = text.endswith((".json", ".yaml", ".yml")) or (
        not text.lstrip().startswith("{") and path.is_file()
    )
    try:
        if is_file:
            text = path.read_text(encoding="utf-8")
        config = _parse(text, yaml_file=is_file and path.suffix in (".yaml", ".yml"))
    except OSError as e:
        raise _bad_config(f"cannot read {path}: {e.strerror or e}") from None
    if not isinstance(config, dict):
        raise _bad_config(f"it must be an object (name: value), got {type(config).__name__}")
    return config


def _parse(text: str, *, yaml_file: bool) -> Any:
    if not yaml_file:
        try:
            return json.loads(text)
        except ValueError as e:
            raise _bad_config(f"JSON parse error: {e}") from None
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # a SafeLoader subclass
    except yaml.YAMLError as e:
        raise _bad_config(f"YAML parse error: {e}") from None


def _loader() -> Any:
    """YAML's safe loader without YAML 1.1's base-60 numbers: ``time: 02:00:00`` stays the
    string Slurm expects instead of becoming the integer 7200."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    number_tags = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in number_tags]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:int",
        re.compile(
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
        ),
        list("-+0123456789"),
    )
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )
    return Loader


def _bad_config(why: str) -> ExecutionException:
    return ExecutionException(
        f"Invalid backend config: {why}. Give a JSON object, or a .json/.yaml file.",
        error_code="INVALID_PARAMETER_VALUE",
    )
