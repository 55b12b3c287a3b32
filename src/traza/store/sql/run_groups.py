"""Runs grouped by a param or tag in SQL: two ``GROUP BY`` queries over the runs a search
filter matches (the filter compiled as ``search_runs`` compiles it), one for each group's run
count, one for each group's metric figures from ``latest_metrics``. See ``store/run_groups.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from traza.entities import LifecycleStage
from traza.search import parse_run_filter
from traza.store.run_groups import (
    MetricStats,
    RunGroup,
    RunGroups,
    check_metrics,
    ordered,
    parse_by,
)
from traza.store.sql import compile as sqlc
from traza.store.sql.db import Database
from traza.store.sql.util import marks
from traza.validation import validate_experiment_id

_TABLES = {"params": "params", "tags": "tags"}
#: Finite doubles lie within these bounds; infinities (and NaN, kept as 0 with ``is_nan``) do not
#: count in a group's figures.
_LARGEST = sys.float_info.max


def group_runs(
    db: Database,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    run_view_type: int,
    by: str,
    metrics: Sequence[str],
) -> RunGroups:
    kind, key = parse_by(by)
    keys = check_metrics(metrics)
    ids = sorted({int(validate_experiment_id(e)) for e in experiment_ids})
    if not ids:
        return RunGroups(by, (), 0)
    stages = LifecycleStage.view_type_to_stages(run_view_type)
    args: list[Any] = [key, *ids, *stages]
    conditions = [f"r.experiment_id IN ({marks(ids)})", f"r.lifecycle_stage IN ({marks(stages)})"]
    conditions += sqlc.run_filter_sql(db.dialect, parse_run_filter(filter_string), args)
    grouped = (
        f"SELECT r.id AS run_id, g.value AS value FROM runs r LEFT JOIN {_TABLES[kind]} g "
        f"ON g.run_id = r.id AND g.key = ? WHERE {' AND '.join(conditions)}"
    )
    with db.read() as cur:
        cur.execute(f"SELECT f.value, COUNT(*) FROM ({grouped}) f GROUP BY f.value", args)
        counts = {row[0]: int(row[1]) for row in cur.fetchall()}
        stats: dict[str | None, dict[str, MetricStats]] = {}
        if keys and counts:
            # NaN and infinities are set aside inside the aggregate, not in WHERE: a range on
            # the value there led PostgreSQL (before ANALYZE) to intersect the whole
            # key-and-value index with each run's rows, 100 times slower than the primary key.
            cur.execute(
                "SELECT x.value, x.key, COUNT(x.v), AVG(x.v), MIN(x.v), MAX(x.v) FROM ("
                "SELECT f.value AS value, m.key AS key, CASE WHEN m.is_nan = 0 AND m.value >= ? "
                f"AND m.value <= ? THEN m.value END AS v FROM ({grouped}) f "
                "JOIN latest_metrics m ON m.run_id = f.run_id "
                f"WHERE m.key IN ({marks(keys)})) x GROUP BY x.value, x.key",
                [-_LARGEST, _LARGEST, *args, *keys],
            )
            for value, metric, count, mean, low, high in cur.fetchall():
                if count:  # every value NaN or infinite: no figures
                    stats.setdefault(value, {})[metric] = MetricStats(
                        int(count), float(mean), float(low), float(high)
                    )
    return ordered(by, (RunGroup(v, n, stats.get(v, {})) for v, n in counts.items()))
