"""Experiments in the SQL store: create, read, search, rename, tag, delete and restore."""

from __future__ import annotations

import os
import secrets
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traza.entities import Experiment, ExperimentTag, LifecycleStage, PagedList, ViewType
from traza.exceptions import RESOURCE_ALREADY_EXISTS, TrazaException, invalid, not_found
from traza.search import (
    decode_page_token,
    encode_page_token,
    parse_experiment_filter,
    parse_experiment_order_by,
)
from traza.store.base import SEARCH_MAX_RESULTS_DEFAULT
from traza.store.sql import compile as sqlc
from traza.store.sql.db import Cursor, Database
from traza.store.sql.util import chunks, marks, now_ms
from traza.uris import has_scheme
from traza.validation import (
    MAX_EXPERIMENT_TAG_VAL_LENGTH,
    MAX_RESULTS_SEARCH_EXPERIMENTS,
    validate_artifact_location,
    validate_experiment_id,
    validate_experiment_name,
    validate_key,
    validate_max_results,
    validate_tag_value,
)

if TYPE_CHECKING:
    from traza.auth.visibility import Visibility

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


def run_artifact_location(experiment_location: str, run_id: str) -> str:
    """Where a new run of an experiment keeps its files.

    Under an artifact root of the operator's or the user's choosing (a server's
    ``--default-artifact-root``, ``mlflow-artifacts:/``, S3, any absolute location) it is
    MLflow's ``<experiment location>/<run id>/artifacts``, so a folder or bucket shared with
    MLflow holds files where MLflow's clients and tools look. In the store's own folder (a
    relative location, ``artifacts/<experiment>``) it is ``artifacts/<experiment>/<run id>``.
    Runs keep the location they were created with.
    """
    location = experiment_location.rstrip("/") or experiment_location
    if has_scheme(location) or location.startswith("/"):
        return f"{location.rstrip('/')}/{run_id}/artifacts"
    return f"{location}/{run_id}"


class SqlExperiments:
    """The experiment half of :class:`~traza.store.sql.store.SqlStore`."""

    db: Database
    artifact_root: str
    base_dir: Path | None
    #: ``base_dir`` as a ``file:`` URI, computed once: locations are resolved for every run read.
    _base_uri: str

    def resolve_location(self, location: str) -> str:
        """The absolute URI of a stored artifact location (relative ones are the store's own)."""
        if self.base_dir is None or has_scheme(location) or location.startswith("/"):
            return location
        return f"{self._base_uri}/{urllib.parse.quote(location)}"

    def _user_location(self, location: str) -> str:
        if has_scheme(location) or location.startswith("/"):
            return location.rstrip("/") or location  # "/" stays "/", not the store folder
        # A relative folder is taken from the working directory and recorded as an absolute
        # path, as MLflow records it (a ``file:`` URI on Windows, where paths have drives).
        resolved = Path(location).resolve()
        return resolved.as_uri() if os.name == "nt" else str(resolved)

    def _ensure_default_experiment(self) -> None:
        with self.db.read() as cur:
            cur.execute("SELECT 1 FROM experiments WHERE experiment_id = 0")
            if cur.fetchone() is not None:
                return
        now = now_ms()
        with self.db.write() as cur:
            cur.execute(
                (
                    "INSERT INTO experiments (experiment_id, name, artifact_location, "
                    "lifecycle_stage, creation_time, last_update_time) VALUES (0, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING"
                ),
                (
                    DEFAULT_EXPERIMENT_NAME,
                    f"{self.artifact_root}/{DEFAULT_EXPERIMENT_ID}",
                    LifecycleStage.ACTIVE,
                    now,
                    now,
                ),
            )

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        validate_experiment_name(name)
        if artifact_location:
            artifact_location = validate_artifact_location(artifact_location)
        tag_rows = [
            (
                validate_key(t.key, "tag key"),
                validate_tag_value(t.key, t.value, MAX_EXPERIMENT_TAG_VAL_LENGTH),
            )
            for t in tags or ()
        ]
        now = now_ms()
        with self.db.write() as cur:
            cur.execute(
                ("SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ?"),
                (name,),
            )
            row = cur.fetchone()
            if row is not None:
                hint = (
                    " (it is deleted: restore it, or choose another name)"
                    if row[1] == LifecycleStage.DELETED
                    else ""
                )
                raise TrazaException(
                    f"Experiment {name!r} already exists with id {row[0]}{hint}.",
                    error_code=RESOURCE_ALREADY_EXISTS,
                )
            while True:
                experiment_id = secrets.randbits(63) or 1
                cur.execute(("SELECT 1 FROM experiments WHERE experiment_id = ?"), (experiment_id,))
                if cur.fetchone() is None:
                    break
            location = (
                self._user_location(artifact_location)
                if artifact_location
                else f"{self.artifact_root}/{experiment_id}"
            )
            cur.execute(
                (
                    "INSERT INTO experiments (experiment_id, name, artifact_location, "
                    "lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (experiment_id, name, location, LifecycleStage.ACTIVE, now, now),
            )
            cur.executemany(
                ("INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)"),
                [(experiment_id, k, v) for k, v in dict(tag_rows).items()],
            )
        return str(experiment_id)

    _EXPERIMENT_COLUMNS = (
        "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, "
        "e.last_update_time"
    )

    def _experiments(self, cur: Cursor, rows: list[Any]) -> list[Experiment]:
        ids = [row[0] for row in rows]
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        for chunk in chunks(ids):
            cur.execute(
                (
                    "SELECT experiment_id, key, value FROM experiment_tags "
                    f"WHERE experiment_id IN ({marks(chunk)})"
                ),
                chunk,
            )
            for experiment_id, key, value in cur.fetchall():
                tags[experiment_id][key] = value
        return [
            Experiment(
                experiment_id=str(row[0]),
                name=row[1],
                artifact_location=self.resolve_location(row[2]),
                lifecycle_stage=row[3],
                tags=tags[row[0]],
                creation_time=row[4],
                last_update_time=row[5],
            )
            for row in rows
        ]

    def _experiment_row(self, cur: Cursor, experiment_id: str) -> Any:
        validate_experiment_id(experiment_id)
        cur.execute(
            (f"SELECT {self._EXPERIMENT_COLUMNS} FROM experiments e WHERE experiment_id = ?"),
            (int(experiment_id),),
        )
        row = cur.fetchone()
        if row is None:
            raise not_found(f"No experiment with id {experiment_id} exists.")
        return row

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self.db.read() as cur:
            return self._experiments(cur, [self._experiment_row(cur, str(experiment_id))])[0]

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        with self.db.read() as cur:
            cur.execute(
                (f"SELECT {self._EXPERIMENT_COLUMNS} FROM experiments e WHERE name = ?"),
                (experiment_name,),
            )
            row = cur.fetchone()
            return self._experiments(cur, [row])[0] if row else None

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        visibility: Visibility | None = None,
    ) -> PagedList[Experiment]:
        validate_max_results(max_results, MAX_RESULTS_SEARCH_EXPERIMENTS)
        filters = parse_experiment_filter(filter_string)
        orders = parse_experiment_order_by(list(order_by or ()))
        offset = decode_page_token(page_token)
        args: list[Any] = []
        stages = LifecycleStage.view_type_to_stages(view_type)
        conditions = [f"e.lifecycle_stage IN ({marks(stages)})"]
        args.extend(stages)
        conditions += sqlc.experiment_filter_sql(self.db.dialect, filters, args)
        if visibility is not None:
            conditions.append(visibility.experiment_condition("e.experiment_id", args))
        query = (
            f"SELECT {self._EXPERIMENT_COLUMNS} FROM experiments e "
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY {', '.join(sqlc.experiment_order_sql(orders))} LIMIT ? OFFSET ?"
        )
        args += [max_results + 1, offset]
        with self.db.read() as cur:
            cur.execute((query), args)
            rows = cur.fetchall()
            experiments = self._experiments(cur, rows[:max_results])
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(experiments, token)

    def _active_experiment(self, cur: Cursor, experiment_id: str, action: str) -> int:
        row = self._experiment_row(cur, experiment_id)
        if row[3] != LifecycleStage.ACTIVE:
            raise invalid(
                f"Cannot {action} experiment {experiment_id}: it is deleted. Restore it first."
            )
        return int(row[0])

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        validate_experiment_name(new_name)
        with self.db.write() as cur:
            eid = self._active_experiment(cur, str(experiment_id), "rename")
            cur.execute(("SELECT experiment_id FROM experiments WHERE name = ?"), (new_name,))
            row = cur.fetchone()
            if row is not None and row[0] != eid:
                raise TrazaException(
                    f"Cannot rename experiment {experiment_id} to {new_name!r}: experiment "
                    f"{row[0]} already has that name.",
                    error_code=RESOURCE_ALREADY_EXISTS,
                )
            cur.execute(
                ("UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?"),
                (new_name, now_ms(), eid),
            )

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        now = now_ms()
        deleted_time = now if stage == LifecycleStage.DELETED else None
        with self.db.write() as cur:
            eid = int(self._experiment_row(cur, str(experiment_id))[0])
            cur.execute(
                (
                    "UPDATE experiments SET lifecycle_stage = ?, deleted_time = ?, "
                    "last_update_time = ? WHERE experiment_id = ?"
                ),
                (stage, deleted_time, now, eid),
            )
            cur.execute(
                ("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?"),
                (stage, deleted_time, eid),
            )

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE)

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        key = validate_key(tag.key, "tag key")
        value = validate_tag_value(key, tag.value, MAX_EXPERIMENT_TAG_VAL_LENGTH)
        with self.db.write() as cur:
            eid = self._active_experiment(cur, str(experiment_id), "tag")
            cur.execute(
                (
                    "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value"
                ),
                (eid, key, value),
            )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        with self.db.write() as cur:
            eid = self._active_experiment(cur, str(experiment_id), "untag")
            cur.execute(
                ("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?"),
                (eid, key),
            )
            if cur.rowcount == 0:
                raise not_found(f"No tag {key!r} on experiment {experiment_id}.")
