"""The PyTorch flavor (``traza.pytorch``): MLflow 3.17's layout, save/log/load, pyfunc predict on
frames, arrays and tensors with the signature enforced, both ways with MLflow 3.17.2 (each load in
a subprocess where the other library cannot be imported), and serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import urllib3
import yaml
from tests.pytorch_support.mlp import FEATURES, make_model

import traza as mlflow
import traza.pyfunc
import traza.pytorch
from traza.exceptions import TrazaException

ROOT = Path(__file__).resolve().parent.parent
X = np.random.default_rng(0).normal(size=(6, FEATURES)).astype(np.float32)
FRAME = pd.DataFrame(X, columns=[f"f{i}" for i in range(FEATURES)])


@pytest.fixture(scope="module")
def model() -> Any:
    return make_model()


@pytest.fixture(scope="module")
def expected(model: Any) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(X)).numpy()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, model: Any) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pytorch")
    paths = {"array": root / "array", "frame": root / "frame", "pt2": root / "pt2"}
    traza.pytorch.save_model(model, paths["array"], input_example=X[:2])
    traza.pytorch.save_model(model, paths["frame"], input_example=FRAME.head(2))
    traza.pytorch.save_model(model, paths["pt2"], input_example=X[:2], serialization_format="pt2")
    return paths


def test_save_writes_mlflows_layout(saved: dict[str, Path]) -> None:
    path = saved["array"]
    meta = yaml.safe_load((path / "MLmodel").read_text())
    assert meta["flavors"]["pytorch"] == {
        "model_data": "data",
        "pytorch_version": torch.__version__,
        "code": None,
    }
    pyfunc = meta["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.pytorch"
    assert pyfunc["pickle_module_name"] == "mlflow.pytorch.pickle_module"
    assert pyfunc["data"] == "data" and pyfunc["config"] == {"device": None}
    assert sorted(p.name for p in (path / "data").iterdir()) == [
        "model.pth",
        "pickle_module_info.txt",
    ]
    assert (path / "data/pickle_module_info.txt").read_text() == "mlflow.pytorch.pickle_module"
    inputs = json.loads(meta["signature"]["inputs"])
    assert inputs == [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 64]}}]
    # torch 2.13.0+cpu is pinned without its local label, which PyPI does not have.
    requirements = (path / "requirements.txt").read_text().splitlines()
    assert requirements[0] == "torch==" + torch.__version__.split("+")[0]
    assert not any("+" in r for r in requirements)
    assert sorted(p.name for p in (saved["pt2"] / "data").iterdir()) == ["model.pt2"]
    pt2 = yaml.safe_load((saved["pt2"] / "MLmodel").read_text())["flavors"]["python_function"]
    assert "pickle_module_name" not in pt2


def test_load_and_predict_on_frames_arrays_and_tensors(
    saved: dict[str, Path], model: Any, expected: np.ndarray
) -> None:
    raw = traza.pytorch.load_model(saved["array"])
    assert type(raw) is type(model) and not raw.training
    with torch.no_grad():
        np.testing.assert_array_equal(raw(torch.from_numpy(X)).numpy(), expected)
    loaded = traza.pyfunc.load_model(saved["array"])
    np.testing.assert_array_equal(loaded.predict(X), expected)
    np.testing.assert_array_equal(loaded.predict(torch.from_numpy(X)), expected)
    by_frame = traza.pyfunc.load_model(saved["frame"]).predict(FRAME.set_index(FRAME.index + 10))
    assert isinstance(by_frame, pd.DataFrame) and list(by_frame.index) == list(range(10, 16))
    # the frame's columns become a new array: the same values, summed in another order
    np.testing.assert_allclose(by_frame.to_numpy(), expected, rtol=1e-5, atol=1e-7)
    exported = traza.pyfunc.load_model(saved["pt2"])
    np.testing.assert_allclose(exported.predict(X), expected, rtol=1e-5, atol=1e-6)
    raw = traza.pytorch.load_model(saved["pt2"])(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-6)


def test_signature_is_enforced(saved: dict[str, Path]) -> None:
    loaded = traza.pyfunc.load_model(saved["array"])
    with pytest.raises(TrazaException, match=r"Shape of input \(6, 3\) does not match"):
        loaded.predict(X[:, :3])
    with pytest.raises(TrazaException, match="dtype of input float64 does not match"):
        loaded.predict(torch.from_numpy(X.astype(np.float64)))
    framed = traza.pyfunc.load_model(saved["frame"])
    assert framed.metadata.get_input_schema().input_names() == list(FRAME.columns)
    with pytest.raises(TrazaException, match="missing inputs"):
        framed.predict(FRAME.drop(columns=["f3"]))


def test_requirements_code_paths_and_errors(tmp_path: Path, model: Any) -> None:
    helper = tmp_path / "torch_helper.py"
    helper.write_text("SCALE = 3\n")
    traza.pytorch.save_model(
        model, tmp_path / "m", code_paths=[str(helper)], extra_pip_requirements=["pandas"]
    )
    assert (tmp_path / "m/code/torch_helper.py").is_file()
    meta = yaml.safe_load((tmp_path / "m/MLmodel").read_text())
    assert meta["flavors"]["pytorch"]["code"] == "code"
    assert "signature" not in meta or meta["signature"] is None
    assert (tmp_path / "m/requirements.txt").read_text().splitlines()[-1] == "pandas"
    sys.modules.pop("torch_helper", None)
    traza.pytorch.load_model(tmp_path / "m")
    import torch_helper  # type: ignore[import-not-found]

    assert torch_helper.SCALE == 3
    traza.pytorch.save_model(model, tmp_path / "p", pip_requirements=["torch", "numpy"])
    assert (tmp_path / "p/requirements.txt").read_text() == "torch\nnumpy"
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        traza.pytorch.save_model(object(), tmp_path / "x")
    with pytest.raises(TrazaException, match="needs input_example"):
        traza.pytorch.save_model(model, tmp_path / "y", serialization_format="pt2")
    assert not (tmp_path / "y").exists()
    with pytest.raises(TrazaException, match="already exists"):
        traza.pytorch.save_model(model, tmp_path / "m")


def test_log_model_registers_and_loads_by_uri(model: Any, expected: np.ndarray) -> None:
    with mlflow.start_run() as run:
        info = traza.pytorch.log_model(
            model, name="mlp", input_example=X[:2], registered_model_name="mlp-model"
        )
        traza.pytorch.log_state_dict(model.state_dict(), "checkpoint")
    assert info.registered_model_version == 1
    assert info.flavors["python_function"]["loader_module"] == "mlflow.pytorch"
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/mlp", "models:/mlp-model/1"):
        np.testing.assert_array_equal(traza.pyfunc.load_model(uri).predict(X), expected)
    raw = traza.pytorch.load_model("models:/mlp-model/1")
    with torch.no_grad():
        np.testing.assert_array_equal(raw(torch.from_numpy(X)).numpy(), expected)
    state = traza.pytorch.load_state_dict(f"runs:/{run.info.run_id}/checkpoint")
    fresh = make_model(seed=1)
    fresh.load_state_dict(state)
    with torch.no_grad():
        np.testing.assert_array_equal(fresh(torch.from_numpy(X)).numpy(), expected)


# -- both ways with MLflow 3.17.2 ---------------------------------------------------------------
def _run(code: str, blocked: str) -> Any:
    """Run ``code`` where ``blocked`` cannot be imported; its last stdout line is JSON."""
    shim = f"import sys; sys.modules[{blocked!r}] = None\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", shim + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


LOAD = """
    import json, sys
    import numpy as np, torch
    import {lib}.pyfunc, {lib}.pytorch
    X = np.array({x}, dtype=np.float32)
    out = {{}}
    for name, path in {paths}.items():
        out[name] = {lib}.pyfunc.load_model(path).predict(X).tolist()
        with torch.no_grad():
            out[name + "_raw"] = {lib}.pytorch.load_model(path)(torch.from_numpy(X)).tolist()
    out["blocked"] = sys.modules["{other}"] is None and not any(
        m.startswith("{other}.") for m in sys.modules)
    print(json.dumps(out))
"""

MLFLOW_SAVE = """
    import json
    import numpy as np
    import mlflow.pytorch
    from tests.pytorch_support.mlp import make_model
    X = np.array({x}, dtype=np.float32)
    mlflow.pytorch.save_model(make_model(), {out!r} + "/pickle", input_example=X[:2],
                              serialization_format="pickle")
    mlflow.pytorch.save_model(make_model(), {out!r} + "/pt2", input_example=X[:2])
    print(json.dumps("ok"))
"""


def test_both_ways_with_mlflow(saved: dict[str, Path], tmp_path: Path, expected: Any) -> None:
    paths = {"pickle": str(saved["array"]), "pt2": str(saved["pt2"])}
    in_mlflow = _run(LOAD.format(lib="mlflow", other="traza", x=X.tolist(), paths=paths), "traza")
    assert in_mlflow.pop("blocked") is True
    for value in in_mlflow.values():
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
    assert in_mlflow["pickle"] == expected.tolist()

    out = tmp_path / "by-mlflow"
    assert _run(MLFLOW_SAVE.format(x=X.tolist(), out=str(out)), "traza") == "ok"
    assert (out / "pickle/data/pickle_module_info.txt").read_text() == (
        "mlflow.pytorch.pickle_module"
    )
    paths = {"pickle": str(out / "pickle"), "pt2": str(out / "pt2")}
    in_traza = _run(LOAD.format(lib="traza", other="mlflow", x=X.tolist(), paths=paths), "mlflow")
    assert in_traza.pop("blocked") is True
    for value in in_traza.values():
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
    assert in_traza["pickle"] == expected.tolist()


# -- serving ----------------------------------------------------------------------------------
def test_models_serve_answers_invocations(
    saved: dict[str, Path], expected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_scoring import free_port, spawn, stop, wait_ready

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the model's class is imported by name
    port = free_port()
    process = spawn(
        [sys.executable, "-m", "traza", "models", "serve", "-m", str(saved["array"]),
         "-p", str(port), "--env-manager", "local"]
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    http = urllib3.PoolManager(retries=False, timeout=30)
    try:
        wait_ready(url, process)
        response = http.request("POST", url + "/invocations", json={"inputs": X.tolist()})
        assert response.status == 200, response.data
        predictions = json.loads(response.data)["predictions"]
        np.testing.assert_allclose(predictions, expected, rtol=1e-6)
        response = http.request("POST", url + "/invocations", json={"inputs": X[:, :3].tolist()})
        assert response.status == 400
        assert "does not match expected shape (-1, 64)" in json.loads(response.data)["message"]
    finally:
        stop(process)
