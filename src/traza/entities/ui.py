"""What the web UI reads beyond MLflow's API: column keys, sampled histories, metric summaries.

Plain frozen data with ``to_dict``/``from_dict`` in the JSON shape of ``/api/traza/v1``. Metric
values that are not finite travel as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``,
as ``Metric.to_dict`` sends them, so a chart can tell a NaN point from a gap.
"""

from __future__ import annotations

import math
from typing import Any

from traza.entities._record import Record, field
from traza.entities.tracking import json_double

#: The x axes a sampled history can be read on.
X_AXES = ("step", "timestamp", "relative")


def _double(value: Any) -> float:
    return math.nan if value is None else float(value)


def _optional_double(value: float | None) -> float | str | None:
    return None if value is None else json_double(value)


def _from_optional(value: Any) -> float | None:
    return None if value is None else float(value)


class ExperimentKeys(Record):
    """Distinct param, metric and tag keys over the active runs of some experiments, sorted."""

    params: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {"params": list(self.params), "metrics": list(self.metrics), "tags": list(self.tags)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExperimentKeys:
        return cls(
            tuple(d.get("params") or ()), tuple(d.get("metrics") or ()), tuple(d.get("tags") or ())
        )


class ExperimentSummary(Record):
    """What the experiments list shows beside a name: active runs and the latest run's start."""

    experiment_id: str
    run_count: int = 0
    #: Start time (ms) of the experiment's most recent active run; ``None`` without runs.
    last_run_start_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"experiment_id": self.experiment_id, "run_count": self.run_count}
        if self.last_run_start_time is not None:
            d["last_run_start_time"] = self.last_run_start_time
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExperimentSummary:
        last = d.get("last_run_start_time")
        return cls(
            str(d["experiment_id"]),
            int(d.get("run_count") or 0),
            None if last is None else int(last),
        )


class SampledHistory(Record):
    """One metric of one run, at most ``max_points`` points of it, ordered by x.

    ``total`` counts every stored point; ``points`` are ``(x, value)`` pairs, all of them when
    ``total`` fits, else each bucket's lowest and highest value (plus the first and last point),
    so peaks survive. ``min``/``max`` are over the whole history, NaN ignored (``None`` when
    every point is NaN or there is none).
    """

    run_id: str
    key: str
    total: int
    points: tuple[tuple[int, float], ...] = ()
    min: float | None = None
    max: float | None = None
    x_axis: str = "step"
    sampled: bool = field(default=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "key": self.key,
            "x_axis": self.x_axis,
            "total": self.total,
            "sampled": self.sampled,
            "points": [[x, json_double(v)] for x, v in self.points],
            "min": _optional_double(self.min),
            "max": _optional_double(self.max),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampledHistory:
        return cls(
            run_id=str(d["run_id"]),
            key=str(d["key"]),
            total=int(d.get("total", 0)),
            points=tuple((int(x), _double(v)) for x, v in d.get("points") or ()),
            min=_from_optional(d.get("min")),
            max=_from_optional(d.get("max")),
            x_axis=str(d.get("x_axis", "step")),
            sampled=bool(d.get("sampled", False)),
        )


class MetricSummary(Record):
    """Per (run, key): the latest value (by step, then timestamp), min, max and point count."""

    key: str
    latest: float
    min: float | None
    max: float | None
    count: int
    last_step: int
    last_timestamp: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "latest": json_double(self.latest),
            "min": _optional_double(self.min),
            "max": _optional_double(self.max),
            "count": self.count,
            "last_step": self.last_step,
            "last_timestamp": self.last_timestamp,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricSummary:
        return cls(
            key=str(d["key"]),
            latest=_double(d.get("latest")),
            min=_from_optional(d.get("min")),
            max=_from_optional(d.get("max")),
            count=int(d.get("count", 0)),
            last_step=int(d.get("last_step", 0)),
            last_timestamp=int(d.get("last_timestamp", 0)),
        )
