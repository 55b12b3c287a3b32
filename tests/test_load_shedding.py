"""A full server worker sheds load with 503 and Retry-After; clients retry; retries store once.

A request is held in flight for real: an artifact upload whose chunked body the test has not
finished sending keeps its slot until the last chunk goes out.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from traza.config import HttpSettings
from traza.entities import Metric
from traza.http import HttpClient
from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer
from traza.server.shedding import LoadShedder
from traza.store.sql.store import SqlStore
from traza.store.uri import open_store

SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


@contextmanager
def shedding_server(tmp_path: Path, **limits: Any) -> Iterator[tuple[str, LoadShedder]]:
    settings = ServerSettings(
        backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
        default_artifact_root="mlflow-artifacts:/",
        artifacts_destination=str(tmp_path / "mlartifacts"),
        **limits,
    )
    app = create_app(settings)
    assert isinstance(app, LoadShedder)
    with BackgroundServer(app) as server:
        yield server.url, app


class HeldUpload:
    """A PUT whose body is still coming: it occupies one slot until :meth:`finish`."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.conn.putrequest("PUT", "/api/2.0/mlflow-artifacts/artifacts/held/file.bin")
        self.conn.putheader("Transfer-Encoding", "chunked")
        self.conn.endheaders()
        self.conn.send(b"5\r\nhello\r\n")

    def finish(self) -> int:
        self.conn.send(b"0\r\n\r\n")
        status = self.conn.getresponse().status
        self.conn.close()
        return status


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def _get(url: str) -> tuple[int, Any, bytes]:
    """Status, headers (looked up case-insensitively) and body."""
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_a_full_worker_answers_503_with_retry_after_and_health_still_answers(
    tmp_path: Path,
) -> None:
    with shedding_server(tmp_path, max_in_flight=1, max_queued=0, retry_after=3) as (url, app):
        held = HeldUpload(url)
        _until(lambda: app.in_flight == 1, "the upload holds the slot")
        status, headers, body = _get(url + SEARCH)
        assert status == 503
        assert headers["Retry-After"] == "3"
        error = json.loads(body)
        assert error["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "busy" in error["message"] and "Retry after 3 s" in error["message"]
        assert app.shed == 1
        assert _get(url + "/health")[0] == 200  # a load balancer still sees the worker alive
        assert held.finish() == 200
        assert app.in_flight == 0
        assert _get(url + SEARCH)[0] == 200
        assert (tmp_path / "mlartifacts" / "held" / "file.bin").read_bytes() == b"hello"


def test_a_queued_request_gets_the_slot_when_it_frees(tmp_path: Path) -> None:
    limits = {"max_in_flight": 1, "max_queued": 1, "queue_timeout": 60.0}
    with shedding_server(tmp_path, **limits) as (url, app):
        held = HeldUpload(url)
        _until(lambda: app.in_flight == 1, "the upload holds the slot")
        answers: list[int] = []
        waiter = threading.Thread(target=lambda: answers.append(_get(url + SEARCH)[0]))
        waiter.start()
        _until(lambda: len(app.waiters) == 1, "the search queues")
        # The queue is full now: one more is refused at once.
        assert _get(url + SEARCH)[0] == 503
        assert held.finish() == 200
        waiter.join(timeout=60)
        assert answers == [200]
        assert app.in_flight == 0 and not app.waiters and app.shed == 1


def test_a_request_that_waits_longer_than_the_queue_timeout_gets_503(tmp_path: Path) -> None:
    limits = {"max_in_flight": 1, "max_queued": 5, "queue_timeout": 0.3}
    with shedding_server(tmp_path, **limits) as (url, app):
        held = HeldUpload(url)
        _until(lambda: app.in_flight == 1, "the upload holds the slot")
        started = time.monotonic()
        status, headers, _ = _get(url + SEARCH)
        assert status == 503 and headers["Retry-After"] == "1"
        assert time.monotonic() - started >= 0.3
        assert not app.waiters
        assert held.finish() == 200
        assert _get(url + SEARCH)[0] == 200


def test_trazas_client_retries_a_shed_request_until_it_is_answered(tmp_path: Path) -> None:
    with shedding_server(tmp_path, max_in_flight=1, max_queued=0) as (url, app):
        held = HeldUpload(url)
        _until(lambda: app.in_flight == 1, "the upload holds the slot")
        finished: list[int] = []
        threading.Timer(2.5, lambda: finished.append(held.finish())).start()
        client = HttpClient(url, HttpSettings(max_retries=5, backoff_factor=0.1))
        started = time.monotonic()
        response = client.request("GET", "/api/2.0/mlflow/experiments/search", fields={"x": 1})
        assert response.status == 200
        assert app.shed >= 2  # refused while the slot was held, answered once it was free
        # Each retry waited out the Retry-After (1 s) at least.
        assert time.monotonic() - started >= 2.0
        _until(lambda: finished == [200], "the held upload finishes")


def test_shedding_off_lets_every_request_in(tmp_path: Path) -> None:
    settings = ServerSettings(
        backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", max_in_flight=0
    )
    assert not isinstance(create_app(settings), LoadShedder)


def test_traza_server_reads_the_limits_from_its_options_and_environment(tmp_path: Path) -> None:
    """The real command: --max-queued from the command line, the rest from TRAZA_SERVER_*."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "TRAZA_SERVER_MAX_IN_FLIGHT": "1",
        "TRAZA_SERVER_RETRY_AFTER": "7",
    }
    command = [
        sys.executable, "-m", "traza", "server", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{tmp_path / 'db.sqlite'}",
        "--artifacts-destination", str(tmp_path / "mlartifacts"), "--max-queued", "0",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return _get(url + "/health")[0] == 200
            except OSError:
                return False

        _until(up, "the server answers")
        held = HeldUpload(url)
        statuses: list[tuple[int, str | None]] = []

        def refused() -> bool:
            status, headers, _ = _get(url + SEARCH)
            statuses.append((status, headers.get("Retry-After")))
            return status == 503

        _until(refused, "a request is refused while the upload holds the only slot")
        assert statuses[-1] == (503, "7")
        assert held.finish() == 200
        assert _get(url + SEARCH)[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


# -- a retried log_batch stores nothing twice --------------------------------------------------
def _summaries(store: SqlStore) -> dict[str, tuple[int, int]]:
    """Per key: the count latest_metrics keeps and the sum of the span counts."""
    with store.db.read() as cur:
        cur.execute("SELECT key, count FROM latest_metrics")
        latest = dict(cur.fetchall())
        cur.execute("SELECT key, SUM(count) FROM metric_buckets GROUP BY key")
        spans = dict(cur.fetchall())
    return {k: (int(latest[k]), int(spans.get(k, 0))) for k in latest}


def _points(n: int, key: str = "loss", offset: int = 0) -> list[Metric]:
    return [Metric(key, float(i % 17), 1_000 + i, i) for i in range(offset, offset + n)]


def test_a_batch_sent_twice_stores_and_counts_each_point_once(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run("0", "u", 0, [], None).info.run_id
    batch = _points(600) + _points(3, key="acc")
    sql_store.log_batch(run_id, metrics=batch)
    sql_store.log_batch(run_id, metrics=batch)  # the answer was lost: the client resends it
    assert len(sql_store.get_metric_history(run_id, "loss")) == 600
    assert _summaries(sql_store) == {"loss": (600, 600), "acc": (3, 3)}
    sampled = sql_store.get_metric_history_sampled(run_id, "loss", max_points=50)
    assert sampled.total == 600


def test_a_batch_that_overlaps_stored_points_counts_only_the_new_ones(
    sql_store: SqlStore,
) -> None:
    run_id = sql_store.create_run("0", "u", 0, [], None).info.run_id
    sql_store.log_batch(run_id, metrics=_points(300))
    # Half already stored, half new, and one new point twice within the batch.
    again = _points(150, offset=150) + _points(300, offset=300) + _points(1, offset=999) * 2
    sql_store.log_batch(run_id, metrics=again)
    history = sql_store.get_metric_history(run_id, "loss")
    assert len(history) == 601
    assert _summaries(sql_store) == {"loss": (601, 601)}
    latest = sql_store.get_run(run_id).data.metrics["loss"]
    assert latest == float(999 % 17)
    sql_store.log_metric(run_id, _points(1, offset=999)[0])  # one point, already there
    assert _summaries(sql_store) == {"loss": (601, 601)}


def test_log_batch_resent_through_the_server_is_stored_once(tmp_path: Path) -> None:
    store_uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    settings = ServerSettings(backend_store_uri=store_uri)
    store = open_store(store_uri)
    assert isinstance(store, SqlStore)
    with BackgroundServer(create_app(settings, store=store)) as server:
        client = HttpClient(server.url, HttpSettings(max_retries=0))
        run = json.loads(
            client.request(
                "POST", "/api/2.0/mlflow/runs/create", json_body=b'{"experiment_id": "0"}'
            ).data
        )["run"]["info"]["run_id"]
        body = json.dumps(
            {
                "run_id": run,
                "metrics": [
                    {"key": "m", "value": i * 0.5, "timestamp": 10 + i, "step": i}
                    for i in range(100)
                ],
                "params": [{"key": "lr", "value": "0.1"}],
                "tags": [{"key": "t", "value": "v"}],
            }
        ).encode()
        for _ in range(3):
            client.request("POST", "/api/2.0/mlflow/runs/log-batch", json_body=body)
        history = json.loads(
            client.request(
                "GET",
                "/api/2.0/mlflow/metrics/get-history",
                fields={"run_id": run, "metric_key": "m"},
            ).data
        )["metrics"]
        assert len(history) == 100
        assert _summaries(store) == {"m": (100, 100)}
        data = store.get_run(run).data
        assert data.params == {"lr": "0.1"} and data.tags["t"] == "v"
