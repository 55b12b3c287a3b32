"""Input examples: ``input_example.json`` and ``serving_input_example.json`` as MLflow 3 saves them.

The serving example is the request body ``/invocations`` takes, so a saved model documents
how to call its scoring server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from traza.exceptions import invalid

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"


def _jsonable(value: Any) -> Any:
    """Plain JSON values for numpy scalars/arrays and nested containers."""
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    return value


def _frame_split(frame: Any) -> dict[str, Any]:
    """Pandas' split orient with every digit kept (``to_json`` rounds to 10 digits)."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind == "M":
            columns.append(
                [None if v is None else v.isoformat() for v in column.dt.to_pydatetime()]
            )
        else:
            columns.append([_jsonable(v) for v in column.tolist()])
    rows = [list(r) for r in zip(*columns, strict=True)]
    return {"columns": [str(c) for c in frame.columns], "data": rows}


def save_input_example(directory: Path, example: Any) -> dict[str, Any]:
    """Write both example files; returns the MLmodel ``saved_input_example_info`` mapping."""
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    info: dict[str, Any] = {"artifact_path": EXAMPLE_FILE}
    if pd is not None and isinstance(example, pd.Series):
        example = example.to_frame()
    if pd is not None and isinstance(example, pd.DataFrame):
        data: Any = _frame_split(example)
        serving: Any = {"dataframe_split": data}
        info.update(type="dataframe", pandas_orient="split")
    elif np is not None and (
        isinstance(example, np.ndarray)
        or (
            isinstance(example, dict)
            and example
            and all(isinstance(v, np.ndarray) for v in example.values())
        )
    ):
        data = _jsonable(example)
        serving = {"inputs": data}
        info["type"] = "ndarray"
    elif isinstance(example, (dict, list, str, int, float, bool)):
        data = _jsonable(example)
        serving = {"inputs": data}
        info["type"] = "json_object"
    else:
        raise invalid(
            f"Cannot save an input example of type {type(example).__name__}: give a pandas "
            "DataFrame or Series, a numpy array, a dict of numpy arrays, or JSON-like data "
            "(dict, list, scalar)."
        )
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    (directory / EXAMPLE_FILE).write_text(json.dumps(data), encoding="utf-8")
    (directory / SERVING_EXAMPLE_FILE).write_text(json.dumps(serving, indent=2), encoding="utf-8")
    return info


def load_input_example(directory: Path, info: dict[str, Any] | None) -> Any:
    """The example saved by :func:`save_input_example` (or MLflow), rebuilt as its type."""
    if not info or "artifact_path" not in info:
        return None
    data = json.loads((directory / info["artifact_path"]).read_text(encoding="utf-8"))
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        return pd.DataFrame(data["data"], columns=data["columns"])
    if kind == "ndarray":
        import numpy as np

        if isinstance(data, dict):
            return {k: np.asarray(v) for k, v in data.items()}
        return np.asarray(data)
    return data
