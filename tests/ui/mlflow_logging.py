"""Run by the UI tests in a subprocess with the real ``mlflow`` client, as a course script would.

``python mlflow_logging.py <tracking URI>`` logs into the experiment ``salary`` one run with
autolog-style long metric names, many params, a dataset input and a logged sklearn model
(signature and input example) registered as ``salary-model``, and creates the empty experiment
``empty``. MLflow prints the run's link ("View run ... at: <url>"); the test reads it.
"""

from __future__ import annotations

import sys

import mlflow
import numpy as np
import sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression

LONG_METRICS = (
    "training_root_mean_squared_error",
    "training_mean_absolute_error",
    "training_r2_score",
    "training_mean_squared_error",
    "validation_root_mean_squared_error_with_a_rather_long_suffix_for_wrapping",
)


def main(uri: str) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("salary")
    mlflow.set_experiment_tag("mlflow.note.content", "Salary regression for the course.")
    mlflow.set_experiment_tag("team", "course")
    x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [4.0, 3.0]])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    model = LinearRegression().fit(x, y)
    with mlflow.start_run(run_name="mlflow-run") as run:
        mlflow.log_params({f"param_{i:03d}_with_a_long_descriptive_name": i for i in range(150)})
        mlflow.log_param("copy_X", True)
        for i, key in enumerate(LONG_METRICS):
            mlflow.log_metric(key, 0.5 + i)
        mlflow.set_tag("estimator_class", "sklearn.linear_model._base.LinearRegression")
        mlflow.log_input(mlflow.data.from_numpy(x, name="salaries", source="data/salaries.csv"))
        mlflow.sklearn.log_model(
            model,
            name="salary_model",
            signature=infer_signature(x, model.predict(x)),
            input_example=x[:2],
            registered_model_name="salary-model",
            # Given, not inferred: inferring loads the model in a subprocess (seconds).
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", "numpy"],
        )
        print(f"RUN_ID={run.info.run_id}")
    mlflow.set_experiment("empty")


if __name__ == "__main__":
    main(sys.argv[1])
