"""The server's own surface: the command and its configuration, and endpoints the clients'
flows do not reach (sampled histories, the legacy log-model call, dataset summaries, listings).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import traza
from conftest import served_store
from traza.entities import Metric
from traza.store.uri import open_store


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            raw = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(raw) if "json" in kind else raw.decode()
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    backend = open_store(str(tmp_path / "store"))
    with served_store(backend, tmp_path / "dest") as url:
        yield url, backend


def test_sampled_history_keeps_both_ends(served: tuple[str, Any]) -> None:
    url, backend = served
    run_ids = []
    for _ in range(2):
        run_id = backend.create_run("0", "u", 1, [], None).info.run_id
        points = [Metric("loss", float(s), 1, s) for s in range(1000)]
        backend.log_batch(run_id, points)
        run_ids.append(run_id)
    query = "&".join(f"run_ids={r}" for r in run_ids)
    api = f"{url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"
    status, reply = _call(f"{api}?{query}&metric_key=loss&max_results=11")
    assert status == 200
    by_run: dict[str, list[int]] = {}
    for m in reply["metrics"]:
        by_run.setdefault(m["run_id"], []).append(m["step"])
    assert by_run == {r: [round(i * 99.9) for i in range(11)] for r in run_ids}
    status, reply = _call(f"{api}?{query}&metric_key=loss&start_step=10&end_step=20")
    assert {m["step"] for m in reply["metrics"]} == set(range(10, 21))
    status, reply = _call(f"{api}?{query}&metric_key=loss&max_results=0")
    assert status == 400 and reply["error_code"] == "INVALID_PARAMETER_VALUE"


def test_legacy_log_model_appends_history(served: tuple[str, Any]) -> None:
    url, backend = served
    run_id = backend.create_run("0", "u", 1, [], None).info.run_id
    api = f"{url}/api/2.0/mlflow/runs/log-model"
    for flavor in ("sklearn", "pyfunc"):
        model = json.dumps(
            {
                "artifact_path": "model",
                "run_id": run_id,
                "utc_time_created": "2026-11-23 10:00:00.000000",
                "flavors": {flavor: {}},
            }
        )
        assert _call(api, "POST", {"run_id": run_id, "model_json": model})[0] == 200
    history = json.loads(backend.get_run(run_id).data.tags["mlflow.log-model.history"])
    assert [list(m["flavors"]) for m in history] == [["sklearn"], ["pyfunc"]]
    status, reply = _call(api, "POST", {"run_id": run_id, "model_json": "{not json"})
    assert status == 400 and reply["error_code"] == "INVALID_PARAMETER_VALUE"


def test_dataset_summaries(served: tuple[str, Any]) -> None:
    url, _ = served
    traza.set_tracking_uri(url)
    import pandas as pd

    dataset = traza.data.from_pandas(pd.DataFrame({"x": [1, 2]}), name="train-set")
    with traza.start_run():
        traza.log_input(dataset, context="training")
    status, reply = _call(
        f"{url}/ajax-api/2.0/mlflow/experiments/search-datasets", "POST", {"experiment_ids": ["0"]}
    )
    assert status == 200
    assert reply["dataset_summaries"] == [
        {
            "experiment_id": "0",
            "name": "train-set",
            "digest": dataset.digest,
            "context": "training",
        }
    ]


def test_run_artifact_listing_through_the_api(served: tuple[str, Any]) -> None:
    url, _ = served
    traza.set_tracking_uri(url)
    with traza.start_run() as run:
        traza.log_text("a", "top.txt")
        traza.log_text("b", "sub/inner.txt")
    api = f"{url}/api/2.0/mlflow/artifacts/list?run_id={run.info.run_id}"
    status, reply = _call(api)
    assert status == 200 and reply["root_uri"] == run.info.artifact_uri
    assert [(f["path"], f["is_dir"]) for f in reply["files"]] == [
        ("sub", True),
        ("top.txt", False),
    ]
    status, reply = _call(f"{api}&path=sub")
    assert reply["files"] == [{"path": "sub/inner.txt", "is_dir": False, "file_size": 1}]


def test_health_version_server_info_and_registry(served: tuple[str, Any]) -> None:
    url, _ = served
    assert _call(f"{url}/health") == (200, "OK")
    assert _call(f"{url}/version") == (200, traza.__version__)
    status, info = _call(f"{url}/api/3.0/mlflow/server-info")
    assert status == 200
    assert info["store_type"] == "SqlStore" and info["multipart_uploads_enabled"] is False
    status, reply = _call(f"{url}/api/2.0/mlflow/registered-models/get?name=m")
    assert status == 404 and reply["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "Registered Model with name=m not found" in reply["message"]


# -- the command -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(
    args: list[str], env: dict[str, str], cwd: Path
) -> tuple[subprocess.Popen[bytes], float]:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "traza", *args], env=env, cwd=cwd, stderr=subprocess.PIPE
    )
    return process, started


def _ready(url: str, process: subprocess.Popen[bytes], started: float) -> float:
    while time.monotonic() - started < 20:
        assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return time.monotonic() - started
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"{url} never became ready")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.communicate(timeout=20)


def test_seeds_command_serves_the_mlflow_client(tmp_path: Path) -> None:
    """``traza server`` with the seeds' flags; the artifacts land in ./mlruns as asked."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    args = ["server", "--backend-store-uri", "sqlite:///mlflow.db", "--default-artifact-root"]
    args += ["./mlruns", "--host", "127.0.0.1", "--port", str(port)]
    process, started = _start(args, env, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        _ready(url, process, started)
        import mlflow

        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("seeds")
        with mlflow.start_run() as run:
            mlflow.log_param("n_jobs", 2)
            mlflow.log_text("hello", "hello.txt")
    finally:
        _stop(process)
    assert (tmp_path / "mlflow.db").is_file()
    assert run.info.artifact_uri.startswith((tmp_path / "mlruns").as_uri())
    (logged,) = (tmp_path / "mlruns").rglob("hello.txt")
    assert logged.read_text() == "hello"
    backend = open_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert backend.get_run(run.info.run_id).data.params == {"n_jobs": "2"}


def test_configured_by_environment_variables(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    env |= {
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'env.db'}",
        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "proxied"),
        "MLFLOW_PORT": "1",  # the TRAZA_ twin wins over it
        "TRAZA_PORT": str(port),
        "MLFLOW_STATIC_PREFIX": "/tracking",
    }
    process, started = _start(["server"], env, tmp_path)
    url = f"http://127.0.0.1:{port}/tracking"
    try:
        _ready(url, process, started)
        status, reply = _call(
            f"{url}/api/2.0/mlflow/experiments/create", "POST", {"name": "from-env"}
        )
        assert status == 200
        status, reply = _call(f"{url}/api/2.0/mlflow/experiments/get?experiment_id=0")
        assert reply["experiment"]["artifact_location"] == "mlflow-artifacts:/0"
        assert _call(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get")[0] == 404
    finally:
        _stop(process)
    assert (tmp_path / "env.db").is_file()


def test_ui_serves_the_local_store(tmp_path: Path) -> None:
    traza.set_tracking_uri(str(tmp_path / "mlruns"))
    with traza.start_run(run_name="local"):
        traza.log_metric("m", 1.0)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    process, started = _start(["ui", "--port", str(port)], env, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        _ready(url, process, started)
        status, page = _call(url)
        assert status == 200 and "Traza" in page
        status, reply = _call(
            f"{url}/api/2.0/mlflow/runs/search", "POST", {"experiment_ids": ["0"]}
        )
        assert [r["info"]["run_name"] for r in reply["runs"]] == ["local"]
    finally:
        _stop(process)


def test_refuses_an_mlflow_database_clearly(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "mlflow.db")
    conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
    conn.commit()
    conn.close()
    done = subprocess.run(
        [sys.executable, "-m", "traza", "server", "--backend-store-uri", "sqlite:///mlflow.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "traza import" in done.stderr and "Traceback" not in done.stderr
