"""Custom evaluation metrics: MLflow's ``make_metric``, ``EvaluationMetric`` and ``MetricValue``.

A metric's ``eval_fn`` returns a number or a ``MetricValue``; ``traza.models.evaluate`` turns
either into logged metrics named as MLflow names them (``name`` or ``name/<aggregate>``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from traza.exceptions import INVALID_PARAMETER_VALUE, TrazaException


def _is_number(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def standard_aggregations(scores: list[Any]) -> dict[str, float]:
    """The aggregates MLflow derives from per-row scores: mean, variance and 90th percentile."""
    import numpy as np

    return {
        "mean": float(np.mean(scores)),
        "variance": float(np.var(scores)),
        "p90": float(np.percentile(scores, 90)),
    }


@dataclass
class MetricValue:
    """A metric's result: per-row ``scores``/``justifications`` and named aggregates."""

    scores: list[Any] | None = None
    justifications: list[str] | None = None
    aggregate_results: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if (
            self.aggregate_results is None
            and isinstance(self.scores, (list, tuple))
            and self.scores
            and all(_is_number(s) for s in self.scores)
        ):
            self.aggregate_results = standard_aggregations(list(self.scores))


class EvaluationMetric:
    """A custom metric for ``evaluate(extra_metrics=...)``; build it with ``make_metric``."""

    def __init__(
        self,
        eval_fn: Callable[..., Any],
        name: str,
        greater_is_better: bool,
        long_name: str | None = None,
        version: str | None = None,
        metric_details: str | None = None,
        metric_metadata: dict[str, Any] | None = None,
        genai_metric_args: dict[str, Any] | None = None,
    ) -> None:
        self.eval_fn = eval_fn
        self.name = name
        self.greater_is_better = greater_is_better
        self.long_name = long_name or name
        self.version = version
        self.metric_details = metric_details
        self.metric_metadata = metric_metadata
        self.genai_metric_args = genai_metric_args

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.eval_fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"EvaluationMetric(name={self.name}, greater_is_better={self.greater_is_better})"


def make_metric(
    *,
    eval_fn: Callable[..., Any],
    greater_is_better: bool,
    name: str | None = None,
    long_name: str | None = None,
    version: str | None = None,
    metric_details: str | None = None,
    metric_metadata: dict[str, Any] | None = None,
    genai_metric_args: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """A custom metric from ``eval_fn(predictions, targets, metrics, ...)``, named ``name``
    (defaults to the function's name, which must then be a real name, not a lambda's)."""
    if name is None:
        fn_name = getattr(eval_fn, "__name__", "")
        if not fn_name or fn_name == "<lambda>":
            raise TrazaException(
                "make_metric needs name= when eval_fn is a lambda or has no __name__: "
                "pass make_metric(eval_fn=..., greater_is_better=..., name='my_metric').",
                INVALID_PARAMETER_VALUE,
            )
        name = fn_name
    return EvaluationMetric(
        eval_fn,
        name,
        greater_is_better,
        long_name,
        version,
        metric_details,
        metric_metadata,
        genai_metric_args,
    )


__all__ = ["EvaluationMetric", "MetricValue", "make_metric", "standard_aggregations"]
