"""Inference parameters of a model (``ParamSpec``, ``ParamSchema``) in MLflow's JSON shape."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from traza.models.schema import (
    OBJECT_TYPE,
    DataType,
    Object,
    _data_type,
    _invalid,
    _type_from_dict,
    _type_to_dict,
)

_PARAM_CONVERSIONS = {
    DataType.long: (int,),
    DataType.integer: (int,),
    DataType.float: (int, float),
    DataType.double: (int, float),
}


def _param_value(value: Any, dtype: DataType | Object, spec: str) -> Any:
    """``value`` as the Python value a parameter of ``dtype`` holds, or an error naming ``spec``.

    Like MLflow: numpy scalars become Python ones, ints widen to floats, and datetimes are read
    from ISO strings (an MLmodel file stores them that way).
    """
    if value is None or isinstance(dtype, Object):
        return value
    if dtype == DataType.datetime:
        if isinstance(value, (dt.date, dt.datetime)):
            return value
        if isinstance(value, str):
            try:
                if "T" in value or " " in value or ":" in value:
                    return dt.datetime.fromisoformat(value)
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        if type(value).__name__ == "datetime64":
            return value.item()
        raise _invalid(f"Failed to convert value `{value}` to `datetime` for param {spec}")
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    allowed = _PARAM_CONVERSIONS.get(dtype, (dtype.to_python(),))
    if isinstance(value, bool) and dtype != DataType.boolean:
        allowed = ()
    if not isinstance(value, allowed):
        raise _invalid(
            f"Failed to validate type and shape for {spec}, error: Can't convert value "
            f"{value!r} with type {type(value).__name__} to {dtype.name}"
        )
    return dtype.to_python()(value)


class ParamSpec:
    """An inference parameter: name, type, default, and shape (None for a scalar, ``(-1,)``
    for a 1-D list)."""

    def __init__(
        self,
        name: str,
        dtype: DataType | Object | str,
        default: Any,
        shape: tuple[int, ...] | list[int] | None = None,
    ) -> None:
        self.name = str(name)
        self.shape = tuple(shape) if shape is not None else None
        self.dtype: DataType | Object = dtype if isinstance(dtype, Object) else _data_type(dtype)
        if self.dtype == DataType.binary:
            raise _invalid(
                f"Binary type is not supported for parameters, ParamSpec '{self.name}'"
                "has dtype 'binary'"
            )
        spec = f"{self.name!r}: {self.dtype!r}"
        if self.shape is None:
            if isinstance(default, (list, tuple)) or type(default).__name__ == "ndarray":
                raise _invalid(f"Default for scalar param {spec} must be a scalar, got {default!r}")
            self.default = _param_value(default, self.dtype, spec)
        elif self.shape == (-1,):
            if not isinstance(default, (list, tuple)) and type(default).__name__ != "ndarray":
                raise _invalid(
                    f"Value must be a 1D array with shape (-1,) for param {spec}, "
                    f"received {type(default).__name__}"
                )
            self.default = [_param_value(v, self.dtype, spec) for v in default]
        else:
            raise _invalid(
                "Shape must be None for scalar or dictionary value, or (-1,) for 1D array value "
                f"for ParamSpec {spec}), received {self.shape}"
            )

    def to_dict(self) -> dict[str, Any]:
        default = self.default
        if self.dtype == DataType.datetime and default is not None:
            default = [v.isoformat() for v in default] if self.shape else default.isoformat()
        d: dict[str, Any] = {"name": self.name, "default": default, "shape": self.shape}
        d.update(_type_to_dict(self.dtype))
        return d

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> ParamSpec:
        dtype = kwargs.get("type") or kwargs.get("dtype")
        if "name" not in kwargs or "default" not in kwargs or dtype is None:
            raise _invalid(
                "Missing keys in ParamSpec JSON. Expected to find keys `name`, `type`(or `dtype`) "
                f"and `default`. Received keys: {sorted(kwargs)}"
            )
        parsed = _type_from_dict(kwargs) if dtype == OBJECT_TYPE else _data_type(dtype)
        if not isinstance(parsed, (DataType, Object)):
            raise _invalid(f"Unsupported parameter type {dtype!r}")
        return cls(str(kwargs["name"]), parsed, kwargs["default"], kwargs.get("shape"))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ParamSpec)
            and self.name == other.name
            and self.dtype == other.dtype
            and self.default == other.default
            and self.shape == other.shape
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shape = f" (shape: {self.shape})" if self.shape is not None else ""
        return f"{self.name!r}: {self.dtype!r} (default: {self.default}){shape}"


class ParamSchema:
    """The parameters a model accepts at inference, each named once."""

    def __init__(self, params: list[ParamSpec]) -> None:
        if not all(isinstance(x, ParamSpec) for x in params):
            raise _invalid("ParamSchema inputs only accept ParamSpec")
        names = [p.name for p in params]
        if duplicates := [n for i, n in enumerate(names) if n in names[:i]]:
            raise _invalid(f"Duplicated parameters found in schema: {duplicates}")
        self.params = list(params)

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.params)

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, json_str: str) -> ParamSchema:
        return cls([ParamSpec.from_json_dict(**x) for x in json.loads(json_str)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.params == other.params

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.params)
