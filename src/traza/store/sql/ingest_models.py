"""Bulk ingest of logged models and registered models (their versions, tags and aliases).

The half of :class:`~traza.store.sql.ingest.SqlIngest` that writes the model entities: the
same rules (ids kept, idempotent, the source's later changes applied) for models instead of
runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from traza.entities import LifecycleStage
from traza.store.sql.db import Cursor

if TYPE_CHECKING:
    from traza.transfer.records import IngestResult, LoggedModelRecord, RegisteredModelRecord


class SqlIngestModels:
    # -- logged models -----------------------------------------------------------------------
    def _ingest_logged_models(
        self, cur: Cursor, models: Sequence[LoggedModelRecord], result: IngestResult
    ) -> None:
        for m in models:
            cur.execute(
                "SELECT experiment_id, status, lifecycle_stage FROM logged_models "
                "WHERE model_id = ?",
                (m.model_id,),
            )
            row = cur.fetchone()
            changed = False
            if row is None:
                cur.execute(
                    "SELECT artifact_location FROM experiments WHERE experiment_id = ?",
                    (int(m.experiment_id),),
                )
                experiment = cur.fetchone()
                if experiment is None:
                    result.skipped.append(
                        f"logged model {m.model_id}: its experiment {m.experiment_id} is not "
                        "in the target"
                    )
                    continue
                deleted = m.lifecycle_stage == LifecycleStage.DELETED
                cur.execute(
                    "INSERT INTO logged_models (model_id, experiment_id, name, source_run_id, "
                    "model_type, status, status_message, artifact_location, creation_time, "
                    "last_update_time, lifecycle_stage, deleted_time) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        m.model_id,
                        int(m.experiment_id),
                        m.name,
                        m.source_run_id,
                        m.model_type,
                        m.status,
                        m.status_message,
                        m.artifact_location or f"{experiment[0]}/models/{m.model_id}/artifacts",
                        m.creation_time,
                        m.last_update_time,
                        m.lifecycle_stage,
                        m.last_update_time if deleted else None,
                    ),
                )
                result.count("created", "logged_models")
                have_tags: dict[str, str] = {}
                have_params: dict[str, str] = {}
            else:
                if (row[1], row[2]) != (m.status, m.lifecycle_stage):
                    cur.execute(
                        "UPDATE logged_models SET status = ?, lifecycle_stage = ?, "
                        "last_update_time = ? WHERE model_id = ?",
                        (m.status, m.lifecycle_stage, m.last_update_time, m.model_id),
                    )
                    changed = True
                cur.execute(
                    "SELECT key, value FROM logged_model_tags WHERE model_id = ?", (m.model_id,)
                )
                have_tags = dict(cur.fetchall())
                cur.execute(
                    "SELECT key, value FROM logged_model_params WHERE model_id = ?", (m.model_id,)
                )
                have_params = dict(cur.fetchall())
            tags = [(m.model_id, k, v) for k, v in m.tags.items() if have_tags.get(k) != v]
            if tags:
                cur.executemany(
                    "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    tags,
                )
            params = []
            for k, v in m.params.items():
                if k not in have_params:
                    params.append((m.model_id, k, v))
                elif have_params[k] != v:
                    result.conflicts.append(
                        f"logged model {m.model_id}: param {k!r} is {have_params[k]!r} in the "
                        f"target and {v!r} in the source: the target's value is kept"
                    )
            if params:
                cur.executemany(
                    "INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?)",
                    params,
                )
            if row is not None:
                changed = changed or bool(tags) or bool(params)
                result.count("updated" if changed else "unchanged", "logged_models")

    # -- registry ----------------------------------------------------------------------------
    def _ingest_registered_model(
        self, cur: Cursor, m: RegisteredModelRecord, result: IngestResult
    ) -> None:
        cur.execute("SELECT id, last_version FROM registered_models WHERE name = ?", (m.name,))
        row = cur.fetchone()
        changed = False
        if row is None:
            cur.execute(
                "INSERT INTO registered_models (name, description, creation_time, "
                "last_update_time, last_version) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (m.name, m.description, m.creation_time, m.last_update_time, 0),
            )
            model_id, last_version = int(cur.fetchone()[0]), 0
            result.count("created", "registered_models")
        else:
            model_id, last_version = int(row[0]), int(row[1])
        cur.execute(
            "SELECT key, value FROM registered_model_tags WHERE registered_model_id = ?",
            (model_id,),
        )
        have = dict(cur.fetchall())
        tags = [(model_id, k, v) for k, v in m.tags.items() if have.get(k) != v]
        if tags:
            cur.executemany(
                "INSERT INTO registered_model_tags (registered_model_id, key, value) "
                "VALUES (?, ?, ?) ON CONFLICT (registered_model_id, key) "
                "DO UPDATE SET value = excluded.value",
                tags,
            )
            changed = True
        cur.execute(
            "SELECT version, source, run_id FROM model_versions WHERE registered_model_id = ?",
            (model_id,),
        )
        versions = {int(v): (s, r) for v, s, r in cur.fetchall()}
        for v in m.versions:
            if v.version in versions:
                if versions[v.version] != (v.source, v.run_id):
                    result.conflicts.append(
                        f"registered model {m.name!r} version {v.version}: source "
                        f"{versions[v.version][0]!r} in the target, {v.source!r} in the source: "
                        "the target's is kept"
                    )
                    continue
                cur.execute(
                    "SELECT current_stage, description FROM model_versions "
                    "WHERE registered_model_id = ? AND version = ?",
                    (model_id, v.version),
                )
                if tuple(cur.fetchone()) != (v.current_stage, v.description):
                    cur.execute(
                        "UPDATE model_versions SET current_stage = ?, description = ?, "
                        "last_update_time = ? WHERE registered_model_id = ? AND version = ?",
                        (v.current_stage, v.description, v.last_update_time, model_id,
                         v.version),
                    )  # fmt: skip
                    changed = True
            else:
                cur.execute(
                    "INSERT INTO model_versions (registered_model_id, version, creation_time, "
                    "last_update_time, description, user_id, current_stage, source, "
                    "storage_location, run_id, run_link, model_id, status, status_message) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        model_id,
                        v.version,
                        v.creation_time,
                        v.last_update_time,
                        v.description,
                        v.user_id,
                        v.current_stage,
                        v.source,
                        v.storage_location,
                        v.run_id,
                        v.run_link,
                        v.model_id,
                        v.status,
                        v.status_message,
                    ),
                )
                result.count("created", "model_versions")
                changed = True
            cur.execute(
                "SELECT key, value FROM model_version_tags "
                "WHERE registered_model_id = ? AND version = ?",
                (model_id, v.version),
            )
            have = dict(cur.fetchall())
            vtags = [(model_id, v.version, k, t) for k, t in v.tags.items() if have.get(k) != t]
            if vtags:
                cur.executemany(
                    "INSERT INTO model_version_tags (registered_model_id, version, key, value) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (registered_model_id, version, key) "
                    "DO UPDATE SET value = excluded.value",
                    vtags,
                )
                changed = True
        top = max([last_version, *(v.version for v in m.versions)])
        if top != last_version:
            cur.execute(
                "UPDATE registered_models SET last_version = ? WHERE id = ?", (top, model_id)
            )
        cur.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE registered_model_id = ?",
            (model_id,),
        )
        have_aliases = {a: int(v) for a, v in cur.fetchall()}
        cur.execute("SELECT version FROM model_versions WHERE registered_model_id = ?", (model_id,))
        present = {int(r[0]) for r in cur.fetchall()}
        for alias, version in m.aliases.items():
            if have_aliases.get(alias) == version:
                continue
            if version not in present:
                result.skipped.append(
                    f"registered model {m.name!r}: alias {alias!r} points at version {version}, "
                    "which is not in the target"
                )
                continue
            cur.execute(
                "INSERT INTO registered_model_aliases (registered_model_id, alias, version) "
                "VALUES (?, ?, ?) ON CONFLICT (registered_model_id, alias) "
                "DO UPDATE SET version = excluded.version",
                (model_id, alias, version),
            )
            changed = True
        if row is not None:
            if changed:
                cur.execute(
                    "UPDATE registered_models SET last_update_time = ? WHERE id = ? "
                    "AND last_update_time < ?",
                    (m.last_update_time, model_id, m.last_update_time),
                )
            result.count("updated" if changed else "unchanged", "registered_models")
