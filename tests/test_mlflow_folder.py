"""Traza in a folder where MLflow ran (issue 15, item 11): it stops, and prints commands that
work as printed, instead of starting an empty store inside MLflow's folder."""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from traza.cli import main
from traza.client import TrazaClient


def traza(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def printed_commands(output: str) -> list[list[str]]:
    """The ``traza ...`` lines of a message, as argument lists (without ``traza``)."""
    return [shlex.split(line)[1:] for line in output.splitlines() if line.startswith("    traza ")]


def mlflow_run(tracking_uri: str) -> str:
    """A run logged by the real mlflow (a param and an artifact), as a first-time user's."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("salary")
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", "0.5")
        mlflow.log_text("hello", "notes.txt")
    return str(run.info.run_id)


@pytest.fixture(scope="module")
def mlflow3_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder where MLflow 3 ran with its default store: ``mlflow.db`` and ``mlruns/``."""
    import os

    folder = tmp_path_factory.mktemp("mlflow3")
    before = Path.cwd()
    os.chdir(folder)
    try:
        run_id = mlflow_run("sqlite:///mlflow.db")
    finally:
        os.chdir(before)
    assert (folder / "mlruns").is_dir()  # MLflow's artifacts
    return folder, run_id


def test_traza_stops_in_a_folder_where_mlflow3_ran(
    mlflow3_folder: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    folder = tmp_path / "project"
    shutil.copytree(mlflow3_folder[0], folder)
    monkeypatch.chdir(folder)
    for command in (["runs", "list"], ["experiments", "list"], ["ui"]):
        result = traza(*command)
        assert result.exit_code == 1, result.output
        assert "Traza never writes into MLflow's stores" in result.output
        assert not (folder / "mlruns" / "traza.db").exists()
    commands = printed_commands(result.output)
    assert commands == [
        ["import", "./mlflow.db", "--to", "./traza-store"],
        ["ui", "--backend-store-uri", "./traza-store"],
    ]
    imported = traza(*commands[0])  # works as printed
    assert imported.exit_code == 0, imported.output
    # ... and the second opens the store with MLflow's run in it (here without serving it).
    run = TrazaClient("./traza-store").get_run(mlflow3_folder[1])
    assert run.data.params == {"alpha": "0.5"}
    assert traza("--tracking-uri", "./traza-store", "runs", "list", "-n", "salary").exit_code == 0


def test_an_mlflow_file_store_gives_commands_that_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.17 asks for it now
    run_id = mlflow_run((tmp_path / "mlruns").as_uri())
    result = traza("ui")
    assert result.exit_code == 1 and "an MLflow file store" in result.output, result.output
    commands = printed_commands(result.output)
    assert commands[0] == ["import", "./mlruns", "--to", "./traza-store"]
    assert traza(*commands[0]).exit_code == 0
    assert TrazaClient("./traza-store").get_run(run_id).data.params == {"alpha": "0.5"}
    assert not (tmp_path / "mlruns" / "traza.db").exists()


def test_a_traza_database_named_mlflow_db_is_used_as_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The course's Opción B with Traza: ``traza server --backend-store-uri sqlite:///mlflow.db``
    with artifacts in ./mlruns."""
    monkeypatch.chdir(tmp_path)
    client = TrazaClient("sqlite:///mlflow.db")
    run = client.create_run(client.create_experiment("b"))
    (tmp_path / "mlruns").mkdir()
    listed = traza("--tracking-uri", "sqlite:///mlflow.db", "runs", "list", "-n", "b")
    assert listed.exit_code == 0 and run.info.run_id in listed.output, listed.output
    conn = sqlite3.connect(tmp_path / "mlflow.db")
    assert "traza_migrations" in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    # and a plain ./mlruns beside a Traza mlflow.db is not refused either
    assert traza("experiments", "list").exit_code == 0
