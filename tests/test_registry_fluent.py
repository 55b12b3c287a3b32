"""The registry through ``TrazaClient`` and the fluent API: MLflow's names, register_model URIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import traza
from traza.entities import LoggedModelOutput, ModelVersion
from traza.exceptions import TrazaException


@pytest.fixture
def client(tmp_path: Path) -> traza.MlflowClient:
    traza.set_tracking_uri(str(tmp_path / "mlruns"))
    return traza.MlflowClient()


def test_register_run_artifacts(client: traza.MlflowClient) -> None:
    with traza.start_run() as run:
        pass
    version = traza.register_model(f"runs:/{run.info.run_id}/model", "clf", tags={"k": 1})
    assert isinstance(version, ModelVersion)
    assert (version.name, version.version, version.run_id) == ("clf", "1", run.info.run_id)
    assert version.source == f"{run.info.artifact_uri}/model"
    assert version.tags == {"k": "1"} and version.model_id is None
    # The model exists now: a second registration adds a version.
    again = traza.register_model(f"runs:/{run.info.run_id}/model", "clf")
    assert again.version == "2"
    assert client.get_model_version_download_uri("clf", 2) == f"{run.info.artifact_uri}/model"


def test_register_logged_model_of_a_run(client: traza.MlflowClient) -> None:
    with traza.start_run() as run:
        experiment_id = run.info.experiment_id
        logged = client.create_logged_model(experiment_id, name="model", source_run_id=None)
        client.store.log_outputs(run.info.run_id, [LoggedModelOutput(logged.model_id, 0)])
        other = client.create_logged_model(experiment_id, name="other")
    by_run = traza.register_model(f"runs:/{run.info.run_id}/model", "clf")
    assert (by_run.source, by_run.model_id) == (logged.artifact_location, logged.model_id)
    assert by_run.run_id == run.info.run_id
    assert client.get_model_version_download_uri("clf", "1") == logged.artifact_location
    tag = client.get_logged_model(logged.model_id).tags["mlflow.modelVersions"]
    assert json.loads(tag) == [{"name": "clf", "version": 1}]

    by_id = traza.register_model(f"models:/{other.model_id}", "clf")
    assert (by_id.source, by_id.model_id, by_id.run_id) == (
        other.artifact_location,
        other.model_id,
        None,
    )


def test_register_refuses_unknown_models(client: traza.MlflowClient) -> None:
    with pytest.raises(TrazaException) as e:
        traza.register_model("models:/m-" + "0" * 32, "clf")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_client_registry_methods(client: traza.MlflowClient) -> None:
    model = client.create_registered_model("m", tags={"team": "a"}, description="d")
    assert (model.name, model.tags, model.description) == ("m", {"team": "a"}, "d")
    client.create_model_version("m", "s3://b/1", tags={"t": 1}, await_creation_for=0)
    client.create_model_version("m", "s3://b/2")
    client.set_registered_model_alias("m", "champion", 2)
    assert client.get_model_version_by_alias("m", "champion").source == "s3://b/2"
    with pytest.warns(FutureWarning, match="stages are deprecated"):
        staged = client.transition_model_version_stage("m", 1, "Production")
    assert staged.current_stage == "Production"
    assert [v.version for v in client.get_latest_versions("m", ["Production"])] == ["1"]
    with pytest.warns(FutureWarning):
        client.set_model_version_tag("m", key="by_stage", value="x", stage="Production")
    client.set_model_version_tag("m", "2", "k", "v")
    assert client.get_model_version("m", "1").tags == {"t": "1", "by_stage": "x"}
    client.delete_model_version_tag("m", "2", "k")
    assert client.get_model_version("m", 2).tags == {}
    with pytest.raises(TrazaException):
        client.set_model_version_tag("m", "1", "k", "v", stage="Production")
    client.set_registered_model_tag("m", "x", 3)
    client.delete_registered_model_tag("m", "team")
    assert client.get_registered_model("m").tags == {"x": "3"}
    assert client.update_model_version("m", 1, "about").description == "about"
    assert client.update_registered_model("m", "new").description == "new"
    assert client.rename_registered_model("m", "n").name == "n"
    assert [m.name for m in client.search_registered_models("name = 'n'")] == ["n"]
    assert [v.version for v in client.search_model_versions("name = 'n'")] == ["2", "1"]
    client.delete_registered_model_alias("n", "champion")
    client.delete_model_version("n", 2)
    client.delete_registered_model("n")
    assert client.search_registered_models() == []


def test_fluent_searches_cross_pages(client: traza.MlflowClient) -> None:
    for i in range(5):
        client.create_registered_model(f"m{i}")
        client.create_model_version(f"m{i}", "s3://b/x")
    assert [m.name for m in traza.search_registered_models()] == [f"m{i}" for i in range(5)]
    assert len(traza.search_registered_models(max_results=2)) == 2
    names = [m.name for m in traza.search_registered_models(filter_string="name LIKE 'm%'")]
    assert names == [f"m{i}" for i in range(5)]
    found = traza.search_model_versions(filter_string="name IN ('m1', 'm3')", order_by=["name"])
    assert [(v.name, v.version) for v in found] == [("m1", "1"), ("m3", "1")]
    assert len(traza.search_model_versions(max_results=3)) == 3
