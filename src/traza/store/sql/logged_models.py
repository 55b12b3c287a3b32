"""Logged models (MLflow 3) in the SQL store: create, read, finalize, tag, search, delete.

A model's metrics are the metric points runs logged with its ``model_id`` (the ``metrics``
table), so logging one point updates the run and the model at once. "Latest" is the runs' rule,
largest (step, timestamp, value) with a number over NaN, taken per key and dataset, found with a
window function so that filters and ordering run in SQL. Deleted models are soft-deleted and
treated as missing by every call.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from traza.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
    PagedList,
)
from traza.exceptions import invalid, not_found
from traza.search.grammar import Comparison
from traza.search.logged_models import (
    DatasetScope,
    ModelOrderBy,
    decode_model_page_token,
    encode_model_page_token,
    parse_dataset_scopes,
    parse_logged_model_filter,
    parse_logged_model_order_by,
)
from traza.store.base import SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT
from traza.store.sql.compile import _compare, whole
from traza.store.sql.db import Cursor, Database
from traza.store.sql.dialect import Dialect
from traza.store.sql.util import IN_CHUNK, marks, now_ms
from traza.validation import (
    MAX_LOGGED_MODEL_NAME_LENGTH,
    validate_experiment_id,
    validate_key,
    validate_max_results,
    validate_name_length,
    validate_param_value,
    validate_tag_value,
)

MAX_RESULTS_SEARCH_LOGGED_MODELS = 50000

_COLUMNS = (
    "lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_time, "
    "lm.last_update_time, lm.model_type, lm.source_run_id, lm.status, lm.status_message"
)
_ATTRIBUTE_COLUMNS = {
    "name": "lm.name",
    "model_id": "lm.model_id",
    "model_type": "lm.model_type",
    "status": "lm.status",
    "source_run_id": "lm.source_run_id",
    "creation_timestamp": "lm.creation_time",
    "last_updated_timestamp": "lm.last_update_time",
}
# Status is stored by name; ordering follows MLflow's numbers (PENDING < READY < FAILED).
_STATUS_RANK = (
    "(CASE lm.status WHEN 'PENDING' THEN 1 WHEN 'READY' THEN 2 WHEN 'FAILED' THEN 3 ELSE 0 END)"
)
_TAG_TABLES = {"param": "logged_model_params", "tag": "logged_model_tags"}
_BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")


def _latest(partition: str, where: str) -> str:
    """Model metric points ranked newest first (``rn = 1``) within each ``partition``."""
    return (
        "SELECT m.model_id, m.run_id, m.key, m.value, m.is_nan, m.timestamp, m.step, "
        "m.dataset_name, m.dataset_digest, ROW_NUMBER() OVER (PARTITION BY m.model_id, m.key"
        f"{partition} ORDER BY m.step DESC, m.timestamp DESC, m.is_nan, m.value DESC) AS rn "
        f"FROM metrics m WHERE m.model_id IS NOT NULL AND {where}"
    )


_PER_DATASET = ", m.dataset_name, m.dataset_digest"


def _scope_sql(alias: str, scopes: Sequence[DatasetScope], args: list[Any]) -> str:
    """``(name = ? [AND digest = ?]) OR ...`` over ``alias``'s dataset columns."""
    terms = []
    for s in scopes:
        args.append(s.name)
        term = f"{alias}.dataset_name = ?"
        if s.digest is not None:
            args.append(s.digest)
            term += f" AND {alias}.dataset_digest = ?"
        terms.append(f"({term})")
    return f"({' OR '.join(terms)})"


def _filter_sql(
    dialect: Dialect,
    filters: Sequence[Comparison],
    scopes: Sequence[DatasetScope],
    args: list[Any],
) -> list[str]:
    """One condition per comparison over a ``logged_models lm`` row."""
    conditions = []
    for c in filters:
        if c.entity == "attribute":
            conditions.append(_compare(dialect, _ATTRIBUTE_COLUMNS[c.key], whole(c), args))
        elif c.entity == "metric":
            args.append(c.key)
            inner = _latest(_PER_DATASET, "m.key = ?")
            condition = _compare(dialect, "x.value", c, args)
            scope = f" AND {_scope_sql('x', scopes, args)}" if scopes else ""
            conditions.append(
                f"lm.model_id IN (SELECT x.model_id FROM ({inner}) x "
                f"WHERE x.rn = 1 AND x.is_nan = 0 AND {condition}{scope})"
            )
        else:
            args.append(c.key)
            condition = _compare(dialect, "x.value", c, args)
            conditions.append(
                f"EXISTS (SELECT 1 FROM {_TAG_TABLES[c.entity]} x "
                f"WHERE x.model_id = lm.model_id AND x.key = ? AND {condition})"
            )
    if scopes and not any(c.entity == "metric" for c in filters):
        # With datasets but no metric filter, MLflow keeps models with any metric on them.
        conditions.append(
            "lm.model_id IN (SELECT m.model_id FROM metrics m WHERE m.model_id IS NOT NULL "
            f"AND {_scope_sql('m', scopes, args)})"
        )
    return conditions


def _order_sql(order_by: Sequence[ModelOrderBy], args: list[Any]) -> tuple[list[str], list[str]]:
    """(LEFT JOIN clauses, ORDER BY terms); missing values sort last in either direction."""
    joins: list[str] = []
    terms: list[str] = []
    for i, o in enumerate(order_by):
        direction = "" if o.ascending else " DESC"
        if o.entity == "attribute":
            column = _STATUS_RANK if o.key == "status" else _ATTRIBUTE_COLUMNS[o.key]
            terms += [f"(CASE WHEN {column} IS NULL THEN 1 ELSE 0 END)", column + direction]
            continue
        alias = f"o{i}"
        args.append(o.key)
        where = "m.key = ?"
        if o.dataset is not None:
            where += f" AND {_scope_sql('m', [o.dataset], args)}"
        joins.append(
            f"LEFT JOIN ({_latest('', where)}) {alias} "
            f"ON {alias}.model_id = lm.model_id AND {alias}.rn = 1"
        )
        terms.append(
            f"(CASE WHEN {alias}.is_nan = 1 THEN 1 WHEN {alias}.value IS NULL THEN 2 ELSE 0 END)"
        )
        terms.append(f"{alias}.value{direction}")
    keys = {o.key for o in order_by if o.entity == "attribute"}
    if "creation_timestamp" not in keys:
        terms.append("lm.creation_time DESC")
    if "model_id" not in keys:
        terms.append("lm.model_id")
    return joins, terms


class SqlLoggedModels:
    """The logged-model part of :class:`~traza.store.sql.store.SqlStore`."""

    db: Database

    if TYPE_CHECKING:  # provided by the other parts of SqlStore

        def resolve_location(self, location: str) -> str: ...

        def _experiment_row(self, cur: Cursor, experiment_id: str) -> Any: ...

        def _active_run_id(self, cur: Cursor, run_id: str) -> int: ...

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = (),
        params: Sequence[LoggedModelParameter] | None = (),
        model_type: str | None = None,
    ) -> LoggedModel:
        if name is not None and (
            not isinstance(name, str) or not name or any(c in name for c in _BAD_NAME_CHARS)
        ):
            raise invalid(
                f"Invalid model name {name!r}: give a non-empty name without any of "
                f"{' '.join(_BAD_NAME_CHARS)}."
            )
        validate_name_length("logged model name", name, MAX_LOGGED_MODEL_NAME_LENGTH)
        if not name:
            from traza.names import generate_run_name

            name = generate_run_name()
        tag_map = _tag_map(tags or ())
        param_map = _param_map(params or ())
        model_id = f"m-{secrets.token_hex(16)}"
        now = now_ms()
        with self.db.write() as cur:
            row = self._experiment_row(cur, str(experiment_id))
            if row[3] != LifecycleStage.ACTIVE:
                raise invalid(
                    f"Cannot create a logged model in experiment {experiment_id}: it is deleted. "
                    "Restore it or choose another experiment."
                )
            cur.execute(
                "INSERT INTO logged_models (model_id, experiment_id, name, source_run_id, "
                "model_type, status, artifact_location, creation_time, last_update_time, "
                "lifecycle_stage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    model_id,
                    row[0],
                    name,
                    source_run_id or None,
                    model_type or None,
                    LoggedModelStatus.PENDING.value,
                    f"{row[2]}/models/{model_id}/artifacts",
                    now,
                    now,
                    LifecycleStage.ACTIVE,
                ),
            )
            self._upsert_model_tags(cur, model_id, tag_map)
            self._insert_model_params(cur, model_id, param_map)
            return self._models(cur, [self._model_row(cur, model_id)])[0]

    def get_logged_model(self, model_id: str) -> LoggedModel:
        with self.db.read() as cur:
            return self._models(cur, [self._model_row(cur, model_id)])[0]

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | int | str
    ) -> LoggedModel:
        try:
            final = LoggedModelStatus.parse(status)
        except ValueError as e:
            raise invalid(str(e)) from None
        if final == LoggedModelStatus.UNSPECIFIED:
            raise invalid("A logged model cannot be finalized as UNSPECIFIED: use READY or FAILED.")
        with self.db.write() as cur:
            self._model_row(cur, model_id)
            cur.execute(
                "UPDATE logged_models SET status = ?, last_update_time = ? WHERE model_id = ?",
                (final.value, now_ms(), model_id),
            )
            return self._models(cur, [self._model_row(cur, model_id)])[0]

    def delete_logged_model(self, model_id: str) -> None:
        now = now_ms()
        with self.db.write() as cur:
            self._model_row(cur, model_id)
            cur.execute(
                "UPDATE logged_models SET lifecycle_stage = ?, deleted_time = ?, "
                "last_update_time = ? WHERE model_id = ?",
                (LifecycleStage.DELETED, now, now, model_id),
            )

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        tag_map = _tag_map(tags)
        with self.db.write() as cur:
            self._model_row(cur, model_id)
            self._upsert_model_tags(cur, model_id, tag_map)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        with self.db.write() as cur:
            self._model_row(cur, model_id)
            cur.execute(
                "DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?", (model_id, key)
            )
            if cur.rowcount == 0:
                raise not_found(f"No tag with key {key!r} on logged model {model_id}.")

    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParameter]
    ) -> None:
        param_map = _param_map(params)
        with self.db.write() as cur:
            self._model_row(cur, model_id)
            self._insert_model_params(cur, model_id, param_map)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        with self.db.write() as cur:
            rid = self._active_run_id(cur, run_id)
            for m in models:
                cur.execute("SELECT 1 FROM logged_models WHERE model_id = ?", (m.model_id,))
                if cur.fetchone() is None:
                    raise not_found(f"Logged model with id={m.model_id} not found.")
            cur.executemany(
                "INSERT INTO run_outputs (run_id, model_id, step) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id, model_id) DO NOTHING",
                [(rid, m.model_id, int(m.step)) for m in models],
            )

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int = SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[Mapping[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        validate_max_results(max_results, MAX_RESULTS_SEARCH_LOGGED_MODELS)
        if isinstance(experiment_ids, str | int):
            experiment_ids = [experiment_ids]
        id_strings = [validate_experiment_id(e) for e in experiment_ids]
        exp_ids = [int(e) for e in id_strings]
        filters = parse_logged_model_filter(filter_string)
        scopes = parse_dataset_scopes(datasets)
        orders = parse_logged_model_order_by(order_by)
        search = (id_strings, filter_string, order_by)
        offset = decode_model_page_token(page_token, *search)
        if not exp_ids:
            return PagedList([], None)
        args: list[Any] = []
        joins, terms = _order_sql(orders, args)
        conditions = [f"lm.experiment_id IN ({marks(exp_ids)})", "lm.lifecycle_stage = ?"]
        args += [*exp_ids, LifecycleStage.ACTIVE]
        conditions += _filter_sql(self.db.dialect, filters, scopes, args)
        query = (
            f"SELECT {_COLUMNS} FROM logged_models lm {' '.join(joins)} "
            f"WHERE {' AND '.join(conditions)} ORDER BY {', '.join(terms)} LIMIT ? OFFSET ?"
        )
        args += [max_results + 1, offset]
        with self.db.read() as cur:
            cur.execute(query, args)
            rows = cur.fetchall()
            models = self._models(cur, rows[:max_results])
        token = None
        if len(rows) > max_results:
            token = encode_model_page_token(offset + max_results, *search)
        return PagedList(models, token)

    # -- helpers -----------------------------------------------------------------------------
    def _model_row(self, cur: Cursor, model_id: str) -> Any:
        """The model's row; a missing or deleted model is RESOURCE_DOES_NOT_EXIST."""
        if not isinstance(model_id, str):
            raise invalid(f"Invalid logged model id {model_id!r}: give a string like 'm-...'.")
        cur.execute(
            f"SELECT {_COLUMNS} FROM logged_models lm "
            "WHERE lm.model_id = ? AND lm.lifecycle_stage = ?",
            (model_id, LifecycleStage.ACTIVE),
        )
        row = cur.fetchone()
        if row is None:
            raise not_found(f"Logged model with id={model_id} not found.")
        return row

    def _upsert_model_tags(self, cur: Cursor, model_id: str, tags: dict[str, str]) -> None:
        cur.executemany(
            "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
            [(model_id, k, v) for k, v in tags.items()],
        )

    def _insert_model_params(self, cur: Cursor, model_id: str, values: dict[str, str]) -> None:
        """Add params; as for runs, a param may be logged again only with the same value."""
        if not values:
            return
        keys = list(values)
        cur.execute(
            "SELECT key, value FROM logged_model_params "
            f"WHERE model_id = ? AND key IN ({marks(keys)})",
            [model_id, *keys],
        )
        existing = dict(cur.fetchall())
        for key, old in existing.items():
            if old != values[key]:
                raise invalid(
                    f"Changing param values is not allowed. Param {key!r} of logged model "
                    f"{model_id} was already logged with value {old!r}; the new value is "
                    f"{values[key]!r}."
                )
        cur.executemany(
            "INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?)",
            [(model_id, k, v) for k, v in values.items() if k not in existing],
        )

    def _models(self, cur: Cursor, rows: list[Any]) -> list[LoggedModel]:
        """Whole models (tags, params, latest metrics) for model rows, in their order."""
        ids = [row[0] for row in rows]
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, list[Metric]] = {i: [] for i in ids}
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            in_list = marks(chunk)
            for table, target in (("logged_model_tags", tags), ("logged_model_params", params)):
                cur.execute(
                    f"SELECT model_id, key, value FROM {table} WHERE model_id IN ({in_list})",
                    chunk,
                )
                for model_id, key, value in cur.fetchall():
                    target[model_id][key] = value
            latest = _latest(_PER_DATASET, f"m.model_id IN ({in_list})")
            cur.execute(
                "SELECT x.model_id, x.key, x.value, x.is_nan, x.timestamp, x.step, "
                f"x.dataset_name, x.dataset_digest, r.run_uuid FROM ({latest}) x "
                "JOIN runs r ON r.id = x.run_id WHERE x.rn = 1",
                chunk,
            )
            for mid, key, value, is_nan, ts, step, dname, ddigest, run_uuid in cur.fetchall():
                value = math.nan if is_nan else value
                metrics[mid].append(Metric(key, value, ts, step, mid, dname, ddigest, run_uuid))
        return [
            LoggedModel(
                experiment_id=str(row[1]),
                model_id=row[0],
                name=row[2],
                artifact_location=self.resolve_location(row[3]),
                creation_timestamp=row[4],
                last_updated_timestamp=row[5],
                model_type=row[6],
                source_run_id=row[7],
                status=LoggedModelStatus.parse(row[8]),
                status_message=row[9],
                tags=tags[row[0]],
                params=params[row[0]],
                metrics=sorted(
                    metrics[row[0]],
                    key=lambda m: (m.key, m.dataset_name or "", m.dataset_digest or ""),
                ),
            )
            for row in rows
        ]


def _tag_map(tags: Sequence[LoggedModelTag]) -> dict[str, str]:
    """Validated tags; a key given twice keeps its last value, as MLflow's store does."""
    return {validate_key(t.key, "tag key"): validate_tag_value(t.key, t.value) for t in tags}


def _param_map(params: Sequence[LoggedModelParameter]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in params:
        key = validate_key(p.key, "param name")
        value = validate_param_value(key, p.value)
        if out.setdefault(key, value) != value:
            raise invalid(
                f"Param {key!r} appears twice with different values ({out[key]!r} and {value!r})."
            )
    return out
