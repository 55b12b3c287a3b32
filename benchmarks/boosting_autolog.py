"""What ``xgboost.autolog()`` and ``lightgbm.autolog()`` add to training: Traza against MLflow.

A regressor trains on 2,000 rows of 10 features with two eval sets (the train set and a
held-out set), on one thread, in a fresh process per library (Traza on ``./mlruns``, MLflow on
``sqlite:///mlflow.db``, each in its own empty folder). Three figures per library (medians
over the repeats):

- per iteration: the time spent inside autolog's per-iteration callback (reading the eval
  results, recording them and sending them in batches) over a 300-iteration training, divided
  by 300: measured directly, as the difference of two trainings drowns in the noise of a
  loaded machine;
- per training: a 100-iteration training with the defaults (params, datasets, feature
  importance JSON and plot, the model logged) minus the same training without autolog;
- plain iteration: what one iteration takes without autolog, for scale.

    python benchmarks/boosting_autolog.py            # 7 repeats
    python benchmarks/boosting_autolog.py --quick    # 2 repeats
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from harness import run_worker

HERE = Path(__file__).resolve()
AUTOLOG = ("autolog xgboost", "autolog lightgbm")
SHORT, LONG = 100, 300


def autolog_worker(library: str, kind: str, repeats: int) -> dict[str, float]:
    """Runs in the child: time plain and autologged training alternately."""
    import importlib
    import logging

    import numpy as np
    import pandas as pd

    logging.disable(logging.WARNING)
    name = kind.split()[-1]
    lib = importlib.import_module("traza" if library == "traza" else "mlflow")
    flavor = importlib.import_module(f"{lib.__name__}.{name}")
    if library == "mlflow":
        lib.set_tracking_uri("sqlite:///mlflow.db")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((2500, 10)), columns=[f"f{i}" for i in range(10)])
    y = X.sum(axis=1).to_numpy() + rng.normal(0, 0.1, 2500)
    train_x, valid_x, train_y, valid_y = X[:2000], X[2000:], y[:2000], y[2000:]
    if name == "xgboost":
        import xgboost as xgb

        def train(rounds: int) -> None:
            dtrain = xgb.DMatrix(train_x, train_y)
            dvalid = xgb.DMatrix(valid_x, valid_y)
            evals = [(dtrain, "train"), (dvalid, "valid")]
            params = {"nthread": 1, "max_depth": 3}
            xgb.train(params, dtrain, rounds, evals=evals, verbose_eval=False)
    else:
        import lightgbm as lgb

        def train(rounds: int) -> None:
            train_set = lgb.Dataset(train_x, train_y)
            valid_set = lgb.Dataset(valid_x, valid_y, reference=train_set)
            params = {"verbose": -1, "num_threads": 1, "num_leaves": 8}
            lgb.train(params, train_set, rounds, valid_sets=[train_set, valid_set])

    def timed(rounds: int) -> float:
        start = time.perf_counter()
        train(rounds)
        return time.perf_counter() - start

    inside = _time_the_callback(library, name)
    plain, full, hooks = [], [], []
    for i in range(repeats + 1):  # the first round warms up
        flavor.autolog(disable=True)
        plain_time = timed(SHORT)
        flavor.autolog(silent=True)
        full_time = timed(SHORT)
        flavor.autolog(log_models=False, silent=True)
        inside[0] = 0.0
        train(LONG)
        if i:
            plain.append(plain_time)
            full.append(full_time)
            hooks.append(inside[0] / LONG)
    flavor.autolog(disable=True)
    return {
        "per iteration": statistics.median(hooks),
        "per training": statistics.median(full) - statistics.median(plain),
        "plain iteration": statistics.median(plain) / SHORT,
    }


def _time_the_callback(library: str, name: str) -> list[float]:
    """Wrap the autolog callback of ``library`` so the time spent in it adds up in the list."""
    import importlib

    total = [0.0]

    def timed(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                total[0] += time.perf_counter() - start

        return wrapper

    if library == "traza":
        module = importlib.import_module(f"traza.{name}._autolog")
        if name == "xgboost":
            klass = module._callback_class()
            klass.after_iteration = timed(klass.after_iteration)
        else:
            module._Callback.__call__ = timed(module._Callback.__call__)
    elif name == "xgboost":
        klass = importlib.import_module("mlflow.xgboost._autolog").AutologCallback
        klass.after_iteration = timed(klass.after_iteration)
    else:
        module = importlib.import_module("mlflow.lightgbm")
        module._autolog_callback = timed(module._autolog_callback)
    return total


def measure(library: str, kind: str, repeats: int) -> dict[str, float]:
    return run_worker(
        HERE,
        ["--worker", library, kind, str(repeats)],
        f"bench-autolog-{library}-",
        f"{library} {kind}",
        MLFLOW_DISABLE_TELEMETRY="true",
        MPLBACKEND="Agg",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library, kind, repeats = args.worker
        print(json.dumps(autolog_worker(library, kind, int(repeats))))
        return
    repeats = 2 if args.quick else 7
    print(f"autolog overhead, {LONG}/{SHORT} iterations, 2 eval sets, median of {repeats}")
    print(f"{'figure':<44}{'traza ms':>10}{'mlflow ms':>11}")
    for kind in AUTOLOG:
        ours, theirs = measure("traza", kind, repeats), measure("mlflow", kind, repeats)
        for key in ours:
            print(f"{kind + ': ' + key:<44}{ours[key] * 1000:>10.3f}{theirs[key] * 1000:>11.3f}")


if __name__ == "__main__":
    main()
