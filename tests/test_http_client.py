"""How Traza's client talks HTTP: retries with backoff, timeouts, auth headers, error bodies.

The peer is a small scripted HTTP server on 127.0.0.1 that answers each request from a list and
records what it received, so the client's real sockets, retries and headers are exercised.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from traza.config import HttpSettings
from traza.exceptions import TrazaException
from traza.http import HttpClient
from traza.store.rest import RestStore

Answer = tuple[int, dict[str, str], bytes]


class Scripted:
    """Answers requests in order from ``answers`` (the last repeats); records each request."""

    def __init__(self, answers: list[Answer | Callable[[], Answer]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                scripted.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length) if length else b"",
                        "at": time.monotonic(),
                    }
                )
                index = min(len(scripted.requests), len(scripted.answers)) - 1
                answer = scripted.answers[index]
                status, headers, body = answer() if callable(answer) else answer
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[[list[Any]], Scripted]]:
    servers: list[Scripted] = []

    def make(answers: list[Any]) -> Scripted:
        servers.append(Scripted(answers))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


JSON = {"Content-Type": "application/json"}
EXPERIMENT = json.dumps(
    {"experiment": {"experiment_id": "7", "name": "e", "lifecycle_stage": "active"}}
).encode()


def _settings(**overrides: Any) -> HttpSettings:
    return HttpSettings(**({"max_retries": 3, "backoff_factor": 0.01} | overrides))


def test_transient_statuses_are_retried(scripted: Callable[[list[Any]], Scripted]) -> None:
    server = scripted([(503, {}, b"busy"), (502, {}, b""), (200, JSON, EXPERIMENT)])
    client = HttpClient(server.url, _settings())
    response = client.request("GET", "/api/2.0/mlflow/experiments/get", fields={"x": 1})
    assert json.loads(response.data)["experiment"]["name"] == "e"
    assert len(server.requests) == 3


def test_429_honours_retry_after(scripted: Callable[[list[Any]], Scripted]) -> None:
    server = scripted([(429, {"Retry-After": "1"}, b""), (200, JSON, b"{}")])
    client = HttpClient(server.url, _settings())
    client.request("POST", "/x", json_body=b"{}")
    first, second = server.requests
    assert second["at"] - first["at"] >= 0.9
    assert first["body"] == second["body"] == b"{}"  # a POST body is resent whole


def test_retries_give_up_with_a_clear_error(scripted: Callable[[list[Any]], Scripted]) -> None:
    server = scripted([(500, JSON, b'{"error_code": "INTERNAL_ERROR", "message": "boom"}')])
    client = HttpClient(server.url, _settings(max_retries=2))
    with pytest.raises(TrazaException) as e:
        client.request("GET", "/y")
    assert len(server.requests) == 3  # the first try and two retries
    assert e.value.error_code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE")


def test_client_errors_are_not_retried(scripted: Callable[[list[Any]], Scripted]) -> None:
    body = b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run with id=x not found."}'
    server = scripted([(404, JSON, body)])
    store = RestStore(server.url)
    store.http = HttpClient(server.url, _settings())
    with pytest.raises(TrazaException) as e:
        store.get_run("a" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "not found" in e.value.message
    assert len(server.requests) == 1


def test_an_unreachable_server_names_itself() -> None:
    client = HttpClient("http://127.0.0.1:9", _settings(max_retries=1))
    with pytest.raises(TrazaException) as e:
        client.request("GET", "/health")
    assert e.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert "http://127.0.0.1:9" in e.value.message


def test_a_slow_answer_times_out(scripted: Callable[[list[Any]], Scripted]) -> None:
    def slow() -> Answer:
        time.sleep(1.5)
        return 200, JSON, b"{}"

    server = scripted([slow])
    client = HttpClient(server.url, _settings(max_retries=0, timeout=0.3))
    started = time.monotonic()
    with pytest.raises(TrazaException, match="timed out"):
        client.request("GET", "/slow")
    assert time.monotonic() - started < 1.4


def test_a_non_json_error_page_is_reported(scripted: Callable[[list[Any]], Scripted]) -> None:
    server = scripted([(403, {"Content-Type": "text/html"}, b"<h1>Forbidden by proxy</h1>")])
    client = HttpClient(server.url, _settings())
    with pytest.raises(TrazaException) as e:
        client.request("GET", "/z")
    assert e.value.error_code == "PERMISSION_DENIED" and "Forbidden by proxy" in e.value.message


def test_token_auth_header(
    scripted: Callable[[list[Any]], Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted([(200, JSON, EXPERIMENT)])
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret")
    RestStore(server.url).get_experiment("7")
    assert server.requests[0]["headers"]["Authorization"] == "Bearer s3cret"


def test_basic_auth_header(
    scripted: Callable[[list[Any]], Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    server = scripted([(200, JSON, EXPERIMENT)])
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw:1")
    RestStore(server.url).get_experiment("7")
    expected = "Basic " + base64.b64encode(b"ana:pw:1").decode()
    assert server.requests[0]["headers"]["Authorization"] == expected


def test_get_fields_go_in_the_query_string(scripted: Callable[[list[Any]], Scripted]) -> None:
    server = scripted([(200, JSON, b'{"metrics": []}')])
    RestStore(server.url).get_metric_history("r" * 32, "loss/train", max_results=5)
    assert server.requests[0]["path"] == (
        f"/api/2.0/mlflow/metrics/get-history?run_id={'r' * 32}&metric_key=loss%2Ftrain"
        "&max_results=5"
    )
