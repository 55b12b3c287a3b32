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

import functools
from collections.abc import Callable
from typing import Any

from traza import autologging
from traza import boosting_autolog as shared
from traza.autologging import TrainingSession, autologging_integration, rerouted_warnings
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

_logger = autologging.get_logger(__name__)


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
    if (
        disable_for_unsupported_versions
        and autologging.release_numbers(lightgbm.__version__) < _MIN_VERSION
    ):
        _logger.warning(
            "lightgbm %s is older than Traza's autologging supports (3.3): not enabled.",
            lightgbm.__version__,
        )
        return
    options = Options(
        FLAVOR_NAME,
        log_input_examples,
        log_model_signatures,
        log_models,
        log_datasets,
        registered_model_name,
    )
    native = functools.partial(_patched_train, options, True)
    in_wrapper = functools.partial(_patched_train, options, False)
    safe_patch = autologging.safe_patch
    safe_patch(FLAVOR_NAME, lightgbm.Dataset, "__init__", shared.remember_example)
    safe_patch(FLAVOR_NAME, lightgbm, "train", native, manage_run=True, extra_tags=extra_tags)
    safe_patch(
        FLAVOR_NAME, lightgbm.sklearn, "train", in_wrapper, manage_run=True, extra_tags=extra_tags
    )
    if shared.sklearn_available():
        shared.patch_wrappers(options, wrapper_classes(), extra_tags)


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


def _patched_train(
    options: Options, native: bool, original: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """``lightgbm.train`` (``native``) or the one a wrapper's ``fit`` calls (its model is
    logged by the patched ``fit``). A train inside a train is not logged."""
    import lightgbm

    with TrainingSession(lightgbm.train, allow_children=False) as session:
        if not session.should_log():
            return original(*args, **kwargs)
        return _train_and_log(options, native, original, args, kwargs)


def _train_and_log(
    options: Options,
    native: bool,
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    client = shared.client()
    run_id = shared.active_run_id()
    quiet = shared.silent(FLAVOR_NAME)
    train_set = shared.arg_value(original, args, kwargs, "train_set")
    fn_params = shared.call_params(original, args, kwargs, _UNLOGGED)
    model_id = None
    with rerouted_warnings(quiet):
        booster_params = args[0] if args else kwargs["params"]
        shared.log_params(client, run_id, {**dict(booster_params or {}), **fn_params})
        if options.log_datasets and train_set is not None:
            try:
                _log_datasets(client, run_id, train_set, kwargs)
            except Exception as e:
                _logger.warning(
                    "Failed to log dataset information to Traza Tracking. Reason: %s", e
                )
        if native and options.log_models:
            model_id = shared.create_model(client, run_id)
    recorder = shared.IterationMetrics(client, run_id, model_id)
    args, kwargs = shared.with_callback(original, args, kwargs, _Callback(recorder))
    try:
        model = original(*args, **kwargs)
    except BaseException:
        shared.fail_model(client, model_id)
        raise
    finally:
        recorder.flush()

    def early_stopping() -> None:
        results = recorder.results
        best = int(model.best_iteration)
        shared.log_early_stopping(client, run_id, results, len(results), best, best - 1, model_id)

    def log_booster() -> None:
        shared.log_model(
            options, model, shared.example_of(train_set), model.predict, model_id=model_id
        )

    if model.best_iteration > 0:
        shared.after_training(FLAVOR_NAME, "early stopping metrics", early_stopping)
    for importance_type in _IMPORTANCE_TYPES:
        shared.after_training(
            FLAVOR_NAME,
            f"feature importance ({importance_type})",
            functools.partial(_log_importance, client, run_id, model, importance_type),
        )
    if native and options.log_models:
        shared.after_training(FLAVOR_NAME, "the model", log_booster)
    return model


def _log_importance(client: Any, run_id: str, model: Any, importance_type: str) -> None:
    features = model.feature_name()
    values = model.feature_importance(importance_type=importance_type).tolist()
    importance = dict(zip(features, values, strict=True))
    shared.log_importance(client, run_id, importance_type, importance, indent=2)


def _log_datasets(client: Any, run_id: str, train_set: Any, kwargs: dict[str, Any]) -> None:
    """The train set, and each valid set named as in ``valid_names`` when given by keyword
    (MLflow reads only keyword arguments here)."""
    inputs = [(_dataset(train_set), "train")]
    valid_sets = kwargs.get("valid_sets")
    if valid_sets is not None:
        names = kwargs.get("valid_names")
        if names is None:
            inputs += [(_dataset(v), "eval") for v in valid_sets]
        else:
            inputs += [(_dataset(v, n), "eval") for v, n in zip(valid_sets, names, strict=False)]
    shared.log_datasets(client, run_id, inputs)


def _dataset(dataset: Any, name: str | None = None) -> Any:
    import pandas as pd

    data = dataset.data
    if isinstance(data, pd.DataFrame):
        return shared.make_dataset(data, name=name)
    if type(data).__module__.split(".")[0] == "polars":
        return shared.make_dataset(data.to_pandas(), name=name)
    return shared.make_dataset(data, targets=dataset.label, name=name)


__all__ = ["FLAVOR_NAME", "autolog"]
