"""The environment a run starts in, as MLflow's environment files: ``python_env.yaml`` naming
the exact Python and ``requirements.txt`` pinning every installed distribution.

Read through ``importlib.metadata`` (no ``pip`` subprocess). A distribution installed from a
local folder cannot be installed again by name and is listed as a comment, except Traza itself,
which ``traza reproduce`` installs from its own source.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ARTIFACT_DIR = "environment"
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"
_BUILD_TOOLS = ("pip", "setuptools", "wheel")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Snapshot:
    prefix: str  # the environment's folder
    python_version: str
    requirements: tuple[str, ...]  # "name==version" or "name @ url"
    build_dependencies: tuple[str, ...]
    local: tuple[str, ...]  # installed from a local folder: "name==version (file:///...)"

    def python_env_yaml(self) -> str:
        lines = [f"python: {self.python_version}", "build_dependencies:"]
        lines += [f"  - {d}" for d in self.build_dependencies] or ["  - pip"]
        lines += ["dependencies:", f"  - -r {REQUIREMENTS_FILE}"]
        return "\n".join(lines) + "\n"

    def requirements_txt(self) -> str:
        lines = [
            f"# The packages installed in {self.prefix} (Python {self.python_version}) when the "
            "run started, recorded by Traza.",
            *self.requirements,
        ]
        if self.local:
            lines.append("# Installed from local folders (not installable by name):")
            lines += [f"# {entry}" for entry in self.local]
        return "\n".join(lines) + "\n"


def snapshot(env_path: Path | None = None, python_version: str | None = None) -> Snapshot:
    """The running interpreter's version and installed distributions (first on ``sys.path``
    wins, as imports do), or those of the virtual or conda environment at ``env_path``, whose
    Python is ``python_version`` (default: its ``pyvenv.cfg``'s; a conda environment has none,
    and this interpreter's version would be wrong for it)."""
    from importlib import metadata

    if env_path is None:
        prefix, version, search = sys.prefix, _running_version(), None
    else:
        prefix, version = str(env_path), python_version or _venv_version(env_path)
        search = [str(p) for p in sorted(env_path.glob("lib/python*/site-packages"))]
        search += [str(p) for p in env_path.glob("Lib/site-packages")]

    seen: set[str] = set()
    requirements: list[str] = []
    build: list[str] = []
    local: list[str] = []
    found = metadata.distributions() if search is None else metadata.distributions(path=search)
    for dist in found:
        name = dist.metadata["Name"]
        if not name:
            continue
        key = _normalize(name)
        if key in seen:
            continue
        seen.add(key)
        installed = dist.version
        pinned = f"{name}=={installed}"
        origin = _direct_url(dist)
        if key in _BUILD_TOOLS:
            build.append(pinned)
        elif origin is None or key == "traza":
            requirements.append(pinned)
        elif origin.startswith("file:"):
            local.append(f"{pinned} ({origin})")
        else:
            requirements.append(f"{name} @ {origin}")
    requirements.sort(key=_sort_key)
    build.sort(key=_sort_key)
    return Snapshot(prefix, version, tuple(requirements), tuple(build), tuple(sorted(local)))


def _running_version() -> str:
    return ".".join(str(x) for x in sys.version_info[:3])


def _venv_version(env_path: Path) -> str:
    """The Python version a virtual environment was made with (its ``pyvenv.cfg``)."""
    cfg = env_path / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version_info", "version"):
                return ".".join(value.strip().split(".")[:3])  # virtualenv: 3.11.4.final.0
    return _running_version()


def _sort_key(line: str) -> str:
    return _normalize(re.split(r"[=@ ]", line, maxsplit=1)[0])


def _direct_url(dist: object) -> str | None:
    """Where a distribution was installed from when not from an index (PEP 610)."""
    text = dist.read_text("direct_url.json")  # type: ignore[attr-defined]
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    url = str(info.get("url") or "")
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("commit_id"):
        return f"{vcs.get('vcs', 'git')}+{url}@{vcs['commit_id']}"
    return url or None
