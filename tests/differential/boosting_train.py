"""One XGBoost/LightGBM training script, run with ``mlflow`` or with ``traza`` as ``mlflow``.

Usage: ``python boosting_train.py LIB OUT_JSON [CASE ...]`` in an empty directory. Each case
trains in an experiment of its own name with the library's ``xgboost.autolog()`` or
``lightgbm.autolog()`` on, which starts (and ends) the run; then everything the run recorded
is read back through the same library and written as plain JSON: params, tags, metric
histories as (step, value), run artifacts (with the feature-importance JSON contents), dataset
inputs and logged models. A helper of ``tests/test_boosting_differential.py``, not a test.
"""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import sklearn.metrics
import xgboost as xgb

ROWS = 240
FEATURES = ["f_age", "f_income", "f_score", "f_tenure", "f_noise"]


def data() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(ROWS, len(FEATURES))), columns=FEATURES)
    y = pd.Series(
        3 * X["f_age"]
        - 2 * X["f_income"]
        + X["f_score"] * X["f_tenure"]
        + rng.normal(0, 0.5, ROWS),
        name="target",
    )
    return X[:180], y[:180], X[180:], y[180:]


def labels(y: pd.Series) -> pd.Series:
    return pd.Series(np.digitize(y, [-2.0, 2.0]), name="label")  # three classes


X_train, y_train, X_valid, y_valid = data()
XGB_PARAMS = {"objective": "reg:squarederror", "max_depth": 3, "eta": 0.3, "seed": 0}
LGB_PARAMS = {"objective": "regression", "num_leaves": 7, "learning_rate": 0.2, "verbose": -1}


def xgb_native(lib: Any) -> None:
    lib.xgboost.autolog(importance_types=["weight", "gain"])
    dtrain = xgb.DMatrix(X_train, y_train)
    dvalid = xgb.DMatrix(X_valid, y_valid)
    xgb.train(XGB_PARAMS, dtrain, 15, evals=[(dtrain, "train"), (dvalid, "valid")])


def xgb_native_es(lib: Any) -> None:
    lib.xgboost.autolog(log_input_examples=True)
    dtrain = xgb.DMatrix(X_train, y_train)
    dvalid = xgb.DMatrix(X_valid, y_valid)
    xgb.train(
        {**XGB_PARAMS, "eta": 0.9},
        dtrain,
        num_boost_round=200,
        evals=[(dtrain, "train"), (dvalid, "valid")],
        early_stopping_rounds=3,
        verbose_eval=False,
    )


def xgb_sklearn(lib: Any) -> None:
    lib.xgboost.autolog()
    model = xgb.XGBRegressor(n_estimators=12, max_depth=3, random_state=0)
    model.fit(X_train, y_train, eval_set=[(X_train, y_train), (X_valid, y_valid)], verbose=False)
    X_eval, y_eval = X_valid, y_valid  # post-training metrics are named after the variable
    predictions = model.predict(X_eval)
    sklearn.metrics.mean_squared_error(y_eval, predictions)  # patched: looked up at call time


def xgb_sklearn_es(lib: Any) -> None:
    lib.xgboost.autolog(log_models=False)
    model = xgb.XGBRegressor(
        n_estimators=300, learning_rate=0.9, early_stopping_rounds=3, random_state=0
    )
    model.fit(X_train, y_train, eval_set=[(X_valid, y_valid)], verbose=False)


def xgb_classifier(lib: Any) -> None:
    lib.xgboost.autolog(importance_types=["weight", "total_gain"], log_models=False)
    model = xgb.XGBClassifier(n_estimators=6, max_depth=2, random_state=0)
    model.fit(X_train, labels(y_train), eval_set=[(X_valid, labels(y_valid))], verbose=False)


def lgb_native(lib: Any) -> None:
    lib.lightgbm.autolog()
    train_set = lgb.Dataset(X_train, y_train)
    valid_set = lgb.Dataset(X_valid, y_valid, reference=train_set)
    lgb.train(
        {**LGB_PARAMS, "metric": ["l2", "l1"]},
        train_set,
        num_boost_round=15,
        valid_sets=[train_set, valid_set],
        valid_names=["train", "valid"],
    )


def lgb_native_es(lib: Any) -> None:
    lib.lightgbm.autolog(log_input_examples=True)
    train_set = lgb.Dataset(X_train, y_train)
    valid_set = lgb.Dataset(X_valid, y_valid, reference=train_set)
    lgb.train(
        {**LGB_PARAMS, "learning_rate": 0.9},
        train_set,
        num_boost_round=200,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )


def lgb_sklearn(lib: Any) -> None:
    lib.lightgbm.autolog()
    model = lgb.LGBMRegressor(n_estimators=12, num_leaves=7, random_state=0, verbose=-1)
    model.fit(X_train, y_train, eval_set=[(X_train, y_train), (X_valid, y_valid)])
    X_eval, y_eval = X_valid, y_valid  # post-training metrics are named after the variable
    predictions = model.predict(X_eval)
    sklearn.metrics.mean_squared_error(y_eval, predictions)  # patched: looked up at call time


def lgb_sklearn_es(lib: Any) -> None:
    lib.lightgbm.autolog(log_models=False)
    model = lgb.LGBMRegressor(n_estimators=300, learning_rate=0.9, random_state=0, verbose=-1)
    model.fit(
        X_train,
        y_train,
        eval_set=[(X_valid, y_valid)],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )


CASES: dict[str, Callable[[Any], None]] = {
    "xgb-native": xgb_native,
    "xgb-native-es": xgb_native_es,
    "xgb-sklearn": xgb_sklearn,
    "xgb-sklearn-es": xgb_sklearn_es,
    "xgb-classifier": xgb_classifier,
    "lgb-native": lgb_native,
    "lgb-native-es": lgb_native_es,
    "lgb-sklearn": lgb_sklearn,
    "lgb-sklearn-es": lgb_sklearn_es,
}


def artifacts(client: Any, run_id: str, path: str | None = None) -> dict[str, Any]:
    """Every run artifact by path; JSON files with their parsed content, others as None."""
    out: dict[str, Any] = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            out.update(artifacts(client, run_id, info.path))
        elif info.path.endswith(".json"):
            local = client.download_artifacts(run_id, info.path)
            out[info.path] = json.loads(Path(local).read_text())
        else:
            out[info.path] = None
    return out


def record(lib: Any, experiment: str) -> dict[str, Any]:
    client = lib.MlflowClient()
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    runs = client.search_runs([experiment_id])
    assert len(runs) == 1, f"{experiment}: {len(runs)} runs"
    run = runs[0]
    run_id = run.info.run_id
    history = {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        for key in run.data.metrics
    }
    models = lib.search_logged_models(experiment_ids=[experiment_id], output_format="list")
    return {
        "status": run.info.status,
        "params": dict(run.data.params),
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.source.git")},
        "history": history,
        "artifacts": artifacts(client, run_id),
        "inputs": sorted(
            (d.dataset.name, d.dataset.digest, sorted((t.key, t.value) for t in d.tags))
            for d in run.inputs.dataset_inputs
        ),
        "models": [
            {
                "name": m.name,
                "status": str(m.status),
                "flavors": sorted(_flavors(lib, m.model_uri)),
                "metrics": sorted(
                    (x.key, x.step) for x in (m.metrics or ()) if not x.key.startswith("system/")
                ),
                "signature": _signature(lib, m.model_uri),
                "input_example": _has_example(lib, m.model_uri),
            }
            for m in models
        ],
    }


def _meta(lib: Any, uri: str) -> Any:
    return lib.pyfunc.load_model(uri).metadata


def _flavors(lib: Any, uri: str) -> list[str]:
    return list(_meta(lib, uri).flavors)


def _signature(lib: Any, uri: str) -> Any:
    signature = _meta(lib, uri).signature
    return None if signature is None else signature.to_dict()


def _has_example(lib: Any, uri: str) -> bool:
    return _meta(lib, uri).saved_input_example_info is not None


def main(argv: list[str]) -> int:
    lib_name, out_path, *names = argv
    lib = importlib.import_module(lib_name)
    for sub in ("xgboost", "lightgbm", "pyfunc"):
        importlib.import_module(f"{lib_name}.{sub}")
    if lib_name == "mlflow":
        lib.set_tracking_uri("sqlite:///mlflow.db")
    warnings.simplefilter("ignore")
    out: dict[str, Any] = {}
    for name in names or list(CASES):
        lib.set_experiment(name)
        CASES[name](lib)
        lib.xgboost.autolog(disable=True)
        lib.lightgbm.autolog(disable=True)
        out[name] = record(lib, name)
    Path(out_path).write_text(json.dumps(out, indent=1, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
