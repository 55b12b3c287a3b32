"""Schemas of model inputs, outputs and parameters, in MLflow's MLmodel JSON shape.

These are the types behind ``mlflow.types`` (``DataType``, ``ColSpec``, ``TensorSpec``, ``Schema``
and the nested ``Array``/``Object``/``Map``/``AnyType``; parameters are in ``params.py``).
Their ``to_dict``/``to_json`` output matches MLflow's byte for byte, so a signature written by
either tool reads back equal in the other. Nothing here imports numpy or pandas at import time:
tensor dtypes are kept as numpy's dtype *name* (``"float64"``) and converted only on request.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from enum import Enum
from typing import Any

from traza.exceptions import TrazaException

ARRAY_TYPE = "array"
OBJECT_TYPE = "object"
MAP_TYPE = "map"
ANY_TYPE = "any"
SPARKML_VECTOR_TYPE = "sparkml_vector"


def _invalid(message: str) -> TrazaException:
    return TrazaException.invalid_parameter_value(message)


class DataType(Enum):
    """Column data types; the member *name* is what the MLmodel file stores."""

    boolean = 1
    integer = 2
    long = 3
    float = 4
    double = 5
    string = 6
    binary = 7
    datetime = 8

    def __repr__(self) -> str:
        return self.name

    def to_numpy(self) -> Any:
        """The equivalent numpy dtype (imports numpy)."""
        import numpy as np

        return np.dtype(_NUMPY_NAMES[self.name])

    def to_pandas(self) -> Any:
        """The equivalent pandas column dtype: ``object`` for strings and bytes."""
        if self in (DataType.string, DataType.binary):
            return object
        return self.to_numpy()

    def to_python(self) -> type:
        """The Python type values of this column convert to."""
        return _PYTHON_TYPES[self.name]

    @classmethod
    def all_types(cls) -> list[DataType]:
        return list(cls)


_NUMPY_NAMES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "str",
    "binary": "bytes",
    "datetime": "datetime64[ns]",
}
_PYTHON_TYPES: dict[str, type] = {
    "boolean": bool,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
    "binary": bytes,
    "datetime": dt.date,
}


def _data_type(value: DataType | str) -> DataType:
    if isinstance(value, DataType):
        return value
    try:
        return DataType[value]
    except KeyError:
        raise TrazaException(
            f"Unsupported type '{value}', expected instance of DataType or "
            f"one of {[t.name for t in DataType]}"
        ) from None


class AnyType:
    """Any JSON-serializable value, including None; nothing is validated against it."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnyType)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Any"

    def to_dict(self) -> dict[str, Any]:
        return {"type": ANY_TYPE}


class Array:
    """A JSON array whose items all have ``dtype``."""

    def __init__(self, dtype: ColType | str) -> None:
        self.dtype: ColType = _col_type(dtype)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Array) and self.dtype == other.dtype

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Array({self.dtype!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": ARRAY_TYPE, "items": _type_to_dict(self.dtype)}


class Map:
    """A JSON object with string keys and values of ``value_type``."""

    def __init__(self, value_type: ColType | str) -> None:
        self.value_type: ColType = _col_type(value_type)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Map) and self.value_type == other.value_type

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Map(str -> {self.value_type})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": MAP_TYPE, "values": _type_to_dict(self.value_type)}


class Property:
    """One named field of an :class:`Object`."""

    def __init__(self, name: str, dtype: ColType | str, required: bool = True) -> None:
        if not isinstance(name, str):
            raise _invalid(f"Expected name to be a string, got type {type(name).__name__}")
        self.name = name
        self.dtype: ColType = _col_type(dtype)
        self.required = required

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Property)
            and self.name == other.name
            and self.dtype == other.dtype
            and self.required == other.required
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{self.name}: {self.dtype!r} ({'required' if self.required else 'optional'})"

    def to_dict(self) -> dict[str, Any]:
        d = _type_to_dict(self.dtype)
        d["required"] = self.required
        return {self.name: d}


class Object:
    """A JSON object with named, typed properties (kept sorted by name, as MLflow does)."""

    def __init__(self, properties: list[Property]) -> None:
        if not isinstance(properties, list) or not properties:
            raise _invalid("Creating Object with empty properties is not allowed.")
        if any(not isinstance(p, Property) for p in properties):
            raise _invalid("Expected values to be instance of Property")
        names = [p.name for p in properties]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise _invalid(f"Found duplicated property names: `{', '.join(duplicates)}`")
        self.properties = sorted(properties, key=lambda p: p.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Object) and self.properties == other.properties

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "{" + ", ".join(map(repr, self.properties)) + "}"

    def to_dict(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for prop in self.properties:
            properties.update(prop.to_dict())
        return {"type": OBJECT_TYPE, "properties": properties}


ColType = DataType | Array | Object | Map | AnyType


def _col_type(value: Any) -> ColType:
    if isinstance(value, str):
        return _data_type(value)
    if not isinstance(value, (DataType, Array, Object, Map, AnyType)):
        raise TypeError(
            f"Expected a DataType, Array, Object, Map, AnyType or a type name, but got {value!r}"
        )
    return value


def _type_to_dict(value: ColType) -> dict[str, Any]:
    return {"type": value.name} if isinstance(value, DataType) else value.to_dict()


def _type_from_dict(d: dict[str, Any]) -> ColType:
    """Read a type written by :func:`_type_to_dict` (``required`` and ``name`` are ignored)."""
    if not isinstance(d, dict) or "type" not in d:
        raise TrazaException(f"Expected a type dictionary with key `type`, got {d!r}")
    kind = d["type"]
    if kind == ARRAY_TYPE:
        return Array(_type_from_dict(d["items"]))
    if kind == MAP_TYPE:
        return Map(_type_from_dict(d["values"]))
    if kind == OBJECT_TYPE:
        props = d.get("properties")
        if not isinstance(props, dict):
            raise TrazaException("Expected properties to be a dictionary of Property JSON")
        return Object(
            [
                Property(name, _type_from_dict(p), p.get("required", True))
                for name, p in props.items()
            ]
        )
    if kind == ANY_TYPE:
        return AnyType()
    if kind == SPARKML_VECTOR_TYPE:
        raise TrazaException("Spark ML vector columns are not supported by Traza")
    return _data_type(kind)


def merge_types(a: ColType, b: ColType) -> ColType:
    """The type that covers values of both ``a`` and ``b``, as MLflow merges list items.

    ``AnyType`` (from None or an empty container) merges into anything; objects with different
    keys merge into one whose unshared properties are optional. Anything else must be equal.
    """
    if isinstance(a, AnyType):
        return _optional(b) if not isinstance(b, (DataType, AnyType)) else b
    if isinstance(b, AnyType):
        return _optional(a)
    if isinstance(a, DataType) or isinstance(b, DataType):
        if a == b:
            return a
        raise TrazaException(f"Types are incompatible: {a!r} and {b!r}")
    if isinstance(a, Array) and isinstance(b, Array):
        return Array(merge_types(a.dtype, b.dtype))
    if isinstance(a, Map) and isinstance(b, Map):
        return Map(merge_types(a.value_type, b.value_type))
    if isinstance(a, Object) and isinstance(b, Object):
        pa = {p.name: p for p in a.properties}
        pb = {p.name: p for p in b.properties}
        merged = [
            Property(n, p.dtype, False)
            for n, p in {**pb, **pa}.items()
            if n not in pa or n not in pb
        ]
        merged += [
            Property(n, merge_types(pa[n].dtype, pb[n].dtype), pa[n].required and pb[n].required)
            for n in pa.keys() & pb.keys()
        ]
        return Object(merged)
    raise TrazaException(f"Types are incompatible: {a!r} and {b!r}")


def _optional(t: ColType) -> ColType:
    """``t`` merged with a missing value: an object's properties all become optional."""
    if isinstance(t, Object):
        return Object([Property(p.name, p.dtype, False) for p in t.properties])
    return t


class ColSpec:
    """One column of a tabular input or output: its type, optional name and whether required."""

    def __init__(self, type: ColType | str, name: str | None = None, required: bool = True) -> None:
        self.type: ColType = _col_type(type)
        self.name = name
        self.required = required

    def to_dict(self) -> dict[str, Any]:
        d = _type_to_dict(self.type)
        if self.name is not None:
            d["name"] = self.name
        d["required"] = self.required
        return d

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> ColSpec:
        if "type" not in kwargs:
            raise TrazaException("Missing keys in ColSpec JSON. Expected to find key `type`")
        return cls(_type_from_dict(kwargs), kwargs.get("name"), kwargs.get("required", True))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ColSpec)
            and self.name == other.name
            and self.type == other.type
            and self.required == other.required
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        required = "required" if self.required else "optional"
        if self.name is None:
            return f"{self.type!r} ({required})"
        return f"{self.name!r}: {self.type!r} ({required})"


_SIZED_FLEXIBLE = re.compile(r"^(str|bytes)\d+$")


def _dtype_name(dtype: Any) -> str:
    """numpy's name for ``dtype`` (a name, numpy dtype or scalar type), with the size stripped
    from strings and bytes as MLflow does when it infers; explicit sizes are refused."""
    if isinstance(dtype, str) and dtype.isidentifier() and not _SIZED_FLEXIBLE.match(dtype):
        return dtype
    import numpy as np

    name = str(np.dtype(dtype).name)
    if _SIZED_FLEXIBLE.match(name):
        raise TrazaException(
            "MLflow does not support size information in flexible numpy data types. Use"
            f' np.dtype("{name.rstrip("0123456789")}") instead'
        )
    return name


class TensorSpec:
    """One tensor input or output: numpy dtype, shape (``-1`` for a variable dimension), name.

    ``dtype`` may be a numpy dtype or its name; it is stored as the name, and ``type`` gives
    the numpy dtype back (importing numpy).
    """

    def __init__(
        self, dtype: Any, shape: tuple[int, ...] | list[int], name: str | None = None
    ) -> None:
        if not isinstance(shape, (tuple, list)):
            raise TypeError(f"Expected `shape` to be a tuple or list, received {type(shape)}")
        self.dtype_name = _dtype_name(dtype)
        self.shape = tuple(shape)
        self.name = name

    @property
    def type(self) -> Any:
        import numpy as np

        return np.dtype(self.dtype_name)

    @property
    def required(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        spec = {"dtype": self.dtype_name, "shape": self.shape}
        if self.name is None:
            return {"type": "tensor", "tensor-spec": spec}
        return {"name": self.name, "type": "tensor", "tensor-spec": spec}

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> TensorSpec:
        spec = kwargs.get("tensor-spec")
        if kwargs.get("type") != "tensor" or not isinstance(spec, dict):
            raise TrazaException(
                "Missing keys in TensorSpec JSON. Expected `type: tensor` and `tensor-spec`"
            )
        if not {"dtype", "shape"} <= spec.keys():
            raise TrazaException(
                "Missing keys in TensorSpec JSON. Expected to find keys `dtype` and `shape`"
            )
        return cls(spec["dtype"], tuple(spec["shape"]), kwargs.get("name"))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TensorSpec)
            and self.name == other.name
            and self.dtype_name == other.dtype_name
            and self.shape == other.shape
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        info = f"Tensor({self.dtype_name!r}, {self.shape!r})"
        return info if self.name is None else f"{self.name!r}: {info}"


class Schema:
    """A dataset's description: all :class:`ColSpec` or all :class:`TensorSpec`, all named or
    all unnamed (unnamed columns are addressed by position)."""

    def __init__(self, inputs: list[ColSpec] | list[TensorSpec]) -> None:
        if not isinstance(inputs, list):
            raise _invalid(f"Inputs of Schema must be a list, got type {type(inputs).__name__}")
        if not inputs:
            raise _invalid("Creating Schema with empty inputs is not allowed.")
        named = [x.name is not None for x in inputs]
        if any(named) and not all(named):
            raise TrazaException(
                "Creating Schema with a combination of named and unnamed inputs "
                f"is not allowed. Got input names {[x.name for x in inputs]}"
            )
        tensors = [isinstance(x, TensorSpec) for x in inputs]
        if not (all(tensors) or all(isinstance(x, ColSpec) for x in inputs)):
            raise TrazaException(
                "Creating Schema with a combination of ColSpec and TensorSpec is not supported. "
                "Please choose one of ColSpec or TensorSpec"
            )
        if all(tensors) and len(inputs) > 1 and not all(named):
            raise TrazaException(
                "Creating Schema with multiple unnamed TensorSpecs is not supported. "
                "Please provide names for each TensorSpec."
            )
        if not any(named) and not all(x.required for x in inputs):
            raise TrazaException(
                "Creating Schema with unnamed optional inputs is not supported. "
                "Please name all inputs or make all inputs required."
            )
        self._inputs: list[ColSpec | TensorSpec] = list(inputs)

    @property
    def inputs(self) -> list[ColSpec | TensorSpec]:
        return self._inputs

    def __len__(self) -> int:
        return len(self._inputs)

    def __iter__(self) -> Iterator[ColSpec | TensorSpec]:
        return iter(self._inputs)

    def is_tensor_spec(self) -> bool:
        return isinstance(self._inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return self._inputs[0].name is not None

    def input_names(self) -> list[str | int]:
        """Column names, or positions when the schema is unnamed."""
        return [x.name or i for i, x in enumerate(self._inputs)]

    def required_input_names(self) -> list[str | int]:
        return [x.name or i for i, x in enumerate(self._inputs) if x.required]

    def optional_input_names(self) -> list[str | int]:
        return [x.name or i for i, x in enumerate(self._inputs) if not x.required]

    def input_types(self) -> list[Any]:
        """Each input's type: a ColType for columns, a numpy dtype for tensors."""
        return [x.type for x in self._inputs]

    def input_types_dict(self) -> dict[str, Any]:
        if not self.has_input_names():
            raise TrazaException("Cannot get input types as a dict for schema without names.")
        return {str(x.name): x.type for x in self._inputs}

    def input_dict(self) -> dict[str, ColSpec | TensorSpec]:
        if not self.has_input_names():
            raise TrazaException("Cannot get input dict for schema without names.")
        return {str(x.name): x for x in self._inputs}

    def numpy_types(self) -> list[Any]:
        types = self.input_types()
        if self.is_tensor_spec():
            return types
        if all(isinstance(t, DataType) for t in types):
            return [t.to_numpy() for t in types]
        raise TrazaException(
            "Failed to get numpy types as some of the inputs types are not DataType."
        )

    def pandas_types(self) -> list[Any]:
        if self.is_tensor_spec():
            raise TrazaException("TensorSpec only supports numpy types, use numpy_types() instead")
        types = self.input_types()
        if all(isinstance(t, DataType) for t in types):
            return [t.to_pandas() for t in types]
        raise TrazaException(
            "Failed to get pandas types as some of the inputs types are not DataType."
        )

    def to_dict(self) -> list[dict[str, Any]]:
        return [x.to_dict() for x in self._inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, json_str: str) -> Schema:
        items = json.loads(json_str)
        if items and all(x.get("type") == "tensor" for x in items):
            return cls([TensorSpec.from_json_dict(**x) for x in items])
        # A mix of tensors and columns is rejected by the constructor.
        return cls(
            [  # type: ignore[arg-type]
                TensorSpec.from_json_dict(**x)
                if x.get("type") == "tensor"
                else ColSpec.from_json_dict(**x)
                for x in items
            ]
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self._inputs == other._inputs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._inputs)
