"""``traza.lightgbm.autolog()``: log LightGBM training as MLflow 3.17's
``mlflow.lightgbm.autolog``.

``lightgbm.train`` logs its booster params and its own arguments as params, each valid set's
metrics at every iteration (``<valid name>-<metric>``, step = iteration), when the booster has
a best iteration (early stopping) ``stopped_iteration``, ``best_iteration`` and the best
iteration's metrics again one step after the last, ``feature_importance_split`` and ``_gain``
as JSON and PNG, the train and valid datasets, and the Booster as the ``model`` logged model.
The scikit-learn wrappers (``LGBMRegressor`` ...) train through the same ``train`` and are
logged as their own class. lightgbm loads when ``autolog()`` is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from traza import autologging
from traza import boosting_autolog as shared
from traza.autologging import autologging_integration
from traza.boosting_autolog import Options

FLAVOR_NAME = "lightgbm"
#: Arguments of ``lightgbm.train`` that are data, functions or the params dict itself.
_UNLOGGED = (
    "params",
    "train_set",
    "valid_sets",
    "valid_names",
    "fobj",
    "feval",
    "init_model",
    "learning_rates",
    "callbacks",
    "evals_result",  # lightgbm < 4 only
)
_IMPORTANCE_TYPES = ("split", "gain")
_MIN_VERSION = (3, 3)


@autologging_integration(FLAVOR_NAME)
def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Enable (or with ``disable=True`` disable) autologging of LightGBM training.

    Arguments are MLflow's: ``exclusive`` keeps autologging out of runs the user started;
    ``silent`` hides its warnings; ``extra_tags`` are set on every run it starts;
    ``registered_model_name`` registers each trained model as a new version.
    """
    import lightgbm

    autologging.resolve_tags(FLAVOR_NAME, extra_tags)  # a bad extra_tags fails here
    if disable_for_unsupported_versions and shared.too_old(lightgbm, _MIN_VERSION):
        return
    options = Options(
        FLAVOR_NAME,
        log_input_examples,
        log_model_signatures,
        log_models,
        log_datasets,
        registered_model_name,
    )
    shared.patch_library(
        _SPEC, options, lightgbm, lightgbm.Dataset, wrapper_classes, _IMPORTANCE_TYPES, extra_tags
    )


def wrapper_classes() -> list[type]:
    """The scikit-learn wrappers: LightGBM's own ``LGBMModel`` subclasses."""
    import inspect

    import lightgbm.sklearn

    base = lightgbm.sklearn.LGBMModel
    return [
        klass
        for _, klass in inspect.getmembers(lightgbm.sklearn, inspect.isclass)
        if klass.__module__.split(".")[0] == "lightgbm"
        and issubclass(klass, base)
        and klass is not base
    ]


class _Callback:
    """Records each iteration's eval results. It runs before LightGBM's early-stopping
    callback (which gets a higher ``order``), so the stopping iteration is recorded too."""

    def __init__(self, recorder: shared.IterationMetrics) -> None:
        self.recorder = recorder

    def __call__(self, env: Any) -> None:
        try:
            values = {}
            for entry in env.evaluation_result_list:
                data_name, eval_name, value = entry[0], entry[1], entry[2]
                values[shared.metric_key(f"{data_name}-{eval_name}")] = value
            self.recorder.record(values, env.iteration)
        except Exception as e:
            self.recorder.failed(e)


def _eval_sets(kwargs: dict[str, Any]) -> list[tuple[Any, str | None]]:
    """Each valid set, named as in ``valid_names`` when given by keyword (MLflow reads only
    keyword arguments here)."""
    valid_sets = kwargs.get("valid_sets")
    if valid_sets is None:
        return []
    names = kwargs.get("valid_names")
    if names is None:
        return [(v, None) for v in valid_sets]
    return list(zip(valid_sets, names, strict=False))


def _early_stopped(model: Any, kwargs: dict[str, Any]) -> bool:
    """The booster has a best iteration."""
    return bool(model.best_iteration > 0)


def _importance(model: Any, importance_type: str) -> dict[str, Any]:
    features = model.feature_name()
    values = model.feature_importance(importance_type=importance_type).tolist()
    return dict(zip(features, values, strict=True))


def _predictor(model: Any) -> Callable[[Any], Any]:
    return model.predict  # type: ignore[no-any-return]


def _train() -> Any:
    import lightgbm

    return lightgbm.train


def _dataset(dataset: Any, name: str | None = None) -> Any:
    import pandas as pd

    data = dataset.data
    if isinstance(data, pd.DataFrame):
        return shared.make_dataset(data, name=name)
    if type(data).__module__.split(".")[0] == "polars":
        return shared.make_dataset(data.to_pandas(), name=name)
    return shared.make_dataset(data, targets=dataset.label, name=name)


_SPEC = shared.TrainSpec(
    train_arg="train_set",
    unlogged=_UNLOGGED,
    callback=_Callback,
    to_dataset=_dataset,
    eval_sets=_eval_sets,
    early_stopped=_early_stopped,
    importance=_importance,
    importance_indent=2,
    predictor=_predictor,
    one_based_iterations=True,
    stopping_metrics_on_train_set=False,
    model_gets_params=False,
    model_first=False,
    session_key=_train,
)


__all__ = ["FLAVOR_NAME", "autolog"]
