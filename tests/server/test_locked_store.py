"""A SQLite store locked by another process: a short write answered on the server's event loop
must not hold the worker (``/health`` included) while it waits for the lock; it moves to a
thread, waits there, and lands once."""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import served_store

from traza.store.uri import open_store


def _request(url: str, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload else {}
        conn.request(method, path, payload, headers)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def test_a_write_that_finds_the_store_locked_leaves_the_worker_answering(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with served_store(open_store(f"sqlite:///{db}")) as url:
        api = "/api/2.0/mlflow"
        _, body = _request(url, "POST", f"{api}/experiments/create", {"name": "locked"})
        exp = json.loads(body)["experiment_id"]
        _, body = _request(url, "POST", f"{api}/runs/create", {"experiment_id": exp})
        run_id = json.loads(body)["run"]["info"]["run_id"]

        other = sqlite3.connect(db, isolation_level=None)  # another process's long write
        other.execute("BEGIN IMMEDIATE")
        answers: list[Any] = []
        batch = {"run_id": run_id, "metrics": [{"key": "m", "value": 1.5, "timestamp": 1,
                                                "step": 0}]}  # fmt: skip
        writer = threading.Thread(
            target=lambda: answers.append(_request(url, "POST", f"{api}/runs/log-batch", batch))
        )
        writer.start()
        try:
            time.sleep(0.3)  # the write has reached the lock
            started = time.monotonic()
            status, text = _request(url, "GET", "/health", timeout=10)
            assert (status, text) == (200, b"OK")
            assert time.monotonic() - started < 2  # not held until the lock is released
            assert writer.is_alive() and answers == []  # still waiting for the lock
        finally:
            other.execute("COMMIT")
            other.close()
        writer.join(timeout=30)
        assert answers and answers[0][0] == 200, answers
        _, body = _request(url, "GET", f"{api}/metrics/get-history?run_id={run_id}&metric_key=m")
        assert [m["value"] for m in json.loads(body)["metrics"]] == [1.5]
