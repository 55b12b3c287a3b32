"""The real `mlflow` client's model registry against a live `traza server`, SQLite, PostgreSQL.

One server per backend serves the module; each test names its models uniquely, so tests share
no state. Values are checked as MLflow's client reads them back from Traza's answers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pytest
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

from .live import Live, live_backend


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with live_backend(request.param, tmp_path_factory.mktemp(f"registry-{request.param}")) as live:
        yield live


@pytest.fixture
def client(
    live: Live, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[mlflow.MlflowClient]:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live.url)
    mlflow.set_tracking_uri(live.url)
    mlflow.set_registry_uri(live.url)
    yield mlflow.MlflowClient(tracking_uri=live.url, registry_uri=live.url)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_code(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(MlflowException) as e:
        call(*args, **kwargs)  # type: ignore[operator]
    return str(e.value.error_code)


def test_registered_model_lifecycle(client: mlflow.MlflowClient) -> None:
    name = unique("clf")
    created = client.create_registered_model(name, tags={"team": "vision"}, description="first")
    assert isinstance(created, RegisteredModel)
    assert (created.name, created.tags, created.description) == (name, {"team": "vision"}, "first")
    assert created.creation_timestamp > 0 and created.latest_versions == []

    got = client.get_registered_model(name)
    assert (got.name, got.tags, got.description, got.aliases) == (
        name,
        {"team": "vision"},
        "first",
        {},
    )
    assert client.update_registered_model(name, description="second").description == "second"
    client.set_registered_model_tag(name, "owner", "ana")
    client.delete_registered_model_tag(name, "team")
    assert client.get_registered_model(name).tags == {"owner": "ana"}

    renamed = unique("renamed")
    client.rename_registered_model(name, renamed)  # MLflow's client returns None here
    assert error_code(client.get_registered_model, name) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(renamed).tags == {"owner": "ana"}

    assert error_code(client.create_registered_model, renamed) == "RESOURCE_ALREADY_EXISTS"
    client.delete_registered_model(renamed)
    assert error_code(client.get_registered_model, renamed) == "RESOURCE_DOES_NOT_EXIST"


def test_search_registered_models(client: mlflow.MlflowClient) -> None:
    prefix = unique("search")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        client.create_registered_model(name, tags={"parity": "even" if i % 2 == 0 else "odd"})
    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'")
    assert [m.name for m in found] == names
    odd = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%' AND tags.parity = 'odd'",
        order_by=["name DESC"],
    )
    assert [m.name for m in odd] == [names[3], names[1]]

    first = client.search_registered_models(
        filter_string=f"name ILIKE '{prefix.upper()}-%'", max_results=3
    )
    assert [m.name for m in first] == names[:3] and first.token
    rest = client.search_registered_models(
        filter_string=f"name ILIKE '{prefix.upper()}-%'", max_results=3, page_token=first.token
    )
    assert [m.name for m in rest] == names[3:] and not rest.token
    every = mlflow.search_registered_models(filter_string=f"name LIKE '{prefix}%'")
    assert [m.name for m in every] == names
    assert error_code(client.search_registered_models, "metrics.x > 1") == (
        "INVALID_PARAMETER_VALUE"
    )


@pytest.mark.filterwarnings("ignore:.*Model registry stages.*:FutureWarning")
def test_versions_aliases_stages_and_tags(client: mlflow.MlflowClient) -> None:
    name = unique("versions")
    client.create_registered_model(name)
    run_id = "a" * 32
    made = [
        client.create_model_version(
            name, f"s3://bucket/{name}/{i}", run_id=run_id, tags={"i": str(i)}, description=f"v{i}"
        )
        for i in range(1, 4)
    ]
    assert all(isinstance(v, ModelVersion) for v in made)
    assert [v.version for v in made] == ["1", "2", "3"]
    assert [(v.status, v.current_stage, v.run_id) for v in made] == [("READY", "None", run_id)] * 3
    assert made[0].tags == {"i": "1"} and made[0].description == "v1"

    v2 = client.get_model_version(name, "2")
    assert (v2.source, v2.tags, v2.description) == (f"s3://bucket/{name}/2", {"i": "2"}, "v2")
    assert client.get_model_version_download_uri(name, "2") == f"s3://bucket/{name}/2"

    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "champion", "2")  # moves
    client.set_registered_model_alias(name, "challenger", "3")
    by_alias = client.get_model_version_by_alias(name, "champion")
    assert (by_alias.version, by_alias.aliases) == ("2", ["champion"])
    assert client.get_registered_model(name).aliases == {"champion": "2", "challenger": "3"}
    assert error_code(client.set_registered_model_alias, name, "latest", "1") == (
        "INVALID_PARAMETER_VALUE"
    )
    client.delete_registered_model_alias(name, "challenger")
    assert client.get_registered_model(name).aliases == {"champion": "2"}

    client.transition_model_version_stage(name, "1", "Production")
    moved = client.transition_model_version_stage(
        name, "3", "production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    assert client.get_model_version(name, "1").current_stage == "Archived"
    latest = client.get_latest_versions(name)
    assert sorted((v.version, v.current_stage) for v in latest) == [
        ("1", "Archived"),
        ("2", "None"),
        ("3", "Production"),
    ]
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["3"]

    client.set_model_version_tag(name, "1", "k", "v")
    client.delete_model_version_tag(name, "1", "i")
    assert client.get_model_version(name, "1").tags == {"k": "v"}
    assert client.update_model_version(name, "1", description="new").description == "new"

    found = client.search_model_versions(f"name = '{name}' AND version_number >= 2")
    assert sorted(v.version for v in found) == ["2", "3"]
    by_run = client.search_model_versions(f"run_id IN ('{run_id}') AND name = '{name}'")
    assert len(by_run) == 3
    tagged = mlflow.search_model_versions(filter_string=f"name = '{name}' AND tags.k = 'v'")
    assert [v.version for v in tagged] == ["1"]
    ordered = client.search_model_versions(f"name = '{name}'", order_by=["version_number ASC"])
    assert [v.version for v in ordered] == ["1", "2", "3"]

    client.delete_model_version(name, "2")
    assert error_code(client.get_model_version, name, "2") == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(name).aliases == {}  # the alias went with its version
    assert error_code(client.get_model_version_by_alias, name, "champion") == (
        "INVALID_PARAMETER_VALUE"
    )
    assert client.create_model_version(name, "s3://bucket/next").version == "4"
    client.delete_registered_model(name)
    assert client.search_model_versions(f"name = '{name}'") == []


def test_register_logged_model_and_load_it(client: mlflow.MlflowClient) -> None:
    experiment_id = client.create_experiment(unique("registry-models"))
    name = unique("regression")
    X = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]])
    y = X @ np.array([1.5, -2.0]) + 0.25
    model = LinearRegression().fit(X, y)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, pip_requirements=["scikit-learn"]
        )
    assert str(info.registered_model_version) == "1"  # MLflow gives the string
    first = client.get_model_version(name, "1")
    assert first.run_id == run.info.run_id
    uri = client.get_model_version_download_uri(name, "1")
    assert uri == mlflow.get_logged_model(info.model_id).artifact_location

    # runs:/ naming the logged model (MLflow 3): the client finds it, the server links it.
    second = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert (second.version, second.run_id) == ("2", run.info.run_id)
    assert client.get_model_version_download_uri(name, "2") == uri
    registered = json.loads(mlflow.get_logged_model(info.model_id).tags["mlflow.modelVersions"])
    assert {"name": name, "version": 1} in registered
    assert {"name": name, "version": 2} in registered

    client.set_registered_model_alias(name, "champion", "2")
    expected = model.predict(X)
    for model_uri in (f"models:/{name}/1", f"models:/{name}@champion", f"models:/{name}/latest"):
        loaded = mlflow.pyfunc.load_model(model_uri)
        np.testing.assert_allclose(loaded.predict(X), expected)
