"""``import traza`` stays cheap: no heavy modules, and a deliberate public surface."""

from __future__ import annotations

import json
import subprocess
import sys

import traza

HEAVY = [
    "pandas",
    "numpy",
    "sqlalchemy",
    "httpx",
    "requests",
    "starlette",
    "uvicorn",
    "fastapi",
    "flask",
    "sklearn",
    "yaml",
    "click",
    "sqlite3",
    "matplotlib",
    # Loaded by the first run or command that needs them, not by ``import traza``.
    "traza.lineage",
    "traza.transfer",
    # Custom Python models: defining a PythonModel subclass loads only its small module.
    "cloudpickle",
    "traza.pyfunc.save",
    "traza.pyfunc._portable",
    "traza.pyfunc._type_hints",
    "traza.pyfunc._requirements",
    # System metrics: the sampler and psutil load with the first run that asks for them.
    "psutil",
    "pynvml",
    "traza.system_metrics.monitor",
    # Model evaluation: loaded by its first call (it brings pandas and scikit-learn).
    "traza.models.evaluation",
    "traza.models._eval_builtin",
    "traza.models.metrics",
    # XGBoost and LightGBM: loaded by the first model saved or loaded with them.
    "xgboost",
    "lightgbm",
    # PyTorch: torch loads when a model is saved or loaded, not with mlflow.pytorch.
    "torch",
    "traza.pytorch.pickle_module",
    # Lightning autologging: Lightning and the callbacks load when autolog() is called.
    "lightning",
    "pytorch_lightning",
    "traza.pytorch._lightning_callbacks",
]
#: What model evaluation must not load before it is called.
EVALUATION_HEAVY = ["pandas", "numpy", "sklearn", "matplotlib", "traza.models._eval_builtin"]
#: Loaded on first attribute access only, never by ``import traza`` itself.
LAZY = [
    "traza.models",
    "traza.pyfunc",
    "traza.sklearn",
    "traza.pytorch",
    "traza.pyfunc.python_model",
    "traza.system_metrics",
    "traza.xgboost",
    "traza.lightgbm",
    "traza.xgboost._autolog",
    "traza.lightgbm._autolog",
    "traza.boosting_autolog",
]


def test_import_loads_nothing_heavy() -> None:
    code = (
        "import json, sys; import traza; "
        "import traza as mlflow; mlflow.sklearn; mlflow.models; mlflow.pyfunc; mlflow.pytorch; "
        "mlflow.xgboost.log_model; mlflow.lightgbm.load_model; "
        "mlflow.xgboost.autolog; mlflow.lightgbm.autolog; mlflow.autolog; "
        "mlflow.pytorch.autolog; mlflow.pytorch.load_checkpoint; "
        "mlflow.pyfunc.PythonModel; mlflow.pyfunc.PythonModelContext; mlflow.models.set_model; "
        "mlflow.enable_system_metrics_logging; mlflow.set_system_metrics_node_id; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == []


def test_evaluation_loads_nothing_heavy_until_called() -> None:
    code = (
        "import json, sys; import traza; "
        "traza.evaluate; traza.models.evaluate; "
        "traza.models.make_metric; traza.models.MetricValue; "
        f"print(json.dumps([m for m in {EVALUATION_HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == []


def test_model_modules_load_on_first_use_only() -> None:
    code = (
        "import json, sys; import traza; "
        f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == []


def test_public_surface() -> None:
    for name in traza.__all__:
        assert hasattr(traza, name), name
    assert traza.MlflowClient is traza.TrazaClient
    assert traza.exceptions.MlflowException is traza.TrazaException
    for name in ["Metric", "Param", "RunTag", "Run", "Experiment", "ViewType", "RunStatus"]:
        assert hasattr(traza.entities, name)
    assert callable(traza.data.from_pandas) and callable(traza.data.from_numpy)


def test_model_surface_resolves_lazily() -> None:
    import pytest

    for module, names in [
        (traza.sklearn, ["log_model", "save_model", "load_model", "autolog"]),
        (
            traza.pyfunc,
            ["load_model", "PyFuncModel", "PythonModel", "PythonModelContext", "save_model"],
        ),
        (traza.pyfunc, ["log_model", "get_default_pip_requirements"]),
        (traza.pytorch, ["log_model", "save_model", "load_model", "log_state_dict"]),
        (traza.pytorch, ["autolog", "load_checkpoint"]),
        (traza.models, ["infer_signature", "ModelSignature", "Model", "ModelInfo", "set_model"]),
        (traza.models, ["evaluate", "make_metric", "MetricValue", "EvaluationResult"]),
        (traza.xgboost, ["log_model", "save_model", "load_model", "get_default_pip_requirements"]),
        (traza.lightgbm, ["log_model", "save_model", "load_model", "get_default_pip_requirements"]),
        (traza.xgboost, ["autolog"]),
        (traza.lightgbm, ["autolog"]),
    ]:
        for name in names:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
    assert traza.evaluate is traza.models.evaluate
    with pytest.raises(AttributeError, match="no_such_thing"):
        traza.models.no_such_thing  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_thing"):
        traza.sklearn.no_such_thing  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_thing"):
        traza.pyfunc.no_such_thing  # noqa: B018
