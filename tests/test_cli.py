"""The ``traza`` command, driven through click's CliRunner against a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import traza as mlflow
from traza.cli import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and mlflow.__version__ in result.output


def test_experiment_lifecycle() -> None:
    created = run("experiments", "create", "-n", "cli-exp")
    assert created.exit_code == 0, created.output
    experiment_id = created.output.strip().rsplit(" ", 1)[-1]
    listed = run("experiments", "list")
    assert "cli-exp" in listed.output and experiment_id in listed.output
    assert run("experiments", "rename", "-x", experiment_id, "--new-name", "renamed").exit_code == 0
    data = json.loads(run("experiments", "list", "--json").output)
    assert {e["name"] for e in data} == {"Default", "renamed"}
    assert run("experiments", "delete", "-x", experiment_id).exit_code == 0
    assert "renamed" not in run("experiments", "list").output
    assert "renamed" in run("experiments", "list", "--view", "deleted").output
    assert run("experiments", "restore", "-x", experiment_id).exit_code == 0
    assert mlflow.get_experiment(experiment_id).lifecycle_stage == "active"


def test_errors_are_clean() -> None:
    result = run("experiments", "create", "-n", "Default")
    assert result.exit_code == 1
    assert "Error: Experiment 'Default' already exists" in result.output, result.output
    # A sentence, not MLflow's REST code ("Error: RESOURCE_ALREADY_EXISTS: ...").
    assert "RESOURCE_ALREADY_EXISTS" not in result.output and "Traceback" not in result.output
    result = run("runs", "list", "--filter", "metrics.x <")
    assert result.exit_code == 1 and "Invalid filter" in result.output
    result = run("runs", "describe", "--run-id", "0" * 32)
    assert result.exit_code == 1 and "not found" in result.output


@pytest.fixture
def logged() -> dict[str, str]:
    mlflow.set_experiment("cli-runs")
    ids = {}
    for name, acc in [("low", 0.2), ("high", 0.9)]:
        with mlflow.start_run(run_name=name) as r:
            mlflow.log_param("model", "rf")
            mlflow.log_metric("acc", acc)
        ids[name] = r.info.run_id
    return ids


def test_runs_list_filter_order_json(logged: dict[str, str]) -> None:
    table = run("runs", "list", "-n", "cli-runs", "--order-by", "metrics.acc DESC")
    lines = table.output.splitlines()
    assert lines[0].split()[:5] == ["Run", "ID", "Name", "Status", "Started"]
    assert logged["high"] in lines[2] and logged["low"] in lines[3]
    data = json.loads(
        run("runs", "list", "-n", "cli-runs", "--filter", "metrics.acc > 0.5", "--json").output
    )
    assert [r["info"]["run_id"] for r in data] == [logged["high"]]
    assert data[0]["data"]["metrics"] == {"acc": 0.9}
    missing = run("runs", "list", "-n", "nope")
    assert missing.exit_code == 1 and "No experiment named 'nope'" in missing.output


def test_runs_describe_delete_restore(logged: dict[str, str]) -> None:
    run_id = logged["low"]
    described = run("runs", "describe", "--run-id", run_id)
    assert "Params" in described.output and "acc" in described.output and "0.2" in described.output
    as_json = json.loads(run("runs", "describe", "--run-id", run_id, "--json").output)
    assert as_json["data"]["params"] == {"model": "rf"}
    assert run("runs", "delete", "--run-id", run_id).exit_code == 0
    assert run_id not in run("runs", "list", "-n", "cli-runs").output
    assert run_id in run("runs", "list", "-n", "cli-runs", "--view", "deleted").output
    assert run("runs", "restore", "--run-id", run_id).exit_code == 0
    assert mlflow.get_run(run_id).info.lifecycle_stage == "active"


def test_tracking_uri_option(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'other.db'}"
    assert run("--tracking-uri", uri, "experiments", "create", "-n", "elsewhere").exit_code == 0
    assert "elsewhere" in run("--tracking-uri", uri, "experiments", "list").output
    assert "elsewhere" not in run("experiments", "list").output
