"""The model registry in the SQL store: registered models, versions, tags, aliases, stages.

Models are keyed by an integer id, so a rename touches one row and tags, aliases and versions
follow it. Each model counts its versions in ``last_version``, bumped by one
``UPDATE ... RETURNING``: the row lock serialises concurrent registrations on PostgreSQL (SQLite
takes its write lock up front), and a deleted version's number is never handed out again.
Deleting a version deletes its row, tags and aliases. Pages load their
tags, aliases and latest versions in a constant number of queries (``registry_rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from traza.entities import (
    ModelVersion,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)
from traza.entities.registry import (
    ACTIVE_STAGES,
    ALL_STAGES,
    STAGE_ARCHIVED,
    STAGE_NONE,
    canonical_stage,
)
from traza.exceptions import RESOURCE_ALREADY_EXISTS, TrazaException, invalid, not_found
from traza.search import decode_page_token, encode_page_token
from traza.search.registry import (
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)
from traza.store.registry_base import (
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_LIMIT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_LIMIT,
)
from traza.store.registry_validation import (
    LATEST_ALIAS,
    validate_alias,
    validate_model_name,
    validate_registry_tag,
    validate_version,
)
from traza.store.sql.db import Cursor, Database
from traza.store.sql.registry_rows import (
    MODEL_COLUMNS,
    MV_COLUMNS,
    MV_FROM,
    RM_COLUMNS,
    VERSION_COLUMNS,
    filter_sql,
    latest_versions,
    model_versions,
    note_registration,
    order_sql,
    registered_models,
)
from traza.store.sql.util import marks, now_ms
from traza.validation import (
    MAX_REGISTERED_MODEL_NAME_LENGTH,
    validate_max_results,
    validate_name_length,
)

if TYPE_CHECKING:
    from traza.auth.visibility import Visibility
    from traza.entities import LoggedModel


def _model_missing(name: str) -> TrazaException:
    return not_found(f"Registered Model with name={name} not found")


def _version_missing(name: str, version: Any) -> TrazaException:
    return not_found(f"Model Version (name={name}, version={version}) not found")


class SqlRegistry:
    """The model-registry part of :class:`~traza.store.sql.store.SqlStore`."""

    db: Database

    if TYPE_CHECKING:  # provided by the other parts of SqlStore

        def resolve_location(self, location: str) -> str: ...

        def get_logged_model(self, model_id: str) -> LoggedModel: ...

    # -- registered models -------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        validate_model_name(name)
        validate_name_length("registered model name", name, MAX_REGISTERED_MODEL_NAME_LENGTH)
        tag_map = dict(validate_registry_tag(t.key, t.value) for t in tags or ())
        now = now_ms()
        with self.db.write() as cur:
            cur.execute(
                "INSERT INTO registered_models (name, description, creation_time, "
                "last_update_time) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id",
                (name, description, now, now),
            )
            row = cur.fetchone()
            if row is None:
                raise TrazaException(
                    f"Registered Model (name={name}) already exists.",
                    error_code=RESOURCE_ALREADY_EXISTS,
                )
            self._registry_tags(cur, "registered_model_tags", (row[0],), tag_map)
        return RegisteredModel(name, now, now, description, tags=tag_map)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.db.read() as cur:
            return registered_models(cur, [self._rm_row(cur, name)])[0]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        validate_model_name(new_name, "new_name")
        validate_name_length("registered model name", new_name, MAX_REGISTERED_MODEL_NAME_LENGTH)
        now = now_ms()
        with self.db.write() as cur:
            row = self._rm_row(cur, name)
            if new_name != name:
                cur.execute("SELECT 1 FROM registered_models WHERE name = ?", (new_name,))
                if cur.fetchone() is not None:
                    raise TrazaException(
                        f"Registered Model (name={new_name}) already exists.",
                        error_code=RESOURCE_ALREADY_EXISTS,
                    )
            cur.execute(
                "UPDATE registered_models SET name = ?, last_update_time = ? WHERE id = ?",
                (new_name, now, row[0]),
            )
            cur.execute(
                "UPDATE model_versions SET last_update_time = ? WHERE registered_model_id = ?",
                (now, row[0]),
            )
            return registered_models(cur, [self._rm_row(cur, new_name)])[0]

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        with self.db.write() as cur:
            row = self._rm_row(cur, name)
            cur.execute(
                "UPDATE registered_models SET description = ?, last_update_time = ? WHERE id = ?",
                (description, now_ms(), row[0]),
            )
            return registered_models(cur, [self._rm_row(cur, name)])[0]

    def delete_registered_model(self, name: str) -> None:
        with self.db.write() as cur:
            row = self._rm_row(cur, name)
            # Children first: cascades would do it, but explicit deletes keep the order obvious.
            for table in ("registered_model_aliases", "model_version_tags", "model_versions"):
                cur.execute(f"DELETE FROM {table} WHERE registered_model_id = ?", (row[0],))
            cur.execute(
                "DELETE FROM registered_model_tags WHERE registered_model_id = ?", (row[0],)
            )
            cur.execute("DELETE FROM registered_models WHERE id = ?", (row[0],))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        visibility: Visibility | None = None,
    ) -> PagedList[RegisteredModel]:
        validate_max_results(max_results, SEARCH_REGISTERED_MODELS_MAX_RESULTS_LIMIT)
        filters = parse_registered_model_filter(filter_string)
        orders = parse_registered_model_order_by(order_by)
        return self._search_page(
            filters,
            orders,
            MODEL_COLUMNS,
            "registered_model_tags",
            f"SELECT {RM_COLUMNS} FROM registered_models rm",
            registered_models,
            max_results,
            page_token,
            visibility,
        )

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        wanted = {self._registry_stage(s) for s in stages} if stages else set(ALL_STAGES)
        with self.db.read() as cur:
            row = self._rm_row(cur, name)
            latest = latest_versions(cur, [row[0]])[row[0]]
        return [v for v in latest if v.current_stage in wanted]

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        validate_model_name(name)
        key, value = validate_registry_tag(tag.key, tag.value)
        with self.db.write() as cur:
            row = self._rm_row(cur, name)
            self._registry_tags(cur, "registered_model_tags", (row[0],), {key: value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self.db.write() as cur:
            row = self._rm_row(cur, name)
            cur.execute(
                "DELETE FROM registered_model_tags WHERE registered_model_id = ? AND key = ?",
                (row[0], key),
            )

    # -- aliases -----------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        validate_model_name(name)
        validate_alias(alias, setting=True)
        number = validate_version(version)
        with self.db.write() as cur:
            rm_id = self._mv_row(cur, name, number)[0]
            cur.execute(
                "INSERT INTO registered_model_aliases (registered_model_id, alias, version) "
                "VALUES (?, ?, ?) ON CONFLICT (registered_model_id, alias) "
                "DO UPDATE SET version = excluded.version",
                (rm_id, alias, number),
            )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        validate_alias(alias)
        with self.db.write() as cur:
            row = self._rm_row(cur, name)
            cur.execute(
                "DELETE FROM registered_model_aliases WHERE registered_model_id = ? AND alias = ?",
                (row[0], alias),
            )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        validate_model_name(name)
        validate_alias(alias)
        with self.db.read() as cur:
            row = self._rm_row(cur, name)
            if alias.lower() == LATEST_ALIAS:
                cur.execute(
                    "SELECT MAX(version) FROM model_versions WHERE registered_model_id = ?",
                    (row[0],),
                )
                number = cur.fetchone()[0]
                if number is None:
                    raise not_found(f"Latest version not found for model {name}.")
            else:
                cur.execute(
                    "SELECT version FROM registered_model_aliases "
                    "WHERE registered_model_id = ? AND alias = ?",
                    (row[0], alias),
                )
                found = cur.fetchone()
                if found is None:
                    # MLflow answers INVALID_PARAMETER_VALUE here, not RESOURCE_DOES_NOT_EXIST.
                    raise invalid(
                        f"Registered model alias {alias} not found (model {name!r} has no "
                        "such alias; set it with set_registered_model_alias)."
                    )
                number = found[0]
            return model_versions(cur, [self._mv_row(cur, name, number)])[0]

    # -- model versions ----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        validate_model_name(name)
        if not isinstance(source, str) or not source:
            raise invalid("Missing value for required parameter 'source': give the model's URI.")
        tag_map = dict(validate_registry_tag(t.key, t.value) for t in tags or ())
        storage_location, run_id, model_id = self._mv_resolve_source(source, run_id, model_id)
        now = now_ms()
        with self.db.write() as cur:
            # One statement reads and bumps the counter: concurrent registrations queue on the
            # model's row and each gets its own number.
            cur.execute(
                "UPDATE registered_models SET last_version = last_version + 1, "
                "last_update_time = ? WHERE name = ? RETURNING id, last_version",
                (now, name),
            )
            row = cur.fetchone()
            if row is None:
                raise _model_missing(name)
            rm_id, number = row
            if model_id is not None and storage_location is None:
                cur.execute(
                    "SELECT artifact_location FROM logged_models WHERE model_id = ?", (model_id,)
                )
                found = cur.fetchone()
                storage_location = found[0] if found is not None else None
            cur.execute(
                "INSERT INTO model_versions (registered_model_id, version, creation_time, "
                "last_update_time, description, current_stage, source, storage_location, "
                "run_id, run_link, model_id, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rm_id,
                    number,
                    now,
                    now,
                    description,
                    STAGE_NONE,
                    source,
                    storage_location,
                    run_id or None,
                    run_link or None,
                    model_id,
                    "READY",
                ),
            )
            self._registry_tags(cur, "model_version_tags", (rm_id, number), tag_map)
            if model_id is not None:
                note_registration(cur, model_id, name, str(number))
        return ModelVersion(
            name=name,
            version=str(number),
            creation_timestamp=now,
            last_updated_timestamp=now,
            description=description,
            current_stage=STAGE_NONE,
            source=source,
            run_id=run_id or None,
            tags=tag_map,
            run_link=run_link or None,
            model_id=model_id,
        )

    def _mv_resolve_source(
        self, source: str, run_id: str | None, model_id: str | None
    ) -> tuple[str | None, str | None, str | None]:
        """(storage location if not the source, run id, logged model id) for a new version.

        ``models:/m-<id>`` names a logged model: its artifacts are the version's, and its run
        is the version's run unless one is given. ``models:/<name>/<version>`` (or ``@alias``)
        names another version, whose artifacts are reused.
        """
        storage_location = None
        if source.startswith("models:"):
            target = source[len("models:") :].lstrip("/")
            if target.startswith("m-") and "/" not in target and "@" not in target:
                model_id = model_id or target
            else:
                storage_location = self._mv_registry_uri_location(source, target)
        if model_id is not None:
            logged = self.get_logged_model(model_id)
            run_id = run_id or logged.source_run_id
        return storage_location, run_id, model_id

    def _mv_registry_uri_location(self, source: str, target: str) -> str:
        name, at, alias = target.partition("@")
        if at:
            version = self.get_model_version_by_alias(name, alias)
        else:
            name, _, suffix = target.rpartition("/")
            if not name or not suffix:
                raise invalid(
                    f"Invalid model URI {source!r}: use models:/<name>/<version>, "
                    "models:/<name>@<alias> or models:/<logged model id>."
                )
            if suffix.isdigit():
                version = self.get_model_version(name, suffix)
            else:
                stages = None if suffix.lower() == LATEST_ALIAS else [suffix]
                latest = self.get_latest_versions(name, stages)
                if not latest:
                    raise not_found(f"No versions of model {name!r} match {source!r}.")
                version = max(latest, key=lambda v: int(v.version))
        return self.get_model_version_download_uri(name, version.version)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        with self.db.read() as cur:
            return model_versions(cur, [self._mv_row(cur, name, version)])[0]

    def update_model_version(
        self, name: str, version: str | int, description: str | None
    ) -> ModelVersion:
        with self.db.write() as cur:
            row = self._mv_row(cur, name, version)
            cur.execute(
                "UPDATE model_versions SET description = ?, last_update_time = ? "
                "WHERE registered_model_id = ? AND version = ?",
                (description, now_ms(), row[0], row[2]),
            )
            return model_versions(cur, [self._mv_row(cur, name, version)])[0]

    def delete_model_version(self, name: str, version: str | int) -> None:
        with self.db.write() as cur:
            row = self._mv_row(cur, name, version)
            key = (row[0], row[2])
            for table in ("registered_model_aliases", "model_version_tags", "model_versions"):
                cur.execute(
                    f"DELETE FROM {table} WHERE registered_model_id = ? AND version = ?", key
                )
            cur.execute(
                "UPDATE registered_models SET last_update_time = ? WHERE id = ?", (now_ms(), row[0])
            )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        visibility: Visibility | None = None,
    ) -> PagedList[ModelVersion]:
        validate_max_results(max_results, SEARCH_MODEL_VERSIONS_MAX_RESULTS_LIMIT)
        filters = parse_model_version_filter(filter_string)
        orders = parse_model_version_order_by(order_by)
        return self._search_page(
            filters,
            orders,
            VERSION_COLUMNS,
            "model_version_tags",
            f"SELECT {MV_COLUMNS} FROM {MV_FROM}",
            model_versions,
            max_results,
            page_token,
            visibility,
        )

    def _search_page(
        self,
        filters: Any,
        orders: Any,
        columns: Any,
        tag_table: str,
        select_from: str,
        build: Any,
        max_results: int,
        page_token: str | None,
        visibility: Visibility | None = None,
    ) -> PagedList[Any]:
        """One page of a registry search: the filter and order compiled for the dialect, one
        row more than asked to know whether a next page exists."""
        offset = decode_page_token(page_token)
        args: list[Any] = []
        conditions = filter_sql(self.db.dialect, filters, columns, tag_table, args)
        if visibility is not None:
            conditions.append(visibility.model_condition("rm.name", args))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        query = (
            f"{select_from} {where} "
            f"ORDER BY {order_sql(self.db.dialect, orders, columns)} LIMIT ? OFFSET ?"
        )
        args += [max_results + 1, offset]
        with self.db.read() as cur:
            cur.execute(query, args)
            rows = cur.fetchall()
            items = build(cur, rows[:max_results])
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(items, token)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        with self.db.read() as cur:
            row = self._mv_row(cur, name, version)
            cur.execute(
                "SELECT storage_location, source FROM model_versions "
                "WHERE registered_model_id = ? AND version = ?",
                (row[0], row[2]),
            )
            storage_location, source = cur.fetchone()
        if storage_location:
            return self.resolve_location(storage_location)
        return str(source)

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        target = self._registry_stage(stage)
        if archive_existing_versions and target not in ACTIVE_STAGES:
            raise invalid(
                f"Model version transition cannot archive existing model versions because "
                f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}."
            )
        now = now_ms()
        with self.db.write() as cur:
            row = self._mv_row(cur, name, version)
            rm_id, number = row[0], row[2]
            if archive_existing_versions:
                cur.execute(
                    "UPDATE model_versions SET current_stage = ?, last_update_time = ? "
                    "WHERE registered_model_id = ? AND version != ? AND current_stage = ?",
                    (STAGE_ARCHIVED, now, rm_id, number, target),
                )
            cur.execute(
                "UPDATE model_versions SET current_stage = ?, last_update_time = ? "
                "WHERE registered_model_id = ? AND version = ?",
                (target, now, rm_id, number),
            )
            cur.execute(
                "UPDATE registered_models SET last_update_time = ? WHERE id = ?", (now, rm_id)
            )
            return model_versions(cur, [self._mv_row(cur, name, version)])[0]

    def set_model_version_tag(self, name: str, version: str | int, tag: ModelVersionTag) -> None:
        key, value = validate_registry_tag(tag.key, tag.value)
        with self.db.write() as cur:
            row = self._mv_row(cur, name, version)
            self._registry_tags(cur, "model_version_tags", (row[0], row[2]), {key: value})

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        with self.db.write() as cur:
            row = self._mv_row(cur, name, version)
            cur.execute(
                "DELETE FROM model_version_tags "
                "WHERE registered_model_id = ? AND version = ? AND key = ?",
                (row[0], row[2], key),
            )

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _registry_stage(stage: str) -> str:
        try:
            return canonical_stage(stage)
        except ValueError as e:
            raise invalid(str(e)) from None

    def _rm_row(self, cur: Cursor, name: str) -> Any:
        validate_model_name(name)
        cur.execute(f"SELECT {RM_COLUMNS} FROM registered_models rm WHERE rm.name = ?", (name,))
        row = cur.fetchone()
        if row is None:
            raise _model_missing(name)
        return row

    def _mv_row(self, cur: Cursor, name: str, version: str | int) -> Any:
        """The version's row (model id at 0, number at 2); a missing one names both."""
        validate_model_name(name)
        number = validate_version(version)
        cur.execute(
            f"SELECT {MV_COLUMNS} FROM {MV_FROM} WHERE rm.name = ? AND mv.version = ?",
            (name, number),
        )
        row = cur.fetchone()
        if row is None:
            raise _version_missing(name, version)
        return row

    def _registry_tags(
        self, cur: Cursor, table: str, owner: tuple[Any, ...], tags: dict[str, str]
    ) -> None:
        """Set ``tags`` on the row keyed by ``owner`` (a model id, or model id and version)."""
        keys = ("registered_model_id", "version")[: len(owner)]
        columns = ", ".join(keys)
        cur.executemany(
            f"INSERT INTO {table} ({columns}, key, value) VALUES ({marks(owner)}, ?, ?) "
            f"ON CONFLICT ({columns}, key) DO UPDATE SET value = excluded.value",
            [(*owner, k, v) for k, v in tags.items()],
        )
