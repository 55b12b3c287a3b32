"""What XGBoost's and LightGBM's autologging share, as MLflow 3.17 logs it.

Both patch their library's ``train`` (params, per-iteration metrics of every eval set through a
training callback, early stopping's ``stopped_iteration`` and ``best_iteration``, feature
importance as JSON and a PNG plot, the model) and the scikit-learn wrappers' ``fit`` (the
model logged as its wrapper class, and post-training metrics as ``traza.sklearn.autolog``
logs them). Nothing here imports xgboost, lightgbm, numpy or matplotlib at import time.
"""

from __future__ import annotations

import functools
import inspect
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traza import autologging
from traza.autologging import (
    INPUT_EXAMPLE_SAMPLE_ROWS,
    TrainingSession,
    get_logger,
    rerouted_warnings,
    safe_patch,
)
from traza.entities import DatasetInput, InputTag, Metric, Param

_logger = get_logger(__name__)

MAX_PARAM_VAL_LENGTH = 6000
MAX_ENTITY_KEY_LENGTH = 250
MAX_METRICS_PER_BATCH = 1000
#: Metrics are sent when training since the last send took 100x the time sending takes, so
#: logging costs at most about 1% of training (MLflow allows 10%), and at the end.
TRAINING_TO_LOGGING_RATIO = 100
MODEL_NAME = "model"
_DATASET_CONTEXT = "mlflow.data.context"
#: Where a patched ``DMatrix``/``Dataset`` constructor keeps the first rows of its data.
EXAMPLE_ATTRIBUTE = "_traza_autolog_input_example"
NO_EXAMPLE = (
    "please ensure that autologging is enabled before constructing the dataset "
    "(the training data's first rows were not recorded)."
)


@dataclass(frozen=True)
class Options:
    """An integration's ``autolog()`` arguments that its patched functions read."""

    integration: str
    log_input_examples: bool
    log_model_signatures: bool
    log_models: bool
    log_datasets: bool
    registered_model_name: str | None
    model_kwargs: tuple[tuple[str, Any], ...] = ()


# -- params ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _parameters(fn: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    return tuple(p for p in inspect.signature(fn).parameters.values() if p.name != "self")


def call_params(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], unlogged: Iterable[str]
) -> dict[str, Any]:
    """Every parameter of the call ``fn(*args, **kwargs)`` by name (defaults included), minus
    ``unlogged``: what MLflow logs as the training function's params."""
    parameters = _parameters(fn)
    values = {p.name: v for p, v in zip(parameters, args, strict=False)}
    values.update(kwargs)
    for p in parameters[len(args) :]:
        if p.name not in kwargs and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            values[p.name] = p.default
    skip = set(unlogged)
    return {k: v for k, v in values.items() if k not in skip}


def arg_value(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> Any:
    """The value passed for parameter ``name`` (positionally or by keyword), else None."""
    names = [p.name for p in _parameters(fn)]
    if name in kwargs:
        return kwargs[name]
    index = names.index(name) if name in names else len(args)
    return args[index] if index < len(args) else None


def with_callback(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], callback: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with ``callback`` added to its ``callbacks`` (a new list: the
    user's own list is left as it was)."""
    names = [p.name for p in _parameters(fn)]
    index = names.index("callbacks")
    if len(args) > index:
        args = (*args[:index], [*(args[index] or ()), callback], *args[index + 1 :])
    else:
        kwargs = {**kwargs, "callbacks": [*(kwargs.get("callbacks") or ()), callback]}
    return args, kwargs


def log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    """``str()`` of each value, long ones cut, as MLflow's autologging logs params."""
    entities = []
    for key, value in params.items():
        text = str(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            text = text[: MAX_PARAM_VAL_LENGTH - 3] + "..."
            _logger.warning("Truncated the value of the key `%s`. Truncated value: `%s`", key, text)
        entities.append(Param(str(key)[:MAX_ENTITY_KEY_LENGTH], text))
    client.log_batch(run_id, params=entities)


def metric_key(name: str) -> str:
    """XGBoost and LightGBM name some metrics ``ndcg@3``; MLflow logs them as ``ndcg_at_3``."""
    return name.replace("@", "_at_") if "@" in name else name


# -- per-iteration metrics ---------------------------------------------------------------------
class IterationMetrics:
    """The metrics of each boosting iteration, sent in batches while training runs.

    ``results`` keeps each iteration's values (early stopping logs the best one again).
    A failed send warns once and training goes on; recording never raises.
    """

    def __init__(self, client: Any, run_id: str, model_id: str | None) -> None:
        self.client = client
        self.run_id = run_id
        self.model_id = model_id
        self.results: list[dict[str, float]] = []
        self._pending: list[tuple[str, float, int, int]] = []
        self._training = 0.0
        self._logging = 0.0
        self._last: float | None = None
        self._warned = False

    def record(self, values: dict[str, float], step: int) -> None:
        now = time.time()
        if self._last is not None:
            self._training += now - self._last
        self.results.append(values)
        timestamp = int(now * 1000)
        self._pending.extend((k, v, timestamp, step) for k, v in values.items())
        if self._training >= self._logging * TRAINING_TO_LOGGING_RATIO:
            self.flush()
        self._last = time.time()

    def flush(self) -> None:
        if not self._pending:
            return
        start = time.perf_counter()
        pending, self._pending = self._pending, []
        try:
            metrics = [Metric(k, float(v), t, s, self.model_id) for k, v, t, s in pending]
            for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
                self.client.log_batch(self.run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH])
        except Exception as e:
            self.failed(e)
        self._logging += time.perf_counter() - start

    def failed(self, error: Exception) -> None:
        if not self._warned:
            self._warned = True
            _logger.warning("Failed to log metrics of a training iteration: %s", error)


# -- datasets ----------------------------------------------------------------------------------
def make_dataset(data: Any, targets: Any = None, name: str | None = None) -> Any:
    """``data`` as a ``traza.data`` dataset (a DataFrame keeps no targets, as in MLflow), or
    None with a warning for a type it does not cover."""
    import numpy as np
    import pandas as pd

    from traza import data as datasets

    if isinstance(data, pd.DataFrame):
        return datasets.from_pandas(data, name=name)
    if hasattr(data, "toarray") and callable(data.toarray):  # scipy sparse
        return datasets.from_numpy(data.toarray(), targets=targets, name=name)
    if isinstance(data, np.ndarray):
        return datasets.from_numpy(data, targets=targets, name=name)
    _logger.warning("Unrecognized dataset type %s. Dataset logging skipped.", type(data))
    return None


def log_datasets(client: Any, run_id: str, datasets: list[tuple[Any, str]]) -> None:
    """Record ``(dataset, context)`` pairs as inputs whose source is the training code."""
    from traza import context as run_context
    from traza.entities import Dataset

    source = json.dumps({"tags": dict(run_context.default_tags())})
    inputs = []
    seen: set[tuple[str, str]] = set()
    for dataset, context in datasets:
        # The same data twice (a train set also given as an eval set) keeps its first context.
        if dataset is None or (dataset.name, dataset.digest) in seen:
            continue
        seen.add((dataset.name, dataset.digest))
        e = dataset._to_entity()
        entity = Dataset(e.name, e.digest, "code", source, e.schema, e.profile)
        inputs.append(DatasetInput(entity, (InputTag(_DATASET_CONTEXT, context),)))
    if inputs:
        client.log_inputs(run_id, inputs)


def remember_example(original: Callable[..., Any], dataset: Any, *args: Any, **kwargs: Any) -> Any:
    """A patched ``DMatrix``/``Dataset`` constructor: keep a copy of the data's first rows, the
    model's input example (the training data cannot be read back once consumed)."""
    data = args[0] if args else kwargs.get("data")
    result = original(dataset, *args, **kwargs)
    if data is not None:
        try:
            if isinstance(data, str | Path):
                raise ValueError("cannot gather example input when dataset is loaded from a file.")
            example: Any = deepcopy(data[:INPUT_EXAMPLE_SAMPLE_ROWS])
        except Exception as e:
            example = e
        object.__setattr__(dataset, EXAMPLE_ATTRIBUTE, example)
    return result


def example_of(dataset: Any) -> Callable[[], Any]:
    """A getter of the input example a patched constructor kept on ``dataset``."""

    def get() -> Any:
        example = getattr(dataset, EXAMPLE_ATTRIBUTE, None)
        if example is None:
            raise ValueError(NO_EXAMPLE)
        if isinstance(example, Exception):
            raise example
        return example

    return get


# -- runs and models ---------------------------------------------------------------------------
def active_run_id() -> str:
    from traza import fluent

    run = fluent.active_run()
    assert run is not None, "autologging runs inside an active run"
    return run.info.run_id


def client() -> Any:
    from traza import fluent

    return fluent._client()


def silent(integration: str) -> bool:
    return bool(autologging.get_config(integration, "silent", False))


def create_model(client: Any, run_id: str) -> str:
    """A pending logged model, so per-iteration metrics are linked to it (MLflow 3)."""
    run = client.get_run(run_id)
    return str(
        client.create_logged_model(
            run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id
        ).model_id
    )


def fail_model(client: Any, model_id: str | None) -> None:
    if model_id is None:
        return
    try:
        from traza.entities import LoggedModelStatus

        client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
    except Exception as e:
        _logger.debug("Could not mark the logged model %s FAILED: %s", model_id, e)


def log_model(
    options: Options,
    model: Any,
    get_example: Callable[[], Any],
    predict: Callable[[Any], Any],
    **kwargs: Any,
) -> Any:
    """Log ``model`` with the flavor's ``log_model``, with the example and signature asked
    for; returns its ModelInfo, or None (with a warning) when logging failed."""
    import importlib

    from traza.models import infer_signature

    def infer(example: Any) -> Any:
        return infer_signature(example, predict(deepcopy(example)))

    try:
        example, signature = autologging.resolve_input_example_and_signature(
            get_example, infer, options.log_input_examples, options.log_model_signatures
        )
        flavor = importlib.import_module(f"traza.{options.integration}")
        return flavor.log_model(
            model,
            name=MODEL_NAME,
            signature=signature,
            input_example=example,
            registered_model_name=options.registered_model_name,
            **dict(options.model_kwargs),
            **kwargs,
        )
    except Exception as e:
        _logger.warning("Failed to log the %s model: %s", type(model).__name__, e)
        return None


# -- early stopping and feature importance -----------------------------------------------------
def log_metrics(
    client: Any,
    run_id: str,
    values: dict[str, Any],
    step: int = 0,
    model_id: str | None = None,
    dataset: Any = None,
) -> None:
    now = int(time.time() * 1000)
    name = dataset.name if dataset is not None else None
    digest = dataset.digest if dataset is not None else None
    client.log_batch(
        run_id,
        metrics=[
            Metric(k[:MAX_ENTITY_KEY_LENGTH], float(v), now, step, model_id, name, digest)
            for k, v in values.items()
        ],
    )


def log_importance(
    client: Any,
    run_id: str,
    importance_type: str,
    importance: dict[str, Any],
    indent: int | None,
) -> None:
    """``feature_importance_<type>.json`` and, when matplotlib is installed, the plot
    ``feature_importance_<type>.png`` (a failed plot only warns)."""
    with tempfile.TemporaryDirectory(prefix="traza-") as tmp:
        try:
            if importance:
                png = Path(tmp) / f"feature_importance_{importance_type}.png"
                plot_importance(list(importance), list(importance.values()), importance_type, png)
                client.log_artifact(run_id, png)
        except ImportError:
            _logger.warning(
                "matplotlib is not installed: the feature importance plot is not logged "
                "(pip install matplotlib)."
            )
        except Exception as e:
            _logger.warning("Failed to log feature importance plot: %s", e)
        path = Path(tmp) / f"feature_importance_{importance_type}.json"
        path.write_text(json.dumps(importance, indent=indent))
        client.log_artifact(run_id, path)


def plot_importance(
    features: list[str], importance: list[Any], importance_type: str, path: Path
) -> None:
    """A horizontal bar chart, largest at the top; a bar per class when an importance is given
    per class. Drawn on a bare Figure (no pyplot, so no GUI backend and no global state)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = np.asarray(importance, dtype=float)
    per_class = values.ndim > 1
    if not per_class:
        values = values.reshape(-1, 1)
    order = np.argsort(np.abs(values).sum(axis=1), kind="stable")
    names = np.asarray(features)[order]
    values = values[order]
    n_features, n_classes = values.shape
    height = (
        4.8 + (0.1 * n_features if n_features > 10 else 0) + (0.1 * n_classes if per_class else 0)
    )
    figure = Figure(figsize=(6.4, height))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rows = np.arange(n_features)
    offsets = np.linspace(-0.25, 0.25, n_classes) if n_classes > 1 else np.zeros(1)
    bar_height = 0.5 / max(n_classes - 1, 1)
    for k in range(n_classes):
        label = f"Class {k}" if per_class else None
        axes.barh(rows + offsets[k], values[:, k], height=bar_height, align="center", label=label)
    axes.set_yticks(rows)
    axes.set_yticklabels(names)
    axes.set_xlabel("Importance")
    axes.set_title(f"Feature Importance ({importance_type})")
    if per_class:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path)


def log_early_stopping(
    client: Any,
    run_id: str,
    results: list[dict[str, float]],
    stopped: int,
    best: int,
    best_index: int,
    model_id: str | None,
    dataset: Any = None,
) -> None:
    """``stopped_iteration`` and ``best_iteration`` at step 0, then the best iteration's
    metrics once more at the step after the last one (MLflow's keys and steps)."""
    values = {"stopped_iteration": stopped, "best_iteration": best}
    log_metrics(client, run_id, values, 0, model_id, dataset)
    if 0 <= best_index < len(results):
        log_metrics(client, run_id, results[best_index], len(results), model_id, dataset)


def after_training(integration: str, what: str, step: Callable[[], None]) -> None:
    """Run one logging step after training; a failure warns and the next step still runs."""
    try:
        with rerouted_warnings(silent(integration)):
            step()
    except Exception as e:
        _logger.warning("Failed to log %s during %s autologging: %s", what, integration, e)


# -- train -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSpec:
    """What a library's ``train`` autologging does its own way; the rest is ``patched_train``.

    The flavor whose ``log_model`` logs the Booster is ``traza.<Options.integration>``.
    """

    #: The argument holding the training data (``dtrain``, ``train_set``).
    train_arg: str
    #: Arguments of ``train`` not logged as params: data, functions, the params dict itself.
    unlogged: tuple[str, ...]
    #: The training callback that feeds each iteration's eval results to the recorder.
    callback: Callable[[IterationMetrics], Any]
    #: A data object (``DMatrix``, ``Dataset``) as a ``traza.data`` dataset, given its name.
    to_dataset: Callable[[Any, str | None], Any]
    #: The eval sets given by keyword, as (data object, name or None) pairs.
    eval_sets: Callable[[dict[str, Any]], Iterable[tuple[Any, str | None]]]
    #: Whether the trained model early-stopped, given it and the call's keyword arguments.
    early_stopped: Callable[[Any, dict[str, Any]], bool]
    #: The model's feature importance of one type, as ``{feature: value}``.
    importance: Callable[[Any, str], dict[str, Any]]
    #: The JSON indent of the feature importance artifacts (as each MLflow flavor writes them).
    importance_indent: int | None
    #: The model's predict function on raw input (what the signature is inferred from).
    predictor: Callable[[Any], Callable[[Any], Any]]
    #: LightGBM counts iterations from 1 (``best_iteration``, ``stopped_iteration``), XGBoost
    #: from 0.
    one_based_iterations: bool
    #: The early-stopping metrics name the train dataset (XGBoost), or no dataset (LightGBM).
    stopping_metrics_on_train_set: bool
    #: ``train``'s own params are passed on to ``log_model`` (XGBoost).
    model_gets_params: bool
    #: The model is logged before the other after-training steps (XGBoost) or after them.
    model_first: bool
    #: The key of the training session ``train`` opens, which keeps a ``train`` inside it from
    #: being logged (LightGBM); None: ``train`` opens none, and logs unless the innermost fit
    #: in progress forbids it (XGBoost).
    session_key: Callable[[], Any] | None = None


def patched_train(
    spec: TrainSpec,
    options: Options,
    importance_types: Sequence[str],
    native: bool,
    original: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> Any:
    """The library's ``train`` (``native``), or the one a wrapper's ``fit`` calls (its model is
    logged by the patched ``fit``)."""
    if spec.session_key is None:
        stack = TrainingSession._stack
        if stack and not stack[-1].should_log():
            return original(*args, **kwargs)
        return _train_and_log(spec, options, importance_types, native, original, args, kwargs)
    with TrainingSession(spec.session_key(), allow_children=False) as session:
        if not session.should_log():
            return original(*args, **kwargs)
        return _train_and_log(spec, options, importance_types, native, original, args, kwargs)


def _train_and_log(
    spec: TrainSpec,
    options: Options,
    importance_types: Sequence[str],
    native: bool,
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    integration = options.integration
    client_ = client()
    run_id = active_run_id()
    train_data = arg_value(original, args, kwargs, spec.train_arg)
    fn_params = call_params(original, args, kwargs, spec.unlogged)
    dataset = None
    model_id = None
    with rerouted_warnings(silent(integration)):
        booster_params = args[0] if args else kwargs["params"]
        log_params(client_, run_id, {**dict(booster_params or {}), **fn_params})
        if options.log_datasets and train_data is not None:
            try:
                dataset = spec.to_dataset(train_data, None)
                evals = [(spec.to_dataset(d, name), "eval") for d, name in spec.eval_sets(kwargs)]
                log_datasets(client_, run_id, [(dataset, "train"), *evals])
            except Exception as e:
                _logger.warning(
                    "Failed to log dataset information to Traza Tracking. Reason: %s", e
                )
        if native and options.log_models:
            model_id = create_model(client_, run_id)
    recorder = IterationMetrics(client_, run_id, model_id)
    args, kwargs = with_callback(original, args, kwargs, spec.callback(recorder))
    try:
        model = original(*args, **kwargs)
    except BaseException:
        fail_model(client_, model_id)
        raise
    finally:
        recorder.flush()

    def log_booster() -> None:
        extra = {"params": fn_params} if spec.model_gets_params else {}
        log_model(
            options,
            model,
            example_of(train_data),
            spec.predictor(model),
            model_id=model_id,
            **extra,
        )

    def early_stopping() -> None:
        results = recorder.results
        best = int(model.best_iteration)
        one = 1 if spec.one_based_iterations else 0
        on = dataset if spec.stopping_metrics_on_train_set else None
        stopped = len(results) - 1 + one
        log_early_stopping(client_, run_id, results, stopped, best, best - one, model_id, on)

    def importance(importance_type: str) -> None:
        values = spec.importance(model, importance_type)
        log_importance(client_, run_id, importance_type, values, spec.importance_indent)

    model_steps = [("the model", log_booster)] if native and options.log_models else []
    steps = list(model_steps) if spec.model_first else []
    if spec.early_stopped(model, kwargs):
        steps.append(("early stopping metrics", early_stopping))
    for importance_type in importance_types:
        what = f"feature importance ({importance_type})"
        steps.append((what, functools.partial(importance, importance_type)))
    if not spec.model_first:
        steps += model_steps
    for what, step in steps:
        after_training(integration, what, step)
    return model


# -- the scikit-learn wrappers -----------------------------------------------------------------
def _first_rows(fit: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    names = [p.name for p in _parameters(fit)]
    x: Any = args[0] if args else kwargs.get(names[0] if names else "X")
    if x is None:
        raise ValueError("the fit call was given no training data (X)")
    return deepcopy(x[:INPUT_EXAMPLE_SAMPLE_ROWS])


def patched_wrapper_fit(
    options: Options, original: Callable[..., Any], estimator: Any, *args: Any, **kwargs: Any
) -> Any:
    """A wrapper's ``fit``: training itself is logged by the patched ``train`` it calls; the
    model is logged here, as its wrapper class, once it is trained."""
    from traza.sklearn import _autolog_post as post

    post_training = post.MANAGER.should_log()
    with TrainingSession(estimator, allow_children=True) as session:
        if not session.should_log():
            return original(estimator, *args, **kwargs)
        try:
            example: Any = _first_rows(original, args, kwargs)
        except Exception as e:
            example = e

        def get_example() -> Any:
            if isinstance(example, Exception):
                raise example
            return example

        with post.MANAGER.disabled():
            result = original(estimator, *args, **kwargs)
            if options.log_models:
                with rerouted_warnings(silent(options.integration)):
                    info = log_model(options, estimator, get_example, estimator.predict)
                if info is not None:
                    post.MANAGER.record_model_id(estimator, info.model_id)
        if post_training:
            post.MANAGER.register_model(estimator, active_run_id())
        return result


def patch_wrappers(
    options: Options, classes: Iterable[type], extra_tags: dict[str, Any] | None
) -> None:
    """Patch the wrappers' fit, inference and score methods, and scikit-learn's metric
    functions for post-training metrics, under ``options.integration``."""
    from traza.sklearn import _autolog_post as post
    from traza.sklearn.autolog import patch_estimators

    fit = functools.partial(patched_wrapper_fit, options)
    predict = functools.partial(post.patched_predict, options)
    patch_estimators(options.integration, classes, fit, predict, True, extra_tags)


def too_old(library: Any, minimum: tuple[int, ...]) -> bool:
    """Whether ``library`` is older than autologging supports (with a warning if so)."""
    if autologging.release_numbers(library.__version__) >= minimum:
        return False
    _logger.warning(
        "%s %s is older than Traza's autologging supports (%s): not enabled.",
        library.__name__,
        library.__version__,
        ".".join(map(str, minimum)),
    )
    return True


def patch_library(
    spec: TrainSpec,
    options: Options,
    library: Any,
    data_class: type,
    wrappers: Callable[[], Iterable[type]],
    importance_types: Sequence[str],
    extra_tags: dict[str, Any] | None,
) -> None:
    """Patch ``data_class``'s constructor (it keeps the input example), ``library.train``
    (logged with its model), the ``train`` its scikit-learn wrappers call (logged without: the
    wrapper's ``fit`` logs it) and, with scikit-learn installed, the ``wrappers``."""
    name = options.integration
    native = functools.partial(patched_train, spec, options, importance_types, True)
    in_wrapper = functools.partial(patched_train, spec, options, importance_types, False)
    safe_patch(name, data_class, "__init__", remember_example)
    safe_patch(name, library, "train", native, manage_run=True, extra_tags=extra_tags)
    safe_patch(name, library.sklearn, "train", in_wrapper, manage_run=True, extra_tags=extra_tags)
    if sklearn_available():
        patch_wrappers(options, wrappers(), extra_tags)


def sklearn_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("sklearn") is not None


__all__ = [
    "IterationMetrics",
    "Options",
    "TrainSpec",
    "call_params",
    "log_importance",
    "log_params",
    "patch_library",
    "patch_wrappers",
    "patched_train",
    "too_old",
]
