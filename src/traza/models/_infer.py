"""Schema inference from example data, following MLflow's rules.

numpy and pandas are never imported here just to check a type: a value can only be a numpy or
pandas object if that library is already loaded, so ``sys.modules`` is consulted instead.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from copy import deepcopy
from typing import Any

from traza.exceptions import TrazaException
from traza.models.params import ParamSchema, ParamSpec
from traza.models.schema import (
    AnyType,
    Array,
    ColSpec,
    ColType,
    DataType,
    Object,
    Property,
    Schema,
    TensorSpec,
    merge_types,
)

SUPPORTED_INPUTS = (
    "pandas.DataFrame, pandas.Series, numpy.ndarray, dict of {name: numpy.ndarray}, "
    "a scalar, a list of scalars, a dict of {str: scalar | list | dict}, or a list of such dicts"
)

_PY_SCALARS = {
    bool: DataType.boolean,
    int: DataType.long,
    float: DataType.double,
    str: DataType.string,
    bytes: DataType.binary,
    bytearray: DataType.binary,
}
# numpy scalar type names MLflow maps; other numpy scalars (int8, uint16, ...) it refuses.
_NP_SCALARS = {
    "bool": DataType.boolean,
    "bool_": DataType.boolean,
    "int64": DataType.long,
    "int32": DataType.integer,
    "float64": DataType.double,
    "float32": DataType.float,
    "str_": DataType.string,
    "bytes_": DataType.binary,
}


def _np() -> Any:
    return sys.modules.get("numpy")


def _pd() -> Any:
    return sys.modules.get("pandas")


def _is_ndarray(x: Any) -> bool:
    np = _np()
    return np is not None and isinstance(x, np.ndarray)


def _is_missing(x: Any) -> bool:
    if isinstance(x, float):
        return math.isnan(x)
    pd = _pd()
    return x is None or (pd is not None and (x is pd.NA or x is pd.NaT))


def datatype_from_numpy(dtype: Any) -> DataType:
    """The column type of a numpy dtype (or pandas extension dtype), by kind and size."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return DataType.boolean
    if kind in "iu":
        if size < 4 or (kind == "i" and size == 4):
            return DataType.integer
        if size < 8 or (kind == "i" and size == 8):
            return DataType.long
    elif kind == "f":
        if size <= 4:
            return DataType.float
        if size <= 8:
            return DataType.double
    elif kind == "U":
        return DataType.string
    elif kind == "S":
        return DataType.binary
    elif kind == "M":
        return DataType.datetime
    raise TrazaException.invalid_parameter_value(
        f"Unsupported numpy data type '{dtype}', kind '{kind}'"
    )


def _scalar_type(x: Any) -> DataType:
    t = type(x)
    if t in _PY_SCALARS:
        return _PY_SCALARS[t]
    if t.__module__ == "numpy" and t.__name__ in _NP_SCALARS:
        return _NP_SCALARS[t.__name__]
    # Exact types only, as MLflow: pandas.Timestamp is not accepted as a scalar.
    if t in (dt.date, dt.datetime) or (t.__module__ == "numpy" and t.__name__ == "datetime64"):
        return DataType.datetime
    raise TrazaException.invalid_parameter_value(
        f"Data {x!r} of type {t.__name__} is not one of the supported DataType"
    )


def infer_type(x: Any) -> ColType | None:
    """The type of one JSON-like value; None for an empty numpy array (undetermined)."""
    if _is_missing(x) or (isinstance(x, (list, dict)) and not x):
        return AnyType()
    if isinstance(x, dict):
        props = []
        for k, v in x.items():
            t = infer_type(v)
            if t is None:
                raise TrazaException("Dictionary value must not be an empty numpy array.")
            props.append(Property(k, t, required=not isinstance(t, AnyType)))
        return Object(props)
    if isinstance(x, list) or _is_ndarray(x):
        result: ColType | None = None
        for item in x:
            t = infer_type(item)
            if t is None:
                continue
            try:
                result = t if result is None else merge_types(result, t)
            except TrazaException as e:
                raise TrazaException.invalid_parameter_value(
                    "Expected all values in the list to be of the same type, got "
                    f"{result!r} and {t!r}. Declare a list of mixed values in the signature "
                    "by hand, with Array(AnyType())."
                ) from e
        return None if result is None else Array(result)
    return _scalar_type(x)


def _colspec_type(x: Any) -> ColType:
    t = infer_type(x)
    if t is None:
        raise TrazaException(f"Numpy array must include at least one non-empty item, got {x!r}.")
    return t


def _required(x: Any) -> bool:
    pd = _pd()
    if isinstance(x, list) or (pd is not None and isinstance(x, pd.Series)):
        return not any(_is_missing(v) for v in x)
    return not _is_missing(x)


def _pandas_column_type(col: Any) -> ColType:
    if col.ndim > 1 or len(col.values.shape) > 1:
        raise TrazaException(f"Expected 1d array, got array with shape {col.shape}")
    if col.dtype.kind == "O":
        col = col.infer_objects()
    if col.dtype.kind != "O":
        return datatype_from_numpy(col.dtype)
    try:
        t = _colspec_type(col.to_list())
        assert isinstance(t, Array)
        return t.dtype
    except Exception as e:
        pd = _pd()
        if pd.api.types.is_string_dtype(col):
            return DataType.string
        raise TrazaException(f"Failed to infer schema for pandas.Series {col.name!r}: {e}") from e


def _tensor(array: Any, name: str | None = None) -> TensorSpec:
    if array.ndim == 0:
        raise TrazaException(
            "The specified variable_dimension 0 is out of bounds with respect to the number "
            "of dimensions 0 in the input dataset"
        )
    kind = array.dtype.kind
    dtype = "str" if kind == "U" else "bytes" if kind == "S" else array.dtype
    return TensorSpec(dtype, (-1, *array.shape[1:]), name)


def infer_schema(data: Any) -> Schema:
    """The schema MLflow infers for ``data``; raises TrazaException for anything else."""
    pd = _pd()
    if isinstance(data, list) and not data:
        # MLflow keeps its pre-2.9 answer for an empty list.
        return Schema([ColSpec(DataType.string)])
    if isinstance(data, list) and all(isinstance(v, dict) for v in data):
        columns: dict[Any, list[Any]] = {}
        for row in data:
            for k, v in row.items():
                columns.setdefault(k, []).append(v)
        return Schema(
            [
                ColSpec(
                    _array_item(_colspec_type(values)),
                    name=k,
                    required=all(row.get(k) is not None for row in data),
                )
                for k, values in columns.items()
            ]
        )
    if isinstance(data, dict):
        if data and all(_is_ndarray(v) for v in data.values()):
            return Schema([_tensor(v, name) for name, v in data.items()])
        if any(not isinstance(k, str) for k in data):
            raise TrazaException.invalid_parameter_value("The dictionary keys are not all strings.")
        if not data:
            raise TrazaException.invalid_parameter_value(
                "Cannot infer a schema from an empty dict."
            )
        return Schema(
            [ColSpec(_colspec_type(v), name=k, required=_required(v)) for k, v in data.items()]
        )
    if pd is not None and isinstance(data, pd.Series):
        return Schema([ColSpec(_pandas_column_type(data), data.name, _required(data))])
    if pd is not None and isinstance(data, pd.DataFrame):
        return Schema(
            [ColSpec(_pandas_column_type(data[c]), c, _required(data[c])) for c in data.columns]
        )
    if _is_ndarray(data):
        return Schema([_tensor(data)])
    if isinstance(data, list):
        return Schema([ColSpec(_array_item(_colspec_type(data)))])
    try:
        return Schema([ColSpec(_colspec_type(data))])
    except TrazaException as e:
        raise TrazaException.invalid_parameter_value(
            f"Cannot infer a schema from {type(data).__name__} {data!r:.200}: expected "
            f"{SUPPORTED_INPUTS}. ({e.message})"
        ) from e


def _array_item(t: ColType) -> ColType:
    return t.dtype if isinstance(t, Array) else t


def _param_type_and_shape(value: Any) -> tuple[DataType | Object, tuple[int, ...] | None]:
    if isinstance(value, list) or _is_ndarray(value):
        depth = _depth(value)
        if depth != 1:
            raise TrazaException.invalid_parameter_value(
                f"Expected parameters to be 1D array or scalar, got {depth}D array"
            )
        if all(type(v) in (dt.date, dt.datetime) for v in value):
            return DataType.datetime, (-1,)
        import numpy as np

        return datatype_from_numpy(np.array(value).dtype), (-1,)
    if type(value) in (dt.date, dt.datetime):
        return DataType.datetime, None
    if isinstance(value, dict):
        t = infer_schema({"value": value}).inputs[0].type
        assert isinstance(t, Object)
        return t, None
    if type(value).__module__ == "numpy" and hasattr(value, "dtype"):
        return datatype_from_numpy(value.dtype), None
    if type(value) in (bool, int, float, str, bytes):
        if type(value) is int and not -(2**63) <= value < 2**63:
            raise TrazaException.invalid_parameter_value(f"Integer {value} does not fit in int64")
        return _PY_SCALARS[type(value)], None
    raise TrazaException.invalid_parameter_value(
        f"Expected parameters to be 1D array or scalar, got {type(value).__name__}"
    )


def _depth(x: Any) -> int:
    if _is_ndarray(x):
        return int(x.ndim)
    if isinstance(x, list):
        return max((_depth(v) for v in x), default=0) + 1
    return 0


def infer_param_schema(params: dict[str, Any]) -> ParamSchema:
    """One ParamSpec per parameter, its default a copy of the given value."""
    if not isinstance(params, dict):
        raise TrazaException.invalid_parameter_value(
            f"Expected parameters to be dict, got {type(params).__name__}"
        )
    specs, invalid = [], []
    for name, value in params.items():
        try:
            dtype, shape = _param_type_and_shape(value)
            specs.append(ParamSpec(name, dtype, deepcopy(value), shape))
        except TrazaException as e:
            invalid.append(f"{name!r}: {e.message}")
    if invalid:
        raise TrazaException.invalid_parameter_value(
            "Failed to infer schema for parameters: " + "; ".join(invalid)
        )
    return ParamSchema(specs)
