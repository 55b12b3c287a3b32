"""Models cross-load with the real ``mlflow`` 3.17.2, both ways, on disk and through a server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import traza
import traza.pyfunc
import traza.sklearn
from traza.models import Model, infer_signature

from .live import Live, live_server

FORMATS = ["cloudpickle", "pickle", "skops"]
#: skops refuses tree models unless their node storage is trusted (MLflow passes this on too).
TREES = ["sklearn.tree._tree.Tree"]


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.random((40, 4)), columns=["w", "x", "y", "z"])
    return X, (X["w"] + X["x"] > 1).astype("int64").to_numpy()


@pytest.fixture
def pipeline(data: tuple[pd.DataFrame, np.ndarray]) -> object:
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0))
    return model.fit(*data)


def _mlflow_predict_without_traza(model_dir: Path, X: pd.DataFrame) -> list[int]:
    """Load and predict in a fresh interpreter where ``import traza`` fails."""
    X.to_pickle(model_dir.parent / "X.pkl")
    code = (
        "import sys, json; sys.modules['traza'] = None\n"
        "import mlflow.pyfunc, pandas as pd\n"
        f"X = pd.read_pickle({str(model_dir.parent / 'X.pkl')!r})\n"
        f"m = mlflow.pyfunc.load_model({str(model_dir)!r})\n"
        "print(json.dumps([int(v) for v in m.predict(X)]))\n"
    )
    env = {"MLFLOW_DISABLE_TELEMETRY": "true", "PATH": "/usr/bin:/bin", "HOME": str(model_dir)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("fmt", FORMATS)
def test_mlflow_loads_traza_models_without_traza(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray], pipeline: object, fmt: str
) -> None:
    X, _ = data
    path = tmp_path / "model"
    traza.sklearn.save_model(
        pipeline,
        path,
        serialization_format=fmt,
        skops_trusted_types=TREES,
        signature=infer_signature(X, pipeline.predict(X)),  # type: ignore[attr-defined]
        input_example=X.head(2),
    )
    expected = [int(v) for v in pipeline.predict(X)]  # type: ignore[attr-defined]
    assert _mlflow_predict_without_traza(path, X) == expected
    # mlflow reads Traza's signature and example as its own.
    info = mlflow.models.get_model_info(str(path))
    assert info.signature.inputs.input_names() == ["w", "x", "y", "z"]
    assert json.loads((path / "serving_input_example.json").read_text())["dataframe_split"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_traza_loads_mlflow_models(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray], pipeline: object, fmt: str
) -> None:
    X, _ = data
    path = tmp_path / "model"
    mlflow.sklearn.save_model(
        pipeline,
        str(path),
        serialization_format=fmt,
        skops_trusted_types=TREES,
        signature=mlflow.models.infer_signature(X, pipeline.predict(X)),  # type: ignore[attr-defined]
        input_example=X.head(2),
    )
    expected = pipeline.predict(X)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(traza.pyfunc.load_model(str(path)).predict(X), expected)
    np.testing.assert_array_equal(traza.sklearn.load_model(path).predict(X), expected)
    meta = Model.load(path)
    assert meta.signature is not None
    assert meta.signature.inputs.input_names() == ["w", "x", "y", "z"]
    pd.testing.assert_frame_equal(meta.load_input_example(path), X.head(2))


def test_signatures_are_written_identically(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    X, _ = data
    y = pipeline.predict(X)  # type: ignore[attr-defined]
    traza.sklearn.save_model(pipeline, tmp_path / "t", signature=infer_signature(X, y))
    mlflow.sklearn.save_model(
        pipeline,
        str(tmp_path / "m"),
        signature=mlflow.models.infer_signature(X, y),
        serialization_format="cloudpickle",
    )
    import yaml

    ours = yaml.safe_load((tmp_path / "t" / "MLmodel").read_text())
    theirs = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert ours["signature"] == theirs["signature"]
    assert ours["flavors"]["python_function"].keys() == theirs["flavors"]["python_function"].keys()
    assert ours["flavors"]["sklearn"].keys() == theirs["flavors"]["sklearn"].keys()


# -- through a live traza server ---------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("served-models")
    with live_server(f"sqlite:///{root / 'tracking.db'}", root) as server:
        yield server


def test_models_logged_by_traza_load_in_mlflow_through_the_server(
    live: Live, data: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data
    model = LinearRegression().fit(X, y)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    traza.set_tracking_uri(live.url)
    traza.set_experiment("traza-logs")
    with traza.start_run() as run:
        info = traza.sklearn.log_model(
            model, name="model", signature=infer_signature(X, model.predict(X))
        )
    mlflow.set_tracking_uri(live.url)
    try:
        for uri in (info.model_uri, f"runs:/{run.info.run_id}/model"):
            loaded = mlflow.pyfunc.load_model(uri)
            np.testing.assert_allclose(loaded.predict(X), model.predict(X))
        logged = mlflow.MlflowClient(live.url).get_logged_model(info.model_id)
        assert logged.source_run_id == run.info.run_id and logged.name == "model"
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def test_models_logged_by_mlflow_load_in_traza_through_the_server(
    live: Live, data: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data
    model = LinearRegression().fit(X, y)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.set_tracking_uri(live.url)
    mlflow.set_experiment("mlflow-logs")
    try:
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(
                model, name="model", input_example=X.head(3), serialization_format="skops"
            )
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    traza.set_tracking_uri(live.url)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/model"):
        np.testing.assert_allclose(traza.pyfunc.load_model(uri).predict(X), model.predict(X))
    assert traza.get_logged_model(info.model_id).source_run_id == run.info.run_id
