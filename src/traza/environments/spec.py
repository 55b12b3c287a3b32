"""What an environment must contain, read from ``python_env.yaml``, ``conda.yaml`` or a bare
``requirements.txt``, with every ``-r``/``-c`` file read in, so the cache key covers the
contents of the files a spec names and not just their names."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traza.exceptions import INVALID_PARAMETER_VALUE, TrazaException


class EnvironmentBuildError(TrazaException):
    """An environment could not be prepared; the message says what was wrong and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(.+)$")
_EDITABLE = re.compile(r"^(-e|--editable)(?:\s+|=)(.+)$")
#: conda dependencies that have a pip meaning (MLflow keeps these when it converts conda.yaml).
_CONDA_PIP_TOOL = re.compile(r"^(?P<name>python|pip|setuptools|wheel)(?P<op><=|>=|==|=|<|>|!=)?"
                             r"(?P<version>[\d.]+)?$")  # fmt: skip


def requirement_name(line: str) -> str | None:
    """The normalized project name a requirement line installs (``None`` for options/paths)."""
    if line.startswith(("-", ".", "/", "file:")) or "://" in line:
        return None
    match = _NAME.match(line)
    return match.group(1).lower().replace("_", "-").replace(".", "-") if match else None


@dataclass(frozen=True)
class EnvSpec:
    """A Python version (``None``: the running one) and pip requirement lines.

    ``requirements`` are the lines as the user wrote them with every include read in (paths made
    absolute; lines of ``-c`` files prefixed ``--constraint``), which is both what is installed
    and what the cache key hashes. ``source`` names
    the file the spec came from, for ``traza envs list``.
    """

    python: str | None
    build_dependencies: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    source: str = ""
    conda_only: tuple[str, ...] = field(default=(), compare=False)

    # -- readers ----------------------------------------------------------------------------------
    @classmethod
    def from_python_env(cls, path: Path) -> EnvSpec:
        """``python_env.yaml``: ``python``, ``build_dependencies``, ``dependencies``."""
        doc = _load_yaml(path)
        python = doc.get("python")
        return cls(
            python=str(python) if python is not None else None,
            build_dependencies=tuple(_strings(doc, "build_dependencies", path)),
            requirements=tuple(expand(_strings(doc, "dependencies", path), path.parent)),
            source=str(path),
        )

    @classmethod
    def from_conda_yaml(cls, path: Path) -> EnvSpec:
        """``conda.yaml`` read as a Python environment (for ``virtualenv``/``uv``), as MLflow does:
        ``python=X`` gives the version, pip/setuptools/wheel become build dependencies, the
        ``pip:`` list the requirements; other conda packages are listed in ``conda_only``."""
        doc = _load_yaml(path)
        python: str | None = None
        build: list[str] = []
        deps: list[str] = []
        conda_only: list[str] = []
        for dep in doc.get("dependencies") or []:
            if isinstance(dep, dict) and set(dep) == {"pip"}:
                deps += [str(x) for x in dep["pip"] or []]
            elif isinstance(dep, str):
                match = _CONDA_PIP_TOOL.match(dep.replace(" ", ""))
                if match is None:
                    conda_only.append(dep)
                elif match["name"] == "python":
                    if match["version"] is None or match["op"] in ("<", ">", "!="):
                        raise EnvironmentBuildError(
                            f"{path}: the python dependency {dep!r} must be pinned "
                            "(e.g. python=3.10.13)."
                        )
                    python = match["version"]
                else:
                    op = "==" if match["op"] == "=" else (match["op"] or "")
                    build.append(match["name"] + op + (match["version"] or ""))
            else:
                raise EnvironmentBuildError(
                    f"{path}: the conda dependency {dep!r} is neither a string nor a pip list."
                )
        return cls(python, tuple(build), tuple(expand(deps, path.parent)), str(path),
                   tuple(conda_only))  # fmt: skip

    @classmethod
    def from_requirements(cls, path: Path, python: str | None = None) -> EnvSpec:
        """A bare ``requirements.txt`` (a model saved without ``python_env.yaml``)."""
        return cls(python, (), tuple(expand([f"-r {path.name}"], path.parent)), str(path))

    # -- derived ----------------------------------------------------------------------------------
    def without(self, names: frozenset[str]) -> EnvSpec:
        """The spec without requirements naming one of ``names`` (normalized project names)."""
        kept = tuple(r for r in self.requirements if requirement_name(r) not in names)
        return EnvSpec(self.python, self.build_dependencies, kept, self.source, self.conda_only)

    def names(self) -> set[str]:
        return {n for r in self.requirements if (n := requirement_name(r))}

    def key_text(self) -> str:
        """The text the cache key hashes (the Python version is added by the resolver)."""
        return "\n".join(["build:", *self.build_dependencies, "deps:", *self.requirements])

    def summary(self) -> str:
        """A short description for listings: the file and the first requirements."""
        names = sorted(self.names())
        shown = ", ".join(names[:4]) + (f", +{len(names) - 4}" if len(names) > 4 else "")
        return f"{self.source or '(no file)'}: {shown or 'no requirements'}"


def expand(lines: list[str], base: Path, _seen: tuple[Path, ...] = ()) -> list[str]:
    """Requirement lines with comments dropped, ``-r``/``-c`` files read in (recursively,
    relative to the file naming them) and local paths made absolute, so the result installs the
    same from any working folder and its hash changes when an included file does."""
    out: list[str] = []
    for raw in lines:
        line = re.split(r"(?:^|\s)#", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        include = _INCLUDE.match(line)
        if include:
            path = (base / include[2].strip()).resolve()
            if path in _seen:
                raise EnvironmentBuildError(f"{path} includes itself (through -r/-c).")
            if not path.is_file():
                raise EnvironmentBuildError(f"The requirements file {path} is missing.")
            text = path.read_text(encoding="utf-8")
            inner = expand(text.splitlines(), path.parent, (*_seen, path))
            if include[1] in ("-c", "--constraint"):
                out += [f"--constraint {x}" for x in inner if not x.startswith("--constraint ")]
                out += [x for x in inner if x.startswith("--constraint ")]
            else:
                out += inner
            continue
        out.append(_absolutize(line, base))
    return out


def _absolutize(line: str, base: Path) -> str:
    editable = _EDITABLE.match(line)
    target = editable[2].strip() if editable else line
    if target.startswith((".", "/")) or target.startswith("file:"):
        if not target.startswith(("/", "file:")):
            target = str((base / target).resolve())
        return f"-e {target}" if editable else target
    return line


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise EnvironmentBuildError(f"The environment file {path} is missing.")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader())
    except yaml.YAMLError as exc:
        raise EnvironmentBuildError(f"{path} is not valid YAML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise EnvironmentBuildError(f"{path} must be a YAML mapping.")
    return doc


def _loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _strings(doc: dict[str, Any], key: str, path: Path) -> list[str]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        raise EnvironmentBuildError(f"{path}: {key} must be a list of requirement strings.")
    return [str(x) for x in value]


def digest(*parts: str) -> str:
    """A short, stable hex digest of text parts (the environment's folder name)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:20]
