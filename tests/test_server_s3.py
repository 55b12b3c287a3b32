"""S3-compatible storage with a tracking server: behind its proxy, and used directly by clients.

Both the real ``mlflow`` client and Traza's are driven against a live ``traza server`` whose
artifacts live in a bucket on moto's S3 server (127.0.0.1).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

import traza
from conftest import Bucket
from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer
from traza.store.uri import open_store

MiB = 1024 * 1024


def _serve(tmp_path: Path, root: str, destination: str, serve: bool) -> BackgroundServer:
    settings = ServerSettings(
        backend_store_uri="(given)",
        default_artifact_root=root,
        serve_artifacts=serve,
        artifacts_destination=destination,
    )
    store = open_store(str(tmp_path / "store"), artifact_root=root)
    return BackgroundServer(create_app(settings, store=store)).start()


@pytest.fixture
def proxied(bucket: Bucket, tmp_path: Path) -> Iterator[str]:
    server = _serve(tmp_path, "mlflow-artifacts:/", f"s3://{bucket.name}/proxied", serve=True)
    yield server.url
    server.stop()


@pytest.fixture
def direct(bucket: Bucket, tmp_path: Path) -> Iterator[str]:
    server = _serve(tmp_path, f"s3://{bucket.name}/direct", "unused", serve=False)
    yield server.url
    server.stop()


def _payload(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(size))
    return path


def test_mlflow_client_multipart_through_the_proxy(
    proxied: str, bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server advertises multipart (its store is S3): MLflow's client uploads in parts."""
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(MiB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * MiB))
    mlflow.set_tracking_uri(proxied)
    payload = _payload(tmp_path, 11 * MiB)
    client = mlflow.MlflowClient()
    run_id = client.create_run("0").info.run_id
    client.log_artifact(run_id, str(payload), "model")
    client.log_text(run_id, "small", "notes.txt")
    keys = bucket.object_keys()
    assert f"proxied/0/{run_id}/artifacts/model/weights.bin" in keys
    assert f"proxied/0/{run_id}/artifacts/notes.txt" in keys
    head = bucket.client.head_object(
        Bucket=bucket.name, Key=f"proxied/0/{run_id}/artifacts/model/weights.bin"
    )
    assert head["ETag"].strip('"').endswith("-3")  # assembled from 3 parts
    local = client.download_artifacts(run_id, "model/weights.bin", str(tmp_path / "down"))
    assert Path(local).read_bytes() == payload.read_bytes()
    assert [f.path for f in client.list_artifacts(run_id)] == ["model", "notes.txt"]


def test_traza_client_multipart_through_the_proxy(
    proxied: str, bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(MiB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * MiB))
    traza.set_tracking_uri(proxied)
    payload = _payload(tmp_path, 6 * MiB)
    with traza.start_run() as run:
        traza.log_artifact(str(payload))
    key = f"proxied/0/{run.info.run_id}/artifacts/weights.bin"
    head = bucket.client.head_object(Bucket=bucket.name, Key=key)
    assert head["ETag"].strip('"').endswith("-2")
    back = traza.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="weights.bin")
    assert Path(back).read_bytes() == payload.read_bytes()


@pytest.mark.parametrize("client_library", ["mlflow", "traza"])
def test_clients_write_to_s3_directly(
    direct: str, bucket: Bucket, tmp_path: Path, client_library: str
) -> None:
    """With --no-serve-artifacts and an s3:// root, clients talk to the bucket themselves."""
    library = mlflow if client_library == "mlflow" else traza
    library.set_tracking_uri(direct)
    with library.start_run() as run:
        library.log_text("straight to the bucket", "direct.txt")
    assert run.info.artifact_uri.startswith(f"s3://{bucket.name}/direct/0/")
    assert f"direct/0/{run.info.run_id}/artifacts/direct.txt" in bucket.object_keys()
    text = traza.artifacts.load_text(f"{run.info.artifact_uri}/direct.txt")
    assert text == "straight to the bucket"
    assert mlflow.artifacts.load_text(f"{run.info.artifact_uri}/direct.txt") == text


def _post(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_presigned_urls_from_an_s3_store(direct: str, tmp_path: Path) -> None:
    import urllib.request

    traza.set_tracking_uri(direct)
    with traza.start_run() as run:
        traza.log_text("signed", "signed.txt")
    api = f"{direct}/api/2.0/mlflow/artifacts"
    status, reply = _post(
        f"{api}/presigned-download-url", {"run_id": run.info.run_id, "path": "signed.txt"}
    )
    assert status == 200, reply
    with urllib.request.urlopen(str(reply["presigned_url"])) as response:
        assert response.read() == b"signed"

    status, reply = _post(
        f"{api}/presigned-upload-url", {"run_id": run.info.run_id, "path": "up.txt"}
    )
    assert status == 200, reply
    upload = urllib.request.Request(
        str(reply["presigned_url"]),
        b"uploaded",
        {"Content-Type": "application/octet-stream"},
        method="PUT",
    )
    urllib.request.urlopen(upload).close()
    assert traza.artifacts.load_text(f"{run.info.artifact_uri}/up.txt") == "uploaded"


def test_presigned_urls_refused_for_local_artifacts(tmp_path: Path) -> None:
    server = _serve(tmp_path, "mlflow-artifacts:/", str(tmp_path / "dest"), serve=True)
    try:
        traza.set_tracking_uri(server.url)
        with traza.start_run() as run:
            traza.log_text("x", "x.txt")
        status, reply = _post(
            f"{server.url}/api/2.0/mlflow/artifacts/presigned-download-url",
            {"run_id": run.info.run_id, "path": "x.txt"},
        )
    finally:
        server.stop()
    assert status == 501 and reply["error_code"] == "NOT_IMPLEMENTED", reply
