"""``traza.sklearn.autolog`` / ``traza.autolog`` with real sklearn on a real store, and side by
side with the real ``mlflow.sklearn.autolog`` for the same fits."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import traza
import traza as mlflow
from conftest import served_store
from traza import autologging
from traza.entities import Run
from traza.sklearn import _autolog_post
from traza.sklearn.autolog import autolog as sklearn_autolog

REGRESSOR_METRICS = {
    "training_mean_squared_error",
    "training_root_mean_squared_error",
    "training_mean_absolute_error",
    "training_r2_score",
    "training_score",
}
CLASSIFIER_METRICS = {
    "training_accuracy_score",
    "training_precision_score",
    "training_recall_score",
    "training_f1_score",
    "training_log_loss",
    "training_roc_auc",
    "training_score",
}


@pytest.fixture(autouse=True)
def reset_autologging() -> Iterator[None]:
    """Each test starts and ends with nothing patched and no autologging configuration."""
    yield
    for name in list(autologging._configs):
        autologging.revert_patches(name)
    autologging._configs.clear()
    autologging._import_hooks.clear()
    _autolog_post.MANAGER.__init__()  # type: ignore[misc]


def salary_data() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The seeds' Salary_predict.csv shape, split as the seeds' train_model.py splits it."""
    rng = np.random.default_rng(42)
    n = 200
    experience = rng.integers(0, 30, n)
    age = experience + rng.integers(20, 30, n)
    score = rng.integers(1, 10, n)
    salary = 30000 + 2000 * experience + 150 * age + 900 * score + rng.normal(0, 1000, n)
    df = pd.DataFrame(
        {"experience": experience, "age": age, "interview_score": score, "Salary": salary}
    )
    X = df[["experience", "age", "interview_score"]]
    y = df[["Salary"]]
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=0.7, random_state=0)
    return X_train, X_test, y_train, y_test


def runs() -> list[Run]:
    return list(mlflow.search_runs(experiment_ids=["0"], output_format="list"))


def only_run() -> Run:
    found = runs()
    assert len(found) == 1, [r.data.tags.get("estimator_name") for r in found]
    return found[0]


def artifact_paths(run_id: str) -> set[str]:
    return {f.path for f in mlflow.MlflowClient().list_artifacts(run_id)}


# -- the seeds' script ---------------------------------------------------------------------------
def test_seed_linear_regression_logs_params_metrics_tags() -> None:
    X_train, _, y_train, _ = salary_data()
    mlflow.sklearn.autolog(log_models=False)

    lr = LinearRegression()
    assert lr.fit(X_train, y_train) is lr

    assert mlflow.active_run() is None  # the run autologging started is ended
    run = only_run()
    mlflow.sklearn.autolog(disable=True)  # the expected values below must not log themselves
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "copy_X": "True",
        "fit_intercept": "True",
        "n_jobs": "None",
        "positive": "False",
        "tol": "1e-06",
    }
    pred = lr.predict(X_train)
    mse = sklearn.metrics.mean_squared_error(y_train, pred)
    expected = {
        "training_mean_squared_error": mse,
        "training_root_mean_squared_error": math.sqrt(mse),
        "training_mean_absolute_error": sklearn.metrics.mean_absolute_error(y_train, pred),
        "training_r2_score": sklearn.metrics.r2_score(y_train, pred),
        "training_score": lr.score(X_train, y_train),
    }
    assert set(run.data.metrics) == REGRESSOR_METRICS
    for key, value in expected.items():
        assert run.data.metrics[key] == pytest.approx(value, rel=1e-12), key
    tags = run.data.tags
    assert tags["estimator_name"] == "LinearRegression"
    assert tags["estimator_class"] == "sklearn.linear_model._base.LinearRegression"
    assert tags["mlflow.autologging"] == "sklearn"
    [dataset] = run.inputs.dataset_inputs
    assert [(t.key, t.value) for t in dataset.tags] == [("mlflow.data.context", "train")]
    assert dataset.dataset.source_type == "code"
    assert "experience" in (dataset.dataset.schema or "")
    assert artifact_paths(run.info.run_id) == {"estimator.html"}


def test_pipeline_logs_one_run_with_classifier_metrics() -> None:
    X, y = load_iris(return_X_y=True)
    sklearn_autolog(log_models=False)
    pipe = Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    pipe.fit(X, y)
    sklearn_autolog(disable=True)  # computing the expected values must not log them

    run = only_run()  # the scaler's and the classifier's fits log nothing of their own
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.params["clf__max_iter"] == "500"
    assert run.data.params["scaler__with_mean"] == "True"
    assert set(run.data.metrics) == CLASSIFIER_METRICS
    pred, proba = pipe.predict(X), pipe.predict_proba(X)
    m = run.data.metrics
    weighted = {"average": "weighted"}
    assert m["training_accuracy_score"] == pytest.approx(sklearn.metrics.accuracy_score(y, pred))
    assert m["training_precision_score"] == pytest.approx(
        sklearn.metrics.precision_score(y, pred, **weighted)
    )
    assert m["training_recall_score"] == pytest.approx(
        sklearn.metrics.recall_score(y, pred, **weighted)
    )
    assert m["training_f1_score"] == pytest.approx(sklearn.metrics.f1_score(y, pred, **weighted))
    assert m["training_log_loss"] == pytest.approx(sklearn.metrics.log_loss(y, proba))
    assert m["training_roc_auc"] == pytest.approx(
        sklearn.metrics.roc_auc_score(y, proba, average="weighted", multi_class="ovo")
    )
    assert artifact_paths(run.info.run_id) == {"estimator.html", "training_confusion_matrix.png"}


def test_binary_classifier_with_pos_label_and_curves() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    sklearn_autolog(log_models=False, pos_label=1)
    pipe = Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression())])
    pipe.fit(X, y)
    sklearn_autolog(disable=True)
    run = only_run()
    pred = pipe.predict(X)
    assert run.data.metrics["training_f1_score"] == pytest.approx(
        sklearn.metrics.f1_score(y, pred, pos_label=1, average="binary")
    )
    assert run.data.metrics["training_roc_auc"] == pytest.approx(
        sklearn.metrics.roc_auc_score(y, pipe.predict_proba(X)[:, 1])
    )
    assert {"training_roc_curve.png", "training_precision_recall_curve.png"} <= artifact_paths(
        run.info.run_id
    )


# -- parameter search ----------------------------------------------------------------------------
@pytest.mark.parametrize("max_tuning_runs", [5, 2, None])
def test_grid_search_parent_and_child_runs(max_tuning_runs: int | None) -> None:
    X, y = load_iris(return_X_y=True)
    sklearn_autolog(log_models=False, max_tuning_runs=max_tuning_runs)
    grid = {"clf__C": [0.1, 1.0, 10.0], "clf__fit_intercept": [True, False]}
    pipe = Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))])
    search = GridSearchCV(pipe, grid, cv=3)
    search.fit(X, y)

    all_runs = runs()
    [parent] = [r for r in all_runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in all_runs if r is not parent]
    candidates = len(search.cv_results_["params"])
    assert len(children) == min(max_tuning_runs or candidates, candidates)

    assert parent.data.tags["estimator_name"] == "GridSearchCV"
    assert parent.data.params["best_clf__C"] == str(search.best_params_["clf__C"])
    assert parent.data.params["best_clf__fit_intercept"] == str(
        search.best_params_["clf__fit_intercept"]
    )
    assert "clf__C" not in parent.data.params  # the seed's untuned params are not logged deeply
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert set(parent.data.metrics) >= CLASSIFIER_METRICS
    assert "cv_results.csv" in artifact_paths(parent.info.run_id)
    csv = mlflow.MlflowClient().download_artifacts(parent.info.run_id, "cv_results.csv")
    assert len(pd.read_csv(csv)) == candidates

    results = pd.DataFrame(search.cv_results_)
    best_ranks = sorted(results["rank_test_score"])[: len(children)]
    assert sorted(c.data.metrics["rank_test_score"] for c in children) == best_ranks
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["estimator_name"] == "Pipeline"
        assert child.info.status == "FINISHED"
        row = results[results["rank_test_score"] == child.data.metrics["rank_test_score"]]
        params = child.data.params
        assert any(
            params["clf__C"] == str(p["clf__C"])
            and params["clf__fit_intercept"] == str(p["clf__fit_intercept"])
            for p in row["params"]
        )
        assert params["clf__max_iter"] == "1000"  # the seed's own params are there too
        assert {"mean_test_score", "std_test_score", "mean_fit_time"} <= set(child.data.metrics)
        assert not any(k.startswith(("split", "param")) for k in child.data.metrics)


# -- options -------------------------------------------------------------------------------------
def test_disable_unpatches_and_stops_logging() -> None:
    original_fit = LinearRegression.__dict__["fit"]
    X_train, _, y_train, _ = salary_data()
    sklearn_autolog(log_models=False)
    assert LinearRegression.__dict__["fit"] is not original_fit
    sklearn_autolog(disable=True)
    assert LinearRegression.__dict__["fit"] is original_fit
    LinearRegression().fit(X_train, y_train)
    assert runs() == []


def test_calling_autolog_twice_patches_once() -> None:
    X_train, _, y_train, _ = salary_data()
    sklearn_autolog(log_models=False)
    sklearn_autolog(log_models=False)
    patched = LinearRegression.__dict__["fit"]
    assert patched.__traza_autolog_original__ is LinearRegression.__dict__["fit"].__wrapped__
    assert not hasattr(patched.__traza_autolog_original__, "__traza_autolog_original__")
    LinearRegression().fit(X_train, y_train)
    assert len(runs()) == 1


def test_log_models_false_logs_no_model() -> None:
    X_train, _, y_train, _ = salary_data()
    sklearn_autolog(log_models=False)
    LinearRegression().fit(X_train, y_train)
    run = only_run()
    assert run.outputs.model_outputs == ()
    assert "model" not in artifact_paths(run.info.run_id)


def test_autolog_inside_user_run_uses_it_and_leaves_it_open() -> None:
    X_train, _, y_train, _ = salary_data()
    sklearn_autolog(log_models=False)
    with mlflow.start_run() as run:
        LinearRegression(n_jobs=1).fit(X_train, y_train)
        assert mlflow.active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]
        mlflow.log_params({"fit_intercept": True, "n_jobs": 1})  # the seeds log these too
    logged = only_run()
    assert logged.info.run_id == run.info.run_id
    assert logged.data.params["n_jobs"] == "1"
    assert set(logged.data.metrics) >= REGRESSOR_METRICS
    assert "mlflow.autologging" not in logged.data.tags  # not a run autologging started


def test_exclusive_keeps_out_of_user_runs() -> None:
    X_train, _, y_train, _ = salary_data()
    sklearn_autolog(log_models=False, exclusive=True)
    with mlflow.start_run():
        LinearRegression().fit(X_train, y_train)
    assert only_run().data.params == {}
    LinearRegression().fit(X_train, y_train)
    assert len(runs()) == 2


def test_extra_tags_and_invalid_max_tuning_runs() -> None:
    X_train, _, y_train, _ = salary_data()
    sklearn_autolog(log_models=False, extra_tags={"team": "ml"})
    LinearRegression().fit(X_train, y_train)
    assert only_run().data.tags["team"] == "ml"
    with pytest.raises(traza.TrazaException, match="max_tuning_runs"):
        sklearn_autolog(max_tuning_runs=-1)


def _break_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    module = sys.modules["traza.sklearn.autolog"]

    def boom(estimator: object) -> dict[str, str]:
        raise RuntimeError("tagging exploded")

    monkeypatch.setattr(module, "estimator_tags", boom)


@pytest.mark.parametrize("silent", [False, True])
def test_autolog_failure_never_breaks_fit(
    silent: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    X_train, _, y_train, _ = salary_data()
    sklearn_autolog(log_models=False, silent=silent)
    _break_tags(monkeypatch)
    with caplog.at_level(logging.DEBUG, logger="traza"):
        lr = LinearRegression()
        assert lr.fit(X_train, y_train) is lr
    assert hasattr(lr, "coef_")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("traza")]
    if silent:
        assert messages == []
    else:
        assert any("tagging exploded" in m for m in messages)
    assert mlflow.active_run() is None


def test_user_errors_propagate_and_fail_the_run() -> None:
    sklearn_autolog(log_models=False)
    with pytest.raises(ValueError):
        LinearRegression().fit([[1.0], [2.0]], [1.0])  # inconsistent lengths
    assert only_run().info.status == "FAILED"


def test_cross_validation_apis_do_not_autolog() -> None:
    import sklearn.model_selection

    X, y = load_iris(return_X_y=True)
    sklearn_autolog(log_models=False)
    # Read after autolog(): a name imported before it is the unpatched function (as in MLflow).
    sklearn.model_selection.cross_val_score(LogisticRegression(max_iter=1000), X, y, cv=3)
    assert runs() == []


# -- post-training metrics -----------------------------------------------------------------------
def test_post_training_metrics_name_the_dataset() -> None:
    X_train, X_test, y_train, y_test = salary_data()
    sklearn_autolog(log_models=False)
    model = LinearRegression().fit(X_train, y_train)
    y_pred = model.predict(X_test)
    mse = sklearn.metrics.mean_squared_error(y_test, y_pred)
    mse_again = sklearn.metrics.mean_squared_error(y_test, y_pred)
    score = model.score(X_test, y_test)
    run = only_run()
    assert run.data.metrics["mean_squared_error_X_test"] == pytest.approx(mse)
    assert run.data.metrics["mean_squared_error-2_X_test"] == pytest.approx(mse_again)
    assert run.data.metrics["LinearRegression_score_X_test"] == pytest.approx(score)
    info_file = mlflow.MlflowClient().download_artifacts(run.info.run_id, "metric_info.json")
    info = json.loads(Path(info_file).read_text())
    assert info["mean_squared_error_X_test"] == "mean_squared_error(y_true=y_test, y_pred=y_pred)"
    assert info["LinearRegression_score_X_test"] == "LinearRegression.score(X=X_test, y=y_test)"
    contexts = [t.value for d in run.inputs.dataset_inputs for t in d.tags]
    assert sorted(contexts) == ["eval", "train"]


def test_post_training_metrics_off() -> None:
    X_train, X_test, y_train, y_test = salary_data()
    sklearn_autolog(log_models=False, log_post_training_metrics=False)
    model = LinearRegression().fit(X_train, y_train)
    sklearn.metrics.mean_squared_error(y_test, model.predict(X_test))
    assert set(only_run().data.metrics) == REGRESSOR_METRICS


# -- traza.autolog() and the ways to reach it ----------------------------------------------------
def test_reached_from_every_import_style() -> None:
    import inspect

    import traza.sklearn

    X_train, _, y_train, _ = salary_data()
    # Twice each: the first access imports traza.sklearn.autolog, which binds the module on
    # the package; both must still call autolog().
    for call in (mlflow.sklearn.autolog, traza.sklearn.autolog) * 2:
        call(log_models=False, extra_tags={"via": "call"})
        assert autologging.get_config("sklearn", "extra_tags") == {"via": "call"}
    assert "max_tuning_runs" in inspect.signature(mlflow.sklearn.autolog).parameters
    LinearRegression().fit(X_train, y_train)
    assert only_run().data.tags["via"] == "call"


def test_top_level_autolog_enables_sklearn() -> None:
    X_train, _, y_train, _ = salary_data()
    mlflow.autolog(log_models=False)
    assert autologging.get_config("sklearn", "globally_configured") is True
    LinearRegression().fit(X_train, y_train)
    assert set(only_run().data.metrics) >= REGRESSOR_METRICS
    mlflow.autolog(disable=True)
    LinearRegression().fit(X_train, y_train)
    assert len(runs()) == 1


def test_top_level_autolog_keeps_an_integrations_own_config() -> None:
    sklearn_autolog(log_models=False, max_tuning_runs=1)
    mlflow.autolog(log_models=True)
    assert autologging.get_config("sklearn", "log_models") is False
    assert autologging.get_config("sklearn", "max_tuning_runs") == 1


def test_top_level_autolog_waits_for_sklearn_import(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import traza
        traza.set_tracking_uri(sys.argv[1])
        traza.autolog(log_models=False)
        assert "sklearn" not in sys.modules
        from sklearn.linear_model import LinearRegression
        LinearRegression().fit([[1.0], [2.0], [3.0]], [1.0, 2.0, 3.1])
        run = traza.last_active_run()
        print(sorted(run.data.metrics))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "store")],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "training_r2_score" in out.stdout


# -- a tracking server ---------------------------------------------------------------------------
def test_autolog_to_a_tracking_server(tmp_path: Path) -> None:
    from traza.store.uri import open_store

    X, y = load_iris(return_X_y=True)
    with served_store(open_store(str(tmp_path / "served")), tmp_path / "artifacts") as url:
        mlflow.set_tracking_uri(url)
        sklearn_autolog(log_models=False, max_tuning_runs=2)
        GridSearchCV(LogisticRegression(max_iter=1000), {"C": [0.1, 1.0, 10.0]}, cv=3).fit(X, y)
        mlflow.flush_async_logging()
        found = runs()
        assert len(found) == 3
        [parent] = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
        assert "best_cv_score" in parent.data.metrics
        assert "cv_results.csv" in artifact_paths(parent.info.run_id)


# -- models --------------------------------------------------------------------------------------
def _log_model_available() -> bool:
    try:
        return callable(mlflow.sklearn.log_model)
    except AttributeError:
        return False


def test_autologged_model_loads_and_predicts() -> None:
    if not _log_model_available():
        pytest.skip("traza.sklearn.log_model has not landed yet")
    X_train, X_test, y_train, _ = salary_data()
    sklearn_autolog()
    lr = LinearRegression().fit(X_train, y_train)
    run = only_run()
    [output] = run.outputs.model_outputs
    loaded = traza.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(np.asarray(loaded.predict(X_test)), lr.predict(X_test))
    assert loaded.metadata.signature is not None
    same = traza.pyfunc.load_model(f"models:/{output.model_id}")
    np.testing.assert_allclose(np.asarray(same.predict(X_test)), lr.predict(X_test))
    assert loaded.metadata.saved_input_example_info is None  # log_input_examples=False


def test_input_example_and_best_estimator_models() -> None:
    if not _log_model_available():
        pytest.skip("traza.sklearn.log_model has not landed yet")
    X, y = load_iris(return_X_y=True)
    sklearn_autolog(log_input_examples=True, max_tuning_runs=1)
    search = GridSearchCV(LogisticRegression(max_iter=1000), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
    parent = _top_run(runs())
    models = {m.name: m for m in mlflow.search_logged_models(output_format="list")}
    assert set(models) == {"model", "best_estimator"}
    assert {o.model_id for o in parent.outputs.model_outputs} == {
        m.model_id for m in models.values()
    }
    best = traza.pyfunc.load_model(f"models:/{models['best_estimator'].model_id}")
    np.testing.assert_allclose(np.asarray(best.predict(X)), search.predict(X))
    assert best.metadata.saved_input_example_info is not None
    linked = {m.key for m in models["model"].metrics or ()}
    assert {"training_score", "best_cv_score"} <= linked


# -- side by side with MLflow --------------------------------------------------------------------
def _fits() -> dict[str, Any]:
    X_train, _, y_train, _ = salary_data()
    X, y = load_iris(return_X_y=True)
    return {
        "linear": lambda: LinearRegression().fit(X_train, y_train),
        "pipeline": lambda: Pipeline(
            [("scaler", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]
        ).fit(X, y),
        "search": lambda: GridSearchCV(
            Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]),
            {"clf__C": [0.1, 1.0, 10.0]},
            cv=3,
        ).fit(X, y),
    }


def _top_run(found: list[Any]) -> Any:
    [top] = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    return top


@pytest.mark.parametrize("case", ["linear", "pipeline", "search"])
def test_same_params_metrics_and_tags_as_mlflow(case: str, tmp_path: Path) -> None:
    import mlflow as real_mlflow
    import mlflow.sklearn

    fit = _fits()[case]
    real_mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    real_mlflow.sklearn.autolog(log_models=False, silent=True)
    try:
        # As outside pytest: sklearn's FutureWarning must not turn MLflow's log_loss into an error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            fit()
        theirs_all = real_mlflow.search_runs(experiment_ids=["0"], output_format="list")
    finally:
        real_mlflow.sklearn.autolog(disable=True)
    mlflow.set_tracking_uri(tmp_path / "traza")  # mlflow exported MLFLOW_TRACKING_URI
    sklearn_autolog(log_models=False, silent=True)
    fit()
    ours_all = runs()

    assert len(ours_all) == len(theirs_all)
    theirs, ours = _top_run(theirs_all), _top_run(ours_all)
    assert ours.data.params == theirs.data.params
    assert set(ours.data.metrics) == set(theirs.data.metrics)
    for key, value in theirs.data.metrics.items():
        if key.endswith("_time"):
            continue
        assert ours.data.metrics[key] == pytest.approx(value, abs=1e-9), key

    # Git tags depend on where the test runs from (and on GitPython for MLflow), not autolog.
    def autolog_tags(tags: dict[str, str]) -> set[str]:
        return {k for k in tags if not k.startswith("mlflow.source.git.")}

    assert autolog_tags(ours.data.tags) == autolog_tags(theirs.data.tags)
    for key in ("estimator_name", "estimator_class", "mlflow.autologging"):
        assert ours.data.tags[key] == theirs.data.tags[key]
    ours_children = sorted(
        (r for r in ours_all if r is not ours), key=lambda r: r.data.metrics["rank_test_score"]
    )
    theirs_children = sorted(
        (r for r in theirs_all if r is not theirs), key=lambda r: r.data.metrics["rank_test_score"]
    )
    for mine, real in zip(ours_children, theirs_children, strict=True):
        assert mine.data.params == real.data.params
        assert set(mine.data.metrics) == set(real.data.metrics)
        assert autolog_tags(mine.data.tags) == autolog_tags(real.data.tags)
        assert mine.data.metrics["mean_test_score"] == pytest.approx(
            real.data.metrics["mean_test_score"], abs=1e-9
        )
