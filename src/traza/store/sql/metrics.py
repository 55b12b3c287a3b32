"""Metric and param rows for the SQL store: validation, and the per-key latest/min/max fold.

``latest_metrics`` keeps one row per (run, key) so search and order_by never read histories;
a batch is folded per key in Python first, so it costs one upsert per key, not per point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from traza.entities import Metric, Param
from traza.exceptions import invalid
from traza.validation import (
    MAX_INT64,
    validate_key,
    validate_metric_value,
    validate_param_value,
    validate_step,
    validate_timestamp,
)

# The latest value of a metric is the one with the largest (step, timestamp, value): MLflow's rule.
LATEST_UPSERT = """
INSERT INTO latest_metrics
    (run_id, key, value, timestamp, step, is_nan, min_value, max_value, count)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, key) DO UPDATE SET
    value = CASE WHEN {newer} THEN excluded.value ELSE latest_metrics.value END,
    is_nan = CASE WHEN {newer} THEN excluded.is_nan ELSE latest_metrics.is_nan END,
    timestamp = CASE WHEN {newer} THEN excluded.timestamp ELSE latest_metrics.timestamp END,
    step = CASE WHEN {newer} THEN excluded.step ELSE latest_metrics.step END,
    min_value = CASE WHEN latest_metrics.min_value IS NULL THEN excluded.min_value
        WHEN excluded.min_value IS NULL THEN latest_metrics.min_value
        WHEN excluded.min_value < latest_metrics.min_value THEN excluded.min_value
        ELSE latest_metrics.min_value END,
    max_value = CASE WHEN latest_metrics.max_value IS NULL THEN excluded.max_value
        WHEN excluded.max_value IS NULL THEN latest_metrics.max_value
        WHEN excluded.max_value > latest_metrics.max_value THEN excluded.max_value
        ELSE latest_metrics.max_value END,
    count = latest_metrics.count + excluded.count
""".format(
    newer="(excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step AND "
    "(excluded.timestamp > latest_metrics.timestamp OR (excluded.timestamp = "
    "latest_metrics.timestamp AND COALESCE(excluded.value, -1e308) >= "
    "COALESCE(latest_metrics.value, -1e308)))))"
)


def metric_row(m: Metric) -> tuple[Any, ...]:
    """The ``metrics`` columns after ``run_id``, validated.

    (key, step, timestamp, value, is_nan, model_id, dataset_name, dataset_digest); a NaN is
    stored as 0.0 with is_nan = 1, since SQLite cannot hold NaN.
    """
    key = validate_key(m.key, "metric name")
    value, step, timestamp = m.value, m.step, m.timestamp
    # Floats and ints in range, the usual case, skip the slower general checks.
    if not (
        type(value) is float
        and type(step) is int
        and type(timestamp) is int
        and 0 <= timestamp <= MAX_INT64
        and -MAX_INT64 <= step <= MAX_INT64
    ):
        value = validate_metric_value(key, value)
        step = validate_step(key, step)
        timestamp = validate_timestamp(key, timestamp)
    if value != value:
        return (key, step, timestamp, 0.0, 1, m.model_id, m.dataset_name, m.dataset_digest)
    return (key, step, timestamp, value, 0, m.model_id, m.dataset_name, m.dataset_digest)


def _recency(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # Larger step, then later timestamp, then (at a tie) a number over NaN and the larger value.
    return (row[1], row[2], -row[4], row[3])


def fold_latest(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """Per key of a batch of metric rows: [value, timestamp, step, is_nan, min, max, count].

    The latest value is ``None`` when it is NaN; min and max ignore NaN.
    """
    by_key: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        group = by_key.get(row[0])
        if group is None:
            by_key[row[0]] = [row]
        else:
            group.append(row)
    summary: dict[str, list[Any]] = {}
    for key, group in by_key.items():
        latest = max(group, key=_recency)
        values = [row[3] for row in group if not row[4]]
        summary[key] = [
            None if latest[4] else latest[3],
            latest[2],
            latest[1],
            latest[4],
            min(values) if values else None,
            max(values) if values else None,
            len(group),
        ]
    return summary


def unique_params(params: Sequence[Param]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in params:
        key = validate_key(p.key, "param name")
        value = validate_param_value(key, p.value)
        if key in out and out[key] != value:
            raise invalid(
                f"Param {key!r} appears twice in one batch with different values "
                f"({out[key]!r} and {value!r})."
            )
        out[key] = value
    return out
