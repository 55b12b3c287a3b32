"""What the web UI reads from the SQL store: column keys, sampled histories, metric summaries.

All of it is computed in SQL so the work does not grow with what crosses into Python: keys are
one indexed ``DISTINCT`` per kind, a history is bucketed with ``GROUP BY (x - lo) / width`` over
the ``(run, key, step, ...)`` primary key, and summaries come from ``latest_metrics``.

Each bucket's extremes come with the x of the row holding them. SQLite gives that through its
bare-column rule (a column next to ``MIN()`` comes from the row with the minimum); PostgreSQL
through ``MIN(ARRAY[value, x])``, comparing arrays element by element (x as float8: exact up to
2**53). NaN points are stored as 0 with ``is_nan`` and count as a bucket's value only when the
bucket holds nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from traza.entities import LifecycleStage
from traza.entities.ui import ExperimentKeys, MetricSummary, SampledHistory
from traza.store.sampling import buckets, check_sampling, merge
from traza.store.sql.db import Cursor, Database
from traza.store.sql.util import marks
from traza.validation import validate_experiment_id

_KEY_TABLES = (("params", "params"), ("metrics", "latest_metrics"), ("tags", "tags"))
_VALUE = "CASE WHEN is_nan = 0 THEN value END"


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
                cur.execute(
                    f"SELECT DISTINCT t.key FROM runs r JOIN {table} t ON t.run_id = r.id "
                    f"WHERE r.experiment_id IN ({marks(ids)}) AND r.lifecycle_stage = ?",
                    [*ids, LifecycleStage.ACTIVE],
                )
                # Sorted here, not in SQL: PostgreSQL's collation would order keys differently.
                found[name] = tuple(sorted(row[0] for row in cur.fetchall()))
        return ExperimentKeys(**found)

    def get_metric_history_sampled(
        self, run_id: str, key: str, max_points: int = 1000, x_axis: str = "step"
    ) -> SampledHistory:
        check_sampling(max_points, x_axis)
        x = "step" if x_axis == "step" else "timestamp"
        where = "WHERE run_id = ? AND key = ?"
        with self.db.read() as cur:
            rid = self._run_row(cur, run_id)[0]
            cur.execute(f"SELECT min_value, max_value FROM latest_metrics {where}", (rid, key))
            extremes = cur.fetchone()
            if extremes is None:
                return SampledHistory(run_id, key, 0, x_axis=x_axis)
            cur.execute(f"SELECT COUNT(*), MIN({x}), MAX({x}) FROM metrics {where}", (rid, key))
            total, lo, hi = cur.fetchone()
            if not total:
                return SampledHistory(run_id, key, 0, x_axis=x_axis)
            origin = int(lo) if x_axis == "relative" else 0
            sampled = total > max_points
            if sampled:
                rows = self._bucket_extremes(cur, x, where, (rid, key), max_points, lo, hi)
            else:
                order = "step, timestamp" if x == "step" else "timestamp, step"
                cur.execute(
                    f"SELECT {x}, value, is_nan FROM metrics {where} "
                    f"ORDER BY {order}, is_nan, value",
                    (rid, key),
                )
                rows = cur.fetchall()
        if sampled:
            points = merge(rows, origin)
        else:
            nan = math.nan
            points = tuple((int(p) - origin, nan if n else v) for p, v, n in rows)
        return SampledHistory(
            run_id=run_id,
            key=key,
            total=int(total),
            points=points,
            min=extremes[0],
            max=extremes[1],
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
        lo: int,
        hi: int,
    ) -> list[tuple[int, float, bool]]:
        """Each bucket's lowest and highest point, and the first and last, as (x, value, nan)."""
        _, width = buckets(max_points, int(lo), int(hi))
        bucket = f"({x} - ?) / ?"
        found: list[tuple[int, float, bool]] = []
        if self.db.dialect.name == "postgresql":
            cur.execute(
                f"SELECT MIN(ARRAY[{_VALUE}, {x}::float8]), "
                f"MIN(ARRAY[-({_VALUE}), {x}::float8]) "
                f"FROM metrics {where} GROUP BY {bucket}",
                (*args, lo, width),
            )
            for low, high in cur.fetchall():
                found.append(_point(low[1], low[0], 1.0))
                found.append(_point(high[1], high[0], -1.0))
        else:
            for aggregate in ("MIN", "MAX"):
                cur.execute(
                    f"SELECT {aggregate}({_VALUE}), {x} FROM metrics {where} GROUP BY {bucket}",
                    (*args, lo, width),
                )
                found.extend(_point(p, v, 1.0) for v, p in cur.fetchall())
        order = "step, timestamp" if x == "step" else "timestamp, step"
        for direction in ("", " DESC"):
            ends = ", ".join(f"{c}{direction}" for c in order.split(", "))
            cur.execute(
                f"SELECT {x}, value, is_nan FROM metrics {where} ORDER BY {ends} LIMIT 1", args
            )
            p, v, n = cur.fetchone()
            found.append((int(p), float(v), bool(n)))
        return found

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
