"""log_model and load_model of a 200-tree RandomForest, of a custom PythonModel with a 1 MB
artifact, and of XGBoost and LightGBM regressors of 100 trees: Traza against MLflow, side by side.

Each library runs in its own fresh process and folder (Traza on ``./mlruns``, MLflow on
``sqlite:///mlflow.db``), logs the same model the way the seeds do (signature and input
example), then loads it back with ``pyfunc.load_model`` (its predictions are checked, not
timed). Times are medians over the repeats; imports and the first (warm-up) call are not
counted. The ratio is MLflow's
time over Traza's.

MLflow 3.17's default serialization, skops, refuses to save a forest unless its tree type is
trusted, so both libraries are measured with ``cloudpickle`` (Traza's default) and with
``skops`` given ``skops_trusted_types``.

The PythonModel (``pyfunc.log_model(python_model=..., artifacts={"blob": <1 MB file>})``) is
measured as users call it (``python_model``: each library finds the requirements its own way,
MLflow by loading the model in a subprocess) and with ``pip_requirements`` given
(``python_model, pinned``: no inference on either side).

The boosting models (``xgboost``/``lightgbm``, each as its native ``Booster`` and as its
scikit-learn regressor) are logged as users call ``log_model`` (an input example, requirements
found by each library: MLflow infers them by loading the model in a subprocess); the LightGBM
regressor is pickled with cloudpickle on both sides (MLflow's default is skops).

    python benchmarks/models.py            # 9 repeats
    python benchmarks/models.py --quick    # 2 repeats, 50 trees
    python benchmarks/models.py --only xgboost lightgbm   # only the rows naming these
    python benchmarks/models.py --only pytorch   # the MLP of models_pytorch.py (also runs alone)
    python benchmarks/models.py --only autolog   # boosting_autolog.py: autolog's cost per iteration
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from boosting_autolog import AUTOLOG, autolog_worker  # benchmarks/ is sys.path[0]
from harness import RATIO_HEADER, ratio_row, run_worker, time_load_model, time_log_model
from models_pytorch import PYTORCH, pytorch_worker

HERE = Path(__file__).resolve()
BOOSTING = ("xgboost booster", "xgboost sklearn", "lightgbm booster", "lightgbm sklearn")
FORMATS = (
    "cloudpickle",
    "skops",
    "python_model",
    "python_model, pinned",
    *BOOSTING,
    *PYTORCH,
    *AUTOLOG,
)
TRUSTED = ["sklearn.tree._tree.Tree"]


def python_model_worker(library: str, pinned: bool, repeats: int) -> dict[str, Any]:
    """A PythonModel reading a 1 MB artifact in load_context, logged with an input example."""
    import pandas as pd

    if library == "traza":
        import traza as lib
        import traza.pyfunc as pyfunc
    else:
        import mlflow as lib
        import mlflow.pyfunc as pyfunc

        lib.set_tracking_uri("sqlite:///mlflow.db")

    class BlobModel(pyfunc.PythonModel):  # type: ignore[misc, name-defined]
        def load_context(self, context: Any) -> None:
            with open(context.artifacts["blob"], "rb") as f:
                self.size = len(f.read())

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input * self.size

    blob = Path("blob.bin")
    blob.write_bytes(os.urandom(1 << 20))
    example = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]})
    requirements = {"pip_requirements": ["cloudpickle", "pandas"]} if pinned else {}
    log_seconds, uris = time_log_model(
        repeats,
        lib.start_run,
        lambda: pyfunc.log_model(
            name="model",
            python_model=BlobModel(),
            artifacts={"blob": str(blob)},
            input_example=example,
            **requirements,
        ),
    )

    def check(loaded: Any, uri: str) -> None:
        assert loaded.predict(example).equals(example * (1 << 20))

    return {"log_model": log_seconds, "load_model": time_load_model(uris, pyfunc.load_model, check)}


def boosting_worker(library: str, kind: str, repeats: int) -> dict[str, Any]:
    """An XGBoost or LightGBM regressor of 100 trees (``kind``: "xgboost booster" ...)."""
    import importlib

    import numpy as np
    import pandas as pd

    name, _, api = kind.partition(" ")
    lib = importlib.import_module("traza" if library == "traza" else "mlflow")
    pyfunc = importlib.import_module(f"{lib.__name__}.pyfunc")
    flavor = importlib.import_module(f"{lib.__name__}.{name}")
    if library == "mlflow":
        lib.set_tracking_uri("sqlite:///mlflow.db")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((1000, 10)), columns=[f"f{i}" for i in range(10)])
    y = X.sum(axis=1).to_numpy()
    extra: dict[str, Any] = {}
    if name == "xgboost":
        import xgboost as xgb

        if api == "booster":
            model: Any = xgb.train({"nthread": 1}, xgb.DMatrix(X, label=y), 100)
        else:
            model = xgb.XGBRegressor(n_estimators=100, n_jobs=1).fit(X, y)
    else:
        import lightgbm as lgb

        if api == "booster":
            model = lgb.train({"verbose": -1, "num_threads": 1}, lgb.Dataset(X, y), 100)
        else:
            model = lgb.LGBMRegressor(n_estimators=100, verbose=-1, n_jobs=1).fit(X, y)
            extra["serialization_format"] = "cloudpickle"
    log_seconds, uris = time_log_model(
        repeats,
        lib.start_run,
        lambda: flavor.log_model(model, name="model", input_example=X.head(5), **extra),
    )
    expected = pyfunc.load_model(uris[0]).get_raw_model()

    def check(loaded: Any, uri: str) -> None:
        assert np.allclose(loaded.predict(X.head(3)), pyfunc.load_model(uri).predict(X.head(3)))
        assert type(loaded.get_raw_model()) is type(expected)

    return {"log_model": log_seconds, "load_model": time_load_model(uris, pyfunc.load_model, check)}


def worker(library: str, fmt: str, repeats: int, trees: int) -> dict[str, Any]:
    """Runs in the child: train once, then time log_model and load_model+predict."""
    if fmt.startswith("python_model"):
        return python_model_worker(library, fmt.endswith("pinned"), repeats)
    if fmt in BOOSTING:
        return boosting_worker(library, fmt, repeats)
    if fmt in PYTORCH:
        return pytorch_worker(library, fmt, repeats)
    if fmt in AUTOLOG:
        return autolog_worker(library, fmt, repeats)
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor

    if library == "traza":
        import traza as lib
        import traza.pyfunc as pyfunc
        import traza.sklearn as flavor
        from traza.models import infer_signature
    else:
        import mlflow as lib
        import mlflow.pyfunc as pyfunc
        import mlflow.sklearn as flavor
        from mlflow.models import infer_signature

        lib.set_tracking_uri("sqlite:///mlflow.db")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((1000, 10)), columns=[f"f{i}" for i in range(10)])
    y = X.sum(axis=1).to_numpy()
    model = RandomForestRegressor(n_estimators=trees, random_state=0, n_jobs=1).fit(X, y)
    signature = infer_signature(X, model.predict(X))
    log_seconds, uris = time_log_model(
        repeats,
        lib.start_run,
        lambda: flavor.log_model(
            model,
            name="model",
            signature=signature,
            input_example=X.head(5),
            serialization_format=fmt,
            skops_trusted_types=TRUSTED if fmt == "skops" else None,
        ),
    )
    expected = model.predict(X.head(1))

    def check(loaded: Any, uri: str) -> None:
        assert np.allclose(loaded.predict(X.head(1)), expected)

    return {"log_model": log_seconds, "load_model": time_load_model(uris, pyfunc.load_model, check)}


def measure(library: str, fmt: str, repeats: int, trees: int) -> dict[str, float]:
    args = ["--worker", library, fmt, str(repeats), str(trees)]
    prefix, label = f"bench-models-{library}-", f"{library} {fmt}"
    return run_worker(HERE, args, prefix, label, MLFLOW_DISABLE_TELEMETRY="true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats of a 50-tree forest")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", nargs="+", help="only the rows whose name holds one of these")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library, fmt, repeats, trees = args.worker
        print(json.dumps(worker(library, fmt, int(repeats), int(trees))))
        return
    repeats, trees = (2, 50) if args.quick else (9, 200)
    print(
        f"log_model + load_model, RandomForestRegressor({trees} trees) and a PythonModel with "
        f"a 1 MB artifact, XGBoost and LightGBM regressors of 100 trees, a PyTorch MLP, "
        f"median of {repeats}"
    )
    print(RATIO_HEADER)
    results: dict[str, Any] = {}
    for fmt in FORMATS:
        if args.only and not any(word in fmt for word in args.only):
            continue
        ours = measure("traza", fmt, repeats, trees)
        theirs = measure("mlflow", fmt, repeats, trees)
        ratio_row(results, fmt, ours, theirs)  # log_model and load_model; autolog's own figures
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
