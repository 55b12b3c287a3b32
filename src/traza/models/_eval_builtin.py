"""The default evaluator's built-in metrics and plots, under the names MLflow gives them.

scikit-learn computes every metric; plots draw on a bare matplotlib ``Figure`` (no pyplot state,
no GUI backend). Loaded by ``traza.models.evaluate`` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn import metrics as skm

#: MLflow's default evaluator renders every plot with these settings.
PLOT_RC: Any = {  # matplotlib types rc keys as literals: keep this table untyped
    "figure.dpi": 175,
    "figure.figsize": [6.0, 4.0],
    "figure.autolayout": True,
    "font.size": 8,
}


def regressor_metrics(y: Any, y_pred: Any, weights: Any) -> dict[str, Any]:
    y_arr = np.asarray(y)
    total = (y_arr * np.asarray(weights)).sum() if weights is not None else sum(y)
    return {
        "example_count": len(y),
        "mean_absolute_error": skm.mean_absolute_error(y, y_pred, sample_weight=weights),
        "mean_squared_error": skm.mean_squared_error(y, y_pred, sample_weight=weights),
        "root_mean_squared_error": _rmse(y, y_pred, weights),
        "sum_on_target": total,
        "mean_on_target": total / len(y),
        "r2_score": skm.r2_score(y, y_pred, sample_weight=weights),
        "max_error": skm.max_error(y, y_pred),
        "mean_absolute_percentage_error": skm.mean_absolute_percentage_error(
            y, y_pred, sample_weight=weights
        ),
    }


def _rmse(y: Any, y_pred: Any, weights: Any) -> Any:
    rmse = getattr(skm, "root_mean_squared_error", None)  # scikit-learn >= 1.4
    if rmse is None:
        return skm.mean_squared_error(y, y_pred, sample_weight=weights, squared=False)
    return rmse(y, y_pred, sample_weight=weights)


def _common_classifier_metrics(
    y: Any, y_pred: Any, y_proba: Any, labels: Any, average: str, pos_label: Any, weights: Any
) -> dict[str, Any]:
    kw = {"average": average, "pos_label": pos_label, "sample_weight": weights}
    out: dict[str, Any] = {
        "example_count": len(y),
        "accuracy_score": skm.accuracy_score(y, y_pred, sample_weight=weights),
        "recall_score": skm.recall_score(y, y_pred, **kw),
        "precision_score": skm.precision_score(y, y_pred, **kw),
        "f1_score": skm.f1_score(y, y_pred, **kw),
    }
    if y_proba is not None:
        # Sorted: the columns of y_proba follow the sorted classes (sklearn sorts them anyway).
        out["log_loss"] = skm.log_loss(y, y_proba, labels=np.sort(labels), sample_weight=weights)
    return out


def binary_metrics(
    y: Any, y_pred: Any, y_proba: Any, labels: Any, pos_label: Any, weights: Any
) -> dict[str, Any]:
    """Counts of the (unweighted) confusion matrix, then the common scores for ``pos_label``."""
    tn, fp, fn, tp = skm.confusion_matrix(y, y_pred, labels=labels).ravel()
    return {
        "true_negatives": tn,
        "false_positives": fp,
        "false_negatives": fn,
        "true_positives": tp,
        **_common_classifier_metrics(y, y_pred, y_proba, labels, "binary", pos_label, weights),
    }


def multiclass_metrics(
    y: Any, y_pred: Any, y_proba: Any, labels: Any, average: str, weights: Any
) -> dict[str, Any]:
    out = _common_classifier_metrics(y, y_pred, y_proba, labels, average, None, weights)
    if average in ("macro", "weighted") and y_proba is not None:
        out["roc_auc"] = skm.roc_auc_score(
            y, y_proba, sample_weight=weights, average=average, multi_class="ovr"
        )
    return out


def per_class_metrics(y: Any, y_pred: Any, labels: Any, weights: Any) -> Any:
    """One row per class, that class against the rest (MLflow's ``per_class_metrics`` table)."""
    import pandas as pd

    rows = []
    y_arr, pred_arr = np.asarray(y), np.asarray(y_pred)
    for label in labels:
        y_bin = np.where(y_arr == label, 1, 0)
        pred_bin = np.where(pred_arr == label, 1, 0)
        rows.append(
            {"positive_class": label, **binary_metrics(y_bin, pred_bin, None, [0, 1], 1, weights)}
        )
    return pd.DataFrame(rows)


class Curve:
    """ROC or precision-recall lines, one per class (one in total for a binary classifier)."""

    def __init__(
        self,
        kind: str,
        series: list[tuple[str, Any, Any]],
        auc: Any,
        pos_label: Any,
        binary: bool,
    ) -> None:
        self.kind, self.series, self.auc, self.binary = kind, series, auc, binary
        suffix = f" (Positive label: {pos_label})" if pos_label else ""
        if kind == "roc":
            self.title = "ROC curve"
            self.xlabel, self.ylabel = f"False Positive Rate{suffix}", f"True Positive Rate{suffix}"
        else:
            self.title = "Precision recall curve"
            self.xlabel, self.ylabel = f"Recall{suffix}", f"Precision{suffix}"

    def draw(self, fig: Any) -> None:
        ax = fig.subplots()
        for label, xs, ys in self.series:
            ax.plot(xs, ys, label=label, drawstyle="steps-post", linewidth=1)
        diagonal = ([0, 1], [0, 1]) if self.kind == "roc" else ([0, 1], [1, 0])
        ax.plot(*diagonal, color="gray", alpha=0.3, linestyle="dashed")
        ax.set_title(self.title)
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel(self.ylabel)
        if self.binary:
            ax.legend(loc="best")
        else:
            ax.legend(loc="center left", bbox_to_anchor=(1, 0.5))
            fig.subplots_adjust(right=0.6, bottom=0.25)


def _one_curve(kind: str, y: Any, score: Any, pos: Any, weights: Any) -> tuple[Any, Any, str, Any]:
    if kind == "roc":
        fpr, tpr, _ = skm.roc_curve(y, score, pos_label=pos, sample_weight=weights)
        auc = skm.roc_auc_score(np.asarray(y) == pos, score, sample_weight=weights)
        return fpr, tpr, f"AUC={auc:.3f}", auc
    precision, recall, _ = skm.precision_recall_curve(
        y, score, pos_label=pos, sample_weight=weights
    )
    ap = skm.average_precision_score(y, score, pos_label=pos, sample_weight=weights)
    return recall, precision, f"AP={ap:.3f}", ap


def binary_curve(kind: str, y: Any, score: Any, pos_label: Any, weights: Any) -> Curve:
    xs, ys, label, auc = _one_curve(kind, y, score, pos_label, weights)
    return Curve(kind, [(label, xs, ys)], auc, pos_label, binary=True)


def multiclass_curve(kind: str, y: Any, y_proba: Any, labels: Any, weights: Any) -> Curve:
    series, aucs = [], []
    y_arr, proba = np.asarray(y), np.asarray(y_proba)
    for i, label in enumerate(labels):
        xs, ys, text, auc = _one_curve(
            kind, np.where(y_arr == label, 1, 0), proba[:, i], 1, weights
        )
        series.append((f"label={label},{text}", xs, ys))
        aucs.append(auc)
    return Curve(kind, series, aucs, None, binary=False)


def draw_confusion_matrix(y: Any, y_pred: Any, labels: Any, weights: Any) -> Callable[[Any], None]:
    """The row-normalized confusion matrix, as MLflow (and sklearn autologging) draws it."""
    matrix = skm.confusion_matrix(y, y_pred, labels=labels, normalize="true", sample_weight=weights)

    def draw(fig: Any) -> None:
        import matplotlib

        with matplotlib.rc_context(
            {"font.size": min(8, math.ceil(50.0 / len(labels))), "axes.labelsize": 8}
        ):
            fig.set_size_inches(6.0, 4.0)
            ax = fig.subplots()
            display = skm.ConfusionMatrixDisplay(confusion_matrix=matrix, display_labels=labels)
            display.plot(cmap="Blues", ax=ax)
            ax.set_title("Normalized confusion matrix")

    return draw


def draw_lift_curve(y: Any, y_proba: Any, labels: Any) -> Callable[[Any], None]:
    """Lift of each class: the positive rate among the top-scored fraction over the base rate."""

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        y_arr, proba = np.asarray(y), np.asarray(y_proba)
        for i, label in enumerate(labels):
            order = np.argsort(-proba[:, i], kind="stable")
            hits = (y_arr[order] == label).astype(float)
            base = hits.mean()
            if base == 0:
                continue
            fraction = np.arange(1, len(hits) + 1) / len(hits)
            ax.plot(
                fraction, np.cumsum(hits) / np.arange(1, len(hits) + 1) / base, label=str(label)
            )
        ax.plot([0, 1], [1, 1], color="gray", linestyle="dashed", label="Baseline")
        ax.set_title("Lift Curve")
        ax.set_xlabel("Percentage of sample")
        ax.set_ylabel("Lift")
        ax.legend(loc="best")

    return draw


def draw_calibration_curve(
    y: Any, y_proba: Any, labels: Any, pos_label: Any, config: dict[str, Any]
) -> Callable[[Any], None]:
    """Reliability diagram: the positive class's (or each class's) mean predicted probability
    against its observed frequency, in ``calibration_n_bins`` bins (MLflow's config key)."""
    n_bins = int(config.get("calibration_n_bins", 10))

    def draw(fig: Any) -> None:
        from sklearn.calibration import calibration_curve

        ax = fig.subplots()
        y_arr, proba = np.asarray(y), np.asarray(y_proba)
        if len(labels) == 2:
            columns = [(pos_label, proba[:, list(labels).index(pos_label)])]
        else:
            columns = [(label, proba[:, i]) for i, label in enumerate(labels)]
        for label, score in columns:
            frac, mean = calibration_curve(y_arr == label, score, n_bins=n_bins)
            ax.plot(mean, frac, marker="o", linewidth=1, label=str(label))
        ax.plot([0, 1], [0, 1], color="gray", linestyle="dashed", label="Perfectly calibrated")
        ax.set_title("Calibration Curve")
        ax.set_xlabel("Mean predicted probability")
        ax.set_ylabel("Fraction of positives")
        ax.legend(loc="best")

    return draw
