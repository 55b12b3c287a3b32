"""The Git state a run starts from: commit, main work tree, remote, uncommitted changes."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: DVC's own bookkeeping: rewritten by ``dvc repro``/``dvc add`` between commits, and the run
#: records the data versions themselves, so a change there does not make the code dirty.
_DVC_METADATA = ("dvc.lock", ".dvc")
#: Seconds a git command may take: it runs inside the user's ``start_run``, which a git stuck
#: on a hung filesystem must not hold forever (the lineage then lacks what it would have said).
GIT_TIMEOUT = 30


@dataclass(frozen=True)
class GitState:
    work_tree: Path  # the work tree the run started in (maybe a linked worktree)
    main_work_tree: Path  # the repository's main work tree (where `traza reproduce` looks)
    commit: str | None
    dirty: bool | None  # None: git could not tell
    changed: tuple[str, ...]  # tracked files with uncommitted changes (DVC metadata aside)
    remote_url: str | None


def work_tree(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def main_work_tree(tree: Path) -> Path:
    """For a linked worktree (``.git`` is a file), the main work tree of its repository."""
    dot_git = tree / ".git"
    if not dot_git.is_file():
        return tree
    text = dot_git.read_text().strip()
    if not text.startswith("gitdir:"):
        return tree
    gitdir = (tree / text[len("gitdir:") :].strip()).resolve()
    commondir = gitdir / "commondir"
    common = (gitdir / commondir.read_text().strip()).resolve() if commondir.is_file() else gitdir
    return common.parent if common.name == ".git" else tree


def _git(tree: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """``git -C tree args``; ``None`` when git is missing or took over :data:`GIT_TIMEOUT`."""
    try:
        return subprocess.run(
            ["git", "-C", str(tree), *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
            timeout=GIT_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def describe(start: Path) -> GitState | None:
    """The Git state of the work tree holding ``start`` (``None`` outside Git)."""
    tree = work_tree(start)
    if tree is None:
        return None
    from traza.context import _read_git_commit

    commit = _read_git_commit(tree)
    dirty: bool | None = None
    changed: list[str] = []
    status = _git(tree, "status", "--porcelain", "--untracked-files=no", "-z")
    if status is not None and status.returncode == 0:
        entries = iter(status.stdout.split("\0"))
        for entry in entries:
            path = entry[3:]
            if entry[:1] in ("R", "C"):
                next(entries, None)  # the path it was renamed or copied from
            if not path:
                continue
            name = path.rsplit("/", 1)[-1]
            if name == _DVC_METADATA[0] or name.endswith(_DVC_METADATA[1]):
                continue
            changed.append(path)
        dirty = bool(changed)
    remote: str | None = None
    remotes = _git(tree, "config", "--get-regexp", r"^remote\..*\.url$")
    if remotes is not None and remotes.stdout.strip():
        from traza.projects.sources import strip_credentials

        first = remotes.stdout.splitlines()[0]
        remote = strip_credentials(first.split(" ", 1)[1]) if " " in first else None
    return GitState(tree, main_work_tree(tree), commit, dirty, tuple(changed), remote)


def tracked(tree: Path, paths: list[Path]) -> set[Path] | None:
    """Which of ``paths`` Git tracks (a folder: when any file under it is tracked); ``None``
    when git cannot tell."""
    if not paths:
        return set()
    done = _git(tree, "ls-files", "-z", "--full-name", "--", *(str(p) for p in paths))
    if done is None or done.returncode != 0:
        return None
    files = {(tree / name).resolve() for name in done.stdout.split("\0") if name}
    out = set()
    for path in paths:
        if path in files or any(path in f.parents for f in files):
            out.add(path)
    return out
