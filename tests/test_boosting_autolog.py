"""``traza.xgboost.autolog``, ``traza.lightgbm.autolog`` and ``traza.autolog`` with real XGBoost,
LightGBM and scikit-learn on a real store: what is logged, the options, and that patching is
safe (logging failures only warn, disable restores every original, no double patching).
The key-for-key comparison with MLflow is ``test_boosting_differential.py``."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
import xgboost as xgb
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import traza
import traza as mlflow
from traza import autologging, boosting_autolog
from traza.entities import Run
from traza.sklearn import _autolog_post

RNG = np.random.default_rng(3)
FRAME = pd.DataFrame(RNG.normal(size=(160, 4)), columns=["a", "b", "c", "d"])
TARGET = FRAME["a"] * 2 - FRAME["b"] + RNG.normal(0, 0.3, 160)
X_TRAIN, X_VALID = FRAME[:120], FRAME[120:]
Y_TRAIN, Y_VALID = TARGET[:120], TARGET[120:]
XGB_PARAMS = {"objective": "reg:squarederror", "max_depth": 2, "nthread": 1}
LGB_PARAMS = {"objective": "regression", "num_leaves": 4, "verbose": -1, "num_threads": 1}


@pytest.fixture(autouse=True)
def reset_autologging() -> Iterator[None]:
    """Each test starts and ends with nothing patched and no autologging configuration."""
    yield
    for name in list(autologging._configs):
        autologging.revert_patches(name)
    autologging._configs.clear()
    autologging._import_hooks.clear()
    _autolog_post.MANAGER.__init__()  # type: ignore[misc]


def runs() -> list[Run]:
    return list(mlflow.search_runs(experiment_ids=["0"], output_format="list"))


def only_run() -> Run:
    found = runs()
    assert len(found) == 1, len(found)
    return found[0]


def artifact_paths(run_id: str) -> set[str]:
    return {f.path for f in mlflow.MlflowClient().list_artifacts(run_id)}


def history(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in mlflow.MlflowClient().get_metric_history(run_id, key)]


def xgb_train(rounds: int = 8, **kwargs: Any) -> Any:
    dtrain = xgb.DMatrix(X_TRAIN, Y_TRAIN)
    dvalid = xgb.DMatrix(X_VALID, Y_VALID)
    evals = [(dtrain, "train"), (dvalid, "valid")]
    return xgb.train(XGB_PARAMS, dtrain, rounds, evals=evals, verbose_eval=False, **kwargs)


def lgb_train(rounds: int = 8, **kwargs: Any) -> Any:
    train_set = lgb.Dataset(X_TRAIN, Y_TRAIN)
    valid_set = lgb.Dataset(X_VALID, Y_VALID, reference=train_set)
    return lgb.train(LGB_PARAMS, train_set, rounds, valid_sets=[valid_set], **kwargs)


# -- what is logged ------------------------------------------------------------------------------
def test_xgboost_train_logs_params_metrics_importance_and_model() -> None:
    traza.xgboost.autolog(importance_types=["weight", "gain"])
    booster = xgb_train(rounds=8)
    run = only_run()
    assert run.info.status == "FINISHED"
    assert mlflow.active_run() is None
    params = run.data.params
    assert params["max_depth"] == "2" and params["num_boost_round"] == "8"
    assert params["early_stopping_rounds"] == "None" and params["verbose_eval"] == "False"
    assert "dtrain" not in params and "callbacks" not in params
    assert run.data.tags["mlflow.autologging"] == "xgboost"
    expected = booster.eval_set([(xgb.DMatrix(X_VALID, Y_VALID), "valid")])
    steps = history(run.info.run_id, "valid-rmse")
    assert [s for s, _ in steps] == list(range(8))
    assert f"{steps[-1][1]:.6f}" == expected.split(":")[1][:8]
    assert {"train-rmse", "valid-rmse"} == set(run.data.metrics)
    paths = artifact_paths(run.info.run_id)
    assert paths == {
        "feature_importance_weight.json",
        "feature_importance_weight.png",
        "feature_importance_gain.json",
        "feature_importance_gain.png",
    }
    local = mlflow.MlflowClient().download_artifacts(
        run.info.run_id, "feature_importance_gain.json"
    )
    assert json.loads(Path(local).read_text()) == pytest.approx(
        booster.get_score(importance_type="gain")
    )
    [output] = run.outputs.model_outputs
    loaded = traza.xgboost.load_model(f"models:/{output.model_id}")
    np.testing.assert_allclose(
        loaded.predict(xgb.DMatrix(X_VALID)), booster.predict(xgb.DMatrix(X_VALID))
    )
    model = mlflow.get_logged_model(output.model_id)
    assert {m.key for m in model.metrics or ()} == {"train-rmse", "valid-rmse"}
    assert traza.pyfunc.load_model(f"models:/{output.model_id}").metadata.signature is not None


def test_xgboost_early_stopping_logs_best_iteration() -> None:
    traza.xgboost.autolog(log_models=False)
    booster = xgb_train(rounds=300, early_stopping_rounds=2)
    run = only_run()
    recorded = history(run.info.run_id, "valid-rmse")
    iterations = booster.num_boosted_rounds()
    assert len(recorded) == iterations + 1
    assert run.data.metrics["stopped_iteration"] == iterations - 1
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert recorded[-1] == (iterations, recorded[booster.best_iteration][1])


def test_lightgbm_train_logs_params_metrics_importance_and_model() -> None:
    traza.lightgbm.autolog(log_input_examples=True)
    booster = lgb_train(rounds=6, valid_names=["holdout"])
    run = only_run()
    assert run.data.params["num_leaves"] == "4"
    assert run.data.params["num_boost_round"] == "6"
    assert run.data.params["keep_training_booster"] == "False"
    assert [s for s, _ in history(run.info.run_id, "holdout-l2")] == list(range(6))
    assert "stopped_iteration" not in run.data.metrics  # no early stopping
    assert artifact_paths(run.info.run_id) >= {
        "feature_importance_split.json",
        "feature_importance_gain.png",
    }
    inputs = {(d.dataset.name, d.tags[0].value) for d in run.inputs.dataset_inputs}
    assert inputs == {("dataset", "train"), ("holdout", "eval")}
    [output] = run.outputs.model_outputs
    pyfunc = traza.pyfunc.load_model(f"models:/{output.model_id}")
    np.testing.assert_allclose(np.asarray(pyfunc.predict(X_VALID)), booster.predict(X_VALID))
    assert pyfunc.metadata.saved_input_example_info is not None


def test_lightgbm_early_stopping_logs_best_iteration() -> None:
    traza.lightgbm.autolog(log_models=False)
    booster = lgb_train(rounds=300, callbacks=[lgb.early_stopping(2, verbose=False)])
    run = only_run()
    recorded = history(run.info.run_id, "valid_0-l2")
    stopped = len(recorded) - 1
    assert run.data.metrics["stopped_iteration"] == stopped
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert recorded[-1] == (stopped, recorded[booster.best_iteration - 1][1])


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_sklearn_wrapper_logs_its_class_and_post_training_metrics(library: str) -> None:
    if library == "xgboost":
        traza.xgboost.autolog()
        model: Any = xgb.XGBRegressor(n_estimators=5, max_depth=2, n_jobs=1)
        model.fit(X_TRAIN, Y_TRAIN, eval_set=[(X_VALID, Y_VALID)], verbose=False)
        metric = "validation_0-rmse"
    else:
        traza.lightgbm.autolog()
        model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1)
        model.fit(X_TRAIN, Y_TRAIN, eval_X=(X_VALID,), eval_y=(Y_VALID,))
        metric = "valid_0-l2"
    held_out = X_VALID
    predictions = model.predict(held_out)
    mse = sklearn.metrics.mean_squared_error(Y_VALID, predictions)
    run = only_run()
    assert run.data.tags["mlflow.autologging"] == library
    assert [s for s, _ in history(run.info.run_id, metric)] == list(range(5))
    assert run.data.metrics["mean_squared_error_held_out"] == pytest.approx(mse)
    [output] = run.outputs.model_outputs
    loaded = getattr(traza, library).load_model(f"models:/{output.model_id}")
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.predict(X_VALID), predictions, rtol=1e-6)


def test_only_the_outermost_fit_logs() -> None:
    traza.sklearn.autolog(log_models=False)
    traza.xgboost.autolog(log_models=False)
    pipeline = Pipeline([("scale", StandardScaler()), ("xgb", xgb.XGBRegressor(n_estimators=3))])
    pipeline.fit(X_TRAIN, Y_TRAIN)
    run = only_run()
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    assert not any(k.startswith("validation_") for k in run.data.metrics)
    assert "feature_importance_weight.json" not in artifact_paths(run.info.run_id)


# -- options -------------------------------------------------------------------------------------
def test_registered_model_name_registers_each_trained_model() -> None:
    traza.xgboost.autolog(registered_model_name="boosted")
    xgb_train(rounds=2)
    xgb.XGBRegressor(n_estimators=2).fit(X_TRAIN, Y_TRAIN)
    versions = mlflow.MlflowClient().search_model_versions("name='boosted'")
    assert sorted(int(v.version) for v in versions) == [1, 2]


def test_signature_and_example_options() -> None:
    traza.lightgbm.autolog(log_input_examples=False, log_model_signatures=False)
    lgb_train(rounds=2)
    [output] = only_run().outputs.model_outputs
    meta = traza.pyfunc.load_model(f"models:/{output.model_id}").metadata
    assert meta.signature is None and meta.saved_input_example_info is None


def test_log_datasets_false_and_extra_tags() -> None:
    traza.xgboost.autolog(log_datasets=False, log_models=False, extra_tags={"team": "boost"})
    xgb_train(rounds=2)
    run = only_run()
    assert run.inputs.dataset_inputs == ()
    assert run.data.tags["team"] == "boost"
    with pytest.raises(traza.TrazaException, match="extra_tags"):
        traza.xgboost.autolog(extra_tags=["not", "a", "dict"])  # type: ignore[arg-type]


def test_autolog_inside_user_run_uses_it_and_exclusive_stays_out() -> None:
    traza.lightgbm.autolog(log_models=False)
    with mlflow.start_run() as run:
        lgb_train(rounds=2)
        assert mlflow.active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]
    logged = only_run()
    assert logged.data.params["num_leaves"] == "4"
    assert "mlflow.autologging" not in logged.data.tags
    traza.lightgbm.autolog(log_models=False, exclusive=True)
    with mlflow.start_run() as other:
        lgb_train(rounds=2)
    assert mlflow.get_run(other.info.run_id).data.params == {}


def test_user_callbacks_are_left_as_they_were() -> None:
    traza.lightgbm.autolog(log_models=False)
    seen: list[int] = []
    callbacks = [lambda env: seen.append(env.iteration)]
    lgb_train(rounds=3, callbacks=callbacks)
    assert len(callbacks) == 1 and seen == [0, 1, 2]


# -- safety --------------------------------------------------------------------------------------
def _originals() -> dict[str, Any]:
    return {
        "xgb.train": xgb.__dict__["train"],
        "xgb.sklearn.train": xgb.sklearn.__dict__["train"],
        "DMatrix.__init__": xgb.DMatrix.__dict__["__init__"],
        "XGBRegressor.fit": xgb.XGBRegressor.__dict__.get("fit"),
        "XGBRFRegressor.fit": xgb.XGBRFRegressor.__dict__.get("fit"),
        "lgb.train": lgb.__dict__["train"],
        "lgb.sklearn.train": lgb.sklearn.__dict__["train"],
        "Dataset.__init__": lgb.Dataset.__dict__["__init__"],
        "LGBMRegressor.fit": lgb.LGBMRegressor.__dict__.get("fit"),
        "mean_squared_error": sklearn.metrics.__dict__["mean_squared_error"],
    }


def test_disable_restores_every_original() -> None:
    before = _originals()
    traza.xgboost.autolog()
    traza.lightgbm.autolog()
    patched = _originals()
    assert all(patched[k] is not before[k] for k in before if k != "mean_squared_error")
    traza.xgboost.autolog(disable=True)
    traza.lightgbm.autolog(disable=True)
    assert _originals() == before
    xgb_train(rounds=2)
    assert runs() == []


def test_integrations_sharing_a_function_restore_it_in_any_order() -> None:
    original = sklearn.metrics.__dict__["mean_squared_error"]
    traza.sklearn.autolog(log_models=False)
    traza.xgboost.autolog(log_models=False)
    traza.lightgbm.autolog(log_models=False)
    traza.sklearn.autolog(disable=True)
    assert sklearn.metrics.__dict__["mean_squared_error"] is not original  # still patched
    traza.lightgbm.autolog(disable=True)
    traza.xgboost.autolog(disable=True)
    assert sklearn.metrics.__dict__["mean_squared_error"] is original


def test_calling_autolog_twice_patches_once() -> None:
    traza.xgboost.autolog(log_models=False)
    traza.xgboost.autolog(log_models=False)
    patched = xgb.__dict__["train"]
    assert not hasattr(patched.__traza_autolog_original__, "__traza_autolog_original__")
    xgb_train(rounds=2)
    run = only_run()
    assert len(history(run.info.run_id, "train-rmse")) == 2  # not logged twice


@pytest.mark.parametrize("silent", [False, True])
def test_a_logging_failure_never_breaks_training(
    silent: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    traza.xgboost.autolog(log_models=False, silent=silent)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("importance exploded")

    monkeypatch.setattr(boosting_autolog, "log_importance", boom)
    with caplog.at_level(logging.DEBUG, logger="traza"):
        booster = xgb_train(rounds=3)
    assert booster.num_boosted_rounds() == 3
    run = only_run()
    assert run.info.status == "FINISHED"
    assert len(history(run.info.run_id, "valid-rmse")) == 3  # the rest was logged
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("traza")]
    assert any("importance exploded" in m for m in messages) != silent


def test_a_failing_metrics_store_does_not_stop_training(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    traza.lightgbm.autolog(log_models=False)

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(boosting_autolog.IterationMetrics, "record", refuse)
    with caplog.at_level(logging.WARNING, logger="traza"):
        booster = lgb_train(rounds=4)
    assert booster.current_iteration() == 4
    assert any("disk full" in r.getMessage() for r in caplog.records)


def test_user_errors_propagate_and_fail_the_run() -> None:
    traza.xgboost.autolog()
    with pytest.raises(xgb.core.XGBoostError):
        xgb.train({"objective": "no:such"}, xgb.DMatrix(X_TRAIN, Y_TRAIN), 2)
    run = only_run()
    assert run.info.status == "FAILED"
    assert [m.status for m in mlflow.search_logged_models(output_format="list")] == ["FAILED"]


def test_plot_is_skipped_without_matplotlib(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    traza.lightgbm.autolog(log_models=False)
    with caplog.at_level(logging.WARNING, logger="traza"):
        lgb_train(rounds=2)
    paths = artifact_paths(only_run().info.run_id)
    assert paths == {"feature_importance_split.json", "feature_importance_gain.json"}
    assert any("matplotlib is not installed" in r.getMessage() for r in caplog.records)


# -- traza.autolog() and registered_model_name -----------------------------------------------------
def test_top_level_autolog_enables_the_boosting_libraries() -> None:
    mlflow.autolog(log_models=False, exclude_flavors=["lightgbm"])
    assert autologging.get_config("xgboost", "globally_configured") is True
    assert autologging.is_disabled("lightgbm")
    xgb_train(rounds=2)
    assert only_run().data.tags["mlflow.autologging"] == "xgboost"
    lgb_train(rounds=2)
    assert len(runs()) == 1
    mlflow.autolog(disable=True)
    assert xgb.__dict__["train"].__name__ == "train"
    assert not hasattr(xgb.__dict__["train"], "__traza_autolog_original__")


def test_top_level_autolog_enables_lightning_autolog() -> None:
    import lightning  # noqa: F401  (installed by the test extras)

    mlflow.autolog(log_models=False)
    assert autologging.get_config("pytorch", "globally_configured") is True
    assert not autologging.is_disabled("pytorch")
    assert autologging.get_config("pytorch", "log_models") is False
    mlflow.autolog(disable=True)
    assert autologging.is_disabled("pytorch")


def test_top_level_autolog_patches_libraries_imported_later(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import traza
        traza.set_tracking_uri(sys.argv[1])
        traza.autolog(log_models=False)
        assert "xgboost" not in sys.modules and "lightgbm" not in sys.modules
        import numpy as np
        import lightgbm as lgb
        import xgboost as xgb
        X = np.arange(40.0).reshape(20, 2)
        y = X[:, 0] * 2
        d = xgb.DMatrix(X, y)
        xgb.train({"nthread": 1}, d, 2, evals=[(d, "train")])
        lgb.train({"verbose": -1}, lgb.Dataset(X, y), 2)
        found = traza.search_runs(experiment_ids=["0"], output_format="list")
        print(sorted(r.data.tags["mlflow.autologging"] for r in found))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "store")],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.stdout.strip().splitlines()[-1] == "['lightgbm', 'xgboost']"


def test_top_level_autolog_takes_mlflows_arguments() -> None:
    import inspect

    assert list(inspect.signature(mlflow.autolog).parameters) == [
        "log_input_examples",
        "log_model_signatures",
        "log_models",
        "log_datasets",
        "log_traces",
        "disable",
        "exclusive",
        "disable_for_unsupported_versions",
        "silent",
        "extra_tags",
        "exclude_flavors",
    ]
    assert set(autologging.LIBRARY_TO_AUTOLOG_MODULE) == {
        "sklearn",
        "xgboost",
        "lightgbm",
        "lightning",
        "pytorch_lightning",
    }


@pytest.mark.parametrize("flavor", ["xgboost", "lightgbm", "pyfunc", "pytorch", "sklearn"])
def test_every_log_model_takes_registered_model_name(flavor: str) -> None:
    import inspect

    module = getattr(traza, flavor)
    parameter = inspect.signature(module.log_model).parameters["registered_model_name"]
    assert parameter.default is None
