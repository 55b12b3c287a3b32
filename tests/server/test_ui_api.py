"""The web UI's server side over HTTP: JSON endpoints, artifact files, and the built bundle."""

from __future__ import annotations

import gzip
import json
import math
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from conftest import Bucket
from traza.entities import Metric, Param, RunTag
from traza.entities.ui import ExperimentSummary
from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer
from traza.store.uri import open_store

from .live import Live, live_server

HTTP = urllib3.PoolManager()
UI_API = "/ajax-api/traza/v1"


def _get(url: str, **headers: str) -> urllib3.BaseHTTPResponse:
    return HTTP.request("GET", url, headers=headers, redirect=False)


def _json(url: str) -> Any:
    response = _get(url)
    assert response.status == 200, response.data
    return json.loads(response.data)


def _error(url: str, status: int, code: str) -> str:
    response = _get(url)
    assert response.status == status, response.data
    body = json.loads(response.data)
    assert body["error_code"] == code
    return str(body["message"])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with live_server(
        f"sqlite:///{tmp_path / 'ui.db'}", tmp_path, ui_dir=str(tmp_path / "none")
    ) as s:
        yield s


def _run(live: Live, experiment_id: str = "0") -> str:
    return live.store.create_run(experiment_id, "u", 0, [], None).info.run_id


# -- JSON endpoints ----------------------------------------------------------------------------
def test_experiment_keys(live: Live) -> None:
    a, b = live.store.create_experiment("a"), live.store.create_experiment("b")
    r1, r2 = _run(live, a), _run(live, b)
    live.store.log_batch(r1, [Metric("loss", 1, 1, 0)], [Param("lr", "1")], [RunTag("t", "v")])
    live.store.log_batch(r2, [Metric("acc", 1, 1, 0)], [Param("depth", "2")])
    for prefix in (UI_API, "/api/traza/v1"):
        keys = _json(f"{live.url}{prefix}/experiments/keys?experiment_ids={a}&experiment_ids={b}")
        assert keys == {
            "params": ["depth", "lr"],
            "metrics": ["acc", "loss"],
            "tags": ["mlflow.runName", "t"],
        }
    _error(f"{live.url}{UI_API}/experiments/keys", 400, "INVALID_PARAMETER_VALUE")
    _error(f"{live.url}{UI_API}/experiments/keys?experiment_ids=x", 400, "INVALID_PARAMETER_VALUE")


def test_experiment_summaries(live: Live) -> None:
    a, b, empty = (live.store.create_experiment(n) for n in ("a", "b", "empty"))
    live.store.create_run(a, "u", 1_000, [], None)
    live.store.create_run(a, "u", 3_000, [], None)
    gone = live.store.create_run(a, "u", 9_000, [], None).info.run_id
    live.store.delete_run(gone)  # deleted runs are neither counted nor the last activity
    live.store.create_run(b, "u", 2_000, [], None)
    url = f"{live.url}{UI_API}/experiments/summaries?"
    got = _json(f"{url}experiment_ids={empty}&experiment_ids={a}&experiment_ids={b}")
    assert got == {
        "experiments": [
            {"experiment_id": empty, "run_count": 0},
            {"experiment_id": a, "run_count": 2, "last_run_start_time": 3_000},
            {"experiment_id": b, "run_count": 1, "last_run_start_time": 2_000},
        ]
    }
    _error(url, 400, "INVALID_PARAMETER_VALUE")
    _error(f"{url}experiment_ids=x", 400, "INVALID_PARAMETER_VALUE")
    # The same through a client's RestStore.
    client = open_store(live.url)
    assert client.get_experiment_summaries([b, empty]) == [
        ExperimentSummary(b, 1, 2_000),
        ExperimentSummary(empty),
    ]


def test_metric_history(live: Live) -> None:
    r1, r2 = _run(live), _run(live)
    points = [Metric("m", float(i), 1_000 + i, i) for i in range(5_000)]
    points[7] = Metric("m", math.nan, 1_007, 7)
    points[4_000] = Metric("m", math.inf, 5_000, 4_000)
    for i in range(0, 5_000, 1_000):
        live.store.log_batch(r1, metrics=points[i : i + 1_000])
    live.store.log_batch(r2, metrics=[Metric("m", 2.0, 10, 0), Metric("m", math.nan, 20, 1)])
    url = f"{live.url}{UI_API}/metrics/history?key=m"
    one = _json(f"{url}&run_id={r1}&max_points=100")["series"]
    assert len(one) == 1
    series = one[0]
    assert (series["run_id"], series["key"], series["total"]) == (r1, "m", 5_000)
    assert series["sampled"] and len(series["points"]) <= 100
    assert series["min"] == 0.0 and series["max"] == "Infinity"
    assert [4_000, "Infinity"] in series["points"] and series["points"][-1] == [4_999, 4_999.0]
    both = _json(f"{url}&run_ids={r2}&run_ids={r1}&max_points=10&x_axis=relative")["series"]
    assert [s["run_id"] for s in both] == [r2, r1]
    assert both[0]["points"] == [[0, 2.0], [10, "NaN"]] and both[0]["x_axis"] == "relative"
    assert both[1]["points"][0][0] == 0 and len(both[1]["points"]) <= 10
    by_time = _json(f"{url}&run_id={r2}&x_axis=timestamp")["series"][0]
    assert by_time["points"] == [[10, 2.0], [20, "NaN"]]
    _error(f"{url}&run_id={r1}&x_axis=wall", 400, "INVALID_PARAMETER_VALUE")
    _error(f"{url}&run_id={r1}&max_points=0", 400, "INVALID_PARAMETER_VALUE")
    _error(f"{url}&run_id={'0' * 32}", 404, "RESOURCE_DOES_NOT_EXIST")
    zoomed = _json(f"{url}&run_id={r1}&max_points=100&x_min=10&x_max=12")["series"][0]
    assert zoomed["points"] == [[10, 10.0], [11, 11.0], [12, 12.0]] and zoomed["total"] == 5_000
    assert "x_min and x_max go together" in _error(
        f"{url}&run_id={r1}&x_min=10", 400, "INVALID_PARAMETER_VALUE"
    )
    _error(f"{live.url}{UI_API}/metrics/history?run_id={r1}", 400, "INVALID_PARAMETER_VALUE")
    many = "&".join(f"run_ids={i:032x}" for i in range(101))
    assert "at most 100 runs" in _error(f"{url}&{many}", 400, "INVALID_PARAMETER_VALUE")


def test_metric_summaries(live: Live) -> None:
    run_id = _run(live)
    live.store.log_batch(run_id, metrics=[Metric("b", 1.0, 5, 0), Metric("b", math.nan, 6, 1)])
    live.store.log_batch(run_id, metrics=[Metric("a", 3.0, 5, 2), Metric("a", -1.0, 4, 1)])
    expected = {
        "run_id": run_id,
        "summaries": [
            {"key": "a", "latest": 3.0, "min": -1.0, "max": 3.0, "count": 2}
            | {"last_step": 2, "last_timestamp": 5},
            {"key": "b", "latest": "NaN", "min": 1.0, "max": 1.0, "count": 2}
            | {"last_step": 1, "last_timestamp": 6},
        ],
    }
    assert _json(f"{live.url}{UI_API}/runs/{run_id}/metric-summaries") == expected
    assert _json(f"{live.url}/api/traza/v1/runs/metric-summaries?run_id={run_id}") == expected
    _error(f"{live.url}{UI_API}/runs/{'0' * 32}/metric-summaries", 404, "RESOURCE_DOES_NOT_EXIST")


# -- artifact files ----------------------------------------------------------------------------
def _write(root: Path, rel: str, data: bytes) -> None:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _check_escapes(live: Live, run_id: str) -> None:
    for endpoint in (
        f"{UI_API}/artifacts/get?run_id={run_id}&",
        f"/get-artifact?run_uuid={run_id}&",
    ):
        for path in ("../../ui.db", "/etc/passwd", "a/../../x", "..", "C:/x"):
            url = f"{live.url}{endpoint}path={urllib.parse.quote(path, safe='')}"
            _error(url, 400, "INVALID_PARAMETER_VALUE")
        _error(f"{live.url}{endpoint}path=", 400, "INVALID_PARAMETER_VALUE")


def test_proxied_artifacts(live: Live) -> None:
    run = live.store.create_run("0", "u", 0, [], None)
    rel = run.info.artifact_uri.removeprefix("mlflow-artifacts:/").lstrip("/")
    _write(live.artifacts / rel, "metrics.csv", b"a,b\n1,2\n")
    _write(live.artifacts / rel, "report/page.html", b"<script>alert(1)</script>")
    _write(live.artifacts / rel, "model/MLmodel", b"flavors: {}\n")
    run_id = run.info.run_id
    response = _get(f"{live.url}{UI_API}/artifacts/get?run_id={run_id}&path=metrics.csv")
    assert response.status == 200 and response.data == b"a,b\n1,2\n"
    assert response.headers["Content-Type"].startswith("text/plain")  # MLflow's text list
    assert response.headers["Content-Length"] == "8"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    page = _get(f"{live.url}{UI_API}/artifacts/get?run_id={run_id}&path=report/page.html")
    assert page.headers["Content-Disposition"] == "attachment; filename=page.html"
    mlmodel = _get(f"{live.url}/get-artifact?path=model/MLmodel&run_uuid={run_id}")
    assert mlmodel.status == 200 and mlmodel.data == b"flavors: {}\n"
    assert mlmodel.headers["Content-Type"].startswith("text/plain")
    assert mlmodel.headers["Content-Disposition"] == "attachment; filename=MLmodel"
    _error(
        f"{live.url}/get-artifact?path=missing.txt&run_id={run_id}", 404, "RESOURCE_DOES_NOT_EXIST"
    )
    _check_escapes(live, run_id)


def test_local_artifact_root(live: Live, tmp_path: Path) -> None:
    root = tmp_path / "local-root"
    experiment_id = live.store.create_experiment("local", artifact_location=root.as_uri())
    run = live.store.create_run(experiment_id, "u", 0, [], None)
    local = Path(urllib3.util.parse_url(run.info.artifact_uri).path or "")
    _write(local, "data/image.png", b"\x89PNG" + bytes(2_000))
    (tmp_path / "secret.txt").write_text("secret")
    (local / "link.txt").symlink_to(tmp_path / "secret.txt")
    run_id = run.info.run_id
    # Outside the server's trusted roots until an operator records it (as traza import does).
    url = f"{live.url}{UI_API}/artifacts/get?run_id={run_id}&path=data/image.png"
    assert "does not serve artifacts" in _error(url, 403, "PERMISSION_DENIED")
    live.store.record_trusted_artifact_root(root.as_uri(), "test")
    image = _get(f"{live.url}{UI_API}/artifacts/get?run_id={run_id}&path=data/image.png")
    assert image.status == 200 and image.headers["Content-Type"] == "image/png"
    assert image.headers["Content-Length"] == "2004" and image.data[:4] == b"\x89PNG"
    listing = _json(f"{live.url}/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=data")
    assert listing["files"] == [{"path": "data/image.png", "is_dir": False, "file_size": 2004}]
    _error(
        f"{live.url}{UI_API}/artifacts/get?run_id={run_id}&path=link.txt",
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        f"{live.url}{UI_API}/artifacts/get?run_id={run_id}&path=data",
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _check_escapes(live, run_id)


def test_s3_artifact_root(bucket: Bucket, tmp_path: Path) -> None:
    root = f"s3://{bucket.name}/direct"
    settings = ServerSettings(
        backend_store_uri="(given)", default_artifact_root=root, serve_artifacts=False
    )
    store = open_store(str(tmp_path / "store"), artifact_root=root)
    run = store.create_run("0", "u", 0, [], None)
    key = run.info.artifact_uri.removeprefix(f"s3://{bucket.name}/") + "/out/notes.json"
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=b'{"a": 1}')
    with BackgroundServer(create_app(settings, store=store)) as server:
        url = f"{server.url}{UI_API}/artifacts/get?run_id={run.info.run_id}&path=out/notes.json"
        response = _get(url)
        assert response.status == 200 and response.data == b'{"a": 1}'
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.headers["Content-Length"] == "8"
        listing = _json(
            f"{server.url}/api/2.0/mlflow/artifacts/list?run_id={run.info.run_id}&path=out"
        )
        assert [f["path"] for f in listing["files"]] == ["out/notes.json"]
        _error(f"{url}x", 404, "RESOURCE_DOES_NOT_EXIST")


def _model_file(url: str, model_id: str, path: str) -> urllib3.BaseHTTPResponse:
    query = urllib.parse.urlencode({"artifact_file_path": path})
    return _get(f"{url}/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files?{query}")


def test_logged_model_files_proxied_and_local(live: Live, tmp_path: Path) -> None:
    run_id = _run(live)
    proxied = live.store.create_logged_model("0", "model", run_id)
    rel = proxied.artifact_location.removeprefix("mlflow-artifacts:/").lstrip("/")
    _write(live.artifacts / rel, "MLmodel", b"flavors: {}\n")
    response = _model_file(live.url, proxied.model_id, "MLmodel")
    assert response.status == 200 and response.data == b"flavors: {}\n"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    # A folder root (traza ui's store, --default-artifact-root ./mlruns): served once trusted.
    root = tmp_path / "local-root"
    experiment_id = live.store.create_experiment("local", artifact_location=root.as_uri())
    local = live.store.create_logged_model(experiment_id, "model", None)
    folder = Path(urllib.parse.urlparse(local.artifact_location).path)
    _write(folder, "input_example.json", b'{"inputs": [[1, 2]]}')
    url = f"{live.url}/ajax-api/2.0/mlflow/logged-models/{local.model_id}/artifacts/files?"
    assert "does not serve" in _error(f"{url}artifact_file_path=MLmodel", 403, "PERMISSION_DENIED")
    live.store.record_trusted_artifact_root(root.as_uri(), "test")
    response = _model_file(live.url, local.model_id, "input_example.json")
    assert response.status == 200 and response.data == b'{"inputs": [[1, 2]]}'
    _error(f"{url}artifact_file_path=missing", 404, "RESOURCE_DOES_NOT_EXIST")
    for bad in ("../../x", "/etc/passwd", ""):
        query = urllib.parse.urlencode({"artifact_file_path": bad})
        _error(f"{url}{query}", 400, "INVALID_PARAMETER_VALUE")
    _error(
        f"{url.replace(local.model_id, 'm-' + '0' * 32)}artifact_file_path=MLmodel",
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_logged_model_files_s3(bucket: Bucket, tmp_path: Path) -> None:
    root = f"s3://{bucket.name}/direct"
    settings = ServerSettings(
        backend_store_uri="(given)", default_artifact_root=root, serve_artifacts=False
    )
    store = open_store(str(tmp_path / "store"), artifact_root=root)
    model = store.create_logged_model("0", "model", None)
    key = model.artifact_location.removeprefix(f"s3://{bucket.name}/") + "/MLmodel"
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=b"flavors: {}\n")
    with BackgroundServer(create_app(settings, store=store)) as server:
        response = _model_file(server.url, model.model_id, "MLmodel")
        assert response.status == 200 and response.data == b"flavors: {}\n"
        assert response.headers["Content-Length"] == "12"


# -- the built bundle --------------------------------------------------------------------------
SCRIPT = b"console.log('traza');\n" * 200


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "ui_dist"
    _write(
        root,
        "index.html",
        b'<!doctype html><html><head><script src="./assets/app-1a2b.js"></script></head></html>',
    )
    _write(root, "assets/app-1a2b.js", SCRIPT)
    _write(root, "favicon.svg", b"<svg/>")
    return root


def test_bundle_served_with_cache_headers(bundle: Path, tmp_path: Path) -> None:
    with live_server(f"sqlite:///{tmp_path / 'b.db'}", tmp_path, ui_dir=str(bundle)) as live:
        index = _get(f"{live.url}/")
        assert index.status == 200 and index.headers["Content-Type"].startswith("text/html")
        assert index.headers["Cache-Control"] == "no-cache"
        assert b'<head><base href="/"><script src="./assets/app-1a2b.js">' in index.data
        again = _get(f"{live.url}/", **{"If-None-Match": index.headers["ETag"]})
        assert again.status == 304
        script = _get(f"{live.url}/assets/app-1a2b.js", **{"Accept-Encoding": "gzip"})
        assert script.status == 200 and script.data == SCRIPT
        assert script.headers["Content-Encoding"] == "gzip"
        assert script.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert script.headers["Content-Type"].startswith("text/javascript")
        raw = HTTP.request(
            "GET",
            f"{live.url}/assets/app-1a2b.js",
            headers={"Accept-Encoding": "gzip"},
            decode_content=False,
        )
        assert gzip.decompress(raw.data) == SCRIPT and len(raw.data) < len(SCRIPT)
        assert _get(f"{live.url}/static-files/assets/app-1a2b.js").data == SCRIPT
        assert _get(f"{live.url}/favicon.svg").headers["Cache-Control"] == "no-cache"
        # Deep links get the page; API paths and missing assets never do.
        deep = _get(f"{live.url}/experiments/1/runs", Accept="text/html,*/*")
        assert deep.status == 200 and deep.data == index.data
        assert _get(f"{live.url}/experiments/1/runs").status == 404
        for path in ("/api/2.0/mlflow/nothing", "/ajax-api/traza/v1/nothing", "/assets/gone.js"):
            assert _get(f"{live.url}{path}", Accept="text/html").status == 404
        assert _get(f"{live.url}/health").data == b"OK"


def test_bundle_under_static_prefix(bundle: Path, tmp_path: Path) -> None:
    with live_server(
        f"sqlite:///{tmp_path / 'p.db'}", tmp_path, ui_dir=str(bundle), static_prefix="/traza"
    ) as live:
        index = _get(f"{live.url}/traza/")
        assert b'<base href="/traza/">' in index.data
        assert _get(f"{live.url}/traza").status == 200
        assert _get(f"{live.url}/traza/assets/app-1a2b.js").data == SCRIPT
        assert _get(f"{live.url}/traza/runs/x", Accept="text/html").data == index.data
        assert _get(f"{live.url}/", Accept="text/html").status == 404
        assert _json(f"{live.url}/traza{UI_API}/experiments/keys?experiment_ids=0")["tags"] == []
        run_id = _run(live)
        _error(
            f"{live.url}/traza/get-artifact?run_id={run_id}&path=x", 404, "RESOURCE_DOES_NOT_EXIST"
        )


def test_not_built_message(live: Live) -> None:
    response = _get(f"{live.url}/")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
    text = response.data.decode()
    assert "web UI is not built" in text and "npm --prefix ui run build" in text
    assert "/api/2.0/mlflow/" in text
    assert _get(f"{live.url}/experiments/1", Accept="text/html").status == 404


def test_summaries_and_model_files_need_read(tmp_path: Path) -> None:
    """With auth on, the UI's new reads are refused without READ, as the rest of the UI's."""
    from .test_permissions import API, NO, assert_denied, auth_server

    with auth_server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, NO) as server:
        server.user("olivia")
        server.user("dana")
        experiment_id = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "s"})[
            "experiment_id"
        ]
        model_id = server.ok(
            "olivia", "POST", f"{API}/logged-models", {"experiment_id": experiment_id}
        )["model"]["info"]["model_id"]
        for path, body in (
            (f"{UI_API}/experiments/summaries", {"experiment_ids": experiment_id}),
            (
                f"/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
                {"artifact_file_path": "MLmodel"},
            ),
        ):
            status, reply = server.call("dana", "GET", path, body)
            assert_denied(status, reply, "READ")
            assert server.call("olivia", "GET", path, body)[0] in (200, 404), path
