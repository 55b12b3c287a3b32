"""Metric logging on PostgreSQL as one statement: one round trip, one implicit transaction.

``log_batch`` of metrics alone (what clients send most) took six round trips on PostgreSQL:
BEGIN, the run's id, the points, their ``latest_metrics`` and ``metric_buckets`` upserts, COMMIT.
On a busy machine each round trip waits for the other process to be scheduled, and pipelined
per-row inserts cost ~50 µs of client time each. Here the run lookup and the three writes are
data-modifying CTEs of a single statement whose columns arrive as typed arrays (``unnest``);
in autocommit mode it is its own transaction, so a batch lands whole or not at all, as before.
Writes happen only when the run exists and is active; the statement returns the run's stage so
the caller reports a missing or deleted run exactly as the general path does.
"""

from __future__ import annotations

from typing import Any

from traza.store.sql import metric_buckets
from traza.store.sql.metrics import LATEST_UPSERT, fold_latest


def _on_conflict(upsert: str) -> str:
    return upsert[upsert.index("ON CONFLICT") :]


_STATEMENT = f"""
WITH r AS (SELECT id FROM runs WHERE run_uuid = %s AND lifecycle_stage = 'active'),
m AS (
    INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan, model_id, dataset_name,
        dataset_digest)
    SELECT r.id, u.* FROM r, unnest(%s::text[], %s::bigint[], %s::bigint[], %s::float8[],
        %s::smallint[], %s::text[], %s::text[], %s::text[]) AS u
    ON CONFLICT DO NOTHING
    RETURNING 1
),
n AS (SELECT COUNT(*) AS inserted FROM m),
l AS (
    INSERT INTO latest_metrics
        (run_id, key, value, timestamp, step, is_nan, min_value, max_value, count)
    SELECT r.id, u.* FROM r, n, unnest(%s::text[], %s::float8[], %s::bigint[], %s::bigint[],
        %s::smallint[], %s::float8[], %s::float8[], %s::bigint[]) AS u
    WHERE n.inserted = %s
    {_on_conflict(LATEST_UPSERT)}
),
b AS (
    INSERT INTO metric_buckets (run_id, key, bucket, count, min_value, min_step, min_timestamp,
        max_value, max_step, max_timestamp)
    SELECT r.id, u.* FROM r, n, unnest(%s::text[], %s::bigint[], %s::bigint[], %s::float8[],
        %s::bigint[], %s::bigint[], %s::float8[], %s::bigint[], %s::bigint[]) AS u
    WHERE n.inserted = %s
    {_on_conflict(metric_buckets.UPSERT)}
)
SELECT (SELECT lifecycle_stage FROM runs WHERE run_uuid = %s), (SELECT inserted FROM n)
"""
# The summaries fold in the points only when every one of them is new (``n.inserted`` equals
# the batch): a batch resent after a lost answer inserts none and counts nothing again; one
# that overlaps stored points gets its summaries recomputed by the caller.


def _floats(values: Any) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


def _ints(values: Any) -> list[int | None]:
    return [None if v is None else int(v) for v in values]


def _texts(values: Any) -> list[str | None]:
    return list(values)


_METRIC_TYPES = (_texts, _ints, _ints, _floats, _ints, _texts, _texts, _texts)
_LATEST_TYPES = (_texts, _floats, _ints, _ints, _ints, _floats, _floats, _ints)
_BUCKET_TYPES = (_texts, _ints, _ints, _floats, _ints, _ints, _floats, _ints, _ints)


def _columns(rows: list[tuple[Any, ...]], types: tuple[Any, ...]) -> list[list[Any]]:
    """Rows as one typed list per column (every list is sent as one array)."""
    if not rows:
        return [[] for _ in types]
    return [convert(column) for convert, column in zip(types, zip(*rows, strict=True), strict=True)]


def log_metrics(
    raw_cursor: Any, run_id: str, rows: list[tuple[Any, ...]]
) -> tuple[str | None, int]:
    """Write validated metric rows (see ``metrics.metric_row``) to an active run.

    Returns the run's lifecycle stage (``None`` when there is no such run; nothing was written
    unless it is ``active``) and how many points were new. The summaries were updated only if
    all were new; when only some were, the caller recomputes them.
    """
    latest = [(key, *summary) for key, summary in fold_latest(rows).items()]
    buckets = [row[1:] for row in metric_buckets.fold(0, rows)]
    args = [
        run_id,
        *_columns(rows, _METRIC_TYPES),
        *_columns(latest, _LATEST_TYPES),
        len(rows),
        *_columns(buckets, _BUCKET_TYPES),
        len(rows),
        run_id,
    ]
    raw_cursor.execute(_STATEMENT, args)
    row = raw_cursor.fetchone()
    return (None, 0) if row is None else (row[0], int(row[1] or 0))
