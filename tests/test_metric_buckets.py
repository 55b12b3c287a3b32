"""The per-span extremes kept at logging time, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
from typing import Any

from traza.entities import Metric
from traza.store.sql import metric_buckets
from traza.store.sql.store import SqlStore

_ROWS = "SELECT key, bucket, count, min_value, min_step, min_timestamp, max_value, max_step, "
_ROWS += "max_timestamp FROM metric_buckets ORDER BY key, bucket"


def _history(seed: int, n: int) -> list[Metric]:
    rng = random.Random(seed)
    points = [Metric("m", round(rng.gauss(0, 1), 1), 1_000 + i, i) for i in range(n)]
    points[700] = Metric("m", math.nan, 1_700, 700)
    points[701] = Metric("m", math.inf, 1_701, 701)
    points[702] = Metric("m", -math.inf, 1_702, 702)
    # A span that holds only NaN, and another key with one point.
    points += [Metric("m", math.nan, 9_000 + s, s) for s in range(5_120, 5_130)]
    return [*points, Metric("single", 3.0, 5, 12_345)]


def _log(store: SqlStore, run_id: str, points: list[Metric]) -> None:
    for i in range(0, len(points), 1_000):
        store.log_batch(run_id, metrics=points[i : i + 1_000])


def _rows(store: SqlStore) -> list[tuple[Any, ...]]:
    with store.db.read() as cur:
        cur.execute(_ROWS)
        return [tuple(row) for row in cur.fetchall()]


def _expected(points: list[Metric]) -> list[tuple[Any, ...]]:
    """The rows, computed straight from the points: first extreme in step order wins ties."""
    spans: dict[tuple[str, int], list[Metric]] = {}
    for p in points:
        spans.setdefault((p.key, p.step // metric_buckets.BUCKET_STEPS), []).append(p)
    rows = []
    for (key, bucket), group in sorted(spans.items()):
        group.sort(key=lambda p: p.step)
        real = [p for p in group if not math.isnan(p.value)]
        low = min(real, key=lambda p: p.value) if real else None
        high = max(real, key=lambda p: p.value) if real else None
        rows.append(
            (
                key,
                bucket,
                len(group),
                *((low.value, low.step, low.timestamp) if low else (None,)),
                *((high.value, high.step, high.timestamp) if high else (None,)),
            )
        )
    return rows


def _comparable(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # A NaN-only span's extreme is one of its NaN points: only its value (None) is compared.
    return [r[:4] if r[3] is None else r for r in rows]


def test_logging_keeps_each_spans_extremes_over_any_batching(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run("0", "u", 0, [], None).info.run_id
    points = _history(3, 3_000)
    shuffled = points[:]
    random.Random(4).shuffle(shuffled)
    i = 0
    rng = random.Random(5)
    while i < len(shuffled):
        size = rng.choice([1, 7, 300])
        sql_store.log_batch(run_id, metrics=shuffled[i : i + size])
        i += size
    got = _rows(sql_store)
    assert _comparable(got) == _comparable(_expected(points))
    assert sum(r[2] for r in got if r[0] == "m") == len(points) - 1


def test_backfill_matches_what_logging_keeps(sql_store: SqlStore) -> None:
    """Migration 0005 builds the same rows from histories logged before it existed."""
    run_id = sql_store.create_run("0", "u", 0, [], None).info.run_id
    _log(sql_store, run_id, _history(8, 2_000))
    logged = _rows(sql_store)
    with sql_store.db.write() as cur:
        cur.execute("DELETE FROM metric_buckets")
        metric_buckets.backfill(cur, sql_store.db.dialect)
    assert _comparable(_rows(sql_store)) == _comparable(logged)
    # A bulk writer rebuilds the rows of the runs it wrote, and only theirs.
    other = sql_store.create_run("0", "u", 0, [], None).info.run_id
    sql_store.log_batch(other, metrics=[Metric("m", 1.0, 0, 1)])
    before = sorted(_rows(sql_store), key=repr)
    rid = _internal_id(sql_store, run_id)
    with sql_store.db.write() as cur:
        cur.execute("DELETE FROM metric_buckets WHERE run_id = ?", (rid,))
        metric_buckets.rebuild(cur, sql_store.db.dialect, [rid])
    assert len(before) == len(logged) + 1
    assert _comparable(sorted(_rows(sql_store), key=repr)) == _comparable(before)


def test_sampled_history_from_spans_keeps_peaks_and_real_points(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run("0", "u", 0, [], None).info.run_id
    rng = random.Random(11)
    values = [rng.random() for _ in range(200_000)]
    values[123_457] = 9.0
    values[3] = -9.0
    _log(sql_store, run_id, [Metric("loss", v, 10 * s, s) for s, v in enumerate(values)])
    rid = _internal_id(sql_store, run_id)
    with sql_store.db.read() as cur:
        stored = metric_buckets.extremes(cur, rid, "loss", 0, 199_999, 499, 200_000)
    assert stored is not None and len(stored) <= 2 * 499
    history = sql_store.get_metric_history_sampled(run_id, "loss", max_points=1_000)
    assert history.sampled and len(history.points) <= 1_000
    assert (123_457, 9.0) in history.points and (3, -9.0) in history.points
    assert all(values[x] == v for x, v in history.points)
    assert history.points[0] == (0, values[0]) and history.points[-1] == (199_999, values[-1])
    by_time = sql_store.get_metric_history_sampled(run_id, "loss", 1_000, "timestamp")
    assert (1_234_570, 9.0) in by_time.points


def test_history_the_spans_do_not_cover_is_read_from_the_points(sql_store: SqlStore) -> None:
    """A negative step is not kept in spans: their counts fall short, so the points are read."""
    run_id = sql_store.create_run("0", "u", 0, [], None).info.run_id
    points = [Metric("m", 0.5, 0, s) for s in range(-1, 100_000)]
    points[50_001] = Metric("m", 7.0, 0, 50_000)
    _log(sql_store, run_id, points)
    rid = _internal_id(sql_store, run_id)
    with sql_store.db.read() as cur:
        assert metric_buckets.extremes(cur, rid, "m", 0, 99_999, 100, len(points)) is None
    history = sql_store.get_metric_history_sampled(run_id, "m", max_points=200)
    assert history.sampled and (50_000, 7.0) in history.points
    assert history.points[0] == (-1, 0.5)


def _internal_id(store: SqlStore, run_id: str) -> int:
    with store.db.read() as cur:
        return int(store._run_row(cur, run_id)[0])
