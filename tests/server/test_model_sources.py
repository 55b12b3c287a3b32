"""Model-version sources over raw HTTP: only what the named run or logged model holds.

Each refused request is one an attacker would send to turn the registry into a file reader (a
local folder, another run's files, ``..`` in any encoding, a host the server would fetch from);
each answers 400 ``INVALID_PARAMETER_VALUE`` and registers nothing.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .live import Live, live_server

API = "/api/2.0/mlflow"


def _call(live: Live, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    url = urllib.parse.urlsplit(live.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        data = json.dumps(body).encode()
        conn.request(method, path, data, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("model-sources")
    with live_server(f"sqlite:///{root / 'tracking.db'}", root) as served:
        yield served


@pytest.fixture(scope="module")
def runs(live: Live) -> tuple[str, str]:
    """Two runs of one experiment: the request's own, and another."""
    status, reply = _call(live, "POST", f"{API}/experiments/create", {"name": "sources"})
    assert status == 200, reply
    experiment_id = reply["experiment_id"]
    ids = []
    for _ in range(2):
        status, reply = _call(live, "POST", f"{API}/runs/create", {"experiment_id": experiment_id})
        assert status == 200, reply
        ids.append(reply["run"]["info"]["run_id"])
    return ids[0], ids[1]


def _register(live: Live, source: str, **fields: str) -> tuple[int, dict[str, Any]]:
    _call(live, "POST", f"{API}/registered-models/create", {"name": "victim"})
    return _call(
        live,
        "POST",
        f"{API}/model-versions/create",
        {"name": "victim", "source": source, **fields},
    )


def _versions(live: Live) -> list[dict[str, Any]]:
    status, reply = _call(live, "POST", f"{API}/model-versions/search", {})
    if status != 200:  # GET is what MLflow's client uses
        url = urllib.parse.urlsplit(live.url)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        conn.request("GET", f"{API}/model-versions/search")
        reply = json.loads(conn.getresponse().read())
        conn.close()
    return list(reply.get("model_versions", []))


def _artifact_uri(live: Live, run_id: str) -> str:
    url = urllib.parse.urlsplit(live.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    conn.request("GET", f"{API}/runs/get?run_id={run_id}")
    reply = json.loads(conn.getresponse().read())
    conn.close()
    return str(reply["run"]["info"]["artifact_uri"])


@pytest.mark.parametrize(
    ("source", "with_run"),
    [
        ("/etc", False),
        ("/etc", True),  # a local folder outside the run's artifacts, even with its run id
        ("file:///etc/passwd", True),
        ("file:///tmp/x/../../etc", True),
        ("mlflow-artifacts:/%2e%2e/%2e%2e/etc", True),
        ("mlflow-artifacts:/%252e%252e/etc", True),
        ("mlflow-artifacts:/0/other-run/artifacts/model", True),
        ("s3://bucket/models/../../other", True),
        ("s3://bucket/models/%2e%2e/other", True),
        ("http://169.254.169.254/latest/meta-data", True),
        ("http://evil.example/api/2.0/mlflow-artifacts/artifacts/x", True),
        ("runs://host/RUN/model", True),
        ("models://host/m/1", True),
    ],
)
def test_unsafe_sources_are_refused(
    live: Live, runs: tuple[str, str], source: str, with_run: bool
) -> None:
    before = len(_versions(live))
    fields = {"run_id": runs[0]} if with_run else {}
    status, reply = _register(live, source, **fields)
    assert status == 400, reply
    assert reply["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "source" in reply["message"]
    assert len(_versions(live)) == before


def test_another_runs_files_are_refused(live: Live, runs: tuple[str, str]) -> None:
    mine, other = runs
    for source in (f"runs:/{other}/model", f"{_artifact_uri(live, other)}/model"):
        status, reply = _register(live, source, run_id=mine)
        assert status == 400, (source, reply)
    # A source under the run's own root with no run id to vouch for it is refused too.
    status, _ = _register(live, f"{_artifact_uri(live, mine)}/model")
    assert status == 400
    # An unknown run id is the same refusal, not a 404 that would confirm the guess.
    status, reply = _register(live, "runs:/" + "0" * 32 + "/model", run_id="0" * 32)
    assert status == 400, reply


def test_the_runs_own_files_are_registered(live: Live, runs: tuple[str, str]) -> None:
    mine = runs[0]
    for source in (f"runs:/{mine}/model", f"{_artifact_uri(live, mine)}/model", "s3://b/m"):
        status, reply = _register(live, source, run_id=mine)
        assert status == 200, (source, reply)
        assert reply["model_version"]["source"] == source
        assert reply["model_version"]["run_id"] == mine


def test_local_run_folder_is_accepted_only_inside(tmp_path: Path) -> None:
    """With a local artifact root, a path inside the run's folder registers; its parent not."""
    root = tmp_path / "root"
    with live_server(f"sqlite:///{tmp_path / 't.db'}", tmp_path) as live:
        status, reply = _call(
            live,
            "POST",
            f"{API}/experiments/create",
            {"name": "local", "artifact_location": root.as_uri()},
        )
        assert status == 200, reply
        status, reply = _call(
            live, "POST", f"{API}/runs/create", {"experiment_id": reply["experiment_id"]}
        )
        run_id = reply["run"]["info"]["run_id"]
        folder = _artifact_uri(live, run_id)
        ok, _ = _register(live, f"{folder}/model", run_id=run_id)
        parent, _ = _register(live, str(root), run_id=run_id)
        sneaky, _ = _register(live, f"{folder}/model/../../..", run_id=run_id)
    assert (ok, parent, sneaky) == (200, 400, 400)


def test_operator_regex(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX", r"^s3://models/")
    with live_server(f"sqlite:///{tmp_path / 't.db'}", tmp_path) as live:
        refused, reply = _register(live, "s3://elsewhere/m")
        accepted, _ = _register(live, "s3://models/m")
    assert (refused, accepted) == (400, 200)
    assert "^s3://models/" in reply["message"]
