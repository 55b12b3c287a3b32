"""Parameter values: checked against their declared types, then formatted into the command.

Values are passed and logged exactly as the user wrote them (``False`` stays ``False``, as in
MLflow); checking a type never converts. Only ``path`` values change on the command line: a
local path is made absolute and a remote URI is downloaded first.
"""

from __future__ import annotations

import difflib
import shlex
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traza.exceptions import ExecutionException
from traza.projects.spec import EntryPoint, Parameter

BOOL_SPELLINGS = frozenset({"true", "false", "1", "0", "yes", "no"})
#: MLflow's parameter types, and the two Traza also checks; any other is a string, as in MLflow.
MLFLOW_TYPES = ("string", "float", "path", "uri")
KNOWN_TYPES = frozenset({*MLFLOW_TYPES, "str", "int", "bool"})


def _error(message: str) -> ExecutionException:
    return ExecutionException(message, error_code="INVALID_PARAMETER_VALUE")


def as_strings(parameters: dict[str, Any] | None) -> dict[str, str]:
    """The user's values as the strings the command and the run will see."""
    return {str(k): str(v) for k, v in (parameters or {}).items()}


def is_uri(value: str) -> bool:
    """MLflow's test: anything with a scheme (``s3://b/k``, ``file:///x``, ``runs:/id/p``)."""
    return len(urllib.parse.urlparse(value).scheme) > 0


def _local_path(value: str) -> str | None:
    """The local path ``value`` names (a plain path or ``file:///...``), else ``None``."""
    parsed = urllib.parse.urlparse(value)
    if len(parsed.scheme) <= 1:  # no scheme, or a Windows drive letter
        return value
    if parsed.scheme == "file" and not parsed.netloc:
        return urllib.parse.unquote(parsed.path)
    return None


def find_path(value: str, project_dir: Path) -> Path | None:
    """The existing local file ``value`` names: from the working directory (as MLflow), else
    from the project folder (where a default written by the project's author points)."""
    local = _local_path(value)
    if local is None:
        return None
    path = Path(local).expanduser()
    for candidate in (path,) if path.is_absolute() else (path, project_dir / path):
        if candidate.exists():
            return candidate.resolve()
    return None


def check_value(param: Parameter, value: str, project_dir: Path) -> None:
    """Refuse a value its declared type cannot hold (the name, type and value are named)."""
    kind = param.type.lower()
    if kind == "float":
        try:
            float(value)
        except ValueError:
            raise _error(
                f"Invalid value {value!r} for parameter {param.name!r} of type float: not a number."
            ) from None
    elif kind == "int":
        try:
            int(value)
        except ValueError:
            raise _error(
                f"Invalid value {value!r} for parameter {param.name!r} of type int: not an integer."
            ) from None
    elif kind == "bool":
        if value.strip().lower() not in BOOL_SPELLINGS:
            raise _error(
                f"Invalid value {value!r} for parameter {param.name!r} of type bool: "
                "use true/false, yes/no or 1/0 (any case)."
            )
    elif kind == "uri":
        if not is_uri(value):
            raise _error(f"Expected URI for parameter {param.name} but got {value}")
    elif kind == "path" and _local_path(value) is not None and not find_path(value, project_dir):
        raise _error(
            f"Got value {value} for parameter {param.name}, but no such file or directory "
            "was found."
        )


@dataclass(frozen=True)
class Resolved:
    """An entry point's values: declared (in declaration order) and extra, all strings."""

    declared: dict[str, str]
    extra: dict[str, str]
    #: What the user should hear before the run starts (a likely typo, an unknown type).
    warnings: tuple[str, ...] = field(default=())

    @property
    def to_log(self) -> dict[str, str]:
        return {**self.declared, **self.extra}


def resolve(entry_point: EntryPoint, user: dict[str, str], project_dir: Path) -> Resolved:
    """Check every value (user's and defaults); raise before anything runs when one is wrong."""
    missing = [
        name for name, p in entry_point.parameters.items() if name not in user and p.default is None
    ]
    if missing:
        raise _error(
            "No value given for missing parameters: " + ", ".join(f"'{n}'" for n in missing)
        )
    declared: dict[str, str] = {}
    for name, param in entry_point.parameters.items():
        given = name in user
        value = user[name] if given else param.default
        assert value is not None
        # Defaults are the author's (MLflow passes them unchecked); only paths and URIs are
        # acted on for them, as MLflow does.
        if given or param.type.lower() in ("path", "uri"):
            check_value(param, value, project_dir)
        declared[name] = value
    extra = {k: v for k, v in user.items() if k not in entry_point.parameters}
    return Resolved(declared, extra, tuple(_warnings(entry_point, extra)))


def _warnings(entry_point: EntryPoint, extra: dict[str, str]) -> list[str]:
    """MLflow passes an undeclared parameter on as ``--name value`` and treats an unknown type as
    a string, silently; both are usually typos, so say so (and what was meant, when it is
    close to a declared name) while keeping MLflow's behaviour."""
    found: list[str] = []
    declared = list(entry_point.parameters)
    for name in extra:
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]}?" if close else ""
        listed = ", ".join(declared) if declared else "none"
        found.append(
            f"Parameter {name!r} is not declared by entry point {entry_point.name!r} "
            f"(declared: {listed}); it is passed on as --{name} {extra[name]}.{hint}"
        )
    for param in entry_point.parameters.values():
        if param.type.lower() not in KNOWN_TYPES:
            found.append(
                f"Parameter {param.name!r} of entry point {entry_point.name!r} has type "
                f"{param.type!r}, which MLflow does not define ({', '.join(MLFLOW_TYPES)}; Traza "
                "also checks int and bool): its value is taken as a string."
            )
    return found


def command_values(
    entry_point: EntryPoint, resolved: Resolved, project_dir: Path, storage_dir: Path | None
) -> dict[str, str]:
    """The declared values as the command sees them: paths absolute, remote paths downloaded."""
    values = dict(resolved.declared)
    for position, (name, param) in enumerate(entry_point.parameters.items()):
        if param.type.lower() != "path":
            continue
        value = values[name]
        found = find_path(value, project_dir)
        if found is not None:
            values[name] = str(found)
            continue
        if _local_path(value) is not None:
            raise _error(f"No file or directory {value} for parameter {name}.")
        if storage_dir is None:
            continue
        target = storage_dir / f"param_{position}"
        target.mkdir(parents=True, exist_ok=True)
        from traza.artifacts import download_artifacts

        try:
            values[name] = download_artifacts(artifact_uri=value, dst_path=str(target))
        except Exception as e:
            raise _error(f"Could not download {value} for parameter {name}: {e}") from e
    return values


def format_command(entry_point: EntryPoint, values: dict[str, str], extra: dict[str, str]) -> str:
    """The entry point's command with ``{param}`` filled in (shell-quoted), extras appended."""
    quoted = {k: shlex.quote(v) for k, v in values.items()}
    try:
        command = entry_point.command.format(**quoted)
    except KeyError as e:
        raise _error(
            f"The command of entry point {entry_point.name!r} uses {{{e.args[0]}}}, which is not "
            "one of its parameters."
        ) from None
    except (IndexError, ValueError) as e:
        raise _error(f"The command of entry point {entry_point.name!r} is malformed: {e}") from None
    parts = [command]
    parts.extend(f"--{shlex.quote(k)} {shlex.quote(v)}" for k, v in extra.items())
    return " ".join(parts)
