"""Predictions to the JSON MLflow's scoring server answers with: ``{"predictions": ...}``.

Arrays become (nested) lists, DataFrames a list of records, a Series the records of a
one-column frame, numpy scalars plain numbers, bytes base64 text, dates ISO 8601 text. Arrays
go through ``tolist`` (float32 widened to Python floats, as in MLflow) so both print the same
digits; orjson then writes the lists.
Non-finite floats are written as ``NaN``/``Infinity``, as Python's ``json`` (MLflow's encoder)
writes them, not as ``null``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def predictions_json(raw: Any) -> bytes:
    """The response body for ``raw`` predictions."""
    try:
        return orjson.dumps({"predictions": jsonable(raw)}, default=_default, option=_OPTIONS)
    except _NonFinite:
        return json.dumps({"predictions": _plain(raw)}, allow_nan=True).encode()


def jsonable(raw: Any) -> Any:
    """MLflow's conversion before encoding: frames and series to records, arrays to lists
    (nested values are converted by the encoder), anything else unchanged."""
    import sys

    np = sys.modules.get("numpy")
    if np is not None and isinstance(raw, np.ndarray):
        return _array(raw)
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(raw, pd.Series):
            raw = pd.DataFrame(raw)
        if isinstance(raw, pd.DataFrame):
            floats = raw.select_dtypes(include="floating")
            if floats.size and not _finite(floats.to_numpy(dtype="float64")):
                raise _NonFinite
            return raw.to_dict(orient="records")
    return raw


def _finite(values: Any) -> bool:
    import numpy as np

    return bool(np.isfinite(values).all())


class _NonFinite(Exception):
    """Predictions holding NaN or infinity: written by ``json`` instead (orjson writes null)."""


def _array(o: Any) -> Any:
    import numpy as np

    if o.dtype.kind == "f" and o.size and not _finite(o):
        raise _NonFinite
    if o.dtype == object:
        return [_default(x) if _needs_default(x) else x for x in o.tolist()]
    if o.dtype.kind == "S":
        return np.vectorize(_bytes, otypes=[object])(o).tolist()
    return o.tolist()


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.ndarray):
        return _array(o)
    if isinstance(o, np.generic):
        item = o.item()
        if isinstance(item, float) and not math.isfinite(item):
            raise _NonFinite
        return _bytes(item) if isinstance(item, bytes) else item
    if isinstance(o, (bytes, bytearray)):
        return _bytes(bytes(o))
    if isinstance(o, (dt.date, dt.time)) or hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(f"Type is not JSON serializable: {type(o).__name__}")


def _needs_default(x: Any) -> bool:
    return not isinstance(x, (str, int, float, bool, type(None), list, dict))


def _bytes(value: bytes) -> str:
    return base64.encodebytes(value).decode("ascii")


def _plain(value: Any) -> Any:
    """``value`` with numpy, pandas and bytes turned into plain Python, for ``json``."""
    import sys

    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.Series):
        value = pd.DataFrame(value)
    if pd is not None and isinstance(value, pd.DataFrame):
        return _plain(value.to_dict(orient="records"))
    if np is not None and isinstance(value, np.ndarray):
        return _plain(value.tolist() if value.dtype.kind in "fiub" else list(value))
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if np is not None and isinstance(value, np.generic):
        return _plain(value.item())
    return _plain(_default(value))
