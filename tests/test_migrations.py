"""The newest migration, applied to a store filled at the schema before it, keeps every row and
answers every read as before, on SQLite and PostgreSQL.

The store is written through ``SqlStore`` itself with the migrations stopped one short of the
newest, then reopened (which migrates) and read again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import postgres_schema

import traza.store.sql.store as sql_store
from traza.entities import Metric, Param, RunTag
from traza.store.sql import search_order
from traza.store.sql.schema import MIGRATIONS, applied_migrations, migrate
from traza.store.sql.store import SqlStore
from traza.store.uri import open_store

NEWEST = MIGRATIONS[-1].name


@pytest.fixture(params=["sqlite", "postgresql"])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        with postgres_schema() as url:
            yield url
        return
    yield f"sqlite:///{tmp_path / 'store.db'}"


def _open(uri: str, tmp_path: Path) -> SqlStore:
    store = open_store(uri, artifact_root=str(tmp_path / "artifacts"))
    assert isinstance(store, SqlStore)
    return store


def _fill(store: SqlStore) -> str:
    exp = store.create_experiment("migrated", tags=[])
    for i in range(30):
        run = store.create_run(exp, "u", 1000 + i % 7, [RunTag("t", f"x{i % 4}")], f"run-{i}")
        points = [Metric("loss", 1.0 / (s + 1) + i, 5000 + s, s) for s in range(50)]
        if i % 5 == 0:
            points.append(Metric("acc", math.nan, 6000, 3))
        elif i % 5 != 1:
            points.append(Metric("acc", (i * 37 % 11) / 11, 6000, 3))
        store.log_batch(
            run.info.run_id, metrics=points, params=[Param("p", f"v{i % 3}"), Param("i", str(i))]
        )
        if i == 29:
            store.delete_run(run.info.run_id)
    return exp


def _snapshot(store: SqlStore, exp: str) -> dict[str, Any]:
    def names(order: str, query: str | None = None, size: int = 7) -> list[str]:
        out: list[str] = []
        token = None
        while True:
            page = store.search_runs([exp], query, max_results=size, order_by=[order],
                                     page_token=token)  # fmt: skip
            out += [r.info.run_name for r in page]
            if page.token is None:
                return out
            token = page.token

    runs = store.search_runs([exp], None, max_results=1000, order_by=["attributes.run_name"])
    return {
        "acc_desc": names("metrics.acc DESC"),
        "acc_asc_filtered": names("metrics.acc", "params.p = 'v1' and metrics.loss > 3"),
        "runs": [(r.info, dict(r.data.params), dict(r.data.tags), r.data.metrics) for r in runs],
        "history": [
            [
                (m.step, m.value, m.timestamp)
                for m in store.get_metric_history(r.info.run_id, "loss")
            ]
            for r in runs
        ],
        "summaries": [store.get_metric_summaries(r.info.run_id) for r in runs],
    }


def test_newest_migration_keeps_a_filled_store(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(sql_store, "migrate", lambda db: migrate(db, MIGRATIONS[:-1]))
        old = _open(uri, tmp_path)
        assert NEWEST not in applied_migrations(old.db)
        exp = _fill(old)
        before = _snapshot(old, exp)
        old.close()
    new = _open(uri, tmp_path)
    try:
        assert applied_migrations(new.db)[-1] == NEWEST
        assert _snapshot(new, exp) == before
        # The orderings read the same through the index walk too.
        monkeypatch.setattr(search_order, "WALK_FROM_RUNS", 1)
        walked = _snapshot(new, exp)
        assert walked["acc_desc"] == before["acc_desc"]
        assert walked["acc_asc_filtered"] == before["acc_asc_filtered"]
        # And the store still takes writes.
        run = new.create_run(exp, "u", 1, [], "after")
        new.log_batch(run.info.run_id, metrics=[Metric("acc", 2.0, 1, 0)])
        first = new.search_runs([exp], None, max_results=1, order_by=["metrics.acc DESC"])
        assert [r.info.run_name for r in first] == ["after"]
    finally:
        new.close()


def test_newest_migration_is_applied_once(uri: str, tmp_path: Path) -> None:
    _open(uri, tmp_path).close()
    store = _open(uri, tmp_path)
    try:
        assert migrate(store.db) == []
        assert applied_migrations(store.db).count(NEWEST) == 1
    finally:
        store.close()


def test_postgres_knows_which_values_go_with_which_key(tmp_path: Path) -> None:
    """0010's statistics exist, and with them PostgreSQL estimates a param filter's rows close to
    the truth (it guessed 10x too few when it took key and value as independent)."""
    with postgres_schema() as url:
        store = _open(url, tmp_path)
        try:
            exp = store.create_experiment("stats", tags=[])
            for i in range(300):
                run = store.create_run(exp, "u", i, [], f"r{i}")
                params = {"p0": f"v{i % 3}", "p1": f"v{i % 7}", "p2": str(i)}
                store.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
            with store.db.write() as cur:
                cur.execute("ANALYZE params")
                cur.execute(
                    "SELECT stxname FROM pg_statistic_ext WHERE stxnamespace = "
                    "(SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
                    "ORDER BY stxname"
                )
                assert [row[0] for row in cur.fetchall()] == ["params_key_value", "tags_key_value"]
                cur.execute("EXPLAIN SELECT 1 FROM params WHERE key = 'p0' AND value = 'v1'")
                plan = cur.fetchone()[0]
            estimated = int(plan.split("rows=")[1].split()[0])
            assert 70 <= estimated <= 130, plan  # 100 rows hold p0 = 'v1'
        finally:
            store.close()
