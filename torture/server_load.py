"""Scenario 3, server load: hundreds of asynchronous clients against ``traza server``.

Three phases, each against a fresh store:

- **PostgreSQL, 4 workers** (a database of its own on the machine's server, dropped after) and
  **SQLite, 1 worker**: ``clients`` asyncio clients (aiohttp, split over two processes, all on
  127.0.0.1) run a mixed workload for ``seconds``: log_batch, search, get run, metric history,
  artifact upload and download through MLflow's REST paths. No 500, 502 or 504, no dropped
  connection, every download equal to its upload; p50/p99 per endpoint and throughput recorded.
- **Overload**: one SQLite worker with tiny limits (2 in flight, 4 queued, 0.1 s wait) under the
  same clients: it must shed with 503 and ``Retry-After``, never time out, and the clients'
  retries (which wait out ``Retry-After``) must get every call through. Traza's own client logs
  beside them in threads and must get every batch through too.

Every client resends some of its log_batch calls (as after a lost answer); at the end the store
must hold each point once, and its per-key counts (``latest_metrics``, ``metric_buckets``) must
equal the points stored.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from torture._support import Server, scratch
from torture.result import Result

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
#: The mix of operations (weights); every client draws from it.
MIX = {
    "log_batch": 35,
    "search_runs": 12,
    "get_run": 20,
    "metric_history": 15,
    "artifact_upload": 9,
    "artifact_download": 9,
}
RESEND_SHARE = 0.05  # log_batch calls sent twice, as a client does when an answer is lost
SHED_STATUSES = (429, 503)
FAILING_STATUSES = (500, 502, 504)


@dataclass(frozen=True)
class Scale:
    clients: int
    seconds: float
    overload_clients: int
    overload_seconds: float
    traza_client_threads: int


SCALES = {
    "ci": Scale(60, 12.0, 60, 6.0, 4),
    "full": Scale(200, 120.0, 200, 30.0, 8),
}


# -- the clients (run in child processes) ---------------------------------------------------------
@dataclass
class Tally:
    """What one process's clients saw: latencies of answered calls and every problem."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    calls: int = 0
    shed: int = 0
    shed_without_retry_after: int = 0
    failures: list[str] = field(default_factory=list)
    dropped: int = 0
    #: Points acknowledged per run (distinct (key, step) pairs).
    acknowledged: dict[str, int] = field(default_factory=dict)


class Client:
    """One simulated user: its own run, points, files; retries what the server shed."""

    def __init__(self, session: Any, url: str, experiment: str, tally: Tally, seed: int) -> None:
        self.session = session
        self.url = url
        self.experiment = experiment
        self.tally = tally
        self.rng = random.Random(seed)
        self.run_id = ""
        self.artifact_path = ""
        self.step = 0
        self.files: dict[str, bytes] = {}

    async def call(self, op: str, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
        """Send until answered (shed calls wait out Retry-After); time the answered attempt."""
        import aiohttp

        for _ in range(200):
            started = time.perf_counter()
            try:
                async with self.session.request(method, self.url + path, **kwargs) as r:
                    body = await r.read()
                    status = r.status
                    retry_after = r.headers.get("Retry-After")
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as e:
                self.tally.dropped += 1
                self.tally.failures.append(f"{op}: connection dropped ({type(e).__name__}: {e})")
                await asyncio.sleep(0.5)
                continue
            if status in SHED_STATUSES:
                self.tally.shed += 1
                if retry_after is None:
                    self.tally.shed_without_retry_after += 1
                    retry_after = "1"
                await asyncio.sleep(float(retry_after) + self.rng.random())
                continue
            self.tally.calls += 1
            if status in FAILING_STATUSES or status >= 400:
                self.tally.failures.append(f"{op}: HTTP {status}: {body[:200]!r}")
            else:
                self.tally.latencies.setdefault(op, []).append(time.perf_counter() - started)
            return status, body
        self.tally.failures.append(f"{op}: still shed after 200 tries")
        return 0, b""

    async def start(self) -> None:
        body = {"experiment_id": self.experiment, "start_time": int(time.time() * 1000)}
        status, reply = await self.call("create_run", "POST", f"{API}/runs/create", json=body)
        if status != 200:
            raise RuntimeError(f"create_run failed: {status} {reply[:200]!r}")
        info = json.loads(reply)["run"]["info"]
        self.run_id = info["run_id"]
        self.artifact_path = info["artifact_uri"].removeprefix("mlflow-artifacts:")

    async def step_once(self) -> None:
        op = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if op == "artifact_download" and not self.files:
            op = "artifact_upload"
        await getattr(self, op)()

    async def log_batch(self) -> None:
        now = int(time.time() * 1000)
        metrics = [
            {"key": f"m{k}", "value": self.rng.random(), "timestamp": now, "step": self.step}
            for k in range(10)
        ]
        body = {"run_id": self.run_id, "metrics": metrics}
        if self.step % 50 == 0:
            body["params"] = [{"key": f"p{self.step}", "value": str(self.step)}]
        sends = 2 if self.rng.random() < RESEND_SHARE else 1
        for _ in range(sends):
            status, _ = await self.call("log_batch", "POST", f"{API}/runs/log-batch", json=body)
        if status == 200:
            self.tally.acknowledged[self.run_id] = self.tally.acknowledged.get(self.run_id, 0) + 10
        self.step += 1

    async def search_runs(self) -> None:
        body = {
            "experiment_ids": [self.experiment],
            "filter": f"metrics.m0 > {self.rng.random():.3f}",
            "order_by": ["metrics.m1 DESC"],
            "max_results": 50,
        }
        await self.call("search_runs", "POST", f"{API}/runs/search", json=body)

    async def get_run(self) -> None:
        await self.call("get_run", "GET", f"{API}/runs/get", params={"run_id": self.run_id})

    async def metric_history(self) -> None:
        params = {"run_id": self.run_id, "metric_key": f"m{self.rng.randrange(10)}"}
        await self.call("metric_history", "GET", f"{API}/metrics/get-history", params=params)

    async def artifact_upload(self) -> None:
        name = f"f{len(self.files)}.bin"
        data = self.rng.randbytes(self.rng.choice((1_000, 16_000, 200_000)))
        path = f"{ARTIFACTS}{self.artifact_path}/{name}"
        status, _ = await self.call("artifact_upload", "PUT", path, data=data)
        if status == 200:
            self.files[name] = data

    async def artifact_download(self) -> None:
        name = self.rng.choice(list(self.files))
        path = f"{ARTIFACTS}{self.artifact_path}/{name}"
        status, body = await self.call("artifact_download", "GET", path)
        if status == 200 and body != self.files[name]:
            self.tally.failures.append(f"artifact_download: {name} differs from what was uploaded")


async def _drive(url: str, experiment: str, clients: int, seconds: float, seed: int) -> Tally:
    import aiohttp

    tally = Tally()
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        users = [Client(session, url, experiment, tally, seed * 10_000 + i) for i in range(clients)]
        await asyncio.gather(*(u.start() for u in users))
        deadline = time.monotonic() + seconds

        async def loop(user: Client) -> None:
            while time.monotonic() < deadline:
                await user.step_once()

        await asyncio.gather(*(loop(u) for u in users))
    return tally


def drive(url: str, experiment: str, clients: int, seconds: float, seed: int) -> dict[str, Any]:
    """One client process: ``clients`` users for ``seconds``; its tally as plain data."""
    tally = asyncio.run(_drive(url, experiment, clients, seconds, seed))
    return tally.__dict__


def load(url: str, experiment: str, clients: int, seconds: float) -> tuple[Tally, float]:
    """``clients`` users over two processes; the merged tally and the wall time."""
    split = [clients - clients // 2, clients // 2]
    started = time.monotonic()
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(drive, url, experiment, n, seconds, seed) for seed, n in enumerate(split)
        ]
        parts = [f.result() for f in futures]
    wall = time.monotonic() - started
    total = Tally()
    for part in parts:
        for op, values in part["latencies"].items():
            total.latencies.setdefault(op, []).extend(values)
        for name in ("calls", "shed", "shed_without_retry_after", "dropped"):
            setattr(total, name, getattr(total, name) + part[name])
        total.failures += part["failures"]
        total.acknowledged.update(part["acknowledged"])
    return total, wall


# -- checks ---------------------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def record(result: Result, tally: Tally, seconds: float) -> None:
    answered = sum(len(v) for v in tally.latencies.values())
    result.figures["calls answered"] = answered
    result.figures["calls/s"] = round(answered / seconds, 1)
    result.figures["shed (503/429, retried)"] = tally.shed
    for op in MIX:
        values = tally.latencies.get(op, [])
        if values:
            p50, p99 = _percentile(values, 0.5) * 1000, _percentile(values, 0.99) * 1000
            result.figures[f"{op} p50/p99 ms"] = f"{p50:.1f} / {p99:.1f}"
    result.check(tally.dropped == 0, f"{tally.dropped} dropped connections")
    result.check(
        tally.shed_without_retry_after == 0,
        f"{tally.shed_without_retry_after} shed answers without Retry-After",
    )
    for failure in tally.failures[:10]:
        result.failures.append(failure)
    if len(tally.failures) > 10:
        result.failures.append(f"... and {len(tally.failures) - 10} more failures")


_COUNTS = """
SELECT r.run_uuid,
    (SELECT COUNT(*) FROM metrics m WHERE m.run_id = r.id),
    (SELECT COALESCE(SUM(l.count), 0) FROM latest_metrics l WHERE l.run_id = r.id),
    (SELECT COALESCE(SUM(b.count), 0) FROM metric_buckets b WHERE b.run_id = r.id)
FROM runs r
"""


def check_stored_once(result: Result, cursor: Any, acknowledged: dict[str, int]) -> None:
    """Each acknowledged point stored once, and counted once in the per-key summaries."""
    cursor.execute(_COUNTS)
    stored = {row[0]: tuple(int(x) for x in row[1:]) for row in cursor.fetchall()}
    bad = [
        f"run {run}: {n} points acknowledged, stored/latest/spans {stored.get(run)}"
        for run, n in acknowledged.items()
        if stored.get(run) != (n, n, n)
    ]
    result.figures["points acknowledged"] = sum(acknowledged.values())
    result.check(not bad, f"points lost, doubled or miscounted: {'; '.join(bad[:5])}")


# -- phases ---------------------------------------------------------------------------------------
@contextmanager
def postgres_database() -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL server, dropped afterwards."""
    import psycopg

    name = f"torture_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _experiment(url: str, name: str) -> str:
    import urllib.request

    request = urllib.request.Request(
        f"{url}{API}/experiments/create",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        return str(json.loads(r.read())["experiment_id"])


def phase(
    name: str, store_uri: str, root: Path, workers: int, clients: int, seconds: float,
    extra_args: tuple[str, ...] = (), traza_threads: int = 0,
) -> tuple[Result, Tally]:  # fmt: skip
    result = Result(name, f"{clients} clients, {seconds:g} s, {workers} worker(s)")
    artifacts = root / f"{name}-artifacts"
    with Server(store_uri, artifacts, workers=workers, extra_args=extra_args) as server:
        experiment = _experiment(server.url, f"load-{name}")
        beside: list[tuple[Result, dict[str, int]]] = []
        thread = None
        if traza_threads:
            thread = threading.Thread(
                target=lambda: beside.append(
                    traza_clients(server.url, experiment, traza_threads, seconds)
                )
            )
            thread.start()
        tally, wall = load(server.url, experiment, clients, seconds)
        if thread is not None:
            thread.join()
            part, acknowledged = beside[0]
            result.merge("traza client", part)
            tally.acknowledged.update(acknowledged)
        record(result, tally, wall)
        # One worker re-raises the SIGTERM after its graceful shutdown (uvicorn's way): -15.
        status = server.stop()
        result.check(status in (0, -15), f"the server exited with {status} on SIGTERM")
    return result, tally


def traza_clients(
    url: str, experiment: str, threads: int, seconds: float
) -> tuple[Result, dict[str, int]]:
    """Traza's own client (``HttpClient``: retries honour Retry-After) logging from threads;
    the points each of its runs had acknowledged."""
    from traza.config import HttpSettings
    from traza.entities import Metric
    from traza.http import HttpClient
    from traza.store.rest import RestStore

    result = Result("traza client", f"{threads} threads")
    store = RestStore(url)
    store.http = HttpClient(url, HttpSettings(max_retries=10, backoff_factor=0.5))
    errors: list[str] = []
    counts: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    def work(i: int) -> None:
        run_id = store.create_run(experiment, "torture", int(time.time() * 1000), [], f"t{i}")
        run_id = run_id.info.run_id
        step = 0
        while time.monotonic() < deadline:
            now = int(time.time() * 1000)
            try:
                store.log_batch(run_id, [Metric("x", float(step), now, step)])
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
                return
            step += 1
        counts[run_id] = step

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    result.figures["batches"] = sum(counts.values())
    result.check(not errors, f"Traza's client gave up: {errors[:3]}")
    return result, counts


def run(scale: str) -> Result:
    s = SCALES[scale]
    result = Result(
        "server_load",
        f"{s.clients} clients x {s.seconds:g} s on PostgreSQL (4 workers) and SQLite (1 worker); "
        f"overload: {s.overload_clients} clients x {s.overload_seconds:g} s on 2 slots",
    )
    import psycopg

    with scratch("server-load") as root:
        with postgres_database() as url:
            part, tally = phase("postgresql", url, root, 4, s.clients, s.seconds)
            with psycopg.connect(url) as conn, conn.cursor() as cur:
                check_stored_once(part, cur, tally.acknowledged)
            result.merge("postgresql", part)
        db = root / "load.db"
        part, tally = phase("sqlite", f"sqlite:///{db}", root, 1, s.clients, s.seconds)
        with sqlite3.connect(db) as conn:
            check_stored_once(part, conn.cursor(), tally.acknowledged)
        result.merge("sqlite", part)
        db = root / "overload.db"
        limits = ("--max-in-flight", "2", "--max-queued", "4", "--queue-timeout", "0.1")
        part, tally = phase(
            "overload", f"sqlite:///{db}", root, 1, s.overload_clients, s.overload_seconds,
            limits, s.traza_client_threads,
        )  # fmt: skip
        part.check(tally.shed > 0, "the overloaded server shed nothing (limits not applied?)")
        with sqlite3.connect(db) as conn:
            check_stored_once(part, conn.cursor(), tally.acknowledged)
        result.merge("overload", part)
    return result
