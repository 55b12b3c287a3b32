"""Metric and param rows for the SQL store: validation, and the per-key latest/min/max fold.

``latest_metrics`` keeps one row per (run, key) so search and order_by never read histories;
a batch is folded per key in Python first, so it costs one upsert per key, not per point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from traza.entities import Metric, Param
from traza.exceptions import invalid
from traza.validation import (
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
    """(key, step, timestamp, value or None for NaN, is_nan, model_id, dataset name, digest)."""
    key = validate_key(m.key, "metric name")
    value = validate_metric_value(key, m.value)
    is_nan = value != value
    return (
        key,
        validate_step(key, m.step),
        validate_timestamp(key, m.timestamp),
        None if is_nan else value,
        1 if is_nan else 0,
        m.model_id,
        m.dataset_name,
        m.dataset_digest,
    )


def fold_latest(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """Per key of a batch of metric rows: [value, timestamp, step, is_nan, min, max, count]."""
    summary: dict[str, list[Any]] = {}
    for key, step, ts, value, is_nan, *_ in rows:
        s = summary.get(key)
        if s is None:
            summary[key] = [value, ts, step, is_nan, value, value, 1]
            continue
        if (step, ts, -math.inf if value is None else value) >= (
            s[2],
            s[1],
            -math.inf if s[0] is None else s[0],
        ):
            s[0], s[1], s[2], s[3] = value, ts, step, is_nan
        if value is not None:
            s[4] = value if s[4] is None or value < s[4] else s[4]
            s[5] = value if s[5] is None or value > s[5] else s[5]
        s[6] += 1
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
