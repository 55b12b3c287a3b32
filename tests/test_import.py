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
]


def test_import_loads_nothing_heavy() -> None:
    code = (
        "import json, sys; import traza; "
        "import traza as mlflow; mlflow.sklearn; mlflow.models; mlflow.pyfunc; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
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
        (traza.pyfunc, ["load_model", "PyFuncModel"]),
        (traza.models, ["infer_signature", "ModelSignature", "Model", "ModelInfo"]),
    ]:
        for name in names:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
    with pytest.raises(AttributeError, match="no_such_thing"):
        traza.sklearn.no_such_thing  # noqa: B018
