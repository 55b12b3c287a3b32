"""``traza.models.evaluate`` side by side with the real ``mlflow.models.evaluate`` on the same data
and models: the same metric names and values, the same artifact names, logged to the run."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import traza
from traza.exceptions import TrazaException
from traza.models import MetricValue, make_metric

SALARY = Path(__file__).resolve().parents[1] / "examples" / "salary" / "Salary_predict.csv"
FEATURES = ["a", "b", "c"]


def salary() -> pd.DataFrame:
    return pd.read_csv(SALARY)


def binary_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    df = pd.DataFrame(x, columns=FEATURES)
    df["label"] = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    return df


def multiclass_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 3))
    df = pd.DataFrame(x, columns=FEATURES)
    df["label"] = np.digitize(x[:, 0] + 0.4 * rng.normal(size=150), [-0.5, 0.5])
    return df


def fitted(kind: str) -> Any:
    if kind == "regressor":
        df = salary()
        return LinearRegression().fit(df.drop(columns="Salary"), df["Salary"])
    df = binary_frame() if kind == "binary" else multiclass_frame()
    return LogisticRegression().fit(df[FEATURES], df["label"])


def _mae_twice(predictions: pd.Series, targets: pd.Series) -> float:
    return 2 * float(np.mean(np.abs(predictions - targets)))


def _spread(predictions: pd.Series, targets: pd.Series, metrics: dict[str, Any]) -> Any:
    error = predictions - targets
    mae = metrics["mean_absolute_error"].aggregate_results["mean_absolute_error"]
    return {"max": float(error.max()), "ratio": float(error.abs().max()) / mae}


def extra_metrics(make: Callable[..., Any], value_type: Any) -> list[Any]:
    """Two custom metrics, built with either library's make_metric and MetricValue."""

    def spread(predictions: pd.Series, targets: pd.Series, metrics: dict[str, Any]) -> Any:
        return value_type(aggregate_results=_spread(predictions, targets, metrics))

    def abs_error(predictions: pd.Series, targets: pd.Series) -> Any:
        return value_type(scores=[float(e) for e in (predictions - targets).abs()])

    return [
        make(eval_fn=_mae_twice, greater_is_better=False, name="mae_twice"),
        make(eval_fn=spread, greater_is_better=False, name="error_spread", version="v1"),
        make(eval_fn=abs_error, greater_is_better=False),  # per-row: the eval results table
    ]


#: (case, model kind, data, targets, evaluator_config); each is evaluated by both libraries.
CASES: dict[str, tuple[str, Callable[[], pd.DataFrame], str, dict[str, Any]]] = {
    "regressor": ("regressor", salary, "Salary", {}),
    "binary": ("binary", binary_frame, "label", {}),
    "binary_pos0": ("binary", binary_frame, "label", {"pos_label": 0}),
    "multiclass": ("multiclass", multiclass_frame, "label", {}),
}


def _model_type(kind: str) -> str:
    return "regressor" if kind == "regressor" else "classifier"


#: MLflow's per-row evaluation tables, by case (filled by ``mlflow_results``).
TABLES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def mlflow_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, set]]:
    """MLflow's metrics and artifact names for every case, computed once."""
    import mlflow
    import mlflow.sklearn
    from mlflow.metrics.base import MetricValue as MlflowMetricValue
    from mlflow.models import make_metric as mlflow_make_metric

    tmp = tmp_path_factory.mktemp("mlflow")
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    out: dict[str, tuple[dict, set]] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for case, (kind, data, targets, config) in CASES.items():
                with mlflow.start_run():
                    info = mlflow.sklearn.log_model(  # requirements given: no inference subprocess
                        fitted(kind), name="model", pip_requirements=["scikit-learn"]
                    )
                    extra = (
                        extra_metrics(mlflow_make_metric, MlflowMetricValue)
                        if kind == "regressor"
                        else None
                    )
                    result = mlflow.models.evaluate(
                        info.model_uri,
                        data(),
                        targets=targets,
                        model_type=_model_type(kind),
                        evaluator_config=config,
                        extra_metrics=extra,
                    )
                out[case] = (dict(result.metrics), set(result.artifacts))
                if "eval_results_table" in result.artifacts:
                    TABLES[case] = result.artifacts["eval_results_table"].content
            with mlflow.start_run():
                model = fitted("binary")
                result = mlflow.models.evaluate(
                    lambda df: model.predict(df),
                    binary_frame(),
                    targets="label",
                    model_type="classifier",
                )
            out["callable"] = (dict(result.metrics), set(result.artifacts))
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
    return out


def assert_same_metrics(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert sorted(ours) == sorted(theirs)
    for name, value in theirs.items():
        assert math.isclose(ours[name], float(value), rel_tol=1e-9, abs_tol=1e-12), name


@pytest.mark.parametrize("case", list(CASES))
def test_same_metrics_and_artifacts_as_mlflow(
    case: str, mlflow_results: dict[str, tuple[dict, set]]
) -> None:
    kind, data, targets, config = CASES[case]
    extra = extra_metrics(make_metric, MetricValue) if kind == "regressor" else None
    with traza.start_run() as run:
        info = traza.sklearn.log_model(fitted(kind), name="model")
        result = traza.models.evaluate(
            info.model_uri,
            data(),
            targets=targets,
            model_type=_model_type(kind),
            evaluator_config=config,
            extra_metrics=extra,
        )
    theirs_metrics, theirs_artifacts = mlflow_results[case]
    assert_same_metrics(result.metrics, theirs_metrics)
    assert set(result.artifacts) == theirs_artifacts
    assert result.run_id == run.info.run_id

    logged = traza.get_run(run.info.run_id)
    assert logged.data.metrics == pytest.approx(result.metrics, rel=1e-12)
    files = {f.path for f in traza.MlflowClient().list_artifacts(run.info.run_id)}
    for name, artifact in result.artifacts.items():
        assert artifact.uri.endswith(Path(artifact.uri).name)
        assert Path(artifact.uri).name in files, name
    if kind != "regressor":
        image = result.artifacts["confusion_matrix"].content
        assert image.format == "PNG" and image.size[0] > 500
    if kind == "regressor":
        assert result.artifacts["eval_results_table"].content == TABLES[case]
        tag = traza.get_run(run.info.run_id).data.tags["mlflow.loggedArtifacts"]
        assert tag == '[{"path": "eval_results_table.json", "type": "table"}]'
    if kind == "multiclass":
        table = result.artifacts["per_class_metrics"].content
        assert list(table["positive_class"]) == [0, 1, 2]
    # The evaluation data is the run's input, and the metrics point at it and at the model.
    (item,) = logged.inputs.dataset_inputs
    assert item.dataset.digest == traza.data.from_pandas(data(), targets=targets).digest
    history = traza.MlflowClient().get_metric_history(run.info.run_id, "example_count")
    assert [(m.step, m.model_id, m.dataset_digest) for m in history] == [
        (0, info.model_id, item.dataset.digest)
    ]


def test_callable_model_matches_mlflow(mlflow_results: dict[str, tuple[dict, set]]) -> None:
    model = fitted("binary")
    result = traza.evaluate(
        lambda df: model.predict(df), binary_frame(), targets="label", model_type="classifier"
    )
    theirs_metrics, theirs_artifacts = mlflow_results["callable"]
    assert_same_metrics(result.metrics, theirs_metrics)  # no probabilities: no log_loss, roc_auc
    assert set(result.artifacts) == theirs_artifacts == {"confusion_matrix"}
    # Without an active run, evaluate starts one and ends it.
    assert traza.active_run() is None
    assert (
        traza.get_run(result.run_id).data.metrics["accuracy_score"]
        == result.metrics["accuracy_score"]
    )


def test_traza_dataset_and_loaded_model_and_prefix() -> None:
    df = salary()
    dataset = traza.data.from_pandas(df, targets="Salary", name="salaries")
    with traza.start_run() as run:
        info = traza.sklearn.log_model(fitted("regressor"), name="model")
        loaded = traza.pyfunc.load_model(info.model_uri)
        from_dataset = traza.models.evaluate(
            loaded,
            dataset,
            model_type="regressor",
            evaluator_config={"metric_prefix": "val_"},
        )
        from_frame = traza.models.evaluate(
            info.model_uri, df, targets="Salary", model_type="regressor"
        )
    assert from_dataset.metrics == {f"val_{k}": v for k, v in from_frame.metrics.items()}
    assert math.isclose(from_frame.metrics["r2_score"], 0.993800124881759, rel_tol=1e-9)
    inputs = traza.get_run(run.info.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in inputs}
    assert by_name["salaries"].dataset.digest == dataset.digest
    assert {t.key: t.value for t in by_name["salaries"].tags} == {"mlflow.data.context": "val_"}


def test_numpy_dataset_and_config_by_evaluator_name() -> None:
    df = salary()
    x, y = df.drop(columns="Salary").to_numpy(), df["Salary"].to_numpy()
    model = LinearRegression().fit(x, y)
    result = traza.evaluate(
        lambda features: model.predict(features.to_numpy()),
        traza.data.from_numpy(x, targets=y),
        model_type="regressor",
        evaluators="default",
        evaluator_config={"default": {"metric_prefix": "np_"}},
    )
    frame = traza.evaluate(
        lambda features: model.predict(features.to_numpy()),
        df,
        targets="Salary",
        model_type="regressor",
    )
    assert result.metrics == {f"np_{k}": v for k, v in frame.metrics.items()}


def test_static_predictions_and_a_scored_custom_metric() -> None:
    df = binary_frame().assign(pred=lambda d: (d["a"] > 0).astype(int))

    def correct(predictions: pd.Series, targets: pd.Series) -> MetricValue:
        return MetricValue(scores=[float(x) for x in predictions == targets])

    result = traza.models.evaluate(
        data=df,
        targets="label",
        predictions="pred",
        model_type="classifier",
        extra_metrics=[make_metric(eval_fn=correct, greater_is_better=True)],
    )
    expected = float(np.mean(df["pred"] == df["label"]))
    assert result.metrics["accuracy_score"] == pytest.approx(expected)
    assert result.metrics["correct/mean"] == pytest.approx(expected)
    assert {"correct/variance", "correct/p90"} <= set(result.metrics)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": "salary", "model_type": "regressor"}, "Column 'salary' is not in"),
        ({"targets": "Salary", "model_type": "forecaster"}, "Unsupported model_type 'forecaster'"),
        ({"model_type": "regressor"}, "needs labels: pass targets="),
        (
            {"targets": "Salary", "model_type": "regressor", "evaluators": ["shap2"]},
            "Unknown evaluator",
        ),
    ],
)
def test_bad_input_is_refused_clearly(kwargs: dict[str, Any], message: str) -> None:
    model = fitted("regressor")
    with pytest.raises(TrazaException, match=message) as err:
        traza.models.evaluate(lambda df: model.predict(df), salary(), **kwargs)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert traza.active_run() is None


def test_make_metric_needs_a_name_for_a_lambda() -> None:
    with pytest.raises(TrazaException, match="needs name="):
        make_metric(eval_fn=lambda predictions: 1.0, greater_is_better=True)
