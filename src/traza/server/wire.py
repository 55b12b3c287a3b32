"""MLflow's wire format: typed request fields, JSON bodies, and error responses.

GET requests carry their fields in the query string (a repeated field as repeated keys); other
methods in a JSON body. Either way a handler reads them through :class:`Args`, whose getters
check types and raise MLflow's ``INVALID_PARAMETER_VALUE`` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

from traza.exceptions import BAD_REQUEST, INVALID_PARAMETER_VALUE, TrazaException

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def bad_field(name: str, value: Any, expected: str) -> TrazaException:
    """The value is shown as JSON (``"foo"``, ``31``, ``9.0``), as MLflow shows it."""
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:
        shown = repr(value)
    return TrazaException(
        f"Invalid value {shown} for parameter '{name}' supplied: expected {expected}.",
        error_code=INVALID_PARAMETER_VALUE,
    )


def missing(name: str) -> TrazaException:
    return TrazaException(
        f"Missing value for required parameter '{name}'. See the API docs for more "
        "information about request parameters.",
        error_code=INVALID_PARAMETER_VALUE,
    )


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object from a request body; an empty body is an empty message."""
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise TrazaException(
            f"Malformed JSON in the request body: {e}.", error_code=BAD_REQUEST
        ) from None
    if isinstance(data, str):  # old clients double-encode their JSON
        return parse_json(data.encode())
    if not isinstance(data, dict):
        raise TrazaException(
            f"The request body must be a JSON object, got {type(data).__name__}.",
            error_code=BAD_REQUEST,
        )
    return data


class Args:
    """The fields of one request, from a JSON object or a query string."""

    __slots__ = ("_data", "_query")

    def __init__(self, data: Mapping[str, Any], query: Any = None) -> None:
        self._data = data
        self._query = query  # a multi-dict (Starlette's QueryParams) for GET requests

    @classmethod
    def from_query(cls, query: Any) -> Args:
        return cls(query, query)

    def __contains__(self, name: str) -> bool:
        return name in self._data and self._data[name] is not None

    def raw(self, name: str) -> Any:
        return self._data.get(name)

    def string(self, name: str, required: bool = False, default: str | None = None) -> str | None:
        value = self._data.get(name)
        if value is None or (value == "" and required):
            if required:
                raise missing(name)
            return default
        if not isinstance(value, str):
            raise bad_field(name, value, "a string")
        return value

    def required(self, name: str) -> str:
        value = self.string(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, default: int | None = None, required: bool = False) -> int | None:
        value = self._data.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return default
        number = value
        if isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value)
            except ValueError:
                raise bad_field(name, value, "an integer") from None
        if isinstance(number, bool) or not isinstance(number, int):
            raise bad_field(name, value, "an integer")
        if not _INT64_MIN <= number <= _INT64_MAX:  # every integer field of MLflow's API is int64
            raise bad_field(name, value, "an integer that fits in 64 bits")
        return number

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self._data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad_field(name, value, "true or false")

    def number(self, name: str, required: bool = False) -> float | None:
        value = self._data.get(name)
        if value is None:
            if required:
                raise missing(name)
            return None
        return to_float(name, value)

    def items(self, name: str) -> list[Any]:
        if self._query is not None:
            return list(self._query.getlist(name))
        value = self._data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise bad_field(name, value, "a list")
        return value

    def strings(self, name: str) -> list[str]:
        items = self.items(name)
        for item in items:
            if not isinstance(item, str):
                raise bad_field(name, item, "a list of strings")
        return items

    def objects(self, name: str) -> list[dict[str, Any]]:
        items = self.items(name)
        for item in items:
            if not isinstance(item, dict):
                raise bad_field(name, item, "a list of objects")
        return items

    def run_id(self) -> str:
        """``run_id``, or its deprecated alias ``run_uuid``; one of them is required."""
        value = self.string("run_id") or self.string("run_uuid")
        if not value:
            raise missing("run_id")
        return value


def to_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise bad_field(name, value, "a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value in _NON_FINITE:
            return _NON_FINITE[value]
        try:
            return float(value)
        except ValueError:
            pass
    raise bad_field(name, value, "a number")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)


def error_body(error_code: str, message: str) -> bytes:
    return orjson.dumps({"error_code": error_code, "message": message})
