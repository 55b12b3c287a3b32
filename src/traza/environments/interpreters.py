"""Find an interpreter for the Python version a spec asks for, among those on this machine:
the running one, pyenv's (``$PYENV_ROOT/versions``), uv's managed ones and PATH's. Nothing is
downloaded. An exact version wins; else the newest of the same major.minor, with a warning.

Versions are read from folder names where the layout gives them (pyenv, uv), and PATH's
interpreters are asked once and remembered by (path, size, mtime), so resolving a version on a
warm start runs no subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from traza.environments.spec import EnvironmentBuildError

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_UV_DIR = re.compile(r"^cpython-(\d+\.\d+\.\d+)-")


@dataclass(frozen=True)
class Interpreter:
    """An interpreter on this machine and its exact version (``X.Y.Z``)."""

    path: str
    version: str
    origin: str  # "running", "pyenv", "uv", "PATH"

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True)
class Resolution:
    interpreter: Interpreter
    warning: str | None  # set when only the major.minor matched


def running() -> Interpreter:
    return Interpreter(sys.executable, ".".join(str(x) for x in sys.version_info[:3]), "running")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def pyenv_interpreters(pyenv_root: Path) -> Iterator[Interpreter]:
    versions = pyenv_root / "versions"
    try:
        names = os.listdir(versions)
    except OSError:
        return
    for name in names:
        exe = os.path.join(versions, name, "bin", "python")
        if _VERSION.match(name) and os.path.exists(exe):
            yield Interpreter(exe, name, "pyenv")


def uv_interpreters(uv_python_dir: Path) -> Iterator[Interpreter]:
    """uv's managed CPython builds (what ``uv python list --only-installed`` shows of them)."""
    try:
        names = os.listdir(uv_python_dir)
    except OSError:
        return
    for name in names:
        match = _UV_DIR.match(name)
        exe = os.path.join(uv_python_dir, name, "bin", "python3")
        if match and os.path.exists(exe):
            yield Interpreter(exe, match[1], "uv")


class ProbeCache:
    """Versions of PATH interpreters, asked once and kept in a JSON file by path, size, mtime."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self._data: dict[str, list[object]] | None = None
        self._dirty = False

    def _load(self) -> dict[str, list[object]]:
        if self._data is None:
            try:
                assert self.file is not None
                self._data = json.loads(self.file.read_text())
            except (OSError, ValueError, AssertionError):
                self._data = {}
        return self._data

    def version(self, exe: str) -> str | None:
        try:
            st = os.stat(exe)
        except OSError:
            return None
        stamp: list[object] = [st.st_size, st.st_mtime_ns]
        data = self._load()
        hit = data.get(exe)
        if hit is not None and hit[:2] == stamp:
            return str(hit[2]) if hit[2] else None
        found = _ask_version(exe)
        data[exe] = [*stamp, found or ""]
        self._dirty = True
        return found

    def save(self) -> None:
        if not self._dirty or self.file is None or self._data is None:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}")
            tmp.write_text(json.dumps(self._data))
            os.replace(tmp, self.file)
        except OSError:
            pass  # only a cache


def _ask_version(exe: str) -> str | None:
    try:
        out = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    version = out.stdout.strip()
    return version if _VERSION.match(version) else None


def path_interpreters(
    major_minor: str, probes: ProbeCache, skip_dirs: tuple[Path, ...]
) -> Iterator[Interpreter]:
    """``python<major.minor>``, ``python3`` and ``python`` on PATH (pyenv shims left out: pyenv's
    versions are read directly, and a shim answers for whichever version is global)."""
    for name in (f"python{major_minor}", "python3", "python"):
        found = shutil.which(name)
        if found is None:
            continue
        real = os.path.realpath(found)
        if any(Path(found).is_relative_to(d) or Path(real).is_relative_to(d) for d in skip_dirs):
            continue
        if version := probes.version(real):
            yield Interpreter(real, version, "PATH")


@dataclass(frozen=True)
class Finder:
    """Where to look; built once from the environment variables by :meth:`from_environ`."""

    pyenv_root: Path
    uv_python_dir: Path
    probe_file: Path | None

    @classmethod
    def from_environ(cls, probe_file: Path | None) -> Finder:
        env = os.environ
        home = Path.home()
        pyenv = Path(env.get("PYENV_ROOT") or home / ".pyenv")
        data = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
        uv_dir = Path(env.get("UV_PYTHON_INSTALL_DIR") or data / "uv" / "python")
        return cls(pyenv, uv_dir, probe_file)

    def candidates(self, major_minor: str, *, probe_path: bool) -> list[Interpreter]:
        found = [running(), *pyenv_interpreters(self.pyenv_root),
                 *uv_interpreters(self.uv_python_dir)]  # fmt: skip
        if probe_path:
            probes = ProbeCache(self.probe_file)
            skip = (self.pyenv_root / "shims",)
            found += path_interpreters(major_minor, probes, skip)
            probes.save()
        return found

    def resolve(self, wanted: str | None) -> Resolution:
        """The interpreter for ``wanted`` (``X.Y.Z`` or ``X.Y``; ``None``: the running one)."""
        if wanted is None or not wanted.strip():
            return Resolution(running(), None)
        wanted = wanted.strip()
        parts = wanted.split(".")
        if not (2 <= len(parts) <= 3 and all(p.isdigit() for p in parts)):
            raise EnvironmentBuildError(
                f"The Python version {wanted!r} is not of the form X.Y or X.Y.Z (e.g. 3.10.13)."
            )
        major_minor = ".".join(parts[:2])
        if wanted == (here := running()).version:
            return Resolution(here, None)  # the common case, without listing folders
        cheap = self.candidates(major_minor, probe_path=False)
        if len(parts) == 3 and (exact := _exact(cheap, wanted)):
            return Resolution(exact, None)
        every = self.candidates(major_minor, probe_path=True)
        if len(parts) == 3 and (exact := _exact(every, wanted)):
            return Resolution(exact, None)
        same = [i for i in every if i.major_minor == major_minor]
        if same:
            best = max(same, key=lambda i: (_version_key(i.version), i.origin == "running"))
            if len(parts) == 2:
                return Resolution(best, None)
            return Resolution(
                best,
                f"Python {wanted} is not on this machine; using Python {best.version} "
                f"({best.path}), the newest {major_minor} found (nothing is downloaded).",
            )
        have = sorted({i.version for i in every}, key=_version_key)
        raise EnvironmentBuildError(
            f"The environment asks for Python {wanted} and this machine has no Python "
            f"{major_minor} (found: {', '.join(have) or 'none'}; looked at the running Python, "
            f"pyenv in {self.pyenv_root}, uv's pythons in {self.uv_python_dir}, and PATH). "
            f"Install one (pyenv install {wanted}, or uv python install {wanted}) or run with "
            "--env-manager local."
        )


def _exact(found: list[Interpreter], wanted: str) -> Interpreter | None:
    return next((i for i in found if i.version == wanted), None)


def find_python(version: str | None, probe_file: Path | None = None) -> Interpreter:
    """The interpreter for ``version`` on this machine (see :meth:`Finder.resolve`)."""
    return Finder.from_environ(probe_file).resolve(version).interpreter
