"""Read an MLflow SQL database (SQLite file or PostgreSQL), read-only, straight through the driver.

No SQLAlchemy and no ORM: each table is read in one ordered pass and the passes are merged by run
id, so a run's params, tags, metric points, inputs and outputs arrive together at the cost of one
sequential scan per table. The alembic revision is checked first; a revision newer than the last
MLflow this Traza knows is refused, naming it. Tables and columns that appeared over MLflow's
history are looked up in the database, so an MLflow 2.0 schema reads as well as 3.17's.
"""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from traza.exceptions import TrazaException
from traza.transfer.mlflow_schema import HEAD, HEAD_MLFLOW_VERSION, LOGGED_MODEL_STATUS, REVISIONS
from traza.transfer.records import (
    DatasetRecord,
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    Point,
    RegisteredModelRecord,
    RunRecord,
)
from traza.transfer.source import batched


def _bad_source(message: str) -> TrazaException:
    return TrazaException(message, error_code="INVALID_PARAMETER_VALUE")


class _Driver:
    """One read-only connection and snapshot; ``?`` placeholders on both engines."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.postgres = location.startswith(("postgresql", "postgres:"))
        self._cursors: list[Any] = []
        if self.postgres:
            import psycopg

            rest = location.partition("://")[2]
            try:
                self.conn: Any = psycopg.connect(f"postgresql://{rest}", connect_timeout=10)
            except psycopg.OperationalError as e:
                raise TrazaException(
                    f"Cannot connect to the MLflow database {_redacted(location)}: {e}",
                    error_code="TEMPORARILY_UNAVAILABLE",
                ) from None
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._named = 0
        else:
            path = Path(location)
            if not path.is_file():
                raise _bad_source(f"{location}: no such file.")
            uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.conn.execute("BEGIN")

    def _sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s") if self.postgres else sql

    def all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return list(self.conn.execute(self._sql(sql), args).fetchall())
        except sqlite3.DatabaseError as e:
            raise _bad_source(f"{self.location}: cannot read it ({e}); query: {sql}") from None

    def stream(self, sql: str) -> Iterator[Any]:
        """Rows of a large result, fetched in chunks (a server-side cursor on PostgreSQL)."""
        if self.postgres:
            self._named += 1
            cur = self.conn.cursor(name=f"traza_import_{self._named}")
        else:
            cur = self.conn.cursor()
        self._cursors.append(cur)
        try:
            cur.execute(sql)
            while True:
                rows = cur.fetchmany(20_000)
                if not rows:
                    break
                yield from rows
        except sqlite3.DatabaseError as e:
            raise _bad_source(f"{self.location}: cannot read it ({e}); query: {sql}") from None
        finally:
            self._close_cursor(cur)

    def _close_cursor(self, cur: Any) -> None:
        if cur in self._cursors:
            self._cursors.remove(cur)
            with contextlib.suppress(Exception):  # the connection went first
                cur.close()

    def tables(self) -> set[str]:
        if self.postgres:
            rows = self.all(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        else:
            rows = self.all("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows}

    def columns(self, table: str) -> set[str]:
        if self.postgres:
            rows = self.all(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ?",
                (table,),
            )
            return {r[0] for r in rows}
        return {r[1] for r in self.all(f"PRAGMA table_info({table})")}

    def order(self, column: str) -> str:
        """ORDER BY ``column`` in byte order, as Python compares strings."""
        return f'{column} COLLATE "C"' if self.postgres else column

    def close(self) -> None:
        for cur in list(self._cursors):
            self._close_cursor(cur)
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"


def sqlite_path(uri: str) -> str | None:
    """The file of ``sqlite:///path`` (or a plain path to an existing file), else ``None``."""
    if uri.startswith("sqlite:///"):
        return uri[len("sqlite:///") :].split("?", 1)[0]
    if "://" not in uri and Path(uri).is_file():
        return uri
    return None


class MlflowSqlSource:
    """Records from an MLflow tracking database."""

    def __init__(self, location: str) -> None:
        path = sqlite_path(location)
        self.label = path or _redacted(location)
        self.skipped: list[str] = []
        self.db = _Driver(path or location)
        try:
            self._check_schema()
        except BaseException:
            self.db.close()
            raise
        self._base = Path(path).resolve().parent if path else None

    # -- schema ------------------------------------------------------------------------------
    def _check_schema(self) -> None:
        tables = self.db.tables()
        if "alembic_version" not in tables or "runs" not in tables:
            what = "a Traza store" if "traza_migrations" in tables else "an MLflow database"
            raise _bad_source(
                f"{self.label} is not an MLflow database: it has no alembic_version and runs "
                f"tables{' (it is ' + what + ')' if 'traza_migrations' in tables else ''}. "
                "`traza import` reads MLflow's SQLite/PostgreSQL databases, `mlruns/` folders "
                "and servers; use `traza sync` between Traza stores."
            )
        rows = self.db.all("SELECT version_num FROM alembic_version")
        revision = rows[0][0] if rows else None
        if revision not in REVISIONS:
            raise _bad_source(
                f"{self.label}: MLflow schema revision {revision!r} (table alembic_version) is "
                f"not one Traza knows: it reads revisions up to {HEAD} (MLflow "
                f"{HEAD_MLFLOW_VERSION}). A newer MLflow wrote this database; upgrade Traza, or "
                "import from that MLflow's server instead (`traza import http://...`)."
            )
        self.revision = revision
        self.tables = tables
        self.workspaces = "workspace" in self.db.columns("experiments")

    def _where_workspace(self, alias: str = "") -> str:
        return f" WHERE {alias}workspace = 'default'" if self.workspaces else ""

    def _absolute(self, location: str | None) -> str:
        """An artifact location MLflow stored relative to its working directory, made absolute
        against the database's folder (the best guess left)."""
        if not location:
            return ""
        if "://" in location or location.startswith("/") or ":" in location.split("/")[0]:
            return location
        if self._base is None:
            return location
        return (self._base / location).resolve().as_uri()

    # -- experiments -------------------------------------------------------------------------
    def experiments(self) -> list[ExperimentRecord]:
        cols = self.db.columns("experiments")
        times = (
            "creation_time, last_update_time"
            if "creation_time" in cols
            else "NULL, NULL"
        )  # fmt: skip
        rows = self.db.all(
            f"SELECT experiment_id, name, artifact_location, lifecycle_stage, {times} "
            f"FROM experiments{self._where_workspace()} ORDER BY experiment_id"
        )
        if self.workspaces:
            others = self.db.all("SELECT COUNT(*) FROM experiments WHERE workspace <> 'default'")[
                0
            ][0]
            if others:
                self.skipped.append(
                    f"{others} experiments of MLflow workspaces other than 'default' (Traza has "
                    "no workspaces; import them through their server)"
                )
        tags: dict[int, dict[str, str]] = {}
        for eid, key, value in self.db.all("SELECT experiment_id, key, value FROM experiment_tags"):
            tags.setdefault(int(eid), {})[key] = value if value is not None else ""
        return [
            ExperimentRecord(
                experiment_id=str(eid),
                name=name,
                artifact_location=self._absolute(location),
                lifecycle_stage=stage or "active",
                creation_time=created,
                last_update_time=updated,
                tags=tags.get(int(eid), {}),
            )
            for eid, name, location, stage, created, updated in rows
        ]

    # -- logged models -----------------------------------------------------------------------
    def logged_models(self) -> Iterator[LoggedModelRecord]:
        if "logged_models" not in self.tables:
            return
        params: dict[str, dict[str, str]] = {}
        for mid, key, value in self.db.all(
            "SELECT model_id, param_key, param_value FROM logged_model_params"
        ):
            params.setdefault(mid, {})[key] = value
        tags: dict[str, dict[str, str]] = {}
        for mid, key, value in self.db.all(
            "SELECT model_id, tag_key, tag_value FROM logged_model_tags"
        ):
            tags.setdefault(mid, {})[key] = value
        for row in self.db.all(
            "SELECT model_id, experiment_id, name, artifact_location, creation_timestamp_ms, "
            "last_updated_timestamp_ms, status, lifecycle_stage, model_type, source_run_id, "
            "status_message FROM logged_models ORDER BY creation_timestamp_ms"
        ):
            mid = row[0]
            yield LoggedModelRecord(
                model_id=mid,
                experiment_id=str(row[1]),
                name=row[2],
                artifact_location=self._absolute(row[3]),
                creation_time=int(row[4]),
                last_update_time=int(row[5]),
                status=LOGGED_MODEL_STATUS.get(int(row[6]), "UNSPECIFIED"),
                lifecycle_stage=row[7] or "active",
                model_type=row[8],
                source_run_id=row[9],
                status_message=row[10],
                tags=tags.get(mid, {}),
                params=params.get(mid, {}),
            )

    # -- runs --------------------------------------------------------------------------------
    def run_count(self) -> int:
        return int(self.db.all("SELECT COUNT(*) FROM runs")[0][0])

    def run_batches(self) -> Iterator[list[RunRecord]]:
        return batched(self._runs())

    def _runs(self) -> Iterator[RunRecord]:
        db = self.db
        cols = db.columns("runs")
        name = "name" if "name" in cols else "NULL"
        deleted = "deleted_time" if "deleted_time" in cols else "NULL"
        runs = db.stream(
            f"SELECT run_uuid, experiment_id, {name}, user_id, status, start_time, end_time, "
            f"lifecycle_stage, artifact_uri, {deleted} FROM runs ORDER BY {db.order('run_uuid')}"
        )
        params = _Merge(
            db.stream(f"SELECT run_uuid, key, value FROM params ORDER BY {db.order('run_uuid')}")
        )
        tags = _Merge(
            db.stream(f"SELECT run_uuid, key, value FROM tags ORDER BY {db.order('run_uuid')}")
        )
        metrics = _Merge(
            db.stream(
                "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics "
                f"ORDER BY {db.order('run_uuid')}"
            )
        )
        model_metrics = _Merge(iter(()))
        if "logged_model_metrics" in self.tables:
            model_metrics = _Merge(
                db.stream(
                    "SELECT run_id, metric_name, metric_value, metric_timestamp_ms, "
                    "metric_step, model_id, dataset_name, dataset_digest "
                    f"FROM logged_model_metrics ORDER BY {db.order('run_id')}"
                )
            )
        inputs, outputs, input_tags, datasets = self._input_streams()
        for row in runs:
            uuid = row[0]
            points: list[Point] = []
            for _, key, value, ts, step, is_nan in metrics.take(uuid):
                v = float("nan") if is_nan else float(value)
                points.append((key, v, int(ts), int(step), None, None, None))
            links = model_metrics.take(uuid)
            if links:
                points = _link_model_metrics(points, links)
            run_inputs: list[DatasetRecord] = []
            for _, input_uuid, dataset_uuid in inputs.take(uuid):
                d = datasets.get(dataset_uuid)
                if d is not None:
                    name, digest, source_type, source, schema, profile = d
                    run_inputs.append(
                        DatasetRecord(
                            name, digest, source_type, source, schema, profile,
                            tags=dict(input_tags.get(input_uuid, {})),
                        )
                    )  # fmt: skip
            run_outputs = []
            model_inputs = []
            for _, kind, model_id, step in outputs.take(uuid):
                if kind == "RUN_OUTPUT":
                    run_outputs.append((model_id, int(step or 0)))
                else:  # RUN_INPUT: a logged model the run used
                    model_inputs.append(model_id)
            run_tags = {k: v if v is not None else "" for _, k, v in tags.take(uuid)}
            yield RunRecord(
                run_id=uuid,
                experiment_id=str(row[1]),
                name=row[2] or run_tags.get("mlflow.runName", ""),
                user_id=row[3] or "",
                status=row[4] or "RUNNING",
                start_time=int(row[5] or 0),
                end_time=int(row[6]) if row[6] is not None else None,
                lifecycle_stage=row[7] or "active",
                artifact_uri=self._absolute(row[8]),
                deleted_time=int(row[9]) if row[9] is not None else None,
                params={k: v for _, k, v in params.take(uuid)},
                tags=run_tags,
                metrics=points,
                inputs=run_inputs,
                outputs=run_outputs,
                model_inputs=model_inputs,
            )

    def _input_streams(
        self,
    ) -> tuple[_Merge, _Merge, dict[str, dict[str, str]], dict[str, tuple[Any, ...]]]:
        empty: tuple[_Merge, _Merge, dict[str, dict[str, str]], dict[str, tuple[Any, ...]]]
        empty = (_Merge(iter(())), _Merge(iter(())), {}, {})
        if "inputs" not in self.tables or "datasets" not in self.tables:
            return empty
        db = self.db
        datasets = {
            r[0]: tuple(r[1:])
            for r in db.all(
                "SELECT dataset_uuid, name, digest, dataset_source_type, dataset_source, "
                "dataset_schema, dataset_profile FROM datasets"
            )
        }
        input_tags: dict[str, dict[str, str]] = {}
        for input_uuid, key, value in db.all("SELECT input_uuid, name, value FROM input_tags"):
            input_tags.setdefault(input_uuid, {})[key] = value
        inputs = _Merge(
            db.stream(
                "SELECT destination_id, input_uuid, source_id FROM inputs "
                "WHERE source_type = 'DATASET' AND destination_type = 'RUN' "
                f"ORDER BY {db.order('destination_id')}"
            )
        )
        step = "step" if "step" in db.columns("inputs") else "0"
        outputs = _Merge(
            db.stream(
                f"SELECT source_id, source_type, destination_id, {step} FROM inputs "
                "WHERE source_type IN ('RUN_OUTPUT', 'RUN_INPUT') "
                f"ORDER BY {db.order('source_id')}"
            )
        )
        return inputs, outputs, input_tags, datasets

    # -- registry ----------------------------------------------------------------------------
    def registered_models(self) -> Iterator[RegisteredModelRecord]:
        if "registered_models" not in self.tables:
            return
        db = self.db
        ws = self._where_workspace()
        tags: dict[str, dict[str, str]] = {}
        for name, key, value in db.all(f"SELECT name, key, value FROM registered_model_tags{ws}"):
            tags.setdefault(name, {})[key] = value if value is not None else ""
        version_tags: dict[tuple[str, int], dict[str, str]] = {}
        for name, version, key, value in db.all(
            f"SELECT name, version, key, value FROM model_version_tags{ws}"
        ):
            version_tags.setdefault((name, int(version)), {})[key] = value or ""
        aliases: dict[str, dict[str, int]] = {}
        if "registered_model_aliases" in self.tables:
            for name, alias, version in db.all(
                f"SELECT name, alias, version FROM registered_model_aliases{ws}"
            ):
                aliases.setdefault(name, {})[alias] = int(version)
        mv_cols = db.columns("model_versions")
        storage = "storage_location" if "storage_location" in mv_cols else "NULL"
        run_link = "run_link" if "run_link" in mv_cols else "NULL"
        versions: dict[str, list[ModelVersionRecord]] = {}
        for row in db.all(
            "SELECT name, version, creation_time, last_updated_time, description, user_id, "
            f"current_stage, source, run_id, status, status_message, {run_link}, {storage} "
            f"FROM model_versions{ws} ORDER BY name, version"
        ):
            name, version = row[0], int(row[1])
            source = row[7] or ""
            location = row[12]
            if location == source or (location or "").startswith("runs:/"):
                location = None
            model_id = None
            if source.startswith("models:/m-"):
                model_id = source[len("models:/") :].split("/", 1)[0]
            versions.setdefault(name, []).append(
                ModelVersionRecord(
                    version=version,
                    creation_time=int(row[2] or 0),
                    last_update_time=int(row[3] or row[2] or 0),
                    description=row[4],
                    user_id=row[5],
                    current_stage=row[6] or "None",
                    source=source,
                    run_id=row[8] or None,
                    status=row[9] or "READY",
                    status_message=row[10],
                    run_link=row[11] or None,
                    storage_location=self._absolute(location) if location else None,
                    model_id=model_id,
                    tags=version_tags.get((name, version), {}),
                )
            )
        for name, created, updated, description in db.all(
            f"SELECT name, creation_time, last_updated_time, description FROM registered_models"
            f"{ws} ORDER BY name"
        ):
            yield RegisteredModelRecord(
                name=name,
                creation_time=int(created or 0),
                last_update_time=int(updated or created or 0),
                description=description,
                tags=tags.get(name, {}),
                versions=versions.get(name, []),
                aliases=aliases.get(name, {}),
            )

    def close(self) -> None:
        self.db.close()


class _Merge:
    """Rows ordered by their first column, taken run by run as the runs go past in order."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self._head: Any = next(rows, None)

    def take(self, key: str) -> list[Any]:
        out = []
        head = self._head
        rows = self._rows
        while head is not None and (head[0] or "") < key:  # orphans of deleted runs
            head = next(rows, None)
        while head is not None and head[0] == key:
            out.append(head)
            head = next(rows, None)
        self._head = head
        return out


def _link_model_metrics(points: list[Point], links: list[Any]) -> list[Point]:
    """Points MLflow also logged for a logged model get its id and dataset."""
    by_point: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    extra: list[Point] = []
    for _, key, value, ts, step, model_id, dname, ddigest in links:
        v = float("nan") if value is None else float(value)
        by_point[(key, int(ts), int(step), v)] = (model_id, dname, ddigest)
    seen = set()
    out: list[Point] = []
    for p in points:
        link = by_point.get((p[0], p[2], p[3], p[1]))
        if link is not None:
            seen.add((p[0], p[2], p[3], p[1]))
            out.append((p[0], p[1], p[2], p[3], *link))
        else:
            out.append(p)
    for (key, ts, step, v), link in by_point.items():
        if (key, ts, step, v) not in seen:
            extra.append((key, v, ts, step, *link))
    return out + extra
