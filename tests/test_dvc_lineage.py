"""Lineage details: DVC 3's md5s against the real ``dvc``, stage params, runs started outside
DVC (nothing recorded, no subprocess), problems as warnings, and ``traza run`` of a stage."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import traza
from traza.client import TrazaClient
from traza.lineage import dvc

BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "salary"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAZA_", "MLFLOW_", "DVC_"))}
    env.update(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com", DVC_NO_ANALYTICS="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )  # fmt: skip
    return env


def _sh(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _git_dvc_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    _sh(["git", "-c", "init.defaultBranch=main", "init", "-q"], path)
    _sh([DVC, "init", "-q"], path)
    return path


def test_md5s_are_the_ones_dvc_writes(tmp_path: Path) -> None:
    repo = _git_dvc_repo(tmp_path / "repo")
    folder = repo / "images"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("first\r\nwith a windows line end\n")
    (folder / "B.txt").write_bytes(bytes(range(256)) * 40)
    (folder / "sub" / "ñandú é.csv").write_text("x,y\n1,2\n")
    (folder / "sub" / "deeper" / "empty").write_bytes(b"")
    (folder / "sub-file").write_text("sorted after sub/ in DVC's listing?\n")
    (repo / "table.csv").write_text("a,b\n1,2\n3,4\n")
    _sh([DVC, "add", "-q", "images", "table.csv"], repo)
    for name in ("images", "table.csv"):
        recorded = yaml.safe_load((repo / f"{name}.dvc").read_text())["outs"][0]
        ours = dvc.path_hash(repo / name)
        assert ours.md5 == recorded["md5"], name
        assert ours.size == recorded["size"]
        assert ours.nfiles == recorded.get("nfiles")
        # DVC keeps each object where dvc.cache_object says (the listing too, for folders).
        assert dvc.cache_object(dvc.cache_dir(repo), recorded["md5"]).is_file()
        assert dvc.is_data([], (repo / name).resolve(), repo.resolve())
    assert not dvc.is_data([], (repo / ".gitignore").resolve(), repo.resolve())


def _stage_repo(root: Path) -> Path:
    """A folder DVC would read as a repository with one stage (no dvc call needed to read it)."""
    (root / ".dvc").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "x.csv").write_text("x\n1\n")
    (root / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "train": {
                        "cmd": "python train.py --lr ${opt.lr}",
                        "deps": ["data/x.csv", "train.py"],
                        "params": ["opt", {"extra.yaml": ["model.depth"]}],
                        "outs": ["model.bin"],
                    }
                }
            }
        )
    )
    (root / "params.yaml").write_text("opt:\n  lr: 0.1\n  layers: [3, 4]\nunused: 1\n")
    (root / "extra.yaml").write_text("model:\n  depth: 5\n  other: x\n")
    (root / "train.py").write_text("print('training')\n")
    return root


def test_a_run_in_a_stage_records_its_params_and_inputs(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _stage_repo(isolated / "repo")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DVC_STAGE", "train")  # as dvc repro sets it for the stage's command
    traza.set_tracking_uri(str(isolated / "store"))
    with traza.start_run() as run:
        pass
    got = TrazaClient(str(isolated / "store")).get_run(run.info.run_id)
    assert got.data.tags["traza.dvc.stage"] == "train"
    assert got.data.tags["traza.dvc.cmd"] == "python train.py --lr 0.1"  # ${opt.lr} filled in
    assert "traza.source.git.dirty" not in got.data.tags  # not in Git: nothing claimed
    assert got.data.params == {
        "opt.lr": "0.1",
        "opt.layers": "[3, 4]",
        "extra.yaml:model.depth": "5",
    }
    inputs = {i.dataset.name: i for i in got.inputs.dataset_inputs}
    assert set(inputs) == {"data/x.csv", "train.py"}
    assert inputs["data/x.csv"].dataset.digest == dvc.file_md5(repo / "data" / "x.csv")
    contexts = {n: [t.value for t in i.tags] for n, i in inputs.items()}
    assert contexts == {"data/x.csv": ["code"], "train.py": ["code"]}  # no stage writes them
    # The md5s are remembered for the next run, by size, mtime and inode.
    cached = json.loads((repo / ".dvc" / "tmp" / "traza-md5.json").read_text())
    assert {v[3] for v in cached.values()} == {i.dataset.digest for i in inputs.values()}


def test_a_param_no_run_may_hold_is_left_out_not_the_lineage(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = _stage_repo(isolated / "repo")
    columns = [f"feature_{i:04d}" for i in range(600)]  # over 6,000 characters as JSON
    (repo / "params.yaml").write_text(
        yaml.safe_dump({"opt": {"lr": 0.1, "columns": columns, "bad(key)": 1}})
    )
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DVC_STAGE", "train")
    traza.set_tracking_uri(str(isolated / "store"))
    with caplog.at_level(logging.WARNING, logger="traza"), traza.start_run() as run:
        pass
    got = TrazaClient(str(isolated / "store")).get_run(run.info.run_id)
    assert got.data.tags["traza.dvc.stage"] == "train"
    assert got.data.params == {"opt.lr": "0.1", "extra.yaml:model.depth": "5"}
    assert {i.dataset.name for i in got.inputs.dataset_inputs} == {"data/x.csv", "train.py"}
    assert "DVC param opt.columns of stage train not recorded" in caplog.text
    assert "DVC param opt.bad(key) of stage train not recorded" in caplog.text


def test_outside_dvc_nothing_is_recorded_and_no_process_is_started(isolated: Path) -> None:
    started: list[Any] = []
    watching = [True]

    def hook(event: str, args: Any) -> None:
        if watching[0] and event in ("subprocess.Popen", "os.system", "os.posix_spawn"):
            started.append((event, args))

    sys.addaudithook(hook)
    try:
        traza.set_tracking_uri(str(isolated / "store"))
        traza.start_run()  # the store's first use may open files, never a process
        traza.end_run()
        started.clear()
        with traza.start_run() as run:
            pass
    finally:
        watching[0] = False
    assert started == []
    got = TrazaClient(str(isolated / "store")).get_run(run.info.run_id)
    assert not [k for k in got.data.tags if k.startswith("traza.dvc")]
    assert got.inputs.dataset_inputs == ()
    assert TrazaClient(str(isolated / "store")).list_artifacts(run.info.run_id) == []
    assert dvc.find_root(str(isolated)) is None


def test_a_broken_dvc_yaml_is_a_warning_not_a_failure(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = _stage_repo(isolated / "repo")
    (repo / "dvc.yaml").write_text("stages:\n  train: [unclosed\n")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DVC_STAGE", "train")
    traza.set_tracking_uri(str(isolated / "store"))
    with caplog.at_level(logging.WARNING, logger="traza"), traza.start_run() as run:
        traza.log_metric("still", 1.0)
    got = TrazaClient(str(isolated / "store")).get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.metrics == {"still": 1.0}
    assert f"could not record the DVC lineage of run {run.info.run_id}" in caplog.text
    monkeypatch.setenv("TRAZA_DVC_LINEAGE", "0")  # and it can be turned off
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="traza"), traza.start_run():
        pass
    assert caplog.text == ""


def test_traza_run_of_the_stage_entry_point_records_the_lineage(isolated: Path) -> None:
    repo = isolated / "salary"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("mlruns", "__pycache__"))
    _git_dvc_repo(repo)
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "salary"], repo)
    head = _sh(["git", "rev-parse", "HEAD"], repo).strip()
    store = str(isolated / "store")
    traza.set_tracking_uri(store)
    from traza.projects import run as run_project

    for entry_point in ("preparacion_datos", "entrenamiento_evaluacion"):
        run_project(str(repo), entry_point, experiment_name="stages", env_manager="local")
    client = TrazaClient(store)
    experiment = client.get_experiment_by_name("stages")
    assert experiment is not None
    runs = {
        r.data.tags["mlflow.project.entryPoint"]: r
        for r in client.search_runs([experiment.experiment_id], "")
    }
    trained = runs["entrenamiento_evaluacion"]
    assert trained.data.tags["mlflow.source.type"] == "PROJECT"
    assert trained.data.tags["traza.dvc.stage"] == "entrenamiento_evaluacion"
    assert trained.data.tags["mlflow.source.git.commit"] == head
    assert trained.data.tags["traza.source.git.dirty"] == "false"
    assert trained.data.params["train.n_jobs"] == "1"
    assert trained.data.metrics["r2"] > 0.98
    inputs = {i.dataset.name: i.dataset.digest for i in trained.inputs.dataset_inputs}
    assert inputs["data/processed"] == dvc.path_hash(repo / "data" / "processed").md5
    # The data stage's script logs nothing: the runner recorded its lineage when it made the run.
    prepared = runs["preparacion_datos"]
    assert prepared.data.tags["traza.dvc.stage"] == "preparacion_datos"
    assert prepared.data.params["data.rows"] == "300"
    assert {i.dataset.name for i in prepared.inputs.dataset_inputs} == {
        "generate_data.py",
        "src/model_eng/stage_0_prepare_data.py",
    }


def test_git_tracked_paths_are_code_and_the_rest_data(tmp_path: Path) -> None:
    from traza.lineage import gitinfo

    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "train.py").write_text("print(1)\n")
    (repo / "big").mkdir()
    (repo / "big" / "part-0.bin").write_bytes(b"\0" * 10)
    (repo / ".gitignore").write_text("/big\n")
    _sh(["git", "-c", "init.defaultBranch=main", "init", "-q"], repo)
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "x"], repo)
    paths = [(repo / p).resolve() for p in ("src", "src/train.py", "big", "big/part-0.bin")]
    assert gitinfo.tracked(repo, paths) == {paths[0], paths[1]}
    (repo / "src" / "train.py").write_text("print(2)\n")
    state = gitinfo.describe(repo / "src")
    assert state is not None
    assert (state.dirty, state.changed) == (True, ("src/train.py",))
    assert state.main_work_tree == repo
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "y"], repo)
    _sh(["git", "mv", "src/train.py", "src/fit.py"], repo)
    renamed = gitinfo.describe(repo)
    assert renamed is not None and renamed.changed == ("src/fit.py",)


def test_an_external_dependency_does_not_blind_the_git_check(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git refuses a path outside its work tree for the whole list: the other dependencies are
    still told apart (an untracked one is data), and the external one counts as code."""
    repo = isolated / "repo"
    (repo / ".dvc").mkdir(parents=True)
    (repo / "data").mkdir()
    (repo / "data" / "raw.csv").write_text("a\n1\n")
    (repo / ".gitignore").write_text("/data\n")
    (repo / "train.py").write_text("print(1)\n")
    (isolated / "external.csv").write_text("e\n")
    stage = {"cmd": "python train.py", "deps": ["data/raw.csv", "train.py", "../external.csv"]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": stage}}))
    _sh(["git", "-c", "init.defaultBranch=main", "init", "-q"], repo)
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "x"], repo)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DVC_STAGE", "train")
    traza.set_tracking_uri(str(isolated / "store"))
    with traza.start_run() as run:
        pass
    got = TrazaClient(str(isolated / "store")).get_run(run.info.run_id)
    contexts = {i.dataset.name: [t.value for t in i.tags] for i in got.inputs.dataset_inputs}
    assert contexts == {
        "data/raw.csv": ["data"],
        "train.py": ["code"],
        "../external.csv": ["code"],
    }


def test_a_git_that_hangs_does_not_hold_start_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from traza.lineage import gitinfo

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text("#!/bin/sh\nexec sleep 30\n")
    (fake / "git").chmod(0o755)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / ".git" / "HEAD").write_text("0" * 40 + "\n")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(gitinfo, "GIT_TIMEOUT", 0.5)
    started = time.monotonic()
    state = gitinfo.describe(tmp_path / "repo")
    assert time.monotonic() - started < 10
    assert state is not None and state.dirty is None and state.remote_url is None


def test_the_stage_script_by_hand_logs_to_the_server_model_eng_yaml_names(
    isolated: Path,
) -> None:
    """Opción B: ``tracking_uri: http://...`` in model_eng.yaml; the script run by hand in the
    stage's folder (no dvc) is found by its working directory and command."""
    from conftest import served_store
    from traza.store.uri import open_store

    repo = isolated / "salary"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("mlruns", "__pycache__"))
    _git_dvc_repo(repo)
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "salary"], repo)
    _sh([sys.executable, "src/model_eng/stage_0_prepare_data.py"], repo)
    backend = open_store(str(isolated / "served"))
    with served_store(backend, isolated / "artifacts") as url:
        config = (repo / "model_eng.yaml").read_text()
        server_config = config.replace('tracking_uri: ""', f'tracking_uri: "{url}"')
        (repo / "model_eng.yaml").write_text(server_config)
        out = _sh([sys.executable, "src/model_eng/stage_1_2_train_evaluate.py"], repo)
        run_id = out.split()[1]
        run = TrazaClient(url).get_run(run_id)
        env_files = TrazaClient(url).list_artifacts(run_id, "environment")
    assert not (repo / "mlruns").exists()  # nothing went to the local store
    assert run.data.tags["traza.dvc.stage"] == "entrenamiento_evaluacion"
    assert run.data.tags["traza.source.git.dirty"] == "true"  # model_eng.yaml was edited
    assert run.data.tags["traza.source.git.changes"] == "model_eng.yaml"
    inputs = {i.dataset.name: i.dataset.digest for i in run.inputs.dataset_inputs}
    assert inputs["data/processed"] == dvc.path_hash(repo / "data" / "processed").md5
    assert [f.path for f in env_files] == [
        "environment/python_env.yaml",
        "environment/requirements.txt",
    ]


def test_dvcignore_rules_are_applied_as_dvc_applies_them(tmp_path: Path) -> None:
    repo = _git_dvc_repo(tmp_path / "repo")
    (repo / ".dvcignore").write_text(
        "# scratch files anywhere, but keep one\n*.tmp\n!keep.tmp\n"
        "/proj/data/cache/\n**/logs\nnotes?.txt\n[Bb]ackup*\n"
    )
    (repo / "proj").mkdir()
    (repo / "proj" / ".dvcignore").write_text("local.skip\n")  # rules of a folder above the data
    files = [
        "a.csv", "x.tmp", "keep.tmp", "cache/blob", "sub/cache/kept", "sub/logs/run.log",
        "logs", "notes1.txt", "notes10.txt", "Backup.csv", "sub/backup-old", "sub/b.bin",
        "sub/local.skip", "sub/deep/local.skip", "sub/deep/ok.txt",
    ]  # fmt: skip
    data = repo / "proj" / "data"
    for name in files:
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text(f"{name}\n")
    _sh([DVC, "add", "-q", "proj/data"], repo)
    recorded = yaml.safe_load((repo / "proj" / "data.dvc").read_text())["outs"][0]
    ours = dvc.path_hash(data, ignore=dvc.ignore_rules(repo))
    assert (ours.md5, ours.size, ours.nfiles) == (
        recorded["md5"], recorded["size"], recorded["nfiles"]
    )  # fmt: skip
    assert recorded["nfiles"] == 6  # a.csv keep.tmp notes10.txt sub/cache/kept b.bin ok.txt
    assert dvc.path_hash(data).md5 != recorded["md5"]  # the rules mattered


def test_foreach_and_matrix_stages_are_named_and_filled_in_as_dvc_does(tmp_path: Path) -> None:
    repo = _git_dvc_repo(tmp_path / "repo")
    (repo / "params.yaml").write_text("models: [linear, tree]\nseeds: {a: 1, b: 2}\n")
    (repo / "dvc.yaml").write_text(
        """stages:
  fit:
    foreach: ${models}
    do:
      cmd: python fit.py ${item}
      deps: [fit.py]
      outs: ["out/${item}.txt"]
  seed:
    foreach: ${seeds}
    do:
      cmd: python fit.py seed-${key}-${item}
      deps: [fit.py]
  grid:
    matrix:
      model: [linear, tree]
      lr: [0.1, 1]
      opts: [{x: 1}]
    cmd: python fit.py ${item.model} ${item.lr}
    deps: [fit.py]
"""
    )
    (repo / "fit.py").write_text(
        "import sys\nimport traza\n"
        "with traza.start_run() as run:\n    print(run.info.run_id)\n"
        "open(f'out/{sys.argv[1]}.txt', 'w').write('done') if 'seed' not in sys.argv[1] and "
        "len(sys.argv) == 2 else None\n"
    )
    (repo / "out").mkdir()
    listed = _sh([DVC, "stage", "list", "--name-only"], repo).split()
    ours = dvc.load_stages(repo / "dvc.yaml", repo.resolve())
    assert sorted(ours) == sorted(listed)
    assert "grid@tree-1-opts0" in ours
    assert ours["grid@tree-0.1-opts0"].cmd == "python fit.py tree 0.1"
    assert ours["seed@b"].cmd == "python fit.py seed-b-2"
    assert ours["fit@tree"].outs == ("out/tree.txt",)
    # dvc repro of a generated stage: DVC_STAGE names it, the run records it.
    env_store = str(tmp_path / "store")
    env = {**_env(), "TRAZA_TRACKING_URI": env_store}
    done = subprocess.run(
        [DVC, "repro", "fit@tree"], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = TrazaClient(env_store).search_runs(["0"], "")
    assert run.data.tags["traza.dvc.stage"] == "fit@tree"
    assert run.data.tags["traza.dvc.cmd"] == "python fit.py tree"
    assert run.data.params == {}  # as in dvc.lock: the template's list is not a param
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["fit@tree"]
    (recorded,) = run.inputs.dataset_inputs
    assert recorded.dataset.digest == lock["deps"][0]["md5"]


def test_an_environment_records_its_own_python(tmp_path: Path) -> None:
    """A conda environment has no pyvenv.cfg: the runner's version of it is recorded, not this
    interpreter's; virtualenv's long version_info is cut to the release."""
    from traza.lineage import environment

    env = tmp_path / "env"
    dist = env / "lib" / "python3.9" / "site-packages" / "tiny-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\n")
    shot = environment.snapshot(env, "3.9.18")
    assert shot.python_version == "3.9.18" and shot.requirements == ("tiny==1.0",)
    assert "python: 3.9.18" in shot.python_env_yaml()
    (env / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.11.4.final.0\n")
    assert environment.snapshot(env).python_version == "3.11.4"
