"""``traza reproduce RUN_ID``: make a run again from what it recorded, and compare.

The run's lineage (see :mod:`traza.lineage`) names everything needed:

- code: the Git commit, checked out in a temporary ``git worktree`` of the repository the run
  came from (the user's work tree is never touched);
- data: each dependency DVC keeps, restored at the recorded md5 from the DVC cache (or pulled
  from the DVC remote with the ``dvc`` command when the cache lacks it);
- parameters: the stage's DVC params written back into its params files where they differ;
- environment: the recorded packages built with uv (``--env-manager local`` runs in the current
  interpreter instead).

The stage's command then runs through the projects runner as a new run tagged
``traza.reproduced_from`` = the original's id, and every metric of both runs is compared.
Anything missing (no commit, a commit the repository lacks, data in neither cache nor remote,
no recorded environment) stops it before a run is created, with a message saying what to do.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traza import context, lineage
from traza.exceptions import TrazaException
from traza.lineage import dvc

__all__ = ["Comparison", "ReproduceError", "Reproduction", "reproduce"]

#: On the new run: what the reproduction could not make as the original had it.
NOTES_TAG = "traza.reproduce.notes"
#: Seconds a git command may take (checking out a large repository's commit included).
GIT_TIMEOUT = 600
#: Seconds ``dvc fetch`` may take to bring the run's data from the DVC remote.
FETCH_TIMEOUT = 3600


class ReproduceError(TrazaException):
    """Something the reproduction needs is missing; the message says what and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="INVALID_PARAMETER_VALUE")


@dataclass(frozen=True)
class Comparison:
    key: str
    original: float | None
    reproduced: float | None
    result: str  # "equal" | "within tolerance" | "different" | "missing" | "new"

    @property
    def matches(self) -> bool:
        return self.result in ("equal", "within tolerance")


@dataclass
class Reproduction:
    original_run_id: str
    run_id: str
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        """Every metric of the original came back equal or within the tolerance (metrics only
        the reproduction logged do not count against it)."""
        return all(c.matches for c in self.comparisons if c.result != "new")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def compare_metrics(
    original: dict[str, float], reproduced: dict[str, float], tolerance: float
) -> list[Comparison]:
    """Every metric of either run: equal, within ``tolerance`` (relative, or absolute near
    zero), different, missing from the reproduction, or new in it."""
    out = []
    for key in sorted(set(original) | set(reproduced)):
        a, b = original.get(key), reproduced.get(key)
        if a is None:
            result = "new"
        elif b is None:
            result = "missing"
        elif a == b or (math.isnan(a) and math.isnan(b)):
            result = "equal"
        elif math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance):
            result = "within tolerance"
        else:
            result = "different"
        out.append(Comparison(key, a, b, result))
    return out


def _git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=GIT_TIMEOUT,
        )
    except FileNotFoundError:
        raise ReproduceError("Reproducing a run needs git, which is not on PATH.") from None
    except subprocess.TimeoutExpired:
        if check:
            raise ReproduceError(
                f"`git {' '.join(args)}` in {cwd} took over {GIT_TIMEOUT} s and was stopped."
            ) from None
        return subprocess.CompletedProcess(args, -1, "", "timed out")
    if check and done.returncode != 0:
        raise ReproduceError(f"`git {' '.join(args)}` failed: {done.stderr.strip()}")
    return done


def _has_commit(repo: Path, commit: str) -> bool:
    if not (repo / ".git").exists():
        return False
    done = _git("cat-file", "-e", f"{commit}^{{commit}}", cwd=repo, check=False)
    return done.returncode == 0


def _find_repository(tags: dict[str, str], commit: str, repo: Path | None, run_id: str) -> Path:
    candidates = [repo] if repo is not None else []
    if repo is None and tags.get(lineage.GIT_ROOT_TAG):
        candidates.append(Path(tags[lineage.GIT_ROOT_TAG]))
    if repo is None:
        from traza.lineage.gitinfo import work_tree

        here = work_tree(Path.cwd())
        if here is not None:
            candidates.append(here)
    for candidate in candidates:
        if _has_commit(candidate, commit):
            return candidate.resolve()
    where = ", ".join(str(c) for c in candidates) or "no repository was recorded"
    url = tags.get(lineage.REPO_URL_TAG)
    hint = f" (its remote: {url}; clone it and pass --repo)" if url else ""
    raise ReproduceError(
        f"Cannot reproduce run {run_id}: commit {commit} is not in {where}{hint}. Pass --repo "
        "with a clone of the repository that has the commit (git fetch it first)."
    )


@contextlib.contextmanager
def _worktree(repo: Path, commit: str, keep: bool, say: Callable[[str], None]) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="traza-reproduce-"))
    tree = base / "src"
    try:
        _git("worktree", "add", "--detach", "--quiet", str(tree), commit, cwd=repo)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield tree
    finally:
        if keep:
            say(f"Kept the work tree of the reproduction in {tree}")
        else:
            _git("worktree", "remove", "--force", str(tree), cwd=repo, check=False)
            shutil.rmtree(base, ignore_errors=True)
            _git("worktree", "prune", cwd=repo, check=False)


@dataclass(frozen=True)
class _Input:
    path: str  # as dvc.yaml writes it (relative to the stage's folder)
    repo_path: str  # relative to the Git work tree
    md5: str
    context: str


def _inputs(run: Any) -> list[_Input]:
    out = []
    for item in run.inputs.dataset_inputs:
        ds = item.dataset
        if ds.source_type != lineage.SOURCE_TYPE:
            continue
        try:
            source = json.loads(ds.source)
        except ValueError:
            source = {}
        ctx = next((t.value for t in item.tags if t.key == lineage.DATA_CONTEXT_TAG), "")
        out.append(_Input(ds.name, str(source.get("repo_path") or ds.name), ds.digest, ctx))
    return out


# -- data ---------------------------------------------------------------------------------------
def _copy_object(cache: Path, md5: str, dest: Path) -> list[str]:
    """Write the cached object ``md5`` at ``dest``; the md5s the cache lacks (none: done)."""
    obj = dvc.cache_object(cache, md5)
    if not obj.is_file():
        return [md5]
    if not md5.endswith(".dir"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(obj, dest)
        return []
    entries = json.loads(obj.read_text(encoding="utf-8"))
    missing = [e["md5"] for e in entries if not dvc.cache_object(cache, e["md5"]).is_file()]
    if missing:
        return missing
    if dest.exists():
        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
    for entry in entries:
        target = dest / entry["relpath"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dvc.cache_object(cache, entry["md5"]), target)
    return []


def _dvc_executable() -> str | None:
    beside = Path(sys.executable).with_name("dvc")
    return str(beside) if beside.is_file() else shutil.which("dvc")


def _has_remote(dvc_root: Path) -> bool:
    """Whether a ``['remote "name"']`` section is configured."""
    import re

    section = re.compile(r"""^\s*\[\s*['"]?remote\b""", re.MULTILINE)
    for name in ("config", "config.local"):
        path = dvc_root / dvc.DVC_DIR / name
        if path.is_file() and section.search(path.read_text(encoding="utf-8", errors="replace")):
            return True
    return False


def _pull(dvc_root: Path, wanted: list[_Input], say: Callable[[str], None]) -> str:
    """``dvc fetch`` the recorded versions from the remote into the cache, through temporary
    ``.dvc`` files (in a folder of their own, so their outputs overlap no stage's); the reason
    it could not, or ``""``."""
    exe = _dvc_executable()
    if exe is None:
        return "the dvc command is not installed here (pip install 'traza[dvc]')"
    if not _has_remote(dvc_root):
        return "the repository has no DVC remote"
    folder = dvc_root / ".traza-reproduce"
    folder.mkdir(exist_ok=True)
    files = []
    for n, item in enumerate(wanted):
        spec = folder / f"{n}.dvc"
        spec.write_text(f"outs:\n- md5: {item.md5}\n  path: 'v{n}'\n  hash: md5\n")
        files.append(str(spec.relative_to(dvc_root)))
    say(f"Fetching {len(files)} data version(s) from the DVC remote ...")
    try:
        done = subprocess.run(
            [exe, "fetch", "--quiet", *files],
            cwd=dvc_root, capture_output=True, text=True, check=False, timeout=FETCH_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"dvc fetch took over {FETCH_TIMEOUT} s and was stopped"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        return f"dvc fetch failed: {last[0]}"
    return ""


def _share_config(original_root: Path, dvc_root: Path, cache: Path) -> None:
    """The work tree's ``.dvc/config.local``: the original repository's remotes (as configured
    now, relative paths made absolute) and its cache, so ``dvc fetch`` there fills the cache
    the run's data is restored from."""
    import configparser

    merged = configparser.ConfigParser(interpolation=None)
    base = original_root / dvc.DVC_DIR
    for name in ("config", "config.local"):
        with contextlib.suppress(configparser.Error, OSError):
            merged.read(base / name, encoding="utf-8")
    for section in merged.sections():
        for key in ("url", "dir"):
            value = merged.get(section, key, fallback=None)
            if value and "://" not in value and not os.path.isabs(value):
                merged.set(section, key, str((base / value).resolve()))
    if not merged.has_section("cache"):
        merged.add_section("cache")
    merged.set("cache", "dir", str(cache))
    with (dvc_root / dvc.DVC_DIR / "config.local").open("w", encoding="utf-8") as f:
        merged.write(f)


def _restore_data(
    inputs: list[_Input], tree: Path, dvc_root: Path, cache: Path, run_id: str, say: Any
) -> list[str]:
    # A path the run recorded outside the repository is never written (nor deleted).
    top = tree.resolve()
    outside = [i for i in inputs if not (top / i.repo_path).resolve().is_relative_to(top)]
    notes = [f"{i.path} is outside the repository and was not restored" for i in outside]
    inputs = [i for i in inputs if i not in outside]
    missing: list[_Input] = []
    for item in inputs:
        dest = tree / item.repo_path
        if item.context != lineage.CONTEXT_DATA:
            if not dest.exists():
                notes.append(f"{item.path} is not in the commit")
            elif dvc.path_hash(dest, ignore=dvc.ignore_rules(dvc_root)).md5 != item.md5:
                notes.append(f"{item.path} at the commit differs from what the run used")
            continue
        if _copy_object(cache, item.md5, dest):
            missing.append(item)
    if missing:
        why = _pull(dvc_root, missing, say)
        still = [m for m in missing if why or _copy_object(cache, m.md5, tree / m.repo_path)]
        if still:
            listed = ", ".join(f"{m.path} (md5 {m.md5})" for m in still)
            reason = f"; fetching from a remote did not help: {why or 'it lacks them too'}"
            raise ReproduceError(
                f"Cannot reproduce run {run_id}: the data it used is not in the DVC cache "
                f"({cache}): {listed}{reason}. Push it from where the run was made (dvc push) "
                "or bring that cache here, then try again."
            )
    for item in inputs:
        if item.context == lineage.CONTEXT_DATA:
            got = dvc.path_hash(tree / item.repo_path, ignore=dvc.ignore_rules(dvc_root)).md5
            if got != item.md5:
                raise ReproduceError(
                    f"Cannot reproduce run {run_id}: {item.path} restored from the DVC cache "
                    f"hashes to {got}, not {item.md5}: the cache is damaged (dvc cache verify)."
                )
            say(f"Data: {item.path} at md5 {item.md5}")
    return notes


# -- params -------------------------------------------------------------------------------------
def _restore_params(
    stage: dvc.Stage, recorded: dict[str, str], commit: str, run_id: str, say: Any
) -> list[str]:
    import yaml

    missing = dvc.missing_params_files(stage)
    if missing:
        raise ReproduceError(
            f"Cannot reproduce run {run_id}: its stage's params file {missing[0]} is not in "
            f"commit {commit[:12]} (was it uncommitted when the run was made?). Commit it, "
            "make the run again, and reproduce that one."
        )
    notes = []
    current = dvc.stage_params(stage)
    for file in stage.params:
        prefix = "" if file == dvc.PARAMS_FILE else f"{file}:"
        path = stage.wdir / file
        doc = yaml.safe_load(path.read_text()) or {}
        changed = False
        for key, value in current.items():
            if not key.startswith(prefix) or ":" in key[len(prefix) :]:
                continue
            want = recorded.get(key)
            if want is None or want == lineage._param_text(value):
                continue
            if dvc.set_param(doc, key[len(prefix) :], yaml.safe_load(want)):
                notes.append(f"{file}: {key[len(prefix) :]} = {want} (the commit has {value})")
                changed = True
        if changed:
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
    for note in notes:
        say(f"Params: {note}")
    return notes


# -- environment --------------------------------------------------------------------------------
def _environment(
    client: Any, run_id: str, manager: str, project: Path, work: Path, say: Any
) -> Any:
    from traza import environments
    from traza.lineage import environment as recorded

    if manager == "local":
        return environments.local_env(say)
    folder = work / "environment"
    with contextlib.suppress(TrazaException):  # no such artifact: said below
        client.download_artifacts(run_id, recorded.ARTIFACT_DIR, str(work))
    spec_file = folder / recorded.PYTHON_ENV_FILE
    if not spec_file.is_file():
        raise ReproduceError(
            f"Cannot rebuild the environment of run {run_id}: it has no "
            f"{recorded.ARTIFACT_DIR}/{recorded.PYTHON_ENV_FILE} artifact. Use --env-manager "
            "local to run it in the current interpreter."
        )
    spec = environments.EnvSpec.from_python_env(spec_file)
    return environments.ensure_venv(spec, manager, project=project, progress=say)


# -- the whole ----------------------------------------------------------------------------------
def reproduce(
    run_id: str,
    *,
    tolerance: float = 1e-9,
    env_manager: str = "uv",
    repo: Path | None = None,
    experiment_id: str | None = None,
    keep_worktree: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Reproduction:
    """Recreate run ``run_id`` (code, data, params, environment), rerun it as a new run linked
    to it (tag ``traza.reproduced_from``) and compare their metrics."""
    from traza.client import TrazaClient
    from traza.projects import runner, sources

    say = progress or _say
    if env_manager not in ("uv", "virtualenv", "local"):
        raise ReproduceError(f"--env-manager must be uv, virtualenv or local, not {env_manager}.")
    client = TrazaClient()
    original = client.get_run(run_id)
    tags = original.data.tags
    commit = tags.get(context.GIT_COMMIT)
    if not commit:
        raise ReproduceError(
            f"Cannot reproduce run {run_id}: it recorded no Git commit "
            f"({context.GIT_COMMIT}), so its code cannot be recreated. Runs started inside a "
            "Git repository record it."
        )
    stage_name = tags.get(lineage.STAGE_TAG)
    command = tags.get(lineage.CMD_TAG)
    if not stage_name or not command:
        raise ReproduceError(
            f"Cannot reproduce run {run_id}: it was not made by a DVC stage (no "
            f"{lineage.STAGE_TAG} tag), so Traza does not know its data and command. Runs "
            "started by a stage of a dvc.yaml (dvc repro, or the stage's script) record them."
        )
    if tags.get(lineage.DIRTY_TAG) == "true":
        say(
            f"Warning: run {run_id} started with uncommitted changes "
            f"({tags.get(lineage.CHANGES_TAG, '')}); the reproduction uses commit {commit}."
        )
    repository = _find_repository(tags, commit, repo, run_id)
    inputs = _inputs(original)
    say(f"Reproducing run {run_id}: commit {commit[:12]} of {repository}, stage {stage_name}")
    notes: list[str] = []
    with _worktree(repository, commit, keep_worktree, say) as tree:
        dvc_root = (tree / tags.get(lineage.ROOT_TAG, ".")).resolve()
        wdir = (tree / tags.get(lineage.WDIR_TAG, ".")).resolve()
        original_root = (repository / tags.get(lineage.ROOT_TAG, ".")).resolve()
        cache = dvc.cache_dir(original_root)
        if (dvc_root / dvc.DVC_DIR).is_dir():  # dvc in the copy shares the original's cache
            _share_config(original_root, dvc_root, cache)
        notes += _restore_data(inputs, tree, dvc_root, cache, run_id, say)
        stage = _stage_in(dvc_root, stage_name)
        if stage is not None:
            notes += _restore_params(stage, original.data.params, commit, run_id, say)
        env = _environment(client, run_id, env_manager, wdir, tree.parent, say)
        source = sources.Source(
            wdir, f"file://{repository}" + _fragment(tree, wdir), commit,
            tags.get(lineage.REPO_URL_TAG),
        )  # fmt: skip
        name = f"{original.info.run_name or run_id} (reproduced)"
        submitted = runner.run_command(
            source,
            command,
            env,
            experiment_id=experiment_id or original.info.experiment_id,
            entry_point=stage_name,
            run_name=name,
            tags={
                lineage.REPRODUCED_FROM_TAG: run_id,
                **({NOTES_TAG: "; ".join(notes)} if notes else {}),
            },
        )
    new = client.get_run(submitted.run_id)
    comparisons = compare_metrics(original.data.metrics, new.data.metrics, tolerance)
    return Reproduction(run_id, new.info.run_id, comparisons, notes)


def _fragment(tree: Path, wdir: Path) -> str:
    relative = wdir.relative_to(tree).as_posix()
    return "" if relative == "." else f"#{relative}"


def _stage_in(dvc_root: Path, addressing: str) -> dvc.Stage | None:
    path, sep, name = addressing.rpartition(":")
    dvcfile = dvc_root / (path if sep else dvc.DVC_FILE)
    if not dvcfile.is_file():
        return None
    return dvc.load_stages(dvcfile, dvc_root).get(name)


def format_report(result: Reproduction) -> str:
    rows = [("metric", "original", "reproduced", "result")]
    for c in result.comparisons:
        rows.append((c.key, _number(c.original), _number(c.reproduced), c.result))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]  # fmt: skip
    original = [c for c in result.comparisons if c.result != "new"]
    same = sum(c.matches for c in original)
    verdict = (
        f"Run {result.run_id} reproduced run {result.original_run_id}: "
        f"{same} of {len(original)} metrics match"
        + (" (equal or within the tolerance)." if same == len(original) else ".")
    )
    return "\n".join([*lines, "", verdict, *(f"Note: {n}" for n in result.notes)])


def _number(value: float | None) -> str:
    return "-" if value is None else repr(value)
