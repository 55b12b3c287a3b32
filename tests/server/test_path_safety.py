"""Issue 14, findings 1, 2 and 5: file reads through artifact locations and paths, tried as an
attacker would (raw HTTP with ``http.client``, paths sent byte for byte, no credentials)
against live servers on SQLite: one proxying artifacts into ``--artifacts-destination``, one
with ``--default-artifact-root`` a local folder. Each now gets a safe 4xx and no file content.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.server.live import Live, live_server

from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer
from traza.store.base import Store
from traza.store.uri import open_store
from traza.transfer.records import IngestBatch, RunRecord

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
PROXY_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
SECRET = b"SECRET-CONTENT-OUTSIDE-EVERY-ROOT"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw(url: str, method: str, target: str, body: Any = None) -> Reply:
    """One request with ``target`` sent exactly as given (no quoting, no normalising)."""
    host = urllib.parse.urlparse(url).netloc
    conn = http.client.HTTPConnection(host, timeout=20)
    headers = {}
    data: bytes | None = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.putrequest(method, target, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(data or b"")))
    conn.endheaders(data)
    response = conn.getresponse()
    reply = Reply(response.status, response.read())
    conn.close()
    return reply


def refused(reply: Reply, status: int | tuple[int, ...] = 400, code: str | None = None) -> str:
    """A safe 4xx: the expected status, a JSON error, and nothing of the secret files."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert reply.status in statuses, (reply.status, reply.body[:300])
    assert SECRET not in reply.body and b"root:" not in reply.body
    body = reply.json()
    if code is not None:
        assert body["error_code"] == code, body
    return str(body["message"])


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A folder outside every artifact root, holding a file an attacker wants."""
    folder = tmp_path / "private"
    folder.mkdir()
    (folder / "passwd").write_bytes(SECRET)
    return folder


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Live]:
    """``traza server --backend-store-uri sqlite:///... --artifacts-destination ...``."""
    with live_server(f"sqlite:///{tmp_path / 'proxied.db'}", tmp_path / "proxied") as live:
        yield live


@dataclass(frozen=True)
class Direct:
    url: str
    store: Store
    root: Path


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[Direct]:
    """``traza server --default-artifact-root <a local folder>`` (runs get file: roots)."""
    root = tmp_path / "artifact-root"
    root.mkdir()
    uri = f"sqlite:///{tmp_path / 'direct.db'}"
    store = open_store(uri, artifact_root=root.as_uri())
    settings = ServerSettings(
        backend_store_uri=uri,
        default_artifact_root=root.as_uri(),
        artifacts_destination=str(tmp_path / "direct-dest"),
    )
    with BackgroundServer(create_app(settings, store=store)) as server:
        yield Direct(server.url, store, root)


def _servers(request: pytest.FixtureRequest) -> tuple[str, Store]:
    if request.param == "proxied":
        live = request.getfixturevalue("proxied")
        return live.url, live.store
    d = request.getfixturevalue("direct")
    return d.url, d.store


@pytest.fixture(params=["proxied", "direct"])
def server(request: pytest.FixtureRequest) -> tuple[str, Store]:
    return _servers(request)


def create_experiment(url: str, name: str, location: str | None = None) -> Reply:
    body: dict[str, Any] = {"name": name}
    if location is not None:
        body["artifact_location"] = location
    return raw(url, "POST", f"{API}/experiments/create", body)


def create_run(url: str, experiment_id: str) -> str:
    reply = raw(url, "POST", f"{API}/runs/create", {"experiment_id": experiment_id})
    assert reply.status == 200, reply.body
    return str(reply.json()["run"]["info"]["run_id"])


def reads(url: str, run_id: str, path: str = "passwd") -> list[Reply]:
    """Every way the server reads a run's artifacts."""
    q = f"run_id={run_id}"
    return [
        raw(url, "GET", f"/get-artifact?run_uuid={run_id}&path={path}"),
        raw(url, "GET", f"{API}/artifacts/list?{q}"),
        raw(url, "GET", f"{AJAX}/artifacts/list?{q}"),
        raw(url, "GET", f"/ajax-api/traza/v1/artifacts/get?{q}&path={path}"),
    ]


# -- finding 1: a location that swallows the run's part --------------------------------------
def _swallowing_locations(secret: Path) -> list[str]:
    return [
        "file:///etc#",
        "file:///etc?",
        "file:///etc?x=1",
        "file:///etc%23",
        "file:///etc%2523",
        f"{secret.as_uri()}#",
        f"{secret}#",
        f"{secret}?q",
        "mlflow-artifacts:/%2e%2e/%2e%2e/%2e%2e/etc#",
        "mlflow-artifacts:/../../etc",
        "mlflow-artifacts:/%252e%252e/x",
        f"file://{secret}/..%2F..%2F#",
        f"{secret}/../private",
        "file:///etc;x",
        "file:///e\\tc",
        "file:///etc\x00",
    ]


def test_locations_that_would_leave_a_root_are_refused_when_created(
    server: tuple[str, Store], secret: Path
) -> None:
    url, store = server
    before = len(store.search_experiments())
    for i, location in enumerate(_swallowing_locations(secret)):
        message = refused(create_experiment(url, f"x{i}", location), 400, "INVALID_PARAMETER_VALUE")
        assert "artifact location" in message, message
    assert len(store.search_experiments()) == before  # nothing stored


def test_a_recorded_outside_location_is_never_read(server: tuple[str, Store], secret: Path) -> None:
    """MLflow lets a client record any location; the server then never reads from it."""
    url, store = server
    for name, location in (("etc", "file:///etc"), ("private", secret.as_uri())):
        reply = create_experiment(url, name, location)
        assert reply.status == 200, reply.body
        run_id = create_run(url, reply.json()["experiment_id"])
        # The run's root is <location>/<run>: point it at the folder itself, as finding 1 did.
        with store.db.write() as cur:  # type: ignore[attr-defined]
            cur.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (location, run_id))
        for reply in reads(url, run_id):
            message = refused(reply, 403, "PERMISSION_DENIED")
            assert "does not serve artifacts from" in message and "trusted" in message


def test_rows_written_before_the_fix_are_refused_when_read(server: tuple[str, Store]) -> None:
    """A location stored before it was checked (``file:///etc#``) is checked again on read."""
    url, store = server
    experiment_id = store.create_experiment("legacy")
    run_id = create_run(url, experiment_id)
    for legacy in ("file:///etc#", "file:///etc?/x", "mlflow-artifacts:/%2e%2e/%2e%2e/etc#"):
        with store.db.write() as cur:  # type: ignore[attr-defined]
            cur.execute(
                "UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
                (f"{legacy}/{run_id}", run_id),
            )
        for reply in reads(url, run_id):
            refused(reply, (400, 403))


def test_symlink_inside_the_root_to_outside_is_not_followed(direct: Direct, secret: Path) -> None:
    (direct.root / "innocent").symlink_to(secret, target_is_directory=True)
    reply = create_experiment(direct.url, "linked", str(direct.root / "innocent"))
    assert reply.status == 200, reply.body
    run_id = create_run(direct.url, reply.json()["experiment_id"])
    with direct.store.db.write() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
            ((direct.root / "innocent").as_uri(), run_id),
        )
    for reply in reads(direct.url, run_id):
        refused(reply, 403, "PERMISSION_DENIED")


# -- finding 2: the same through the ingest endpoint ------------------------------------------
def _run_record(run_id: str, artifact_uri: str) -> dict[str, Any]:
    record = RunRecord(
        run_id=run_id,
        experiment_id="0",
        name="ingested",
        user_id="mallory",
        status="FINISHED",
        start_time=1,
        end_time=2,
        lifecycle_stage="active",
        artifact_uri=artifact_uri,
    )
    return IngestBatch(runs=[record]).to_wire()


def test_ingest_records_a_location_the_server_then_does_not_serve(
    server: tuple[str, Store], secret: Path
) -> None:
    url, store = server
    for i, location in enumerate(("file:///etc", secret.as_uri(), str(secret))):
        run_id = f"{i:032x}"
        reply = raw(url, "POST", "/api/traza/v1/ingest", _run_record(run_id, location))
        assert reply.status == 200, reply.body
        assert reply.json()["unserved"] == [f"run {run_id}: {location}"]
        for got in reads(url, run_id):
            refused(got, 403, "PERMISSION_DENIED")
    assert store.trusted_artifact_roots() == []  # nothing sent over HTTP adds a root


def test_ingest_refuses_a_location_that_breaks_the_path_rule(
    server: tuple[str, Store], secret: Path
) -> None:
    url, _ = server
    for i, location in enumerate(("file:///etc#", f"{secret}?", "file:///a/%2e%2e/etc")):
        run_id = f"{i + 100:032x}"
        reply = raw(url, "POST", "/api/traza/v1/ingest", _run_record(run_id, location))
        message = refused(reply, 400, "INVALID_PARAMETER_VALUE")
        assert f"artifact URI of run {run_id}" in message
        assert raw(url, "GET", f"{API}/runs/get?run_id={run_id}").status == 404


# -- finding 5: paths that name files outside, or odd literal names, through the proxy ----------
#: Artifact paths as they appear on the wire, after /mlflow-artifacts/artifacts/.
BAD_PATHS = [
    "%2e%2e/%2e%2e/private/passwd",
    "%2E%2E/x",
    "..%2F..%2Fprivate%2Fpasswd",
    "%252e%252e/%252e%252e/private/passwd",
    "%25252e%25252e/x",
    "EXP/%2F{secret}/passwd",
    "EXP/%252F{secret_q}",
    "%2F{secret_q}/passwd",
    "a%5C..%5C..%5Cprivate",
    "a\\..\\..\\private",
    "a;b.txt",
    "a%3Bb.txt",
    "x/..;/..;/private/passwd",
    "a%23b.txt",
    "a%3Fb.txt",
    "a%00b.txt",
    "a%0Ab.txt",
    "C:/Windows/win.ini",
    "C%3A%5CWindows",
]


def _bad_paths(secret: Path) -> list[str]:
    return [
        p.format(secret=secret, secret_q=urllib.parse.quote(str(secret), safe=""))
        for p in BAD_PATHS
    ]


def test_bad_artifact_paths_are_refused_on_every_prefix_and_method(
    proxied: Live, secret: Path
) -> None:
    before = sorted(p.relative_to(proxied.artifacts) for p in proxied.artifacts.rglob("*"))
    for prefix in PROXY_PREFIXES:
        for path in _bad_paths(secret):
            target = f"{prefix}/artifacts/{path}"
            # A newline does not match a route's {path} at all: no endpoint (404).
            status = (400, 404) if "%0A" in path else 400
            refused(raw(proxied.url, "GET", target), status)
            refused(raw(proxied.url, "PUT", target, b"evil"), status)
            refused(raw(proxied.url, "DELETE", target), status)
            refused(raw(proxied.url, "GET", f"{prefix}/artifacts?path={path}"))
            for action in ("create", "complete", "abort"):
                body = {"path": "part.bin", "num_parts": 1, "upload_id": "u", "parts": []}
                refused(raw(proxied.url, "POST", f"{prefix}/mpu/{action}/{path}", body), status)
    assert (secret / "passwd").read_bytes() == SECRET
    assert sorted(p.name for p in secret.iterdir()) == ["passwd"]
    after = sorted(p.relative_to(proxied.artifacts) for p in proxied.artifacts.rglob("*"))
    assert after == before  # nothing written, not even a literal '%2e%2e' file


def test_bad_paths_are_refused_on_the_run_routes(server: tuple[str, Store], secret: Path) -> None:
    url, _ = server
    experiment = create_experiment(url, "runs-routes").json()["experiment_id"]
    run_id = create_run(url, experiment)
    for path in [*_bad_paths(secret), "/etc/passwd", "%2Fetc%2Fpasswd", "..", "../../etc/passwd"]:
        for target in (
            f"/get-artifact?run_uuid={run_id}&path={path}",
            f"{API}/artifacts/list?run_id={run_id}&path={path}",
            f"{AJAX}/artifacts/list?run_id={run_id}&path={path}",
            f"/ajax-api/traza/v1/artifacts/get?run_id={run_id}&path={path}",
        ):
            got = raw(url, "GET", target)
            if got.status == 404:  # a '#' or '?' cut the path: a file that does not exist
                refused(got, 404)
            else:
                refused(got, 400, "INVALID_PARAMETER_VALUE")


def test_legitimate_names_still_work(proxied: Live) -> None:
    names = ["a b.txt", "ünï cödé.txt", "k=v+w.txt", "100%.txt", "dir with space/x=1+2.csv"]
    for prefix in PROXY_PREFIXES:
        for name in names:
            quoted = urllib.parse.quote(f"{prefix[1:4]}/{name}")
            put = raw(proxied.url, "PUT", f"{prefix}/artifacts/{quoted}", name.encode())
            assert put.status == 200, put.body
            got = raw(proxied.url, "GET", f"{prefix}/artifacts/{quoted}")
            assert (got.status, got.body) == (200, name.encode())
            assert (proxied.artifacts / prefix[1:4] / name).read_bytes() == name.encode()


# -- finding 5: limits -----------------------------------------------------------------------
def test_limits_are_mlflows_and_nothing_is_stored(server: tuple[str, Store]) -> None:
    url, store = server
    experiments = len(store.search_experiments())
    message = refused(create_experiment(url, "long-location", "/tmp/" + "x" * 100_000))
    assert "2048" in message
    message = refused(create_experiment(url, "n" * 501))
    assert "500" in message
    assert len(store.search_experiments()) == experiments
    experiment_id = create_experiment(url, "limits").json()["experiment_id"]
    reply = raw(
        url,
        "POST",
        f"{API}/runs/create",
        {"experiment_id": experiment_id, "run_name": "r" * 1_000_000},
    )
    assert "250" in refused(reply)
    run_id = create_run(url, experiment_id)
    reply = raw(url, "POST", f"{API}/runs/update", {"run_id": run_id, "run_name": "r" * 251})
    assert "250" in refused(reply)
    tag = {"run_id": run_id, "key": "mlflow.runName", "value": "r" * 251}
    assert "250" in refused(raw(url, "POST", f"{API}/runs/set-tag", tag))
    assert store.get_run(run_id).info.run_name != "r" * 251
    assert len(store.search_runs([experiment_id])) == 1
    model = {"name": "m" * 1_000_000}
    assert "256" in refused(raw(url, "POST", f"{API}/registered-models/create", model))
    assert store.search_registered_models() == []
    logged = {"experiment_id": experiment_id, "name": "m" * 501}
    assert "500" in refused(raw(url, "POST", f"{API}/logged-models", logged))


def test_logged_model_and_presigned_routes(server: tuple[str, Store], secret: Path) -> None:
    url, store = server
    experiment = create_experiment(url, "models").json()["experiment_id"]
    run_id = create_run(url, experiment)
    reply = raw(url, "POST", f"{API}/logged-models", {"experiment_id": experiment, "name": "m"})
    assert reply.status == 200, reply.body
    model_id = reply.json()["model"]["info"]["model_id"]
    listing = f"{API}/logged-models/{model_id}/artifacts/directories"
    for path in ("%2e%2e/%2e%2e", "a;b", "a%23b", "/etc", "a//b"):
        refused(raw(url, "GET", f"{listing}?artifact_directory_path={path}"), 400)
        body = {"run_id": run_id, "path": urllib.parse.unquote(path)}
        refused(raw(url, "POST", f"{API}/artifacts/presigned-download-url", body), 400)
    with store.db.write() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "UPDATE logged_models SET artifact_location = ? WHERE model_id = ?",
            (secret.as_uri(), model_id),
        )
    refused(raw(url, "GET", listing), 403, "PERMISSION_DENIED")
