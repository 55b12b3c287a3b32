"""Where MLflow's own server tests found ``traza server`` not yet a drop-in (issue 15, items
1-6): run artifact layout, model inputs, the ``mlflow.modelVersions`` tag, relative artifact
locations, ``search-datasets`` limits and which bad field a request is refused for.

One live server (SQLite, artifacts proxied) serves the module; the real ``mlflow`` client and
raw ``http.client`` requests talk to it.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest

from .live import Live, live_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("dropin")
    with live_server(f"sqlite:///{root / 'tracking.db'}", root) as served:
        yield served


@pytest.fixture
def client(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[mlflow.MlflowClient]:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live.url)
    mlflow.set_tracking_uri(live.url)
    yield mlflow.MlflowClient(live.url)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def post(url: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON with ``http.client`` (nothing rewritten on the way)."""
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname or "", parsed.port)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


# -- item 1: run artifact layout ---------------------------------------------------------------
def test_runs_under_a_server_root_use_mlflows_layout(
    live: Live, client: mlflow.MlflowClient, tmp_path: Path
) -> None:
    experiment_id = client.create_experiment(unique("layout"))
    run_id = client.create_run(experiment_id).info.run_id
    artifact_uri = client.get_run(run_id).info.artifact_uri
    assert artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    (tmp_path / "notes.txt").write_text("hello")
    client.log_artifact(run_id, str(tmp_path / "notes.txt"), "docs")
    landed = live.artifacts / experiment_id / run_id / "artifacts" / "docs" / "notes.txt"
    assert landed.read_text() == "hello"
    assert [f.path for f in client.list_artifacts(run_id)] == ["docs"]
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/docs/notes.txt") == "hello"


def test_a_default_artifact_root_folder_uses_mlflows_layout(tmp_path: Path) -> None:
    from traza.store.uri import open_store

    root = tmp_path / "shared-with-mlflow"
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}", artifact_root=root.as_uri())
    try:
        experiment_id = store.create_experiment("e")
        run = store.create_run(experiment_id, "u", 1, [], "r")
        want = f"{root.as_uri()}/{experiment_id}/{run.info.run_id}/artifacts"
        assert run.info.artifact_uri == want
        assert store.get_run(run.info.run_id).info.artifact_uri == want
        # Runs in the default experiment and under a location the user chose alike.
        chosen = store.create_experiment("chosen", artifact_location=str(tmp_path / "mine"))
        other = store.create_run(chosen, "u", 1, [], "r")
        assert other.info.artifact_uri == f"{tmp_path / 'mine'}/{other.info.run_id}/artifacts"
    finally:
        store.close()


def test_the_local_store_keeps_its_own_layout(tmp_path: Path) -> None:
    from traza.store.uri import open_store

    store = open_store(str(tmp_path / "mlruns"))
    try:
        experiment_id = store.create_experiment("e")
        run = store.create_run(experiment_id, "u", 1, [], "r")
        folder = tmp_path / "mlruns" / "artifacts" / experiment_id / run.info.run_id
        assert run.info.artifact_uri == folder.resolve().as_uri()
    finally:
        store.close()


# -- item 2: model inputs ---------------------------------------------------------------------
def test_model_inputs_are_kept_and_returned(client: mlflow.MlflowClient) -> None:
    from mlflow.entities import LoggedModelInput

    experiment_id = client.create_experiment(unique("inputs"))
    run_id = client.create_run(experiment_id).info.run_id
    model = client.create_logged_model(experiment_id=experiment_id)
    client.log_inputs(run_id, models=[LoggedModelInput(model.model_id)])
    inputs = client.get_run(run_id).inputs
    assert [m.model_id for m in inputs.model_inputs] == [model.model_id]
    assert inputs.dataset_inputs == []
    found = client.search_runs([experiment_id])
    assert [m.model_id for m in found[0].inputs.model_inputs] == [model.model_id]


def test_model_inputs_need_a_model_id(live: Live, ids: dict[str, str]) -> None:
    body = {"run_id": ids[RUN], "models": [{"model_id": ""}]}
    status, reply = post(live.url, "/api/2.0/mlflow/runs/log-inputs", body)
    assert status == 400
    assert "models[0].model_id" in reply["message"]


# -- item 3: the mlflow.modelVersions tag ------------------------------------------------------
def test_model_versions_tag_holds_integer_versions(client: mlflow.MlflowClient) -> None:
    name = unique("model")
    client.create_registered_model(name)
    model = client.create_logged_model(experiment_id=client.create_experiment(unique("mv")))
    client.create_model_version(name, source=model.artifact_location, model_id=model.model_id)
    tag = client.get_logged_model(model.model_id).tags["mlflow.modelVersions"]
    assert tag == f'[{{"name": "{name}", "version": 1}}]'
    client.create_model_version(name, source=model.artifact_location, model_id=model.model_id)
    tag = client.get_logged_model(model.model_id).tags["mlflow.modelVersions"]
    assert json.loads(tag) == [{"name": name, "version": 1}, {"name": name, "version": 2}]


# -- item 4: a relative artifact_location ------------------------------------------------------
def test_relative_artifact_location_is_an_absolute_path(
    client: mlflow.MlflowClient, isolated: Path
) -> None:
    experiment_id = client.create_experiment(unique("rel"), artifact_location="my_location")
    location = client.get_experiment(experiment_id).artifact_location
    assert location == str(Path.cwd() / "my_location")
    assert location == str(isolated.resolve() / "my_location")


# -- item 5: search-datasets -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "SearchDatasets request must specify at least one experiment_id."),
        ({"experiment_ids": []}, "SearchDatasets request must specify at least one experiment_id."),
        (
            {"experiment_ids": [f"id_{i}" for i in range(1000)]},
            "SearchDatasets request cannot specify more than 20 experiment_ids. Received 1000",
        ),
        (
            {"experiment_ids": [str(i) for i in range(21)]},
            "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21",
        ),
    ],
)
def test_search_datasets_refuses_no_ids_and_more_than_20(
    live: Live, body: dict[str, Any], message: str
) -> None:
    status, reply = post(live.url, "/ajax-api/2.0/mlflow/experiments/search-datasets", body)
    assert status == 400
    assert reply["error_code"] == "INVALID_PARAMETER_VALUE"
    assert reply["message"].startswith(message)


def test_search_datasets_accepts_20_ids(live: Live, client: mlflow.MlflowClient) -> None:
    experiment_id = client.create_experiment(unique("ds"))
    ids = [experiment_id] + [str(10_000 + i) for i in range(19)]
    status, reply = post(
        live.url, "/ajax-api/2.0/mlflow/experiments/search-datasets", {"experiment_ids": ids}
    )
    assert (status, reply) == (200, {"dataset_summaries": []})


# -- item 6: which bad field a request is refused for ------------------------------------------
RUN = "<run>"
EXPERIMENT = "<experiment>"

#: (endpoint, body, what MLflow's message says); RUN and EXPERIMENT stand for real ids.
VALIDATION_CASES = [
    (
        "runs/log-metric",
        {"run_id": 31, "key": 31, "value": "x"},
        "Invalid value 31 for parameter 'run_id'",
    ),
    (
        "runs/log-metric",
        {"key": 31, "value": "x", "timestamp": 1},
        "Missing value for required parameter 'run_id'",
    ),
    (
        "runs/log-metric",
        {"run_id": RUN, "key": 31, "value": 41, "timestamp": 59, "step": 26},
        "Invalid value 31 for parameter 'key' supplied",
    ),
    (
        "runs/log-metric",
        {"run_id": RUN, "key": 31, "value": "x"},
        "Invalid value 31 for parameter 'key' supplied",
    ),
    (
        "runs/log-metric",
        {"run_id": RUN, "value": 31, "timestamp": 59},
        "Missing value for required parameter 'key'",
    ),
    (
        "runs/log-metric",
        {"run_id": RUN, "key": "k", "value": "x", "timestamp": "y"},
        "Invalid value \"x\" for parameter 'value' supplied",
    ),
    (
        "runs/log-metric",
        {"run_id": RUN, "key": "foo", "value": 31, "timestamp": 59, "step": "foo"},
        "Invalid value \"foo\" for parameter 'step' supplied",
    ),
    (
        "runs/log-metric",
        {"run_id": RUN, "key": "foo", "value": 31, "timestamp": "foo", "step": 41},
        "Invalid value \"foo\" for parameter 'timestamp' supplied",
    ),
    (
        "runs/log-parameter",
        {"run_id": 31, "key": "param", "value": 41},
        "Invalid value 31 for parameter 'run_id' supplied",
    ),
    (
        "runs/log-parameter",
        {"run_id": RUN, "key": 31, "value": 41},
        "Invalid value 31 for parameter 'key' supplied",
    ),
    (
        "runs/log-parameter",
        {"key": 31, "value": 41},
        "Missing value for required parameter 'run_id'",
    ),
    (
        "runs/log-parameter",
        {"run_id": RUN, "key": "k", "value": 41},
        "Invalid value 41 for parameter 'value' supplied",
    ),
    (
        "runs/set-tag",
        {"run_id": 31, "key": "tag", "value": 41},
        "Invalid value 31 for parameter 'run_id' supplied",
    ),
    (
        "runs/set-tag",
        {"run_id": RUN, "key": 31, "value": 41},
        "Invalid value 31 for parameter 'key' supplied",
    ),
    ("runs/set-tag", {"run_id": RUN, "value": 41}, "Missing value for required parameter 'key'"),
    (
        "runs/set-tag",
        {"run_id": RUN, "key": "param", "value": 41},
        "Invalid value 41 for parameter 'value' supplied",
    ),
    (
        "runs/log-batch",
        {"run_id": 31, "metrics": "foo"},
        "Invalid value 31 for parameter 'run_id' supplied",
    ),
    ("runs/log-batch", {"tags": "foo"}, "Missing value for required parameter 'run_id'"),
    (
        "runs/log-batch",
        {"run_id": RUN, "metrics": "foo"},
        "Invalid value \"foo\" for parameter 'metrics' supplied",
    ),
    (
        "runs/log-batch",
        {"run_id": RUN, "params": "foo"},
        "Invalid value \"foo\" for parameter 'params' supplied",
    ),
    (
        "runs/log-batch",
        {"run_id": RUN, "tags": "foo"},
        "Invalid value \"foo\" for parameter 'tags' supplied",
    ),
    (
        "runs/log-batch",
        {"run_id": RUN, "metrics": [{"key": "mae", "value": 2.5}]},
        "Missing value for required parameter 'metrics[0].timestamp'",
    ),
    (
        "runs/log-batch",
        {"run_id": RUN, "params": [{"key": "a", "value": "1"}, {"value": "2"}]},
        "Missing value for required parameter 'params[1].key'",
    ),
    (
        "runs/create",
        {"experiment_id": 31, "start_time": "x", "tags": "x"},
        "Invalid value 31 for parameter 'experiment_id'",
    ),
    (
        "runs/create",
        {"experiment_id": EXPERIMENT, "start_time": "x", "tags": "x"},
        "Invalid value \"x\" for parameter 'start_time'",
    ),
    (
        "runs/create",
        {"experiment_id": EXPERIMENT, "run_name": 3, "tags": "x"},
        "Invalid value 3 for parameter 'run_name'",
    ),
    ("runs/update", {"run_id": 31, "status": "BOGUS"}, "Invalid value 31 for parameter 'run_id'"),
    (
        "runs/update",
        {"run_id": RUN, "end_time": "x", "status": "BOGUS"},
        "Invalid value \"x\" for parameter 'end_time'",
    ),
    (
        "experiments/create",
        {"name": 123, "artifact_location": 9.0, "tags": "5"},
        "Invalid value 123 for parameter 'name'",
    ),
    ("experiments/create", {"tags": "5"}, "Missing value for required parameter 'name'."),
    (
        "experiments/create",
        {"name": "experiment name", "artifact_location": 9.0, "tags": "5"},
        "Invalid value 9.0 for parameter 'artifact_location'",
    ),
    (
        "experiments/create",
        {"name": "experiment name", "artifact_location": "my_location", "tags": "5"},
        "Invalid value \"5\" for parameter 'tags'",
    ),
    (
        "experiments/set-experiment-tag",
        {"experiment_id": 31, "key": 31, "value": 31},
        "Invalid value 31 for parameter 'experiment_id'",
    ),
    (
        "experiments/set-experiment-tag",
        {"experiment_id": EXPERIMENT, "key": 31, "value": 31},
        "Invalid value 31 for parameter 'key'",
    ),
    (
        "experiments/set-experiment-tag",
        {"experiment_id": EXPERIMENT, "key": "k", "value": 31},
        "Invalid value 31 for parameter 'value'",
    ),
]


@pytest.fixture(scope="module")
def ids(live: Live) -> dict[str, str]:
    _, reply = post(live.url, "/api/2.0/mlflow/experiments/create", {"name": unique("v")})
    experiment_id = reply["experiment_id"]
    _, reply = post(live.url, "/api/2.0/mlflow/runs/create", {"experiment_id": experiment_id})
    return {RUN: reply["run"]["info"]["run_id"], EXPERIMENT: experiment_id}


@pytest.mark.parametrize(
    ("endpoint", "body", "message"),
    VALIDATION_CASES,
    ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(VALIDATION_CASES)],
)
def test_a_request_is_refused_for_the_field_mlflow_names(
    live: Live, ids: dict[str, str], endpoint: str, body: dict[str, Any], message: str
) -> None:
    sent = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    status, reply = post(live.url, f"/api/2.0/mlflow/{endpoint}", sent)
    assert status == 400
    assert reply["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in reply["message"]
