"""The seeds' salary project (``examples/salary``) run as the course notes run it.

Each test copies the project into its own folder and logs into that folder's store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import traza
import traza.projects
from traza.models import Model
from traza.models.locate import local_model_dir

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "salary"


@pytest.fixture
def project(isolated: Path) -> Path:
    target = isolated / "salary"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("mlruns", "__pycache__"))
    return target


def _runs(experiment: str) -> list[traza.entities.Run]:
    found = traza.get_experiment_by_name(experiment)
    assert found is not None, experiment
    return traza.search_runs([found.experiment_id], output_format="list")  # type: ignore[no-any-return]


@pytest.mark.parametrize("env_manager", ["local", "virtualenv", "uv"])
def test_main_entry_point_trains_with_the_given_parameters(project: Path, env_manager: str) -> None:
    submitted = traza.projects.run(
        uri=str(project),
        entry_point="main",
        experiment_name="Salary Model",
        parameters={"n_jobs_param": 2, "fit_intercept_param": False},
        env_manager=env_manager,
    )
    assert submitted.wait() is True
    assert submitted.get_status() == "FINISHED"
    (run,) = _runs("Salary Model")
    assert run.info.run_id == submitted.run_id
    assert run.info.status == "FINISHED"
    # The runner logged the parameters as written; autolog logged the estimator's own.
    assert run.data.params["n_jobs_param"] == "2"
    assert run.data.params["fit_intercept_param"] == "False"
    assert run.data.params["fit_intercept"] == "False"
    assert run.data.params["n_jobs"] == "2"
    assert run.data.tags["mlflow.source.type"] == "PROJECT"
    assert run.data.tags["mlflow.project.entryPoint"] == "main"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._base.LinearRegression"
    assert 0.9 < run.data.metrics["test_r2"] <= 1.0
    assert "training_r2_score" in run.data.metrics
    model_dir = local_model_dir(f"runs:/{run.info.run_id}/model")
    meta = Model.load(model_dir)
    assert meta.signature.inputs.input_names() == ["experience", "age", "interview_score"]
    if env_manager == "local":
        assert traza.pyfunc.load_model(str(model_dir)).predict(_rows()).shape == (2, 1)
    else:
        # The project's own environment: the Python python_env.yaml asks for (3.10.8, or the
        # closest 3.10 here), whose scikit-learn the model's MLmodel records.
        used = run.data.tags["traza.project.pythonVersion"]
        assert used.startswith("3.10.")
        requirements = (model_dir / "requirements.txt").read_text()
        assert f"scikit-learn=={meta.flavors['sklearn']['sklearn_version']}" in requirements


def _rows() -> object:
    import pandas as pd

    return pd.DataFrame({"experience": [3, 12], "age": [27, 40], "interview_score": [6, 9]})


def test_workflow_chains_step_1_into_step_2(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "workflow.py", "--env-manager", "local", "--experiment-name", "flow"],
        cwd=project,
        env={**os.environ, "TRAZA_TRACKING_URI": traza.get_tracking_uri()},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {r.data.tags["mlflow.project.entryPoint"]: r for r in _runs("flow")}
    assert set(runs) == {"step_1", "step_2"}
    trained, evaluated = runs["step_1"], runs["step_2"]
    assert evaluated.data.params == {"run_id": trained.info.run_id}
    assert evaluated.data.tags["evaluated_run_id"] == trained.info.run_id
    assert trained.info.status == evaluated.info.status == "FINISHED"
    # Evaluation scores the trained model on the same held-out rows training reported.
    assert evaluated.data.metrics["eval_r2"] == pytest.approx(trained.data.metrics["test_r2"])
    assert f"step_1: run {trained.info.run_id} FINISHED" in done.stdout


def test_step_2_without_a_run_id_fails_and_says_why(project: Path) -> None:
    with pytest.raises(traza.exceptions.TrazaException):
        traza.projects.run(uri=str(project), entry_point="step_2", env_manager="local")
    (run,) = _runs("Default")
    assert run.info.status == "FAILED"
    assert run.data.params == {"run_id": "None"}  # `default: None` is the string, as in MLflow
