"""search_runs: MLflow's filter grammar and ordering compiled to SQL, on every store."""

from __future__ import annotations

import math

import pytest

from traza.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from traza.exceptions import TrazaException
from traza.store.base import Store


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    """Five runs with distinct start times; returns name → run id."""
    experiment_id = store.create_experiment("search")
    spec = [
        ("a", 0.9, "rf", "vision", 10),
        ("b", 0.7, "svm", "vision-2", 20),
        ("c", 0.5, "rf", "nlp", 30),
        ("d", math.nan, "lr", "Vision", 40),
        ("e", None, None, None, 50),
    ]
    ids = {}
    for name, acc, model, team, start in spec:
        run = store.create_run(experiment_id, "u", start, [], name)
        rid = run.info.run_id
        ids[name] = rid
        metrics = [Metric("acc", acc, start, 0)] if acc is not None else []
        params = [Param("model", model)] if model else []
        tags = [RunTag("team", team)] if team else []
        store.log_batch(rid, metrics=metrics, params=params, tags=tags)
    store.update_run_info(ids["a"], "FINISHED", 100, None)
    store.update_run_info(ids["b"], "FAILED", 100, None)
    store.log_inputs(
        ids["c"],
        [
            DatasetInput(
                Dataset("train", "d1", "local", "{}"),
                (InputTag("mlflow.data.context", "training"),),
            )
        ],
    )
    ids["experiment"] = experiment_id
    return ids


def names(store: Store, runs: dict[str, str], filter_string: str = "", order_by=None) -> list[str]:  # type: ignore[no-untyped-def]
    by_id = {v: k for k, v in runs.items()}
    found = store.search_runs([runs["experiment"]], filter_string, order_by=order_by)
    return [by_id[r.info.run_id] for r in found]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", ["e", "d", "c", "b", "a"]),
        ("metrics.acc > 0.6", ["b", "a"]),
        ("metrics.acc >= 0.7", ["b", "a"]),
        ("metrics.acc < 0.7", ["c"]),
        ("metrics.acc = 0.5", ["c"]),
        ("metrics.acc != 0.5", ["b", "a"]),
        ("params.model = 'rf'", ["c", "a"]),
        ("params.model != 'rf'", ["d", "b"]),
        ("params.model IS NULL", ["e"]),
        ("params.model IS NOT NULL", ["d", "c", "b", "a"]),
        ("tags.team LIKE 'vision%'", ["b", "a"]),
        ("tags.team ILIKE 'vision%'", ["d", "b", "a"]),
        ("tags.team = 'Vision'", ["d"]),
        ("attributes.status = 'FINISHED'", ["a"]),
        ("status != 'RUNNING'", ["b", "a"]),
        ("attributes.run_name = 'c'", ["c"]),
        ("attributes.`Run name` LIKE 'd%'", ["d"]),
        ("attributes.start_time > 25", ["e", "d", "c"]),
        ("created <= 20", ["b", "a"]),
        ("metrics.acc > 0.6 and params.model = 'rf'", ["a"]),
        ("metrics.acc > 0.6 AND tags.team LIKE '%2'", ["b"]),
        ("datasets.name = 'train'", ["c"]),
        ("datasets.context = 'training'", ["c"]),
        ("datasets.digest IN ('d1', 'zz')", ["c"]),
        ("tags.`team` = 'nlp'", ["c"]),
        ('tags."team" = "nlp"', ["c"]),
    ],
)
def test_filters(
    store: Store, runs: dict[str, str], filter_string: str, expected: list[str]
) -> None:
    assert names(store, runs, filter_string) == expected


def test_run_id_in(store: Store, runs: dict[str, str]) -> None:
    f = f"attributes.run_id IN ('{runs['a']}', '{runs['c']}')"
    assert names(store, runs, f) == ["c", "a"]
    f = f"attributes.run_id NOT IN ('{runs['a']}', '{runs['c']}')"
    assert names(store, runs, f) == ["e", "d", "b"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        # Numbers first, then NaN, then runs without the metric, whichever the direction.
        (["metrics.acc DESC"], ["a", "b", "c", "d", "e"]),
        (["metrics.acc ASC"], ["c", "b", "a", "d", "e"]),
        (["metrics.acc"], ["c", "b", "a", "d", "e"]),
        (["params.model ASC", "metrics.acc DESC"], ["d", "a", "c", "b", "e"]),
        # Ties fall back to start_time DESC.
        (["params.model DESC"], ["b", "c", "a", "d", "e"]),
        (["tags.team"], ["d", "c", "a", "b", "e"]),
        (["attributes.run_name DESC"], ["e", "d", "c", "b", "a"]),
        (["attributes.start_time"], ["a", "b", "c", "d", "e"]),
        (["start_time DESC"], ["e", "d", "c", "b", "a"]),
        (["status"], ["b", "a", "e", "d", "c"]),
    ],
)
def test_order_by(
    store: Store, runs: dict[str, str], order_by: list[str], expected: list[str]
) -> None:
    assert names(store, runs, order_by=order_by) == expected


def test_view_types_and_multiple_experiments(store: Store, runs: dict[str, str]) -> None:
    other = store.create_experiment("other")
    extra = store.create_run(other, "u", 60, [], "x").info.run_id
    store.delete_run(runs["a"])
    both = store.search_runs([runs["experiment"], other])
    assert len(both) == 5 and both[0].info.run_id == extra
    deleted = store.search_runs([runs["experiment"]], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [runs["a"]]
    assert len(store.search_runs([runs["experiment"]], run_view_type=ViewType.ALL)) == 5
    assert store.search_runs([]) == []


def test_search_returns_whole_runs(store: Store, runs: dict[str, str]) -> None:
    (run,) = store.search_runs([runs["experiment"]], "attributes.run_name = 'a'")
    assert run == store.get_run(runs["a"])
    assert run.data.params == {"model": "rf"} and run.data.metrics == {"acc": 0.9}


def test_pagination(store: Store, runs: dict[str, str]) -> None:
    seen, token, pages = [], None, 0
    while True:
        page = store.search_runs(
            [runs["experiment"]], order_by=["metrics.acc DESC"], max_results=2, page_token=token
        )
        pages += 1
        seen += [r.info.run_id for r in page]
        token = page.token
        if token is None:
            break
    assert pages == 3
    assert seen == [runs[n] for n in ["a", "b", "c", "d", "e"]]


@pytest.mark.parametrize(
    "bad",
    [
        "metrics.acc > 'x'",
        "metrics.acc LIKE '%'",
        "params.model > 'a'",
        "params.model = 1",
        "attributes.nope = 'x'",
        "foo.bar = 'x'",
        "metrics.acc > 1 OR metrics.acc < 0",
        "(metrics.acc > 1)",
        "metrics.acc >",
        "status IN ('A')",
        "metrics.acc IS NULL",
        "datasets.bogus = 'x'",
    ],
)
def test_bad_filters(store: Store, runs: dict[str, str], bad: str) -> None:
    with pytest.raises(TrazaException) as e:
        store.search_runs([runs["experiment"]], bad)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert bad in e.value.message  # the message quotes the filter and points into it


@pytest.mark.parametrize("bad", [["metrics.acc SIDEWAYS"], ["datasets.name"], ["nope"], ["a", "a"]])
def test_bad_order_by(store: Store, runs: dict[str, str], bad: list[str]) -> None:
    with pytest.raises(TrazaException):
        store.search_runs([runs["experiment"]], order_by=bad)


def test_bad_page_token(store: Store, runs: dict[str, str]) -> None:
    with pytest.raises(TrazaException) as e:
        store.search_runs([runs["experiment"]], page_token="garbage!")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
