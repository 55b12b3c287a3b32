"""The SQL tracking store: runs and logging here, experiments in ``experiments.py``.

Every public method is one transaction. Runs are joined by an integer id internally; the
32-hex ``run_uuid`` is what users see. Artifact locations that Traza chose are stored relative to
the store's folder so the folder can be moved or copied whole.
"""

from __future__ import annotations

import gc
import math
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from traza.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    ViewType,
)
from traza.exceptions import invalid, not_found
from traza.search import decode_page_token, encode_page_token, parse_run_filter, parse_run_order_by
from traza.store.base import SEARCH_MAX_RESULTS_DEFAULT, Store
from traza.store.sql import compile as sqlc
from traza.store.sql import metric_buckets, pg_metrics, pg_runs, search_order
from traza.store.sql.db import Cursor, Database
from traza.store.sql.experiments import SqlExperiments, run_artifact_location
from traza.store.sql.ingest import RECOMPUTE_LATEST, SqlIngest
from traza.store.sql.logged_models import SqlLoggedModels
from traza.store.sql.metrics import LATEST_UPSERT, fold_latest, metric_row, unique_params
from traza.store.sql.pg_group_commit import GroupCommit
from traza.store.sql.postgres import PostgresDatabase
from traza.store.sql.purge import SqlPurge
from traza.store.sql.registry import SqlRegistry
from traza.store.sql.schema import migrate
from traza.store.sql.trusted_roots import SqlTrustedRoots
from traza.store.sql.ui_queries import SqlUiQueries
from traza.store.sql.util import chunks, fetch_many, marks, now_ms
from traza.validation import (
    MAX_RESULTS_SEARCH_RUNS,
    MAX_RUN_NAME_LENGTH,
    validate_batch_limits,
    validate_experiment_id,
    validate_key,
    validate_max_results,
    validate_name_length,
    validate_run_id,
    validate_tag_value,
)

RUN_NAME_TAG = "mlflow.runName"


def _refuse_run(run_id: str, stage: str | None) -> NoReturn:
    """The error for changing a run that is not there (``stage`` None) or not active."""
    if stage is None:
        validate_run_id(run_id)
        raise not_found(f"Run with id={run_id} not found.")
    raise invalid(
        f"The run {run_id} must be in the 'active' state to be changed; it is deleted. "
        "Restore it first."
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class SqlStore(
    SqlExperiments,
    SqlIngest,
    SqlLoggedModels,
    SqlRegistry,
    SqlUiQueries,
    SqlPurge,
    SqlTrustedRoots,
    Store,
):
    """A tracking store on a SQL database.

    ``artifact_root`` is where new experiments put their artifacts: a URI, an absolute path, or
    a path relative to ``base_dir`` (the store's own folder), which is kept relative.
    """

    def __init__(self, db: Database, artifact_root: str, base_dir: Path | None = None) -> None:
        self.db = db
        self.artifact_root = artifact_root.rstrip("/")
        self.base_dir = base_dir.resolve() if base_dir is not None else None
        self._base_uri = self.base_dir.as_uri() if self.base_dir is not None else ""
        #: PostgreSQL only: experiment id as given -> (id, artifact location) of experiments
        #: runs were created in, so the next run is one statement (checked against the row).
        self._experiment_locations: dict[str, tuple[int, str]] = {}
        #: Experiment id sets found large enough for search's index walk, and when.
        self._walkable: dict[Any, float] = {}
        #: PostgreSQL only: concurrent metric batches of this process share one commit.
        self._group_commit: GroupCommit | None = None
        migrate(db)
        self._ensure_default_experiment()

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        tag_map = {validate_key(t.key, "tag key"): validate_tag_value(t.key, t.value) for t in tags}
        tagged_name = tag_map.get(RUN_NAME_TAG)
        if run_name and tagged_name and run_name != tagged_name:
            raise invalid(
                f"Both run_name {run_name!r} and tag {RUN_NAME_TAG}={tagged_name!r} were given; "
                "they must agree."
            )
        name = validate_name_length("run name", run_name or tagged_name, MAX_RUN_NAME_LENGTH)
        if not name:
            from traza.names import generate_run_name

            name = generate_run_name()
        tag_map[RUN_NAME_TAG] = name
        run_uuid = secrets.token_hex(16)
        location = self._experiment_locations.get(str(experiment_id))
        if location is not None:
            # PostgreSQL, an experiment seen before: one statement (see pg_runs.py); when the
            # experiment is gone, deleted or moved it writes nothing and the general path
            # below answers.
            artifact_uri = run_artifact_location(location[1], run_uuid)
            values = (run_uuid, name, user_id or "", start_time, artifact_uri)
            assert isinstance(self.db, PostgresDatabase)
            with self.db.autocommit() as raw:
                if pg_runs.create_run(raw, location, values, tag_map):
                    return self._new_run(run_uuid, location[0], user_id, start_time,
                                         artifact_uri, name, tag_map)  # fmt: skip
        with self.db.write() as cur:
            row = self._experiment_row(cur, str(experiment_id))
            if row[3] != LifecycleStage.ACTIVE:
                raise invalid(
                    f"Cannot create a run in experiment {experiment_id}: it is deleted. "
                    "Restore it or choose another experiment."
                )
            if isinstance(self.db, PostgresDatabase):
                self._experiment_locations[str(experiment_id)] = (int(row[0]), row[2])
            artifact_uri = run_artifact_location(row[2], run_uuid)
            cur.execute(
                (
                    "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, "
                    "start_time, lifecycle_stage, artifact_uri) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING id"
                ),
                (
                    run_uuid,
                    row[0],
                    name,
                    user_id or "",
                    "RUNNING",
                    start_time,
                    LifecycleStage.ACTIVE,
                    artifact_uri,
                ),
            )
            rid = cur.fetchone()[0]
            cur.executemany(
                ("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)"),
                [(rid, k, v) for k, v in tag_map.items()],
            )
        return self._new_run(run_uuid, row[0], user_id, start_time, artifact_uri, name, tag_map)

    def _new_run(
        self,
        run_uuid: str,
        experiment_id: int,
        user_id: str,
        start_time: int,
        artifact_uri: str,
        name: str,
        tags: dict[str, str],
    ) -> Run:
        info = RunInfo(
            run_id=run_uuid,
            experiment_id=str(experiment_id),
            user_id=user_id or "",
            status="RUNNING",
            start_time=start_time,
            end_time=None,
            lifecycle_stage=LifecycleStage.ACTIVE,
            artifact_uri=self.resolve_location(artifact_uri),
            run_name=name,
        )
        return Run(info=info, data=RunData(tags=tags))

    def _run_row(self, cur: Cursor, run_id: str) -> Any:
        validate_run_id(run_id)
        cur.execute((f"SELECT {sqlc.RUN_COLUMNS} FROM runs r WHERE r.run_uuid = ?"), (run_id,))
        row = cur.fetchone()
        if row is None:
            raise not_found(f"Run with id={run_id} not found.")
        return row

    def _active_run_id(self, cur: Cursor, run_id: str) -> int:
        """The run's internal id, refusing runs in the deleted stage."""
        cur.execute(("SELECT id, lifecycle_stage FROM runs WHERE run_uuid = ?"), (run_id,))
        row = cur.fetchone()
        if row is None or row[1] != LifecycleStage.ACTIVE:
            _refuse_run(run_id, None if row is None else row[1])
        return int(row[0])

    def _run_info(self, row: Any) -> RunInfo:
        return RunInfo(
            run_id=row[1],
            experiment_id=str(row[2]),
            user_id=row[4],
            status=row[5],
            start_time=row[6],
            end_time=row[7],
            lifecycle_stage=row[8],
            artifact_uri=self.resolve_location(row[9]),
            run_name=row[3],
        )

    def _runs(self, cur: Cursor, rows: list[Any]) -> list[Run]:
        """Whole runs (latest metrics, params, tags, inputs) for run rows, in their order."""
        ids = [row[0] for row in rows]
        metrics: dict[int, list[Metric]] = {i: [] for i in ids}
        params: dict[int, dict[str, str]] = {i: {} for i in ids}
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        inputs: dict[int, list[DatasetInput]] = {i: [] for i in ids}
        outputs: dict[int, list[LoggedModelOutput]] = {i: [] for i in ids}
        models: dict[int, list[LoggedModelInput]] = {i: [] for i in ids}
        uuid_of = {row[0]: row[1] for row in rows}
        nan = math.nan
        for chunk in chunks(ids):
            # Our own integer ids, written into the text: with 100 placeholders psycopg parsed
            # each of these queries anew on every page (its cache stops at 50 parameters).
            in_list = ", ".join(str(int(i)) for i in chunk)
            found = fetch_many(
                cur,
                [
                    (
                        "SELECT run_id, key, value, timestamp, step, is_nan FROM latest_metrics "
                        f"WHERE run_id IN ({in_list})"
                    ),
                    f"SELECT run_id, key, value FROM params WHERE run_id IN ({in_list})",
                    f"SELECT run_id, key, value FROM tags WHERE run_id IN ({in_list})",
                    (
                        "SELECT i.run_id, d.id, d.name, d.digest, d.source_type, d.source, "
                        "d.schema, d.profile FROM run_inputs i JOIN datasets d "
                        f"ON d.id = i.dataset_id WHERE i.run_id IN ({in_list}) ORDER BY d.id"
                    ),
                    (
                        "SELECT run_id, dataset_id, key, value FROM input_tags "
                        f"WHERE run_id IN ({in_list})"
                    ),
                    f"SELECT run_id, model_id, step FROM run_outputs WHERE run_id IN ({in_list})",
                    f"SELECT run_id, model_id FROM run_model_inputs WHERE run_id IN ({in_list})",
                ],
                (),
            )
            latest, param_rows, tag_rows, input_rows, input_tag_rows, output_rows, used = found
            for rid, key, value, ts, step, is_nan in latest:
                metrics[rid].append(
                    Metric(key, nan if is_nan else value, ts, step, None, None, None, uuid_of[rid])
                )
            for rid, key, value in param_rows:
                params[rid][key] = value
            for rid, key, value in tag_rows:
                tags[rid][key] = value
            input_tags: dict[tuple[int, int], list[InputTag]] = {}
            for rid, did, key, value in input_tag_rows:
                input_tags.setdefault((rid, did), []).append(InputTag(key, value))
            for rid, did, *fields in input_rows:
                inputs[rid].append(
                    DatasetInput(Dataset(*fields), tuple(input_tags.get((rid, did), ())))
                )
            for rid, model_id, step in output_rows:
                outputs[rid].append(LoggedModelOutput(model_id, step))
            for rid, model_id in used:
                models[rid].append(LoggedModelInput(model_id))
        return [
            Run(
                info=self._run_info(row),
                data=RunData(tuple(metrics[row[0]]), params[row[0]], tags[row[0]]),
                inputs=RunInputs(tuple(inputs[row[0]]), tuple(models[row[0]])),
                outputs=RunOutputs(model_outputs=tuple(outputs[row[0]])),
            )
            for row in rows
        ]

    def get_run(self, run_id: str) -> Run:
        with self.db.read() as cur:
            return self._runs(cur, [self._run_row(cur, run_id)])[0]

    def update_run_info(
        self,
        run_id: str,
        run_status: int | str | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        status = None
        if run_status is not None:
            status = run_status if isinstance(run_status, str) else RunStatus.to_string(run_status)
            try:
                RunStatus.from_string(status)
            except ValueError as e:
                raise invalid(str(e)) from None
        validate_name_length("run name", run_name, MAX_RUN_NAME_LENGTH)
        with self.db.write() as cur:
            rid = self._active_run_id(cur, run_id)
            sets: list[str] = []
            args: list[Any] = []
            if status is not None:
                sets.append("status = ?")
                args.append(status)
            if end_time is not None:
                sets.append("end_time = ?")
                args.append(int(end_time))
            if run_name:
                sets.append("name = ?")
                args.append(run_name)
                self._upsert_tags(cur, rid, [(RUN_NAME_TAG, run_name)])
            if sets:
                cur.execute((f"UPDATE runs SET {', '.join(sets)} WHERE id = ?"), [*args, rid])
            return self._run_info(self._run_row(cur, run_id))

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        deleted_time = now_ms() if stage == LifecycleStage.DELETED else None
        with self.db.write() as cur:
            self._run_row(cur, run_id)
            cur.execute(
                ("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?"),
                (stage, deleted_time, run_id),
            )

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        validate_max_results(max_results, MAX_RESULTS_SEARCH_RUNS)
        if isinstance(experiment_ids, str | int):
            experiment_ids = [str(experiment_ids)]
        exp_ids = [int(validate_experiment_id(e)) for e in experiment_ids]
        filters = parse_run_filter(filter_string)
        orders = parse_run_order_by(list(order_by or ()))
        offset = decode_page_token(page_token)
        if not exp_ids:
            return PagedList([], None)
        stages = LifecycleStage.view_type_to_stages(run_view_type)
        conditions = [
            f"r.experiment_id IN ({marks(exp_ids)})",
            f"r.lifecycle_stage IN ({marks(stages)})",
        ]
        filter_args: list[Any] = [*exp_ids, *stages]
        conditions += sqlc.run_filter_sql(self.db.dialect, filters, filter_args)
        walk = search_order.applies(orders)
        after = search_order.decode_cursor(page_token, orders[0]) if walk else None
        with self.db.read() as cur:
            fresh_walk = walk and not after and not offset
            if after or (fresh_walk and search_order.worth_walking(cur, exp_ids, self._walkable)):
                found = search_order.search(
                    cur, self.db.dialect, orders[0], conditions, filter_args, max_results + 1, after
                )
                runs = self._runs(cur, [row[2:] for row in found[:max_results]])
                token = None
                if len(found) > max_results:
                    last = found[max_results - 1]
                    token = search_order.encode_token(offset + max_results, orders[0], last)
                return PagedList(runs, token)
            args: list[Any] = []
            joins, terms = sqlc.run_order_sql(orders, args)
            query = (
                f"SELECT {sqlc.RUN_COLUMNS} FROM runs r {' '.join(joins)} "
                f"WHERE {' AND '.join(conditions)} ORDER BY {', '.join(terms)} LIMIT ? OFFSET ?"
            )
            args += [*filter_args, max_results + 1, offset]
            cur.execute((query), args)
            rows = cur.fetchall()
            runs = self._runs(cur, rows[:max_results])
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(runs, token)

    # -- logging -----------------------------------------------------------------------------
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        validate_batch_limits(len(metrics), len(params), len(tags))
        metric_rows = [metric_row(m) for m in metrics]
        param_map = unique_params(params)
        tag_rows = [
            (validate_key(t.key, "tag key"), validate_tag_value(t.key, t.value)) for t in tags
        ]
        if metric_rows and not param_map and not tag_rows and self._one_statement_metrics():
            self._log_metrics_postgres(run_id, metric_rows)
            return
        with self.db.write() as cur:
            rid = self._active_run_id(cur, run_id)
            if param_map:
                self._insert_params(cur, rid, run_id, param_map)
            if metric_rows:
                self._insert_metrics(cur, rid, metric_rows)
            if tag_rows:
                self._upsert_tags(cur, rid, tag_rows)

    def _one_statement_metrics(self) -> bool:
        return isinstance(self.db, PostgresDatabase)

    def _log_metrics_postgres(self, run_id: str, rows: list[tuple[Any, ...]]) -> None:
        assert isinstance(self.db, PostgresDatabase)
        if self._group_commit is None:
            self._group_commit = pg_metrics.group_commit(self.db)
        stage, inserted = self._group_commit.write(run_id, rows)
        if stage != LifecycleStage.ACTIVE:
            _refuse_run(run_id, stage)
        if 0 < inserted < len(rows):  # some points were stored already: summaries anew
            with self.db.write() as cur:
                rid = self._active_run_id(cur, run_id)
                cur.execute(RECOMPUTE_LATEST.format(ids=int(rid)))
                metric_buckets.rebuild(cur, self.db.dialect, [rid])

    def log_metric(self, run_id: str, metric: Metric) -> None:
        row = metric_row(metric)
        if self._one_statement_metrics():
            self._log_metrics_postgres(run_id, [row])
            return
        with self.db.write() as cur:
            rid = self._active_run_id(cur, run_id)
            self._insert_metrics(cur, rid, [row])

    def _insert_params(self, cur: Cursor, rid: int, run_id: str, param_map: dict[str, str]) -> None:
        keys = list(param_map)
        cur.execute(
            (f"SELECT key, value FROM params WHERE run_id = ? AND key IN ({marks(keys)})"),
            [rid, *keys],
        )
        existing = dict(cur.fetchall())
        for key, old in existing.items():
            if old != param_map[key]:
                raise invalid(
                    f"Changing param values is not allowed. Param {key!r} of run {run_id} was "
                    f"already logged with value {old!r}; the new value is {param_map[key]!r}. "
                    "Log it under another key, or start a new run."
                )
        cur.executemany(
            ("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)"),
            [(rid, k, v) for k, v in param_map.items() if k not in existing],
        )

    def _insert_metrics(self, cur: Cursor, rid: int, rows: list[tuple[Any, ...]]) -> None:
        """Store new points once: a point already stored (a batch resent after its answer was
        lost, the same point logged twice) adds no row and is not counted again."""
        # The run's id is our own integer, inlined so rows need no per-point copy.
        cur.executemany(
            (
                "INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan, model_id, "
                f"dataset_name, dataset_digest) VALUES ({int(rid)}, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING"
            ),
            rows,
        )
        inserted = cur.rowcount
        if inserted == len(rows):  # every point new: fold them into the summaries
            cur.executemany(LATEST_UPSERT, [(rid, key, *s) for key, s in fold_latest(rows).items()])
            cur.executemany(metric_buckets.UPSERT, metric_buckets.fold(rid, rows))
        elif inserted != 0:  # some were stored already: the summaries anew from the points
            cur.execute(RECOMPUTE_LATEST.format(ids=int(rid)))
            metric_buckets.rebuild(cur, self.db.dialect, [rid])

    def _upsert_tags(self, cur: Cursor, rid: int, tag_rows: Iterable[tuple[str, str]]) -> None:
        latest = dict(tag_rows)  # a key given twice in one batch: the last value wins
        validate_name_length("run name", latest.get(RUN_NAME_TAG), MAX_RUN_NAME_LENGTH)
        cur.executemany(
            (
                "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"
            ),
            [(rid, k, v) for k, v in latest.items()],
        )
        if RUN_NAME_TAG in latest:
            cur.execute(("UPDATE runs SET name = ? WHERE id = ?"), (latest[RUN_NAME_TAG], rid))

    def delete_tag(self, run_id: str, key: str) -> None:
        with self.db.write() as cur:
            rid = self._active_run_id(cur, run_id)
            cur.execute(("DELETE FROM tags WHERE run_id = ? AND key = ?"), (rid, key))
            if cur.rowcount == 0:
                raise not_found(f"No tag with name {key!r} in run with id {run_id}.")

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        offset = decode_page_token(page_token)
        query = (
            "SELECT m.key, m.value, m.timestamp, m.step, m.is_nan, m.model_id, m.dataset_name, "
            "m.dataset_digest FROM metrics m JOIN runs r ON r.id = m.run_id "
            "WHERE r.run_uuid = ? AND m.key = ? ORDER BY m.step, m.timestamp, m.is_nan, m.value"
        )
        args: list[Any] = [run_id, metric_key]
        if max_results is not None:
            validate_max_results(max_results, 2**31)
            query += " LIMIT ? OFFSET ?"
            args += [max_results + 1, offset]
        nan = math.nan
        # A long history allocates only flat tuples, which can never form cycles; pausing the
        # cyclic collector meanwhile spares it re-scanning the caller's heap again and again.
        with _collector_paused():
            with self.db.read() as cur:
                cur.execute((query), args)
                rows = cur.fetchall()
                if not rows:
                    self._run_row(cur, run_id)
            token = None
            if max_results is not None and len(rows) > max_results:
                rows = rows[:max_results]
                token = encode_page_token(offset + max_results)
            points = [
                Metric(k, nan if n else v, ts, st, mid, dn, dd, run_id)
                for k, v, ts, st, n, mid, dn, dd in rows
            ]
        return PagedList(points, token)

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        models: Sequence[LoggedModelInput] = (),
    ) -> None:
        with self.db.write() as cur:
            rid = self._active_run_id(cur, run_id)
            cur.executemany(
                "INSERT INTO run_model_inputs (run_id, model_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                [(rid, m.model_id) for m in models],
            )
            cur.execute(("SELECT experiment_id FROM runs WHERE id = ?"), (rid,))
            experiment_id = cur.fetchone()[0]
            for item in datasets:
                d = item.dataset
                cur.execute(
                    (
                        "INSERT INTO datasets (experiment_id, name, digest, source_type, source, "
                        "schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (experiment_id, name, digest) DO NOTHING"
                    ),
                    (experiment_id, d.name, d.digest, d.source_type, d.source, d.schema, d.profile),
                )
                cur.execute(
                    ("SELECT id FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?"),
                    (experiment_id, d.name, d.digest),
                )
                did = cur.fetchone()[0]
                cur.execute(
                    (
                        "INSERT INTO run_inputs (run_id, dataset_id) VALUES (?, ?) "
                        "ON CONFLICT DO NOTHING"
                    ),
                    (rid, did),
                )
                cur.executemany(
                    (
                        "INSERT INTO input_tags (run_id, dataset_id, key, value) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (run_id, dataset_id, key) "
                        "DO UPDATE SET value = excluded.value"
                    ),
                    [(rid, did, k, v) for k, v in {t.key: t.value for t in item.tags}.items()],
                )

    def close(self) -> None:
        self.db.close()
