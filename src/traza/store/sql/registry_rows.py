"""Reading the registry's rows: whole entities for a page, and searches compiled to SQL.

Loading a page costs a constant number of queries (tags, aliases, latest versions), whatever
its size; filters become EXISTS subqueries over the tag tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from traza.entities import ModelVersion, RegisteredModel
from traza.search.grammar import OrderBy
from traza.search.registry import PROMPT_TAG, RegistryFilter
from traza.store.sql.compile import _compare
from traza.store.sql.db import Cursor
from traza.store.sql.dialect import Dialect
from traza.store.sql.util import IN_CHUNK, marks

#: The logged-model tag listing the registry versions made from the model.
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
RM_COLUMNS = "rm.id, rm.name, rm.creation_time, rm.last_update_time, rm.description"
MV_COLUMNS = (
    "mv.registered_model_id, rm.name, mv.version, mv.creation_time, mv.last_update_time, "
    "mv.description, mv.user_id, mv.current_stage, mv.source, mv.run_id, mv.status, "
    "mv.status_message, mv.run_link, mv.model_id"
)
MV_FROM = "model_versions mv JOIN registered_models rm ON rm.id = mv.registered_model_id"
MODEL_COLUMNS = {
    "name": "rm.name",
    "creation_timestamp": "rm.creation_time",
    "last_updated_timestamp": "rm.last_update_time",
}
VERSION_COLUMNS = {
    "name": "rm.name",
    "run_id": "mv.run_id",
    "source_path": "mv.source",
    "version_number": "mv.version",
    "creation_timestamp": "mv.creation_time",
    "last_updated_timestamp": "mv.last_update_time",
}


def note_registration(cur: Cursor, model_id: str, name: str, version: str) -> None:
    """Append the version to the logged model's ``mlflow.modelVersions`` tag, as MLflow does."""
    cur.execute(
        "SELECT value FROM logged_model_tags WHERE model_id = ? AND key = ?",
        (model_id, MODEL_VERSIONS_TAG),
    )
    found = cur.fetchone()
    try:
        entries = json.loads(found[0]) if found is not None else []
    except ValueError:
        entries = []
    # MLflow writes the version as a JSON number; an entry an older Traza wrote as a string
    # counts as the same version.
    entry: dict[str, object] = {"name": name, "version": int(version)}
    if not isinstance(entries, list):
        entries = []
    if entry not in entries and {"name": name, "version": version} not in entries:
        entries.append(entry)
    cur.execute(
        "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
        (model_id, MODEL_VERSIONS_TAG, json.dumps(entries)),
    )


def filter_sql(
    dialect: Dialect,
    search: RegistryFilter,
    columns: dict[str, str],
    tag_table: str,
    args: list[Any],
) -> list[str]:
    """One condition per comparison; tags match through EXISTS on ``tag_table``."""
    owner = "x.registered_model_id = rm.id"
    if tag_table == "model_version_tags":
        owner = "x.registered_model_id = mv.registered_model_id AND x.version = mv.version"
    conditions = []
    for c in search.comparisons:
        if c.entity == "attribute":
            conditions.append(_compare(dialect, columns[c.key], c, args))
            continue
        args.append(c.key)
        condition = _compare(dialect, "x.value", c, args)
        conditions.append(
            f"EXISTS (SELECT 1 FROM {tag_table} x WHERE {owner} AND x.key = ? AND {condition})"
        )
    if search.exclude_prompts:
        # A prompt is a model whose tag (or, for versions, any version's tag) marks it so.
        args.append(PROMPT_TAG)
        model = "rm.id" if tag_table == "registered_model_tags" else "mv.registered_model_id"
        conditions.append(
            f"NOT EXISTS (SELECT 1 FROM {tag_table} p WHERE p.registered_model_id = {model} "
            "AND p.key = ? AND p.value = 'true')"
        )
    return conditions


def order_sql(dialect: Dialect, orders: Sequence[OrderBy], columns: dict[str, str]) -> str:
    terms = []
    for o in orders:
        column = columns[o.key]
        if o.key == "name" and dialect.name == "postgresql":
            column += ' COLLATE "C"'  # byte order, as SQLite sorts, whatever the locale
        terms.append(column + ("" if o.ascending else " DESC"))
    return ", ".join(terms)


def registered_models(cur: Cursor, rows: list[Any]) -> list[RegisteredModel]:
    """Whole models (tags, aliases, latest versions) for model rows, in their order."""
    ids = [row[0] for row in rows]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[int, dict[str, str]] = {i: {} for i in ids}
    latest: dict[int, list[ModelVersion]] = {i: [] for i in ids}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        in_list = marks(chunk)
        cur.execute(
            "SELECT registered_model_id, key, value FROM registered_model_tags "
            f"WHERE registered_model_id IN ({in_list}) ORDER BY key",
            chunk,
        )
        for rm_id, key, value in cur.fetchall():
            tags[rm_id][key] = value
        cur.execute(
            "SELECT registered_model_id, alias, version FROM registered_model_aliases "
            f"WHERE registered_model_id IN ({in_list}) ORDER BY alias",
            chunk,
        )
        for rm_id, alias, version in cur.fetchall():
            aliases[rm_id][alias] = str(version)
        latest.update(latest_versions(cur, chunk))
    return [
        RegisteredModel(
            name=row[1],
            creation_timestamp=row[2],
            last_updated_timestamp=row[3],
            description=row[4],
            latest_versions=tuple(latest[row[0]]),
            tags=tags[row[0]],
            aliases=aliases[row[0]],
        )
        for row in rows
    ]


def latest_versions(cur: Cursor, ids: list[int]) -> dict[int, list[ModelVersion]]:
    """The highest version per stage of each model, in version order (one query)."""
    if not ids:
        return {}
    cur.execute(
        f"SELECT {MV_COLUMNS} FROM {MV_FROM} JOIN (SELECT registered_model_id, "
        "current_stage, MAX(version) AS version FROM model_versions "
        f"WHERE registered_model_id IN ({marks(ids)}) "
        "GROUP BY registered_model_id, current_stage) hi "
        "ON hi.registered_model_id = mv.registered_model_id AND hi.version = mv.version "
        "ORDER BY mv.registered_model_id, mv.version",
        ids,
    )
    rows = cur.fetchall()
    out: dict[int, list[ModelVersion]] = {i: [] for i in ids}
    for row, version in zip(rows, model_versions(cur, rows), strict=True):
        out[row[0]].append(version)
    return out


def model_versions(cur: Cursor, rows: list[Any]) -> list[ModelVersion]:
    """Whole versions (tags, aliases) for version rows, in their order."""
    keys = [(row[0], row[2]) for row in rows]
    tags: dict[tuple[int, int], dict[str, str]] = {k: {} for k in keys}
    aliases: dict[tuple[int, int], list[str]] = {k: [] for k in keys}
    step = IN_CHUNK // 2
    for start in range(0, len(keys), step):
        chunk = keys[start : start + step]
        pairs = ", ".join(["(?, ?)"] * len(chunk))
        flat = [v for key in chunk for v in key]
        for table, column in (
            ("model_version_tags", "key, value"),
            ("registered_model_aliases", "alias"),
        ):
            cur.execute(
                f"SELECT registered_model_id, version, {column} FROM {table} "
                f"WHERE (registered_model_id, version) IN (VALUES {pairs}) ORDER BY 3",
                flat,
            )
            for rm_id, version, *values in cur.fetchall():
                if table == "model_version_tags":
                    tags[rm_id, version][values[0]] = values[1]
                else:
                    aliases[rm_id, version].append(values[0])
    return [
        ModelVersion(
            name=row[1],
            version=str(row[2]),
            creation_timestamp=row[3],
            last_updated_timestamp=row[4],
            description=row[5],
            user_id=row[6],
            current_stage=row[7],
            source=row[8],
            run_id=row[9],
            status=row[10],
            status_message=row[11],
            tags=tags[row[0], row[2]],
            run_link=row[12],
            aliases=tuple(aliases[row[0], row[2]]),
            model_id=row[13],
        )
        for row in rows
    ]
