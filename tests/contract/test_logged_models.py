"""Logged models (MLflow 3): lifecycle, tags, params, metrics, outputs and search, per store."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest

from traza.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
)
from traza.exceptions import TrazaException
from traza.store.base import Store

MISSING = "m-" + "0" * 32


def error_code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(TrazaException) as e:
        call(*args, **kwargs)
    return e.value.error_code


def test_create_and_get(store: Store) -> None:
    experiment_id = store.create_experiment("models")
    run_id = store.create_run(experiment_id, "u", 1, [], "src").info.run_id
    model = store.create_logged_model(
        experiment_id,
        name="clf",
        source_run_id=run_id,
        tags=[LoggedModelTag("team", "vision")],
        params=[LoggedModelParameter("lr", "0.1"), LoggedModelParameter("depth", "3")],
        model_type="sklearn",
    )
    assert re.fullmatch(r"m-[0-9a-f]{32}", model.model_id)
    assert (model.experiment_id, model.name, model.model_type) == (experiment_id, "clf", "sklearn")
    assert model.source_run_id == run_id
    assert model.status == LoggedModelStatus.PENDING and model.status == "PENDING"
    assert model.status_message is None
    assert model.tags == {"team": "vision"}
    assert model.params == {"lr": "0.1", "depth": "3"}
    assert model.metrics == []
    assert model.creation_timestamp == model.last_updated_timestamp > 0
    experiment = store.get_experiment(experiment_id)
    assert model.artifact_location == (
        f"{experiment.artifact_location}/models/{model.model_id}/artifacts"
    )
    assert model.artifact_location.startswith("file://")
    assert model.model_uri == f"models:/{model.model_id}"
    assert store.get_logged_model(model.model_id) == model


def test_generated_name_and_ids(store: Store) -> None:
    models = [store.create_logged_model("0") for _ in range(5)]
    assert len({m.model_id for m in models}) == 5
    for m in models:
        adjective, noun, number = m.name.split("-")
        assert adjective.isalpha() and noun.isalpha() and number.isdigit()
        assert (m.model_type, m.source_run_id, m.tags, m.params) == (None, None, {}, {})


@pytest.mark.parametrize("name", ["", "a/b", "a.b", "a:b", "50%", "it's", 'say "x"'])
def test_bad_names_refused(store: Store, name: str) -> None:
    assert error_code(store.create_logged_model, "0", name=name) == "INVALID_PARAMETER_VALUE"
    assert store.search_logged_models(["0"]) == []


def test_create_needs_a_live_experiment(store: Store) -> None:
    assert error_code(store.create_logged_model, "123456") == "RESOURCE_DOES_NOT_EXIST"
    experiment_id = store.create_experiment("gone")
    store.delete_experiment(experiment_id)
    assert error_code(store.create_logged_model, experiment_id) == "INVALID_PARAMETER_VALUE"
    store.restore_experiment(experiment_id)
    assert store.create_logged_model(experiment_id).experiment_id == experiment_id


def test_create_with_conflicting_params_writes_nothing(store: Store) -> None:
    params = [LoggedModelParameter("a", "1"), LoggedModelParameter("a", "2")]
    assert error_code(store.create_logged_model, "0", params=params) == "INVALID_PARAMETER_VALUE"
    assert store.search_logged_models(["0"]) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("READY", LoggedModelStatus.READY),
        (LoggedModelStatus.FAILED, LoggedModelStatus.FAILED),
        (2, LoggedModelStatus.READY),
        ("LOGGED_MODEL_UPLOAD_FAILED", LoggedModelStatus.FAILED),
        ("PENDING", LoggedModelStatus.PENDING),
    ],
)
def test_finalize(store: Store, given: Any, expected: LoggedModelStatus) -> None:
    model = store.create_logged_model("0", name="m")
    done = store.finalize_logged_model(model.model_id, given)
    assert done.status is expected
    assert done.last_updated_timestamp >= model.creation_timestamp
    assert done.creation_timestamp == model.creation_timestamp
    assert store.get_logged_model(model.model_id) == done


@pytest.mark.parametrize("bad", ["DONE", 7, "UNSPECIFIED", 0])
def test_finalize_bad_status(store: Store, bad: Any) -> None:
    model = store.create_logged_model("0")
    assert error_code(store.finalize_logged_model, model.model_id, bad) == "INVALID_PARAMETER_VALUE"
    assert store.get_logged_model(model.model_id).status == LoggedModelStatus.PENDING


def test_unknown_model(store: Store) -> None:
    tag, param = [LoggedModelTag("k", "v")], [LoggedModelParameter("k", "v")]
    calls = [
        (store.get_logged_model, (MISSING,)),
        (store.finalize_logged_model, (MISSING, "READY")),
        (store.delete_logged_model, (MISSING,)),
        (store.set_logged_model_tags, (MISSING, tag)),
        (store.delete_logged_model_tag, (MISSING, "k")),
        (store.log_logged_model_params, (MISSING, param)),
    ]
    for call, args in calls:
        assert error_code(call, *args) == "RESOURCE_DOES_NOT_EXIST", call


def test_delete(store: Store) -> None:
    keep = store.create_logged_model("0", name="keep")
    drop = store.create_logged_model("0", name="drop")
    store.delete_logged_model(drop.model_id)
    assert error_code(store.get_logged_model, drop.model_id) == "RESOURCE_DOES_NOT_EXIST"
    assert [m.model_id for m in store.search_logged_models(["0"])] == [keep.model_id]
    assert [m.name for m in store.search_logged_models(["0"], "name = 'drop'")] == []
    # A deleted model is gone for every call, including a second delete.
    for call, args in [
        (store.finalize_logged_model, ("READY",)),
        (store.set_logged_model_tags, ([LoggedModelTag("k", "v")],)),
        (store.delete_logged_model, ()),
    ]:
        assert error_code(call, drop.model_id, *args) == "RESOURCE_DOES_NOT_EXIST"
    assert store.get_logged_model(keep.model_id).name == "keep"


def test_tags(store: Store) -> None:
    model = store.create_logged_model("0", tags=[LoggedModelTag("a", "1")])
    store.set_logged_model_tags(
        model.model_id,
        [LoggedModelTag("a", "2"), LoggedModelTag("b", "x"), LoggedModelTag("b", "y")],
    )
    assert store.get_logged_model(model.model_id).tags == {"a": "2", "b": "y"}
    store.delete_logged_model_tag(model.model_id, "a")
    assert store.get_logged_model(model.model_id).tags == {"b": "y"}
    code = error_code(store.delete_logged_model_tag, model.model_id, "a")
    assert code == "RESOURCE_DOES_NOT_EXIST"
    bad = [LoggedModelTag("", "v")]
    assert error_code(store.set_logged_model_tags, model.model_id, bad) == "INVALID_PARAMETER_VALUE"
    assert store.get_logged_model(model.model_id).tags == {"b": "y"}


def test_params(store: Store) -> None:
    model = store.create_logged_model("0", params=[LoggedModelParameter("lr", "0.1")])
    store.log_logged_model_params(
        model.model_id, [LoggedModelParameter("lr", "0.1"), LoggedModelParameter("depth", "4")]
    )
    assert store.get_logged_model(model.model_id).params == {"lr": "0.1", "depth": "4"}
    changed = [LoggedModelParameter("lr", "0.2"), LoggedModelParameter("new", "x")]
    code = error_code(store.log_logged_model_params, model.model_id, changed)
    assert code == "INVALID_PARAMETER_VALUE"
    assert store.get_logged_model(model.model_id).params == {"lr": "0.1", "depth": "4"}


def test_outputs_are_visible_on_the_run(store: Store) -> None:
    experiment_id = store.create_experiment("outputs")
    run_id = store.create_run(experiment_id, "u", 1, [], "r").info.run_id
    a = store.create_logged_model(experiment_id, source_run_id=run_id)
    b = store.create_logged_model(experiment_id, source_run_id=run_id)
    store.log_outputs(run_id, [LoggedModelOutput(a.model_id, 0), LoggedModelOutput(b.model_id, 5)])
    store.log_outputs(run_id, [LoggedModelOutput(a.model_id, 0)])  # a retry adds nothing
    outputs = store.get_run(run_id).outputs.model_outputs
    assert sorted((o.model_id, o.step) for o in outputs) == sorted(
        [(a.model_id, 0), (b.model_id, 5)]
    )
    (found,) = store.search_runs([experiment_id])
    assert found.outputs == store.get_run(run_id).outputs
    missing = [LoggedModelOutput(MISSING, 0)]
    assert error_code(store.log_outputs, run_id, missing) == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(store.log_outputs, "0" * 32, []) == "RESOURCE_DOES_NOT_EXIST"
    store.delete_run(run_id)
    again = [LoggedModelOutput(b.model_id, 1)]
    assert error_code(store.log_outputs, run_id, again) == "INVALID_PARAMETER_VALUE"


def test_metrics_are_the_latest_per_key_and_dataset(store: Store) -> None:
    experiment_id = store.create_experiment("metrics")
    run_id = store.create_run(experiment_id, "u", 1, [], "r").info.run_id
    model = store.create_logged_model(experiment_id, source_run_id=run_id)
    other = store.create_logged_model(experiment_id)
    mid = model.model_id
    store.log_batch(
        run_id,
        metrics=[
            Metric("acc", 0.2, 100, 0, mid),
            Metric("acc", 0.9, 200, 1, mid),
            Metric("acc", 0.5, 300, 0, mid),  # later, but an earlier step
            Metric("acc", 0.7, 100, 0, mid, "eval", "d1"),
            Metric("acc", 0.6, 100, 0, mid, "eval", "d2"),
            Metric("loss", math.nan, 100, 0, mid),
            Metric("unlinked", 1.0, 100, 0),
            Metric("acc", 0.1, 100, 0, other.model_id),
        ],
    )
    got = store.get_logged_model(mid).metrics
    assert [(m.key, m.dataset_name, m.dataset_digest, m.step, m.timestamp) for m in got] == [
        ("acc", None, None, 1, 200),
        ("acc", "eval", "d1", 0, 100),
        ("acc", "eval", "d2", 0, 100),
        ("loss", None, None, 0, 100),
    ]
    assert [m.value for m in got[:3]] == [0.9, 0.7, 0.6]
    assert math.isnan(got[3].value)
    assert all(m.model_id == mid and m.run_id == run_id for m in got)
    assert [(m.key, m.value) for m in store.get_logged_model(other.model_id).metrics] == [
        ("acc", 0.1)
    ]
    # The same points are run metrics too.
    assert store.get_run(run_id).data.metrics["unlinked"] == 1.0
    history = store.get_metric_history(run_id, "acc")
    assert {p.model_id for p in history} == {mid, other.model_id}


# -- search ----------------------------------------------------------------------------------
@pytest.fixture
def zoo(store: Store) -> dict[str, str]:
    """Four models named alpha..delta; returns name → model id (plus the experiment and run)."""
    experiment_id = store.create_experiment("zoo")
    run_id = store.create_run(experiment_id, "u", 1, [], "trainer").info.run_id
    spec: list[tuple[str, str | None, dict[str, str], dict[str, str], str | None]] = [
        ("alpha", "sklearn", {"lr": "0.1", "depth": "3"}, {"team": "vision"}, "READY"),
        ("beta", "xgboost", {"lr": "0.01"}, {"team": "vision-2"}, "FAILED"),
        ("gamma", None, {}, {"team": "NLP"}, None),
        ("delta", "sklearn", {}, {}, "READY"),
    ]
    ids = {"experiment": experiment_id, "run": run_id}
    for name, model_type, params, tags, status in spec:
        model = store.create_logged_model(
            experiment_id,
            name=name,
            source_run_id=run_id if name == "alpha" else None,
            model_type=model_type,
            params=[LoggedModelParameter(k, v) for k, v in params.items()],
            tags=[LoggedModelTag(k, v) for k, v in tags.items()],
        )
        ids[name] = model.model_id
        if status:
            store.finalize_logged_model(model.model_id, status)
    store.log_batch(
        run_id,
        metrics=[
            Metric("acc", 0.2, 100, 0, ids["alpha"]),
            Metric("acc", 0.9, 200, 1, ids["alpha"]),
            Metric("acc", 0.3, 100, 0, ids["beta"]),
            Metric("acc", 0.7, 150, 0, ids["beta"], "eval", "d1"),
            Metric("acc", math.nan, 100, 0, ids["gamma"]),
        ],
    )
    return ids


def found(store: Store, zoo: dict[str, str], filter_string: str = "", **kwargs: Any) -> list[str]:
    by_id = {v: k for k, v in zoo.items()}
    kwargs.setdefault("order_by", [{"field_name": "name"}])
    models = store.search_logged_models([zoo["experiment"]], filter_string, **kwargs)
    return [by_id[m.model_id] for m in models]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", ["alpha", "beta", "delta", "gamma"]),
        ("name = 'alpha'", ["alpha"]),
        ("attributes.name != 'alpha'", ["beta", "delta", "gamma"]),
        ("name LIKE '%ta'", ["beta", "delta"]),
        ("name ILIKE 'ALPHA'", ["alpha"]),
        ("name IN ('beta', 'gamma', 'nope')", ["beta", "gamma"]),
        ("model_type = 'sklearn'", ["alpha", "delta"]),
        ("model_type NOT IN ('sklearn')", ["beta"]),
        ("status = 'READY'", ["alpha", "delta"]),
        ("status = 'LOGGED_MODEL_UPLOAD_FAILED'", ["beta"]),
        ("status IN ('PENDING', 'FAILED')", ["beta", "gamma"]),
        ("status != 'READY'", ["beta", "gamma"]),
        ("status = 2", ["alpha", "delta"]),  # MLflow's SQL store compares the proto number
        ("status IN ('1', '3')", ["beta", "gamma"]),
        ("status = 2.5", []),
        ("status != 'DONE'", ["alpha", "beta", "delta", "gamma"]),
        ("creation_timestamp > 0", ["alpha", "beta", "delta", "gamma"]),
        ("creation_time < 0", []),
        ("last_updated_time > 0 AND name = 'delta'", ["delta"]),
        ("params.lr = '0.1'", ["alpha"]),
        ("params.lr != '0.1'", ["beta"]),
        ("params.lr LIKE '0.%'", ["alpha", "beta"]),
        ("params.lr IN ('0.01', '9')", ["beta"]),
        ("tags.team LIKE 'vision%'", ["alpha", "beta"]),
        ("tags.team ILIKE 'nlp'", ["gamma"]),
        ("tags.team NOT IN ('NLP')", ["alpha", "beta"]),
        ("tags.`team` = 'vision'", ["alpha"]),
        # Metrics compare on the latest value: alpha's earlier 0.2 does not count.
        ("metrics.acc > 0.5", ["alpha", "beta"]),
        ("metrics.acc < 0.5", ["beta"]),
        ("metrics.acc = 0.9", ["alpha"]),
        ("metrics.acc != 0.9", ["beta"]),
        ("metrics.`acc` >= 0.9 AND params.depth = '3'", ["alpha"]),
        ("metrics.acc > 0.5 AND tags.team = 'vision-2'", ["beta"]),
        ("metrics.loss > 0", []),
    ],
)
def test_search_filters(
    store: Store, zoo: dict[str, str], filter_string: str, expected: list[str]
) -> None:
    assert found(store, zoo, filter_string) == expected


def test_search_by_ids(store: Store, zoo: dict[str, str]) -> None:
    assert found(store, zoo, f"model_id = '{zoo['gamma']}'") == ["gamma"]
    assert found(store, zoo, f"model_id IN ('{zoo['alpha']}', '{zoo['delta']}')") == [
        "alpha",
        "delta",
    ]
    assert found(store, zoo, f"source_run_id = '{zoo['run']}'") == ["alpha"]


@pytest.mark.parametrize(
    ("filter_string", "datasets", "expected"),
    [
        ("", [{"dataset_name": "eval"}], ["beta"]),
        ("metrics.acc > 0.5", [{"dataset_name": "eval"}], ["beta"]),
        ("metrics.acc > 0.5", [{"dataset_name": "eval", "dataset_digest": "d1"}], ["beta"]),
        ("metrics.acc > 0.5", [{"dataset_name": "eval", "dataset_digest": "zz"}], []),
        ("metrics.acc < 0.5", [{"dataset_name": "eval"}], []),
        ("metrics.acc > 0", [{"dataset_name": "nope"}, {"dataset_name": "eval"}], ["beta"]),
        ("", [{"dataset_name": "nope"}], []),
    ],
)
def test_search_dataset_scopes(
    store: Store,
    zoo: dict[str, str],
    filter_string: str,
    datasets: list[dict[str, str]],
    expected: list[str],
) -> None:
    assert found(store, zoo, filter_string, datasets=datasets) == expected


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        # Numbers first, then NaN, then models without the metric, in either direction.
        ([{"field_name": "metrics.acc", "ascending": False}], ["alpha", "beta", "gamma", "delta"]),
        (
            [{"field_name": "metrics.acc"}, {"field_name": "name"}],
            ["beta", "alpha", "gamma", "delta"],
        ),
        (
            [{"field_name": "metrics.acc", "dataset_name": "eval"}, {"field_name": "name"}],
            ["beta", "alpha", "delta", "gamma"],
        ),
        (
            [
                {"field_name": "metrics.acc", "dataset_name": "eval", "dataset_digest": "zz"},
                {"field_name": "name", "ascending": False},
            ],
            ["gamma", "delta", "beta", "alpha"],
        ),
        # Missing attribute values sort last too.
        (
            [{"field_name": "model_type"}, {"field_name": "name"}],
            ["alpha", "delta", "beta", "gamma"],
        ),
        (
            [{"field_name": "model_type", "ascending": False}, {"field_name": "name"}],
            ["beta", "alpha", "delta", "gamma"],
        ),
        # Status orders by MLflow's numbers: PENDING, READY, FAILED.
        ([{"field_name": "status"}, {"field_name": "name"}], ["gamma", "alpha", "delta", "beta"]),
        (
            [{"field_name": "attributes.name", "ascending": False}],
            ["gamma", "delta", "beta", "alpha"],
        ),
        (["name DESC"], ["gamma", "delta", "beta", "alpha"]),
        (["metrics.acc DESC"], ["alpha", "beta", "gamma", "delta"]),
    ],
)
def test_search_order_by(
    store: Store, zoo: dict[str, str], order_by: list[Any], expected: list[str]
) -> None:
    assert found(store, zoo, order_by=order_by) == expected


def test_search_default_and_time_orders(store: Store, zoo: dict[str, str]) -> None:
    models = store.search_logged_models([zoo["experiment"]])
    keys = [(-m.creation_timestamp, m.model_id) for m in models]
    assert len(keys) == 4 and keys == sorted(keys)
    oldest_first = store.search_logged_models(
        [zoo["experiment"]], order_by=[{"field_name": "creation_time", "ascending": True}]
    )
    keys = [(m.creation_timestamp, m.model_id) for m in oldest_first]
    assert keys == sorted(keys)


def test_search_returns_whole_models(store: Store, zoo: dict[str, str]) -> None:
    (model,) = store.search_logged_models([zoo["experiment"]], "name = 'beta'")
    assert model == store.get_logged_model(zoo["beta"])
    assert model.status == LoggedModelStatus.FAILED
    assert model.params == {"lr": "0.01"} and model.tags == {"team": "vision-2"}
    assert sorted((m.dataset_name or "", m.value) for m in model.metrics) == [
        ("", 0.3),
        ("eval", 0.7),
    ]


def test_search_experiments_scope(store: Store, zoo: dict[str, str]) -> None:
    other = store.create_experiment("other")
    extra = store.create_logged_model(other, name="alpha")
    both = store.search_logged_models([zoo["experiment"], other], "name = 'alpha'")
    assert {m.model_id for m in both} == {zoo["alpha"], extra.model_id}
    assert [m.model_id for m in store.search_logged_models([other])] == [extra.model_id]
    assert store.search_logged_models([]) == []
    assert store.search_logged_models(["123456"]) == []


def test_search_pages(store: Store, zoo: dict[str, str]) -> None:
    order = [{"field_name": "name"}]
    seen, token, pages = [], None, 0
    while True:
        page = store.search_logged_models(
            [zoo["experiment"]], order_by=order, max_results=3, page_token=token
        )
        pages += 1
        seen += [m.name for m in page]
        token = page.token
        if token is None:
            break
    assert (pages, seen) == (2, ["alpha", "beta", "delta", "gamma"])
    first = store.search_logged_models([zoo["experiment"]], order_by=order, max_results=2)
    assert [m.name for m in first] == ["alpha", "beta"] and first.token
    # A token only continues the search that produced it.
    code = error_code(
        store.search_logged_models, [zoo["experiment"]], "name = 'x'", page_token=first.token
    )
    assert code == "INVALID_PARAMETER_VALUE"
    code = error_code(store.search_logged_models, [zoo["experiment"]], page_token="garbage!")
    assert code == "INVALID_PARAMETER_VALUE"
    code = error_code(store.search_logged_models, [zoo["experiment"]], max_results=0)
    assert code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "bad",
    [
        "metrics.acc > 'x'",
        "metrics.acc LIKE '%'",
        "params.lr > '1'",
        "params.lr = 1",
        "params.lr IS NULL",
        "tags.team = 1",
        "name > 'a'",
        "status > 1",
        "creation_timestamp = 'x'",
        "creation_timestamp IN ('1')",
        "nope = 'x'",
        "foo.bar = 'x'",
        "datasets.name = 'eval'",
        "name = 'a' OR name = 'b'",
        "(name = 'a')",
        "name =",
    ],
)
def test_bad_filters(store: Store, zoo: dict[str, str], bad: str) -> None:
    with pytest.raises(TrazaException) as e:
        store.search_logged_models([zoo["experiment"]], bad)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert bad in e.value.message


@pytest.mark.parametrize(
    ("order_by", "datasets"),
    [
        ([{"field_name": "params.lr"}], None),
        ([{"field_name": "nope"}], None),
        ([{"ascending": True}], None),
        ([{"field_name": "name", "ascending": "yes"}], None),
        ([{"field_name": "metrics.acc", "dataset_digest": "d1"}], None),
        ([{"field_name": "name", "dataset_name": "eval"}], None),
        (["name SIDEWAYS"], None),
        (None, [{"dataset_digest": "d1"}]),
    ],
)
def test_bad_order_by_and_datasets(
    store: Store, zoo: dict[str, str], order_by: Any, datasets: Any
) -> None:
    code = error_code(
        store.search_logged_models, [zoo["experiment"]], order_by=order_by, datasets=datasets
    )
    assert code == "INVALID_PARAMETER_VALUE"


# -- wire shape ------------------------------------------------------------------------------
def test_rest_shape_round_trips_through_mlflow_protos(store: Store, zoo: dict[str, str]) -> None:
    service_pb2 = pytest.importorskip("mlflow.protos.service_pb2")
    from google.protobuf.json_format import ParseDict
    from mlflow.utils.proto_json_utils import message_to_json

    model = store.get_logged_model(zoo["beta"])
    wire = model.to_dict()
    assert wire["info"]["status"] == "LOGGED_MODEL_UPLOAD_FAILED"
    assert wire["info"]["artifact_uri"] == model.artifact_location
    assert LoggedModel.from_dict(wire) == model
    proto = ParseDict(wire, service_pb2.LoggedModel())
    assert json.loads(message_to_json(proto)) == wire
    fresh = store.create_logged_model(zoo["experiment"])
    assert fresh.to_dict()["data"] == {}
    assert fresh.to_dict()["info"]["status"] == "LOGGED_MODEL_PENDING"
    assert LoggedModel.from_dict(fresh.to_dict()) == fresh
    assert store.get_experiment(zoo["experiment"]).lifecycle_stage == LifecycleStage.ACTIVE
