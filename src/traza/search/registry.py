"""The model registry's search grammar: ``search_registered_models`` and ``search_model_versions``.

Filters go through the run grammar's tokenizer and parser, with the registry's keys:

* registered models: ``name`` (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN``, ``NOT IN``) and
  ``tags.<key>`` (``=``, ``!=``, ``LIKE``, ``ILIKE``);
* model versions: ``name`` and ``run_id`` (string comparisons and ``IN``), ``source_path``
  (string comparisons), ``version_number`` (numeric comparisons) and ``tags.<key>``.

Each becomes a :class:`~traza.search.grammar.Comparison` whose entity is ``attribute`` or
``tag``; ``order_by`` clauses become :class:`~traza.search.grammar.OrderBy` with MLflow's
tie-breakers appended, so the stores only compile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from traza.exceptions import invalid
from traza.search.grammar import (
    NUMERIC_OPS,
    STRING_OPS,
    Comparison,
    Entity,
    OrderBy,
    _check_op,
    _fail,
    _parse_order_clause,
    _Parser,
)

_IN_OPS = frozenset({"IN", "NOT IN"})
_PREFIXES: dict[str, Entity] = {
    "attribute": "attribute",
    "attributes": "attribute",
    "tag": "tag",
    "tags": "tag",
}

MODEL_FILTER_KEYS = {"name": STRING_OPS | _IN_OPS}
VERSION_FILTER_KEYS = {
    "name": STRING_OPS | _IN_OPS,
    "run_id": STRING_OPS | _IN_OPS,
    "source_path": STRING_OPS,
    "version_number": NUMERIC_OPS,
}
#: Orderable keys. MLflow's SQL store orders registered models by ``timestamp`` as by
#: ``last_updated_timestamp``; ``creation_timestamp`` (its file store's key) is accepted too.
MODEL_ORDER_KEYS = {
    "name": "name",
    "timestamp": "last_updated_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
    "creation_timestamp": "creation_timestamp",
}
VERSION_ORDER_KEYS = {
    "name": "name",
    "version_number": "version_number",
    "creation_timestamp": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}
DEFAULT_VERSION_ORDER = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")
#: MLflow keeps prompts in the registry as models with this tag; searches leave them out unless
#: the filter asks for them (MLflow's client adds ``tags.`mlflow.prompt.is_prompt` != 'true'``).
PROMPT_TAG = "mlflow.prompt.is_prompt"


@dataclass(frozen=True, slots=True)
class RegistryFilter:
    """The comparisons of a registry search, and whether prompts are left out (MLflow's rule)."""

    comparisons: tuple[Comparison, ...] = ()
    exclude_prompts: bool = True


def _prompt_rule(comparisons: tuple[Comparison, ...]) -> RegistryFilter:
    """As MLflow's SQL store: prompts are searched only when the filter asks for them
    (``= 'true'`` or ``!= 'false'``); otherwise comparisons on the tag are dropped and prompts
    left out, so ``!= 'true'`` matches models without the tag."""
    on_tag = [c for c in comparisons if c.entity == "tag" and c.key == PROMPT_TAG]
    wants_prompts = any(
        isinstance(c.value, str)
        and (
            (c.op == "=" and c.value.lower() == "true")
            or (c.op == "!=" and c.value.lower() == "false")
        )
        for c in on_tag
    )
    if wants_prompts:
        return RegistryFilter(comparisons, exclude_prompts=False)
    return RegistryFilter(tuple(c for c in comparisons if c not in on_tag), exclude_prompts=True)


def _parse(
    filter_string: str | None, keys: dict[str, frozenset[str]], what: str
) -> tuple[Comparison, ...]:
    if not filter_string or not filter_string.strip():
        return ()
    parser = _Parser(filter_string)
    result = []
    for prefix, key, key_pos, op, op_pos, value, kind, value_pos in parser.clauses():
        entity = "attribute" if prefix is None else _PREFIXES.get(prefix)
        if entity is None:
            raise _fail(
                filter_string,
                key_pos,
                f"unknown entity {prefix!r}; {what} are filtered by attributes and tags.<key>",
            )
        if entity == "tag":
            _check_op(filter_string, op, op_pos, STRING_OPS, f"tag {key!r}")
            if kind != "string":
                raise _fail(filter_string, value_pos, f"tag {key!r} needs a string in quotes")
            result.append(Comparison("tag", key, op, value))
            continue
        if key not in keys:
            raise _fail(
                filter_string,
                key_pos,
                f"unknown attribute {key!r} for {what}; use one of {sorted(keys)} or tags.<key>",
            )
        _check_op(filter_string, op, op_pos, keys[key], f"attribute {key!r}")
        if key == "version_number":
            value = _version_number(filter_string, value, value_pos)
        elif kind == "number":
            raise _fail(filter_string, value_pos, f"attribute {key!r} needs a string in quotes")
        result.append(Comparison("attribute", key, op, value))
    return tuple(result)


def _version_number(source: str, value: object, pos: int) -> int:
    """A version number given as ``3`` or ``'3'``; ``3.5``, ``'x'`` or one beyond 64 bits is
    refused (a store column cannot hold it)."""
    number: int | None = None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    if number is None or not -(2**63) <= number < 2**63:
        raise _fail(source, pos, f"version_number must be compared with an integer, not {value!r}")
    return number


def parse_registered_model_filter(filter_string: str | None) -> RegistryFilter:
    """Parse a ``search_registered_models`` filter; empty matches every model."""
    return _prompt_rule(_parse(filter_string, MODEL_FILTER_KEYS, "registered models"))


def parse_model_version_filter(filter_string: str | None) -> RegistryFilter:
    """Parse a ``search_model_versions`` filter; empty matches every version."""
    return _prompt_rule(_parse(filter_string, VERSION_FILTER_KEYS, "model versions"))


def _order_by(order_by: Sequence[str] | None, keys: dict[str, str], what: str) -> list[OrderBy]:
    result: list[OrderBy] = []
    seen: set[str] = set()
    for clause in order_by or ():
        prefix, key, ascending = _parse_order_clause(clause)
        if prefix not in (None, "attribute", "attributes") or key not in keys:
            raise invalid(
                f"Invalid order_by clause {clause!r} for {what}: order by one of "
                f"{sorted(keys)}, optionally followed by ASC or DESC."
            )
        column = keys[key]
        if column in seen:
            raise invalid(f"order_by contains duplicate fields: {list(order_by or ())}")
        seen.add(column)
        result.append(OrderBy("attribute", column, ascending))
    return result


def parse_registered_model_order_by(order_by: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """The clauses, then ``name ASC`` unless the name is already ordered on."""
    result = _order_by(order_by, MODEL_ORDER_KEYS, "registered models")
    if not any(o.key == "name" for o in result):
        result.append(OrderBy("attribute", "name", True))
    return tuple(result)


def parse_model_version_order_by(order_by: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """The clauses (MLflow's default when none), then ``name ASC``, ``version_number DESC``."""
    result = _order_by(order_by or DEFAULT_VERSION_ORDER, VERSION_ORDER_KEYS, "model versions")
    if not any(o.key == "name" for o in result):
        result.append(OrderBy("attribute", "name", True))
    if not any(o.key == "version_number" for o in result):
        result.append(OrderBy("attribute", "version_number", False))
    return tuple(result)
