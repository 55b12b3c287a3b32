"""Bulk ingest of portable records (``traza import`` / ``traza sync``) into the SQL store.

Ids and timestamps are the records' own. Everything is idempotent: rows that are already there
are left alone (``ON CONFLICT DO NOTHING``), so a batch that was interrupted, or one sent twice,
ends in the same state. Each call is one transaction, so a batch lands whole or not at all.

What may change on a second pass is what the source may have changed since: run status, end
time, lifecycle stage and name, tags (the source's value wins), new params, new metric points,
new model versions and aliases. A param that already has another value is a conflict: reported,
never overwritten. A new run's metric summaries (``latest_metrics``, ``metric_buckets``) are
folded from its deduplicated points as they are written; a run that was already there has them
recomputed from everything it then holds, so counts stay exact however often a point was sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from traza.entities import LifecycleStage
from traza.safepath import safe_location
from traza.store.sql import metric_buckets
from traza.store.sql.db import Cursor, Database
from traza.store.sql.ingest_models import SqlIngestModels
from traza.store.sql.metrics import fold_latest
from traza.store.sql.util import chunks, marks, now_ms
from traza.validation import validate_artifact_location

if TYPE_CHECKING:
    from traza.transfer.records import (
        ExperimentRecord,
        IngestBatch,
        IngestResult,
        RunRecord,
    )

_STR_CHUNK = 500

# Summaries of every (run, key) of some runs, from their stored points; the latest point is the
# one with the largest (step, timestamp, value), a number winning over NaN at a tie.
RECOMPUTE_LATEST = """
INSERT INTO latest_metrics
    (run_id, key, value, timestamp, step, is_nan, min_value, max_value, count)
SELECT x.run_id, x.key, CASE WHEN x.is_nan = 1 THEN NULL ELSE x.value END, x.timestamp,
    x.step, x.is_nan, x.mn, x.mx, x.n
FROM (
    SELECT m.run_id, m.key, m.value, m.timestamp, m.step, m.is_nan,
        ROW_NUMBER() OVER w AS rn,
        MIN(CASE WHEN m.is_nan = 0 THEN m.value END) OVER p AS mn,
        MAX(CASE WHEN m.is_nan = 0 THEN m.value END) OVER p AS mx,
        COUNT(*) OVER p AS n
    FROM metrics m WHERE m.run_id IN ({ids})
    WINDOW p AS (PARTITION BY m.run_id, m.key),
        w AS (PARTITION BY m.run_id, m.key
              ORDER BY m.step DESC, m.timestamp DESC, m.is_nan, m.value DESC)
) x WHERE x.rn = 1
ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value,
    timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan,
    min_value = excluded.min_value, max_value = excluded.max_value, count = excluded.count
"""


def _deleted_time(r: RunRecord) -> int | None:
    """When a deleted run was deleted; sources that do not say (MLflow's REST API) get now, so
    garbage collection's age threshold counts from the import."""
    if r.lifecycle_stage != LifecycleStage.DELETED:
        return None
    return r.deleted_time if r.deleted_time is not None else now_ms()


def _point_order(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The ``metrics`` primary key's order after ``run_id``: key, step, timestamp, is_nan, value."""
    return (row[0], row[1], row[2], row[4], row[3])


def _insert_new(cur: Cursor, table: str, columns: Sequence[str], rows: Sequence[Any]) -> None:
    """Insert rows that cannot conflict (those of runs created in this transaction): COPY on
    PostgreSQL, where one pipelined INSERT per row costs ~50 µs of client time, else one
    executemany."""
    if not rows:
        return
    raw = getattr(cur, "_cursor", None)
    if raw is not None and hasattr(raw, "copy"):
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(columns)})", rows)


_METRIC_COLUMNS = (
    "run_id", "key", "step", "timestamp", "value", "is_nan", "model_id", "dataset_name",
    "dataset_digest",
)  # fmt: skip
_LATEST_COLUMNS = (
    "run_id", "key", "value", "timestamp", "step", "is_nan", "min_value", "max_value", "count"
)  # fmt: skip
_BUCKET_COLUMNS = (
    "run_id", "key", "bucket", "count", "min_value", "min_step", "min_timestamp", "max_value",
    "max_step", "max_timestamp",
)  # fmt: skip


def _check_locations(batch: IngestBatch) -> None:
    """Apply the path rule to every location a batch carries, before anything is written.

    A location is only recorded: whether a server serves it is decided by its trusted roots.
    """
    for e in batch.experiments:
        if e.artifact_location:
            e.artifact_location = validate_artifact_location(e.artifact_location)
    for m in batch.logged_models:
        if m.artifact_location:
            m.artifact_location = safe_location(
                m.artifact_location, f"artifact location of logged model {m.model_id}"
            )
    for r in batch.runs:
        if r.artifact_uri:
            r.artifact_uri = safe_location(r.artifact_uri, f"artifact URI of run {r.run_id}")


def _str_chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _STR_CHUNK):
        yield items[i : i + _STR_CHUNK]


class SqlIngest(SqlIngestModels):
    """The ingest part of :class:`~traza.store.sql.store.SqlStore`."""

    db: Database
    artifact_root: str

    def ingest(self, batch: IngestBatch) -> IngestResult:
        from traza.transfer.records import IngestResult

        result = IngestResult()
        _check_locations(batch)
        if batch.experiments:
            with self.db.write() as cur:
                self._ingest_experiments(cur, batch.experiments, result)
        if batch.logged_models:
            with self.db.write() as cur:
                self._ingest_logged_models(cur, batch.logged_models, result)
        if batch.runs:
            with self.db.write() as cur:
                self._ingest_runs(cur, batch.runs, result)
        if batch.registered_models:
            with self.db.write() as cur:
                for model in batch.registered_models:
                    self._ingest_registered_model(cur, model, result)
        return result

    # -- experiments -------------------------------------------------------------------------
    def _ingest_experiments(
        self, cur: Cursor, records: Sequence[ExperimentRecord], result: IngestResult
    ) -> None:
        for e in records:
            source_id = int(e.experiment_id)
            cur.execute("SELECT experiment_id FROM experiments WHERE name = ?", (e.name,))
            by_name = cur.fetchone()
            cur.execute("SELECT name FROM experiments WHERE experiment_id = ?", (source_id,))
            by_id = cur.fetchone()
            if by_name is not None:
                target_id = int(by_name[0])
                if target_id != source_id:
                    result.experiment_ids[e.experiment_id] = str(target_id)
                    result.conflicts.append(
                        f"experiment {e.name!r} is bound to id {e.experiment_id} in the "
                        f"source and to id {target_id} in the target: its runs go into "
                        f"{target_id}"
                    )
                changed = self._update_experiment(cur, target_id, e)
                result.count("updated" if changed else "unchanged", "experiments")
                continue
            target_id = source_id
            if by_id is not None:
                while True:
                    target_id = secrets.randbits(63) or 1
                    cur.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", (target_id,))
                    if cur.fetchone() is None:
                        break
                result.experiment_ids[e.experiment_id] = str(target_id)
                result.conflicts.append(
                    f"experiment id {e.experiment_id} ({e.name!r}) is taken by {by_id[0]!r} in "
                    f"the target: imported as id {target_id}"
                )
            now = now_ms()
            deleted = e.lifecycle_stage == LifecycleStage.DELETED
            cur.execute(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, creation_time, last_update_time, deleted_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    target_id,
                    e.name,
                    e.artifact_location or f"{self.artifact_root}/{target_id}",
                    e.lifecycle_stage,
                    e.creation_time if e.creation_time is not None else now,
                    e.last_update_time if e.last_update_time is not None else now,
                    (e.last_update_time or now) if deleted else None,
                ),
            )
            cur.executemany(
                "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)",
                [(target_id, k, v) for k, v in e.tags.items()],
            )
            result.count("created", "experiments")

    def _update_experiment(self, cur: Cursor, eid: int, e: ExperimentRecord) -> bool:
        changed = False
        cur.execute(
            "SELECT lifecycle_stage, last_update_time FROM experiments WHERE experiment_id = ?",
            (eid,),
        )
        stage, updated = cur.fetchone()
        if stage != e.lifecycle_stage and (e.last_update_time or 0) >= (updated or 0):
            deleted = e.lifecycle_stage == LifecycleStage.DELETED
            cur.execute(
                "UPDATE experiments SET lifecycle_stage = ?, deleted_time = ?, "
                "last_update_time = ? WHERE experiment_id = ?",
                (e.lifecycle_stage, e.last_update_time if deleted else None, e.last_update_time,
                 eid),
            )  # fmt: skip
            changed = True
        cur.execute("SELECT key, value FROM experiment_tags WHERE experiment_id = ?", (eid,))
        have = dict(cur.fetchall())
        new = [(eid, k, v) for k, v in e.tags.items() if have.get(k) != v]
        if new:
            cur.executemany(
                "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                new,
            )
            changed = True
        return changed

    # -- runs --------------------------------------------------------------------------------
    def _ingest_runs(self, cur: Cursor, runs: Sequence[RunRecord], result: IngestResult) -> None:
        uuids = [r.run_id for r in runs]
        existing: dict[str, tuple[Any, ...]] = {}
        for chunk in _str_chunks(uuids):
            cur.execute(
                "SELECT run_uuid, id, experiment_id, status, end_time, lifecycle_stage, name "
                f"FROM runs WHERE run_uuid IN ({marks(chunk)})",
                list(chunk),
            )
            for row in cur.fetchall():
                existing[row[0]] = row[1:]
        exp_ids = sorted({int(r.experiment_id) for r in runs})
        cur.execute(
            "SELECT experiment_id, artifact_location FROM experiments "
            f"WHERE experiment_id IN ({marks(exp_ids)})",
            exp_ids,
        )
        known_experiments = {int(row[0]): row[1] for row in cur.fetchall()}
        fresh: list[RunRecord] = []
        old: list[tuple[int, RunRecord]] = []
        for r in runs:
            if int(r.experiment_id) not in known_experiments:
                result.skipped.append(
                    f"run {r.run_id}: its experiment {r.experiment_id} is not in the target"
                )
                continue
            row = existing.get(r.run_id)
            if row is None:
                fresh.append(r)
            elif int(row[1]) != int(r.experiment_id):
                result.conflicts.append(
                    f"run {r.run_id} is in experiment {row[1]} in the target and "
                    f"{r.experiment_id} in the source: left as it is"
                )
            else:
                old.append((int(row[0]), r))
        ids: dict[str, int] = {}
        if fresh:
            cur.executemany(
                "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, "
                "end_time, lifecycle_stage, artifact_uri, deleted_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.run_id,
                        int(r.experiment_id),
                        r.name or r.tags.get("mlflow.runName", ""),
                        r.user_id or "",
                        r.status,
                        r.start_time,
                        r.end_time,
                        r.lifecycle_stage,
                        r.artifact_uri or f"{known_experiments[int(r.experiment_id)]}/{r.run_id}",
                        _deleted_time(r),
                    )
                    for r in fresh
                ],
            )
            for chunk in _str_chunks([r.run_id for r in fresh]):
                cur.execute(
                    f"SELECT run_uuid, id FROM runs WHERE run_uuid IN ({marks(chunk)})",
                    list(chunk),
                )
                ids.update(cur.fetchall())
            result.count("created", "runs", len(fresh))
        changed: set[int] = set()
        if old:
            changed = self._update_runs(cur, old, existing, result)
        pairs = [(ids[r.run_id], r) for r in fresh] + old
        params = [(rid, k, v) for rid, r in [(ids[r.run_id], r) for r in fresh]
                  for k, v in r.params.items()]  # fmt: skip
        tags = [(ids[r.run_id], k, v) for r in fresh for k, v in r.tags.items()]
        _insert_new(cur, "params", ("run_id", "key", "value"), params)
        _insert_new(cur, "tags", ("run_id", "key", "value"), tags)
        old_ids = {rid for rid, _ in old}
        touched = self._ingest_points(cur, pairs, old_ids, result)
        changed |= touched
        # New runs had their summaries written with their points; runs that were there get
        # theirs recomputed from everything they now hold.
        again = sorted(touched & old_ids)
        if again:
            for id_chunk in chunks(again):
                cur.execute(RECOMPUTE_LATEST.format(ids=marks(id_chunk)), id_chunk)
            metric_buckets.rebuild(cur, self.db.dialect, again)
        self._ingest_inputs(cur, pairs)
        outputs = [(rid, mid, int(step)) for rid, r in pairs for mid, step in r.outputs]
        if outputs:
            cur.executemany(
                "INSERT INTO run_outputs (run_id, model_id, step) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id, model_id) DO NOTHING",
                outputs,
            )
        used = [(rid, mid) for rid, r in pairs for mid in r.model_inputs]
        if used:
            cur.executemany(
                "INSERT INTO run_model_inputs (run_id, model_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                used,
            )
        updated = len({rid for rid, _ in old} & changed)
        if updated:
            result.count("updated", "runs", updated)
        if len(old) - updated:
            result.count("unchanged", "runs", len(old) - updated)

    def _ingest_points(
        self,
        cur: Cursor,
        pairs: Sequence[tuple[int, RunRecord]],
        old_ids: set[int],
        result: IngestResult,
    ) -> set[int]:
        """Insert every point (existing ones are skipped); returns the runs that got any.

        A new run's points are deduplicated and folded here, in one pass, into its
        ``latest_metrics`` and ``metric_buckets`` rows; the caller recomputes those of runs that
        were already there.
        """
        rows: list[tuple[Any, ...]] = []
        old_rows: list[tuple[Any, ...]] = []
        latest: list[tuple[Any, ...]] = []
        buckets: list[tuple[Any, ...]] = []
        touched: set[int] = set()
        for rid, r in pairs:
            if not r.metrics:
                continue
            touched.add(rid)
            run_rows = [
                (key, step, ts, 0.0, 1, mid, dn, dd)
                if value != value
                else (key, step, ts, value, 0, mid, dn, dd)
                for key, value, ts, step, mid, dn, dd in r.metrics
            ]
            if rid not in old_ids:
                # One row per primary key (a file store may repeat a line).
                run_rows = list({_point_order(row): row for row in run_rows}.values())
                latest += [(rid, k, *v) for k, v in fold_latest(run_rows).items()]
                buckets += metric_buckets.fold(rid, run_rows)
            run_rows.sort(key=_point_order)  # inserted in key order: appends, not page splits
            target = old_rows if rid in old_ids else rows
            target += [(rid, *row) for row in run_rows]
        if not rows and not old_rows:
            return set()
        _insert_new(cur, "metrics", _METRIC_COLUMNS, rows)
        _insert_new(cur, "latest_metrics", _LATEST_COLUMNS, latest)
        _insert_new(cur, "metric_buckets", _BUCKET_COLUMNS, buckets)
        result.metric_points += len(rows)
        known = [(rid, r) for rid, r in pairs if r.metrics and rid in old_ids]
        before = self._point_count(cur, known)
        if old_rows:
            cur.executemany(
                "INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan, model_id, "
                "dataset_name, dataset_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                old_rows,
            )
        after = self._point_count(cur, known)
        result.metric_points += sum(after.values()) - sum(before.values())
        fresh = {rid for rid in touched if rid not in old_ids}
        return fresh | {rid for rid, n in after.items() if n != before.get(rid, 0)}

    def _point_count(self, cur: Cursor, pairs: Sequence[tuple[int, RunRecord]]) -> dict[int, int]:
        """Stored points per run."""
        ids = sorted({rid for rid, r in pairs if r.metrics})
        counts: dict[int, int] = {}
        for chunk in chunks(ids):
            cur.execute(
                "SELECT run_id, COUNT(*) FROM metrics "
                f"WHERE run_id IN ({marks(chunk)}) GROUP BY run_id",
                chunk,
            )
            counts.update((int(a), int(b)) for a, b in cur.fetchall())
        return counts

    def _update_runs(
        self,
        cur: Cursor,
        old: Sequence[tuple[int, RunRecord]],
        existing: dict[str, tuple[Any, ...]],
        result: IngestResult,
    ) -> set[int]:
        """Bring runs that exist up to the source; returns the ids of those that changed."""
        ids = [rid for rid, _ in old]
        have_params: dict[int, dict[str, str]] = {rid: {} for rid in ids}
        have_tags: dict[int, dict[str, str]] = {rid: {} for rid in ids}
        for chunk in chunks(ids):
            for table, target in (("params", have_params), ("tags", have_tags)):
                cur.execute(
                    f"SELECT run_id, key, value FROM {table} WHERE run_id IN ({marks(chunk)})",
                    chunk,
                )
                for rid, key, value in cur.fetchall():
                    target[rid][key] = value
        changed: set[int] = set()
        new_params: list[tuple[int, str, str]] = []
        new_tags: list[tuple[int, str, str]] = []
        for rid, r in old:
            row = existing[r.run_id]
            _, _, status, end_time, stage, name = row
            info = (r.status, r.end_time, r.lifecycle_stage, r.name or name)
            if info != (status, end_time, stage, name):
                cur.execute(
                    "UPDATE runs SET status = ?, end_time = ?, lifecycle_stage = ?, "
                    "deleted_time = ?, name = ? WHERE id = ?",
                    (*info[:3], _deleted_time(r), info[3], rid),
                )
                changed.add(rid)
            params = have_params[rid]
            for k, v in r.params.items():
                if k not in params:
                    new_params.append((rid, k, v))
                elif params[k] != v:
                    result.conflicts.append(
                        f"run {r.run_id}: param {k!r} is {params[k]!r} in the target and "
                        f"{v!r} in the source: the target's value is kept"
                    )
            tags = have_tags[rid]
            new_tags += [(rid, k, v) for k, v in r.tags.items() if tags.get(k) != v]
        if new_params:
            cur.executemany(
                "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                new_params,
            )
        if new_tags:
            cur.executemany(
                "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                new_tags,
            )
        changed |= {rid for rid, _, _ in new_params} | {rid for rid, _, _ in new_tags}
        return changed

    def _ingest_inputs(self, cur: Cursor, pairs: Sequence[tuple[int, RunRecord]]) -> None:
        wanted = [(rid, r, d) for rid, r in pairs for d in r.inputs]
        if not wanted:
            return
        cur.executemany(
            "INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, "
            "profile) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (experiment_id, name, digest) DO NOTHING",
            list(
                {
                    (int(r.experiment_id), d.name, d.digest): (
                        int(r.experiment_id),
                        d.name,
                        d.digest,
                        d.source_type,
                        d.source,
                        d.schema,
                        d.profile,
                    )
                    for _, r, d in wanted
                }.values()
            ),
        )
        exp_ids = sorted({int(r.experiment_id) for _, r, _ in wanted})
        cur.execute(
            "SELECT id, experiment_id, name, digest FROM datasets "
            f"WHERE experiment_id IN ({marks(exp_ids)})",
            exp_ids,
        )
        dataset_ids = {(e, n, d): i for i, e, n, d in cur.fetchall()}
        links = []
        tags = []
        for rid, r, d in wanted:
            did = dataset_ids[(int(r.experiment_id), d.name, d.digest)]
            links.append((rid, did))
            tags += [(rid, did, k, v) for k, v in d.tags.items()]
        cur.executemany(
            "INSERT INTO run_inputs (run_id, dataset_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            list(dict.fromkeys(links)),
        )
        if tags:
            cur.executemany(
                "INSERT INTO input_tags (run_id, dataset_id, key, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (run_id, dataset_id, key) DO UPDATE SET value = excluded.value",
                list({(t[0], t[1], t[2]): t for t in tags}.values()),
            )
