"""The seeded data the read workloads need, written straight into each system's store, cached.

Two experiments: ``bench-search`` with N runs (3 params, 3 metrics, 2 tags each) and
``bench-history`` with one run holding P points of the metric ``loss``. Every system gets the
same values, so every server must answer the same search with the same runs in the same order.

- Traza: through ``open_store`` / ``SqlStore``, in process (~1 ms a run).
- MLflow: its ``SqlAlchemyStore`` creates the schema (its own Alembic migrations) and the
  experiments, then rows go into its tables by ``executemany`` through its own SQLAlchemy table
  definitions. Creating runs through the store takes ~22 ms each (4 minutes for 10,000 runs
  per backend); the result is read back through the store to check it.
- FastTrackML: through its REST API (a server of its own started on the target store).

SQLite stores are cached under ``benchmarks/.cache/`` and PostgreSQL ones in databases
``bench_<system>_<N>r_<P>p`` (vacuumed and analyzed once seeded); both are reused while their
row counts are what seeding writes, and never served directly: servers get a copy (a copied
file, or a database created from the cached one as its template).

    python benchmarks/seeding.py traza|mlflow STORE_URI RUNS POINTS   # used by server.py
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import servers
from rest import Connection

SEARCH_EXPERIMENT = "bench-search"
HISTORY_EXPERIMENT = "bench-history"
HISTORY_RUN = "history"
HISTORY_KEY = "loss"
SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"
SEARCH_ORDER = "metrics.m1 DESC"
BASE_TIME = 1_700_000_000_000
HISTORY_BATCH = 1000


@dataclass(frozen=True)
class Scale:
    runs: int
    points: int

    @property
    def key(self) -> str:
        return f"{self.runs}r_{self.points}p"

    def expected_rows(self) -> tuple[int, int]:
        """(runs, metric points) a complete seed leaves in the store."""
        return self.runs + 1, 3 * self.runs + self.points


def run_fields(i: int, n: int) -> tuple[str, dict[str, str], dict[str, float], dict[str, str]]:
    """Run ``i`` of ``n``: name, params, metrics, tags. ``m1`` is distinct for i < 10,009."""
    params = {"p0": f"v{i % 3}", "p1": f"v{i % 7}", "p2": str(i)}
    metrics = {"m0": (i * 7919 % 10007) / 10007, "m1": (i * 104729 % 10009) / 10009, "m2": i / n}
    return f"run-{i:05d}", params, metrics, {"t0": f"x{i % 5}", "t1": "bench"}


def history_point(j: int) -> tuple[float, int, int]:
    """(value, timestamp, step) of point ``j`` of the seeded history."""
    return 1.0 / (j + 1), BASE_TIME + j, j


# -- traza -------------------------------------------------------------------------------------
def seed_traza(uri: str, scale: Scale) -> None:
    from traza.entities import Metric, Param, RunTag
    from traza.store.uri import open_store

    store = open_store(uri, "mlflow-artifacts:/")
    try:
        exp = store.create_experiment(SEARCH_EXPERIMENT)
        for i in range(scale.runs):
            name, params, metrics, tags = run_fields(i, scale.runs)
            start = BASE_TIME + i
            run_tags = [RunTag(k, v) for k, v in tags.items()]
            run_id = store.create_run(exp, "bench", start, run_tags, name).info.run_id
            store.log_batch(
                run_id,
                metrics=[Metric(k, v, start, 0) for k, v in metrics.items()],
                params=[Param(k, v) for k, v in params.items()],
            )
            store.update_run_info(run_id, "FINISHED", start + 1000, None)
        hist = store.create_experiment(HISTORY_EXPERIMENT)
        run_id = store.create_run(hist, "bench", BASE_TIME, [], HISTORY_RUN).info.run_id
        for first in range(0, scale.points, HISTORY_BATCH):
            last = min(first + HISTORY_BATCH, scale.points)
            points = [Metric(HISTORY_KEY, *history_point(j)) for j in range(first, last)]
            store.log_batch(run_id, metrics=points)
    finally:
        store.close()


# -- mlflow ------------------------------------------------------------------------------------
def seed_mlflow(uri: str, scale: Scale) -> None:
    from mlflow.entities import ViewType
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store_class: Any = SqlAlchemyStore  # mlflow is untyped
    store = store_class(uri, "mlflow-artifacts:/")
    exp = store.create_experiment(SEARCH_EXPERIMENT)
    location = store.get_experiment(exp).artifact_location
    runs, params, tags, metrics = [], [], [], []
    for i in range(scale.runs):
        name, run_params, run_metrics, run_tags = run_fields(i, scale.runs)
        uuid = f"{i:032x}"
        start = BASE_TIME + i
        runs.append(
            {
                "run_uuid": uuid,
                "name": name,
                "source_type": "LOCAL",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": start,
                "end_time": start + 1000,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": f"{location}/{uuid}/artifacts",
                "experiment_id": int(exp),
            }
        )
        params += [{"key": k, "value": v, "run_uuid": uuid} for k, v in run_params.items()]
        run_tags["mlflow.runName"] = name
        tags += [{"key": k, "value": v, "run_uuid": uuid} for k, v in run_tags.items()]
        metrics += [
            {"key": k, "value": v, "timestamp": start, "step": 0, "is_nan": False, "run_uuid": uuid}
            for k, v in run_metrics.items()
        ]
    hist = store.create_experiment(HISTORY_EXPERIMENT)
    run_id = store.create_run(hist, "bench", BASE_TIME, [], HISTORY_RUN).info.run_id
    points = []
    for j in range(scale.points):
        value, timestamp, step = history_point(j)
        points.append(
            {"key": HISTORY_KEY, "value": value, "timestamp": timestamp, "step": step}
            | {"is_nan": False, "run_uuid": run_id}
        )
    last = dict(points[-1])
    with store.engine.begin() as conn:
        conn.execute(SqlRun.__table__.insert(), runs)
        conn.execute(SqlParam.__table__.insert(), params)
        conn.execute(SqlTag.__table__.insert(), tags)
        conn.execute(SqlMetric.__table__.insert(), metrics + points)
        conn.execute(SqlLatestMetric.__table__.insert(), [*metrics, last])
    # Read it back through MLflow's own store: the rows must be what it would have written.
    found = store.search_runs([exp], SEARCH_FILTER, ViewType.ACTIVE_ONLY, 3, [SEARCH_ORDER])
    assert all(r.info.run_name and r.data.params["p0"] == "v1" for r in found), found
    assert len(store.get_metric_history(run_id, HISTORY_KEY)) == scale.points


# -- fasttrackml (over REST) ---------------------------------------------------------------
def seed_over_rest(url: str, scale: Scale) -> None:
    conn = Connection(url)
    try:
        exp = conn.post("experiments/create", {"name": SEARCH_EXPERIMENT})["experiment_id"]
        for i in range(scale.runs):
            name, params, metrics, tags = run_fields(i, scale.runs)
            start = BASE_TIME + i
            created = conn.post(
                "runs/create",
                {
                    "experiment_id": exp,
                    "user_id": "bench",
                    "start_time": start,
                    "run_name": name,
                    "tags": [{"key": k, "value": v} for k, v in tags.items()],
                },
            )
            run_id = created["run"]["info"]["run_id"]
            conn.post(
                "runs/log-batch",
                {
                    "run_id": run_id,
                    "metrics": [
                        {"key": k, "value": v, "timestamp": start, "step": 0}
                        for k, v in metrics.items()
                    ],
                    "params": [{"key": k, "value": v} for k, v in params.items()],
                },
            )
            conn.post(
                "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": start + 1000}
            )
        hist = conn.post("experiments/create", {"name": HISTORY_EXPERIMENT})["experiment_id"]
        created = conn.post(
            "runs/create", {"experiment_id": hist, "start_time": BASE_TIME, "run_name": HISTORY_RUN}
        )
        run_id = created["run"]["info"]["run_id"]
        for first in range(0, scale.points, HISTORY_BATCH):
            batch = []
            for j in range(first, min(first + HISTORY_BATCH, scale.points)):
                value, timestamp, step = history_point(j)
                batch.append({"key": HISTORY_KEY, "value": value, "timestamp": timestamp})
                batch[-1]["step"] = step
            conn.post("runs/log-batch", {"run_id": run_id, "metrics": batch})
    finally:
        conn.close()


# -- the cache -------------------------------------------------------------------------------
def sqlite_cache(system: str, scale: Scale) -> Path:
    return servers.CACHE / f"{system}-seeded-{scale.key}.db"


def pg_cache(system: str, scale: Scale) -> str:
    return f"bench_{system}_{scale.key}"


def _rows(cursor_execute: Callable[[str], Any]) -> tuple[int, int] | None:
    try:
        runs = cursor_execute("SELECT count(*) FROM runs").fetchone()[0]
        metrics = cursor_execute("SELECT count(*) FROM metrics").fetchone()[0]
    except Exception:
        return None
    return int(runs), int(metrics)


def sqlite_rows(path: Path) -> tuple[int, int] | None:
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return _rows(conn.execute)
    finally:
        conn.close()


def pg_rows(pg: servers.Postgres, db: str) -> tuple[int, int] | None:
    if not pg.exists(db):
        return None
    with pg.connect(db) as conn:
        return _rows(conn.execute)


def _analyzed(pg: servers.Postgres, db: str) -> None:
    """Give the planner statistics, as autovacuum would on a live server (it is off on some
    test servers, and a never-analyzed database picks sequential scans for small lookups)."""
    with pg.connect(db) as conn:
        row = conn.execute(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'runs'"
        ).fetchone()
        if row is None or row[0] is None:
            conn.execute("VACUUM ANALYZE")


def _seed(system: str, uri: str, scale: Scale, folder: Path) -> None:
    if system == "fasttrackml":
        with servers.running(system, uri, folder, settle_after=False) as server:
            seed_over_rest(server.url, scale)
        return
    done = subprocess.run(
        [sys.executable, __file__, system, uri, str(scale.runs), str(scale.points)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise servers.ServerError(f"seeding {system} failed: {done.stderr.strip()[-400:]}")


def _finish_sqlite(partial: Path, path: Path) -> None:
    """Fold any WAL into the file, then move it into place (a crash leaves only .partial)."""
    conn = sqlite3.connect(partial)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        partial.with_name(partial.name + suffix).unlink(missing_ok=True)
    partial.rename(path)


def ensure_seeded(
    system: str, backend: str, scale: Scale, pg: servers.Postgres, log: Callable[[str], None]
) -> str:
    """The cached seeded store (SQLite path or PostgreSQL database name), seeding it if needed."""
    expected = scale.expected_rows()
    if backend == "sqlite":
        path = sqlite_cache(system, scale)
        if sqlite_rows(path) == expected:
            return str(path)
        partial = path.with_name(path.name + ".partial")
        for stale in (partial, *partial.parent.glob(partial.name + "-*")):
            stale.unlink(missing_ok=True)
        location = str(partial)
    else:
        db = pg_cache(system, scale)
        if pg_rows(pg, db) == expected:
            _analyzed(pg, db)
            return db
        pg.create(db)
        location = db
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"seed-{system}-") as folder:
        _seed(system, servers.store_uri(system, backend, location, pg), scale, Path(folder))
    rows = sqlite_rows(Path(location)) if backend == "sqlite" else pg_rows(pg, location)
    if rows != expected:
        raise servers.ServerError(f"seeded {system} has {rows} (runs, points); want {expected}")
    if backend == "sqlite":
        _finish_sqlite(Path(location), sqlite_cache(system, scale))
        location = str(sqlite_cache(system, scale))
    else:
        _analyzed(pg, location)
    log(f"seeded {system} on {backend} ({scale.runs:,} runs, {scale.points:,} points) "
        f"in {time.perf_counter() - start:.1f} s")  # fmt: skip
    return location


def main() -> None:
    system, uri, runs, points = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    seed = seed_traza if system == "traza" else seed_mlflow
    seed(uri, Scale(runs, points))
    print(json.dumps({"seeded": system}))


if __name__ == "__main__":
    main()
