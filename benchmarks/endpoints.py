"""Server-side workloads: raw HTTP requests against one running tracking server.

Each workload prepares its bodies first, sends a few untimed warm-up requests, then times each
request (send, wait, read the whole reply) on one kept-alive connection, for a fixed number of
requests or until its time budget runs out. A result holds the median per request, the
requests per second over the timed ones, and a check value that all servers must agree on.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import seeding
from rest import API, ARTIFACTS, Connection, HttpError, body

Result = dict[str, Any]
MIB = 1 << 20
OCTETS = {"Content-Type": "application/octet-stream"}


@dataclass(frozen=True)
class Plan:
    """How much data and how many timed requests each workload gets."""

    scale: seeding.Scale
    big_mib: int
    create_runs: int
    small_batches: int
    big_batches: int
    searches: int
    histories: int
    small_files: int
    big_files: int
    concurrent_requests: int  # per concurrency level, split evenly between the clients
    budget: float  # seconds one workload may take on one server (timed part)
    log_metric_calls: int  # the mlflow client's log_metric loop
    traza_client_calls: int  # Traza's own client: log_metric calls queued and flushed
    client_repeats: int  # timed calls per operation through the mlflow client


FULL = Plan(
    scale=seeding.Scale(10_000, 100_000),
    big_mib=100,
    create_runs=200,
    small_batches=300,
    big_batches=40,
    searches=20,
    histories=5,
    small_files=20,
    big_files=3,
    concurrent_requests=2000,
    budget=10.0,
    log_metric_calls=200,
    traza_client_calls=10_000,
    client_repeats=10,
)
QUICK = Plan(
    scale=seeding.Scale(1_000, 10_000),
    big_mib=10,
    create_runs=30,
    small_batches=60,
    big_batches=8,
    searches=8,
    histories=3,
    small_files=8,
    big_files=2,
    concurrent_requests=200,
    budget=1.0,
    log_metric_calls=50,
    traza_client_calls=10_000,
    client_repeats=3,
)


@dataclass
class Target:
    """A running server and the ids the workloads use on it."""

    name: str  # the system
    url: str
    plan: Plan
    folder: Path  # scratch space for this server (the big upload's source file)
    search_experiment: str = ""
    history_run: str = ""
    bench_experiment: str = ""

    def discover(self, conn: Connection) -> None:
        """Find the seeded ids through the API, and make an experiment for new runs."""
        self.search_experiment = _experiment_id(conn, seeding.SEARCH_EXPERIMENT)
        history = _experiment_id(conn, seeding.HISTORY_EXPERIMENT)
        runs = conn.post("runs/search", {"experiment_ids": [history], "max_results": 1})["runs"]
        self.history_run = runs[0]["info"]["run_id"]
        name = f"bench-writes-{time.time_ns()}"
        self.bench_experiment = conn.post("experiments/create", {"name": name})["experiment_id"]


def _experiment_id(conn: Connection, name: str) -> str:
    reply = conn.get("experiments/get-by-name", experiment_name=name)
    return str(reply["experiment"]["experiment_id"])


def timed(call: Callable[[int], Any], count: int, budget: float, warmup: int = 2) -> Result:
    """Run ``call(i)`` ``warmup`` times untimed, then up to ``count`` times within ``budget``."""
    for i in range(warmup):
        call(i)
    seconds: list[float] = []
    last: Any = None
    deadline = time.monotonic() + budget
    for i in range(warmup, warmup + count):
        start = time.perf_counter()
        last = call(i)
        seconds.append(time.perf_counter() - start)
        if time.monotonic() > deadline:
            break
    return {
        "median_ms": statistics.median(seconds) * 1000,
        "per_s": len(seconds) / sum(seconds),
        "count": len(seconds),
        "last": last,
    }


def _new_run(conn: Connection, experiment_id: str, name: str) -> str:
    reply = conn.post("runs/create", {"experiment_id": experiment_id, "run_name": name})
    return str(reply["run"]["info"]["run_id"])


def create_run(conn: Connection, t: Target) -> Result:
    tags = [
        {"key": "mlflow.user", "value": "bench"},
        {"key": "mlflow.source.name", "value": "bench.py"},
        {"key": "mlflow.source.type", "value": "LOCAL"},
    ]
    bodies = [
        body(
            {
                "experiment_id": t.bench_experiment,
                "user_id": "bench",
                "start_time": seeding.BASE_TIME + i,
                "run_name": f"created-{i}",
                "tags": tags,
            }
        )
        for i in range(t.plan.create_runs + 2)
    ]
    path = f"{API}/runs/create"
    return timed(lambda i: conn.request("POST", path, bodies[i]), t.plan.create_runs, t.plan.budget)


def batch_bodies(run_id: str, count: int, size: int) -> list[bytes]:
    """``count`` log-batch bodies of ``size`` points each (10 keys, steps never repeated)."""
    keys = min(size, 10)
    per_key = size // keys
    out = []
    for i in range(count):
        metrics = [
            {"key": f"k{k}", "value": s * 0.5, "timestamp": seeding.BASE_TIME + s, "step": s}
            for k in range(keys)
            for s in range(i * per_key, (i + 1) * per_key)
        ]
        out.append(body({"run_id": run_id, "metrics": metrics}))
    return out


def log_batch(conn: Connection, t: Target, size: int) -> Result:
    count = t.plan.small_batches if size <= 10 else t.plan.big_batches
    run_id = _new_run(conn, t.bench_experiment, f"batch-{size}")
    bodies = batch_bodies(run_id, count + 2, size)
    path = f"{API}/runs/log-batch"
    return timed(lambda i: conn.request("POST", path, bodies[i]), count, t.plan.budget)


def search_runs(conn: Connection, t: Target) -> Result:
    request = body(
        {
            "experiment_ids": [t.search_experiment],
            "filter": seeding.SEARCH_FILTER,
            "order_by": [seeding.SEARCH_ORDER],
            "max_results": 100,
            "run_view_type": "ACTIVE_ONLY",
        }
    )
    path = f"{API}/runs/search"
    result = timed(lambda i: conn.request("POST", path, request), t.plan.searches, t.plan.budget)
    import json

    runs = json.loads(result.pop("last"))["runs"]
    result["check"] = [r["info"]["run_name"] for r in runs]
    return result


def metric_history(conn: Connection, t: Target) -> Result:
    """The whole history in one request (following page tokens if a server sends them)."""
    import json
    import urllib.parse

    base = f"{API}/metrics/get-history?run_id={t.history_run}&metric_key={seeding.HISTORY_KEY}"

    def fetch(i: int) -> list[bytes]:
        path, pages = base, []
        while True:
            pages.append(conn.request("GET", path))
            if b'"next_page_token"' not in pages[-1]:
                return pages
            token = urllib.parse.quote(json.loads(pages[-1])["next_page_token"])
            path = f"{base}&page_token={token}"

    result = timed(fetch, t.plan.histories, t.plan.budget * 2, warmup=1)
    pages = result.pop("last")
    result["check"] = sum(len(json.loads(page)["metrics"]) for page in pages)
    result["pages"] = len(pages)
    return result


def artifacts(conn: Connection, t: Target, mib: int) -> tuple[Result, Result]:
    """Upload then download ``mib`` MiB files through the mlflow-artifacts proxy."""
    count = t.plan.small_files if mib <= 1 else t.plan.big_files
    size = mib * MIB
    source = t.folder / f"upload-{mib}.bin"
    block = os.urandom(MIB)
    with open(source, "wb") as f:
        for _ in range(mib):
            f.write(block)
    prefix = f"{ARTIFACTS}/bench/{time.time_ns()}"
    headers = {**OCTETS, "Content-Length": str(size)}

    def upload(i: int) -> None:
        with open(source, "rb") as f:
            conn.request("PUT", f"{prefix}/{i}/file-{mib}m.bin", f, headers)

    warmup = 1 if mib > 1 else 2
    up = timed(upload, count, t.plan.budget * 2, warmup)
    buffer = bytearray(MIB)
    uploaded = warmup + up["count"]
    down = timed(
        lambda i: conn.download(f"{prefix}/{i % uploaded}/file-{mib}m.bin", buffer),
        count,
        t.plan.budget * 2,
        warmup,
    )
    source.unlink()
    for result in (up, down):
        result["mib_per_s"] = mib / (result["median_ms"] / 1000)
    down["check"] = down.pop("last")
    up.pop("last")
    if down["check"] != size:
        raise HttpError("GET", prefix, 200, f"downloaded {down['check']} of {size} bytes".encode())
    return up, down


# -- concurrency -----------------------------------------------------------------------------
def _client(
    url: str, experiment_id: str, requests: int, budget: float, barrier: Any, out: Any
) -> None:
    """One client process: its own run and connection, ``requests`` log-batches of 10.

    A request still unanswered after ``2 * budget`` seconds (at least 5) counts as failed.
    """
    timeout = max(5.0, 2 * budget)
    try:
        conn = Connection(url, timeout)
        run_id = _new_run(conn, experiment_id, f"concurrent-{os.getpid()}")
        bodies = batch_bodies(run_id, requests, 10)
        path = f"{API}/runs/log-batch"
        barrier.wait(timeout=120)
        start = time.perf_counter()
        deadline = time.monotonic() + budget
        done = errors = 0
        first_error = ""
        for payload in bodies:
            try:
                conn.request("POST", path, payload)
                done += 1
            except (HttpError, OSError) as e:
                errors += 1
                first_error = first_error or str(e)
                conn.close()
                conn = Connection(url, timeout)
            if time.monotonic() > deadline:
                break
        out.put((done, errors, start, time.perf_counter(), first_error))
        conn.close()
    except Exception as e:  # reported in the table, never raised in a child
        out.put((0, -1, 0.0, 0.0, f"{type(e).__name__}: {e}"))


def concurrent(t: Target, clients: int) -> Result:
    """``clients`` processes at once, each logging batches of 10 metrics to its own run.

    Processes, not threads: two cores and one GIL would make a threaded client the bottleneck
    for the faster servers.
    """
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(clients)
    out = ctx.Queue()
    per_client = max(1, t.plan.concurrent_requests // clients)
    procs = [
        ctx.Process(
            target=_client,
            args=(t.url, t.bench_experiment, per_client, t.plan.budget, barrier, out),
            daemon=True,
        )
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    reports = [out.get(timeout=t.plan.budget + 300) for _ in procs]
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    failed = [r[4] for r in reports if r[1] < 0]
    if failed:
        raise RuntimeError(failed[0])
    done = sum(r[0] for r in reports)
    wall = max(r[3] for r in reports) - min(r[2] for r in reports)
    result = {"per_s": done / wall, "count": done, "clients": clients, "seconds": wall}
    result["errors"] = sum(r[1] for r in reports)
    if result["errors"]:
        result["first_error"] = next(r[4] for r in reports if r[4])
    return result
