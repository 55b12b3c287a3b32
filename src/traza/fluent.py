"""MLflow's fluent API: an active-run stack and functions that log to the run on top of it.

Each function is a few lines over :class:`TrazaClient`. The stack lives in a ContextVar (each
thread and task sees its own, as MLflow's thread-local stack); runs still active when the
interpreter exits are ended FINISHED, or FAILED after an uncaught exception.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from traza import config, context
from traza.client import TrazaClient, get_tracking_uri, is_tracking_uri_set, set_tracking_uri
from traza.entities import (
    DatasetInput,
    Experiment,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from traza.entities._record import Record
from traza.exceptions import TrazaException, invalid

SEARCH_MAX_RESULTS_PANDAS = 100000


class ActiveRun(Run):
    """The run ``start_run`` returned; as a context manager it ends the run on exit."""

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        frame = _top()
        if frame is not None and frame.run.info.run_id == self.info.run_id:
            end_run(
                RunStatus.to_string(RunStatus.FINISHED if exc_type is None else RunStatus.FAILED)
            )
        return exc_type is None


class _Frame(Record):
    run: ActiveRun
    client: TrazaClient


_stack: ContextVar[tuple[_Frame, ...]] = ContextVar("traza_active_runs", default=())
_lock = threading.Lock()
_open_frames: dict[str, _Frame] = {}  # every run still active, for the exit handler
_active_experiment_id: str | None = None
_last_active_run_id: str | None = None
_client_cache: tuple[tuple[str | None, str | None], TrazaClient] | None = None
_uncaught_exception = False
_exit_hooks_installed = False


def _client() -> TrazaClient:
    """The client for the current tracking URI, reused while that URI does not change."""
    global _client_cache
    from traza import client as client_module

    key = (client_module._tracking_uri, config.tracking_uri_from_environment())
    if _client_cache is None or _client_cache[0] != key:
        _client_cache = (key, TrazaClient())
    return _client_cache[1]


def _top() -> _Frame | None:
    stack = _stack.get()
    return stack[-1] if stack else None


def _now() -> int:
    return int(time.time() * 1000)


# -- experiments -----------------------------------------------------------------------------
def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment active for later runs, creating it by name when it does not exist."""
    global _active_experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise invalid("set_experiment takes exactly one of experiment_name and experiment_id.")
    client = _client()
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        assert experiment_name is not None
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            import logging

            logging.getLogger("traza").info(
                "Experiment %r does not exist. Creating a new experiment.", experiment_name
            )
            try:
                new_id = client.create_experiment(experiment_name)
            except TrazaException as e:
                if e.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = client.get_experiment_by_name(experiment_name)  # another process won
                assert found is not None
                new_id = found.experiment_id
            experiment = client.get_experiment(new_id)
        else:
            experiment = found
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise invalid(
            f"Cannot set the deleted experiment {experiment.name!r} as the active experiment. "
            "Restore it (traza experiments restore), or choose another name."
        )
    _active_experiment_id = experiment.experiment_id
    return experiment


def _resolve_experiment_id() -> str:
    if _active_experiment_id is not None:
        return _active_experiment_id
    settings = config.from_environment()
    if settings.experiment_name:
        return set_experiment(settings.experiment_name).experiment_id
    if settings.experiment_id:
        return settings.experiment_id
    return "0"


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    return _client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    _client().restore_experiment(experiment_id)


def rename_experiment(experiment_id: str, new_name: str) -> None:
    _client().rename_experiment(experiment_id, new_name)


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    """Every matching experiment (all pages), or the first ``max_results``."""
    client = _client()
    out: list[Experiment] = []
    token: str | None = None
    while True:
        want = 1000 if max_results is None else min(1000, max_results - len(out))
        page = client.search_experiments(view_type, want, filter_string, order_by, token)
        out.extend(page)
        token = page.token
        if not token or (max_results is not None and len(out) >= max_results):
            return out


def set_experiment_tag(key: str, value: Any) -> None:
    _client().set_experiment_tag(_resolve_experiment_id(), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    experiment_id = _resolve_experiment_id()
    client = _client()
    for key, value in tags.items():
        client.set_experiment_tag(experiment_id, key, value)


def delete_experiment_tag(key: str) -> None:
    _client().delete_experiment_tag(_resolve_experiment_id(), key)


# -- runs ------------------------------------------------------------------------------------
def _record_lineage(client: TrazaClient, run: Run) -> None:
    # Imported here: the lineage module (json, logging, DVC parsing) loads with the first run,
    # not with ``import traza``.
    from traza import lineage

    lineage.record_if_in_dvc(client, run)


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id`` / ``MLFLOW_RUN_ID``) and make it the active run.

    ``log_system_metrics`` samples CPU, memory, disk, network (and GPUs) on a background thread
    until the run ends; ``None`` follows ``traza.enable_system_metrics_logging()`` and
    ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``.
    """
    global _last_active_run_id
    stack = _stack.get()
    if stack and not nested:
        active_id = stack[-1].run.info.run_id
        raise TrazaException(
            f"Run with UUID {active_id} is already active. To start a new run, first end the "
            "current run with end_run(). To start a nested run, call start_run with nested=True.",
            error_code="INVALID_PARAMETER_VALUE",
        )
    if log_system_metrics is None:
        from traza import system_metrics

        log_system_metrics = system_metrics.logging_enabled()
    if log_system_metrics:
        # Before the run exists: a missing psutil or a bad setting fails here, with what to do.
        from traza.system_metrics import monitor

        monitor.check_ready()
    client = _client()
    existing_id = run_id or (None if stack else config.consume_run_id())
    if existing_id:
        run = client.get_run(existing_id)
        if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise invalid(f"Cannot resume run {existing_id}: it is deleted. Restore it first.")
        if experiment_id is not None and str(experiment_id) != run.info.experiment_id:
            raise invalid(
                f"Run {existing_id} belongs to experiment {run.info.experiment_id}, "
                f"not {experiment_id}."
            )
        extra = {str(k): str(v) for k, v in (tags or {}).items()}
        if description:
            extra[context.NOTE] = description
        if extra:
            client.log_batch(existing_id, tags=[RunTag(k, v) for k, v in extra.items()])
        client.update_run(existing_id, RunStatus.to_string(RunStatus.RUNNING), run_name)
        run = client.get_run(existing_id)
        _record_lineage(client, run)
    else:
        parent = parent_run_id or (stack[-1].run.info.run_id if stack else None)
        all_tags: dict[str, Any] = dict(context.default_tags())
        all_tags.update(tags or {})
        if parent:
            all_tags[context.PARENT_RUN_ID] = parent
        if description:
            all_tags[context.NOTE] = description
        exp_id = str(experiment_id) if experiment_id is not None else _resolve_experiment_id()
        run = client.create_run(exp_id, tags=all_tags, run_name=run_name)
        if not parent:
            _record_lineage(client, run)
    active = ActiveRun(run.info, run.data, run.inputs, run.outputs)
    frame = _Frame(active, client)
    _stack.set((*stack, frame))
    with _lock:
        _open_frames[active.info.run_id] = frame
    _last_active_run_id = active.info.run_id
    _install_exit_hooks()
    if log_system_metrics:
        monitor.start(client, active.info.run_id, resume=existing_id is not None)
    return active


def end_run(status: str = "FINISHED") -> None:
    """End the active run (if any) with ``status``."""
    global _last_active_run_id
    stack = _stack.get()
    if not stack:
        return
    frame = stack[-1]
    _stack.set(stack[:-1])
    with _lock:
        _open_frames.pop(frame.run.info.run_id, None)
    _last_active_run_id = frame.run.info.run_id
    _stop_system_metrics(frame.run.info.run_id)
    frame.client.set_terminated(frame.run.info.run_id, status)


def _stop_system_metrics(run_id: str) -> None:
    """Stop the run's sampler (joined: no thread outlives its run) before the run ends."""
    monitor = sys.modules.get("traza.system_metrics.monitor")  # loaded only if a run used it
    if monitor is not None:
        monitor.stop(run_id)


def active_run() -> ActiveRun | None:
    frame = _top()
    return frame.run if frame else None


def last_active_run() -> Run | None:
    frame = _top()
    if frame is not None:
        return _client().get_run(frame.run.info.run_id)
    return _client().get_run(_last_active_run_id) if _last_active_run_id else None


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    return _client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def _target(run_id: str | None = None) -> tuple[TrazaClient, str]:
    """The client and run to log to: ``run_id``, else the active run (started if none)."""
    if run_id is not None:
        return _client(), run_id
    frame = _top()
    if frame is None:
        start_run()
        frame = _top()
        assert frame is not None
    return frame.client, frame.run.info.run_id


# -- logging ---------------------------------------------------------------------------------
def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> Any:
    client, rid = _target(run_id)
    name, digest = (dataset.name, dataset.digest) if dataset is not None else (None, None)
    return client.log_metric(rid, key, value, timestamp, step, synchronous, name, digest, model_id)


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> Any:
    client, rid = _target(run_id)
    ts = timestamp if timestamp is not None else _now()
    name, digest = (dataset.name, dataset.digest) if dataset is not None else (None, None)
    batch = [Metric(k, v, ts, step or 0, model_id, name, digest) for k, v in metrics.items()]
    return client.log_batch(rid, metrics=batch)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    client, rid = _target()
    return client.log_param(rid, key, value)


def log_params(
    params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> Any:
    client, rid = _target(run_id)
    return client.log_batch(rid, params=[Param(str(k), str(v)) for k, v in params.items()])


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> Any:
    client, rid = _target()
    return client.set_tag(rid, key, value)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> Any:
    client, rid = _target()
    return client.log_batch(rid, tags=[RunTag(str(k), str(v)) for k, v in tags.items()])


def delete_tag(key: str) -> None:
    client, rid = _target()
    client.delete_tag(rid, key)


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    client, rid = _target(run_id)
    client.log_artifact(rid, local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    client, rid = _target(run_id)
    client.log_artifacts(rid, local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    client, rid = _target(run_id)
    client.log_text(rid, text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    client, rid = _target(run_id)
    client.log_dict(rid, dictionary, artifact_file)


def log_figure(
    figure: Any,
    artifact_file: str,
    *,
    save_kwargs: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> None:
    client, rid = _target(run_id)
    client.log_figure(rid, figure, artifact_file, save_kwargs=save_kwargs)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    client, rid = _target(run_id)
    client.log_image(rid, image, artifact_file, key, step, timestamp)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    _target()
    frame = _top()
    assert frame is not None
    root = frame.run.info.artifact_uri
    if not artifact_path:
        return root
    from traza.validation import validate_artifact_path

    return f"{root}/{validate_artifact_path(artifact_path)}"


def log_input(
    dataset: Any = None,
    context: str | None = None,
    tags: dict[str, str] | None = None,
    model: Any = None,
) -> None:
    """Record a dataset (from ``traza.data``) as an input of the active run."""
    if dataset is None:
        return
    client, rid = _target()
    input_tags = [InputTag(str(k), str(v)) for k, v in (tags or {}).items()]
    if context is not None:
        input_tags.append(InputTag("mlflow.data.context", context))
    client.log_inputs(rid, [DatasetInput(dataset._to_entity(), tuple(input_tags))])


def log_inputs(
    datasets: Sequence[Any] | None = None,
    contexts: Sequence[str | None] | None = None,
    tags_list: Sequence[dict[str, str] | None] | None = None,
    models: Any = None,
) -> None:
    datasets = list(datasets or ())
    contexts = list(contexts or [None] * len(datasets))
    tags_list = list(tags_list or [None] * len(datasets))
    for dataset, ctx, tags in zip(datasets, contexts, tags_list, strict=True):
        log_input(dataset, ctx, tags)
    if models:
        client, rid = _target()
        client.log_inputs(rid, None, list(models))


def flush_async_logging() -> None:
    """Wait for logging queued for a tracking server; raise what it rejected."""
    _client().flush()


# -- search ----------------------------------------------------------------------------------
def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = SEARCH_MAX_RESULTS_PANDAS,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Runs as a pandas DataFrame with MLflow's columns, or a list with ``output_format="list"``."""
    if output_format not in ("pandas", "list"):
        raise invalid(f"Unsupported output_format {output_format!r}: use 'pandas' or 'list'.")
    client = _client()
    if experiment_ids and experiment_names:
        raise invalid("Give experiment_ids or experiment_names, not both.")
    if experiment_names:
        found = [client.get_experiment_by_name(n) for n in experiment_names]
        ids = [e.experiment_id for e in found if e is not None]
    elif experiment_ids:
        ids = [
            str(e)
            for e in ([experiment_ids] if isinstance(experiment_ids, str) else experiment_ids)
        ]
    elif search_all_experiments:
        ids = [e.experiment_id for e in search_experiments(ViewType.ALL)]
    else:
        ids = [_resolve_experiment_id()]
    runs: list[Run] = []
    token: str | None = None
    while ids and len(runs) < max_results:
        page = client.search_runs(
            ids, filter_string, run_view_type, min(50000, max_results - len(runs)), order_by, token
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    if output_format == "list":
        return runs
    from traza.frames import runs_to_dataframe

    return runs_to_dataframe(runs)


# -- interpreter exit ------------------------------------------------------------------------
def _install_exit_hooks() -> None:
    global _exit_hooks_installed
    if _exit_hooks_installed:
        return
    _exit_hooks_installed = True
    previous = sys.excepthook

    def excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        global _uncaught_exception
        _uncaught_exception = True
        previous(exc_type, exc, tb)

    sys.excepthook = excepthook
    atexit.register(_end_open_runs)


def _end_open_runs() -> None:
    status = RunStatus.to_string(RunStatus.FAILED if _uncaught_exception else RunStatus.FINISHED)
    with _lock:
        frames = list(_open_frames.values())
        _open_frames.clear()
    for frame in reversed(frames):
        try:
            _stop_system_metrics(frame.run.info.run_id)
            frame.client.set_terminated(frame.run.info.run_id, status)
        except Exception as e:  # the interpreter is going away; say so and move on
            print(f"traza: could not end run {frame.run.info.run_id}: {e}", file=sys.stderr)


__all__ = [
    "ActiveRun",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_tracking_uri",
]
