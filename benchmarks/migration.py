"""How long the newest schema migration takes on an existing store of 1,000,000 metric points.

A store is filled at the schema before the newest migration (100 runs x 10 metrics x 1,000
steps, 3 params and 2 tags a run, through the store's batch API ``Store.ingest``), then the
newest migration is applied and timed, on SQLite and on PostgreSQL. Afterwards the script checks
that every point is still there.

    python benchmarks/migration.py                  # 1,000,000 points, both backends
    python benchmarks/migration.py --points 100000 --backend sqlite
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import servers

RUNS = 100
KEYS = 10


def fill(uri: str, points: int) -> None:
    """Write ``points`` points at the schema before the newest migration."""
    import traza.store.sql.store as sql_store
    from traza.store.sql.schema import MIGRATIONS, migrate
    from traza.store.uri import open_store
    from traza.transfer.records import ExperimentRecord, IngestBatch, RunRecord

    original = sql_store.migrate
    sql_store.migrate = lambda db: migrate(db, MIGRATIONS[:-1])  # type: ignore[assignment]
    try:
        store: Any = open_store(uri, "mlflow-artifacts:/")
    finally:
        sql_store.migrate = original
    steps = max(1, points // (RUNS * KEYS))
    try:
        store.ingest(IngestBatch(experiments=[ExperimentRecord("1", "migration", "x:/1")]))
        for i in range(RUNS):
            start = 1_700_000_000_000 + i
            metrics = [
                (f"m{k}", (s * 7 + k) % 101 / 101, start + s, s, None, None, None)
                for k in range(KEYS)
                for s in range(steps)
            ]
            run = RunRecord(
                run_id=f"{i:032x}",
                experiment_id="1",
                name=f"run-{i}",
                user_id="bench",
                status="FINISHED",
                start_time=start,
                end_time=start + 1,
                lifecycle_stage="active",
                artifact_uri=f"x:/1/{i:032x}",
                params={"p0": f"v{i % 3}", "p1": "a", "p2": str(i)},
                tags={"mlflow.runName": f"run-{i}", "t": "x"},
                metrics=metrics,
            )
            store.ingest(IngestBatch(runs=[run]))
    finally:
        store.close()


def migrate_timed(db: Any) -> tuple[float, list[str]]:
    from traza.store.sql.schema import migrate

    start = time.perf_counter()
    applied = migrate(db)
    return time.perf_counter() - start, applied


def count_points(db: Any) -> int:
    with db.read() as cur:
        cur.execute("SELECT COUNT(*) FROM metrics")
        return int(cur.fetchone()[0])


def bench(backend: str, points: int, pg: servers.Postgres) -> dict[str, Any]:
    from traza.store.sql.db import SqliteDatabase
    from traza.store.sql.postgres import PostgresDatabase

    with tempfile.TemporaryDirectory(prefix="bench-migration-") as tmp:
        db_name = "bench_migration_work"
        if backend == "sqlite":
            path = Path(tmp) / "store.db"
            uri = f"sqlite:///{path}"
        else:
            pg.create(db_name)
            uri = pg.libpq(db_name)
        try:
            started = time.perf_counter()
            fill(uri, points)
            filled = time.perf_counter() - started
            db: Any = SqliteDatabase(path) if backend == "sqlite" else PostgresDatabase(uri)
            try:
                seconds, applied = migrate_timed(db)
                stored = count_points(db)
            finally:
                db.close()
        finally:
            if backend == "postgresql":
                pg.drop(db_name)
    return {"fill_s": filled, "migrate_s": seconds, "applied": applied, "points": stored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--postgres-host", default="127.0.0.1")
    parser.add_argument("--postgres-port", type=int, default=5432)
    args = parser.parse_args()
    if args.points < RUNS * KEYS:
        parser.error(f"--points must be at least {RUNS * KEYS}")
    pg = servers.Postgres(host=args.postgres_host, port=args.postgres_port)
    print(f"{args.points:,} points in {RUNS} runs; load {os.getloadavg()[0]:.2f}", flush=True)
    backends = ("sqlite", "postgresql") if args.backend == "all" else (args.backend,)
    for backend in backends:
        r = bench(backend, args.points, pg)
        print(
            f"{backend:12} filled in {r['fill_s']:.1f} s; migrated {', '.join(r['applied'])} in "
            f"{r['migrate_s'] * 1000:,.0f} ms; {r['points']:,} points after",
            flush=True,
        )
    print(f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
