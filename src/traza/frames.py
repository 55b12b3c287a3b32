"""Runs as a pandas DataFrame in ``mlflow.search_runs``' layout (pandas imported on use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from traza.entities import Run
from traza.exceptions import TrazaException


def runs_to_dataframe(runs: Sequence[Run]) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise TrazaException(
            "search_runs returns a pandas DataFrame by default and pandas is not installed: "
            "pip install pandas, or pass output_format='list'.",
            error_code="INVALID_PARAMETER_VALUE",
        ) from None
    n = len(runs)
    data: dict[str, list[Any]] = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [r.info.status for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
        "start_time": [r.info.start_time for r in runs],
        "end_time": [r.info.end_time for r in runs],
    }
    metrics: dict[str, list[Any]] = {}
    params: dict[str, list[Any]] = {}
    tags: dict[str, list[Any]] = {}
    for i, run in enumerate(runs):
        for columns, values in (
            (metrics, run.data.metrics),
            (params, run.data.params),
            (tags, run.data.tags),
        ):
            for key, value in values.items():
                columns.setdefault(key, [None] * n)[i] = value
    frame = pd.DataFrame(data)
    for name in ("start_time", "end_time"):
        frame[name] = pd.to_datetime(frame[name], unit="ms", utc=True)
    extra: dict[str, Any] = {}
    for key, cells in metrics.items():
        extra[f"metrics.{key}"] = pd.Series(cells, dtype="float64")
    for prefix, table in (("params", params), ("tags", tags)):
        for key, cells in table.items():
            extra[f"{prefix}.{key}"] = pd.Series(cells, dtype="object")
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra)], axis=1)
    return frame
