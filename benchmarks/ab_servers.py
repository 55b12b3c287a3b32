"""Two traza servers side by side, requests alternating between them: which code is faster.

Each server is started from its own source tree (``PYTHONPATH``) on its own copy of the same
SQLite store or PostgreSQL database; every workload sends its requests to both in turn, so
both see the same machine load, and prints the two medians and their ratio. For before/after
comparisons on a busy machine, where two separate runs minutes apart are not comparable.

    python benchmarks/ab_servers.py --a /tmp/old/src --b src --backend sqlite
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import endpoints
import seeding
import servers
from rest import Connection, body

API = "/api/2.0/mlflow"


def _timed(conn: Connection, method: str, path: str, payload: bytes | None) -> float:
    start = time.perf_counter()
    conn.request(method, path, payload)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="source folder of server A (its src/)")
    parser.add_argument("--b", required=True, help="source folder of server B")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    plan = endpoints.FULL
    pg = servers.Postgres()
    source = seeding.ensure_seeded("traza", args.backend, plan.scale, pg, print)
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        uris, dbs = [], []
        for name in ("a", "b"):
            folder = Path(tmp) / name
            if args.backend == "sqlite":
                servers.copy_sqlite(Path(source), folder / "store.db")
                uris.append(f"sqlite:///{folder / 'store.db'}")
            else:
                db = f"{source}_ab_{name}"
                pg.create(db, template=source)
                dbs.append(db)
                uris.append(pg.libpq(db))
        try:
            with (
                servers.running(
                    "traza", uris[0], Path(tmp) / "a", env={"PYTHONPATH": str(Path(args.a))}
                ) as a,
                servers.running(
                    "traza", uris[1], Path(tmp) / "b", env={"PYTHONPATH": str(Path(args.b))}
                ) as b,
            ):
                compare(a.url, b.url, args.count)
        finally:
            for db in dbs:
                pg.drop(db)


def compare(url_a: str, url_b: str, count: int) -> None:
    conns = [Connection(url_a), Connection(url_b)]
    exp = [str(c.get("experiments/get-by-name", experiment_name=seeding.SEARCH_EXPERIMENT)
               ["experiment"]["experiment_id"]) for c in conns]  # fmt: skip
    runs = [
        json.loads(c.request("POST", f"{API}/runs/create", body({"experiment_id": e})))["run"][
            "info"
        ]["run_id"]
        for c, e in zip(conns, exp, strict=True)
    ]
    search = body({"experiment_ids": [exp[0]], "filter": seeding.SEARCH_FILTER,
                   "order_by": [seeding.SEARCH_ORDER], "max_results": 100})  # fmt: skip
    workloads: dict[str, Any] = {
        "create run": lambda i, s: (
            "POST",
            f"{API}/runs/create",
            body({"experiment_id": exp[s], "tags": [{"key": "a", "value": "b"}]}),
        ),
        "log_batch 10": lambda i, s: (
            "POST",
            f"{API}/runs/log-batch",
            endpoints.batch_bodies(runs[s], 1, 10)[0].replace(
                b'"step": 0', f'"step": {i}'.encode()
            ),
        ),
        "search 10,000 runs": lambda i, s: (
            "POST",
            f"{API}/runs/search",
            search.replace(exp[0].encode(), exp[s].encode()),
        ),
    }
    big = [endpoints.batch_bodies(r, count // 10 + 2, 1000) for r in runs]
    workloads["log_batch 1,000"] = lambda i, s: ("POST", f"{API}/runs/log-batch", big[s][i])
    for name, make in workloads.items():
        times: list[list[float]] = [[], []]
        n = count if name in ("create run", "log_batch 10") else max(10, count // 10)
        for i in range(n + 2):
            order = (0, 1) if i % 2 else (1, 0)
            for s in order:
                method, path, payload = make(i, s)
                t = _timed(conns[s], method, path, payload)
                if i >= 2:
                    times[s].append(t)
        ma, mb = (statistics.median(t) * 1000 for t in times)
        print(f"{name:22} A {ma:8.2f} ms   B {mb:8.2f} ms   A/B {ma / mb:5.2f}x", flush=True)
    for c in conns:
        c.close()


if __name__ == "__main__":
    main()
