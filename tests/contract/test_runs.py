"""Runs and logging: params, metrics, tags, batches, histories, inputs, on every store."""

from __future__ import annotations

import math

import pytest

from traza.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    RunTag,
)
from traza.exceptions import TrazaException
from traza.store.base import Store


@pytest.fixture
def run_id(store: Store) -> str:
    experiment_id = store.create_experiment("runs")
    return store.create_run(experiment_id, "alice", 1000, [RunTag("t0", "x")], "first").info.run_id


def test_create_run(store: Store) -> None:
    experiment_id = store.create_experiment("e")
    run = store.create_run(experiment_id, "alice", 1234, [RunTag("k", "v")], "named")
    info = run.info
    assert len(info.run_id) == 32 and int(info.run_id, 16) >= 0
    assert (info.experiment_id, info.user_id, info.start_time) == (experiment_id, "alice", 1234)
    assert (info.status, info.end_time, info.run_name) == ("RUNNING", None, "named")
    # The store's own folder: artifacts/<experiment>/<run>; a root given to the store (the
    # PostgreSQL kind's): MLflow's <root>/<experiment>/<run>/artifacts.
    assert info.artifact_uri.endswith(
        (f"/artifacts/{experiment_id}/{info.run_id}", f"/{experiment_id}/{info.run_id}/artifacts")
    )
    fetched = store.get_run(info.run_id)
    assert fetched.info == info
    assert fetched.data.tags == {"k": "v", "mlflow.runName": "named"}


def test_generated_run_name(store: Store) -> None:
    run = store.create_run("0", "u", 1, [], None)
    adjective, noun, number = run.info.run_name.split("-")
    assert adjective.isalpha() and noun.isalpha() and number.isdigit()
    assert store.get_run(run.info.run_id).data.tags["mlflow.runName"] == run.info.run_name


def test_run_name_from_tag_and_conflict(store: Store) -> None:
    run = store.create_run("0", "u", 1, [RunTag("mlflow.runName", "tagged")], None)
    assert run.info.run_name == "tagged"
    with pytest.raises(TrazaException):
        store.create_run("0", "u", 1, [RunTag("mlflow.runName", "a")], "b")


def test_unknown_run(store: Store) -> None:
    with pytest.raises(TrazaException) as e:
        store.get_run("0" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(TrazaException) as e:
        store.log_batch("0" * 32, metrics=[Metric("m", 1.0, 1, 0)])
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_update_run(store: Store, run_id: str) -> None:
    info = store.update_run_info(run_id, "FINISHED", 2000, "renamed")
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 2000, "renamed")
    run = store.get_run(run_id)
    assert run.info == info
    assert run.data.tags["mlflow.runName"] == "renamed"
    with pytest.raises(TrazaException) as e:
        store.update_run_info(run_id, "DONE", None, None)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_set_run_name_tag_renames(store: Store, run_id: str) -> None:
    store.set_tag(run_id, RunTag("mlflow.runName", "via-tag"))
    assert store.get_run(run_id).info.run_name == "via-tag"


def test_delete_restore_and_no_logging_while_deleted(store: Store, run_id: str) -> None:
    store.log_metric(run_id, Metric("m", 1.0, 10, 0))
    store.delete_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    for call in (
        lambda: store.log_metric(run_id, Metric("m", 2.0, 11, 1)),
        lambda: store.log_param(run_id, Param("p", "1")),
        lambda: store.set_tag(run_id, RunTag("t", "1")),
    ):
        with pytest.raises(TrazaException) as e:
            call()
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "deleted" in e.value.message
    assert [m.value for m in store.get_metric_history(run_id, "m")] == [1.0]
    store.restore_run(run_id)
    store.log_metric(run_id, Metric("m", 2.0, 11, 1))
    assert store.get_run(run_id).data.metrics == {"m": 2.0}


def test_params_are_immutable(store: Store, run_id: str) -> None:
    store.log_param(run_id, Param("lr", "0.1"))
    store.log_param(run_id, Param("lr", "0.1"))  # the same value again is fine
    with pytest.raises(TrazaException) as e:
        store.log_param(run_id, Param("lr", "0.2"))
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "'0.1'" in e.value.message and "'0.2'" in e.value.message
    assert store.get_run(run_id).data.params == {"lr": "0.1"}


def test_rejected_batch_writes_nothing(store: Store, run_id: str) -> None:
    store.log_param(run_id, Param("lr", "0.1"))
    with pytest.raises(TrazaException):
        store.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0, 5, 0)],
            params=[Param("new", "x"), Param("lr", "0.5")],
            tags=[RunTag("t", "v")],
        )
    run = store.get_run(run_id)
    assert run.data.params == {"lr": "0.1"}
    assert run.data.metrics == {}
    assert "t" not in run.data.tags


def test_metric_latest_rule_and_history(store: Store, run_id: str) -> None:
    points = [(1.0, 100, 0), (0.5, 300, 2), (0.7, 200, 1), (0.9, 400, 2), (0.1, 50, 2)]
    for value, ts, step in points:
        store.log_metric(run_id, Metric("loss", value, ts, step))
    # Latest = largest step, then largest timestamp.
    assert store.get_run(run_id).data.metrics == {"loss": 0.9}
    history = store.get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (0, 100, 1.0),
        (1, 200, 0.7),
        (2, 50, 0.1),
        (2, 300, 0.5),
        (2, 400, 0.9),
    ]
    assert all(m.key == "loss" and m.run_id == run_id for m in history)
    assert store.get_metric_history(run_id, "absent") == []


def test_nan_and_infinities_round_trip(store: Store, run_id: str) -> None:
    store.log_batch(
        run_id,
        metrics=[
            Metric("nan", math.nan, 1, 0),
            Metric("pinf", math.inf, 1, 0),
            Metric("ninf", -math.inf, 1, 0),
        ],
    )
    metrics = store.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["pinf"] == math.inf and metrics["ninf"] == -math.inf
    assert math.isnan(store.get_metric_history(run_id, "nan")[0].value)
    assert store.get_metric_history(run_id, "ninf")[0].value == -math.inf


def test_history_pages(store: Store, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric("m", float(i), i, i) for i in range(25)])
    seen, token = [], None
    while True:
        page = store.get_metric_history(run_id, "m", max_results=10, page_token=token)
        seen += [m.step for m in page]
        token = page.token
        if token is None:
            break
    assert seen == list(range(25))


def test_batch_limits(store: Store, run_id: str) -> None:
    with pytest.raises(TrazaException) as e:
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, i) for i in range(1001)])
    assert "1000" in e.value.message
    with pytest.raises(TrazaException):
        store.log_batch(run_id, params=[Param(f"p{i}", "1") for i in range(101)])
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, i) for i in range(1000)])
    assert len(store.get_metric_history(run_id, "m")) == 1000


@pytest.mark.parametrize(
    "metric",
    [
        Metric("", 1.0, 1, 0),
        Metric("a" * 251, 1.0, 1, 0),
        Metric("bad!key", 1.0, 1, 0),
        Metric("../up", 1.0, 1, 0),
        Metric("/abs", 1.0, 1, 0),
        Metric("ok", "1.0", 1, 0),  # type: ignore[arg-type]
        Metric("ok", True, 1, 0),  # type: ignore[arg-type]
        Metric("ok", None, 1, 0),  # type: ignore[arg-type]
        Metric("ok", 1.0, -5, 0),
        Metric("ok", 1.0, 1, 1.5),  # type: ignore[arg-type]
    ],
    ids=["empty", "long", "chars", "dotdot", "absolute", "string", "bool", "none", "ts", "step"],
)
def test_bad_metrics_are_refused_and_nothing_written(
    store: Store, run_id: str, metric: Metric
) -> None:
    with pytest.raises(TrazaException) as e:
        store.log_batch(run_id, metrics=[Metric("good", 1.0, 1, 0), metric])
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert store.get_run(run_id).data.metrics == {}


def test_long_param_value_refused(store: Store, run_id: str) -> None:
    store.log_param(run_id, Param("ok", "x" * 6000))
    with pytest.raises(TrazaException) as e:
        store.log_param(run_id, Param("long", "x" * 6001))
    assert "6000" in e.value.message


def test_tags_set_overwrite_delete(store: Store, run_id: str) -> None:
    store.set_tag(run_id, RunTag("k", "1"))
    store.set_tag(run_id, RunTag("k", "2"))
    assert store.get_run(run_id).data.tags["k"] == "2"
    store.delete_tag(run_id, "k")
    assert "k" not in store.get_run(run_id).data.tags
    with pytest.raises(TrazaException) as e:
        store.delete_tag(run_id, "k")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_inputs(store: Store, run_id: str) -> None:
    dataset = Dataset("train", "abc123", "local", '{"uri": "data.csv"}', '{"x": 1}', '{"n": 3}')
    item = DatasetInput(dataset, (InputTag("mlflow.data.context", "training"),))
    store.log_inputs(run_id, [item])
    store.log_inputs(run_id, [item])  # idempotent
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert inputs == (item,)


def test_identical_points_are_kept_once(store: Store, run_id: str) -> None:
    point = Metric("m", 0.5, 100, 3)
    store.log_batch(run_id, metrics=[point, point])
    store.log_metric(run_id, point)
    store.log_metric(run_id, Metric("m", 0.5, 101, 3))  # another timestamp is another point
    assert [(m.timestamp, m.value) for m in store.get_metric_history(run_id, "m")] == [
        (100, 0.5),
        (101, 0.5),
    ]
