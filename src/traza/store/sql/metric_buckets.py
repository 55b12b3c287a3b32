"""Pre-bucketed extremes of metric histories, kept at logging time so long charts read fast.

Per (run, key), ``metric_buckets`` holds one row per span of ``BUCKET_STEPS`` steps: how many
points it holds and its lowest and highest point (value, step, timestamp). Logging folds each
batch into these rows with one upsert per touched span, as ``latest_metrics`` is kept. A chart of
a 1,000,000-step history then reads about 4,000 rows instead of every point, and no peak is
lost: each span's extremes are real points.

A span's count lets a reader check that the rows cover the whole history (the sum must equal
``latest_metrics.count``); a history the rows do not cover exactly (negative steps, a point
logged twice before the table existed, a writer that bypasses it) is read from ``metrics``.
NaN points count but are extremes only of a span that holds nothing else (value NULL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from traza.store.sql.db import Cursor
from traza.store.sql.dialect import Dialect
from traza.store.sql.util import chunks

BUCKET_SHIFT = 8
BUCKET_STEPS = 1 << BUCKET_SHIFT

TABLE_DDL = """CREATE TABLE metric_buckets (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    count BIGINT NOT NULL,
    min_value DOUBLE PRECISION,
    min_step BIGINT NOT NULL,
    min_timestamp BIGINT NOT NULL,
    max_value DOUBLE PRECISION,
    max_step BIGINT NOT NULL,
    max_timestamp BIGINT NOT NULL,
    PRIMARY KEY (run_id, key, bucket)
){without_rowid}"""

# On a tie the point with the smaller step is kept, as a scan of the history in step order does.
_TAKE = (
    "excluded.{v} IS NOT NULL AND (metric_buckets.{v} IS NULL OR excluded.{v} {op} "
    "metric_buckets.{v} OR (excluded.{v} = metric_buckets.{v} "
    "AND excluded.{s} < metric_buckets.{s}))"
)
_MIN = _TAKE.format(v="min_value", s="min_step", op="<")
_MAX = _TAKE.format(v="max_value", s="max_step", op=">")

UPSERT = f"""
INSERT INTO metric_buckets (run_id, key, bucket, count, min_value, min_step, min_timestamp,
    max_value, max_step, max_timestamp)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, key, bucket) DO UPDATE SET
    count = metric_buckets.count + excluded.count,
    min_value = CASE WHEN {_MIN} THEN excluded.min_value ELSE metric_buckets.min_value END,
    min_step = CASE WHEN {_MIN} THEN excluded.min_step ELSE metric_buckets.min_step END,
    min_timestamp = CASE WHEN {_MIN} THEN excluded.min_timestamp
        ELSE metric_buckets.min_timestamp END,
    max_value = CASE WHEN {_MAX} THEN excluded.max_value ELSE metric_buckets.max_value END,
    max_step = CASE WHEN {_MAX} THEN excluded.max_step ELSE metric_buckets.max_step END,
    max_timestamp = CASE WHEN {_MAX} THEN excluded.max_timestamp
        ELSE metric_buckets.max_timestamp END
"""


def fold(rid: int, rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """UPSERT parameters for metric rows ``(key, step, timestamp, value, is_nan, ...)``."""
    cells: dict[tuple[str, int], list[Any]] = {}
    for key, step, timestamp, value, is_nan, *_ in rows:
        if step < 0:
            continue
        cell = cells.get((key, step >> BUCKET_SHIFT))
        if cell is None:
            v = None if is_nan else value
            cells[key, step >> BUCKET_SHIFT] = [1, v, step, timestamp, v, step, timestamp]
            continue
        cell[0] += 1
        if is_nan:
            continue
        low = cell[1]
        if low is None or value < low or (value == low and step < cell[2]):
            cell[1:4] = value, step, timestamp
        high = cell[4]
        if high is None or value > high or (value == high and step < cell[5]):
            cell[4:7] = value, step, timestamp
    return [(rid, key, bucket, *cell) for (key, bucket), cell in cells.items()]


def extremes(
    cur: Cursor, rid: int, key: str, lo: int, hi: int, count: int, total: int
) -> list[tuple[int, int, float | None]] | None:
    """Lowest and highest point of each of at most ``count`` step ranges over ``[lo, hi]``.

    Ranges are whole multiples of ``BUCKET_STEPS`` wide, so each is a union of stored rows.
    Points come as ``(step, timestamp, value)``, value None for NaN. None when the stored rows
    do not hold every point of the history (their counts do not add up to ``total``).
    """
    start = (lo >> BUCKET_SHIFT) << BUCKET_SHIFT
    spans = -(-(hi - start + 1) // BUCKET_STEPS)  # stored rows across the range
    per = -(-spans // count)  # stored rows per range, rounded up: at most ``count`` ranges
    cur.execute(
        "SELECT bucket, count, min_value, min_step, min_timestamp, max_value, max_step, "
        "max_timestamp FROM metric_buckets WHERE run_id = ? AND key = ? ORDER BY bucket",
        (rid, key),
    )
    rows = cur.fetchall()
    if sum(int(row[1]) for row in rows) != total:
        return None
    first = start >> BUCKET_SHIFT
    # Rows come in step order and each holds its span's earliest extreme, so keeping only a
    # strictly better one keeps the earliest of equal extremes, as a scan of the points does.
    lows: dict[int, tuple[Any, ...]] = {}
    highs: dict[int, tuple[Any, ...]] = {}
    for bucket, _, low, low_step, low_ts, high, high_step, high_ts in rows:
        group = (int(bucket) - first) // per
        seen = lows.get(group)
        if seen is None or (low is not None and (seen[0] is None or low < seen[0])):
            lows[group] = (low, low_step, low_ts)
        seen = highs.get(group)
        if seen is None or (high is not None and (seen[0] is None or high > seen[0])):
            highs[group] = (high, high_step, high_ts)
    return [
        (int(s), int(t), None if v is None else float(v))
        for v, s, t in (*lows.values(), *highs.values())
    ]


# Rows from the points already stored (when the table is created, or for runs written in
# bulk): SQLite takes the extreme's step and timestamp from the row holding it (its bare-column
# rule), one pass per extreme; PostgreSQL compares arrays element by element (x as float8:
# exact up to 2**53). ``{runs}`` narrows them to some runs.
_VALUE = "CASE WHEN is_nan = 0 THEN value END"
_SQLITE_BUILD = (
    f"""INSERT INTO metric_buckets (run_id, key, bucket, count, min_value, min_step,
        min_timestamp, max_value, max_step, max_timestamp)
    SELECT run_id, key, step >> {BUCKET_SHIFT}, COUNT(*), MIN({_VALUE}), step, timestamp,
        NULL, step, timestamp
    FROM metrics WHERE step >= 0 {{runs}} GROUP BY run_id, key, step >> {BUCKET_SHIFT}""",
    f"""UPDATE metric_buckets SET (max_value, max_step, max_timestamp) = (
        SELECT MAX({_VALUE}), step, timestamp FROM metrics m
        WHERE m.run_id = metric_buckets.run_id AND m.key = metric_buckets.key
            AND m.step >= metric_buckets.bucket << {BUCKET_SHIFT}
            AND m.step < (metric_buckets.bucket + 1) << {BUCKET_SHIFT})
    WHERE true {{runs}}""",
)
_ARRAY = "ARRAY[{sign}({value}), step::float8, timestamp::float8]"
_POSTGRES_BUILD = (
    f"""INSERT INTO metric_buckets (run_id, key, bucket, count, min_value, min_step,
        min_timestamp, max_value, max_step, max_timestamp)
    SELECT run_id, key, bucket, n, low[1], low[2]::bigint, low[3]::bigint, -high[1],
        high[2]::bigint, high[3]::bigint
    FROM (SELECT run_id, key, step / {BUCKET_STEPS} AS bucket, COUNT(*) AS n,
            MIN({_ARRAY.format(sign="", value=_VALUE)}) AS low,
            MIN({_ARRAY.format(sign="-", value=_VALUE)}) AS high
        FROM metrics WHERE step >= 0 {{runs}}
        GROUP BY run_id, key, step / {BUCKET_STEPS}) AS spans""",
)


def backfill(cur: Cursor, dialect: Dialect) -> None:
    """Migration 0005: rows for every history logged before the table existed."""
    for statement in _POSTGRES_BUILD if dialect.name == "postgresql" else _SQLITE_BUILD:
        cur.execute(statement.format(runs=""))


def rebuild(cur: Cursor, dialect: Dialect, run_ids: Sequence[int]) -> None:
    """Rows of these runs (internal ids) anew from their stored points, after a bulk write."""
    for chunk in chunks(sorted(set(run_ids))):
        ids = ", ".join(str(int(rid)) for rid in chunk)
        cur.execute(f"DELETE FROM metric_buckets WHERE run_id IN ({ids})")
        for statement in _POSTGRES_BUILD if dialect.name == "postgresql" else _SQLITE_BUILD:
            cur.execute(statement.format(runs=f"AND run_id IN ({ids})"))
