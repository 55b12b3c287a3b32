"""The seeds' training stage (`src/model_eng/stage_1_2_train_evaluate.py`), written for MLflow.

The test runs it with its imports renamed to Traza.
"""

from datetime import datetime

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split


def load_data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    experience = rng.integers(0, 30, n)
    age = experience + rng.integers(20, 30, n)
    score = rng.integers(1, 10, n)
    salary = 30000 + 2000 * experience + 150 * age + 900 * score + rng.normal(0, 1000, n)
    return pd.DataFrame(
        {"experience": experience, "age": age, "interview_score": score, "Salary": salary}
    )


def model_eval() -> None:
    df = load_data()
    X = df[["experience", "age", "interview_score"]]
    y = df[["Salary"]]
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=0.7, random_state=0)

    # mlflow.set_tracking_uri("http://localhost:5000")
    exp_name = f"salary_model_{datetime.now().strftime('%Y-%m-%d_%H-%M-%S')}"
    mlflow.set_experiment(exp_name)

    params = {"fit_intercept": True, "n_jobs": 1}
    with mlflow.start_run():
        model = LinearRegression(**params)
        model.fit(X_train, y_train)
        y_pred = model.predict(X_test)
        mlflow.log_params(params)
        mlflow.log_metric("mae", mean_absolute_error(y_test, y_pred))
        mlflow.log_metric("mse", mean_squared_error(y_test, y_pred))
        mlflow.log_metric("r2", r2_score(y_test, y_pred))
        signature = infer_signature(X_test, y_pred)
        mlflow.sklearn.log_model(model, "model", signature=signature)


if __name__ == "__main__":
    model_eval()
