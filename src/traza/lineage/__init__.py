"""Lineage: what made a run, recorded when it starts inside a DVC repository.

With no code from the user, a run started by a DVC stage (``dvc repro``, ``traza run`` of the
stage's command, or the script by hand in the stage's folder) records:

- every dependency of the stage as a dataset input: name = the path as ``dvc.yaml`` writes it,
  digest = DVC 3's md5 computed when the run starts (``dvc.lock`` is only rewritten after the
  stage ends), source type ``dvc``, context ``data`` (kept by DVC: a stage's output or a
  ``.dvc``-tracked path) or ``code`` (kept by Git);
- the stage's DVC params as run params (``train.lr``; ``other.yaml:train.lr`` for a file other
  than ``params.yaml``);
- tags: :data:`STAGE_TAG`, :data:`CMD_TAG`, :data:`WDIR_TAG`, :data:`ROOT_TAG`, the Git commit
  (``mlflow.source.git.commit``), :data:`DIRTY_TAG` and :data:`CHANGES_TAG`,
  :data:`GIT_ROOT_TAG`, ``mlflow.source.git.repoURL``, :data:`PYTHON_TAG`;
- the environment as artifacts ``environment/python_env.yaml`` and
  ``environment/requirements.txt`` (every installed distribution, pinned).

Outside a DVC repository this costs one stat per parent folder. It never makes a run fail: a
problem is logged as a warning. ``TRAZA_DVC_LINEAGE=0`` turns it off.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

STAGE_TAG = "traza.dvc.stage"
CMD_TAG = "traza.dvc.cmd"
WDIR_TAG = "traza.dvc.wdir"  # the stage's folder, relative to the Git work tree
ROOT_TAG = "traza.dvc.root"  # the DVC repository's folder, relative to the Git work tree
DIRTY_TAG = "traza.source.git.dirty"
CHANGES_TAG = "traza.source.git.changes"
GIT_ROOT_TAG = "traza.source.git.root"
REPO_URL_TAG = "mlflow.source.git.repoURL"
PYTHON_TAG = "traza.python.version"
REPRODUCED_FROM_TAG = "traza.reproduced_from"
SOURCE_TYPE = "dvc"
CONTEXT_DATA = "data"
CONTEXT_CODE = "code"
DATA_CONTEXT_TAG = "mlflow.data.context"
_MAX_CHANGES = 20
_log = logging.getLogger("traza")


def enabled() -> bool:
    value = os.environ.get("TRAZA_DVC_LINEAGE", "").strip().lower()
    return value not in ("0", "false", "no", "off")


def record_if_in_dvc(client: Any, run: Any) -> None:
    """Record the lineage of ``run`` when this process runs a DVC stage (see the module).

    A run that already has its lineage (resumed, or made by ``traza run``'s child twice) is
    left alone.
    """
    if not enabled():
        return
    run_id = run.info.run_id
    try:
        from traza.lineage import dvc

        root = dvc.find_root(os.getcwd())
        if root is None or STAGE_TAG in run.data.tags:
            return
        _record(client, run_id, root, run.data.params)
    except Exception as e:
        _log.warning("traza: could not record the DVC lineage of run %s: %s", run_id, e)


def _main_module() -> str | None:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(spec, "name", None)


def _relative(path: Path, base: Path | None) -> str:
    if base is None:
        return str(path)
    try:
        return path.relative_to(base).as_posix() or "."
    except ValueError:
        return str(path)


def record_for_command(
    client: Any,
    run_id: str,
    directory: Path,
    command: str,
    env_path: Path | None = None,
    python_version: str | None = None,
) -> None:
    """Record the lineage of a run the projects runner is about to start: ``command`` run in
    ``directory`` (a stage's folder and command), in the environment at ``env_path`` (``None``:
    this interpreter's) whose Python is ``python_version``. The child's own ``start_run`` then
    finds the lineage there."""
    if not enabled():
        return
    try:
        from traza.lineage import dvc, environment

        root = dvc.find_root(str(directory))
        if root is None:
            return
        stage = dvc.stage_for_command(root, directory.resolve(), command)
        if stage is None:
            return
        snapshot = environment.snapshot(env_path, python_version)
        _record_stage(client, run_id, root, stage, {}, snapshot)
    except Exception as e:
        _log.warning("traza: could not record the DVC lineage of run %s: %s", run_id, e)


def _record(client: Any, run_id: str, root: Path, existing: dict[str, str]) -> None:
    from traza.lineage import dvc, environment

    cwd = Path.cwd().resolve()
    stage = dvc.current_stage(root, cwd, sys.argv, _main_module())
    if stage is None:
        _log.debug("traza: no stage of a dvc.yaml in %s runs %s", cwd, sys.argv[:1])
        return
    _record_stage(client, run_id, root, stage, existing, environment.snapshot())


def _record_stage(
    client: Any,
    run_id: str,
    root: Path,
    stage: Any,
    existing: dict[str, str],
    env: Any,
) -> None:
    from traza import context
    from traza.entities import Dataset, DatasetInput, InputTag, Param, RunTag
    from traza.lineage import dvc, environment, gitinfo

    git = gitinfo.describe(stage.wdir)
    base = git.work_tree if git is not None else None
    tags = {
        STAGE_TAG: stage.addressing,
        CMD_TAG: stage.cmd,
        WDIR_TAG: _relative(stage.wdir, base),
        ROOT_TAG: _relative(root, base),
        PYTHON_TAG: env.python_version,
    }
    if git is not None:
        tags[GIT_ROOT_TAG] = str(git.main_work_tree)
        if git.commit:
            tags[context.GIT_COMMIT] = git.commit
        if git.dirty is not None:
            tags[DIRTY_TAG] = "true" if git.dirty else "false"
        if git.changed:
            shown = list(git.changed[:_MAX_CHANGES])
            if len(git.changed) > _MAX_CHANGES:
                shown.append(f"... ({len(git.changed) - _MAX_CHANGES} more)")
            tags[CHANGES_TAG] = ", ".join(shown)
        if git.remote_url:
            tags[REPO_URL_TAG] = git.remote_url

    inputs = []
    cache = dvc.Md5Cache(root)
    ignore = dvc.ignore_rules(root)
    outs = dvc.all_outs(sorted({stage.dvcfile}), root)
    deps = {dep: (stage.wdir / dep).resolve() for dep in stage.deps}
    missing = [dep for dep, path in deps.items() if not path.exists()]
    for dep in missing:
        _log.warning("traza: dependency %s of stage %s does not exist", dep, stage.addressing)
        del deps[dep]
    # Data is what DVC keeps: a stage's output, a .dvc-tracked path, or anything in the work
    # tree that Git does not track (DVC's outputs are git-ignored); the rest is code, which the
    # commit holds. A path outside the work tree (an external dependency) is neither: git is not
    # asked about it (it would refuse the whole list), and it counts as code.
    inside = {p for p in deps.values() if git is not None and p.is_relative_to(git.work_tree)}
    in_git = gitinfo.tracked(git.work_tree, sorted(inside)) if git is not None else None
    for dep, path in deps.items():
        digest = dvc.path_hash(path, cache, ignore)
        untracked = in_git is not None and path in inside and path not in in_git
        is_data = dvc.is_data(outs, path, root) or untracked
        kind = CONTEXT_DATA if is_data else CONTEXT_CODE
        source = {"path": dep, "repo_path": _relative(path, base), "md5": digest.md5,
                  "size": digest.size}  # fmt: skip
        profile: dict[str, Any] = {"size": digest.size}
        if digest.nfiles is not None:
            source["nfiles"] = profile["nfiles"] = digest.nfiles
        dataset = Dataset(dep, digest.md5, SOURCE_TYPE, json.dumps(source), None,
                          json.dumps(profile))  # fmt: skip
        inputs.append(DatasetInput(dataset, (InputTag(DATA_CONTEXT_TAG, kind),)))
    cache.save()

    for file in dvc.missing_params_files(stage):
        _log.warning("traza: params file %s of stage %s does not exist", file, stage.addressing)
    params = _loggable_params(dvc.stage_params(stage), stage.addressing)
    new_params = [Param(k, v) for k, v in params.items() if k not in existing]
    client.log_batch(run_id, params=new_params, tags=[RunTag(k, v) for k, v in tags.items()])
    if inputs:
        client.log_inputs(run_id, inputs)
    folder = environment.ARTIFACT_DIR
    client.log_text(run_id, env.python_env_yaml(), f"{folder}/{environment.PYTHON_ENV_FILE}")
    client.log_text(run_id, env.requirements_txt(), f"{folder}/{environment.REQUIREMENTS_FILE}")


def _loggable_params(values: dict[str, Any], stage: str) -> dict[str, str]:
    """The stage's params as run params, but those no run may hold (a key with characters
    MLflow refuses, a value over 6,000 characters such as a long list of columns): left out
    with a warning, as they would make the whole batch, and so the lineage, fail."""
    from traza.exceptions import TrazaException
    from traza.validation import validate_key, validate_param_value

    out = {}
    for key, value in values.items():
        text = _param_text(value)
        try:
            validate_param_value(validate_key(key, "param name"), text)
        except TrazaException as e:
            _log.warning("traza: DVC param %s of stage %s not recorded: %s", key, stage, e.message)
            continue
        out[key] = text
    return out


def _param_text(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
