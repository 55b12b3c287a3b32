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
from traza.autologging import TrainingSession, autologging_integration, rerouted_warnings
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

_logger = autologging.get_logger(__name__)


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
    if (
        disable_for_unsupported_versions
        and autologging.release_numbers(xgboost.__version__) < _MIN_VERSION
    ):
        _logger.warning(
            "xgboost %s is older than Traza's autologging supports (1.7): not enabled.",
            xgboost.__version__,
        )
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
    native = functools.partial(_patched_train, options, types, True)
    in_wrapper = functools.partial(_patched_train, options, types, False)
    safe_patch = autologging.safe_patch
    safe_patch(FLAVOR_NAME, xgboost, "train", native, manage_run=True, extra_tags=extra_tags)
    safe_patch(
        FLAVOR_NAME, xgboost.sklearn, "train", in_wrapper, manage_run=True, extra_tags=extra_tags
    )
    safe_patch(FLAVOR_NAME, xgboost.DMatrix, "__init__", shared.remember_example)
    if shared.sklearn_available():
        shared.patch_wrappers(options, wrapper_classes(), extra_tags)


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


def _patched_train(
    options: Options,
    importance_types: list[str],
    native: bool,
    original: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> Any:
    """``xgboost.train`` (``native``) or the one a wrapper's ``fit`` calls (its model is
    logged by the patched ``fit``)."""
    stack = TrainingSession._stack
    if stack and not stack[-1].should_log():
        return original(*args, **kwargs)
    return _train_and_log(options, importance_types, native, original, args, kwargs)


def _train_and_log(
    options: Options,
    importance_types: list[str],
    native: bool,
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    import xgboost

    client = shared.client()
    run_id = shared.active_run_id()
    quiet = shared.silent(FLAVOR_NAME)
    dtrain = shared.arg_value(original, args, kwargs, "dtrain")
    fn_params = shared.call_params(original, args, kwargs, _UNLOGGED)
    dataset = None
    model_id = None
    with rerouted_warnings(quiet):
        booster_params = args[0] if args else kwargs["params"]
        shared.log_params(client, run_id, {**dict(booster_params or {}), **fn_params})
        if options.log_datasets and dtrain is not None:
            try:
                dataset = _dataset(dtrain)
                evals = kwargs.get("evals") or ()
                shared.log_datasets(
                    client,
                    run_id,
                    [(dataset, "train"), *((_dataset(d, name), "eval") for d, name in evals)],
                )
            except Exception as e:
                _logger.warning(
                    "Failed to log dataset information to Traza Tracking. Reason: %s", e
                )
        if native and options.log_models:
            model_id = shared.create_model(client, run_id)
    recorder = shared.IterationMetrics(client, run_id, model_id)
    args, kwargs = shared.with_callback(original, args, kwargs, _callback_class()(recorder))
    try:
        model = original(*args, **kwargs)
    except BaseException:
        shared.fail_model(client, model_id)
        raise
    finally:
        recorder.flush()

    def log_booster() -> None:
        shared.log_model(
            options,
            model,
            shared.example_of(dtrain),
            lambda x: model.predict(xgboost.DMatrix(x)),
            params=fn_params,
            model_id=model_id,
        )

    def early_stopping() -> None:
        results = recorder.results
        best = int(model.best_iteration)
        shared.log_early_stopping(
            client, run_id, results, len(results) - 1, best, best, model_id, dataset
        )

    if native and options.log_models:
        shared.after_training(FLAVOR_NAME, "the model", log_booster)
    if kwargs.get("early_stopping_rounds"):
        shared.after_training(FLAVOR_NAME, "early stopping metrics", early_stopping)
    for importance_type in importance_types:
        shared.after_training(
            FLAVOR_NAME,
            f"feature importance ({importance_type})",
            functools.partial(_log_importance, client, run_id, model, importance_type),
        )
    return model


def _log_importance(client: Any, run_id: str, model: Any, importance_type: str) -> None:
    importance = model.get_score(importance_type=importance_type)
    shared.log_importance(client, run_id, importance_type, importance, indent=None)


def _dataset(dmatrix: Any, name: str | None = None) -> Any:
    """What a DMatrix holds, as a dataset (features only: a DMatrix's data has no labels)."""
    return shared.make_dataset(dmatrix.get_data(), name=name)


__all__ = ["FLAVOR_NAME", "autolog"]
