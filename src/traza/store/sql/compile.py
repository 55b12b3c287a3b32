"""Compile parsed searches to SQL: filters become EXISTS subqueries, order_by becomes joins.

Metric filters and orders read ``latest_metrics`` (one row per run and key), never histories.
Ordering follows MLflow: numbers first, then NaN, then runs without the key, in either direction;
ties fall back to ``start_time DESC, run_uuid``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from traza.search.grammar import Comparison, OrderBy
from traza.store.sql.dialect import Dialect

RUN_COLUMNS = (
    "r.id, r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, "
    "r.end_time, r.lifecycle_stage, r.artifact_uri"
)

_RUN_ATTRIBUTE_COLUMNS = {
    "run_id": "r.run_uuid",
    "run_name": "r.name",
    "user_id": "r.user_id",
    "status": "r.status",
    "artifact_uri": "r.artifact_uri",
    "start_time": "r.start_time",
    "end_time": "r.end_time",
}

_EXPERIMENT_ATTRIBUTE_COLUMNS = {
    "name": "e.name",
    "experiment_id": "e.experiment_id",
    "creation_time": "e.creation_time",
    "last_update_time": "e.last_update_time",
}

_ENTITY_TABLES = {"metric": "latest_metrics", "param": "params", "tag": "tags"}


def _compare(dialect: Dialect, column: str, c: Comparison, args: list[Any]) -> str:
    """SQL for ``column <op> value``, appending bound values to ``args``."""
    if c.op == "LIKE":
        args.append(c.value)
        return dialect.like(column)
    if c.op == "ILIKE":
        args.append(c.value)
        return dialect.ilike(column)
    if c.op in ("IN", "NOT IN"):
        assert isinstance(c.value, tuple)
        args.extend(c.value)
        marks = ", ".join("?" * len(c.value))
        return f"{column} {c.op} ({marks})"
    args.append(c.value)
    return f"{column} {c.op} ?"


def whole(c: Comparison) -> Comparison:
    """A whole float compared with an integer column as an integer, when 64 bits hold it
    (beyond, SQLite's driver cannot bind it; the float compares the same)."""
    v = c.value
    if isinstance(v, float) and v.is_integer() and -(2**63) <= v < 2**63:
        return Comparison(c.entity, c.key, c.op, int(v))
    return c


def run_filter_sql(dialect: Dialect, filters: Sequence[Comparison], args: list[Any]) -> list[str]:
    """One SQL condition per comparison, over a ``runs r`` row."""
    conditions = []
    for c in filters:
        if c.entity == "attribute":
            column = _RUN_ATTRIBUTE_COLUMNS[c.key]
            conditions.append(_compare(dialect, column, whole(c), args))
        elif c.entity in _ENTITY_TABLES:
            table = _ENTITY_TABLES[c.entity]
            if c.op in ("IS NULL", "IS NOT NULL"):
                exists = "NOT EXISTS" if c.op == "IS NULL" else "EXISTS"
                args.append(c.key)
                conditions.append(
                    f"{exists} (SELECT 1 FROM {table} x WHERE x.run_id = r.id AND x.key = ?)"
                )
                continue
            args.append(c.key)
            condition = _compare(dialect, "x.value", c, args)
            conditions.append(
                f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = r.id AND x.key = ? "
                f"AND {condition})"
            )
        else:  # dataset
            if c.key == "context":
                args.append("mlflow.data.context")
                condition = _compare(dialect, "t.value", c, args)
                conditions.append(
                    "EXISTS (SELECT 1 FROM input_tags t WHERE t.run_id = r.id AND t.key = ? "
                    f"AND {condition})"
                )
            else:
                condition = _compare(dialect, f"d.{c.key}", c, args)
                conditions.append(
                    "EXISTS (SELECT 1 FROM run_inputs i JOIN datasets d ON d.id = i.dataset_id "
                    f"WHERE i.run_id = r.id AND {condition})"
                )
    return conditions


def run_order_sql(order_by: Sequence[OrderBy], args: list[Any]) -> tuple[list[str], list[str]]:
    """Return (LEFT JOIN clauses, ORDER BY terms) for ``order_by``."""
    joins: list[str] = []
    terms: list[str] = []
    has_start_time = False
    for i, o in enumerate(order_by):
        direction = "" if o.ascending else " DESC"
        if o.entity == "attribute":
            column = _RUN_ATTRIBUTE_COLUMNS[o.key]
            has_start_time = has_start_time or o.key == "start_time"
            if o.key == "end_time":
                terms.append(f"(CASE WHEN {column} IS NULL THEN 1 ELSE 0 END)")
            terms.append(column + direction)
            continue
        alias = f"o{i}"
        args.append(o.key)
        joins.append(
            f"LEFT JOIN {_ENTITY_TABLES[o.entity]} {alias} "
            f"ON {alias}.run_id = r.id AND {alias}.key = ?"
        )
        if o.entity == "metric":
            terms.append(
                f"(CASE WHEN {alias}.is_nan = 1 THEN 1 WHEN {alias}.value IS NULL THEN 2 "
                "ELSE 0 END)"
            )
        else:
            terms.append(f"(CASE WHEN {alias}.value IS NULL THEN 1 ELSE 0 END)")
        terms.append(f"{alias}.value{direction}")
    if not has_start_time:
        terms.append("r.start_time DESC")
    terms.append("r.run_uuid")
    return joins, terms


def experiment_filter_sql(
    dialect: Dialect, filters: Sequence[Comparison], args: list[Any]
) -> list[str]:
    conditions = []
    for c in filters:
        if c.entity == "tag":
            if c.op in ("IS NULL", "IS NOT NULL"):
                exists = "NOT EXISTS" if c.op == "IS NULL" else "EXISTS"
                args.append(c.key)
                conditions.append(
                    f"{exists} (SELECT 1 FROM experiment_tags x "
                    "WHERE x.experiment_id = e.experiment_id AND x.key = ?)"
                )
                continue
            args.append(c.key)
            condition = _compare(dialect, "x.value", c, args)
            conditions.append(
                "EXISTS (SELECT 1 FROM experiment_tags x WHERE x.experiment_id = e.experiment_id "
                f"AND x.key = ? AND {condition})"
            )
            continue
        column = _EXPERIMENT_ATTRIBUTE_COLUMNS[c.key]
        if c.key == "experiment_id":
            # Ids are strings on the wire and integers in the table.
            column = f"CAST({column} AS TEXT)"
        else:
            c = whole(c)
        conditions.append(_compare(dialect, column, c, args))
    return conditions


def experiment_order_sql(order_by: Sequence[OrderBy]) -> list[str]:
    if not order_by:
        return ["e.creation_time DESC", "e.experiment_id"]
    terms = [
        _EXPERIMENT_ATTRIBUTE_COLUMNS[o.key] + ("" if o.ascending else " DESC") for o in order_by
    ]
    if not any(o.key == "experiment_id" for o in order_by):
        terms.append("e.experiment_id")
    return terms
