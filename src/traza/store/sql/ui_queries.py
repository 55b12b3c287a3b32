"""What the web UI reads from the SQL store: column keys, sampled histories, metric summaries.

All of it is computed in SQL, so the work does not grow with the store: keys are a loose index
scan per kind, a long history is cut into buckets read along the ``(run, key, step, ...)``
primary key, and summaries come from ``latest_metrics``.

Each bucket's extremes come with the x of the row holding them. SQLite gives that through its
bare-column rule (a column next to ``MIN()`` comes from the row with the minimum); PostgreSQL
through ``MIN(ARRAY[value, step, timestamp])``, comparing arrays element by element (x as
float8: exact up to 2**53). NaN points are stored as 0 with ``is_nan`` and count as a bucket's
value only when the bucket holds nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from traza.entities import LifecycleStage
from traza.entities.ui import ExperimentKeys, ExperimentSummary, MetricSummary, SampledHistory
from traza.store.run_groups import RunGroups
from traza.store.sampling import buckets, check_range, check_sampling, merge
from traza.store.sql import metric_buckets
from traza.store.sql.db import Cursor, Database
from traza.store.sql.util import marks
from traza.validation import validate_experiment_id

_KEY_TABLES = (("params", "params"), ("metrics", "latest_metrics"), ("tags", "tags"))
_VALUE = "CASE WHEN is_nan = 0 THEN value END"
_ACTIVE = LifecycleStage.ACTIVE
# A loose index scan: hop from each distinct key to the next along the table's key index, then
# keep those that some active run of the experiments has (a scalar subquery with LIMIT 1, which
# PostgreSQL runs per key instead of turning it into a join over every run). The work grows with
# the distinct keys, not the runs (10,000 runs x 20 params x 20 metrics: SQLite 0.5 ms against
# 67 ms for a DISTINCT over a join; PostgreSQL 5 ms against 230 ms).
_DISTINCT_KEYS = """
WITH RECURSIVE k (key) AS (
    SELECT MIN(key) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(t.key) FROM {table} t WHERE t.key > k.key) FROM k WHERE k.key IS NOT NULL
)
SELECT k.key FROM k WHERE k.key IS NOT NULL AND (
    SELECT 1 FROM {table} t JOIN runs r ON r.id = t.run_id
    WHERE t.key = k.key AND r.experiment_id IN ({ids}) AND r.lifecycle_stage = ? LIMIT 1
) IS NOT NULL
"""


class SqlUiQueries:
    if TYPE_CHECKING:  # provided by SqlStore
        db: Database

        def _run_row(self, cur: Cursor, run_id: str) -> Any: ...

    def get_experiment_keys(self, experiment_ids: Sequence[str]) -> ExperimentKeys:
        if isinstance(experiment_ids, str | int):
            experiment_ids = [str(experiment_ids)]
        ids = sorted({int(validate_experiment_id(e)) for e in experiment_ids})
        if not ids:
            return ExperimentKeys()
        found: dict[str, tuple[str, ...]] = {}
        with self.db.read() as cur:
            for name, table in _KEY_TABLES:
                cur.execute(_DISTINCT_KEYS.format(table=table, ids=marks(ids)), [*ids, _ACTIVE])
                # Sorted here, not in SQL: PostgreSQL's collation would order keys differently.
                found[name] = tuple(sorted(row[0] for row in cur.fetchall()))
        return ExperimentKeys(**found)

    def get_experiment_summaries(self, experiment_ids: Sequence[str]) -> list[ExperimentSummary]:
        if isinstance(experiment_ids, str | int):
            experiment_ids = [str(experiment_ids)]
        ids = [str(int(validate_experiment_id(e))) for e in experiment_ids]
        if not ids:
            return []
        unique = sorted({int(e) for e in ids})
        with self.db.read() as cur:
            # One grouped pass along runs_by_experiment (experiment_id, start_time, ...).
            cur.execute(
                "SELECT experiment_id, COUNT(*), MAX(start_time) FROM runs "
                f"WHERE experiment_id IN ({marks(unique)}) AND lifecycle_stage = ? "
                "GROUP BY experiment_id",
                [*unique, _ACTIVE],
            )
            found = {str(row[0]): (int(row[1]), int(row[2])) for row in cur.fetchall()}
        return [
            ExperimentSummary(e, *found[e]) if e in found else ExperimentSummary(e) for e in ids
        ]

    def get_metric_history_sampled(
        self,
        run_id: str,
        key: str,
        max_points: int = 1000,
        x_axis: str = "step",
        x_range: tuple[int, int] | None = None,
    ) -> SampledHistory:
        check_sampling(max_points, x_axis)
        x_range = check_range(x_range)
        x = "step" if x_axis == "step" else "timestamp"
        where = "WHERE run_id = ? AND key = ?"
        with self.db.read() as cur:
            rid = self._run_row(cur, run_id)[0]
            args: tuple[Any, ...] = (rid, key)
            cur.execute(f"SELECT min_value, max_value, count FROM latest_metrics {where}", args)
            summary = cur.fetchone()
            if summary is None:
                return SampledHistory(run_id, key, 0, x_axis=x_axis)
            origin = 0
            if x_axis == "relative":
                cur.execute(
                    f"SELECT timestamp FROM metrics {where} ORDER BY step, timestamp LIMIT 1", args
                )
                origin = int(cur.fetchone()[0])
            if x_range is not None:
                where += f" AND {x} >= ? AND {x} <= ?"
                args += (x_range[0] + origin, x_range[1] + origin)
            # Whether the history fits is asked with a LIMIT: counting a long one is a full scan.
            cur.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM metrics {where} LIMIT ?) AS head",
                (*args, max_points + 1),
            )
            sampled = cur.fetchone()[0] > max_points
            if sampled:
                rows = self._bucket_extremes(
                    cur, x, where, args, max_points, int(summary[2]), whole=x_range is None
                )
            else:
                order = "step, timestamp" if x == "step" else "timestamp, step"
                cur.execute(
                    f"SELECT {x}, value, is_nan FROM metrics {where} "
                    f"ORDER BY {order}, is_nan, value",
                    args,
                )
                rows = [(int(p), float(v), bool(n)) for p, v, n in cur.fetchall()]
        if sampled:
            points = merge(rows, origin)
        else:
            nan = math.nan
            points = tuple((p - origin, nan if n else v) for p, v, n in rows)
        return SampledHistory(
            run_id=run_id,
            key=key,
            # A sampled or ranged history's total is the count the store keeps per key (as
            # logged).
            total=int(summary[2]) if sampled or x_range else len(points),
            points=points,
            min=summary[0],
            max=summary[1],
            x_axis=x_axis,
            sampled=sampled,
        )

    def _bucket_extremes(
        self,
        cur: Cursor,
        x: str,
        where: str,
        args: tuple[Any, ...],
        max_points: int,
        total: int,
        whole: bool,
    ) -> list[tuple[int, float, bool]]:
        """Each bucket's lowest and highest point, and the first and last, as (x, value, nan).

        Buckets are step ranges whenever steps are mostly distinct, on the time axes too (the
        points kept are real points, drawn at their time), since step order is the primary
        key's: the range scans need no sort. Ranges of at least ``BUCKET_STEPS`` steps come
        from the extremes kept at logging time when those cover the ``whole`` history. Histories
        logged without steps are bucketed by timestamp instead.
        """
        pick = 0 if x == "step" else 1
        ends: list[tuple[Any, ...]] = []
        for direction in ("", " DESC"):
            cur.execute(
                f"SELECT step, timestamp, value, is_nan FROM metrics {where} "
                f"ORDER BY step{direction}, timestamp{direction} LIMIT 1",
                args,
            )
            ends.append(cur.fetchone())
        found = [(int(e[pick]), float(e[2]), bool(e[3])) for e in ends]
        lo, hi = int(ends[0][0]), int(ends[1][0])
        column = "step"
        if x != "step" and (hi - lo + 1) * 2 < total:
            column = "timestamp"
            cur.execute(f"SELECT MIN(timestamp), MAX(timestamp) FROM metrics {where}", args)
            lo, hi = (int(v) for v in cur.fetchone())
        count, width = buckets(max_points, lo, hi)
        if whole and column == "step" and lo >= 0 and width >= metric_buckets.BUCKET_STEPS:
            stored = metric_buckets.extremes(cur, args[0], args[1], lo, hi, count, total)
            if stored is not None:
                found.extend(((s, t)[pick], v or 0.0, v is None) for s, t, v in stored)
                return found
        if self.db.dialect.name == "postgresql":
            cur.execute(
                f"SELECT MIN(ARRAY[{_VALUE}, step::float8, timestamp::float8]), "
                f"MIN(ARRAY[-({_VALUE}), step::float8, timestamp::float8]) "
                f"FROM metrics {where} GROUP BY ({column} - ?) / ?",
                (*args, lo, width),
            )
            for low, high in cur.fetchall():
                found.append(_point(low[1 + pick], low[0], 1.0))
                found.append(_point(high[1 + pick], high[0], -1.0))
        elif column == "step":
            # One range query per bucket walks the primary key in order; a GROUP BY would sort
            # every point in a temporary B-tree first (1M points: 0.4 s against 0.85 s).
            for aggregate in ("MIN", "MAX"):
                query = (
                    f"SELECT {aggregate}({_VALUE}), step, timestamp FROM metrics {where} "
                    "AND step >= ? AND step < ?"
                )
                for b in range(count):
                    start = lo + b * width
                    cur.execute(query, (*args, start, start + width))
                    value, *xs = cur.fetchone()
                    if xs[0] is not None:
                        found.append(_point(xs[pick], value, 1.0))
        else:
            for aggregate in ("MIN", "MAX"):
                cur.execute(
                    f"SELECT {aggregate}({_VALUE}), timestamp FROM metrics {where} "
                    "GROUP BY (timestamp - ?) / ?",
                    (*args, lo, width),
                )
                found.extend(_point(p, v, 1.0) for v, p in cur.fetchall())
        return found

    def get_metric_histories_batch(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str],
        max_points: int = 1000,
        x_axis: str = "step",
    ) -> list[list[SampledHistory]]:
        """Histories of one point (a metric logged once per run) are answered from
        ``latest_metrics`` in one query for every run and key; longer ones as
        ``get_metric_history_sampled`` does, one by one."""
        check_sampling(max_points, x_axis)
        keys, run_ids = list(keys), list(run_ids)
        if not keys or not run_ids:
            return [[] for _ in keys]
        with self.db.read() as cur:
            internal: dict[str, int] = {}
            for run_id in dict.fromkeys(run_ids):
                internal[run_id] = int(self._run_row(cur, run_id)[0])
            rids = sorted(set(internal.values()))
            unique_keys = list(dict.fromkeys(keys))
            cur.execute(
                "SELECT run_id, key, value, is_nan, timestamp, step, min_value, max_value, count "
                f"FROM latest_metrics WHERE run_id IN ({marks(rids)}) "
                f"AND key IN ({marks(unique_keys)})",
                [*rids, *unique_keys],
            )
            latest = {(int(row[0]), row[1]): row[2:] for row in cur.fetchall()}
        x_of = {"step": 3, "timestamp": 2}

        def one(run_id: str, key: str) -> SampledHistory:
            row = latest.get((internal[run_id], key))
            if row is None:
                return SampledHistory(run_id, key, 0, x_axis=x_axis)
            value, is_nan, _, _, low, high, count = row
            if int(count) != 1:
                return self.get_metric_history_sampled(run_id, key, max_points, x_axis)
            x = int(row[x_of[x_axis]]) if x_axis in x_of else 0
            point = (x, math.nan if is_nan or value is None else float(value))
            return SampledHistory(run_id, key, 1, (point,), low, high, x_axis)

        return [[one(r, k) for r in run_ids] for k in keys]

    def group_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: int,
        by: str,
        metrics: Sequence[str],
    ) -> RunGroups:
        from traza.store.sql import run_groups

        return run_groups.group_runs(
            self.db, experiment_ids, filter_string, run_view_type, by, metrics
        )

    def get_metric_summaries(self, run_id: str) -> list[MetricSummary]:
        with self.db.read() as cur:
            rid = self._run_row(cur, run_id)[0]
            cur.execute(
                "SELECT key, value, is_nan, min_value, max_value, count, step, timestamp "
                "FROM latest_metrics WHERE run_id = ?",
                (rid,),
            )
            rows = cur.fetchall()
        return sorted(
            (
                MetricSummary(
                    key=key,
                    latest=math.nan if is_nan or value is None else float(value),
                    min=low,
                    max=high,
                    count=int(count),
                    last_step=int(step),
                    last_timestamp=int(ts),
                )
                for key, value, is_nan, low, high, count, step, ts in rows
            ),
            key=lambda s: s.key,
        )


def _point(x: Any, value: Any, sign: float) -> tuple[int, float, bool]:
    """A bucket extreme: a NULL value means the bucket held only NaN points."""
    if value is None:
        return (int(x), 0.0, True)
    return (int(x), sign * float(value), False)
