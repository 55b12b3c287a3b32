"""Many clients at once: nothing logged is lost or duplicated.

PostgreSQL is served by a real ``traza server --workers 3`` (three processes behind one port)
and written to by client processes; SQLite by one server process and client threads.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import postgres_schema, served_store
from traza.entities import Metric, Param, RunTag
from traza.exceptions import TrazaException
from traza.store.base import Store
from traza.store.rest import RestStore
from traza.store.uri import open_store

CLIENTS = 8
BATCHES = 20
POINTS = 50

# One client: a run, then BATCHES log-batch calls (params and tags in the first), through
# Traza's synchronous RestStore; prints the run id.
CLIENT_SCRIPT = """
import sys, time
from traza.entities import Metric, Param, RunTag
from traza.store.base import Store
from traza.store.rest import RestStore
url, experiment_id, client, batches, points = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
store = RestStore(url)
run = store.create_run(experiment_id, f"client{client}", 1, [], f"client-{client}")
run_id = run.info.run_id
for b in range(batches):
    steps = range(b * points, (b + 1) * points)
    metrics = [Metric("loss", float(step), 1000 + b, step) for step in steps]
    extra = (
        [Param(f"p{i}", str(client)) for i in range(5)], [RunTag("client", str(client))]
    ) if b == 0 else ((), ())
    store.log_batch(run_id, metrics, *extra)
print(run_id)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.read() == b"OK":
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer /health in {timeout} s")


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``traza server --workers 3`` on a fresh PostgreSQL schema: (server URL, store URL)."""
    with postgres_schema() as store_url:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
        command = [sys.executable, "-m", "traza", "server", "--backend-store-uri", store_url]
        command += ["--artifacts-destination", str(tmp_path / "artifacts")]
        command += ["--port", str(port), "--workers", "3"]
        process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process)
            yield url, store_url
        finally:
            process.terminate()
            process.communicate(timeout=20)


def test_postgresql_workers_lose_and_duplicate_nothing(
    postgres_server: tuple[str, str], tmp_path: Path
) -> None:
    url, store_url = postgres_server
    experiment_id = RestStore(url).create_experiment("concurrent")
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    clients = [
        subprocess.Popen(
            [sys.executable, str(script), url, experiment_id, *map(str, (c, BATCHES, POINTS))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for c in range(CLIENTS)
    ]
    run_ids = []
    for client in clients:
        out, err = client.communicate(timeout=120)
        assert client.returncode == 0, err.decode()[-2000:]
        run_ids.append(out.decode().strip())

    store = open_store(store_url)  # read back directly from the database
    try:
        runs = store.search_runs([experiment_id], max_results=100)
        assert sorted(r.info.run_id for r in runs) == sorted(run_ids)
        for run in runs:
            client = run.info.user_id.removeprefix("client")
            assert run.data.params == {f"p{i}": client for i in range(5)}
            assert run.data.tags["client"] == client
            history = store.get_metric_history(run.info.run_id, "loss")
            steps = [m.step for m in history]
            assert steps == list(range(BATCHES * POINTS))  # each point once, in order
            assert run.data.metrics["loss"] == BATCHES * POINTS - 1
    finally:
        store.close()


def test_postgresql_workers_agree_on_one_experiment_per_name(
    postgres_server: tuple[str, str],
) -> None:
    url, _ = postgres_server

    def create(_: int) -> str:
        try:
            return RestStore(url).create_experiment("same-name")
        except TrazaException as e:
            return e.error_code

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(create, range(16)))
    created = [o for o in outcomes if o != "RESOURCE_ALREADY_EXISTS"]
    assert len(created) == 1, outcomes
    assert RestStore(url).get_experiment_by_name("same-name").experiment_id == created[0]  # type: ignore[union-attr]


def test_sqlite_one_server_many_threads(tmp_path: Path) -> None:
    backend = open_store(str(tmp_path / "mlruns"))
    with served_store(backend) as url:
        experiment_id = RestStore(url).create_experiment("threads")

        def client(c: int) -> str:
            store = RestStore(url)
            run_id = store.create_run(experiment_id, f"client{c}", 1, [], None).info.run_id
            for b in range(BATCHES):
                points = [Metric("m", float(i), 1, b * POINTS + i) for i in range(POINTS)]
                params = [Param("client", str(c))] if b == 0 else []
                store.log_batch(run_id, points, params, [RunTag("batch", str(b))])
            return run_id

        with ThreadPoolExecutor(16) as pool:
            run_ids = list(pool.map(client, range(16)))
    for c, run_id in enumerate(run_ids):
        run = backend.get_run(run_id)
        assert run.data.params == {"client": str(c)}
        assert run.data.tags["batch"] == str(BATCHES - 1)
        steps = [m.step for m in backend.get_metric_history(run_id, "m")]
        assert steps == list(range(BATCHES * POINTS))


def test_postgresql_concurrent_creates_conflict_cleanly() -> None:
    """Racing inserts of one name: one wins, the rest get RESOURCE_ALREADY_EXISTS (no 500)."""
    import threading

    with postgres_schema() as url:
        stores = [open_store(url) for _ in range(8)]
        barrier = threading.Barrier(len(stores))
        outcomes: list[str] = []

        def create(store: Store) -> None:
            barrier.wait()
            try:
                outcomes.append(store.create_experiment("raced"))
            except TrazaException as e:
                outcomes.append(e.error_code)

        threads = [threading.Thread(target=create, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in stores:
            s.close()
    winners = [o for o in outcomes if o != "RESOURCE_ALREADY_EXISTS"]
    assert len(outcomes) == len(stores) and len(winners) == 1 and winners[0].isdigit(), outcomes
