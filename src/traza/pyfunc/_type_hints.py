"""MLflow 3's type hints on ``PythonModel.predict``: the signature they imply, and the input
conversion a loaded model applies before calling ``predict``.

``predict(self, context, model_input: list[str]) -> list[str]`` gives the signature
``inputs: [string]``, ``outputs: [string]``. Only ``list[...]`` input hints imply a schema;
DataFrame, Series and ndarray hints are accepted and imply none, as in MLflow.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import sys
import types
import typing
from typing import Any, NamedTuple

from traza.exceptions import invalid
from traza.models.schema import (
    AnyType,
    Array,
    ColSpec,
    ColType,
    DataType,
    Map,
    Object,
    Property,
    Schema,
)

_SCALARS: dict[Any, DataType] = {
    int: DataType.long,
    str: DataType.string,
    bool: DataType.boolean,
    float: DataType.double,
    bytes: DataType.binary,
    dt.datetime: DataType.datetime,
}
_SUPPORTED = (
    "give list[...] of int, str, bool, float, bytes, datetime, typing.Any, pydantic models, or "
    "lists and dict[str, ...] of those (or a pandas DataFrame / numpy ndarray hint, which "
    "implies no signature)"
)


class TypeHints(NamedTuple):
    """The input and output annotations of ``predict`` (None where there is none)."""

    input: Any = None
    output: Any = None


def takes_context(func: Any) -> bool:
    """MLflow's rule: ``predict(self, context, model_input, ...)`` or any two non-params
    arguments; otherwise ``predict(self, model_input, params=None)``."""
    names = [p for p in inspect.signature(func).parameters if p not in ("self", "params")]
    return "context" in names or len(names) == 2


def extract(func: Any) -> TypeHints:
    """The hints of ``func``'s model input and return value; unresolvable ones count as none."""
    if not getattr(func, "__annotations__", None):
        return TypeHints()
    names = [p for p in inspect.signature(func).parameters if p != "self"]
    index = 1 if takes_context(func) else 0
    if len(names) <= index:
        return TypeHints()
    annotations = func.__annotations__
    return TypeHints(
        _resolve(annotations.get(names[index]), func), _resolve(annotations.get("return"), func)
    )


def _resolve(annotation: Any, func: Any) -> Any:
    """An annotation, evaluated if it is a string (``from __future__ import annotations``).

    Each is evaluated alone, in the function's globals with ``typing``'s names as a fallback:
    a function unpickled by value keeps only the globals its code uses, so ``Any`` in another
    argument's annotation must not make this one unreadable. None when it does not resolve."""
    if not isinstance(annotation, str):
        return annotation
    namespace = {**vars(typing), **getattr(func, "__globals__", {})}
    try:
        return eval(annotation, namespace)
    except Exception:
        return None


def _no_schema_types() -> tuple[type, ...]:
    """Hints that are allowed but imply no schema (only libraries already loaded can be meant)."""
    found: list[type] = []
    if (pd := sys.modules.get("pandas")) is not None:
        found += [pd.DataFrame, pd.Series]
    if (np := sys.modules.get("numpy")) is not None:
        found.append(np.ndarray)
    if (sparse := sys.modules.get("scipy.sparse")) is not None:
        found += [sparse.csc_matrix, sparse.csr_matrix]
    return tuple(found)


def implies_schema(hint: Any) -> bool:
    return hint is not None and hint not in _no_schema_types()


def _is_pydantic_model(hint: Any) -> bool:
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(hint, type):
        return False
    return issubclass(hint, pydantic.BaseModel)


def _element(hint: Any) -> Any:
    args = typing.get_args(hint)
    if type(None) in args:
        raise invalid("Optional input hints cannot be used: the model input must not be None.")
    if len(args) != 1:
        raise invalid(f"Type hint {hint} must name exactly one element type, e.g. list[str].")
    return args[0]


def colspec_type(hint: Any) -> tuple[ColType, bool]:
    """The column type of ``hint`` and whether it is required (False for Optional[...])."""
    if hint is Any:
        return AnyType(), True
    if hint in _SCALARS:
        return _SCALARS[hint], True
    if _is_pydantic_model(hint):
        props = []
        for name, field in hint.model_fields.items():
            t, required = colspec_type(field.annotation)
            props.append(Property(name, t, required=required))
        return Object(props), True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list:
        return Array(colspec_type(_element(hint))[0]), True
    if origin is dict:
        if len(args) != 2 or args[0] is not str:
            raise invalid(f"Dictionary type hint {hint} must be dict[str, <type>].")
        return Map(colspec_type(args[1])[0]), True
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return colspec_type(rest[0])[0], False
        return AnyType(), len(rest) == len(args)
    if hint in (list, dict, typing.Optional, typing.Union):
        raise invalid(f"Invalid type hint {hint}: it must name its element type; {_SUPPORTED}.")
    raise UnsupportedHint(f"Unsupported type hint {hint}: {_SUPPORTED}.")


class UnsupportedHint(ValueError):
    """A hint MLflow accepts without inferring a schema (it warns); malformed ones raise."""


def schema_from_hint(hint: Any, *, as_list: bool) -> Schema:
    """The one-column schema of ``hint``; ``as_list`` for an input (it must be ``list[...]``)."""
    if as_list or typing.get_origin(hint) is list:
        if hint is list:
            raise invalid(f"Type hint {hint} must name its element type, e.g. list[str].")
        if typing.get_origin(hint) is not list:
            raise UnsupportedHint(
                f"the model input hint {hint} is not list[...] (predict takes many inputs at "
                f"once: write list[{getattr(hint, '__name__', hint)}] for a signature)"
            )
        hint = _element(hint)
    t, required = colspec_type(hint)
    if not required:
        raise invalid("Optional input hints cannot be used: the model input must not be None.")
    return Schema([ColSpec(t, required=True)])


def signature_from_hints(hints: TypeHints) -> Any:
    """The ModelSignature MLflow infers from ``predict``'s hints, or None when they imply none."""
    from traza.models.signature import ModelSignature

    if not implies_schema(hints.input):
        return None
    try:
        inputs = schema_from_hint(hints.input, as_list=True)
    except UnsupportedHint as e:  # MLflow warns and saves the model without a signature
        import warnings

        warnings.warn(f"No signature from the type hints: {e}.", UserWarning, stacklevel=3)
        return None
    outputs = Schema([ColSpec(AnyType())])
    if hints.output is not None:
        # An output hint that implies nothing means any output, as in MLflow.
        with contextlib.suppress(Exception):
            outputs = schema_from_hint(hints.output, as_list=False)
    return ModelSignature(inputs, outputs)


def _first_string_column(frame: Any) -> Any:
    return next((c for c, v in frame.iloc[0].items() if isinstance(v, str)), None)


def _plain(value: Any) -> Any:
    """numpy arrays (and NaN) out of data that came from a DataFrame, as MLflow's conversion."""
    np = sys.modules.get("numpy")
    if np is None:
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


def convert_input(data: Any, hint: Any) -> Any:
    """A DataFrame (what signature enforcement and the scoring server produce) turned into the
    ``list[...]`` the hint asks for: records for ``list[dict]`` and pydantic models, the first
    column otherwise. Other data is passed as is."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(data, pd.DataFrame) or typing.get_origin(hint) is not list:
        return data
    element = typing.get_args(hint)[0] if typing.get_args(hint) else Any
    if element is str or element == list[str]:
        column = _first_string_column(data) if len(data) else None
        if column is not None and element is str:
            return data[column].tolist()
    if element is dict or typing.get_origin(element) is dict or _is_pydantic_model(element):
        if list(data.columns) == [0]:
            return _plain(data.iloc[:, 0].tolist())
        return _plain(data.to_dict(orient="records"))
    return _plain(data.iloc[:, 0].tolist())


def _check(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against ``hint`` (pydantic models built from dicts); raises ValueError
    naming the first element that does not match."""
    if hint is Any:
        return value
    if hint in _SCALARS:
        ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise ValueError(
                f"{where} is {type(value).__name__} {value!r:.80}, not {hint.__name__}"
            )
        return value
    if _is_pydantic_model(hint):
        return value if isinstance(value, hint) else hint.model_validate(value)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where} is {type(value).__name__}, not a list")
        return [_check(v, args[0] if args else Any, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} is {type(value).__name__}, not a dict")
        item = args[1] if len(args) == 2 else Any
        return {k: _check(v, item, f"{where}[{k!r}]") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            with contextlib.suppress(Exception):
                return _check(value, arg, where)
        raise ValueError(f"{where} is {type(value).__name__} {value!r:.80}, not {hint}")
    return value  # a hint that implies no schema (DataFrame, ndarray ...): nothing to check


def validate_input(data: Any, hint: Any) -> Any:
    """MLflow's type-hint validation of a ``list[...]`` input: every element must match."""
    if typing.get_origin(hint) is not list:
        return data
    if isinstance(data, tuple):
        data = list(data)
    try:
        return _check(data, hint, "the input")
    except ValueError as e:
        raise invalid(f"The model input does not match the type hint {hint}: {e}.") from None
