"""``traza.xgboost.autolog()``: log XGBoost training as MLflow 3.17's ``mlflow.xgboost.autolog``.

``xgboost.train`` logs its booster params and its own arguments as params, each eval set's
metrics at every iteration (``<eval name>-<metric>``, step = iteration), with early stopping
``stopped_iteration``, ``best_iteration`` and the best iteration's metrics again one step after
the last, ``feature_importance_<type>.json`` and ``.png`` per importance type, the train and
eval datasets, and the Booster as the ``model`` logged model. The scikit-learn wrappers
(``XGBRegressor`` ...) train through the same ``train`` and are logged as their own class.
xgboost loads when ``autolog()`` is called.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from traza import autologging
from traza import boosting_autolog as shared
from traza.autologging import autologging_integration
from traza.boosting_autolog import Options

FLAVOR_NAME = "xgboost"
#: Arguments of ``xgboost.train`` that are data, functions or the params dict itself.
_UNLOGGED = (
    "params",
    "dtrain",
    "evals",
    "obj",
    "feval",
    "evals_result",
    "xgb_model",
    "callbacks",
    "learning_rates",
)
_MIN_VERSION = (1, 7)


@autologging_integration(FLAVOR_NAME)
def autolog(
    importance_types: list[str] | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    model_format: str = "ubj",
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Enable (or with ``disable=True`` disable) autologging of XGBoost training.

    Arguments are MLflow's: ``importance_types`` (default ``["weight"]``) names the feature
    importances logged; ``model_format`` is the file format of the logged model;
    ``exclusive`` keeps autologging out of runs the user started; ``silent`` hides its
    warnings; ``extra_tags`` are set on every run it starts; ``registered_model_name``
    registers each trained model as a new version.
    """
    import xgboost

    autologging.resolve_tags(FLAVOR_NAME, extra_tags)  # a bad extra_tags fails here
    if disable_for_unsupported_versions and shared.too_old(xgboost, _MIN_VERSION):
        return
    types = list(importance_types) if importance_types is not None else ["weight"]
    options = Options(
        FLAVOR_NAME,
        log_input_examples,
        log_model_signatures,
        log_models,
        log_datasets,
        registered_model_name,
        (("model_format", model_format),),
    )
    shared.patch_library(
        _SPEC, options, xgboost, xgboost.DMatrix, wrapper_classes, types, extra_tags
    )


def wrapper_classes() -> list[type]:
    """The scikit-learn wrappers: every ``XGBModel`` subclass in ``xgboost.sklearn``."""
    import inspect

    import xgboost.sklearn

    base = xgboost.sklearn.XGBModel
    return [
        klass
        for _, klass in inspect.getmembers(xgboost.sklearn, inspect.isclass)
        if issubclass(klass, base) and klass is not base
    ]


@functools.lru_cache(maxsize=1)
def _callback_class() -> type:
    import xgboost

    class AutologCallback(xgboost.callback.TrainingCallback):
        """Records each iteration's latest eval results; never stops training, never raises."""

        def __init__(self, recorder: shared.IterationMetrics) -> None:
            super().__init__()
            self.recorder = recorder

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            try:
                values = {}
                for data_name, metrics in evals_log.items():
                    for metric_name, history in metrics.items():
                        values[f"{data_name}-{shared.metric_key(metric_name)}"] = history[-1]
                self.recorder.record(values, epoch)
            except Exception as e:
                self.recorder.failed(e)
            return False

    return AutologCallback


def _callback(recorder: shared.IterationMetrics) -> Any:
    return _callback_class()(recorder)


def _dataset(dmatrix: Any, name: str | None = None) -> Any:
    """What a DMatrix holds, as a dataset (features only: a DMatrix's data has no labels)."""
    return shared.make_dataset(dmatrix.get_data(), name=name)


def _eval_sets(kwargs: dict[str, Any]) -> Any:
    return kwargs.get("evals") or ()


def _early_stopped(model: Any, kwargs: dict[str, Any]) -> bool:
    return bool(kwargs.get("early_stopping_rounds"))


def _importance(model: Any, importance_type: str) -> dict[str, Any]:
    return model.get_score(importance_type=importance_type)  # type: ignore[no-any-return]


def _predictor(model: Any) -> Callable[[Any], Any]:
    import xgboost

    return lambda x: model.predict(xgboost.DMatrix(x))


_SPEC = shared.TrainSpec(
    train_arg="dtrain",
    unlogged=_UNLOGGED,
    callback=_callback,
    to_dataset=_dataset,
    eval_sets=_eval_sets,
    early_stopped=_early_stopped,
    importance=_importance,
    importance_indent=None,
    predictor=_predictor,
    one_based_iterations=False,
    stopping_metrics_on_train_set=True,
    model_gets_params=True,
    model_first=True,
)


__all__ = ["FLAVOR_NAME", "autolog"]
