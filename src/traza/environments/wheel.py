"""The running Traza as a wheel, for environments that need Traza itself (Traza is not on
PyPI). Built once per digest of its source with ``uv build --wheel`` and kept under
``<root>/.wheels/<digest>/``, so a changed source gives a new wheel and new environments."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from traza.environments.spec import EnvironmentBuildError

_digests: dict[tuple[object, ...], str] = {}


def source_root() -> Path:
    """The source tree of the running Traza (the folder with its ``pyproject.toml``)."""
    import traza

    package = Path(traza.__file__).resolve().parent
    for parent in package.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "traza").is_dir():
            return parent
    raise EnvironmentBuildError(
        f"Traza at {package} is not running from its source tree, and Traza is not on PyPI, so "
        "it cannot be installed into the environment; use --env-manager local."
    )


def _files(root: Path) -> list[Path]:
    found = [root / "pyproject.toml"]
    for dirpath, dirs, files in os.walk(root / "src" / "traza"):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [Path(dirpath) / f for f in sorted(files) if not f.endswith((".pyc", ".pyo"))]
    return found


def source_digest(root: Path) -> str:
    """A hash of Traza's source files' contents (remembered in-process while their sizes and
    mtimes stay the same, so a warm environment lookup reads no file twice)."""
    files = _files(root)
    stamp: list[object] = []
    for path in files:
        st = path.stat()
        stamp += [str(path), st.st_size, st.st_mtime_ns]
    key = tuple(stamp)
    if (hit := _digests.get(key)) is not None:
        return hit
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes())
    _digests[key] = value = h.hexdigest()[:16]
    return value


def traza_wheel(
    wheels_root: Path, uv: str, env: dict[str, str], progress: Callable[[str], None]
) -> Path:
    """The wheel of the running Traza, built now unless this source was built before."""
    root = source_root()
    final = wheels_root / source_digest(root)
    if found := sorted(final.glob("traza-*.whl")):
        return found[-1]
    wheels_root.mkdir(parents=True, exist_ok=True)
    work = wheels_root / f".tmp-{final.name}-{os.getpid()}-{time.monotonic_ns()}"
    started = time.monotonic()
    progress(f"Building a Traza wheel from {root} ...")
    try:
        done = subprocess.run(
            [uv, "build", "--quiet", "--wheel", "--out-dir", str(work), str(root)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise EnvironmentBuildError(f"Could not build a Traza wheel from {root}:\n{tail}")
        try:
            os.rename(work, final)
        except OSError:
            if not any(final.glob("traza-*.whl")):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(f"Built the Traza wheel in {time.monotonic() - started:.1f} s")
    return sorted(final.glob("traza-*.whl"))[-1]
