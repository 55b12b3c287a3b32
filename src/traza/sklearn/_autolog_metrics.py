"""What sklearn autologging computes from a fitted estimator: training metrics and plots.

Names, averaging and arguments are MLflow 3.17's, so a run logged by Traza compares with one
logged by MLflow key for key. sklearn, numpy and matplotlib are imported inside functions.
"""

from __future__ import annotations

import functools
import inspect
import tempfile
from collections.abc import Callable
from copy import deepcopy
from pathlib import Path
from typing import Any, NamedTuple

from traza.autologging import get_logger

_logger = get_logger(__name__)

TRAINING_PREFIX = "training_"
_SAMPLE_WEIGHT = "sample_weight"


class _Metric(NamedTuple):
    name: str
    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def arg_names(fn: Callable[..., Any]) -> list[str]:
    """Parameter names of ``fn``, without ``self`` for an unbound method."""
    names = list(inspect.signature(fn).parameters)
    return names[1:] if names[:1] == ["self"] else names


def get_x_y_and_sample_weight(
    fit: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, Any, Any]:
    """The data a ``fit`` call trains on, copied so training cannot change what is logged.

    The first two parameters are X and y whatever they are named (some estimators say
    ``Y``); ``sample_weight`` is read when ``fit`` takes one.
    """
    names = arg_names(fit)
    x_name, y_name = ([*names, "X", "y"])[:2] if len(names) < 2 else names[:2]
    if len(args) >= 2:
        x, y = args[0], args[1]
    elif len(args) == 1:
        x, y = args[0], kwargs.get(y_name)
    else:
        x, y = kwargs[x_name], kwargs.get(y_name)
    weight = None
    if _SAMPLE_WEIGHT in names:
        index = names.index(_SAMPLE_WEIGHT)
        weight = args[index] if len(args) > index else kwargs.get(_SAMPLE_WEIGHT)
    return (
        deepcopy(x) if x is not None else None,
        deepcopy(y) if y is not None else None,
        weight,
    )


def _evaluate(metrics: list[_Metric]) -> dict[str, float]:
    values: dict[str, float] = {}
    for metric in metrics:
        try:
            values[metric.name] = metric.function(*metric.args, **metric.kwargs)
        except Exception as e:
            _logger.warning(
                "%s failed. The metric %s will not be recorded. Metric error: %s",
                metric.function.__qualname__,
                metric.name,
                e,
            )
    return values


def classifier_metrics(
    estimator: Any, prefix: str, x: Any, y_true: Any, sample_weight: Any, pos_label: Any
) -> dict[str, float]:
    """Precision, recall and F1 (weighted, or binary for ``pos_label``), accuracy, and with
    ``predict_proba`` the log loss and ROC AUC (weighted one-vs-one), as MLflow logs them."""
    from sklearn import metrics as m

    average = "weighted" if pos_label is None else "binary"
    y_pred = estimator.predict(x)
    averaged = {"pos_label": pos_label, "average": average, "sample_weight": sample_weight}
    todo = [
        _Metric(prefix + "precision_score", m.precision_score, (y_true, y_pred), averaged),
        _Metric(prefix + "recall_score", m.recall_score, (y_true, y_pred), averaged),
        _Metric(prefix + "f1_score", m.f1_score, (y_true, y_pred), averaged),
        _Metric(
            prefix + "accuracy_score",
            m.accuracy_score,
            (y_true, y_pred),
            {"normalize": True, "sample_weight": sample_weight},
        ),
    ]
    if hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(x)
        # Positional: sklearn 1.9 renamed log_loss's second parameter (y_pred -> y_proba).
        todo.append(
            _Metric(
                prefix + "log_loss", m.log_loss, (y_true, proba), {"sample_weight": sample_weight}
            )
        )
        if len(proba[0]) == 2:  # binary: the score of the greater label
            proba = proba[:, 1]
        todo.append(
            _Metric(
                prefix + "roc_auc",
                m.roc_auc_score,
                (y_true, proba),
                {"average": "weighted", "sample_weight": sample_weight, "multi_class": "ovo"},
            )
        )
    return _evaluate(todo)


def regressor_metrics(
    estimator: Any, prefix: str, x: Any, y_true: Any, sample_weight: Any
) -> dict[str, float]:
    """MSE, RMSE, MAE and R², outputs averaged uniformly, as MLflow logs them."""
    import numpy as np
    from sklearn import metrics as m

    y_pred = estimator.predict(x)
    kwargs = {"sample_weight": sample_weight, "multioutput": "uniform_average"}
    values = _evaluate(
        [
            _Metric(prefix + name, fn, (y_true, y_pred), kwargs)
            for name, fn in (
                ("mean_squared_error", m.mean_squared_error),
                ("mean_absolute_error", m.mean_absolute_error),
                ("r2_score", m.r2_score),
            )
        ]
    )
    values[prefix + "root_mean_squared_error"] = float(
        np.sqrt(values[prefix + "mean_squared_error"])
    )
    return values


def estimator_metrics(
    estimator: Any, prefix: str, x: Any, y_true: Any, sample_weight: Any, pos_label: Any
) -> dict[str, float]:
    """The metrics for the estimator's kind, then ``<prefix>score`` from its ``score``."""
    import sklearn.base

    metrics: dict[str, float] = {}
    if y_true is None:
        return metrics
    try:
        if sklearn.base.is_classifier(estimator):
            metrics = classifier_metrics(estimator, prefix, x, y_true, sample_weight, pos_label)
        elif sklearn.base.is_regressor(estimator):
            metrics = regressor_metrics(estimator, prefix, x, y_true, sample_weight)
    except Exception as e:
        _logger.warning(
            "Failed to autolog metrics for %s. Logging error: %s", type(estimator).__name__, e
        )
        metrics = {}
    if hasattr(estimator, "score"):
        try:
            with_weight = _SAMPLE_WEIGHT in arg_names(estimator.score)
            args = (x, y_true, sample_weight) if with_weight else (x, y_true)
            metrics[prefix + "score"] = estimator.score(*args)
        except Exception as e:
            _logger.warning(
                "%s failed. The '%sscore' metric will not be recorded. Scoring error: %s",
                estimator.score.__qualname__,
                prefix,
                e,
            )
    return {k: float(v) for k, v in metrics.items()}


def estimator_html(estimator: Any) -> str:
    """The page MLflow stores as ``estimator.html``: sklearn's diagram of the estimator."""
    from sklearn.utils import estimator_html_repr

    return (
        '\n<!DOCTYPE html>\n<html lang="en">\n  <head>\n    <meta charset="UTF-8"/>\n'
        f"  </head>\n  <body>\n    {estimator_html_repr(estimator)}\n  </body>\n</html>\n    "
    )


def classifier_plots(
    estimator: Any, prefix: str, x: Any, y_true: Any, sample_weight: Any, folder: Path
) -> list[Path]:
    """The confusion matrix, and for binary problems the ROC and precision-recall curves, as
    PNG files in ``folder``; none when matplotlib is missing."""
    try:
        import matplotlib
        import matplotlib.pyplot as plt
    except ImportError as e:
        _logger.warning("Failed to import matplotlib (error: %r). Skipping artifact logging.", e)
        return []
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    def confusion_matrix() -> Any:
        labels = getattr(estimator, "classes_", None)
        count = len(labels) if labels is not None else len(set(y_true))
        style: Any = {"font.size": min(8.0, 50.0 / count), "axes.labelsize": 8.0, "figure.dpi": 175}
        with matplotlib.rc_context(style):
            _, ax = plt.subplots(1, 1, figsize=(6.0, 4.0))
            return ConfusionMatrixDisplay.from_estimator(
                estimator,
                x,
                y_true,
                sample_weight=sample_weight,
                normalize="true",
                cmap="Blues",
                ax=ax,
            )

    plots: list[tuple[str, Callable[[], Any], str]] = [
        ("confusion_matrix", confusion_matrix, "Normalized confusion matrix")
    ]
    if len(set(y_true)) == 2:  # as MLflow counts labels (a DataFrame counts its columns)
        for plot, kind, title in (
            ("roc_curve", RocCurveDisplay, "ROC curve"),
            ("precision_recall_curve", PrecisionRecallDisplay, "Precision recall curve"),
        ):
            curve = functools.partial(
                kind.from_estimator, estimator, x, y_true, sample_weight=sample_weight
            )
            plots.append((plot, curve, title))
    written = []
    style: Any = {"savefig.dpi": 175, "figure.autolayout": True, "font.size": 8}
    for name, draw, title in plots:
        try:
            with matplotlib.rc_context(style):
                display = draw()
                display.ax_.set_title(title)
                path = folder / f"{prefix}{name}.png"
                display.figure_.savefig(fname=path, format="png")
                plt.close(display.figure_)
            written.append(path)
        except Exception as e:
            _logger.warning(
                "Plotting %s%s failed. The artifact will not be recorded. Error: %s",
                prefix,
                name,
                e,
            )
    return written


def log_classifier_plots(
    client: Any, run_id: str, estimator: Any, x: Any, y_true: Any, sample_weight: Any
) -> None:
    """Draw the classifier plots and log them at the root of the run's artifacts."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = classifier_plots(estimator, TRAINING_PREFIX, x, y_true, sample_weight, Path(tmp))
        for path in paths:
            client.log_artifact(run_id, str(path))
