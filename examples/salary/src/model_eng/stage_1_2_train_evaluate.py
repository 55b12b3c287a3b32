"""Stage ``entrenamiento_evaluacion``: train and evaluate the salary model, tracked by Traza.

    python src/model_eng/stage_1_2_train_evaluate.py   # from the project folder (DVC's wdir)

The seeds' script with its imports renamed (``import traza as mlflow``). ``model_eval()`` logs
the parameters, the metrics and the model with its signature into an experiment named with the
date and time. Where the runs go comes from ``model_eng.yaml`` (``mlflow:``): an empty
``tracking_uri`` means the local store in ``mlruns_path``; ``TRAZA_TRACKING_URI`` or
``MLFLOW_TRACKING_URI`` in the environment win over the file.

Traza itself records, with no code here, which data (the md5 of each DVC dependency), which
DVC params, which Git commit and which packages made the run, so ``traza reproduce RUN_ID``
can make it again.
"""

from __future__ import annotations

import json
import os
import pickle
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

import traza as mlflow
import traza.sklearn
from traza.models import infer_signature

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["experience", "age", "interview_score"]
TARGET = "Salary"


def load_yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text()) or {}


def tracking_uri(config: dict) -> str:
    """The environment's URI, else the file's ``tracking_uri``, else the ``mlruns_path`` folder."""
    for variable in ("TRAZA_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        if os.environ.get(variable):
            return os.environ[variable]
    settings = config.get("mlflow") or {}
    if settings.get("tracking_uri"):
        return str(settings["tracking_uri"])
    return str(ROOT / (settings.get("mlruns_path") or "mlruns"))


def model_eval() -> str:
    config = load_yaml("model_eng.yaml")
    params = load_yaml("params.yaml")["train"]
    paths = config["data"]
    train = pd.read_csv(ROOT / paths["processed"] / "train.csv")
    test = pd.read_csv(ROOT / paths["processed"] / "test.csv")
    X_train, y_train = train[FEATURES], train[TARGET]
    X_test, y_test = test[FEATURES], test[TARGET]

    # mlflow.set_tracking_uri("http://localhost:5000")   # Opción B: model_eng.yaml says which
    mlflow.set_tracking_uri(tracking_uri(config))
    prefix = (config.get("mlflow") or {}).get("experiment_prefix") or "salary_model"
    exp_name = f"{prefix}_{datetime.now():%Y-%m-%d_%H-%M-%S}"
    if "MLFLOW_RUN_ID" not in os.environ:  # under `traza run`/`traza reproduce` the run exists
        mlflow.set_experiment(exp_name)

    with mlflow.start_run() as run:
        model = LinearRegression(
            fit_intercept=bool(params["fit_intercept"]), n_jobs=int(params["n_jobs"])
        )
        model.fit(X_train, y_train)
        y_pred = model.predict(X_test)
        metrics = {
            "mae": float(mean_absolute_error(y_test, y_pred)),
            "rmse": float(mean_squared_error(y_test, y_pred) ** 0.5),
            "r2": float(r2_score(y_test, y_pred)),
        }
        mlflow.log_params({"fit_intercept": model.fit_intercept, "n_jobs": model.n_jobs})
        mlflow.log_params({"train_rows": len(train), "test_rows": len(test)})
        for name, value in metrics.items():
            mlflow.log_metric(name, value)
        signature = infer_signature(X_test, y_pred)
        mlflow.sklearn.log_model(
            model, name="model", signature=signature, input_example=X_test.head(3)
        )

    # DVC's outputs of the stage: the model and the metrics (`dvc metrics show`).
    model_path = ROOT / paths["model"]
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(pickle.dumps(model))
    metrics_path = ROOT / paths["metrics"]
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    r2, mae = metrics["r2"], metrics["mae"]
    # The run's own experiment: under `traza run`/`traza reproduce` it is not exp_name.
    experiment = mlflow.get_experiment(run.info.experiment_id).name
    print(f"Run {run.info.run_id} in {experiment!r}: r2 {r2:.4f}, mae {mae:.1f}")
    return str(run.info.run_id)


if __name__ == "__main__":
    model_eval()
