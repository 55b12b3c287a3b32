"""``traza.models.evaluate``: MLflow's default evaluator for regressors and classifiers.

It predicts on the evaluation data, computes the metrics MLflow's default evaluator computes under
the same names, runs custom metrics from ``make_metric``, logs everything (plots as PNG artifacts)
to the active run or a new one, and returns an ``EvaluationResult``. Loaded on first use only.
"""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from traza.models.evaluation_inputs import (
    _column,
    _EvalData,
    _invalid,
    _load_model,
    _raw_model,
)
from traza.models.evaluation_result import (
    CsvEvaluationArtifact,
    EvaluationArtifact,
    EvaluationResult,
    ImageEvaluationArtifact,
    JsonEvaluationArtifact,
)
from traza.models.metrics import EvaluationMetric, MetricValue

_logger = logging.getLogger(__name__)

_MODEL_TYPES = ("regressor", "classifier")


class _Evaluator:
    def __init__(
        self,
        data: _EvalData,
        model_type: str,
        config: dict[str, Any],
        run_id: str,
        model_id: str | None,
        tmpdir: str,
    ) -> None:
        self.data, self.model_type, self.config = data, model_type, config
        self.run_id, self.model_id, self.tmpdir = run_id, model_id, tmpdir
        self.prefix = str(config.get("metric_prefix") or "")
        self.weights = config.get("sample_weights")
        self.values: dict[str, MetricValue] = {}
        self.artifacts: dict[str, EvaluationArtifact] = {}
        self.warned_no_plots = False

    def add(self, metrics: dict[str, Any]) -> None:
        for name, value in metrics.items():
            self.values[name] = MetricValue(aggregate_results={name: value})

    def features(self) -> Any:
        return self.data.features.copy(deep=True)

    def predict(self, model: Any, predictions_name: str | None) -> tuple[Any, Any]:
        if model is None:
            if self.data.predictions is None:
                raise _invalid(
                    "Nothing to evaluate: pass model= (a model URI, a loaded model or a "
                    "function), or predictions= naming a column of the data."
                )
            return self.data.predictions, None
        raw = _raw_model(model)
        if raw is not None:
            y_pred = raw.predict(self.features())
            proba_fn = (
                getattr(raw, "predict_proba", None) if self.model_type == "classifier" else None
            )
            y_proba = proba_fn(self.features()) if proba_fn is not None else None
            self._score(raw)
            return _column(y_pred, predictions_name), y_proba
        predict = model.predict if hasattr(model, "predict") else model
        return _column(predict(self.features()), predictions_name), None

    def _score(self, raw: Any) -> None:
        try:
            score = raw.score(self.features(), self.data.labels, sample_weight=self.weights)
        except Exception as e:  # a model without a usable score() still gets evaluated
            _logger.warning("Computing the sklearn model's score failed: %r", e)
        else:
            self.add({"score": score})

    # -- plots -------------------------------------------------------------------------------

    def _log_file(self, name: str, filename: str, kind: type[EvaluationArtifact]) -> None:
        import traza

        local = os.path.join(self.tmpdir, filename)
        traza.log_artifact(local)
        self.artifacts[name] = kind(traza.get_artifact_uri(filename), local)

    def plot(self, name: str, draw: Any) -> None:
        """Render ``draw(figure)`` to ``<prefix><name>.png`` and log it; a plot that fails is
        skipped with a warning, as MLflow does, so it never loses the metrics."""
        try:
            import matplotlib
            from matplotlib.figure import Figure
        except ImportError:
            if not self.warned_no_plots:
                _logger.warning("matplotlib is not installed: evaluation plots are not logged.")
                self.warned_no_plots = True
            return
        from traza.models._eval_builtin import PLOT_RC

        filename = f"{self.prefix}{name}.png"
        try:
            with matplotlib.rc_context(PLOT_RC):
                fig = Figure()
                draw(fig)
                fig.savefig(os.path.join(self.tmpdir, filename), bbox_inches="tight")
        except Exception as e:
            _logger.warning("Failed to log image artifact %r: %r", name, e)
            return
        self._log_file(name, filename, ImageEvaluationArtifact)

    # -- the two model types -----------------------------------------------------------------

    def regressor(self, y_pred: Any) -> None:
        from traza.models._eval_builtin import regressor_metrics

        self.add(regressor_metrics(self.data.labels, y_pred, self.weights))

    def classifier(self, y_pred: Any, y_proba: Any) -> None:
        import numpy as np

        from traza.models import _eval_builtin as b

        y = self.data.labels
        label_list = self.config.get("label_list")
        pos_label = self.config.get("pos_label")
        if pos_label is not None and label_list is not None and pos_label not in label_list:
            raise _invalid(f"'pos_label' {pos_label} must exist in 'label_list' {label_list}.")
        if label_list is None:
            labels = np.unique(np.concatenate([np.asarray(y), np.asarray(y_pred)]))
        else:
            labels = np.sort(np.array(label_list))
        if len(labels) < 2:
            raise _invalid(
                "Evaluation data for a classifier must hold at least two labels, but only "
                f"{len(labels)} was found: pass evaluator_config={{'label_list': [...]}} with "
                "every class."
            )
        if y_proba is not None:
            y_proba = np.asarray(y_proba)
        if len(labels) == 2:
            pos_index = 1
            if pos_label is not None and pos_label in labels:
                pos_index = int(np.where(labels == pos_label)[0][0])
                labels = np.append(np.delete(labels, pos_index), pos_label)
            elif pos_label is None:
                pos_label = labels[-1]
            self.add(b.binary_metrics(y, y_pred, y_proba, labels, pos_label, self.weights))
            curves = {}
            if y_proba is not None:
                score = y_proba[:, pos_index]
                for kind, metric in (("roc", "roc_auc"), ("pr", "precision_recall_auc")):
                    curves[kind] = b.binary_curve(kind, y, score, pos_label, self.weights)
                    self.add({metric: curves[kind].auc})
            if y_proba is not None:
                self.plot("roc_curve_plot", curves["roc"].draw)
                self.plot("precision_recall_curve_plot", curves["pr"].draw)
                self.plot("lift_curve_plot", b.draw_lift_curve(y, y_proba, np.sort(labels)))
                self.plot(
                    "calibration_curve_plot",
                    b.draw_calibration_curve(
                        y, y_proba, list(np.sort(labels)), pos_label, self.config
                    ),
                )
        else:
            average = self.config.get("average", "weighted")
            self.add(b.multiclass_metrics(y, y_pred, y_proba, labels, average, self.weights))
            table = b.per_class_metrics(y, y_pred, labels, self.weights)
            if y_proba is not None:
                self.plot(
                    "calibration_curve_plot",
                    b.draw_calibration_curve(y, y_proba, list(labels), None, self.config),
                )
                if len(labels) <= int(self.config.get("max_classes_for_multiclass_roc_pr", 10)):
                    roc = b.multiclass_curve("roc", y, y_proba, labels, self.weights)
                    self.plot("roc_curve_plot", roc.draw)
                    table["roc_auc"] = roc.auc
                    pr = b.multiclass_curve("pr", y, y_proba, labels, self.weights)
                    self.plot("precision_recall_curve_plot", pr.draw)
                    table["precision_recall_auc"] = pr.auc
            table.to_csv(os.path.join(self.tmpdir, "per_class_metrics.csv"), index=False)
            self._log_file("per_class_metrics", "per_class_metrics.csv", CsvEvaluationArtifact)
        self.plot("confusion_matrix", b.draw_confusion_matrix(y, y_pred, labels, self.weights))

    # -- custom metrics and logging ----------------------------------------------------------

    def aggregate(self) -> dict[str, Any]:
        """The flat metrics: a value named as its metric, other aggregates as ``name/agg``."""
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            full = f"{self.prefix}{name}"
            for agg, result in (value.aggregate_results or {}).items():
                if result is None:
                    continue
                key = full if agg == name.split("/")[0] else f"{full}/{agg}"
                out[key] = result.item() if hasattr(result, "item") else result
        return out

    def extra(self, metrics: list[EvaluationMetric], y_pred: Any) -> None:
        import pandas as pd

        bad = [m for m in metrics if not isinstance(m, EvaluationMetric)]
        if bad:
            raise _invalid(
                "extra_metrics must be made with traza.models.make_metric; got "
                + ", ".join(type(m).__name__ for m in bad)
                + "."
            )
        eval_df = pd.DataFrame({"prediction": y_pred, "target": self.data.labels})
        for index, metric in enumerate(metrics):
            args = self._metric_args(metric, eval_df)
            result = metric.eval_fn(*args)
            name = f"{metric.name}/{metric.version}" if metric.version else metric.name
            if result is None:
                _logger.warning("Metric %r at index %d returned None; not logged.", name, index)
            elif isinstance(result, MetricValue):
                self.values[name] = result
            elif _is_numeric(result):
                self.values[name] = MetricValue(aggregate_results={metric.name: result})
            else:
                raise _invalid(
                    f"Metric {name!r} at index {index} in extra_metrics returned a "
                    f"{type(result).__name__}: return a number or a MetricValue."
                )

    def _metric_args(self, metric: EvaluationMetric, eval_df: Any) -> list[Any]:
        import copy

        params = inspect.signature(metric.eval_fn).parameters
        names = list(params)
        if len(names) == 2 and names[0] != "predictions" and names[1] != "targets":
            return [eval_df.copy(), self.aggregate()]  # the older (eval_df, builtin_metrics) form
        mapping = self.config.get("col_mapping", {})
        args: list[Any] = []
        missing: list[str] = []
        for pname, param in params.items():
            column = mapping.get(pname, pname)
            if column in ("predictions", "prediction"):
                args.append(eval_df["prediction"].copy())
            elif column in ("targets", self.data.targets_name):
                args.append(eval_df["target"].copy())
            elif column == "metrics":
                args.append(copy.deepcopy(self.values))
            elif not isinstance(column, str):
                args.append(column)
            elif column in self.data.features.columns:
                args.append(self.data.features[column].copy())
            elif column in self.config:
                args.append(self.config[column])
            elif column in self.values:
                args.append(self.values[column])
            elif param.default is not inspect.Parameter.empty:
                args.append(param.default)
            else:
                missing.append(pname)
        if missing:
            raise _invalid(
                f"Metric {metric.name!r} needs {missing}, which are neither 'predictions', "
                "'targets', 'metrics', feature columns, evaluator_config keys nor computed "
                "metrics: map them with evaluator_config={'col_mapping': {...}}."
            )
        return args

    def log_table(self, y_pred: Any, predictions_name: str | None) -> None:
        """The per-row table (features, label, prediction, each metric's per-row scores) that
        MLflow logs as ``eval_results_table.json`` when a metric returns per-row scores."""
        import json

        import traza

        rows = {
            name: value
            for name, value in self.values.items()
            if value.scores is not None or value.justifications is not None
        }
        if not rows:
            return
        columns: dict[str, Any] = {
            self.data.targets_name or "target": self.data.labels,
            predictions_name or "outputs": y_pred,
        }
        for name, value in rows.items():
            if value.scores:
                columns[f"{self.prefix}{name}/score"] = value.scores
            if value.justifications:
                columns[f"{self.prefix}{name}/justification"] = value.justifications
        table = self.data.features.assign(**columns)
        filename = f"{self.prefix}eval_results_table.json"
        table.to_json(
            os.path.join(self.tmpdir, filename), orient="split", index=False, date_format="iso"
        )
        self._log_file("eval_results_table", filename, JsonEvaluationArtifact)
        # MLflow's UI finds logged tables through this tag.
        run = traza.get_run(self.run_id)
        listed = json.loads(run.data.tags.get("mlflow.loggedArtifacts", "[]"))
        entry = {"path": filename, "type": "table"}
        if entry not in listed:
            traza.MlflowClient().set_tag(
                self.run_id, "mlflow.loggedArtifacts", json.dumps([*listed, entry])
            )

    def log_metrics(self) -> None:
        """Log every metric once, at step 0, tied to the dataset (and model) as MLflow does."""
        import traza

        metrics = self.aggregate()
        if metrics:
            traza.log_metrics(
                metrics,
                step=0,
                run_id=self.run_id,
                model_id=self.model_id,
                dataset=self.data.dataset,
            )


def _is_numeric(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Number) and not isinstance(value, bool)


@contextmanager
def _run() -> Iterator[str]:
    import traza

    active = traza.active_run()
    if active is not None:
        yield active.info.run_id
        return
    with traza.start_run() as run:
        yield run.info.run_id


def _config(evaluators: Any, evaluator_config: Any) -> dict[str, Any]:
    """The default evaluator's config: MLflow accepts it bare or keyed by evaluator name."""
    names = [evaluators] if isinstance(evaluators, str) else list(evaluators or ["default"])
    unknown = [n for n in names if n not in ("default", "regressor", "classifier")]
    if unknown:
        raise _invalid(
            f"Unknown evaluator(s) {unknown}: Traza provides the default evaluator "
            "(evaluators='default' or None)."
        )
    config = dict(evaluator_config or {})
    if (
        config
        and all(k in names for k in config)
        and all(isinstance(v, dict) for v in config.values())
    ):
        merged: dict[str, Any] = {}
        for value in config.values():
            merged.update(value)
        return merged
    return config


def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    model_type: str | None = None,
    targets: Any = None,
    predictions: str | None = None,
    dataset_path: str | None = None,
    feature_names: list[str] | None = None,
    evaluators: Any = None,
    evaluator_config: dict[str, Any] | None = None,
    extra_metrics: list[EvaluationMetric] | None = None,
    custom_metrics: list[EvaluationMetric] | None = None,
    custom_artifacts: Any = None,
    env_manager: str = "local",
    model_config: Any = None,
    inference_params: Any = None,
    model_id: str | None = None,
    **_unused: Any,
) -> EvaluationResult:
    """Evaluate a regressor or classifier on labelled data, as ``mlflow.models.evaluate`` does:
    metrics and plots go to the active run (or a new one) and come back as an
    ``EvaluationResult``."""
    if model_type not in _MODEL_TYPES:
        raise _invalid(
            f"Unsupported model_type {model_type!r}: Traza evaluates model_type='regressor' "
            "or model_type='classifier'."
        )
    if data is None:
        raise _invalid(
            "evaluate needs data=: a pandas DataFrame, an array or a traza.data dataset."
        )
    if env_manager != "local":
        raise _invalid(
            f"env_manager={env_manager!r} is not supported: Traza evaluates in this process "
            "(env_manager='local')."
        )
    if custom_artifacts:
        raise _invalid("custom_artifacts is not supported by Traza's evaluate yet.")
    config = _config(evaluators, evaluator_config)
    metrics_list = list(extra_metrics or []) + list(custom_metrics or [])
    loaded, derived_id = _load_model(model)
    if model_id is not None and derived_id is not None and model_id != derived_id:
        raise _invalid(
            f"model_id {model_id!r} contradicts the model's own id {derived_id!r}: "
            "omit model_id= or pass the matching one."
        )
    model_id = model_id or derived_id
    eval_data = _EvalData(data, targets, predictions if loaded is None else None, feature_names)

    import traza
    from traza.entities import LoggedModelInput

    with _run() as run_id, tempfile.TemporaryDirectory(prefix="traza-eval-") as tmpdir:
        context = str(config["metric_prefix"]) if config.get("metric_prefix") else None
        traza.log_input(eval_data.dataset, context=context)
        if model_id is not None:
            traza.log_inputs(models=[LoggedModelInput(model_id)])
        ev = _Evaluator(eval_data, model_type, config, run_id, model_id, tmpdir)
        y_pred, y_proba = ev.predict(loaded, predictions)
        if model_type == "regressor":
            ev.regressor(y_pred)
        else:
            ev.classifier(y_pred, y_proba)
        ev.extra(metrics_list, y_pred)
        ev.log_metrics()
        ev.log_table(y_pred, predictions)
        return EvaluationResult(ev.aggregate(), ev.artifacts, run_id)


__all__ = [
    "CsvEvaluationArtifact",
    "EvaluationArtifact",
    "EvaluationResult",
    "ImageEvaluationArtifact",
    "JsonEvaluationArtifact",
    "evaluate",
]
