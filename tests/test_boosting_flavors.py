"""XGBoost and LightGBM models (``traza.xgboost``, ``traza.lightgbm``): save, log, load, predict
with the signature enforced, both ways with MLflow 3.17.2 (each load in a subprocess where the
other library cannot be imported), and ``traza models serve`` answering ``/invocations``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml
from tests.test_scoring import HTTP, free_port, spawn, stop, wait_ready

import traza as mlflow
import traza.lightgbm
import traza.pyfunc
import traza.xgboost
from traza.exceptions import TrazaException

RNG = np.random.default_rng(7)
X = RNG.random((300, 4))
Y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + RNG.normal(0, 0.1, 300)
FRAME = pd.DataFrame(X, columns=["a", "b", "c", "d"])
TREES = 100
#: kind → (flavor module name, expected class); boosters learn from a DataFrame (a column
#: signature), the scikit-learn wrappers from a numpy array (a tensor signature).
KINDS = {
    "xgb_booster": ("xgboost", "xgboost.core.Booster"),
    "xgb_sklearn": ("xgboost", "xgboost.sklearn.XGBRegressor"),
    "lgb_booster": ("lightgbm", "lightgbm.basic.Booster"),
    "lgb_sklearn": ("lightgbm", "lightgbm.sklearn.LGBMRegressor"),
}


def _train(kind: str) -> Any:
    if kind == "xgb_booster":
        return xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(FRAME, label=Y), TREES)
    if kind == "xgb_sklearn":
        return xgb.XGBRegressor(n_estimators=TREES, max_depth=3, n_jobs=1).fit(X, Y)
    if kind == "lgb_booster":
        params = {"verbose": -1, "num_threads": 1, "objective": "regression"}
        return lgb.train(params, lgb.Dataset(FRAME, Y), TREES)
    return lgb.LGBMRegressor(n_estimators=TREES, verbose=-1, n_jobs=1).fit(X, Y)


def _input(kind: str) -> Any:
    return FRAME if kind.endswith("booster") else X


def _raw_predict(model: Any, data: Any) -> np.ndarray:
    if isinstance(model, xgb.Booster):
        return np.asarray(model.predict(xgb.DMatrix(data)))
    return np.asarray(model.predict(data))


def _flavor(kind: str) -> Any:
    return traza.xgboost if KINDS[kind][0] == "xgboost" else traza.lightgbm


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    return {kind: _train(kind) for kind in KINDS}


@pytest.fixture(scope="module")
def saved(models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each model saved by Traza, with an input example (so a signature is inferred)."""
    root = tmp_path_factory.mktemp("traza-boosting")
    for kind, model in models.items():
        _flavor(kind).save_model(model, root / kind, input_example=_input(kind)[:5])
    return root


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_predict(kind: str, models: dict[str, Any], saved: Path) -> None:
    flavor, model_class = KINDS[kind]
    meta = yaml.safe_load((saved / kind / "MLmodel").read_text())
    conf = meta["flavors"][flavor]
    assert conf["model_class"] == model_class
    assert meta["flavors"]["python_function"]["loader_module"] == f"mlflow.{flavor}"
    assert meta["flavors"]["python_function"]["data"] == conf["data"]
    if flavor == "xgboost":
        assert conf["data"] == "model.ubj" and conf["model_format"] == "ubj"
        assert conf["xgb_version"] == xgb.__version__
    else:
        assert conf["data"] == ("model.lgb" if kind == "lgb_booster" else "model.pkl")
        assert conf["lgb_version"] == lgb.__version__
    assert (saved / kind / conf["data"]).is_file()
    data = _input(kind)
    expected = _raw_predict(models[kind], data)
    loaded = _flavor(kind).load_model(str(saved / kind))
    assert f"{type(loaded).__module__}.{type(loaded).__qualname__}" == model_class
    np.testing.assert_array_equal(_raw_predict(loaded, data), expected)
    pyfunc = traza.pyfunc.load_model(str(saved / kind))
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(data)), expected)
    assert type(pyfunc.get_raw_model()) is type(loaded)


def test_signature_is_enforced(saved: Path) -> None:
    booster = traza.pyfunc.load_model(str(saved / "xgb_booster"))
    with pytest.raises(TrazaException, match=r"missing inputs \['d'\]"):
        booster.predict(FRAME[["a", "b", "c"]])
    as_text = FRAME.head(2).astype(str)
    with pytest.raises(TrazaException):
        booster.predict(as_text)
    wrapper = traza.pyfunc.load_model(str(saved / "lgb_sklearn"))
    with pytest.raises(TrazaException, match="shape"):
        wrapper.predict(X[:, :3])
    # A column signature takes the same table as a numpy array with those columns' count.
    lgb_booster = traza.pyfunc.load_model(str(saved / "lgb_booster"))
    np.testing.assert_allclose(lgb_booster.predict(FRAME.head(3)), lgb_booster.predict(FRAME)[:3])


def test_requirements_name_what_users_install(tmp_path: Path, models: dict[str, Any]) -> None:
    from importlib.metadata import version

    traza.xgboost.save_model(models["xgb_sklearn"], tmp_path / "x")
    assert (tmp_path / "x" / "requirements.txt").read_text().splitlines() == [
        f"xgboost-cpu=={version('xgboost-cpu')}"
    ]
    assert traza.xgboost.get_default_pip_requirements() == [
        f"xgboost-cpu=={version('xgboost-cpu')}"
    ]
    traza.lightgbm.save_model(models["lgb_booster"], tmp_path / "l")
    lines = (tmp_path / "l" / "requirements.txt").read_text().splitlines()
    assert lines == [f"lightgbm=={lgb.__version__}"]
    traza.lightgbm.save_model(models["lgb_sklearn"], tmp_path / "ls", extra_pip_requirements=["a"])
    lines = (tmp_path / "ls" / "requirements.txt").read_text().splitlines()
    assert lines == [f"lightgbm=={lgb.__version__}", f"cloudpickle=={version('cloudpickle')}", "a"]
    traza.xgboost.save_model(models["xgb_booster"], tmp_path / "p", pip_requirements=["xgboost"])
    assert (tmp_path / "p" / "requirements.txt").read_text() == "xgboost"


def test_formats_and_bad_input(tmp_path: Path, models: dict[str, Any]) -> None:
    traza.xgboost.save_model(models["xgb_sklearn"], tmp_path / "json", model_format="json")
    conf = yaml.safe_load((tmp_path / "json" / "MLmodel").read_text())["flavors"]["xgboost"]
    assert conf["data"] == "model.json" and json.loads((tmp_path / "json/model.json").read_text())
    loaded = traza.xgboost.load_model(str(tmp_path / "json"))
    np.testing.assert_array_equal(loaded.predict(X), models["xgb_sklearn"].predict(X))
    traza.lightgbm.save_model(models["lgb_sklearn"], tmp_path / "sk", serialization_format="skops")
    conf = yaml.safe_load((tmp_path / "sk" / "MLmodel").read_text())["flavors"]["lightgbm"]
    assert conf["data"] == "model.skops" and "lightgbm.basic.Booster" in conf["skops_trusted_types"]
    loaded = traza.lightgbm.load_model(str(tmp_path / "sk"))
    np.testing.assert_array_equal(loaded.predict(X), models["lgb_sklearn"].predict(X))
    with pytest.raises(TrazaException, match="not an XGBoost model"):
        traza.xgboost.save_model(object(), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(TrazaException, match="Unrecognized serialization format"):
        traza.lightgbm.save_model(models["lgb_sklearn"], tmp_path / "bad", serialization_format="x")
    # An MLmodel cannot make Traza import a class from outside xgboost.
    meta = yaml.safe_load((tmp_path / "json" / "MLmodel").read_text())
    meta["flavors"]["xgboost"]["model_class"] = "subprocess.Popen"
    (tmp_path / "json" / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(TrazaException, match="not an XGBoost class"):
        traza.xgboost.load_model(str(tmp_path / "json"))
    with pytest.raises(TrazaException, match="has no lightgbm flavor"):
        traza.lightgbm.load_model(str(tmp_path / "json"))


@pytest.mark.parametrize("kind", ["xgb_sklearn", "lgb_booster"])
def test_log_model_registers_and_loads_by_uri(kind: str, models: dict[str, Any]) -> None:
    flavor = _flavor(kind)
    data = _input(kind)
    with mlflow.start_run() as run:
        info = flavor.log_model(
            models[kind], name="model", input_example=data[:3], registered_model_name=kind
        )
    assert info.registered_model_version == 1 and info.signature is not None
    assert info.flavors["python_function"]["loader_module"] == f"mlflow.{KINDS[kind][0]}"
    expected = _raw_predict(models[kind], data)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/model", f"models:/{kind}/1"):
        np.testing.assert_array_equal(traza.pyfunc.load_model(uri).predict(data), expected)
        np.testing.assert_array_equal(_raw_predict(flavor.load_model(uri), data), expected)


# -- both ways with MLflow 3.17.2 ---------------------------------------------------------------
def _run(code: str, blocked: str, **values: Any) -> Any:
    """Run ``code`` in a new interpreter where ``blocked`` cannot be imported; its last stdout
    line is JSON."""
    shim = f"import sys; sys.modules[{blocked!r}] = None\n"
    shim += "".join(f"{k} = {v!r}\n" for k, v in values.items())
    result = subprocess.run(
        [sys.executable, "-c", shim + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


COMMON = """
    import json
    import numpy as np, pandas as pd, xgboost as xgb, lightgbm as lgb

    X = np.array(XS)
    FRAME = pd.DataFrame(X, columns=["a", "b", "c", "d"])

    def data(kind):
        return FRAME if kind.endswith("booster") else X

    def raw(model, d):
        if isinstance(model, xgb.Booster):
            return model.predict(xgb.DMatrix(d)).tolist()
        return model.predict(d).tolist()
"""

MLFLOW_SIDE = (
    COMMON
    + """
    import mlflow
    out = {"pyfunc": {}, "flavor": {}, "saved": {}}
    for kind in KINDS:
        flavor = getattr(mlflow, "xgboost" if kind.startswith("xgb") else "lightgbm")
        path = f"{TRAZA}/{kind}"
        predicted = mlflow.pyfunc.load_model(path).predict(data(kind))
        out["pyfunc"][kind] = np.asarray(predicted).tolist()
        out["flavor"][kind] = raw(flavor.load_model(path), data(kind))

    Y = X @ np.array([1.0, -2.0, 0.5, 3.0])
    made = {
        "xgb_booster": xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(FRAME, label=Y), 100),
        "xgb_sklearn": xgb.XGBRegressor(n_estimators=100, max_depth=3, n_jobs=1).fit(X, Y),
        "lgb_booster": lgb.train({"verbose": -1, "num_threads": 1}, lgb.Dataset(FRAME, Y), 100),
        "lgb_sklearn": lgb.LGBMRegressor(n_estimators=100, verbose=-1, n_jobs=1).fit(X, Y),
    }
    for kind, model in made.items():
        flavor = getattr(mlflow, "xgboost" if kind.startswith("xgb") else "lightgbm")
        # Pinned requirements skip MLflow's slow inference; the LGBMRegressor is MLflow's skops.
        flavor.save_model(model, f"{MLFLOW}/{kind}", input_example=data(kind)[:3],
                          pip_requirements=["xgboost" if kind.startswith("xgb") else "lightgbm"])
        out["saved"][kind] = raw(model, data(kind))
    print(json.dumps(out))
"""
)

TRAZA_SIDE = (
    COMMON
    + """
    import traza as mlflow
    import traza.pyfunc, traza.xgboost, traza.lightgbm
    out = {"pyfunc": {}, "flavor": {}, "blocked": sys.modules["mlflow"] is None}
    for kind in KINDS:
        flavor = traza.xgboost if kind.startswith("xgb") else traza.lightgbm
        path = f"{MLFLOW}/{kind}"
        out["pyfunc"][kind] = np.asarray(traza.pyfunc.load_model(path).predict(data(kind))).tolist()
        out["flavor"][kind] = raw(flavor.load_model(path), data(kind))
    print(json.dumps(out))
"""
)


def test_models_move_both_ways_with_mlflow(
    saved: Path, models: dict[str, Any], tmp_path: Path
) -> None:
    sample = X[:20]
    values = {"XS": sample.tolist(), "KINDS": list(KINDS), "TRAZA": str(saved)}
    theirs = _run(MLFLOW_SIDE, "traza", MLFLOW=str(tmp_path), **values)
    for kind, model in models.items():
        data = FRAME.head(20) if kind.endswith("booster") else sample
        expected = _raw_predict(model, data).tolist()
        assert theirs["pyfunc"][kind] == expected, kind
        assert theirs["flavor"][kind] == expected, kind
    lgb_conf = yaml.safe_load((tmp_path / "lgb_sklearn" / "MLmodel").read_text())
    assert lgb_conf["flavors"]["lightgbm"]["serialization_format"] == "skops"
    ours = _run(TRAZA_SIDE, "mlflow", MLFLOW=str(tmp_path), **values)
    assert ours["blocked"] is True
    for kind in KINDS:
        assert ours["pyfunc"][kind] == theirs["saved"][kind], kind
        assert ours["flavor"][kind] == theirs["saved"][kind], kind


# -- serving ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["xgb_booster", "lgb_sklearn"])
def test_models_serve_answers_invocations(kind: str, saved: Path, models: dict[str, Any]) -> None:
    port = free_port()
    process = spawn(
        [sys.executable, "-m", "traza", "models", "serve", "-m", str(saved / kind),
         "-p", str(port), "--env-manager", "local"]
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    if kind.endswith("booster"):
        body = {"dataframe_split": FRAME.head(4).to_dict(orient="split")}
        bad = {"dataframe_split": FRAME[["a", "b"]].head(4).to_dict(orient="split")}
    else:
        body = {"inputs": X[:4].tolist()}
        bad = {"inputs": X[:4, :2].tolist()}
    try:
        wait_ready(url, process)
        headers = {"Content-Type": "application/json"}
        invocations = url + "/invocations"
        response = HTTP.request("POST", invocations, body=json.dumps(body), headers=headers)
        assert response.status == 200, response.data
        expected = _raw_predict(models[kind], _input(kind)[:4]).tolist()
        assert json.loads(response.data) == {"predictions": expected}
        response = HTTP.request("POST", invocations, body=json.dumps(bad), headers=headers)
        assert response.status == 400
        assert json.loads(response.data)["error_code"] == "BAD_REQUEST"
    finally:
        stop(process)


def test_classifiers_load_as_their_class(tmp_path: Path) -> None:
    labels = (np.median(Y) < Y).astype(int)
    for flavor, model in [
        (traza.xgboost, xgb.XGBClassifier(n_estimators=20, n_jobs=1).fit(X, labels)),
        (traza.lightgbm, lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(X, labels)),
    ]:
        path = tmp_path / flavor.FLAVOR_NAME
        flavor.save_model(model, path, input_example=X[:3])
        loaded = flavor.load_model(str(path))
        assert type(loaded) is type(model)
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
        predicted = traza.pyfunc.load_model(str(path)).predict(X)
        np.testing.assert_array_equal(predicted, model.predict(X))
        assert set(np.unique(predicted)) == {0, 1}
