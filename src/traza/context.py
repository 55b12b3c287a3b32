"""System tags describing where a run came from: user, source file, git commit.

Read once per process (git is read from ``.git`` directly, without spawning ``git``), so
starting many runs costs nothing extra.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING

from traza.config import current_user

if TYPE_CHECKING:
    from pathlib import Path

USER = "mlflow.user"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
PARENT_RUN_ID = "mlflow.parentRunId"
NOTE = "mlflow.note.content"


def _source_file() -> str | None:
    """The script as it was started (``sys.argv[0]``, as MLflow records it)."""
    file = sys.argv[0] if sys.argv and sys.argv[0] else None
    if not file or file in ("-c", "-m"):
        main = sys.modules.get("__main__")
        file = getattr(main, "__file__", None)
    return file or None


def _read_git_commit(start: Path) -> str | None:
    for folder in (start, *start.parents):
        git = folder / ".git"
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = git.read_text().strip()
            if not text.startswith("gitdir:"):
                return None
            git = (folder / text[len("gitdir:") :].strip()).resolve()
        if not git.is_dir():
            continue
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head[4:].strip()
        common = git
        commondir = git / "commondir"
        if commondir.is_file():
            common = (git / commondir.read_text().strip()).resolve()
        for base in (git, common):
            ref_file = base / ref
            if ref_file.is_file():
                return ref_file.read_text().strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0]
        return None  # a branch with no commit yet
    return None


@functools.lru_cache(maxsize=1)
def default_tags() -> dict[str, str]:
    """Tags every run started by this process gets, before the user's own tags."""
    tags = {USER: current_user(), SOURCE_TYPE: "LOCAL"}
    source = _source_file()
    if source is not None:
        from pathlib import Path

        tags[SOURCE_NAME] = source
        try:
            commit = _read_git_commit(Path(source).resolve().parent)
        except OSError:
            commit = None
        if commit:
            tags[GIT_COMMIT] = commit
    else:
        tags[SOURCE_NAME] = "<console>"
    return tags
