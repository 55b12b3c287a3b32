"""Browser safety (issue 14, findings 3 and 4), tried as an attacker would: raw HTTP with
``http.client`` against a live server, every header chosen by the test.

A page the user visits can reach a local server through DNS rebinding (a ``Host`` of its own)
or send it simple cross-site requests (``text/plain`` and form POSTs need no preflight), and an
artifact served inline as HTML or SVG would run as a page of the server's origin.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from traza.server.browser import same_origin
from traza.server.downloads import content_disposition

from .live import Live, live_server

PAGE = b"<!doctype html><html><head><title>Traza</title></head><body>ui</body></html>"
CREATE = "/api/2.0/mlflow/experiments/create"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request with exactly these headers (``Host`` too, when given)."""
    conn = http.client.HTTPConnection(urllib.parse.urlparse(url).netloc, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        found = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, found, response.read())
    finally:
        conn.close()


def _serve(tmp_path: Path, **settings: Any) -> Any:
    ui = tmp_path / "ui"
    ui.mkdir(exist_ok=True)
    (ui / "index.html").write_bytes(PAGE)
    return live_server(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, ui_dir=str(ui), **settings)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with _serve(tmp_path_factory.mktemp("browser")) as served:
        yield served


def _names(live: Live) -> set[str]:
    return {e.name for e in live.store.search_experiments(max_results=1000)}


# -- finding 3: DNS rebinding ------------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:5000", "10.evil.example", "192.168.1.2.evil.example",
     "127.0.0.1.nip.io", "localhost.evil.example", "[::1].evil.example", "", "0x7f000001"],
)  # fmt: skip
def test_rebinding_host_is_refused(live: Live, host: str) -> None:
    reply = send(live.url, "GET", SEARCH, headers={"Host": host})
    assert reply.status == 403
    error = reply.json()
    assert error["error_code"] == "PERMISSION_DENIED"
    assert "--allowed-hosts" in error["message"]
    assert "evil" not in reply.body.decode() and "nip.io" not in reply.body.decode()
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_rebinding_write_is_refused_and_nothing_stored(live: Live) -> None:
    body = json.dumps({"name": "rebound"}).encode()
    headers = {"Host": "evil.example:5000", "Content-Type": "application/json"}
    assert send(live.url, "POST", CREATE, body, headers).status == 403
    assert "rebound" not in _names(live)


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:5000", "LOCALHOST:5000", "127.0.0.1", "127.0.0.1:8080", "[::1]",
     "[::1]:5000", "10.0.0.5", "10.0.0.5:5000", "192.168.1.2", "172.16.3.4:80", "172.31.0.1",
     "[fd12::1]:5000", "0.0.0.0:5000"],
)  # fmt: skip
def test_loopback_and_private_hosts_are_answered(live: Live, host: str) -> None:
    assert send(live.url, "GET", SEARCH, headers={"Host": host}).status == 200


@pytest.mark.parametrize("host", ["172.32.0.1", "11.0.0.1", "8.8.8.8:5000", "[2001:db8::1]"])
def test_public_addresses_need_listing(live: Live, host: str) -> None:
    assert send(live.url, "GET", SEARCH, headers={"Host": host}).status == 403


def test_health_answers_any_host(live: Live) -> None:
    """Load balancers probe with whatever Host they like (MLflow exempts these two paths)."""
    reply = send(live.url, "GET", "/health", headers={"Host": "probe.invalid"})
    assert (reply.status, reply.body) == (200, b"OK")
    assert send(live.url, "GET", "/version", headers={"Host": "probe.invalid"}).status == 200


def test_allowed_hosts_are_added_to_the_default(tmp_path: Path) -> None:
    listed = "traza.example.com, *.corp.example,api.example:8443,lb.internal"
    with _serve(tmp_path, allowed_hosts=listed) as served:
        for host, status in [
            ("traza.example.com", 200),
            ("traza.example.com:5000", 200),
            ("TRAZA.example.com.", 200),
            ("a.b.corp.example:443", 200),
            ("evilcorp.example", 403),
            ("api.example:8443", 200),
            ("api.example:9000", 403),
            ("lb.internal", 200),
            ("localhost:5000", 200),
            ("10.1.2.3", 200),
            ("evil.example", 403),
            ("traza.example.com.evil.example", 403),
        ]:
            reply = send(served.url, "GET", SEARCH, headers={"Host": host})
            assert reply.status == status, host
        health = send(served.url, "GET", "/health", headers={"Host": "lb.internal"})
        assert (health.status, health.body) == (200, b"OK")


def test_allowed_hosts_star_answers_any(tmp_path: Path) -> None:
    with _serve(tmp_path, allowed_hosts="*") as served:
        assert send(served.url, "GET", SEARCH, headers={"Host": "evil.example"}).status == 200


# -- finding 3: cross-site requests ------------------------------------------------------------
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"name": "csrf-text"}'),
        ("text/plain;charset=UTF-8", b'{"name": "csrf-text"}'),
        ("application/x-www-form-urlencoded", b'{"name": "csrf-form", "x": "="}'),
        ("multipart/form-data; boundary=x", b'{"name": "csrf-multipart"}'),
        (None, b'{"name": "csrf-none"}'),
    ],
)
def test_json_endpoints_refuse_other_content_types(
    live: Live, content_type: str | None, body: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    reply = send(live.url, "POST", CREATE, body, headers)
    assert reply.status == 415
    error = reply.json()
    assert error["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "application/json" in error["message"]
    assert not {n for n in _names(live) if n.startswith("csrf")}


def test_json_with_charset_and_bodiless_posts_are_accepted(live: Live) -> None:
    body = json.dumps({"name": "plain-json"}).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert send(live.url, "POST", CREATE, body, headers).status == 200
    # No body, no type: nothing a form could smuggle (a missing-field error, not 415).
    reply = send(live.url, "POST", CREATE)
    assert (reply.status, reply.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_cross_origin_writes_are_refused(live: Live) -> None:
    port = urllib.parse.urlparse(live.url).port
    body = json.dumps({"name": "cross-origin"}).encode()
    for origin in ["https://evil.example", "null", f"http://localhost:{port}"]:
        headers = {"Content-Type": "application/json", "Origin": origin}
        reply = send(live.url, "POST", CREATE, body, headers)
        assert reply.status == 403, origin
        assert "--cors-allowed-origins" in reply.json()["message"]
        assert "evil" not in reply.body.decode()
    assert "cross-origin" not in _names(live)
    # The UI's own requests: the Origin is the Host the page was loaded from.
    headers = {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"}
    assert send(live.url, "POST", CREATE, body, headers).status == 200


def test_same_origin_compares_scheme_default_ports() -> None:
    assert same_origin("https://traza.example", "traza.example")
    assert same_origin("https://traza.example", "TRAZA.example:443")
    assert same_origin("http://[::1]:5000", "[::1]:5000")
    assert not same_origin("https://traza.example", "traza.example:80")
    assert not same_origin("http://traza.example:8080", "traza.example")
    assert not same_origin("https://traza.example.evil", "traza.example")
    assert not same_origin("null", "null")
    assert not same_origin("https://traza.example", "")


def test_no_cors_by_default(live: Live) -> None:
    reply = send(live.url, "GET", SEARCH, headers={"Origin": "https://app.example"})
    assert reply.status == 200
    assert not [h for h in reply.headers if h.startswith("access-control-")]
    preflight = send(
        live.url,
        "OPTIONS",
        CREATE,
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 403
    assert not [h for h in preflight.headers if h.startswith("access-control-")]


def test_cors_only_for_listed_origins(tmp_path: Path) -> None:
    with _serve(tmp_path, cors_allowed_origins="https://app.example,https://*.tools.example") as s:
        ask = {
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        }
        preflight = send(s.url, "OPTIONS", CREATE, headers=ask)
        assert preflight.status == 204
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == "content-type, authorization"
        for i, origin in enumerate(["https://app.example", "https://nb.tools.example"]):
            headers = {"Origin": origin, "Content-Type": "application/json"}
            body = json.dumps({"name": f"from-app-{i}"}).encode()
            reply = send(s.url, "POST", CREATE, body, headers)
            assert reply.status == 200, origin
            assert reply.headers["access-control-allow-origin"] == origin
            assert "Origin" in reply.headers["vary"]
        other = {"Origin": "https://evil.example", "Content-Type": "application/json"}
        refused = send(s.url, "POST", CREATE, json.dumps({"name": "x"}).encode(), other)
        assert refused.status == 403 and "access-control-allow-origin" not in refused.headers
        read = send(s.url, "GET", SEARCH, headers={"Origin": "https://evil.example"})
        assert read.status == 200 and "access-control-allow-origin" not in read.headers
        ask["Origin"] = "https://evil.example"
        assert send(s.url, "OPTIONS", CREATE, headers=ask).status == 403


def test_cors_star_is_without_credentials(tmp_path: Path) -> None:
    with _serve(tmp_path, cors_allowed_origins="*") as served:
        reply = send(served.url, "GET", SEARCH, headers={"Origin": "https://any.example"})
        assert reply.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in reply.headers


# -- finding 4: framing and stored XSS ---------------------------------------------------------
def test_ui_page_carries_framing_and_content_policy(live: Live) -> None:
    for path in ["/", "/experiments/1/runs/abc"]:
        reply = send(live.url, "GET", path, headers={"Accept": "text/html"})
        assert reply.status == 200 and reply.body.startswith(b"<!doctype html>"), path
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["x-content-type-options"] == "nosniff"
        policy = _policy(reply.headers["content-security-policy"])
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-src"] == ["'none'"]  # the HTML preview is a srcdoc frame
        assert "'unsafe-eval'" not in reply.headers["content-security-policy"]


def test_api_replies_say_nosniff(live: Live) -> None:
    reply = send(live.url, "GET", SEARCH)
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    missing = send(live.url, "GET", "/api/2.0/mlflow/no-such")
    assert missing.status == 404 and missing.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("option", "header", "ancestors"),
    [("SAMEORIGIN", "SAMEORIGIN", ["'self'"]), ("NONE", None, None), ("DENY", "DENY", ["'none'"])],
)
def test_x_frame_options_flag(
    tmp_path: Path, option: str, header: str | None, ancestors: list[str] | None
) -> None:
    with _serve(tmp_path, x_frame_options=option) as served:
        reply = send(served.url, "GET", "/", headers={"Accept": "text/html"})
        assert reply.headers.get("x-frame-options") == header
        assert _policy(reply.headers["content-security-policy"]).get("frame-ancestors") == ancestors


ACTIVE = {
    "x.html": "text/html",
    "x.svg": "image/svg+xml",
    "x.xhtml": "application/xhtml+xml",
    "x.js": "text/plain",  # MLflow's text list: never a script type
    "x.xml": "text/plain",
}


@pytest.fixture(scope="module")
def artifacts(live: Live) -> Iterator[tuple[str, str]]:
    """A run whose artifacts hold pages a browser would run, uploaded through the proxy."""
    experiment_id = live.store.create_experiment("xss")
    run = live.store.create_run(experiment_id, "u", 0, [], "xss")
    root = run.info.artifact_uri.removeprefix("mlflow-artifacts:")
    script = b"<script>fetch('/api/2.0/mlflow/experiments/create',{method:'POST'})</script>"
    files = {name: script for name in ACTIVE}
    files |= {"MLmodel": b"flavors: {}\n", "MLproject": b"name: p\n", "notes.txt": b"hi"}
    files |= {"my report.html": script, "résumé.txt": b"r", 'a"b.txt': b"q"}
    for name, content in files.items():
        path = urllib.parse.quote(f"{root}/{name}")
        reply = send(live.url, "PUT", f"/api/2.0/mlflow-artifacts/artifacts{path}", content)
        assert reply.status == 200, name
    yield run.info.run_id, root


def _routes(run_id: str, root: str, name: str) -> dict[str, str]:
    quoted = urllib.parse.quote(name)
    return {
        "proxy": f"/api/2.0/mlflow-artifacts/artifacts{urllib.parse.quote(root)}/{quoted}",
        "get-artifact": f"/get-artifact?run_uuid={run_id}&path={quoted}",
        "ui": f"/api/traza/v1/artifacts/get?run_id={run_id}&path={quoted}",
    }


@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_active_artifacts_are_never_inline(
    live: Live, artifacts: tuple[str, str], name: str
) -> None:
    run_id, root = artifacts
    for route, path in _routes(run_id, root, name).items():
        # The browser asks for a page, and a type in the query: neither changes the answer.
        asked = f"{path}{'&' if '?' in path else '?'}content_type=text/html"
        reply = send(live.url, "GET", asked, headers={"Accept": "text/html"})
        assert reply.status == 200, (route, reply.body[:200])
        assert reply.headers["content-type"].split(";")[0] == ACTIVE[name], route
        assert reply.headers["content-disposition"] == f"attachment; filename={name}", route
        assert reply.headers["x-content-type-options"] == "nosniff", route
        assert reply.headers["content-security-policy"] == "sandbox", route
        assert reply.body.startswith(b"<script>")


@pytest.mark.parametrize("name", ["MLmodel", "MLproject"])
def test_mlmodel_is_plain_text(live: Live, artifacts: tuple[str, str], name: str) -> None:
    run_id, root = artifacts
    for route, path in _routes(run_id, root, name).items():
        reply = send(live.url, "GET", path)
        assert reply.headers["content-type"] == "text/plain; charset=utf-8", route
        assert reply.headers["x-content-type-options"] == "nosniff", route
        kind = "inline" if route == "ui" else "attachment"
        assert reply.headers["content-disposition"] == f"{kind}; filename={name}", route


def test_download_file_names_are_quoted_as_mlflow_quotes_them(
    live: Live, artifacts: tuple[str, str]
) -> None:
    """Expected values are what MLflow 3.17.2's ``_content_disposition_attachment`` returns."""
    expected = {
        "my report.html": 'attachment; filename="my report.html"',
        "résumé.txt": "attachment; filename=resume.txt; filename*=UTF-8''r%C3%A9sum%C3%A9.txt",
        'a"b.txt': 'attachment; filename="a\\"b.txt"',
        "notes.txt": "attachment; filename=notes.txt",
    }
    run_id, root = artifacts
    for name, value in expected.items():
        for route in ("proxy", "get-artifact"):
            reply = send(live.url, "GET", _routes(run_id, root, name)[route])
            assert reply.headers["content-disposition"] == value, (name, route)
    assert content_disposition("日本語") == (
        "attachment; filename=download; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E"
    )
    assert (
        content_disposition("a\r\nSet-Cookie: x.txt") == 'attachment; filename="aSet-Cookie: x.txt"'
    )


# -- --disable-security-middleware -------------------------------------------------------------
def test_disable_security_middleware_turns_off_host_cors_and_framing(tmp_path: Path) -> None:
    with _serve(tmp_path, disable_security_middleware=True) as served:
        reply = send(served.url, "GET", SEARCH, headers={"Host": "evil.example"})
        assert reply.status == 200 and "x-frame-options" not in reply.headers
        body = json.dumps({"name": "cross"}).encode()
        headers = {"Origin": "https://evil.example", "Content-Type": "application/json"}
        assert send(served.url, "POST", CREATE, body, headers).status == 200
        page = send(served.url, "GET", "/", headers={"Accept": "text/html"})
        assert "x-frame-options" not in page.headers
        assert "frame-ancestors" not in page.headers["content-security-policy"]
        # Not part of that layer, as in MLflow: JSON only as JSON, artifacts as downloads.
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert send(served.url, "POST", CREATE, b'{"name": "f"}', form).status == 415


# -- the commands ------------------------------------------------------------------------------
def test_traza_ui_reads_mlflow_security_variables(tmp_path: Path) -> None:
    """``traza ui`` with MLflow's variables: the listed name is answered, framing as asked."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    env |= {
        "MLFLOW_SERVER_ALLOWED_HOSTS": "traza.example.com",
        "MLFLOW_SERVER_X_FRAME_OPTIONS": "sameorigin",
        "MLFLOW_TRACKING_URI": str(tmp_path / "mlruns"),
    }
    command = [sys.executable, "-m", "traza", "ui", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if send(url, "GET", "/health").status == 200:
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        reply = send(url, "GET", SEARCH, headers={"Host": "traza.example.com"})
        assert reply.status == 200 and reply.headers["x-frame-options"] == "SAMEORIGIN"
        assert send(url, "GET", SEARCH, headers={"Host": "localhost:5000"}).status == 200
        assert send(url, "GET", SEARCH, headers={"Host": "evil.example"}).status == 403
    finally:
        process.terminate()
        process.communicate(timeout=20)


def _policy(header: str) -> dict[str, list[str]]:
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}
