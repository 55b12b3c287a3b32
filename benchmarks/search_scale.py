"""Run search at team scale: 100,000 runs x 20 params x 20 metrics, through traza server.

The query is the one of ``server.py`` (``metrics.m0 > 0.5 and params.p0 = 'v1'``, ordered by
``metrics.m1 DESC``, 100 runs a page), timed on its first page and on a later page (the 10th,
reached by following page tokens), as server time (``http.client`` against ``traza server``) and
as store time (``SqlStore.search_runs`` in process). Every page is checked against the order
computed here in Python from the same generator.

    python benchmarks/search_scale.py                   # 100,000 runs, SQLite and PostgreSQL
    python benchmarks/search_scale.py --quick           # 10,000 runs
    python benchmarks/search_scale.py --backend sqlite --runs 50000

The store is seeded through the store's own batch API (``Store.ingest``: one executemany per
table on SQLite, COPY on PostgreSQL) and cached: ``benchmarks/.cache/search-scale-<N>.db`` and
the PostgreSQL database ``bench_search_scale_<N>`` (``VACUUM ANALYZE``d once seeded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import servers
from rest import Connection, body

EXPERIMENT = "search-scale"
FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"
ORDER = "metrics.m1 DESC"
PAGE = 100
LATER_PAGE = 10
KEYS = 20
BASE_TIME = 1_700_000_000_000
SEED_CHUNK = 2_000
GOAL_MS = 50.0


def run_values(i: int) -> tuple[dict[str, str], dict[str, float]]:
    """Run ``i``'s params and metrics (``m1`` is distinct for i < 1,000,003)."""
    params = {"p0": f"v{i % 3}", "p1": f"v{i % 7}"}
    params.update({f"p{k}": f"v{(i * (k + 13)) % 101}" for k in range(2, KEYS)})
    metrics = {"m0": (i * 7919 % 10007) / 10007, "m1": (i * 104729 % 1000003) / 1000003}
    metrics.update({f"m{k}": ((i * (k + 31)) % 997) / 997 for k in range(2, KEYS)})
    return params, metrics


def run_uuid(i: int) -> str:
    return f"{i:032x}"


def expected_order(n: int) -> list[str]:
    """The run ids the query returns, in order: m1 descending, then start_time descending."""
    hits = []
    for i in range(n):
        params, metrics = run_values(i)
        if metrics["m0"] > 0.5 and params["p0"] == "v1":
            hits.append((-metrics["m1"], -(BASE_TIME + i), run_uuid(i)))
    return [h[2] for h in sorted(hits)]


# -- seeding -----------------------------------------------------------------------------------
def seed(uri: str, n: int, log: Callable[[str], None]) -> None:
    from traza.store.uri import open_store
    from traza.transfer.records import ExperimentRecord, IngestBatch, RunRecord

    store: Any = open_store(uri, "mlflow-artifacts:/")
    try:
        experiment_id = "1"
        store.ingest(
            IngestBatch(
                experiments=[ExperimentRecord(experiment_id, EXPERIMENT, "mlflow-artifacts:/1")]
            )
        )
        started = time.monotonic()
        for first in range(0, n, SEED_CHUNK):
            runs = []
            for i in range(first, min(first + SEED_CHUNK, n)):
                params, metrics = run_values(i)
                start = BASE_TIME + i
                runs.append(
                    RunRecord(
                        run_id=run_uuid(i),
                        experiment_id=experiment_id,
                        name=f"run-{i:06d}",
                        user_id="bench",
                        status="FINISHED",
                        start_time=start,
                        end_time=start + 1000,
                        lifecycle_stage="active",
                        artifact_uri=f"mlflow-artifacts:/1/{run_uuid(i)}/artifacts",
                        params=params,
                        tags={"mlflow.runName": f"run-{i:06d}", "t0": f"x{i % 5}"},
                        metrics=[(k, v, start, 0, None, None, None) for k, v in metrics.items()],
                    )
                )
            store.ingest(IngestBatch(runs=runs))
            if first and first % 20_000 == 0:
                log(f"seeded {first:,} runs in {time.monotonic() - started:.0f} s")
    finally:
        store.close()


def _count_runs(uri: str) -> int:
    from traza.store.uri import open_store

    store: Any = open_store(uri, "mlflow-artifacts:/")
    try:
        with store.db.read() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM runs r "
                "JOIN experiments e ON e.experiment_id = r.experiment_id "
                "WHERE e.name = ?",
                (EXPERIMENT,),
            )
            return int(cur.fetchone()[0])
    except Exception:
        return -1
    finally:
        store.close()


def ensure_seeded(backend: str, n: int, pg: servers.Postgres, log: Callable[[str], None]) -> str:
    """The cached store's location (a file path or a database name), seeded if need be."""
    servers.CACHE.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = servers.CACHE / f"search-scale-{n}.db"
        uri = f"sqlite:///{path}"
        if path.exists() and _count_runs(uri) == n:
            return str(path)
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
        started = time.monotonic()
        seed(uri, n, log)
        import sqlite3

        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        log(f"seeded {n:,} runs on sqlite in {time.monotonic() - started:.0f} s")
        return str(path)
    db = f"bench_search_scale_{n}"
    if pg.exists(db) and _count_runs(pg.libpq(db)) == n:
        return db
    pg.create(db)
    started = time.monotonic()
    seed(pg.libpq(db), n, log)
    with pg.connect(db) as conn:
        conn.execute("VACUUM ANALYZE")
    log(f"seeded {n:,} runs on postgresql in {time.monotonic() - started:.0f} s")
    return db


# -- timing ------------------------------------------------------------------------------------
def _timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median milliseconds over ``repeat`` calls after one untimed call; and the last result."""
    last = call()
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        last = call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1000, last


def _search_body(experiment_id: str, token: str | None) -> bytes:
    payload: dict[str, Any] = {
        "experiment_ids": [experiment_id],
        "filter": FILTER,
        "order_by": [ORDER],
        "max_results": PAGE,
        "run_view_type": "ACTIVE_ONLY",
    }
    if token:
        payload["page_token"] = token
    return body(payload)


def measure_server(url: str, expected: list[str], repeat: int) -> dict[str, Any]:
    conn = Connection(url)
    try:
        experiment_id = conn.get("experiments/get-by-name", experiment_name=EXPERIMENT)[
            "experiment"
        ]["experiment_id"]
        path = "/api/2.0/mlflow/runs/search"
        tokens: list[str | None] = [None]
        for _ in range(LATER_PAGE - 1):  # untimed: the later page's token
            reply = json.loads(conn.request("POST", path, _search_body(experiment_id, tokens[-1])))
            tokens.append(reply.get("next_page_token"))
        out: dict[str, Any] = {}
        for label, token, page in (("first", None, 0), ("later", tokens[-1], LATER_PAGE - 1)):
            request = _search_body(experiment_id, token)
            ms, last = _timed(lambda r=request: conn.request("POST", path, r), repeat)
            got = [r["info"]["run_id"] for r in json.loads(last).get("runs", [])]
            want = expected[page * PAGE : (page + 1) * PAGE]
            out[label] = {"median_ms": ms, "ok": got == want}
        return out
    finally:
        conn.close()


def measure_store(uri: str, expected: list[str], repeat: int) -> dict[str, Any]:
    from traza.store.uri import open_store

    store: Any = open_store(uri, "mlflow-artifacts:/")
    try:
        experiment_id = store.get_experiment_by_name(EXPERIMENT).experiment_id

        def search(token: str | None) -> Any:
            return store.search_runs(
                [experiment_id], FILTER, max_results=PAGE, order_by=[ORDER], page_token=token
            )

        tokens: list[str | None] = [None]
        for _ in range(LATER_PAGE - 1):  # untimed: the later page's token, as a client gets it
            tokens.append(search(tokens[-1]).token)
        out: dict[str, Any] = {}
        for label, page in (("first", 0), ("later", LATER_PAGE - 1)):

            def call(token: str | None = tokens[page]) -> Any:
                return search(token)

            ms, last = _timed(call, repeat)
            got = [r.info.run_id for r in last]
            out[label] = {"median_ms": ms, "ok": got == expected[page * PAGE : (page + 1) * PAGE]}
        return out
    finally:
        store.close()


def bench_backend(
    backend: str, n: int, pg: servers.Postgres, repeat: int, log: Callable[[str], None]
) -> dict[str, Any]:
    source = ensure_seeded(backend, n, pg, log)
    expected = expected_order(n)
    with tempfile.TemporaryDirectory(prefix="bench-search-scale-") as tmp:
        folder = Path(tmp)
        work_db = f"{source}_work"
        if backend == "sqlite":
            store_path = folder / "store.db"
            servers.copy_sqlite(Path(source), store_path)
            uri = f"sqlite:///{store_path}"
        else:
            pg.create(work_db, template=source)
            uri = pg.libpq(work_db)
        try:
            result = {"store": measure_store(uri, expected, repeat)}
            with servers.running("traza", uri, folder) as server:
                result["server"] = measure_server(server.url, expected, repeat)
        finally:
            if backend == "postgresql":
                pg.drop(work_db)
    result["matches"] = len(expected)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 runs")
    parser.add_argument("--runs", type=int, help="runs to seed (default 100,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page")
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    parser.add_argument("--postgres-host", default="127.0.0.1")
    parser.add_argument("--postgres-port", type=int, default=5432)
    args = parser.parse_args()
    servers.stop_on_sigterm()
    n = args.runs or (10_000 if args.quick else 100_000)
    if n <= 0:
        parser.error("--runs must be positive")
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"  [{time.monotonic() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    print(
        f"Python {platform.python_version()}; {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}; {n:,} runs x {KEYS} params x {KEYS} metrics; "
        f"{FILTER!r} ordered by {ORDER}, {PAGE} a page; medians of {args.repeat}",
        flush=True,
    )
    pg = servers.Postgres(host=args.postgres_host, port=args.postgres_port)
    backends = ("sqlite", "postgresql") if args.backend == "all" else (args.backend,)
    report: dict[str, Any] = {"runs": n}
    print(f"{'backend':12}{'where':8}{'first page':>14}{'page ' + str(LATER_PAGE):>14}  goal")
    for backend in backends:
        result = bench_backend(backend, n, pg, args.repeat, log)
        report[backend] = result
        for where in ("server", "store"):
            r = result[where]
            cells = [
                f"{r[p]['median_ms']:,.1f} ms" + ("" if r[p]["ok"] else " WRONG")
                for p in ("first", "later")
            ]
            worst = max(r[p]["median_ms"] for p in ("first", "later"))
            goal = f"< {GOAL_MS:g} ms: {'met' if worst < GOAL_MS else 'NOT met'}"
            print(f"{backend:12}{where:8}{cells[0]:>14}{cells[1]:>14}  {goal}", flush=True)
    print(f"total {time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2))
    wrong = [
        f"{backend} {where} {page}"
        for backend in backends
        for where in ("server", "store")
        for page in ("first", "later")
        if not report[backend][where][page]["ok"]
    ]
    if wrong:
        sys.exit(f"wrong runs or order on: {', '.join(wrong)}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; every server started was stopped", file=sys.stderr)
        sys.exit(130)
