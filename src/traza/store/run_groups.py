"""Runs grouped by a param or tag: each value's run count and, per metric, the count, mean,
minimum and maximum of the runs' latest values, over every run a filter matches (not a page).

The SQL store computes it with one ``GROUP BY`` (``store/sql/run_groups.py``); any other store
with :func:`aggregate`, reading the matching runs a page at a time. NaN and infinite values are
left out of a metric's figures, as a chart leaves them out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from traza.exceptions import invalid

#: Groups one answer holds at most (the most populous first); ``truncated`` says more exist.
MAX_GROUPS = 1000
#: Metric keys one request may aggregate.
MAX_METRICS = 100
GROUP_KINDS = ("params", "tags")


@dataclass(frozen=True)
class MetricStats:
    count: int
    mean: float
    min: float
    max: float

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean, "min": self.min, "max": self.max}


@dataclass(frozen=True)
class RunGroup:
    """``value`` is ``None`` for the runs without the param or tag."""

    value: str | None
    count: int
    metrics: dict[str, MetricStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "count": self.count,
            "metrics": {k: s.to_dict() for k, s in sorted(self.metrics.items())},
        }


@dataclass(frozen=True)
class RunGroups:
    by: str
    groups: tuple[RunGroup, ...]
    #: Runs the filter matched (the sum of every group's count, cut ones included).
    total_runs: int
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "total_runs": self.total_runs,
            "truncated": self.truncated,
            "groups": [g.to_dict() for g in self.groups],
        }


def parse_by(by: str) -> tuple[str, str]:
    """``params.<key>`` or ``tags.<key>`` → (kind, key)."""
    kind, dot, key = (by or "").partition(".")
    if not dot or kind not in GROUP_KINDS or not key or len(key) > 250:
        raise invalid(
            f"Invalid group by {by!r}: give params.<key> or tags.<key> (a key of 1 to 250 "
            "characters)."
        )
    return kind, key


def check_metrics(keys: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(keys))
    if len(unique) > MAX_METRICS:
        raise invalid(
            f"Group by aggregates at most {MAX_METRICS} metrics per request, got {len(unique)}."
        )
    for key in unique:
        if not isinstance(key, str) or not key or len(key) > 250:
            raise invalid(f"Invalid metric key {key!r}: give keys of 1 to 250 characters.")
    return unique


def finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def ordered(by: str, groups: Iterable[RunGroup]) -> RunGroups:
    """The most populous groups first (then by value, runs without it last), cut to MAX_GROUPS."""
    found = sorted(groups, key=lambda g: (-g.count, g.value is None, g.value or ""))
    total = sum(g.count for g in found)
    return RunGroups(by, tuple(found[:MAX_GROUPS]), total, len(found) > MAX_GROUPS)


def aggregate(runs: Iterable[Any], by: str, metrics: Sequence[str]) -> RunGroups:
    """The same figures from runs read through any store (entities with ``data``)."""
    kind, key = parse_by(by)
    wanted = set(check_metrics(metrics))
    counts: dict[str | None, int] = {}
    values_of: dict[str | None, dict[str, list[float]]] = {}
    for run in runs:
        values = run.data.params if kind == "params" else run.data.tags
        value = values.get(key)
        counts[value] = counts.get(value, 0) + 1
        per_metric = values_of.setdefault(value, {})
        for metric, number in run.data.metrics.items():
            if metric in wanted and finite(number):
                per_metric.setdefault(metric, []).append(float(number))
    groups = [
        RunGroup(
            value,
            count,
            {
                m: MetricStats(len(v), math.fsum(v) / len(v), min(v), max(v))
                for m, v in values_of[value].items()
            },
        )
        for value, count in counts.items()
    ]
    return ordered(by, groups)
