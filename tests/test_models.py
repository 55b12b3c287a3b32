"""Models in MLflow's format: save, log, load, URIs, schema enforcement and bad input.

Cross-loading with the real ``mlflow`` package is in ``test_models_mlflow.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression

import traza as mlflow
import traza.pyfunc
import traza.sklearn
from traza.entities import LoggedModelStatus
from traza.exceptions import TrazaException
from traza.models import Model, ModelSignature, infer_signature
from traza.models.schema import ColSpec, Schema, TensorSpec


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(20), "b": rng.random(20), "c": rng.random(20)})
    y = (3 * X["a"] - 2 * X["b"] + X["c"]).to_numpy()
    return X, y


@pytest.fixture
def regressor(data: tuple[pd.DataFrame, np.ndarray]) -> LinearRegression:
    return LinearRegression().fit(*data)


def test_save_model_writes_mlflows_layout(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray], regressor: LinearRegression
) -> None:
    X, _ = data
    path = tmp_path / "model"
    traza.sklearn.save_model(regressor, path, input_example=X.head(3))
    files = {p.name for p in path.iterdir()}
    assert files == {
        "MLmodel",
        "model.pkl",
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
        "input_example.json",
        "serving_input_example.json",
    }
    meta = yaml.safe_load((path / "MLmodel").read_text())
    pyfunc = meta["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"
    assert pyfunc["model_path"] == "model.pkl"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert meta["flavors"]["sklearn"]["serialization_format"] == "cloudpickle"
    import sklearn

    assert meta["flavors"]["sklearn"]["sklearn_version"] == sklearn.__version__
    # The signature was inferred from the example and the model's output on it.
    signature = ModelSignature.from_dict(meta["signature"])
    assert signature.inputs == Schema([ColSpec("double", n) for n in "abc"])
    assert signature.outputs == Schema([TensorSpec(np.dtype("float64"), (-1,))])
    requirements = (path / "requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={sklearn.__version__}" in requirements
    assert f"numpy=={np.__version__}" in requirements
    assert any(r.startswith("cloudpickle==") for r in requirements)
    assert not any(r.startswith(("mlflow", "traza")) for r in requirements)
    env = yaml.safe_load((path / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]
    assert json.loads((path / "serving_input_example.json").read_text()) == {
        "dataframe_split": {"columns": ["a", "b", "c"], "data": X.head(3).to_numpy().tolist()}
    }
    assert meta["model_size_bytes"] == sum(
        p.stat().st_size for p in path.iterdir() if p.name != "MLmodel"
    )


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle", "skops"])
def test_round_trip_in_each_serialization(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray], regressor: LinearRegression, fmt: str
) -> None:
    X, _ = data
    traza.sklearn.save_model(regressor, tmp_path / "m", serialization_format=fmt)
    loaded = traza.sklearn.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), regressor.predict(X))
    pyfunc = traza.pyfunc.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(pyfunc.predict(X), regressor.predict(X))
    assert isinstance(pyfunc.get_raw_model(), LinearRegression)


def test_input_examples_of_each_kind_reload(tmp_path: Path, regressor: LinearRegression) -> None:
    frame = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]})
    for i, (example, kind) in enumerate(
        [(frame, "dataframe"), (frame.to_numpy(), "ndarray"), ({"a": 1, "b": "x"}, "json_object")]
    ):
        path = tmp_path / str(i)
        traza.sklearn.save_model(
            regressor, path, input_example=example, signature=infer_signature(frame)
        )
        meta = Model.load(path)
        assert meta.saved_input_example_info["type"] == kind
        back = meta.load_input_example(path)
        if kind == "dataframe":
            pd.testing.assert_frame_equal(back, frame)
        elif kind == "ndarray":
            np.testing.assert_array_equal(back, frame.to_numpy())
        else:
            assert back == example


def test_log_model_creates_a_logged_model_linked_to_the_run(
    data: tuple[pd.DataFrame, np.ndarray], regressor: LinearRegression
) -> None:
    X, _ = data
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_metric("rmse", 0.25)
        info = traza.sklearn.log_model(
            regressor,
            name="model",
            signature=infer_signature(X, regressor.predict(X)),
            input_example=X.head(2),
            params={"extra": 1},
            tags={"team": "ml"},
        )
    assert info.model_id is not None and info.model_id.startswith("m-")
    assert info.model_uri == f"models:/{info.model_id}"
    assert info.run_id == run.info.run_id
    assert info.flavors["sklearn"]["pickled_model"] == "model.pkl"
    logged = mlflow.get_logged_model(info.model_id)
    assert logged.name == "model"
    assert logged.source_run_id == run.info.run_id
    assert LoggedModelStatus.parse(logged.status) == LoggedModelStatus.READY
    assert logged.params == {"alpha": "0.5", "extra": "1"}
    assert logged.tags["team"] == "ml"
    outputs = mlflow.get_run(run.info.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [info.model_id]
    assert mlflow.last_logged_model().model_id == info.model_id
    meta = Model.load(Path(logged.artifact_location.removeprefix("file://")))
    assert meta.model_id == info.model_id and meta.run_id == run.info.run_id
    expected = regressor.predict(X)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/model"):
        np.testing.assert_allclose(mlflow.pyfunc.load_model(uri).predict(X), expected)
        np.testing.assert_allclose(mlflow.sklearn.load_model(uri).predict(X), expected)
    found = mlflow.search_logged_models(filter_string="name = 'model'", output_format="list")
    assert [m.model_id for m in found] == [info.model_id]
    frame = mlflow.search_logged_models()
    assert list(frame["model_id"]) == [info.model_id]
    assert frame.loc[0, "status"] == "READY"


def test_artifact_path_is_still_accepted_and_clashes_with_name(
    regressor: LinearRegression,
) -> None:
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(regressor, artifact_path="legacy")
        with pytest.raises(TrazaException, match="not both"):
            mlflow.sklearn.log_model(regressor, name="a", artifact_path="b")
    assert mlflow.get_logged_model(info.model_id).name == "legacy"
    assert mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/legacy") is not None


def test_log_model_without_a_run_uses_the_current_experiment(
    regressor: LinearRegression,
) -> None:
    mlflow.set_experiment("no-run")
    info = mlflow.sklearn.log_model(regressor, name="free")
    logged = mlflow.get_logged_model(info.model_id)
    assert logged.source_run_id is None and info.run_id is None
    assert logged.experiment_id == mlflow.get_experiment_by_name("no-run").experiment_id
    assert mlflow.active_run() is None


def test_a_failed_save_marks_the_model_failed(regressor: LinearRegression) -> None:
    with mlflow.start_run(), pytest.raises(TrazaException, match="serialization format"):
        mlflow.sklearn.log_model(regressor, name="bad", serialization_format="json")
    (failed,) = mlflow.search_logged_models(output_format="list")
    assert LoggedModelStatus.parse(failed.status) == LoggedModelStatus.FAILED


def test_classifier_predict_fn_is_served(tmp_path: Path) -> None:
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    traza.sklearn.save_model(clf, tmp_path / "m", pyfunc_predict_fn="predict_proba")
    np.testing.assert_allclose(
        traza.pyfunc.load_model(str(tmp_path / "m")).predict(X), clf.predict_proba(X)
    )


# -- schema enforcement ------------------------------------------------------------------------
@pytest.fixture
def served(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray], regressor: LinearRegression):
    X, _ = data
    traza.sklearn.save_model(
        regressor, tmp_path / "m", signature=infer_signature(X, regressor.predict(X))
    )
    return traza.pyfunc.load_model(str(tmp_path / "m"))


def test_missing_column_is_named(served: traza.pyfunc.PyFuncModel) -> None:
    with pytest.raises(TrazaException, match=r"missing inputs \['c'\].*extra inputs: \['d'\]"):
        served.predict(pd.DataFrame({"a": [1.0], "b": [1.0], "d": [1.0]}))


def test_wrong_type_is_named(served: traza.pyfunc.PyFuncModel) -> None:
    bad = pd.DataFrame({"a": ["x"], "b": [1.0], "c": [1.0]})
    with pytest.raises(TrazaException, match=r"column a.*convert"):
        served.predict(bad)


def test_ints_widen_and_extra_columns_are_dropped(
    served: traza.pyfunc.PyFuncModel, regressor: LinearRegression
) -> None:
    ints = pd.DataFrame({"c": [3, 4], "b": [1, 2], "a": [5, 6], "extra": ["x", "y"]})
    expected = regressor.predict(ints[["a", "b", "c"]].astype(float))
    np.testing.assert_allclose(served.predict(ints), expected)
    np.testing.assert_allclose(
        served.predict({"a": 5.0, "b": 1.0, "c": 3.0}), expected[:1]
    )  # a dict of scalars is one row
    records = [{"a": 5.0, "b": 1.0, "c": 3.0}, {"a": 6.0, "b": 2.0, "c": 4.0}]
    np.testing.assert_allclose(served.predict(records), expected)


def test_floats_do_not_narrow_to_ints(tmp_path: Path) -> None:
    X = pd.DataFrame({"n": np.array([1, 2, 3], dtype="int64")})
    model = LinearRegression().fit(X, [1.0, 2.0, 3.0])
    traza.sklearn.save_model(model, tmp_path / "m", signature=infer_signature(X))
    loaded = traza.pyfunc.load_model(str(tmp_path / "m"))
    with pytest.raises(TrazaException, match=r"column n. Can not safely convert float64 to int64"):
        loaded.predict(pd.DataFrame({"n": [1.5]}))


def test_tensor_signatures_check_dtype_and_shape(tmp_path: Path) -> None:
    X = np.arange(12, dtype="float64").reshape(4, 3)
    model = LinearRegression().fit(X, [1.0, 2.0, 3.0, 4.0])
    traza.sklearn.save_model(model, tmp_path / "m", signature=infer_signature(X))
    loaded = traza.pyfunc.load_model(str(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict(X.astype("int32")), model.predict(X))
    with pytest.raises(TrazaException, match="Shape of input"):
        loaded.predict(np.zeros((2, 4)))
    with pytest.raises(TrazaException, match="dtype of input"):
        loaded.predict(np.array([["a", "b", "c"]]))


# -- bad input ---------------------------------------------------------------------------------
def test_save_refuses_a_non_empty_folder(tmp_path: Path, regressor: LinearRegression) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    with pytest.raises(TrazaException, match="already exists and is not empty"):
        traza.sklearn.save_model(regressor, tmp_path / "m")
    assert (tmp_path / "m" / "keep.txt").read_text() == "mine"


def test_missing_and_corrupted_mlmodel(tmp_path: Path, regressor: LinearRegression) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrazaException, match="No MLmodel file"):
        traza.pyfunc.load_model(str(tmp_path / "empty"))
    traza.sklearn.save_model(regressor, tmp_path / "m")
    (tmp_path / "m" / "MLmodel").write_text("flavors: [unclosed")
    with pytest.raises(TrazaException, match=r"MLmodel file .* is corrupted"):
        traza.pyfunc.load_model(str(tmp_path / "m"))


def test_unknown_model_uris(regressor: LinearRegression) -> None:
    with pytest.raises(TrazaException) as e:
        traza.pyfunc.load_model("models:/m-" + "0" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(TrazaException) as e:
        traza.pyfunc.load_model("runs:/" + "0" * 32 + "/model")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(TrazaException, match="does not exist"):
        traza.pyfunc.load_model("/no/such/folder")
    with mlflow.start_run() as run:
        pass
    with pytest.raises(TrazaException, match="does not exist"):
        traza.pyfunc.load_model(f"runs:/{run.info.run_id}/model")


def test_a_flavor_traza_lacks_is_named(tmp_path: Path, regressor: LinearRegression) -> None:
    traza.sklearn.save_model(regressor, tmp_path / "m")
    meta = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    meta["flavors"]["python_function"]["loader_module"] = "mlflow.tensorflow"
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(TrazaException, match=r"'mlflow.tensorflow', a flavor Traza does not") as e:
        traza.pyfunc.load_model(str(tmp_path / "m"))
    provided = e.value.message.partition("Traza loads: ")[2].partition(")")[0].split(", ")
    assert {"mlflow.sklearn", "mlflow.xgboost", "mlflow.lightgbm"} <= set(provided)


def test_a_missing_model_file_is_named(tmp_path: Path, regressor: LinearRegression) -> None:
    traza.sklearn.save_model(regressor, tmp_path / "m")
    (tmp_path / "m" / "model.pkl").unlink()
    with pytest.raises(TrazaException, match=r"model file .*model.pkl is missing"):
        traza.sklearn.load_model(tmp_path / "m")


def test_skops_refuses_untrusted_types_and_leaves_nothing(tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeRegressor

    tree = DecisionTreeRegressor().fit([[0.0], [1.0]], [0.0, 1.0])
    with pytest.raises(TrazaException, match=r"sklearn.tree._tree.Tree.*skops_trusted_types"):
        traza.sklearn.save_model(tree, tmp_path / "m", serialization_format="skops")
    assert not (tmp_path / "m").exists()
    trusted = ["sklearn.tree._tree.Tree"]
    traza.sklearn.save_model(
        tree, tmp_path / "m", serialization_format="skops", skops_trusted_types=trusted
    )
    assert traza.sklearn.load_model(tmp_path / "m").predict([[1.0]]) == [1.0]


def test_registered_versions_load_by_every_models_uri(
    data: tuple[pd.DataFrame, np.ndarray], regressor: LinearRegression
) -> None:
    X, y = data
    other = LinearRegression(fit_intercept=False).fit(X, y)
    with mlflow.start_run() as run:
        first = mlflow.sklearn.log_model(regressor, name="model", registered_model_name="salary")
        mlflow.sklearn.log_model(other, name="other")
    assert first.registered_model_version == 1
    second = mlflow.register_model(f"runs:/{run.info.run_id}/other", "salary")
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("salary", "champion", "1")
    with pytest.warns(FutureWarning, match="stages are deprecated"):
        client.transition_model_version_stage("salary", "2", "Production")
    by_first, by_other = regressor.predict(X), other.predict(X)
    for uri, expected in [
        ("models:/salary/1", by_first),
        ("models:/salary/2", by_other),
        ("models:/salary/latest", by_other),
        ("models:/salary@champion", by_first),
        ("models:/salary/Production", by_other),
    ]:
        np.testing.assert_allclose(mlflow.pyfunc.load_model(uri).predict(X), expected, err_msg=uri)
    assert second.version in (2, "2")
    for uri in ("models:/salary/3", "models:/nobody/1"):
        with pytest.raises(TrazaException) as e:
            mlflow.pyfunc.load_model(uri)
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST", uri
    with pytest.raises(TrazaException, match="alias nobody"):  # MLflow's code here: invalid
        mlflow.pyfunc.load_model("models:/salary@nobody")
    with pytest.raises(TrazaException, match="no version in stage 'Staging'"):
        mlflow.pyfunc.load_model("models:/salary/Staging")
    with pytest.raises(TrazaException, match="not a version number"):
        mlflow.pyfunc.load_model("models:/salary/v2")
