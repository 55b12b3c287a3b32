"""Train the salary model: the seeds' ``train_model.py``, logging through autolog.

    python train_model.py [n_jobs] [fit_intercept]

Run by ``traza run`` (``main`` passes both arguments, ``step_1`` none), it logs into the run the
runner created; run by hand, into a new run of the current experiment.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

import traza as mlflow
import traza.sklearn

DATA = Path(__file__).with_name("Salary_predict.csv")
FEATURES = ["experience", "age", "interview_score"]


def split() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The seeds' 70/30 split, fixed so step_2 evaluates on the rows step_1 did not see."""
    df = pd.read_csv(DATA)
    return train_test_split(df[FEATURES], df[["Salary"]], train_size=0.7, random_state=0)


def as_bool(text: str) -> bool:
    # bool("False") is True: read the word MLproject passed, as the runner validated it.
    return text.strip().lower() in ("true", "1", "yes")


def main(argv: list[str]) -> None:
    n_jobs = int(argv[1]) if len(argv) > 1 else 1
    fit_intercept = as_bool(argv[2]) if len(argv) > 2 else True
    X_train, X_test, y_train, y_test = split()
    traza.sklearn.autolog()
    with mlflow.start_run() as run:
        model = LinearRegression(n_jobs=n_jobs, fit_intercept=fit_intercept)
        model.fit(X_train, y_train)
        y_pred = model.predict(X_test)
        mlflow.log_metric("test_mae", mean_absolute_error(y_test, y_pred))
        mlflow.log_metric("test_r2", r2_score(y_test, y_pred))
    print(f"Trained in run {run.info.run_id}: test r2 {r2_score(y_test, y_pred):.3f}")


if __name__ == "__main__":
    main(sys.argv)
