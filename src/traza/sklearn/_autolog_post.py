"""Post-training metrics: ``sklearn.metrics`` calls on an autologged model's predictions.

After ``model.fit`` has been autologged, ``pred = model.predict(X_test)`` remembers that
``pred`` came from that model's run and from a dataset called ``X_test`` (the caller's variable
name); ``mean_squared_error(y_test, pred)`` then logs ``mean_squared_error_X_test`` to the run,
and ``model.score(X_test, y_test)`` logs ``<Estimator>_score_X_test``. Repeated calls get
``-2``, ``-3``... after the metric name; ``metric_info.json`` records each key's call. Only ids
and names are held, never the user's data or models.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from traza.autologging import TrainingSession, get_logger

_logger = get_logger(__name__)

_EXCLUDED_METRIC_APIS = {"check_scoring", "get_scorer", "make_scorer", "get_scorer_names"}


def metric_api_names() -> list[str]:
    """The metric functions of ``sklearn.metrics`` (no classes, plots or scorer helpers)."""
    from sklearn import metrics

    return [
        name
        for name in metrics.__all__
        if name not in _EXCLUDED_METRIC_APIS
        and not name.startswith("plot_")
        and callable(getattr(metrics, name))
        and not inspect.isclass(getattr(metrics, name))
    ]


def inspect_var_name(value: Any, fallback: str) -> str:
    """The name the user's code gives ``value``: found in the first calling frame where it is
    not an argument passed down (so a helper's parameter name is skipped)."""
    if value is None:
        return fallback
    try:
        frame = inspect.currentframe()
        frame = frame.f_back if frame is not None else None
        while frame is not None:
            info = inspect.getargvalues(frame)
            passed = [info.locals[a] for a in info.args]
            if info.varargs:
                passed.extend(info.locals[info.varargs])
            if info.keywords:
                passed.extend(info.locals[info.keywords].values())
            if any(value is arg for arg in passed):
                frame = frame.f_back
                continue
            for name, local in frame.f_locals.items():
                if local is value:
                    return name
            return fallback
    except Exception:
        return fallback
    return fallback


def _is_loggable(value: Any) -> bool:
    import numpy as np

    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    import numpy as np

    return bool(np.isscalar(value))


class MetricsManager:
    """Which run and dataset each prediction came from, and the metric keys given so far."""

    def __init__(self) -> None:
        self._enabled = True
        self._run_of_model: dict[int, str] = {}
        self._model_ids: dict[int, str] = {}
        self._predictions: dict[int, tuple[str, str, str | None]] = {}
        self._datasets: defaultdict[str, defaultdict[str, list[int]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._calls: defaultdict[str, defaultdict[str, list[tuple[str, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._info_stale: defaultdict[str, bool] = defaultdict(bool)

    def should_log(self) -> bool:
        """False inside a fit (a search scores many models) or inside a metric call."""
        return self._enabled and not TrainingSession.is_active()

    @contextmanager
    def disabled(self) -> Iterator[None]:
        previous, self._enabled = self._enabled, False
        try:
            yield
        finally:
            self._enabled = previous

    def _remember(self, table: dict[int, Any], obj: Any, value: Any) -> None:
        key = id(obj)
        table[key] = value
        with contextlib.suppress(TypeError):  # not weak-referenceable: kept until exit
            weakref.finalize(obj, table.pop, key, None)

    def register_model(self, model: Any, run_id: str) -> None:
        self._remember(self._run_of_model, model, run_id)

    def run_id_for(self, model: Any) -> str | None:
        return self._run_of_model.get(id(model))

    def record_model_id(self, model: Any, model_id: str) -> None:
        self._remember(self._model_ids, model, model_id)

    def model_id_for(self, model: Any) -> str | None:
        return self._model_ids.get(id(model))

    def register_dataset(self, run_id: str, dataset: Any, name: str) -> str:
        """``name``, or ``name-2``, ``name-3``... for other objects under the same name."""
        seen = self._datasets[run_id][name]
        if id(dataset) not in seen:
            seen.append(id(dataset))
        index = seen.index(id(dataset))
        return name if index == 0 else f"{name}-{index + 1}"

    def register_prediction(
        self, result: Any, run_id: str, dataset_name: str, model_id: str | None
    ) -> None:
        self._remember(self._predictions, result, (dataset_name, run_id, model_id))

    def prediction_info(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[str, str, str | None] | None:
        """The (dataset name, run id, model id) of the first argument that is a prediction."""
        for arg in [*args, *kwargs.values()]:
            if arg is not None and not _is_scalar(arg) and id(arg) in self._predictions:
                return self._predictions[id(arg)]
        return None

    def register_call(self, run_id: str, metric_name: str, dataset_name: str, call: str) -> str:
        calls = self._calls[run_id][metric_name]
        index = len(calls)
        key = f"{metric_name if index == 0 else f'{metric_name}-{index + 1}'}_{dataset_name}"
        calls.append((key, call))
        self._info_stale[run_id] = True
        return key

    def log(self, run_id: str, key: str, value: Any, model_id: str | None) -> None:
        """Log the metric, and rewrite ``metric_info.json`` when a new key appeared."""
        from traza import fluent

        client = fluent._client()
        client.log_metric(run_id, key, float(value), model_id=model_id)
        if self._info_stale[run_id]:
            calls = sorted(c for per_metric in self._calls[run_id].values() for c in per_metric)
            client.log_dict(run_id, dict(calls), "metric_info.json")
            self._info_stale[run_id] = False


MANAGER = MetricsManager()


def call_command(owner: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """``fn(name=value, ...)`` with the caller's variable names for data arguments."""

    def show(arg: Any) -> str:
        if arg is None or _is_scalar(arg):
            if isinstance(arg, str) and len(arg) > 32:
                return repr(arg[:32] + "...")
            return repr(arg)
        return inspect_var_name(arg, f"<{type(arg).__name__}>")

    names = list(inspect.signature(fn).parameters)
    if owner is not None:
        names = names[1:]
    label = f"{type(owner).__name__}.{fn.__name__}" if owner is not None else fn.__name__
    parts = []
    # Plain loops: a comprehension's own frame would hide the caller's variable names (3.11).
    for name, arg in zip(names, args, strict=False):
        parts.append(f"{name}={show(arg)}")
    for name, arg in kwargs.items():
        parts.append(f"{name}={show(arg)}")
    return f"{label}({', '.join(parts)})"


def _first_arg(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if args:
        return args[0]
    params = list(inspect.signature(original).parameters)
    return kwargs.get(params[1]) if len(params) > 1 else None


def patched_predict(
    options: Any, original: Callable[..., Any], model: Any, *args: Any, **kwargs: Any
) -> Any:
    run_id = MANAGER.run_id_for(model)
    if not (MANAGER.should_log() and run_id):
        return original(model, *args, **kwargs)
    with MANAGER.disabled():
        result = original(model, *args, **kwargs)
    dataset = _first_arg(original, args, kwargs)
    name = MANAGER.register_dataset(run_id, dataset, inspect_var_name(dataset, "unknown_dataset"))
    MANAGER.register_prediction(result, run_id, name, MANAGER.model_id_for(model))
    if options.log_datasets:
        try:
            from traza import fluent
            from traza.sklearn.autolog import create_dataset, log_dataset

            eval_dataset = create_dataset(dataset)
            if eval_dataset is not None:
                log_dataset(fluent._client(), run_id, eval_dataset, "eval")
        except Exception as e:
            _logger.warning(
                "Failed to log evaluation dataset information to Traza Tracking. Reason: %s", e
            )
    return result


def patched_metric_api(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    if not MANAGER.should_log():
        return original(*args, **kwargs)
    with MANAGER.disabled():  # one metric may call another
        value = original(*args, **kwargs)
    if _is_loggable(value):
        command = call_command(None, original, *args, **kwargs)
        info = MANAGER.prediction_info(args, kwargs)
        if info is not None:
            dataset_name, run_id, model_id = info
            key = MANAGER.register_call(run_id, original.__name__, dataset_name, command)
            MANAGER.log(run_id, key, value, model_id)
    return value


def patched_score(original: Callable[..., Any], model: Any, *args: Any, **kwargs: Any) -> Any:
    """``score`` may not go through ``sklearn.metrics`` at all, so it is logged by itself."""
    run_id = MANAGER.run_id_for(model)
    if not (MANAGER.should_log() and run_id):
        return original(model, *args, **kwargs)
    with MANAGER.disabled():
        value = original(model, *args, **kwargs)
    if _is_loggable(value):
        command = call_command(model, original, *args, **kwargs)
        dataset = _first_arg(original, args, kwargs)
        name = MANAGER.register_dataset(
            run_id, dataset, inspect_var_name(dataset, "unknown_dataset")
        )
        key = MANAGER.register_call(run_id, f"{type(model).__name__}_score", name, command)
        MANAGER.log(run_id, key, value, MANAGER.model_id_for(model))
    return value
