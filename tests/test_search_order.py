"""Search ordered by one metric as an index walk (store/sql/search_order.py) returns exactly what
the general sort returns, page by page, on SQLite and PostgreSQL.

The walk is used from ``WALK_FROM_RUNS`` runs on; here that threshold is set to 1 (walk always)
or out of reach (sort always) and every page of the same searches is compared.
"""

from __future__ import annotations

import math

import pytest

from traza.entities import Metric, Param
from traza.store.sql import search_order
from traza.store.sql.store import SqlStore

#: (metric m value or None for none, param p, start time): ties in value and in start time,
#: NaN, infinities and runs without the metric.
RUNS = [
    (0.5, "a", 10),
    (0.5, "b", 10),
    (0.5, "a", 11),
    (math.nan, "a", 12),
    (math.nan, "b", 9),
    (None, "a", 13),
    (None, "b", 8),
    (-1.0, "a", 7),
    (math.inf, "b", 6),
    (-math.inf, "a", 5),
    (2.0, "a", 4),
    (2.0, "a", 4),
    (0.0, "b", 3),
    (1e-300, "a", 2),
    (None, "a", 2),
    (math.nan, "a", 2),
]
SEARCHES = [
    (None, "metrics.m DESC"),
    (None, "metrics.m ASC"),
    ("params.p = 'a'", "metrics.m DESC"),
    ("params.p = 'a'", "metrics.m"),
    ("metrics.m > 0", "metrics.m DESC"),
    ("metrics.other < 100", "metrics.m ASC"),
    (None, "metrics.absent DESC"),
]


@pytest.fixture
def store(sql_store: SqlStore) -> SqlStore:
    """This module's tests order SQL searches: the SQL stores only."""
    return sql_store


def _fill(store: SqlStore) -> str:
    exp = store.create_experiment("order")
    for i, (value, param, start) in enumerate(RUNS):
        run = store.create_run(exp, "u", start, [], f"run-{i}")
        metrics = [Metric("other", float(i), 0, 0)]
        if value is not None:
            metrics.append(Metric("m", value, 0, 0))
        store.log_batch(run.info.run_id, metrics=metrics, params=[Param("p", param)])
    deleted = store.create_run(exp, "u", 99, [], "deleted")
    store.log_batch(deleted.info.run_id, metrics=[Metric("m", 9.0, 0, 0)])
    store.delete_run(deleted.info.run_id)
    return exp


def _pages(store: SqlStore, exp: str, query: str | None, order: str, size: int) -> list[str]:
    names: list[str] = []
    token = None
    while True:
        page = store.search_runs([exp], query, max_results=size, order_by=[order], page_token=token)
        names += [r.info.run_name for r in page]
        token = page.token
        if token is None:
            return names


@pytest.mark.parametrize(("query", "order"), SEARCHES)
def test_walk_returns_what_the_sort_returns(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, query: str | None, order: str
) -> None:
    exp = _fill(store)
    monkeypatch.setattr(search_order, "WALK_FROM_RUNS", 10**9)
    sorted_all = _pages(store, exp, query, order, 1000)
    assert "deleted" not in sorted_all and sorted_all
    for size in (1, 3, 5, 1000):
        monkeypatch.setattr(search_order, "WALK_FROM_RUNS", 10**9)
        assert _pages(store, exp, query, order, size) == sorted_all
        monkeypatch.setattr(search_order, "WALK_FROM_RUNS", 1)
        assert _pages(store, exp, query, order, size) == sorted_all, size


def test_walk_order_is_mlflows(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Numbers first (descending), then NaN, then runs without the metric; ties by start time
    descending."""
    exp = _fill(store)
    monkeypatch.setattr(search_order, "WALK_FROM_RUNS", 1)
    names = _pages(store, exp, None, "metrics.m DESC", 4)
    values = {f"run-{i}": v for i, (v, _, _) in enumerate(RUNS)}
    got = [values[n] for n in names]
    numbers = [v for v in got if v is not None and not math.isnan(v)]
    assert numbers == sorted(numbers, reverse=True)
    assert got[: len(numbers)] == numbers
    rest = got[len(numbers) :]
    assert [v is None for v in rest] == [False] * 3 + [True] * 3  # three NaN, then three missing
    assert names[:2] == ["run-8", "run-10"] or names[:2] == ["run-8", "run-11"]


def test_a_page_token_of_another_ordering_falls_back_to_its_offset(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = _fill(store)
    monkeypatch.setattr(search_order, "WALK_FROM_RUNS", 1)
    first = store.search_runs([exp], None, max_results=5, order_by=["metrics.m DESC"])
    assert first.token is not None
    other = store.search_runs(
        [exp], None, max_results=5, order_by=["metrics.other ASC"], page_token=first.token
    )
    monkeypatch.setattr(search_order, "WALK_FROM_RUNS", 10**9)
    everything = _pages(store, exp, None, "metrics.other ASC", 1000)
    assert [r.info.run_name for r in other] == everything[5:10]
