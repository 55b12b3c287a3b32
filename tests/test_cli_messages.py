"""What the ``traza`` command says when something is wrong or done: sentences a first-time user
can act on, as MLflow's CLI says them (issue 15, item 12)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from traza.cli import main


def test_a_taken_port_is_said_before_serving(isolated: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["ui", "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"Port {port} on 127.0.0.1 is already in use" in result.output
    assert f"--port {port + 1}" in result.output
    # Nothing announced, no bare "[Errno 98]", and no store created for a server never started.
    assert "serving" not in result.output and "Errno" not in result.output
    assert not (isolated / "mlruns").exists()


# -- register_model says what it did, in MLflow's words ---------------------------------------
def _register_twice(
    register: Callable[..., Any], run_id: str, capfd: pytest.CaptureFixture[str]
) -> list[str]:
    capfd.readouterr()
    register(f"runs:/{run_id}/model", "salary_model")
    register(f"runs:/{run_id}/model", "salary_model")
    lines = capfd.readouterr().err.splitlines()
    return [x for x in lines if "model" in x and " INFO " not in x]  # not MLflow's log records


def test_register_model_prints_what_mlflow_prints(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import mlflow
    from tests.conftest import served_store

    import traza
    from traza.store.uri import open_store

    with traza.start_run() as run:
        traza.log_text("x", "model/MLmodel")
    ours = _register_twice(traza.register_model, run.info.run_id, capfd)
    store = open_store(str(tmp_path / "served"))
    try:
        with served_store(store) as url:
            mlflow.set_tracking_uri(url)
            with mlflow.start_run() as peer:
                mlflow.log_text("x", "model/MLmodel")
            theirs = _register_twice(mlflow.register_model, peer.info.run_id, capfd)
    finally:
        store.close()
    assert (
        ours
        == theirs
        == [
            "Successfully registered model 'salary_model'.",
            "Created version '1' of model 'salary_model'.",
            "Registered model 'salary_model' already exists. Creating a new version of this "
            "model...",
            "Created version '2' of model 'salary_model'.",
        ]
    )


# -- the Python-version warning is said when the environment is built, not on every run ------
def test_python_version_warning_once_when_built(tmp_path: Path) -> None:
    import sys

    from traza.environments import prepare_environment

    asked = f"{sys.version_info[0]}.{sys.version_info[1]}.99"  # no such patch release here
    (tmp_path / "python_env.yaml").write_text(f'python: "{asked}"\ndependencies: []\n')
    said: list[list[str]] = [[], []]
    for lines in said:
        prepare_environment(tmp_path, "virtualenv", tmp_path / "python_env.yaml", None,
                            progress=lines.append, env_root=tmp_path / "envs")  # fmt: skip
    warned = [[x for x in lines if x.startswith("Warning:") and asked in x] for lines in said]
    assert len(warned[0]) == 1, said[0]  # built: said
    assert warned[1] == [], said[1]  # found in the cache: the same environment, nothing new
