"""The real ``mlflow`` client against a live ``traza server``, on SQLite and on PostgreSQL.

One server per backend serves the whole module (artifacts proxied under ``mlflow-artifacts:/``);
each test works in experiments of its own, named uniquely, so tests share no state.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import mlflow.artifacts
import mlflow.data
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import LoggedModelStatus, Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException, RestException
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression

from .live import Live, live_backend


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with live_backend(request.param, tmp_path_factory.mktemp(f"served-{request.param}")) as live:
        yield live


@pytest.fixture
def client(
    live: Live, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[mlflow.MlflowClient]:
    """An ``MlflowClient`` (and the fluent API) pointed at the live server."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live.url)
    mlflow.set_tracking_uri(live.url)
    yield mlflow.MlflowClient(live.url)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_code(excinfo: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(excinfo.value.error_code)


# -- experiments -----------------------------------------------------------------------------
def test_experiment_lifecycle(client: mlflow.MlflowClient) -> None:
    name = unique("exp")
    experiment_id = client.create_experiment(name, tags={"team": "vision", "stage": "dev"})
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == name
    assert experiment.tags == {"team": "vision", "stage": "dev"}
    assert experiment.lifecycle_stage == "active"
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    assert experiment.creation_time > 0 and experiment.last_update_time >= experiment.creation_time

    by_name = client.get_experiment_by_name(name)
    assert by_name is not None and by_name.experiment_id == experiment_id
    assert client.get_experiment_by_name(unique("missing")) is None

    renamed = unique("renamed")
    client.rename_experiment(experiment_id, renamed)
    assert client.get_experiment(experiment_id).name == renamed
    assert client.get_experiment_by_name(name) is None

    client.set_experiment_tag(experiment_id, "stage", "prod")
    client.set_experiment_tag(experiment_id, "owner", "alice")
    client.delete_experiment_tag(experiment_id, "team")
    assert client.get_experiment(experiment_id).tags == {"stage": "prod", "owner": "alice"}

    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    active = client.search_experiments(filter_string=f"name = '{renamed}'")
    assert active == []
    deleted = client.search_experiments(
        view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{renamed}'"
    )
    assert [e.experiment_id for e in deleted] == [experiment_id]
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    restored = client.search_experiments(filter_string=f"name = '{renamed}'")
    assert [e.experiment_id for e in restored] == [experiment_id]


def test_search_experiments(client: mlflow.MlflowClient) -> None:
    prefix = unique("search")
    ids = {}
    for i in range(7):
        name = f"{prefix}-{i}"
        ids[name] = client.create_experiment(name, tags={"parity": "even" if i % 2 == 0 else "odd"})

    found = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%' AND tags.parity = 'even'", order_by=["name DESC"]
    )
    assert [e.name for e in found] == [f"{prefix}-{i}" for i in (6, 4, 2, 0)]

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_experiments(
            max_results=3,
            filter_string=f"name LIKE '{prefix}-%'",
            order_by=["name ASC"],
            page_token=token,
        )
        pages += 1
        seen += [e.name for e in page]
        token = page.token
        if not token:
            break
    assert pages == 3
    assert seen == sorted(ids)


# -- runs ------------------------------------------------------------------------------------
def test_run_logging_round_trips(client: mlflow.MlflowClient) -> None:
    experiment_id = client.create_experiment(unique("runs"))
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name="parent",
        tags={"team": "vision"},
        description="the parent run",
    ) as parent:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "act": "relu"})
        for step, value in enumerate([0.5, 0.25, 0.125]):
            mlflow.log_metric("loss", value, step=step, timestamp=1_700_000_000_000 + step)
        mlflow.log_metric("nan", math.nan)
        mlflow.log_metric("pos_inf", math.inf)
        mlflow.log_metric("neg_inf", -math.inf)
        mlflow.set_tag("keep", "yes")
        mlflow.set_tag("drop", "soon")
        mlflow.delete_tag("drop")
        with mlflow.start_run(experiment_id=experiment_id, run_name="child", nested=True) as child:
            mlflow.log_metric("child_metric", 1.0)

    run = client.get_run(parent.info.run_id)
    assert run.info.run_name == "parent"
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == experiment_id
    assert run.info.artifact_uri.startswith(f"mlflow-artifacts:/{experiment_id}/{run.info.run_id}")
    assert run.info.end_time is not None and run.info.end_time >= run.info.start_time
    assert run.data.params == {"lr": "0.01", "layers": "3", "act": "relu"}
    metrics = run.data.metrics
    assert metrics["loss"] == 0.125
    assert math.isnan(metrics["nan"])
    assert metrics["pos_inf"] == math.inf and metrics["neg_inf"] == -math.inf
    tags = run.data.tags
    assert tags["team"] == "vision" and tags["keep"] == "yes" and "drop" not in tags
    assert tags["mlflow.runName"] == "parent"
    assert tags["mlflow.note.content"] == "the parent run"
    assert "mlflow.user" in tags and "mlflow.source.name" in tags

    history = client.get_metric_history(parent.info.run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (0, 0.5, 1_700_000_000_000),
        (1, 0.25, 1_700_000_000_001),
        (2, 0.125, 1_700_000_000_002),
    ]
    (nan_point,) = client.get_metric_history(parent.info.run_id, "nan")
    assert math.isnan(nan_point.value)
    (inf_point,) = client.get_metric_history(parent.info.run_id, "neg_inf")
    assert inf_point.value == -math.inf

    child_run = client.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child_run.info.run_name == "child"
    children = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert [r.info.run_id for r in children] == [child.info.run_id]


def test_log_batch_of_1000_metrics_and_100_params(client: mlflow.MlflowClient) -> None:
    experiment_id = client.create_experiment(unique("batch"))
    run_id = client.create_run(experiment_id).info.run_id
    metrics = [
        Metric(f"m{k}", k * 1000 + step + 0.5, 1_700_000_000_000 + step, step)
        for k in range(10)
        for step in range(100)
    ]
    params = [Param(f"p{i:03d}", f"value-{i}") for i in range(100)]
    client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("batched", "1")])

    run = client.get_run(run_id)
    assert run.data.params == {f"p{i:03d}": f"value-{i}" for i in range(100)}
    assert run.data.metrics == {f"m{k}": k * 1000 + 99.5 for k in range(10)}
    assert run.data.tags["batched"] == "1"
    history = client.get_metric_history(run_id, "m7")
    assert [(m.step, m.value) for m in history] == [(s, 7000 + s + 0.5) for s in range(100)]


def test_search_runs(client: mlflow.MlflowClient) -> None:
    experiment_id = client.create_experiment(unique("search-runs"))
    run_ids = []
    for i in range(12):
        run = client.create_run(
            experiment_id,
            start_time=1_700_000_000_000 + i,
            tags={"parity": "even" if i % 2 == 0 else "odd"},
            run_name=f"run-{i:02d}",
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", i / 10, 0, 0)],
            params=[Param("idx", f"{i:02d}"), Param("group", "a" if i < 6 else "b")],
        )
        if i % 3 == 0:
            client.set_terminated(run.info.run_id, "FINISHED")
        run_ids.append(run.info.run_id)

    def names(runs: list[mlflow.entities.Run]) -> list[str]:
        return [r.info.run_name for r in runs]

    found = client.search_runs([experiment_id], "metrics.acc > 0.75", order_by=["metrics.acc DESC"])
    assert names(found) == ["run-11", "run-10", "run-09", "run-08"]
    found = client.search_runs(
        [experiment_id], "params.group = 'a' AND tags.parity = 'odd'", order_by=["params.idx"]
    )
    assert names(found) == ["run-01", "run-03", "run-05"]
    found = client.search_runs(
        [experiment_id], "attributes.status = 'FINISHED'", order_by=["attributes.start_time DESC"]
    )
    assert names(found) == ["run-09", "run-06", "run-03", "run-00"]
    found = client.search_runs([experiment_id], "attributes.run_name = 'run-04'")
    assert [r.info.run_id for r in found] == [run_ids[4]]
    found = client.search_runs([experiment_id], "tags.parity != 'even' AND metrics.acc <= 0.3")
    assert sorted(names(found)) == ["run-01", "run-03"]

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_runs(
            [experiment_id], max_results=5, order_by=["metrics.acc ASC"], page_token=token
        )
        pages += 1
        seen += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    assert pages == 3
    assert seen == run_ids  # every run once, in metric order across pages

    frame = mlflow.search_runs(
        experiment_ids=[experiment_id], filter_string="params.group = 'b'", order_by=["params.idx"]
    )
    assert isinstance(frame, pd.DataFrame)
    assert {
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
        "metrics.acc",
        "params.idx",
        "params.group",
        "tags.parity",
        "tags.mlflow.runName",
    } <= set(frame.columns)
    assert list(frame["run_id"]) == run_ids[6:]
    assert list(frame["metrics.acc"]) == [i / 10 for i in range(6, 12)]
    assert list(frame["tags.mlflow.runName"]) == [f"run-{i:02d}" for i in range(6, 12)]


def test_delete_and_restore_run(client: mlflow.MlflowClient) -> None:
    experiment_id = client.create_experiment(unique("deleted-runs"))
    keep = client.create_run(experiment_id).info.run_id
    gone = client.create_run(experiment_id).info.run_id

    def visible(view: int) -> set[str]:
        return {r.info.run_id for r in client.search_runs([experiment_id], run_view_type=view)}

    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    assert visible(ViewType.ACTIVE_ONLY) == {keep}
    assert visible(ViewType.DELETED_ONLY) == {gone}
    assert visible(ViewType.ALL) == {keep, gone}
    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert visible(ViewType.ACTIVE_ONLY) == {keep, gone}
    assert visible(ViewType.DELETED_ONLY) == set()


def test_log_input_dataset(client: mlflow.MlflowClient) -> None:
    experiment_id = client.create_experiment(unique("inputs"))
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.0]})
    dataset = mlflow.data.from_pandas(frame, source="data/train.csv", name="train", targets="y")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_input(dataset, context="training")

    (logged,) = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset.name == "train"
    assert logged.dataset.digest == dataset.digest
    assert logged.dataset.source_type == dataset.source._get_source_type()
    assert logged.dataset.source == dataset.source.to_json()
    assert logged.dataset.schema == dataset.to_dict()["schema"]
    assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": "training"}


# -- artifacts -------------------------------------------------------------------------------
def test_artifacts_through_the_proxy(
    client: mlflow.MlflowClient, live: Live, tmp_path: Path
) -> None:
    experiment_id = client.create_experiment(unique("artifacts"))
    run_id = client.create_run(experiment_id).info.run_id

    blob = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "weights.bin").write_bytes(blob)
    client.log_artifact(run_id, str(tmp_path / "weights.bin"), "binaries")

    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "top.txt").write_text("top")
    (tree / "sub" / "mid.txt").write_text("mid")
    (tree / "sub" / "deeper" / "leaf.json").write_text('{"leaf": true}')
    client.log_artifacts(run_id, str(tree), "tree")
    client.log_text(run_id, "hello, traza\n", "notes/readme.txt")
    client.log_dict(run_id, {"alpha": 1, "nested": {"beta": [1, 2]}}, "config.json")

    root = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in root] == [
        ("binaries", True),
        ("config.json", False),
        ("notes", True),
        ("tree", True),
    ]
    sub = client.list_artifacts(run_id, "tree/sub")
    assert [(f.path, f.is_dir, f.file_size) for f in sub] == [
        ("tree/sub/deeper", True, None),
        ("tree/sub/mid.txt", False, 3),
    ]
    (binary,) = client.list_artifacts(run_id, "binaries")
    assert (binary.path, binary.file_size) == ("binaries/weights.bin", len(blob))

    # The proxy kept the files where the run's artifact URI says, under the destination.
    artifact_uri = client.get_run(run_id).info.artifact_uri
    assert artifact_uri.startswith(f"mlflow-artifacts:/{experiment_id}/{run_id}")
    stored = live.artifacts / artifact_uri.removeprefix("mlflow-artifacts:/") / "binaries"
    assert (stored / "weights.bin").read_bytes() == blob

    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="binaries/weights.bin", dst_path=str(tmp_path / "dl1")
    )
    assert Path(downloaded).read_bytes() == blob

    folder = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="tree", dst_path=str(tmp_path / "dl2")
        )
    )
    files = {
        p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()
    }
    assert files == {
        "top.txt": "top",
        "sub/mid.txt": "mid",
        "sub/deeper/leaf.json": '{"leaf": true}',
    }

    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "hello, traza\n"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == {
        "alpha": 1,
        "nested": {"beta": [1, 2]},
    }


# -- errors ----------------------------------------------------------------------------------
def test_errors_carry_mlflow_codes(client: mlflow.MlflowClient) -> None:
    name = unique("errors")
    experiment_id = client.create_experiment(name)
    run_id = client.create_run(experiment_id).info.run_id

    with pytest.raises(RestException) as missing:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert error_code(missing) == "RESOURCE_DOES_NOT_EXIST"

    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")  # the same value again is fine
    with pytest.raises(MlflowException) as changed:  # the client rewraps the server's error
        client.log_param(run_id, "lr", "0.2")
    assert error_code(changed) == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params == {"lr": "0.1"}

    with pytest.raises(RestException) as bad_filter:
        client.search_runs([experiment_id], "metrics.acc >>> 1")
    assert error_code(bad_filter) == "INVALID_PARAMETER_VALUE"

    with pytest.raises(RestException) as exists:
        client.create_experiment(name)
    assert error_code(exists) == "RESOURCE_ALREADY_EXISTS"


# -- MLflow 3 logged models ------------------------------------------------------------------
def test_sklearn_model_flow(client: mlflow.MlflowClient) -> None:
    experiment_id = client.create_experiment(unique("models"))
    X = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0], [5.0, 0.5]])
    y = X @ np.array([1.5, -2.0]) + 0.25
    model = LinearRegression().fit(X, y)

    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X, y),
            input_example=X[:2],
            # Skips requirement inference (a ~10 s subprocess in the client, not the server).
            pip_requirements=["scikit-learn"],
        )
        mlflow.log_metric("rmse", 0.125, step=2, model_id=info.model_id)
    run_id = run.info.run_id
    assert info.model_id and info.model_uri == f"models:/{info.model_id}"

    expected = model.predict(X)
    by_model = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_allclose(by_model.predict(X), expected)
    by_run = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    np.testing.assert_allclose(by_run.predict(X), expected)

    client.log_model_params(info.model_id, {"fit_intercept": "True"})
    client.set_logged_model_tags(info.model_id, {"stage": "candidate", "drop": "me"})
    client.delete_logged_model_tag(info.model_id, "drop")
    logged = mlflow.get_logged_model(info.model_id)
    assert logged.name == "model"
    assert logged.experiment_id == experiment_id
    assert logged.source_run_id == run_id
    assert logged.status == LoggedModelStatus.READY
    assert logged.artifact_location.startswith(f"mlflow-artifacts:/{experiment_id}/models/")
    assert logged.params == {"fit_intercept": "True"}
    assert logged.tags["stage"] == "candidate" and "drop" not in logged.tags
    assert [(m.key, m.value, m.step, m.run_id) for m in logged.metrics or []] == [
        ("rmse", 0.125, 2, run_id)
    ]
    names = {f.path for f in client.list_logged_model_artifacts(info.model_id)}
    assert {"MLmodel", "model.skops", "input_example.json"} <= names

    models = mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list")
    assert [m.model_id for m in models] == [info.model_id]
    frame = mlflow.search_logged_models(
        experiment_ids=[experiment_id], filter_string="metrics.rmse < 0.5 AND name = 'model'"
    )
    assert list(frame["model_id"]) == [info.model_id]
    assert list(frame["name"]) == ["model"]
    none = mlflow.search_logged_models(
        experiment_ids=[experiment_id], filter_string="metrics.rmse > 0.5", output_format="list"
    )
    assert none == []

    outputs = client.get_run(run_id).outputs
    assert [(o.model_id, o.step) for o in outputs.model_outputs] == [(info.model_id, 0)]

    client.delete_logged_model(info.model_id)
    assert mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list") == []


def test_odd_artifact_names_round_trip(client: mlflow.MlflowClient, tmp_path: Path) -> None:
    """Names with spaces, unicode, '=', '+' and '%' pass the server's path rule (issue 14)."""
    folder = tmp_path / "upload"
    names = ["a b.txt", "ünï cödé.txt", "k=v+w.csv", "100%.txt"]
    (folder / "sub dir=1").mkdir(parents=True)
    for name in names:
        (folder / "sub dir=1" / name).write_text(name)
    run_id = client.create_run(client.create_experiment(f"odd-{uuid.uuid4().hex}")).info.run_id
    client.log_artifacts(run_id, str(folder), "out")
    listed = [f.path for f in client.list_artifacts(run_id, "out/sub dir=1")]
    assert sorted(listed) == sorted(f"out/sub dir=1/{n}" for n in names)
    back = Path(client.download_artifacts(run_id, "out", str(tmp_path / "back")))
    assert {p.name: p.read_text() for p in (back / "sub dir=1").iterdir()} == {n: n for n in names}
