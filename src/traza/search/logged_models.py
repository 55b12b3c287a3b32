"""The ``search_logged_models`` grammar: filters, order_by dicts, dataset scopes, page tokens.

Filters use the run grammar's tokenizer and parser with the logged-model keys: attributes
``name``, ``model_id``, ``model_type``, ``status``, ``source_run_id`` and the two timestamps, plus
``metrics.``, ``params.`` and ``tags.``. Ordering comes as MLflow's dicts
(``{"field_name": "metrics.acc", "ascending": False, "dataset_name": ...}``); strings such as
``"creation_timestamp DESC"`` are accepted too. Page tokens carry the search they belong to, as
MLflow's do, so a token replayed against another search is refused instead of skipping rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from traza.entities import LoggedModelStatus
from traza.exceptions import invalid
from traza.search.grammar import (
    LIST_OPS,
    NUMERIC_OPS,
    STRING_OPS,
    Comparison,
    Entity,
    _check_kind,
    _check_op,
    _fail,
    _parse_order_clause,
    _Parser,
)

MODEL_STRING_ATTRIBUTES = frozenset({"name", "model_id", "model_type", "status", "source_run_id"})
MODEL_NUMERIC_ATTRIBUTES = frozenset({"creation_timestamp", "last_updated_timestamp"})
_ATTRIBUTE_ALIASES = {
    "creation_time": "creation_timestamp",
    "creation_timestamp_ms": "creation_timestamp",
    "last_updated_time": "last_updated_timestamp",
    "last_updated_timestamp_ms": "last_updated_timestamp",
}
_PREFIXES: dict[str, Entity] = {
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
}


@dataclass(frozen=True, slots=True)
class DatasetScope:
    """Metrics count only when logged on this dataset (and digest, when given)."""

    name: str
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class ModelOrderBy:
    entity: Entity
    key: str
    ascending: bool
    dataset: DatasetScope | None = None


def _entity(source: str, prefix: str | None, pos: int) -> Entity:
    if prefix is None:
        return "attribute"
    entity = _PREFIXES.get(prefix)
    if entity is None:
        raise _fail(
            source, pos, f"unknown entity {prefix!r}; use metrics., params., tags. or attributes."
        )
    return entity


def _attribute(key: str) -> str | None:
    key = _ATTRIBUTE_ALIASES.get(key, key)
    return key if key in MODEL_STRING_ATTRIBUTES | MODEL_NUMERIC_ATTRIBUTES else None


def _status_value(value: Any) -> Any:
    """Status names as stored (``READY``), whichever spelling or number the filter used."""
    if isinstance(value, tuple):
        return tuple(_status_value(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        return LoggedModelStatus.parse(value).value
    except ValueError:
        return str(value)  # an unknown status matches nothing, as in MLflow


def parse_logged_model_filter(filter_string: str | None) -> tuple[Comparison, ...]:
    """Parse a ``search_logged_models`` filter; an empty or missing one matches every model."""
    if not filter_string or not filter_string.strip():
        return ()
    parser = _Parser(filter_string)
    result = []
    for prefix, key, key_pos, op, op_pos, value, kind, value_pos in parser.clauses():
        entity = _entity(filter_string, prefix, key_pos)
        if entity == "attribute":
            name = _attribute(key)
            if name is None:
                valid = sorted(MODEL_STRING_ATTRIBUTES | MODEL_NUMERIC_ATTRIBUTES)
                raise _fail(
                    filter_string, key_pos, f"unknown attribute {key!r}; use one of {valid}"
                )
            key = name
            if key in MODEL_NUMERIC_ATTRIBUTES:
                _check_op(filter_string, op, op_pos, NUMERIC_OPS, f"attribute {key!r}")
                _check_kind(filter_string, kind, value_pos, "number", f"attribute {key!r}")
            else:
                _check_op(filter_string, op, op_pos, STRING_OPS | LIST_OPS, f"attribute {key!r}")
                # MLflow's SQL store compares status by number, its file store by name.
                numeric_status = key == "status" and kind == "number" and op in ("=", "!=")
                if not numeric_status:
                    _check_kind(filter_string, kind, value_pos, "string", f"attribute {key!r}")
                if key == "status" and op not in ("LIKE", "ILIKE"):
                    value = _status_value(value)
        elif entity == "metric":
            _check_op(filter_string, op, op_pos, NUMERIC_OPS, f"metric {key!r}")
            _check_kind(filter_string, kind, value_pos, "number", f"metric {key!r}")
        else:
            _check_op(filter_string, op, op_pos, STRING_OPS | LIST_OPS, f"{entity} {key!r}")
            _check_kind(filter_string, kind, value_pos, "string", f"{entity} {key!r}")
        result.append(Comparison(entity, key, op, value))
    return tuple(result)


def parse_dataset_scopes(datasets: Sequence[Mapping[str, Any]] | None) -> tuple[DatasetScope, ...]:
    """``[{"dataset_name": ..., "dataset_digest"?: ...}]`` → scopes; a name is required."""
    scopes = []
    for d in datasets or ():
        if not isinstance(d, Mapping) or not d.get("dataset_name"):
            raise invalid("`dataset_name` in the `datasets` clause must be specified.")
        scopes.append(DatasetScope(str(d["dataset_name"]), d.get("dataset_digest") or None))
    return tuple(scopes)


def _order_entry(entry: Mapping[str, Any] | str) -> tuple[str, bool, str | None, str | None]:
    if isinstance(entry, str):
        prefix, key, ascending = _parse_order_clause(entry)
        field_name = f"{prefix}.{key}" if prefix else key
        return field_name, ascending, None, None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("field_name"), str):
        raise invalid(
            f"Invalid order_by entry {entry!r}: give a dict with 'field_name' "
            "(and optionally 'ascending', 'dataset_name', 'dataset_digest')."
        )
    ascending = entry.get("ascending", True)
    if ascending not in (True, False):
        raise invalid(f"Invalid order_by entry {entry!r}: 'ascending' must be a boolean.")
    return (
        entry["field_name"].strip(),
        bool(ascending),
        entry.get("dataset_name") or None,
        entry.get("dataset_digest") or None,
    )


def parse_logged_model_order_by(
    order_by: Sequence[Mapping[str, Any] | str] | None,
) -> tuple[ModelOrderBy, ...]:
    """Attributes and ``metrics.<key>`` (optionally scoped to a dataset) are orderable."""
    result: list[ModelOrderBy] = []
    for entry in order_by or ():
        field_name, ascending, dataset_name, dataset_digest = _order_entry(entry)
        if dataset_digest and not dataset_name:
            raise invalid(
                f"Invalid order_by entry {entry!r}: 'dataset_digest' needs 'dataset_name'."
            )
        prefix, dot, rest = field_name.partition(".")
        if dot and _PREFIXES.get(prefix) == "metric" and rest:
            scope = DatasetScope(dataset_name, dataset_digest) if dataset_name else None
            result.append(ModelOrderBy("metric", rest.strip("`"), ascending, scope))
            continue
        key = _attribute(rest if dot and _PREFIXES.get(prefix) == "attribute" else field_name)
        if key is None:
            valid = sorted(MODEL_STRING_ATTRIBUTES | MODEL_NUMERIC_ATTRIBUTES)
            raise invalid(
                f"Invalid order_by field {field_name!r}: use metrics.<key> or one of {valid}."
            )
        if dataset_name:
            raise invalid(f"Invalid order_by entry {entry!r}: only metrics take a dataset.")
        result.append(ModelOrderBy("attribute", key, ascending))
    return tuple(result)


def _search_key(
    experiment_ids: Sequence[str],
    filter_string: str | None,
    order_by: Sequence[Mapping[str, Any] | str] | None,
) -> dict[str, Any]:
    return {
        "experiment_ids": [str(e) for e in experiment_ids],
        "filter_string": filter_string or None,
        "order_by": [e if isinstance(e, str) else dict(e) for e in order_by or ()] or None,
    }


def encode_model_page_token(
    offset: int,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    order_by: Sequence[Mapping[str, Any] | str] | None,
) -> str:
    """A token for the page at ``offset`` of this very search (MLflow's token fields)."""
    body = {**_search_key(experiment_ids, filter_string, order_by), "offset": offset}
    return base64.b64encode(json.dumps(body).encode()).decode()


def decode_model_page_token(
    token: str | None,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    order_by: Sequence[Mapping[str, Any] | str] | None,
) -> int:
    """The offset in ``token``, refusing a token that another search produced."""
    if not token:
        return 0
    message = f"Invalid page token {token!r}: pass the token a previous page returned."
    try:
        body = json.loads(base64.b64decode(token, validate=True))
        offset = body["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid(message) from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise invalid(message)
    expected = json.loads(json.dumps(_search_key(experiment_ids, filter_string, order_by)))
    for name, value in expected.items():
        if body.get(name) != value:
            raise invalid(
                f"The page token belongs to another search: its {name} differs from this "
                "request's. Repeat the search with the same arguments, or start without a token."
            )
    return offset
