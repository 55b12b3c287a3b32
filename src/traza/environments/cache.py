"""The environment cache: ``<root>/<hash>/`` per environment, built atomically.

An environment is built in ``<root>/.tmp-<hash>-<pid>-<random>`` and renamed into place; its
metadata file (``traza-env.json``) is written last, before the rename, so a folder is trusted
only when that file is there. A killed build leaves a ``.tmp-*`` folder nobody reads (cleaned
once its process is gone) and two concurrent builders race on the rename: one wins, the other
discards its copy. The metadata file's mtime is the "last used" time ``traza envs list`` shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "traza-env.json"
_TMP = ".tmp-"


def default_root() -> Path:
    """``$TRAZA_ENV_ROOT``, else ``$XDG_CACHE_HOME/traza/envs`` (``~/.cache/traza/envs``)."""
    if explicit := os.environ.get("TRAZA_ENV_ROOT"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "traza" / "envs"


def is_complete(env_dir: Path) -> bool:
    return os.path.exists(env_dir / MARKER)


def touch(env_dir: Path) -> None:
    """Record a use (the marker's mtime); a read-only cache is still usable."""
    with contextlib.suppress(OSError):
        os.utime(env_dir / MARKER)


def build_atomically(
    root: Path, key: str, build: Callable[[Path], dict[str, Any]], *, in_place: bool = False
) -> Path:
    """``<root>/<key>``, built by ``build(folder)`` unless complete already. ``build`` returns
    the metadata to record. ``in_place`` builds at the final path under a lock instead (conda
    environments cannot be moved after creation); the marker still decides completeness."""
    final = root / key
    if is_complete(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    clean_leftovers(root)
    if in_place:
        return _build_in_place(final, build)
    if os.path.lexists(final):  # incomplete: a build from before atomic renames, or damaged
        _remove(final)
    work = root / f"{_TMP}{key}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        meta = build(work)
        _write_marker(work, meta)
        try:
            os.rename(work, final)
        except OSError:
            if not is_complete(final):  # not a concurrent builder that finished first
                raise
    finally:
        if os.path.lexists(work):
            shutil.rmtree(work, ignore_errors=True)
    return final


def _build_in_place(final: Path, build: Callable[[Path], dict[str, Any]]) -> Path:
    import fcntl

    with open(final.parent / f".lock-{final.name}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_complete(final):
            return final
        if os.path.lexists(final):
            _remove(final)
        try:
            meta = build(final)
            _write_marker(final, meta)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
    return final


def _write_marker(folder: Path, meta: dict[str, Any]) -> None:
    tmp = folder / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / MARKER)


def _remove(path: Path) -> None:
    """Move aside, then delete: a reader never sees a half-deleted environment."""
    aside = path.with_name(f"{_TMP}removed-{path.name}-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(path, aside)
    except OSError:
        if os.path.lexists(path):
            raise
        return
    shutil.rmtree(aside, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(root: Path) -> list[Path]:
    """``.tmp-*`` folders whose builder process is gone (or older than a day)."""
    out: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return out
    for entry in entries:
        if not entry.name.startswith(_TMP):
            continue
        parts = entry.name[len(_TMP) :].split("-")
        pid = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None
        try:
            old = time.time() - entry.stat(follow_symlinks=False).st_mtime > 86400
        except FileNotFoundError:  # another builder cleaned it up between scandir and stat
            continue
        if old or pid is None or not _pid_alive(pid):
            out.append(Path(entry.path))
    return out


def clean_leftovers(root: Path) -> None:
    for path in leftovers(root):
        shutil.rmtree(path, ignore_errors=True)


# -- listing and pruning --------------------------------------------------------------------------
@dataclass(frozen=True)
class CachedEnv:
    """One folder of the cache, as ``traza envs list`` shows it."""

    path: Path
    complete: bool
    meta: dict[str, Any]
    last_used: float
    size: int

    @property
    def key(self) -> str:
        return self.path.name


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def list_envs(root: Path, *, sizes: bool = True) -> list[CachedEnv]:
    """Every environment folder under ``root`` (incomplete ones too), most recently used first."""
    found: list[CachedEnv] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        marker = path / MARKER
        try:
            meta = json.loads(marker.read_text(encoding="utf-8"))
            last = marker.stat().st_mtime
            complete = True
        except (OSError, ValueError):
            meta, last, complete = {}, entry.stat().st_mtime, False
        found.append(CachedEnv(path, complete, meta, last, _size(path) if sizes else 0))
    return sorted(found, key=lambda e: -e.last_used)


def prune(
    root: Path, *, older_than_days: float | None = None, everything: bool = False,
    dry_run: bool = False,
) -> list[Path]:  # fmt: skip
    """Remove environments unused for ``older_than_days`` (or all of them with ``everything``),
    and always incomplete environments and leftovers of killed builds. Returns what was (or,
    with ``dry_run``, would be) removed."""
    now = time.time()
    doomed: list[Path] = list(leftovers(root))
    for env in list_envs(root, sizes=False):
        stale = older_than_days is not None and now - env.last_used > older_than_days * 86400
        if everything or stale or not env.complete:
            doomed.append(env.path)
    if everything:
        with contextlib.suppress(OSError):
            doomed += [Path(e.path) for e in os.scandir(root / ".wheels") if e.is_dir()]
    if not dry_run:
        for path in doomed:
            if path.name.startswith("."):
                shutil.rmtree(path, ignore_errors=True)
            else:
                _remove(path)
    return doomed
