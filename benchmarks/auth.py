"""What authentication costs: traza server and mlflow server, each with and without basic auth.

Each system serves a fresh store (SQLite, then PostgreSQL). Without auth it is seeded over REST
(50 experiments; N runs with a metric and a param in the first one) and timed; then the same
store is served with ``--app-name basic-auth``: the admin creates a user with MANAGE on the first
experiment (the default permission, READ, covers the other 49), and the same workload is timed
as that user over Basic auth: create run, log_batch of 10 metrics, search_runs over the N runs
(100 back), search_experiments. Times are medians on the client over one kept-alive connection.

    python benchmarks/auth.py                    # 1,000 runs, SQLite and PostgreSQL (~4 min)
    python benchmarks/auth.py --quick --only traza --backend sqlite     # what CI runs (~20 s)

MLflow runs with its default auth settings (its credential cache is off by default, so every
request hashes the password); Traza's cache is always on and bounded to 5 s of staleness.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import servers
from rest import API, Connection, body

ADMIN_PASSWORD = "bench-admin-password-1"
USER, USER_PASSWORD = "alice", "alice-password-1"
EXPERIMENTS = 50
ROWS = (
    ("create_run", "create run"),
    ("log_batch_10", "log_batch, 10 metrics"),
    ("search_runs", "search_runs ({runs:,} runs, 100 back)"),
    ("search_experiments", f"search_experiments ({EXPERIMENTS}, grant on 1)"),
)
Result = dict[str, float]


class AuthConnection(Connection):
    """A kept-alive connection that sends Basic credentials (or none) on every request."""

    def __init__(self, url: str, user: str | None = None, password: str | None = None) -> None:
        super().__init__(url)
        self.headers = {"Content-Type": "application/json"}
        if user is not None:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {pair}"

    def call(self, method: str, path: str, payload: bytes | None = None) -> bytes:
        return self.request(method, path, payload, self.headers)

    def post(self, endpoint: str, payload: dict[str, Any]) -> Any:
        return json.loads(self.call("POST", f"{API}/{endpoint}", body(payload)))


def _median_ms(call: Callable[[int], Any], count: int, warmup: int = 3) -> float:
    for i in range(warmup):
        call(i)
    seconds = []
    for i in range(warmup, warmup + count):
        start = time.perf_counter()
        call(i)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1000


def seed(conn: AuthConnection, runs: int) -> str:
    """50 experiments; ``runs`` runs in the first, each with metric ``m`` and param ``p``."""
    stamp = time.time_ns()
    ids = [
        str(conn.post("experiments/create", {"name": f"auth-bench-{stamp}-{i}"})["experiment_id"])
        for i in range(EXPERIMENTS)
    ]
    for i in range(runs):
        run_id = conn.post(
            "runs/create", {"experiment_id": ids[0], "start_time": 1_700_000_000_000 + i}
        )["run"]["info"]["run_id"]
        conn.post(
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [{"key": "m", "value": (i % 97) / 97, "timestamp": 0, "step": 0}],
                "params": [{"key": "p", "value": f"v{i % 3}"}],
            },
        )
    return ids[0]


def workload(conn: AuthConnection, experiment_id: str, count: int) -> dict[str, Result]:
    out: dict[str, Result] = {}
    create = [
        body({"experiment_id": experiment_id, "start_time": 1_700_000_000_000 + i})
        for i in range(count + 3)
    ]
    path = f"{API}/runs/create"
    out["create_run"] = {"ms": _median_ms(lambda i: conn.call("POST", path, create[i]), count)}
    run_id = json.loads(conn.call("POST", path, create[0]))["run"]["info"]["run_id"]
    batches = [
        body(
            {
                "run_id": run_id,
                "metrics": [
                    {"key": f"k{k}", "value": 0.5, "timestamp": 0, "step": i} for k in range(10)
                ],
            }
        )
        for i in range(count + 3)
    ]
    path = f"{API}/runs/log-batch"
    out["log_batch_10"] = {"ms": _median_ms(lambda i: conn.call("POST", path, batches[i]), count)}
    search = body(
        {
            "experiment_ids": [experiment_id],
            "filter": "metrics.m > 0.5 and params.p = 'v1'",
            "order_by": ["metrics.m DESC"],
            "max_results": 100,
        }
    )
    path = f"{API}/runs/search"
    out["search_runs"] = {"ms": _median_ms(lambda i: conn.call("POST", path, search), count)}
    experiments = body({"max_results": 100})
    path = f"{API}/experiments/search"
    out["search_experiments"] = {
        "ms": _median_ms(lambda i: conn.call("POST", path, experiments), count)
    }
    return out


def _auth_env(system: str, folder: Path) -> dict[str, str]:
    env = {"MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD, "MLFLOW_FLASK_SERVER_SECRET_KEY": "bench"}
    if system == "mlflow":  # its users live in a database of their own, named in its config
        ini = folder / "basic_auth.ini"
        ini.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{folder / 'basic_auth.db'}\nadmin_username = admin\n"
        )
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
    return env


@contextlib.contextmanager
def _store(system: str, backend: str, folder: Path, pg: servers.Postgres) -> Iterator[str]:
    if backend == "sqlite":
        yield servers.store_uri(system, backend, str(folder / f"{system}.db"), pg)
        return
    db = f"bench_auth_{system}_{os.getpid()}"
    pg.create(db)
    try:
        yield servers.store_uri(system, backend, db, pg)
    finally:
        pg.drop(db)


def bench_system(
    system: str,
    backend: str,
    runs: int,
    count: int,
    pg: servers.Postgres,
    log: Callable[[str], None],
) -> dict[str, dict[str, Result]]:
    with tempfile.TemporaryDirectory(prefix=f"auth-{system}-") as tmp:
        folder = Path(tmp)
        with _store(system, backend, folder, pg) as uri:
            with servers.running(system, uri, folder / "open") as server:
                conn = AuthConnection(server.url)
                log(f"{system} on {backend}: seeding {runs:,} runs")
                experiment_id = seed(conn, runs)
                log(f"{system} on {backend}: timing without auth")
                open_results = workload(conn, experiment_id, count)
                conn.close()
            with servers.running(
                system,
                uri,
                folder / "auth",
                extra_args=["--app-name", "basic-auth"],
                env=_auth_env(system, folder),
            ) as server:
                admin = AuthConnection(server.url, "admin", ADMIN_PASSWORD)
                admin.post("users/create", {"username": USER, "password": USER_PASSWORD})
                grant = {
                    "username": USER,
                    "resource_type": "experiment",
                    "resource_id": experiment_id,
                    "permission": "MANAGE",
                }
                admin.call("POST", "/api/3.0/mlflow/users/permissions/grant", body(grant))
                admin.close()
                conn = AuthConnection(server.url, USER, USER_PASSWORD)
                log(f"{system} on {backend}: timing as {USER} with basic auth")
                auth_results = workload(conn, experiment_id, count)
                conn.close()
    return {"open": open_results, "auth": auth_results}


def print_table(backend: str, runs: int, results: dict[str, dict[str, dict[str, Result]]]) -> None:
    print(f"\n{backend}: median ms per request on the client (kept-alive connection)")
    head = f"{'':40}{'traza':>9}{'+auth':>9}{'auth cost':>11}"
    if "mlflow" in results:
        head += f"{'mlflow':>9}{'+auth':>9}{'ratio, auth':>13}"
    print(head)
    for key, title in ROWS:
        traza = results["traza"]
        t_open, t_auth = traza["open"][key]["ms"], traza["auth"][key]["ms"]
        line = f"{title.format(runs=runs):40}{t_open:9.2f}{t_auth:9.2f}{t_auth - t_open:+11.2f}"
        if "mlflow" in results:
            m_open, m_auth = (
                results["mlflow"]["open"][key]["ms"],
                results["mlflow"]["auth"][key]["ms"],
            )
            line += f"{m_open:9.2f}{m_auth:9.2f}{m_auth / t_auth:12.1f}x"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 runs, fewer repeats")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--only", choices=("traza",), help="run traza server only")
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    parser.add_argument(
        "--requests", type=int, help="timed requests per row (default 200; 30 with --quick)"
    )
    args = parser.parse_args()
    servers.stop_on_sigterm()
    runs, count = (200, 30) if args.quick else (1000, 200)
    count = args.requests or count
    systems = ("traza",) if args.only else ("traza", "mlflow")
    found = {s: version(s) for s in systems}
    print(
        f"Python {platform.python_version()}, "
        + ", ".join(f"{k} {v}" for k, v in found.items())
        + f"; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; {runs:,} runs, "
        f"{count} timed requests per row",
        flush=True,
    )
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"  [{time.monotonic() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    pg = servers.Postgres()
    report: dict[str, Any] = {"versions": found, "runs": runs, "count": count}
    backends = ("sqlite", "postgresql") if args.backend == "all" else (args.backend,)
    for backend in backends:
        results = {s: bench_system(s, backend, runs, count, pg, log) for s in systems}
        print_table(backend, runs, results)
        report[backend] = results
    print(f"total {time.monotonic() - started:.0f} s")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; every server started was stopped", file=sys.stderr)
        sys.exit(130)
