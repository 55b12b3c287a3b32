"""Evaluate the model a training run logged: the seeds' ``evaluate_model.py`` (``step_2``).

python evaluate_model.py <run_id of the training run>
"""

from __future__ import annotations

import sys

from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from train_model import split

import traza as mlflow
import traza.pyfunc


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] in ("", "None"):
        raise SystemExit("evaluate_model.py needs the run id of a training run (step_1).")
    trained_run = argv[1]
    _, X_test, _, y_test = split()
    model = traza.pyfunc.load_model(f"runs:/{trained_run}/model")
    y_pred = model.predict(X_test)
    with mlflow.start_run():
        mlflow.set_tag("evaluated_run_id", trained_run)
        mlflow.log_metric("eval_mae", mean_absolute_error(y_test, y_pred))
        mlflow.log_metric("eval_rmse", mean_squared_error(y_test, y_pred) ** 0.5)
        mlflow.log_metric("eval_r2", r2_score(y_test, y_pred))
    print(f"Evaluated the model of run {trained_run}: r2 {r2_score(y_test, y_pred):.3f}")


if __name__ == "__main__":
    main(sys.argv)
