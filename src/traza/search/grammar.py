"""MLflow's search grammar parsed once into a typed tree.

``metrics.rmse < 0.5 and params.model = 'rf'`` becomes a tuple of :class:`Comparison`;
``"metrics.rmse DESC"`` becomes an :class:`OrderBy`. The stores compile these to SQL; nothing
here touches data. Errors point at the offending character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from traza.exceptions import TrazaException, invalid

Entity = Literal["metric", "param", "tag", "attribute", "dataset"]
Value = float | str | tuple[str, ...] | None

_ENTITY_ALIASES: dict[str, Entity] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}
_ATTRIBUTE_ALIASES = {
    "created": "start_time",
    "Created": "start_time",
    "run name": "run_name",
    "Run name": "run_name",
    "Run Name": "run_name",
}

NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})
LIST_OPS = frozenset({"IN", "NOT IN"})

RUN_STRING_ATTRIBUTES = frozenset({"run_id", "run_name", "user_id", "status", "artifact_uri"})
RUN_NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
DATASET_KEYS = frozenset({"name", "digest", "context"})
EXPERIMENT_STRING_ATTRIBUTES = frozenset({"name", "experiment_id"})
EXPERIMENT_NUMERIC_ATTRIBUTES = frozenset({"creation_time", "last_update_time"})


@dataclass(frozen=True, slots=True)
class Comparison:
    entity: Entity
    key: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class OrderBy:
    entity: Entity
    key: str
    ascending: bool


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<string>'(?:[^'\\]|\\.|'')*')
  | (?P<dquoted>"(?:[^"\\]|\\.)*")
  | (?P<backtick>`[^`]*`)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<word>[A-Za-z_][\w]*(?:\.[\w]+)*\.?)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _fail(source: str, pos: int, message: str) -> TrazaException:
    caret = " " * pos + "^"
    return invalid(
        f"Invalid filter {source!r}: {message} (at position {pos})\n  {source}\n  {caret}"
    )


def _tokenize(source: str) -> list[_Tok]:
    nul = source.find("\x00")
    if nul >= 0:  # PostgreSQL refuses text holding NUL: refused alike on every store, here
        raise _fail(source, nul, "a NUL character (\\x00) cannot appear in a filter")
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            raise _fail(source, pos, f"unexpected character {source[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    return tokens


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    if quote == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body) if quote != "`" else body


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, expected: str) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise _fail(self.source, len(self.source), f"expected {expected}, found the end")
        self.i += 1
        return tok

    def keyword(self, tok: _Tok | None, *words: str) -> bool:
        return tok is not None and tok.kind == "word" and tok.text.upper() in words

    def identifier(self) -> tuple[str | None, str, int]:
        """Return (prefix or None, key, position) for ``prefix.key`` or a bare key."""
        tok = self.next("an identifier such as metrics.rmse")
        if tok.kind in ("backtick", "dquoted"):
            return None, _unquote(tok.text), tok.pos
        if tok.kind != "word":
            raise _fail(self.source, tok.pos, f"expected an identifier, found {tok.text!r}")
        if "." not in tok.text:
            return None, tok.text, tok.pos
        prefix, _, rest = tok.text.partition(".")
        if rest:
            return prefix, rest, tok.pos
        quoted = self.next("a key after the '.'")
        if quoted.kind not in ("backtick", "dquoted", "string"):
            raise _fail(self.source, quoted.pos, "expected a key after the '.'")
        return prefix, _unquote(quoted.text), tok.pos

    def comparator(self) -> tuple[str, int]:
        tok = self.next("a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL)")
        if tok.kind == "op":
            return ("!=" if tok.text == "<>" else tok.text), tok.pos
        word = tok.text.upper() if tok.kind == "word" else ""
        if word in ("LIKE", "ILIKE", "IN"):
            return word, tok.pos
        if word == "NOT" and self.keyword(self.peek(), "IN"):
            self.i += 1
            return "NOT IN", tok.pos
        if word == "IS":
            if self.keyword(self.peek(), "NOT"):
                self.i += 1
                if not self.keyword(self.next("NULL"), "NULL"):
                    raise _fail(self.source, tok.pos, "expected IS NOT NULL")
                return "IS NOT NULL", tok.pos
            if not self.keyword(self.next("NULL"), "NULL"):
                raise _fail(self.source, tok.pos, "expected IS NULL")
            return "IS NULL", tok.pos
        raise _fail(self.source, tok.pos, f"expected a comparator, found {tok.text!r}")

    def value(self, op: str) -> tuple[Value, str, int]:
        """Return (value, kind of literal, position)."""
        if op in NULL_OPS:
            return None, "null", self.i
        if op in LIST_OPS:
            open_tok = self.next("'(' starting a list of values")
            if open_tok.kind != "lparen":
                raise _fail(self.source, open_tok.pos, f"{op} needs a list such as ('a', 'b')")
            items: list[str] = []
            while True:
                tok = self.next("a quoted value or ')'")
                if tok.kind in ("string", "dquoted"):
                    items.append(_unquote(tok.text))
                elif tok.kind == "number":
                    items.append(tok.text)
                else:
                    raise _fail(
                        self.source, tok.pos, f"expected a quoted value, found {tok.text!r}"
                    )
                sep = self.next("',' or ')'")
                if sep.kind == "rparen":
                    break
                if sep.kind != "comma":
                    raise _fail(self.source, sep.pos, "expected ',' or ')' in the value list")
            if not items:
                raise _fail(self.source, open_tok.pos, "the value list is empty")
            return tuple(items), "list", open_tok.pos
        tok = self.next("a value")
        if tok.kind == "number":
            return float(tok.text), "number", tok.pos
        if tok.kind in ("string", "dquoted"):
            return _unquote(tok.text), "string", tok.pos
        raise _fail(
            self.source,
            tok.pos,
            f"expected a value (a number, or a string in single quotes), found {tok.text!r}",
        )

    def clauses(self) -> list[tuple[str | None, str, int, str, int, Value, str, int]]:
        out: list[tuple[str | None, str, int, str, int, Value, str, int]] = []
        if not self.tokens:
            return out
        while True:
            prefix, key, key_pos = self.identifier()
            op, op_pos = self.comparator()
            value, value_kind, value_pos = self.value(op)
            if op in ("LIKE", "ILIKE") and isinstance(value, str):
                _check_pattern(self.source, value, value_pos)
            out.append((prefix, key, key_pos, op, op_pos, value, value_kind, value_pos))
            tok = self.peek()
            if tok is None:
                return out
            if not self.keyword(tok, "AND"):
                hint = " (only AND is supported; OR and parentheses are not)"
                raise _fail(self.source, tok.pos, f"expected AND, found {tok.text!r}{hint}")
            self.i += 1


def _check_pattern(source: str, pattern: str, pos: int) -> None:
    """A LIKE pattern may not end in a lone backslash: PostgreSQL reads it as an escape with
    nothing to escape and fails, so it is refused here on every store."""
    if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
        raise _fail(
            source,
            pos,
            "a LIKE pattern cannot end with an unpaired backslash (PostgreSQL reads a backslash "
            "as an escape); to match a trailing backslash, end the pattern with two",
        )


def parse_run_filter(filter_string: str | None) -> tuple[Comparison, ...]:
    """Parse a ``search_runs`` filter; an empty or missing filter matches every run."""
    if not filter_string or not filter_string.strip():
        return ()
    parser = _Parser(filter_string)
    result = []
    for prefix, key, key_pos, op, op_pos, value, kind, value_pos in parser.clauses():
        entity = _run_entity(filter_string, prefix, key_pos)
        if entity == "attribute":
            key = _ATTRIBUTE_ALIASES.get(key, key)
            if key in RUN_NUMERIC_ATTRIBUTES:
                _check_op(filter_string, op, op_pos, NUMERIC_OPS, f"attribute {key!r}")
                _check_kind(filter_string, kind, value_pos, "number", f"attribute {key!r}")
            elif key in RUN_STRING_ATTRIBUTES:
                ops = STRING_OPS | LIST_OPS if key == "run_id" else STRING_OPS
                _check_op(filter_string, op, op_pos, ops, f"attribute {key!r}")
                _check_kind(filter_string, kind, value_pos, "string", f"attribute {key!r}")
            else:
                valid = sorted(RUN_STRING_ATTRIBUTES | RUN_NUMERIC_ATTRIBUTES)
                raise _fail(
                    filter_string, key_pos, f"unknown attribute {key!r}; use one of {valid}"
                )
        elif entity == "metric":
            _check_op(filter_string, op, op_pos, NUMERIC_OPS, f"metric {key!r}")
            _check_kind(filter_string, kind, value_pos, "number", f"metric {key!r}")
        elif entity in ("param", "tag"):
            _check_op(filter_string, op, op_pos, STRING_OPS | NULL_OPS, f"{entity} {key!r}")
            _check_kind(filter_string, kind, value_pos, "string", f"{entity} {key!r}")
        else:
            if key not in DATASET_KEYS:
                raise _fail(
                    filter_string,
                    key_pos,
                    f"unknown dataset key {key!r}; use {sorted(DATASET_KEYS)}",
                )
            _check_op(filter_string, op, op_pos, STRING_OPS | LIST_OPS, f"dataset {key!r}")
            _check_kind(filter_string, kind, value_pos, "string", f"dataset {key!r}")
        result.append(Comparison(entity, key, op, value))
    return tuple(result)


def parse_experiment_filter(filter_string: str | None) -> tuple[Comparison, ...]:
    """Parse a ``search_experiments`` filter (``name``, ``experiment_id``, times, ``tags.``)."""
    if not filter_string or not filter_string.strip():
        return ()
    parser = _Parser(filter_string)
    result = []
    for prefix, key, key_pos, op, op_pos, value, kind, value_pos in parser.clauses():
        entity = _experiment_entity(filter_string, prefix, key_pos)
        if entity == "tag":
            _check_op(filter_string, op, op_pos, STRING_OPS | NULL_OPS, f"tag {key!r}")
            _check_kind(filter_string, kind, value_pos, "string", f"tag {key!r}")
        elif key in EXPERIMENT_NUMERIC_ATTRIBUTES:
            _check_op(filter_string, op, op_pos, NUMERIC_OPS, f"attribute {key!r}")
            _check_kind(filter_string, kind, value_pos, "number", f"attribute {key!r}")
        elif key in EXPERIMENT_STRING_ATTRIBUTES:
            _check_op(filter_string, op, op_pos, STRING_OPS | LIST_OPS, f"attribute {key!r}")
            _check_kind(filter_string, kind, value_pos, "string", f"attribute {key!r}")
        else:
            valid = sorted(EXPERIMENT_STRING_ATTRIBUTES | EXPERIMENT_NUMERIC_ATTRIBUTES)
            raise _fail(filter_string, key_pos, f"unknown attribute {key!r}; use one of {valid}")
        result.append(Comparison(entity, key, op, value))
    return tuple(result)


def _run_entity(source: str, prefix: str | None, pos: int) -> Entity:
    if prefix is None:
        return "attribute"
    try:
        return _ENTITY_ALIASES[prefix]
    except KeyError:
        raise _fail(
            source,
            pos,
            f"unknown entity {prefix!r}; use metrics., params., tags., attributes. or datasets.",
        ) from None


def _experiment_entity(source: str, prefix: str | None, pos: int) -> Entity:
    entity = _run_entity(source, prefix, pos)
    if entity not in ("attribute", "tag"):
        raise _fail(
            source, pos, f"experiments can be filtered by attributes and tags, not {prefix!r}"
        )
    return entity


def _check_op(source: str, op: str, pos: int, allowed: frozenset[str], what: str) -> None:
    if op not in allowed:
        raise _fail(source, pos, f"{op} is not supported for {what}; use one of {sorted(allowed)}")


def _check_kind(source: str, kind: str, pos: int, expected: str, what: str) -> None:
    if kind in ("null", "list"):
        return
    if kind != expected:
        wanted = "a number" if expected == "number" else "a string in single quotes"
        raise _fail(source, pos, f"{what} must be compared with {wanted}")


def _parse_order_clause(clause: str) -> tuple[str | None, str, bool]:
    if not isinstance(clause, str) or not clause.strip():
        raise invalid(f"Invalid order_by clause {clause!r}: give '<key> [ASC|DESC]'.")
    text = clause.strip()
    ascending = True
    m = re.search(r"\s+(asc|desc)$", text, re.IGNORECASE)
    if m:
        ascending = m.group(1).lower() == "asc"
        text = text[: m.start()]
    parser = _Parser(text)
    prefix, key, _ = parser.identifier()
    if parser.peek() is not None:
        raise invalid(f"Invalid order_by clause {clause!r}: give '<key> [ASC|DESC]'.")
    return prefix, key, ascending


def parse_run_order_by(order_by: list[str] | None) -> tuple[OrderBy, ...]:
    result: list[OrderBy] = []
    seen: set[tuple[str, str]] = set()
    for clause in order_by or ():
        prefix, key, ascending = _parse_order_clause(clause)
        entity = _run_entity(clause, prefix, 0)
        if entity == "dataset":
            raise invalid(f"Invalid order_by clause {clause!r}: datasets are not orderable.")
        if entity == "attribute":
            key = _ATTRIBUTE_ALIASES.get(key, key)
            if key not in RUN_STRING_ATTRIBUTES | RUN_NUMERIC_ATTRIBUTES:
                valid = sorted(RUN_STRING_ATTRIBUTES | RUN_NUMERIC_ATTRIBUTES)
                raise invalid(f"Invalid order_by attribute {key!r}; use one of {valid}.")
        if (entity, key) in seen:
            raise invalid(f"order_by contains {clause!r} twice.")
        seen.add((entity, key))
        result.append(OrderBy(entity, key, ascending))
    return tuple(result)


def parse_experiment_order_by(order_by: list[str] | None) -> tuple[OrderBy, ...]:
    result: list[OrderBy] = []
    for clause in order_by or ():
        prefix, key, ascending = _parse_order_clause(clause)
        entity = _run_entity(clause, prefix, 0)
        valid = EXPERIMENT_STRING_ATTRIBUTES | EXPERIMENT_NUMERIC_ATTRIBUTES
        if entity != "attribute" or key not in valid:
            raise invalid(f"Invalid order_by key {clause!r}; use one of {sorted(valid)}.")
        result.append(OrderBy("attribute", key, ascending))
    return tuple(result)
