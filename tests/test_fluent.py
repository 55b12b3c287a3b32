"""The fluent API as scripts use it: active runs, nesting, resume, system tags, search_runs."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import traza
import traza as mlflow
from traza.entities import RunStatus, ViewType
from traza.exceptions import TrazaException


def test_default_store_is_project_local_mlruns(isolated: Path) -> None:
    assert not (isolated / "mlruns").exists()
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    assert (isolated / "mlruns" / "traza.db").is_file()
    assert run.info.experiment_id == "0"
    assert mlflow.get_tracking_uri() == (isolated / "mlruns").as_uri()


def test_context_manager_finishes_or_fails() -> None:
    with mlflow.start_run() as ok:
        pass
    assert mlflow.get_run(ok.info.run_id).info.status == "FINISHED"
    with pytest.raises(ValueError), mlflow.start_run() as failed:
        raise ValueError("boom")
    info = mlflow.get_run(failed.info.run_id).info
    assert info.status == "FAILED" and info.end_time is not None
    assert mlflow.active_run() is None


def test_end_run_with_status() -> None:
    run = mlflow.start_run()
    assert mlflow.active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]
    mlflow.end_run(status="KILLED")
    assert mlflow.get_run(run.info.run_id).info.status == "KILLED"
    assert mlflow.last_active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]


def test_nested_runs_and_parent_tag() -> None:
    with mlflow.start_run(run_name="parent") as parent:
        with pytest.raises(TrazaException, match="nested=True"):
            mlflow.start_run()
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_param("depth", 1)
        assert mlflow.active_run().info.run_id == parent.info.run_id  # type: ignore[union-attr]
    child_run = mlflow.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert mlflow.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id  # type: ignore[union-attr]


def test_system_tags_description_and_user_tags() -> None:
    with mlflow.start_run(description="a note", tags={"team": "ml", "mlflow.user": "me"}) as run:
        pass
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["mlflow.note.content"] == "a note"
    assert tags["team"] == "ml"
    assert tags["mlflow.user"] == "me"  # user tags win over system tags
    assert tags["mlflow.source.type"] == "LOCAL"
    assert "mlflow.source.name" in tags and tags["mlflow.runName"] == run.info.run_name


def test_git_commit_tag_from_script_in_repo(isolated: Path) -> None:
    repo = isolated / "repo"
    repo.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    script = repo / "train.py"
    script.write_text(
        "import traza as mlflow\n"
        "with mlflow.start_run() as run:\n    pass\n"
        "print(run.info.run_id)\n"
    )
    subprocess.run(["git", "add", "."], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "x"], cwd=repo, check=True, env=env)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()
    out = subprocess.run(
        [sys.executable, str(script)], cwd=isolated, check=True, capture_output=True, text=True
    ).stdout.strip()
    tags = mlflow.get_run(out).data.tags
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.name"] == str(script)


def test_set_experiment_by_name_and_id() -> None:
    exp = mlflow.set_experiment("by-name")
    assert mlflow.get_experiment_by_name("by-name").experiment_id == exp.experiment_id  # type: ignore[union-attr]
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    assert mlflow.set_experiment(experiment_id=exp.experiment_id).name == "by-name"
    with pytest.raises(TrazaException):
        mlflow.set_experiment(experiment_id="424242")
    mlflow.delete_experiment(exp.experiment_id)
    with pytest.raises(TrazaException, match="deleted"):
        mlflow.set_experiment("by-name")


def test_experiment_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with mlflow.start_run() as run:
        pass
    assert mlflow.get_experiment(run.info.experiment_id).name == "from-env"


def test_resume_from_mlflow_run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    client = mlflow.MlflowClient()
    created = client.create_run("0", run_name="handed-over")
    client.set_terminated(created.info.run_id, "FINISHED")
    monkeypatch.setenv("MLFLOW_RUN_ID", created.info.run_id)
    with mlflow.start_run() as run:
        assert run.info.run_id == created.info.run_id
        assert mlflow.get_run(run.info.run_id).info.status == "RUNNING"
        mlflow.log_metric("resumed", 1.0)
    # The variable is consumed: the next run is a new one.
    with mlflow.start_run() as other:
        pass
    assert other.info.run_id != created.info.run_id
    assert mlflow.get_run(created.info.run_id).data.metrics == {"resumed": 1.0}


def test_tracking_uri_environment_precedence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(tmp_path / "a"))
    monkeypatch.setenv("TRAZA_TRACKING_URI", str(tmp_path / "b"))
    assert mlflow.get_tracking_uri() == (tmp_path / "b").as_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'c.db'}")
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'c.db'}"
    with mlflow.start_run():
        mlflow.log_metric("x", 1.0)
    assert (tmp_path / "c.db").is_file() and not (tmp_path / "b").exists()


def test_logging_autostarts_a_run() -> None:
    mlflow.log_metric("auto", 3.0)
    run = mlflow.active_run()
    assert run is not None
    mlflow.end_run()
    assert mlflow.get_run(run.info.run_id).data.metrics == {"auto": 3.0}


def test_log_functions_and_async_flag() -> None:
    with mlflow.start_run() as run:
        mlflow.log_params({"a": 1, "b": [1, 2]})
        mlflow.log_param("c", None)
        mlflow.log_metrics({"x": 1.5, "y": 2}, step=3)
        mlflow.log_metric("z", 0.5, step=1, synchronous=False).wait()
        mlflow.set_tags({"k": "v"})
        mlflow.set_tag("k2", 2)
        mlflow.delete_tag("k2")
        mlflow.flush_async_logging()
    data = mlflow.get_run(run.info.run_id).data
    assert data.params == {"a": "1", "b": "[1, 2]", "c": "None"}
    assert data.metrics == {"x": 1.5, "y": 2.0, "z": 0.5}
    assert data.tags["k"] == "v" and "k2" not in data.tags
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "x")
    assert [(m.step, m.value) for m in history] == [(3, 1.5)]


def test_bad_metric_value_message() -> None:
    with mlflow.start_run(), pytest.raises(TrazaException) as e:
        mlflow.log_metric("acc", "high")  # type: ignore[arg-type]
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "'high'" in e.value.message and "'acc'" in e.value.message


def test_search_runs_dataframe_and_list() -> None:
    mlflow.set_experiment("frame")
    for i, model in enumerate(["rf", "svm", "rf"]):
        with mlflow.start_run(run_name=f"r{i}"):
            mlflow.log_param("model", model)
            if i != 1:
                mlflow.log_metric("acc", 0.5 + i / 10)
    df = mlflow.search_runs(filter_string="params.model = 'rf'", order_by=["metrics.acc DESC"])
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:6]) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    assert list(df["tags.mlflow.runName"]) == ["r2", "r0"]
    assert list(df["metrics.acc"]) == [0.7, 0.5]
    assert (
        str(df["start_time"].dtype).startswith("datetime64") and df["start_time"].dt.tz is not None
    )
    everything = mlflow.search_runs()
    assert len(everything) == 3 and math.isnan(
        everything.loc[everything["tags.mlflow.runName"] == "r1", "metrics.acc"].iloc[0]
    )
    as_list = mlflow.search_runs(output_format="list", max_results=2)
    assert len(as_list) == 2 and all(isinstance(r, traza.entities.Run) for r in as_list)
    by_name = mlflow.search_runs(experiment_names=["frame"], output_format="list")
    assert len(by_name) == 3
    assert mlflow.search_runs(search_all_experiments=True, run_view_type=ViewType.ALL).shape[0] == 3
    empty = mlflow.search_runs(filter_string="params.model = 'none'")
    assert empty.empty


def test_search_experiments_pages_through_everything() -> None:
    for i in range(5):
        mlflow.create_experiment(f"x{i}")
    assert len(mlflow.search_experiments()) == 6
    assert len(mlflow.search_experiments(max_results=2)) == 2
    assert [e.name for e in mlflow.search_experiments(filter_string="name = 'x3'")] == ["x3"]


def test_runs_left_open_end_at_exit(isolated: Path) -> None:
    script = isolated / "s.py"
    script.write_text(
        "import sys, traza\n"
        "run = traza.start_run()\n"
        "print(run.info.run_id, flush=True)\n"
        "if sys.argv[1] == 'fail':\n    raise SystemExit(traza.log_metric('x', 'bad'))\n"
    )
    ok = subprocess.run([sys.executable, str(script), "ok"], capture_output=True, text=True)
    failed = subprocess.run([sys.executable, str(script), "fail"], capture_output=True, text=True)
    assert failed.returncode != 0 and "INVALID_PARAMETER_VALUE" not in failed.stdout
    assert mlflow.get_run(ok.stdout.split()[0]).info.status == "FINISHED"
    assert mlflow.get_run(failed.stdout.split()[0]).info.status == "FAILED"


def test_run_status_helpers() -> None:
    assert RunStatus.to_string(RunStatus.FINISHED) == "FINISHED"
    assert RunStatus.from_string("KILLED") == 5
    assert RunStatus.is_terminated("FAILED") and not RunStatus.is_terminated(RunStatus.RUNNING)
    assert ViewType.from_string("all") == ViewType.ALL


def test_client_splits_large_batches_and_checks_them_first() -> None:
    from traza.entities import Metric

    client = mlflow.MlflowClient()
    run_id = client.create_run("0").info.run_id
    points = [Metric("m", float(i), 1, i) for i in range(2500)]
    with pytest.raises(TrazaException):
        client.log_batch(run_id, metrics=[*points, Metric("m", 1.0, 1, 1.5)])  # type: ignore[arg-type]
    assert client.get_metric_history(run_id, "m") == []
    client.log_batch(run_id, metrics=points)
    assert len(client.get_metric_history(run_id, "m")) == 2500
    assert client.get_run(run_id).data.metrics == {"m": 2499.0}
