"""Schema enforcement at predict time, by MLflow's rules.

Named columns must all be present (extra ones are dropped with a warning); each column is
converted only when no value can change: int→long, float→double, small ints→double, any
dtype→string for object columns. A mismatch raises an error naming the column, so a model never
silently scores data it was not trained on.
"""

from __future__ import annotations

import logging
from typing import Any

from traza.exceptions import TrazaException
from traza.models.params import ParamSchema, _param_value
from traza.models.schema import ColSpec, DataType, Schema, TensorSpec

_log = logging.getLogger(__name__)


def _error(message: str) -> TrazaException:
    return TrazaException(message, error_code="BAD_REQUEST")


def enforce_schema(data: Any, schema: Schema) -> Any:
    """``data`` checked and converted to what a model with input ``schema`` expects."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if schema.is_tensor_spec():
        return _enforce_tensors(data, schema)
    frame = _as_frame(data, np, pd)
    if _already_conforms(frame, schema, np):
        return frame
    if not schema.has_input_names():
        specs = [s for s in schema.inputs if isinstance(s, ColSpec)]
        if len(frame.columns) < len(specs):
            raise _error(
                f"Model inference is missing inputs: the signature declares {len(specs)} "
                f"unnamed inputs but the data has {len(frame.columns)} columns."
            )
        columns = {
            frame.columns[i]: _enforce_column(frame.columns[i], frame.iloc[:, i], spec, pd, np)
            for i, spec in enumerate(specs)
        }
        return pd.DataFrame(columns)
    required = [str(n) for n in schema.required_input_names()]
    optional = {str(n) for n in schema.optional_input_names()}
    present = {str(c) for c in frame.columns}
    if missing := [n for n in required if n not in present]:
        extra = [c for c in frame.columns if str(c) not in set(required) | optional]
        message = f"Model is missing inputs {missing}."
        if extra:
            message += f" Note that there were extra inputs: {extra}."
        raise _error(message)
    if extra := [c for c in frame.columns if str(c) not in set(required) | optional]:
        _log.warning("Ignoring inputs the model signature does not declare: %s", extra)
    out = {}
    for spec in schema.inputs:
        assert isinstance(spec, ColSpec) and spec.name is not None
        if spec.name in frame.columns:
            out[spec.name] = _enforce_column(spec.name, frame[spec.name], spec, pd, np)
    return pd.DataFrame(out, index=frame.index)


def _already_conforms(frame: Any, schema: Schema, np: Any) -> bool:
    """Exactly the signature's columns, in order, each of its exact numpy dtype: nothing to
    check or convert (the scoring server's parser builds such frames), so no copy is made."""
    names = schema.input_names() if schema.has_input_names() else None
    if names is not None and list(frame.columns) != names:
        return False
    if len(frame.columns) != len(schema.inputs):
        return False
    for spec, dtype in zip(schema.inputs, frame.dtypes, strict=True):
        t = spec.type
        if not isinstance(t, DataType) or t in (DataType.string, DataType.binary):
            return False
        if not isinstance(dtype, np.dtype) or dtype != t.to_numpy():
            return False
    return True


def _as_frame(data: Any, np: Any, pd: Any) -> Any:
    if isinstance(data, pd.DataFrame):
        return data
    try:
        if np.isscalar(data):
            return pd.DataFrame([data])
        if isinstance(data, dict):
            values = list(data.values())
            if all(np.isscalar(v) or v is None for v in values):
                return pd.DataFrame([data])
            return pd.DataFrame(
                {k: v.tolist() if getattr(v, "ndim", 1) > 1 else v for k, v in data.items()}
            )
        if isinstance(data, (list, np.ndarray)):
            return pd.DataFrame(data)
    except (ValueError, TypeError) as e:
        raise _error(
            f"The model has a column-based signature, so it takes tabular input; this "
            f"{type(data).__name__} could not be read as a DataFrame: {e}"
        ) from None
    raise _error(
        f"The model takes tabular input (a pandas DataFrame, a dict of columns, a list of rows "
        f"or a 2-D array); got {type(data).__name__}."
    )


def _enforce_column(name: Any, values: Any, spec: ColSpec, pd: Any, np: Any) -> Any:
    t = spec.type
    if not isinstance(t, DataType):
        return values  # arrays, objects, maps and 'any' are passed through as given
    if values.dtype == object and t not in (DataType.string, DataType.binary):
        values = values.infer_objects()
    is_text = values.dtype == object or isinstance(values.dtype, pd.StringDtype)
    if t in (DataType.string, DataType.binary) and is_text:
        return values
    if t == DataType.boolean and values.dtype == object:
        return values
    target = t.to_numpy()
    if values.dtype == target or values.dtype == t.to_pandas():
        return values
    if t == DataType.binary and values.dtype.kind == "S":
        return values
    if t == DataType.datetime and (values.dtype.kind == "M" or values.dtype == object):
        try:
            return values.astype("datetime64[ns]")
        except (TypeError, ValueError) as e:
            raise _error(f"Cannot read column {name!r} as datetime: {e}") from None
    kind, size = values.dtype.kind, getattr(values.dtype, "itemsize", 0)
    if not isinstance(values.dtype, np.dtype):
        widening = False  # pandas extension dtypes (strings, nullable ints) are not converted
    elif kind == target.kind:
        widening = size <= target.itemsize
    elif kind == "u" and target.kind == "i":
        widening = size < target.itemsize
    elif kind in "iu" and target == np.float64:
        widening = size <= 6 or values.dtype == np.int64  # int64 → double, as MLflow allows
    else:
        widening = False
    if widening:
        return values.astype(target)
    hint = ""
    if kind == "f" and target.kind in "iu" and values.hasnans:
        hint = (
            " The column has missing values, which pandas stores as floats in an integer "
            "column; declare the column as double in the signature if it can be missing."
        )
    raise _error(
        f"Incompatible input types for column {name}. "
        f"Can not safely convert {values.dtype} to {target}.{hint}"
    )


def _enforce_tensors(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    specs = [s for s in schema.inputs if isinstance(s, TensorSpec)]
    if schema.has_input_names():
        if not isinstance(data, dict):
            if len(specs) == 1 and isinstance(data, np.ndarray):
                return {specs[0].name: _enforce_tensor(specs[0].name, data, specs[0], np)}
            if isinstance(data, pd.DataFrame):
                data = {c: data[c].to_numpy() for c in data.columns}
            else:
                raise _error(
                    "The model takes named tensors: give a dict of name → array, "
                    f"got {type(data).__name__}."
                )
        if missing := [s.name for s in specs if s.name not in data]:
            raise _error(f"Model is missing inputs {missing}.")
        return {s.name: _enforce_tensor(s.name, np.asarray(data[s.name]), s, np) for s in specs}
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    elif not isinstance(data, np.ndarray):
        data = np.asarray(data)
    return _enforce_tensor("input", data, specs[0], np)


def _enforce_tensor(name: Any, array: Any, spec: TensorSpec, np: Any) -> Any:
    expected = spec.type
    if array.dtype != expected:
        if array.dtype.kind in "iuf" and np.can_cast(array.dtype, expected, casting="safe"):
            array = array.astype(expected)
        else:
            raise _error(
                f"dtype of input {array.dtype} does not match expected dtype {expected} for "
                f"input {name!r}."
            )
    shape = tuple(spec.shape)
    if len(shape) != array.ndim or any(
        s != -1 and s != a for s, a in zip(shape, array.shape, strict=True)
    ):
        raise _error(
            f"Shape of input {array.shape} does not match expected shape {shape} for "
            f"input {name!r}."
        )
    return array


def enforce_params(params: dict[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any]:
    """Inference params checked against the signature's; defaults fill what is not given."""
    if schema is None:
        if params:
            _log.warning("Ignoring params %s: the model signature declares none.", list(params))
        return {}
    given = dict(params or {})
    out = {}
    for spec in schema:
        if spec.name in given:
            value = given.pop(spec.name)
            out[spec.name] = (
                [_param_value(v, spec.dtype, spec.name) for v in value]
                if spec.shape == (-1,) and isinstance(value, list)
                else _param_value(value, spec.dtype, spec.name)
            )
        else:
            out[spec.name] = spec.default
    if given:
        _log.warning("Ignoring params the model signature does not declare: %s", list(given))
    return out
