"""System metrics settings: MLflow's ``mlflow.system_metrics`` functions and variables.

Each setting lives in an environment variable, as in MLflow, so child processes inherit it. The
setters write both the ``TRAZA_`` and the ``MLFLOW_`` twin: Traza reads ``TRAZA_`` first, so
writing only one could leave an older value of the other in charge. The sampler itself
(:mod:`traza.system_metrics.monitor`, psutil) loads only when a run asks for it.
"""

from __future__ import annotations

import os

from traza.exceptions import invalid

ENABLE = "ENABLE_SYSTEM_METRICS_LOGGING"
SAMPLING_INTERVAL = "SYSTEM_METRICS_SAMPLING_INTERVAL"
SAMPLES_BEFORE_LOGGING = "SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING"
NODE_ID = "SYSTEM_METRICS_NODE_ID"

DEFAULT_SAMPLING_INTERVAL = 10.0
DEFAULT_SAMPLES_BEFORE_LOGGING = 1


def _raw(name: str) -> tuple[str, str] | None:
    for prefix in ("TRAZA_", "MLFLOW_"):
        value = os.environ.get(prefix + name)
        if value:
            return prefix + name, value
    return None


def _write(name: str, value: str | None) -> None:
    for prefix in ("TRAZA_", "MLFLOW_"):
        if value is None:
            os.environ.pop(prefix + name, None)
        else:
            os.environ[prefix + name] = value


def enable_system_metrics_logging() -> None:
    """Log system metrics for every run from now on (``start_run(log_system_metrics=False)``
    still opts a run out)."""
    _write(ENABLE, "true")


def disable_system_metrics_logging() -> None:
    """Stop logging system metrics by default (``start_run(log_system_metrics=True)`` still
    opts a run in)."""
    _write(ENABLE, "false")


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Sample every ``interval`` seconds (default 10); ``None`` restores the default."""
    if interval is not None and not float(interval) > 0:
        raise invalid(f"The system metrics sampling interval must be > 0 seconds, got {interval}.")
    _write(SAMPLING_INTERVAL, None if interval is None else str(float(interval)))


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """Average ``samples`` samples into each logged step (default 1); ``None`` restores it."""
    if samples is not None and (int(samples) != samples or samples < 1):
        raise invalid(f"Samples before logging must be a whole number >= 1, got {samples}.")
    _write(SAMPLES_BEFORE_LOGGING, None if samples is None else str(int(samples)))


def set_system_metrics_node_id(node_id: str | None) -> None:
    """Name this machine in the keys (``system/<node_id>/...``), for multi-node training."""
    _write(NODE_ID, None if node_id is None else str(node_id))


def logging_enabled() -> bool:
    """Whether runs log system metrics when ``start_run`` is not told either way."""
    found = _raw(ENABLE)
    if found is None:
        return False
    name, value = found
    if value.strip().lower() in ("true", "1"):
        return True
    if value.strip().lower() in ("false", "0"):
        return False
    raise invalid(f"{name}={value!r} is not a boolean: set it to true, false, 1 or 0.")


def sampling_interval() -> float:
    found = _raw(SAMPLING_INTERVAL)
    if found is None:
        return DEFAULT_SAMPLING_INTERVAL
    name, value = found
    try:
        interval = float(value)
    except ValueError:
        interval = 0.0
    if not interval > 0:
        raise invalid(f"{name}={value!r} is not a number of seconds > 0.")
    return interval


def samples_before_logging() -> int:
    found = _raw(SAMPLES_BEFORE_LOGGING)
    if found is None:
        return DEFAULT_SAMPLES_BEFORE_LOGGING
    name, value = found
    try:
        samples = int(value)
    except ValueError:
        samples = 0
    if samples < 1:
        raise invalid(f"{name}={value!r} is not a whole number >= 1.")
    return samples


def node_id() -> str | None:
    found = _raw(NODE_ID)
    return found[1] if found else None


__all__ = [
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
]
