"""``traza.sklearn.autolog()``: log params, metrics, tags, datasets and the model on ``fit``.

It behaves as MLflow 3.17's ``mlflow.sklearn.autolog``: the same estimators are patched
(``fit``, ``fit_transform``, ``fit_predict``), the same keys are logged, and only the outermost
fit of a Pipeline or a parameter search logs. A search also logs its best parameters, one child
run per top candidate and ``cv_results.csv``. sklearn, numpy and pandas load when it is called.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import tempfile
from collections.abc import Callable, Iterable
from copy import deepcopy
from dataclasses import dataclass
from numbers import Number
from pathlib import Path
from typing import Any

from traza import autologging
from traza.autologging import (
    INPUT_EXAMPLE_SAMPLE_ROWS,
    TrainingSession,
    autologging_integration,
    get_logger,
    rerouted_warnings,
    safe_patch,
)
from traza.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from traza.sklearn import _autolog_metrics as metrics_
from traza.sklearn import _autolog_post as post

_logger = get_logger(__name__)

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"

MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_ENTITY_KEY_LENGTH = 250
_DATASET_CONTEXT = "mlflow.data.context"

#: Fitting these only transforms data, so alone they start no run (inside a Pipeline they log
#: as part of it).
_EXCLUDED_MODULES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
)
_EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)
#: These fit many models; autologging is off while they run.
_APIS_AUTOLOGGING_DISABLED = (
    "cross_validate",
    "cross_val_predict",
    "cross_val_score",
    "learning_curve",
    "permutation_test_score",
    "validation_curve",
)


@dataclass(frozen=True)
class _Options:
    log_input_examples: bool
    log_model_signatures: bool
    log_models: bool
    log_datasets: bool
    max_tuning_runs: int | None
    log_post_training_metrics: bool
    serialization_format: str
    registered_model_name: str | None
    pos_label: Any


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
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    registered_model_name: str | None = None,
    pos_label: Any = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Enable (or with ``disable=True`` disable) autologging for scikit-learn estimators.

    Arguments are MLflow's: ``max_tuning_runs`` caps the child runs of a parameter search
    (``None`` for all), ``pos_label`` switches classifier metrics to binary averaging,
    ``exclusive`` keeps autologging out of runs the user started, ``silent`` hides its
    warnings, ``extra_tags`` are set on every run it starts.
    """
    from traza.exceptions import invalid

    if max_tuning_runs is not None and max_tuning_runs < 0:
        raise invalid(f"`max_tuning_runs` must be non-negative, instead got {max_tuning_runs}.")
    autologging.resolve_tags(FLAVOR_NAME, extra_tags)  # a bad extra_tags fails here, not in fit
    options = _Options(
        log_input_examples,
        log_model_signatures,
        log_models,
        log_datasets,
        max_tuning_runs,
        log_post_training_metrics,
        serialization_format,
        registered_model_name,
        pos_label,
    )
    patch_estimators(
        FLAVOR_NAME,
        estimators_to_patch(),
        functools.partial(_patched_fit, options),
        functools.partial(post.patched_predict, options),
        log_post_training_metrics,
        extra_tags,
    )


def patch_estimators(
    integration: str,
    classes: Iterable[type],
    fit: Callable[..., Any],
    predict: Callable[..., Any],
    metric_apis: bool,
    extra_tags: dict[str, Any] | None,
) -> None:
    """Patch, under ``integration``, each class's fit methods with ``fit`` (in a run it
    manages), its inference methods with ``predict`` and its ``score`` (both for post-training
    metrics), with ``metric_apis`` scikit-learn's metric functions, and the model-selection
    APIs that train without autologging. Shared with the XGBoost and LightGBM wrappers."""
    import sklearn.metrics
    import sklearn.model_selection

    for klass in classes:
        for name in ("fit", "fit_transform", "fit_predict"):
            safe_patch(integration, klass, name, fit, manage_run=True, extra_tags=extra_tags)
        for name in ("predict", "predict_proba", "transform", "predict_log_proba"):
            safe_patch(integration, klass, name, predict)
        safe_patch(integration, klass, "score", post.patched_score)
    if metric_apis:
        for name in post.metric_api_names():
            safe_patch(integration, sklearn.metrics, name, post.patched_metric_api)
    for name in _APIS_AUTOLOGGING_DISABLED:
        safe_patch(integration, sklearn.model_selection, name, _with_autologging_disabled)


def _with_autologging_disabled(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with autologging.disable_autologging():
        return original(*args, **kwargs)


@functools.lru_cache(maxsize=1)
def estimators_to_patch() -> tuple[type, ...]:
    """Every sklearn estimator plus the meta-estimators, minus pure data transformations."""
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    classes = {klass for _, klass in all_estimators()} | {
        GridSearchCV,
        RandomizedSearchCV,
        Pipeline,
    }
    return tuple(
        sorted(
            (
                k
                for k in classes
                if not k.__module__.startswith(_EXCLUDED_MODULES)
                and f"{k.__module__}.{k.__name__}" not in _EXCLUDED_CLASSES
            ),
            key=lambda k: (k.__module__, k.__name__),
        )
    )


def is_parameter_search(estimator: object) -> bool:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, GridSearchCV | RandomizedSearchCV)


def estimator_tags(estimator: object) -> dict[str, str]:
    klass = type(estimator)
    return {
        "estimator_name": klass.__name__,
        "estimator_class": f"{klass.__module__}.{klass.__name__}",
    }


# -- the patched fit ---------------------------------------------------------------------------
def _patched_fit(
    options: _Options, original: Callable[..., Any], estimator: Any, *args: Any, **kwargs: Any
) -> Any:
    """Log around ``original`` when this is the outermost fit; otherwise just train."""
    post_training = options.log_post_training_metrics and post.MANAGER.should_log()
    with TrainingSession(estimator, allow_children=False) as session:
        if not session.should_log():
            return original(estimator, *args, **kwargs)
        with post.MANAGER.disabled():
            result = _fit_and_log(options, original, estimator, *args, **kwargs)
        if post_training:
            post.MANAGER.register_model(estimator, _active_run_id())
        return result


def _active_run_id() -> str:
    from traza import fluent

    run = fluent.active_run()
    assert run is not None, "autologging runs inside an active run"
    return run.info.run_id


def _client() -> Any:
    from traza import fluent

    return fluent._client()


def _silent() -> bool:
    return bool(autologging.get_config(FLAVOR_NAME, "silent", False))


def _fit_and_log(
    options: _Options, original: Callable[..., Any], estimator: Any, *args: Any, **kwargs: Any
) -> Any:
    original_fit = getattr(type(estimator).fit, autologging._ORIGINAL, type(estimator).fit)
    x, y, sample_weight = metrics_.get_x_y_and_sample_weight(original_fit, args, kwargs)
    run_id = _active_run_id()
    client = _client()
    with rerouted_warnings(_silent()):
        dataset = _log_pretraining(options, client, run_id, estimator, x, y)
    result = original(estimator, *args, **kwargs)
    with rerouted_warnings(_silent()):
        _log_posttraining(options, client, run_id, estimator, x, y, sample_weight, dataset)
    return result


def log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    """Log params as MLflow's autologging does: ``str()`` of each value, long ones cut."""
    truncated = _truncate(params, MAX_PARAM_VAL_LENGTH)
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in truncated.items()])


def set_tags(client: Any, run_id: str, tags: dict[str, Any]) -> None:
    truncated = _truncate(tags, MAX_TAG_VAL_LENGTH)
    client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in truncated.items()])


def _truncate(values: dict[str, Any], max_value: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        new_key = str(key)
        if len(new_key) > MAX_ENTITY_KEY_LENGTH:
            new_key = new_key[: MAX_ENTITY_KEY_LENGTH - 3] + "..."
            _logger.warning("Truncated the key `%s`", new_key)
        if len(str(value)) > max_value:
            value = str(value)[: max_value - 3] + "..."
            _logger.warning(
                "Truncated the value of the key `%s`. Truncated value: `%s`", new_key, value
            )
        out[new_key] = value
    return out


def log_metrics(
    client: Any,
    run_id: str,
    values: dict[str, Any],
    model_id: str | None = None,
    dataset: Any = None,
    timestamp: int | None = None,
) -> None:
    import time

    now = timestamp if timestamp is not None else int(time.time() * 1000)
    entities = [
        Metric(
            key[:MAX_ENTITY_KEY_LENGTH],
            float(value),
            now,
            0,
            model_id,
            dataset.name if dataset is not None else None,
            dataset.digest if dataset is not None else None,
        )
        for key, value in values.items()
    ]
    client.log_batch(run_id, metrics=entities)


def _log_pretraining(
    options: _Options, client: Any, run_id: str, estimator: Any, x: Any, y: Any
) -> Any:
    # A search's seed estimator is a template: its untuned params are not logged deeply.
    log_params(client, run_id, estimator.get_params(deep=not is_parameter_search(estimator)))
    set_tags(client, run_id, estimator_tags(estimator))
    try:
        dataset = create_dataset(x, y)
    except Exception:
        _logger.debug("Failed to create dataset for logging.", exc_info=True)
        dataset = None
    if options.log_datasets and dataset is not None:
        try:
            log_dataset(client, run_id, dataset, "train")
        except Exception as e:
            _logger.warning(
                "Failed to log training dataset information to Traza Tracking. Reason: %s", e
            )
    return dataset


def create_dataset(x: Any, y: Any = None) -> Any:
    """``x`` (and ``y``) as a ``traza.data`` dataset, or None for a type it does not cover."""
    import numpy as np
    import pandas as pd

    from traza import data

    if isinstance(x, pd.DataFrame):
        return data.from_pandas(x)
    try:
        from scipy.sparse import issparse
    except ImportError:  # pragma: no cover - sklearn requires scipy
        issparse = None
    if issparse is not None and issparse(x):
        x = x.toarray()
        if y is not None and issparse(y):
            y = y.toarray()
    if isinstance(x, np.ndarray):
        return data.from_numpy(x, targets=y)
    _logger.warning("Unrecognized dataset type %s. Dataset logging skipped.", type(x))
    return None


def log_dataset(client: Any, run_id: str, dataset: Any, context: str) -> None:
    """Record ``dataset`` as an input whose source is the code that trained, as MLflow does."""
    from traza import context as run_context

    source = json.dumps({"tags": dict(run_context.default_tags())})
    e = dataset._to_entity()  # a Record: rebuilt, not dataclasses.replace()d
    entity = Dataset(e.name, e.digest, "code", source, e.schema, e.profile)
    client.log_inputs(run_id, [DatasetInput(entity, (InputTag(_DATASET_CONTEXT, context),))])


def _log_posttraining(
    options: _Options,
    client: Any,
    run_id: str,
    estimator: Any,
    x: Any,
    y: Any,
    sample_weight: Any,
    dataset: Any,
) -> None:
    try:
        example = deepcopy(x[:INPUT_EXAMPLE_SAMPLE_ROWS])
        example_error: Exception | None = None
    except Exception as e:
        example, example_error = None, e

    def get_example() -> Any:
        if example_error is not None:
            raise example_error
        return example

    def infer(sample: Any) -> Any:
        from traza.models import infer_signature

        if hasattr(estimator, "predict"):
            output = estimator.predict(deepcopy(sample))
        elif hasattr(estimator, "transform"):
            output = estimator.transform(deepcopy(sample))
        else:
            raise TypeError(
                "the trained model does not have a `predict` or `transform` function, which is "
                "required in order to infer the signature"
            )
        return infer_signature(sample, output)

    model_id = None
    input_example, signature = None, None
    if options.log_models:
        input_example, signature = autologging.resolve_input_example_and_signature(
            get_example, infer, options.log_input_examples, options.log_model_signatures
        )
        params = estimator.get_params(deep=not is_parameter_search(estimator))
        if hasattr(estimator, "best_params_"):
            params |= {f"best_{k}": v for k, v in estimator.best_params_.items()}
        info = _log_model(
            options,
            estimator,
            "model",
            signature,
            input_example,
            params,
            options.registered_model_name,
        )
        if info is not None:
            model_id = info.model_id
            post.MANAGER.record_model_id(estimator, model_id)

    values = metrics_.estimator_metrics(
        estimator, metrics_.TRAINING_PREFIX, x, y, sample_weight, options.pos_label
    )
    if values:
        log_metrics(client, run_id, values, model_id, dataset)
    _log_artifacts(client, run_id, estimator, x, y, sample_weight)
    if y is None and not values:
        _logger.warning(
            "Training metrics will not be recorded because training labels were not specified. "
            "To automatically record training metrics, provide training labels as inputs to the "
            "model training function."
        )
    if is_parameter_search(estimator):
        _log_parameter_search(
            options, client, run_id, estimator, dataset, model_id, signature, input_example
        )


def _log_artifacts(
    client: Any, run_id: str, estimator: Any, x: Any, y: Any, sample_weight: Any
) -> None:
    import sklearn.base

    if sklearn.base.is_classifier(estimator) and y is not None:
        try:
            metrics_.log_classifier_plots(client, run_id, estimator, x, y, sample_weight)
        except Exception as e:
            _logger.warning(
                "Failed to autolog artifacts for %s. Logging error: %s", type(estimator).__name__, e
            )
    client.log_text(run_id, metrics_.estimator_html(estimator), "estimator.html")


def _log_model(
    options: _Options,
    estimator: Any,
    name: str,
    signature: Any,
    input_example: Any,
    params: dict[str, Any],
    registered_model_name: str | None = None,
) -> Any:
    """``traza.sklearn.log_model`` with autologging's arguments; a failure only warns."""
    try:
        log_model = importlib.import_module("traza.sklearn").log_model
        kwargs: dict[str, Any] = {
            "name": name,
            "signature": signature,
            "input_example": input_example,
            "serialization_format": options.serialization_format,
            "registered_model_name": registered_model_name,
            "params": params,
        }
        accepted = inspect.signature(log_model).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in accepted}
        if registered_model_name is None:
            kwargs.pop("registered_model_name", None)
        return log_model(estimator, **kwargs)
    except Exception as e:
        _logger.warning("Failed to log the %s model %r: %s", type(estimator).__name__, name, e)
        return None


# -- parameter search --------------------------------------------------------------------------
def _log_parameter_search(
    options: _Options,
    client: Any,
    run_id: str,
    search: Any,
    dataset: Any,
    model_id: str | None,
    signature: Any,
    input_example: Any,
) -> None:
    best_model_id = None
    best_params = None
    if hasattr(search, "best_estimator_") and options.log_models:
        best_params = search.best_estimator_.get_params(deep=True)
        info = _log_model(
            options, search.best_estimator_, "best_estimator", signature, input_example, best_params
        )
        best_model_id = info.model_id if info is not None else None
    if hasattr(search, "best_score_"):
        log_metrics(client, run_id, {"best_cv_score": search.best_score_}, model_id, dataset)
    if hasattr(search, "best_params_"):
        log_params(client, run_id, {f"best_{k}": v for k, v in search.best_params_.items()})
    if not hasattr(search, "cv_results_"):
        return
    try:
        create_child_runs(
            client, run_id, search, options.max_tuning_runs, dataset, best_params, best_model_id
        )
    except Exception as e:
        _logger.warning(
            "Encountered exception during creation of child runs for parameter search. "
            "Child runs may be missing. Exception: %s",
            e,
        )
    try:
        import pandas as pd

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cv_results.csv"
            pd.DataFrame.from_dict(search.cv_results_).to_csv(path, index=False)
            client.log_artifact(run_id, str(path))
    except Exception as e:
        _logger.warning("Failed to log parameter search results as an artifact. Exception: %s", e)


def create_child_runs(
    client: Any,
    parent_run_id: str,
    search: Any,
    max_tuning_runs: int | None,
    dataset: Any,
    best_params: dict[str, Any] | None,
    best_model_id: str | None,
) -> None:
    """One finished child run per candidate of ``search.cv_results_``, best ranked first,
    at most ``max_tuning_runs``: the seed estimator's params with the candidate's, and the
    candidate's aggregate scores and times (per-split columns are left out)."""
    import time
    import warnings

    import pandas as pd

    from traza import context

    parent = client.get_run(parent_run_id)
    end_time = int(time.time() * 1000)
    seed = search.estimator
    base_params = seed.get_params(deep=not is_parameter_search(seed))
    results = pd.DataFrame.from_dict(search.cv_results_)
    if max_tuning_runs is not None:
        rank = "rank_test_score"
        if rank not in results.columns:
            rank = next(c for c in results.columns if "rank_test_" in c)
            warnings.warn(
                f"Top {max_tuning_runs} child runs will be created based on ordering in {rank} "
                "column.  You can choose not to limit the number of child runs created by "
                "setting `max_tuning_runs=None`.",
                stacklevel=2,
            )
        shown = min(max_tuning_runs, len(results))
        _logger.info(
            "Logging %d of %d parameter search candidates as child runs.", shown, len(results)
        )
        results = results.nsmallest(max_tuning_runs, rank)
    tags = dict(context.default_tags())
    tags[autologging.AUTOLOGGING_TAG] = FLAVOR_NAME
    tags[context.PARENT_RUN_ID] = parent_run_id
    tags.update(estimator_tags(seed))
    for _, row in results.iterrows():
        child = client.create_run(
            parent.info.experiment_id, start_time=parent.info.start_time, tags=tags
        )
        child_id = child.info.run_id
        candidate = row.get("params", {})
        log_params(client, child_id, {**base_params, **candidate})
        values = {
            str(k): v
            for k, v in row.items()
            if not str(k).startswith(("param", "split")) and isinstance(v, Number)
        }
        matches_best = best_params and candidate.items() <= best_params.items()
        log_metrics(client, child_id, values, best_model_id if matches_best else None, dataset)
        if dataset is not None:
            log_dataset(client, child_id, dataset, "train")
        client.set_terminated(child_id, end_time=end_time)


__all__ = ["autolog"]
