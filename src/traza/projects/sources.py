"""Where a project comes from: a local folder (run in place) or a Git repository (cloned).

Git is driven through the ``git`` executable with argument lists. A local folder inside a Git
work tree records its commit, as MLflow does; a local repository asked for a ``--version`` is
cloned rather than checked out in place, so the user's work tree is never touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from traza.exceptions import ExecutionException

_SCP_LIKE = re.compile(r"^[\w.\-]+@[\w.\-]+:")  # git@github.com:org/repo.git
_GIT_SCHEMES = ("https", "http", "ssh", "git", "git+ssh", "git+https", "file")


@dataclass(frozen=True)
class Source:
    """A fetched project and what the run records about where it came from."""

    directory: Path
    source_name: str
    git_commit: str | None = None
    git_repo_url: str | None = None
    git_branch: str | None = None


def _error(message: str) -> ExecutionException:
    return ExecutionException(message, error_code="INVALID_PARAMETER_VALUE")


def split_subdirectory(uri: str) -> tuple[str, str]:
    """``repo#sub/dir`` → (``repo``, ``sub/dir``); the subdirectory may not climb out."""
    uri = uri.strip("'\"")
    base, _, sub = uri.partition("#")
    if sub and (Path(sub).is_absolute() or ".." in Path(sub).parts):
        raise _error(f"The project subdirectory {sub!r} must be a relative path inside it.")
    return base, sub.strip("/")


def _file_uri_path(uri: str) -> str:
    if uri.startswith("file:"):
        parsed = urllib.parse.urlparse(uri)
        return urllib.parse.unquote(parsed.netloc + parsed.path)
    return uri


def strip_credentials(url: str) -> str:
    """The URL without ``user:token@`` (it ends up in a tag everyone can read)."""
    parsed = urllib.parse.urlsplit(url)
    if not parsed.scheme or "@" not in parsed.netloc:
        return url
    return urllib.parse.urlunsplit(parsed._replace(netloc=parsed.netloc.rpartition("@")[2]))


def looks_like_git(uri: str) -> bool:
    scheme = urllib.parse.urlparse(uri).scheme
    return scheme in _GIT_SCHEMES or _SCP_LIKE.match(uri) is not None


def is_bare_repository(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def work_tree_root(path: Path) -> Path | None:
    """The top of the Git work tree holding ``path``, if any (read from disk, no ``git``)."""
    for folder in (path, *path.parents):
        if (folder / ".git").exists():
            return folder
    return None


def fetch(uri: str, version: str | None, clone_into: Path) -> Source:
    """Make the project at ``uri`` available locally; Git sources are cloned to ``clone_into``.

    ``clone_into`` must not exist yet (it is created only when a clone is needed).
    """
    base, sub = split_subdirectory(uri)
    local = Path(_file_uri_path(base)).expanduser()
    if local.exists():
        local = local.resolve()
        if version is None and not is_bare_repository(local):
            return _local(local, sub)
        if work_tree_root(local) is None and not is_bare_repository(local):
            raise _error(
                f"Setting a version is only supported for Git project URIs; {local} is not "
                "inside a Git repository."
            )
        root = local if is_bare_repository(local) else work_tree_root(local) or local
        sub = "/".join(p for p in (local.relative_to(root).as_posix(), sub) if p not in ("", "."))
        name = f"file://{root}" + (f"#{sub}" if sub else "")
        url = _remote_url(root) or f"file://{root}"
        return _clone(str(root), sub, version, clone_into, name, url)
    elif looks_like_git(base):
        shown = strip_credentials(base)
        return _clone(base, sub, version, clone_into, strip_credentials(uri.strip("'\"")), shown)
    else:
        raise _error(
            f"Project {base!r} is neither a folder on this machine nor a Git URI "
            "(https://..., ssh://..., git@host:org/repo.git, file://...)."
        )


def _project_dir(root: Path, sub: str, shown: str) -> Path:
    directory = (root / sub).resolve() if sub else root
    if not directory.is_dir():
        raise _error(f"Could not find subdirectory {sub} of {shown}.")
    return directory


def _local(folder: Path, sub: str) -> Source:
    directory = _project_dir(folder, sub, str(folder))
    root = work_tree_root(directory)
    if root is None:
        return Source(directory, str(directory))
    from traza.context import _read_git_commit

    commit = _read_git_commit(root)
    relative = directory.relative_to(root).as_posix()
    name = f"file://{root}" + ("" if relative == "." else f"#{relative}")
    return Source(directory, name, commit, _remote_url(root))


def _remote_url(root: Path) -> str | None:
    """The first remote's URL, as MLflow records it (credentials removed)."""
    result = subprocess.run(
        ["git", "-C", str(root), "config", "--get-regexp", r"^remote\..*\.url$"],
        capture_output=True,
        text=True,
        check=False,
    )
    first = result.stdout.splitlines()[0] if result.stdout.strip() else ""
    return strip_credentials(first.split(" ", 1)[1]) if " " in first else None


def git(
    *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``git`` with an argument list; a failure names the command and git's own words."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # fail rather than wait for a password
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False
        )
    except FileNotFoundError:
        raise ExecutionException(
            "Running a project from Git needs the git executable, which is not on PATH."
        ) from None
    if check and result.returncode != 0:
        raise ExecutionException(
            f"`git {' '.join(args)}` failed: {result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def _clone(
    source: str, sub: str, version: str | None, into: Path, name: str, repo_url: str
) -> Source:
    shown = strip_credentials(source)
    into.mkdir(parents=True)
    if version is None:
        git("clone", "--quiet", "--depth", "1", "--no-single-branch", source, str(into))
    else:
        git("init", "--quiet", str(into))
        git("remote", "add", "origin", source, cwd=into)
        # A shallow fetch of just that ref is fast; servers that refuse to serve a bare
        # commit (or an abbreviated one) get a full fetch instead.
        shallow = git(
            "fetch", "--quiet", "--depth", "1", "--tags", "origin", version, cwd=into, check=False
        )
        if shallow.returncode != 0:
            git("fetch", "--quiet", "--tags", "origin", cwd=into)
        checkout = git("checkout", "--quiet", version, cwd=into, check=False)
        if checkout.returncode != 0:
            raise _error(
                f"Unable to checkout version '{version}' of git repo {shown} - please ensure "
                f"that the version exists in the repo. Error: {checkout.stderr.strip()}"
            )
    if (into / ".gitmodules").is_file():
        git("submodule", "update", "--init", "--recursive", "--depth", "1", cwd=into)
    commit = git("rev-parse", "HEAD", cwd=into).stdout.strip()
    branch = None
    if version is not None:
        ref = f"refs/heads/{version}"
        is_branch = git("rev-parse", "--verify", "--quiet", ref, cwd=into, check=False)
        branch = version if is_branch.returncode == 0 and is_branch.stdout.strip() else None
    return Source(_project_dir(into, sub, shown), name, commit, repo_url, branch)
