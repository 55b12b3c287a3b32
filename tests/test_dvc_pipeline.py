"""The seeds' DVC pipeline (``examples/salary``) under the real ``dvc`` and ``git``, with Traza
recording each run's lineage, and ``traza reproduce`` making a run again.

One module-scoped Git+DVC repository: ``dvc repro`` (version 1 of the data), commit; more rows
in ``params.yaml``, ``dvc repro`` again (version 2), commit. The stages run in a small uv
environment (Traza's wheel, scikit-learn, pandas, PyYAML) put first on PATH, which is also the
environment each run records and ``traza reproduce`` rebuilds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from traza.client import TrazaClient
from traza.entities import Run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "salary"
BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")
TRAZA = str(BIN / "traza")
STAGE = "entrenamiento_evaluacion"
SCRIPT = "src/model_eng/stage_1_2_train_evaluate.py"


def _run(args: list[str], cwd: Path, env: dict[str, str], ok: bool = True) -> Any:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if ok:
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def _lock(repo: Path) -> dict[str, Any]:
    stages: dict[str, Any] = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return stages


def _dep(lock: dict[str, Any], stage: str, path: str) -> dict[str, Any]:
    deps: list[dict[str, Any]] = lock[stage]["deps"]
    return next(d for d in deps if d["path"] == path)


@dataclass
class Pipeline:
    repo: Path
    env: dict[str, str]
    store: str
    commits: list[str]
    locks: list[dict[str, Any]]
    run_ids: list[str]

    def client(self) -> TrazaClient:
        return TrazaClient(self.store)

    def run(self, index: int) -> Run:
        return self.client().get_run(self.run_ids[index])


def _stage_runs(store: str) -> list[Run]:
    client = TrazaClient(store)
    ids = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    runs = list(client.search_runs(ids, "", max_results=1000))
    return sorted(runs, key=lambda r: r.info.start_time)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    from traza.environments import EnvSpec, ensure_venv

    env_spec = EnvSpec(None, requirements=("traza", "scikit-learn", "pandas", "pyyaml"))
    small = ensure_venv(env_spec, "uv", progress=lambda _: None)
    repo = tmp_path_factory.mktemp("dvc") / "salary"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("mlruns", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAZA_", "MLFLOW_", "DVC_"))}
    env.update(small.env_vars)  # its bin first on PATH; its bytecode kept in the environment
    env.update(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
        DVC_NO_ANALYTICS="1",
    )  # fmt: skip
    git = ["git", "-c", "init.defaultBranch=main"]
    _run([*git, "init", "-q"], repo, env)
    _run([DVC, "init", "-q"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "salary pipeline"], repo, env)
    commits, locks, run_ids = [], [], []
    for rows in (None, 360):
        if rows is not None:  # version 2 of the data: more rows, 2 jobs (left uncommitted)
            params = (repo / "params.yaml").read_text().replace("rows: 300", f"rows: {rows}")
            (repo / "params.yaml").write_text(params.replace("n_jobs: 1", "n_jobs: 2"))
        commits.append(_run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip())
        _run([DVC, "repro"], repo, env)
        locks.append(_lock(repo))
        runs = _stage_runs(str(repo / "mlruns"))
        run_ids.append(runs[-1].info.run_id)
        _run(["git", "add", "-A"], repo, env)
        _run(["git", "commit", "-qm", f"data version {len(commits)}"], repo, env)
    return Pipeline(repo, env, str(repo / "mlruns"), commits, locks, run_ids)


def _inputs(run: Run) -> dict[str, Any]:
    return {i.dataset.name: i for i in run.inputs.dataset_inputs}


def _context(dataset_input: Any) -> str:
    return next(t.value for t in dataset_input.tags if t.key == "mlflow.data.context")


def test_dvc_repro_logs_the_seeds_run_with_its_lineage(pipeline: Pipeline) -> None:
    run = pipeline.run(0)
    client = pipeline.client()
    assert len(_stage_runs(pipeline.store)) == 2  # one run per `dvc repro` of the stage
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name.startswith("salary_model_20")  # named with the date and time
    assert run.info.status == "FINISHED"
    # What the script logs: params, metrics, the model with its signature.
    assert run.data.params["fit_intercept"] == "True"
    assert run.data.params["n_jobs"] == "1"
    assert run.data.params["train_rows"] == "210"
    assert set(run.data.metrics) == {"mae", "rmse", "r2"}
    assert 0.98 < run.data.metrics["r2"] <= 1.0
    import json

    metrics_file = json.loads((pipeline.repo / "reports" / "metrics.json").read_text())
    assert metrics_file["r2"] == pipeline.run(1).data.metrics["r2"]  # DVC's metric = the run's
    import traza
    from traza.models import Model
    from traza.models.locate import local_model_dir

    traza.set_tracking_uri(pipeline.store)
    model = Model.load(local_model_dir(f"runs:/{run.info.run_id}/model"))
    assert model.signature.inputs.input_names() == ["experience", "age", "interview_score"]
    assert "sklearn" in model.flavors

    # What Traza recorded by itself: the stage, its DVC params, Git and the data's md5s.
    tags = run.data.tags
    assert tags["traza.dvc.stage"] == STAGE
    assert tags["traza.dvc.cmd"] == f"python {SCRIPT}"
    assert tags["traza.dvc.wdir"] == tags["traza.dvc.root"] == "."
    assert tags["mlflow.source.git.commit"] == pipeline.commits[0]
    assert tags["traza.source.git.dirty"] == "false"
    assert tags["traza.source.git.root"] == str(pipeline.repo.resolve())
    assert run.data.params["train.fit_intercept"] == "True"
    assert run.data.params["train.n_jobs"] == "1"
    recorded = _inputs(run)
    assert set(recorded) == {"data/processed", SCRIPT}
    lock = pipeline.locks[0]
    data = _dep(lock, STAGE, "data/processed")
    assert data["md5"].endswith(".dir")
    assert recorded["data/processed"].dataset.digest == data["md5"]
    assert recorded["data/processed"].dataset.source_type == "dvc"
    source = json.loads(recorded["data/processed"].dataset.source)
    assert (source["size"], source["nfiles"]) == (data["size"], data["nfiles"])
    assert _context(recorded["data/processed"]) == "data"
    assert recorded[SCRIPT].dataset.digest == _dep(lock, STAGE, SCRIPT)["md5"]
    assert _context(recorded[SCRIPT]) == "code"
    # ... and the environment the stage ran in, pinned.
    env_dir = Path(client.download_artifacts(run.info.run_id, "environment"))
    python_env = yaml.safe_load((env_dir / "python_env.yaml").read_text())
    assert python_env["python"] == tags["traza.python.version"]
    assert python_env["python"] == ".".join(map(str, sys.version_info[:3]))
    requirements = (env_dir / "requirements.txt").read_text()
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in requirements.splitlines()
    assert any(line.startswith("traza==") for line in requirements.splitlines())
    assert "dvc==" not in requirements  # the stage's own interpreter, not the dvc command's


def test_new_data_is_recorded_as_a_new_version(pipeline: Pipeline) -> None:
    first, second = pipeline.run(0), pipeline.run(1)
    v1 = _dep(pipeline.locks[0], STAGE, "data/processed")["md5"]
    v2 = _dep(pipeline.locks[1], STAGE, "data/processed")["md5"]
    assert v1 != v2
    assert _inputs(first)["data/processed"].dataset.digest == v1
    assert _inputs(second)["data/processed"].dataset.digest == v2
    assert second.data.params["train_rows"] == "252"
    assert second.data.params["train.n_jobs"] == second.data.params["n_jobs"] == "2"
    assert second.data.tags["mlflow.source.git.commit"] == pipeline.commits[1]
    # params.yaml was edited but not committed when the run started; dvc.lock does not count.
    assert second.data.tags["traza.source.git.dirty"] == "true"
    assert second.data.tags["traza.source.git.changes"] == "params.yaml"


def test_reproduce_gives_the_same_metrics_in_a_run_linked_to_the_original(
    pipeline: Pipeline,
) -> None:
    first = pipeline.run(0)
    done = _run(
        [TRAZA, "--tracking-uri", pipeline.store, "reproduce", first.info.run_id],
        pipeline.repo,
        pipeline.env,
    )
    report = done.stdout
    for key in ("mae", "rmse", "r2"):
        line = next(x for x in report.splitlines() if x.startswith(key + " "))
        assert line.split()[-1] == "equal", report
        assert repr(first.data.metrics[key]) in line
    assert "3 of 3 metrics match" in report
    assert f"Data: data/processed at md5 {_inputs(first)['data/processed'].dataset.digest}" in (
        done.stderr
    )
    (new,) = [
        r
        for r in _stage_runs(pipeline.store)
        if r.data.tags.get("traza.reproduced_from") == first.info.run_id
    ]
    assert f"Run {new.info.run_id} reproduced run {first.info.run_id}" in report
    assert new.info.experiment_id == first.info.experiment_id
    # The stage names the experiment the new run is in (the original's), not a new one.
    experiment = pipeline.client().get_experiment(first.info.experiment_id).name
    assert f"Run {new.info.run_id} in {experiment!r}" in done.stdout + done.stderr
    assert new.info.status == "FINISHED"
    assert new.data.metrics == first.data.metrics
    # Same code, data, params and packages as the first run (not the work tree's version 2).
    assert new.data.tags["mlflow.source.git.commit"] == pipeline.commits[0]
    assert new.data.tags["traza.source.git.dirty"] == "false"
    assert new.data.tags["traza.source.git.root"] == str(pipeline.repo.resolve())
    assert {n: i.dataset.digest for n, i in _inputs(new).items()} == {
        n: i.dataset.digest for n, i in _inputs(first).items()
    }
    assert new.data.params["train_rows"] == "210"
    assert new.data.tags["mlflow.source.type"] == "PROJECT"
    assert new.data.tags["mlflow.project.env"] == "uv"
    assert new.data.tags["traza.project.pythonVersion"] == first.data.tags["traza.python.version"]
    # The user's work tree is untouched and the temporary worktree is gone.
    assert _lock(pipeline.repo) == pipeline.locks[1]
    assert _run(["git", "status", "--porcelain"], pipeline.repo, pipeline.env).stdout == ""
    worktrees = _run(["git", "worktree", "list"], pipeline.repo, pipeline.env).stdout
    assert len(worktrees.splitlines()) == 1


def test_reproduce_refuses_when_the_data_is_not_in_the_cache(pipeline: Pipeline) -> None:
    first = pipeline.run(0)
    md5 = _inputs(first)["data/processed"].dataset.digest
    listing = pipeline.repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    assert listing.is_file()
    aside = listing.with_name(listing.name + ".aside")
    listing.rename(aside)
    before = len(_stage_runs(pipeline.store))
    try:
        done = _run(
            [TRAZA, "--tracking-uri", pipeline.store, "reproduce", first.info.run_id],
            pipeline.repo, pipeline.env, ok=False,
        )  # fmt: skip
    finally:
        aside.rename(listing)
    assert done.returncode == 1
    assert (
        f"Cannot reproduce run {first.info.run_id}: the data it used is not in the DVC cache"
        in done.stderr
    )
    assert f"data/processed (md5 {md5})" in done.stderr
    assert "fetching from a remote did not help: the repository has no DVC remote" in done.stderr
    assert "dvc push" in done.stderr
    assert len(_stage_runs(pipeline.store)) == before  # refused before any run was created
    worktrees = _run(["git", "worktree", "list"], pipeline.repo, pipeline.env).stdout
    assert len(worktrees.splitlines()) == 1


def test_reproduce_refuses_a_run_without_a_commit(tmp_path: Path) -> None:
    import traza

    store = str(tmp_path / "plain")
    traza.set_tracking_uri(store)
    with traza.start_run() as run:  # the test folder is not in a Git repository
        traza.log_metric("m", 1.0)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAZA_", "MLFLOW_"))}
    tags = TrazaClient(store).get_run(run.info.run_id).data.tags
    if "mlflow.source.git.commit" in tags:  # pytest's own file is in Traza's clone
        TrazaClient(store).delete_tag(run.info.run_id, "mlflow.source.git.commit")
    done = _run(
        [TRAZA, "--tracking-uri", store, "reproduce", run.info.run_id], tmp_path, env, ok=False
    )
    assert done.returncode == 1
    assert (
        f"Cannot reproduce run {run.info.run_id}: it recorded no Git commit "
        "(mlflow.source.git.commit)" in done.stderr
    )


def test_reproduce_restores_uncommitted_params_and_fetches_the_data_from_the_remote(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """The second run started from commit 2 (300 rows, 1 job) with params.yaml edited (360
    rows, 2 jobs). With the DVC cache emptied, its data version comes back from the DVC remote
    and its params from the run."""
    second = pipeline.run(1)
    repo = pipeline.repo
    md5 = _inputs(second)["data/processed"].dataset.digest
    # A local remote in .dvc/config.local (not committed) holding every version; then no cache.
    _run([DVC, "remote", "add", "--local", "-d", "storage", str(tmp_path / "remote")], repo,
         pipeline.env)  # fmt: skip
    cache = repo / ".dvc" / "cache"
    aside = repo / ".dvc" / "cache-aside"
    try:
        _run([DVC, "push", "-q", "--all-commits"], repo, pipeline.env)
        cache.rename(aside)
        done = _run(
            [TRAZA, "--tracking-uri", pipeline.store, "reproduce", second.info.run_id],
            repo, pipeline.env,
        )  # fmt: skip
        assert _dvc_object(cache, md5).is_file()  # fetched into the repository's cache
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if aside.exists():
            aside.rename(cache)
        _run([DVC, "remote", "remove", "--local", "storage"], repo, pipeline.env)
    assert "Fetching 1 data version(s) from the DVC remote" in done.stderr
    assert not (repo / ".traza-reproduce").exists()
    assert "started with uncommitted changes (params.yaml)" in done.stderr
    assert "Params: params.yaml: train.n_jobs = 2 (the commit has 1)" in done.stderr
    assert "3 of 3 metrics match" in done.stdout
    (new,) = [
        r
        for r in _stage_runs(pipeline.store)
        if r.data.tags.get("traza.reproduced_from") == second.info.run_id
    ]
    assert new.data.metrics == second.data.metrics
    assert new.data.params["n_jobs"] == new.data.params["train.n_jobs"] == "2"
    assert new.data.params["train_rows"] == "252"
    assert _inputs(new)["data/processed"].dataset.digest == md5
    assert md5 == _dep(pipeline.locks[1], STAGE, "data/processed")["md5"]
    assert new.data.tags["mlflow.source.git.commit"] == pipeline.commits[1]
    notes = new.data.tags["traza.reproduce.notes"]
    assert notes == "params.yaml: train.n_jobs = 2 (the commit has 1)"


def _dvc_object(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]
