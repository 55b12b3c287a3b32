"""Bad requests over raw HTTP: every one answers MLflow's error JSON with a 4xx status.

Never a 500, never a file outside the artifacts destination served or written, and nothing
written to the store by a request that failed. Requests go through ``http.client`` so paths
reach the server exactly as written (no client-side normalisation of ``..``).
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import postgres_schema
from traza.entities import ViewType
from traza.server.routes import Route, all_routes
from traza.store.base import Store

from .live import Live, live_server

API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts"
SECRET = b"SECRET CONTENTS OUTSIDE THE DESTINATION"


@dataclass(frozen=True)
class Served:
    live: Live
    #: A folder beside the artifacts destination, holding ``secret.txt``.
    outside: Path
    experiment_id: str
    run_id: str
    model_id: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    with ExitStack() as stack:
        if request.param == "postgresql":
            uri = stack.enter_context(postgres_schema())
        else:
            uri = f"sqlite:///{root / 'tracking.db'}"
        live = stack.enter_context(live_server(uri, root))
        (live.artifacts / "inside.txt").write_text("inside")
        # Links inside the destination that lead out of it.
        (live.artifacts / "link").symlink_to(outside, target_is_directory=True)
        (live.artifacts / "link_file").symlink_to(outside / "secret.txt")
        experiment_id = live.store.create_experiment("seeded")
        run_id = live.store.create_run(experiment_id, "alice", 1, [], "seeded-run").info.run_id
        model_id = live.store.create_logged_model(experiment_id, name="seeded-model").model_id
        yield Served(live, outside, experiment_id, run_id, model_id)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request with ``path`` sent byte for byte as given; a body is JSON unless typed."""
    host = urllib.parse.urlparse(url).netloc
    conn = http.client.HTTPConnection(host, timeout=20)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        typed = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=typed | (headers or {}))
        response = conn.getresponse()
        return Reply(response.status, response.read(), response.getheader("content-type", ""))
    finally:
        conn.close()


def assert_error(reply: Reply, code: str | None = None, status: int | None = None) -> str:
    """``reply`` is MLflow's error JSON with a 4xx status; returns its message."""
    assert 400 <= reply.status < 500, f"expected a 4xx answer, got {reply.status}: {reply.body!r}"
    if status is not None:
        assert reply.status == status, reply.body
    assert reply.content_type.startswith("application/json"), reply.content_type
    data = reply.json()
    assert set(data) == {"error_code", "message"}, data
    assert isinstance(data["message"], str) and data["message"]
    if code is not None:
        assert data["error_code"] == code, data
    return str(data["message"])


def snapshot(store: Store) -> list[Any]:
    """Everything the store holds, to compare before and after a failed request."""
    experiments = store.search_experiments(ViewType.ALL, 50000)
    ids = [e.experiment_id for e in experiments]
    runs = store.search_runs(ids, None, ViewType.ALL, 50000, None, None)
    models = store.search_logged_models(experiment_ids=ids, max_results=1000)
    return [
        sorted((e.to_dict() for e in experiments), key=str),
        sorted((r.to_dict() for r in runs), key=str),
        sorted((m.to_dict() for m in models), key=str),
    ]


def files_beside(destination: Path) -> dict[str, bytes | None]:
    """The files next to the artifacts destination (the database's aside), with contents."""
    root = destination.parent
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
        for p in root.rglob("*")
        if destination not in (p, *p.parents) and not p.name.startswith("tracking.db")
    }


@pytest.fixture
def unchanged(served: Served) -> Iterator[None]:
    """The test's requests change nothing: not the store, not the files beside the destination."""
    before = snapshot(served.live.store)
    beside = files_beside(served.live.artifacts)
    yield
    assert snapshot(served.live.store) == before, "a failed request wrote to the store"
    assert files_beside(served.live.artifacts) == beside, "a request touched files outside"


# -- bodies ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"name": "x",}',
        b"[1, 2]",
        b'["name", "x"]',
        b"42",
        b"null",
        b'"a bare string"',
        b'{"name": NaN}',
        b"\xff\xfe\x00",
        b"name=x&tags=y",
        b"[" * 5000 + b"]" * 5000,
    ],
    ids=[
        "truncated",
        "trailing-comma",
        "array",
        "array-of-strings",
        "number",
        "null",
        "string",
        "nan-literal",
        "not-utf8",
        "form-encoded",
        "deeply-nested",
    ],
)
def test_malformed_json(served: Served, unchanged: None, body: bytes) -> None:
    reply = call(
        served.live.url,
        "POST",
        f"{API}/experiments/create",
        body,
        {"Content-Type": "application/json"},
    )
    assert_error(reply, "BAD_REQUEST")


def _required_cases() -> list[tuple[str, str, dict[str, Any], str]]:
    r, e, m = "{run}", "{experiment}", "{model}"
    return [
        ("POST", "/experiments/create", {}, "name"),
        ("GET", "/experiments/get", {}, "experiment_id"),
        ("GET", "/experiments/get-by-name", {}, "experiment_name"),
        ("POST", "/experiments/update", {"new_name": "x"}, "experiment_id"),
        ("POST", "/experiments/delete", {}, "experiment_id"),
        ("POST", "/experiments/restore", {}, "experiment_id"),
        ("POST", "/experiments/set-experiment-tag", {"experiment_id": e, "value": "v"}, "key"),
        ("POST", "/experiments/set-experiment-tag", {"experiment_id": e, "key": "k"}, "value"),
        ("POST", "/experiments/delete-experiment-tag", {"experiment_id": e}, "key"),
        ("GET", "/runs/get", {}, "run_id"),
        ("POST", "/runs/update", {"status": "FINISHED"}, "run_id"),
        ("POST", "/runs/delete", {}, "run_id"),
        ("POST", "/runs/restore", {}, "run_id"),
        ("POST", "/runs/log-metric", {"run_id": r, "key": "m", "timestamp": 1}, "value"),
        ("POST", "/runs/log-metric", {"run_id": r, "value": 1.0, "timestamp": 1}, "key"),
        ("POST", "/runs/log-metric", {"run_id": r, "key": "m", "value": 1.0}, "timestamp"),
        ("POST", "/runs/log-metric", {"key": "m", "value": 1.0, "timestamp": 1}, "run_id"),
        ("POST", "/runs/log-parameter", {"run_id": r, "key": "k"}, "value"),
        ("POST", "/runs/log-parameter", {"run_id": r, "value": "v"}, "key"),
        ("POST", "/runs/set-tag", {"run_id": r, "value": "v"}, "key"),
        ("POST", "/runs/delete-tag", {"run_id": r}, "key"),
        ("POST", "/runs/log-batch", {"params": [{"key": "k", "value": "v"}]}, "run_id"),
        ("POST", "/runs/log-batch", {"run_id": r, "metrics": [{"key": "m", "value": 1}]}, "time"),
        ("POST", "/runs/log-model", {"run_id": r}, "model_json"),
        ("POST", "/runs/log-inputs", {"datasets": []}, "run_id"),
        ("POST", "/runs/outputs", {"models": [{"model_id": m}]}, "run_id"),
        ("GET", "/metrics/get-history", {"run_id": r}, "metric_key"),
        ("GET", "/metrics/get-history-bulk-interval", {"metric_key": "m"}, "run_ids"),
        ("GET", "/artifacts/list", {"path": "x"}, "run_id"),
        ("POST", "/logged-models", {"name": "m"}, "experiment_id"),
        ("PATCH", "/logged-models/{model}", {}, "status"),
    ]


def _fill(served: Served, value: Any) -> Any:
    """``value`` with the placeholders {run}, {experiment} and {model} filled in."""
    if isinstance(value, str):
        ids = {"run": served.run_id, "experiment": served.experiment_id, "model": served.model_id}
        for name, id_ in ids.items():
            value = value.replace(f"{{{name}}}", id_)
        return value
    if isinstance(value, list):
        return [_fill(served, v) for v in value]
    if isinstance(value, dict):
        return {k: _fill(served, v) for k, v in value.items()}
    return value


def _request(served: Served, method: str, endpoint: str, fields: dict[str, Any]) -> Reply:
    """Send ``fields`` as MLflow does: in the query string for GET, else as a JSON body."""
    path = API + _fill(served, endpoint)
    filled = _fill(served, fields)
    if method == "GET":
        query = urllib.parse.urlencode(filled, doseq=True)
        return call(served.live.url, method, f"{path}?{query}" if query else path)
    return call(served.live.url, method, path, filled)


@pytest.mark.parametrize(
    ("method", "endpoint", "fields", "field"),
    _required_cases(),
    ids=[f"{c[1]}-without-{c[3]}" for c in _required_cases()],
)
def test_missing_required_field(
    served: Served, unchanged: None, method: str, endpoint: str, fields: dict[str, Any], field: str
) -> None:
    message = assert_error(_request(served, method, endpoint, fields), "INVALID_PARAMETER_VALUE")
    assert field in message


def _wrong_type_cases() -> list[tuple[str, str, dict[str, Any], str]]:
    r, e, m = "{run}", "{experiment}", "{model}"
    metric = {"key": "m", "timestamp": 1, "step": 0}
    history = {"run_id": r, "metric_key": "m"}
    return [
        ("POST", "/experiments/create", {"name": 5}, "name"),
        ("POST", "/experiments/create", {"name": "t", "tags": "a=b"}, "tags"),
        ("POST", "/experiments/create", {"name": "t", "tags": [{"key": "k", "value": 3}]}, "tags"),
        ("POST", "/experiments/search", {"max_results": "abc"}, "max_results"),
        ("GET", "/experiments/search", {"max_results": "abc"}, "max_results"),
        ("POST", "/experiments/search", {"max_results": True}, "max_results"),
        ("POST", "/experiments/search", {"view_type": "SOME"}, "view_type"),
        ("POST", "/experiments/search", {"filter": 5}, "filter"),
        ("POST", "/experiments/update", {"experiment_id": e, "new_name": 5}, "new_name"),
        ("GET", "/experiments/get", {"experiment_id": "abc"}, "abc"),
        ("POST", "/runs/search", {"experiment_ids": e}, "experiment_ids"),
        ("POST", "/runs/search", {"experiment_ids": [0]}, "experiment_ids"),
        ("POST", "/runs/search", {"experiment_ids": {"id": e}}, "experiment_ids"),
        ("POST", "/runs/search", {"experiment_ids": [e], "max_results": "abc"}, "max_results"),
        ("POST", "/runs/search", {"experiment_ids": [e], "max_results": 2**63}, "max_results"),
        ("POST", "/runs/search", {"experiment_ids": [e], "order_by": "x"}, "order_by"),
        ("POST", "/runs/search", {"experiment_ids": [e], "run_view_type": "NOPE"}, "ACTIVE_ONLY"),
        ("POST", "/runs/search", {"experiment_ids": [e], "page_token": "nope"}, "token"),
        ("POST", "/runs/search", {"experiment_ids": [e], "filter": "metrics.m >>> 1"}, "filter"),
        ("POST", "/runs/create", {"experiment_id": e, "start_time": "yesterday"}, "start_time"),
        # Beyond int64: protobuf refuses it; the database must not see it.
        ("POST", "/runs/create", {"experiment_id": e, "start_time": 2**63}, "start_time"),
        ("POST", "/runs/create", {"experiment_id": e, "start_time": 2**64 - 1}, "start_time"),
        ("POST", "/runs/create", {"experiment_id": e, "tags": {"k": "v"}}, "tags"),
        ("POST", "/runs/create", {"experiment_id": "abc"}, "abc"),
        ("POST", "/runs/update", {"run_id": r, "status": "DONE"}, "status"),
        ("POST", "/runs/update", {"run_id": r, "end_time": [1]}, "end_time"),
        ("POST", "/runs/log-metric", {"run_id": r, **metric, "value": {"a": 1}}, "value"),
        ("POST", "/runs/log-metric", {"run_id": r, **metric, "value": "high"}, "value"),
        ("POST", "/runs/log-metric", {"run_id": r, **metric, "value": 1, "step": "x"}, "step"),
        ("POST", "/runs/log-metric", {"run_id": r, **metric, "value": 1, "step": 2**64}, "step"),
        ("POST", "/runs/log-batch", {"run_id": r, "metrics": {"key": "m"}}, "metrics"),
        ("POST", "/runs/log-batch", {"run_id": r, "metrics": [1, 2]}, "metrics"),
        (
            "POST",
            "/runs/log-batch",
            {"run_id": r, "metrics": [{**metric, "value": {"a": 1}}]},
            "metrics[0].value",
        ),
        ("POST", "/runs/log-batch", {"run_id": r, "params": [{"key": "k", "value": 1}]}, "params"),
        ("POST", "/runs/log-batch", {"run_id": r, "tags": "t"}, "tags"),
        ("POST", "/runs/log-parameter", {"run_id": r, "key": "k", "value": 0.5}, "value"),
        ("POST", "/runs/set-tag", {"run_id": r, "key": "k", "value": ["v"]}, "value"),
        ("POST", "/runs/log-inputs", {"run_id": r, "datasets": "d"}, "datasets"),
        ("POST", "/runs/log-inputs", {"run_id": r, "datasets": [{"dataset": {}}]}, "dataset"),
        ("POST", "/runs/log-model", {"run_id": r, "model_json": "{bad"}, "model_json"),
        ("POST", "/runs/log-model", {"run_id": r, "model_json": "3"}, "model_json"),
        ("POST", "/runs/log-model", {"run_id": r, "model_json": "{}"}, "flavors"),
        ("POST", "/runs/outputs", {"run_id": r, "models": [{"model_id": m, "step": "x"}]}, "step"),
        ("GET", "/metrics/get-history", {**history, "max_results": "x"}, "max_results"),
        ("GET", "/metrics/get-history", {**history, "max_results": 0}, "max_results"),
        ("POST", "/logged-models", {"experiment_id": e, "params": "p"}, "params"),
        ("POST", "/logged-models/search", {"experiment_ids": [e], "order_by": ["x"]}, "order_by"),
        ("POST", "/logged-models/search", {"experiment_ids": [e], "filter": "a >> 1"}, "filter"),
        ("PATCH", "/logged-models/{model}", {"status": "DONE"}, "status"),
    ]


@pytest.mark.parametrize(
    ("method", "endpoint", "fields", "mentioned"),
    _wrong_type_cases(),
    ids=[f"{c[1]}-{'-'.join(map(str, c[2]))}-{i}" for i, c in enumerate(_wrong_type_cases())],
)
def test_wrong_types(
    served: Served,
    unchanged: None,
    method: str,
    endpoint: str,
    fields: dict[str, Any],
    mentioned: str,
) -> None:
    message = assert_error(_request(served, method, endpoint, fields), "INVALID_PARAMETER_VALUE")
    assert mentioned in message


def test_rejected_batch_writes_nothing(served: Served, unchanged: None) -> None:
    good = {"key": "good", "value": 1.0, "timestamp": 1, "step": 0}
    cases = [
        {"metrics": [good], "params": [{"key": "bad/../name", "value": "v"}]},
        {"metrics": [good], "tags": [{"key": "t", "value": "x" * 9000}]},
        {"metrics": [good] * 1001},
        {"params": [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}]},
    ]
    for body in cases:
        reply = call(
            served.live.url, "POST", f"{API}/runs/log-batch", {"run_id": served.run_id, **body}
        )
        assert_error(reply, "INVALID_PARAMETER_VALUE")


def test_every_json_route_survives_junk(served: Served) -> None:
    """Every JSON route, given nothing and then every field in a wrong shape: never a 500.

    The wrong shapes must all be refused (a 4xx) without writing anything.
    """
    names = [
        "run_id", "run_uuid", "experiment_id", "experiment_ids", "name", "key", "value",
        "metrics", "params", "tags", "max_results", "page_token", "order_by", "filter", "status",
        "end_time", "start_time", "model_json", "datasets", "models", "path", "metric_key",
        "run_ids", "view_type", "run_view_type", "new_name", "upload_id", "num_parts", "parts",
        "source_run_id", "experiment_name", "artifact_directory_path", "model_type",
        "version", "alias", "source", "stage", "stages", "description", "run_link",
        "archive_existing_versions", "model_id", "deployment_job_id",
    ]  # fmt: skip
    shapes: list[Any] = [{"x": [1]}, [None], [[]], {"a": 1}, 1.5, [], {}, -1, True, "\x00"]
    junk = {name: shapes[i % len(shapes)] for i, name in enumerate(names)}

    def send(route: Route, body: dict[str, Any]) -> Reply:
        path = route.path.replace("{model_id}", served.model_id).replace("{tag_key}", "k")
        path = route.prefixes[0] + path.replace("{path:path}", "junk/file.txt")
        if route.method == "GET":
            query = urllib.parse.urlencode({k: json.dumps(v) for k, v in body.items()})
            return call(served.live.url, "GET", f"{path}?{query}")
        return call(served.live.url, route.method, path, body)

    def not_implemented(reply: Reply) -> bool:
        # Multipart uploads or presigned downloads on a local destination: NOT_IMPLEMENTED
        # (501), as MLflow's server answers them.
        return reply.status == 501 and reply.json()["error_code"] == "NOT_IMPLEMENTED"

    routes = [r for r in all_routes() if not r.raw]
    failures = []
    for route in routes:
        reply = send(route, {})
        if reply.status >= 500 and not not_implemented(reply):
            failures.append((route.method, route.path, "{}", reply.status, reply.body[:200]))
    before = snapshot(served.live.store)
    for route in routes:
        reply = send(route, junk)
        if not_implemented(reply):
            continue
        if route.method == "GET" and reply.status == 200:
            continue  # a query string holds only strings: the junk may be a valid value
        if not 400 <= reply.status < 500 or "error_code" not in reply.json():
            failures.append((route.method, route.path, "junk", reply.status, reply.body[:200]))
    assert failures == []
    assert snapshot(served.live.store) == before


# -- endpoints and methods -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}/nope"),
        ("POST", f"{API}/runs/nope"),
        ("GET", "/api/9.0/mlflow/runs/get"),
        ("GET", "/api/2.0/mlflow"),
        ("POST", "/nope"),
        ("GET", f"{API}/runs/get/extra"),
        ("GET", f"{API}/logged-models/m-1/nope"),
    ],
)
def test_unknown_endpoint(served: Served, unchanged: None, method: str, path: str) -> None:
    assert_error(call(served.live.url, method, path, b"{}"), "ENDPOINT_NOT_FOUND", 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", f"{API}/runs/get"),
        ("GET", f"{API}/runs/create"),
        ("PUT", f"{API}/experiments/create"),
        ("GET", f"{API}/runs/log-batch"),
        ("POST", f"{API}/logged-models/m-1"),
        ("POST", f"{PROXY}/artifacts/inside.txt"),
    ],
)
def test_wrong_method(served: Served, unchanged: None, method: str, path: str) -> None:
    assert_error(call(served.live.url, method, path, b"{}"), status=405)


def test_oversized_body(tmp_path: Path) -> None:
    with live_server(f"sqlite:///{tmp_path / 'small.db'}", tmp_path, max_json_bytes=1024) as live:
        big = {"name": "too-big", "tags": [{"key": "k", "value": "x" * 2048}]}
        assert_error(call(live.url, "POST", f"{API}/experiments/create", big), "BAD_REQUEST")

        # Without a Content-Length the limit holds too, counted as the body streams in.
        host = urllib.parse.urlparse(live.url).netloc
        conn = http.client.HTTPConnection(host, timeout=20)
        chunks = iter(
            [b'{"name": "too-big-chunked", "tags": [', b'{"key": "k", "value": "x"},' * 200]
        )
        typed = {"Content-Type": "application/json"}
        path = f"{API}/experiments/create"
        conn.request("POST", path, body=chunks, headers=typed, encode_chunked=True)
        response = conn.getresponse()
        chunked = Reply(response.status, response.read(), response.getheader("content-type", ""))
        conn.close()
        assert_error(chunked, "BAD_REQUEST")

        # A lying Content-Length larger than the limit is refused before reading.
        lying = call(
            live.url, "POST", f"{API}/experiments/create", b"{}", {"Content-Length": "99999999"}
        )
        assert_error(lying, "BAD_REQUEST")
        assert [e.name for e in live.store.search_experiments()] == ["Default"]

        # Small JSON bodies still work, and artifact uploads are not JSON: no limit.
        ok = call(live.url, "POST", f"{API}/experiments/create", {"name": "small"})
        assert ok.status == 200
        upload = call(live.url, "PUT", f"{PROXY}/artifacts/big.bin", os.urandom(64 * 1024))
        assert upload.status == 200
        assert (live.artifacts / "big.bin").stat().st_size == 64 * 1024


# -- artifact paths --------------------------------------------------------------------------
#: Artifact paths (as sent on the wire) that lead to ``outside/secret.txt``. ``{secret}`` is that
#: file's absolute path: absolute cases name it rather than /etc/passwd, so that a regression
#: cannot overwrite or delete a real system file.
ESCAPES = [
    "../outside/secret.txt",
    "a/../../outside/secret.txt",
    "./../outside/secret.txt",
    "%2e%2e/outside/secret.txt",
    "%2E%2E%2Foutside%2Fsecret.txt",
    "..%2Foutside%2Fsecret.txt",
    "a/%2e%2e/%2e%2e/outside/secret.txt",
    "/{secret}",  # a doubled slash, then the absolute path
    "%2F{secret_quoted}",
    "C:/Windows/win.ini",
    "a%5C..%5C..%5Coutside%5Csecret.txt",
    "secret.txt%00.png",
    "link/secret.txt",
    "./link/./secret.txt",
    "link/../../outside/secret.txt",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_artifact_path_cannot_leave_the_destination(
    served: Served, unchanged: None, template: str
) -> None:
    secret = str(served.outside / "secret.txt").lstrip("/")
    path = template.format(secret=secret, secret_quoted=urllib.parse.quote(secret, safe=""))
    url = served.live.url
    got = call(url, "GET", f"{PROXY}/artifacts/{path}")
    assert SECRET not in got.body
    assert_error(got)

    put = call(url, "PUT", f"{PROXY}/artifacts/{path}", b"EVIL", {"Content-Type": "text/plain"})
    assert_error(put)
    assert_error(call(url, "DELETE", f"{PROXY}/artifacts/{path}"))
    folder = path.rpartition("/")[0] or path
    listed = call(url, "GET", f"{PROXY}/artifacts?path={folder}")
    if listed.status == 200:  # only a harmless folder inside, e.g. "a" or "."
        assert "secret" not in listed.body.decode()
    else:
        assert_error(listed)
    via_run = call(url, "GET", f"{API}/artifacts/list?run_id={served.run_id}&path={folder}")
    if via_run.status == 200:
        assert "secret" not in via_run.body.decode()
    else:
        assert_error(via_run)


@pytest.mark.parametrize("path", ["//etc/passwd", "%2Fetc%2Fpasswd", "..%2F..%2F..%2Fetc%2Fpasswd"])
def test_system_files_are_not_served(served: Served, unchanged: None, path: str) -> None:
    got = call(served.live.url, "GET", f"{PROXY}/artifacts/{path}")
    assert b"root:" not in got.body
    assert_error(got, "INVALID_PARAMETER_VALUE")


def test_symlinked_folder_is_not_served_or_written(served: Served, unchanged: None) -> None:
    url = served.live.url
    assert_error(call(url, "GET", f"{PROXY}/artifacts?path=link"))
    for path in ("link/evil.txt", "link/deeper/evil.txt", "link/secret.txt"):
        assert_error(call(url, "PUT", f"{PROXY}/artifacts/{path}", b"EVIL"))
    assert_error(call(url, "DELETE", f"{PROXY}/artifacts/link/secret.txt"))
    assert_error(call(url, "POST", f"{PROXY}/mpu/create/link/..", {"path": "x", "num_parts": 1}))
    assert (served.outside / "secret.txt").read_bytes() == SECRET
    assert sorted(p.name for p in served.outside.iterdir()) == ["secret.txt"]


def test_symlinked_file_is_not_served_or_written(served: Served, unchanged: None) -> None:
    url = served.live.url
    link = served.live.artifacts / "link_file"
    got = call(url, "GET", f"{PROXY}/artifacts/link_file")
    assert SECRET not in got.body
    assert_error(got)
    assert_error(call(url, "GET", f"{PROXY}/artifacts?path=link_file"))
    try:
        # Writing or deleting may act on the link itself, inside the destination; never on
        # the file it points to (``unchanged`` checks the files outside).
        put = call(url, "PUT", f"{PROXY}/artifacts/link_file", b"EVIL")
        if put.status != 200:
            assert_error(put)
        deleted = call(url, "DELETE", f"{PROXY}/artifacts/link_file")
        if deleted.status != 200:
            assert_error(deleted)
    finally:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(served.outside / "secret.txt")


def test_artifact_names_with_url_characters_round_trip(served: Served) -> None:
    """'%', '=', '+', spaces and unicode arrive percent-encoded; the file keeps its real name.

    ('?' and '#' are refused in artifact paths: see test_path_safety.py.)
    """
    name = "100% sure = 1+1 ü.txt"
    quoted = urllib.parse.quote(f"odd-names/{name}")
    url = served.live.url
    assert call(url, "PUT", f"{PROXY}/artifacts/{quoted}", b"odd").status == 200
    assert (served.live.artifacts / "odd-names" / name).read_bytes() == b"odd"
    listed = call(url, "GET", f"{PROXY}/artifacts?path=odd-names").json()
    assert listed == {"files": [{"path": name, "is_dir": False, "file_size": 3}]}
    assert call(url, "GET", f"{PROXY}/artifacts/{quoted}").body == b"odd"


# -- artifact locations a client stored ------------------------------------------------------
def test_server_does_not_connect_to_hosts_a_client_names(served: Served) -> None:
    """An experiment may name any artifact location; the server fetches from no host it names.

    (Otherwise a client makes the server reach internal hosts, and each request holds a worker
    for minutes of retries.)
    """
    store = served.live.store
    locations = (
        "http://127.0.0.1:9/api/2.0/mlflow-artifacts/artifacts/x",
        "https://169.254.169.254/api/2.0/mlflow-artifacts/artifacts",
    )
    for location in locations:
        experiment_id = store.create_experiment(f"at-{location}", artifact_location=location)
        run_id = store.create_run(experiment_id, "alice", 1, [], None).info.run_id
        model_id = store.create_logged_model(experiment_id, name="remote").model_id
        for path in (
            f"{API}/artifacts/list?run_id={run_id}",
            f"{API}/logged-models/{model_id}/artifacts/directories",
        ):
            started = time.monotonic()
            reply = call(served.live.url, "GET", path)
            assert time.monotonic() - started < 5, f"the server tried to reach {location}"
            assert_error(reply, "INVALID_PARAMETER_VALUE")


def test_runs_uri_is_not_an_artifact_location(served: Served) -> None:
    name = f"runs-uri-location-{time.monotonic_ns()}"
    reply = call(
        served.live.url,
        "POST",
        f"{API}/experiments/create",
        {"name": name, "artifact_location": "runs:/0123456789abcdef/x"},
    )
    assert reply.status != 200, (
        "A runs:/ URI was accepted as an experiment's artifact location (MLflow refuses it with "
        "INVALID_PARAMETER_VALUE: 'Artifact location cannot be a runs:/ URI'). Fix outside the "
        "server: validate the location in the store's create_experiment (traza.validation)."
    )
    assert_error(reply, "INVALID_PARAMETER_VALUE")
