"""Handlers for MLflow's tracking endpoints: parse the request, call the Store, shape the reply.

Each takes the server :class:`Context` and the request's :class:`Args` and returns the response
message as a dict in MLflow's JSON shape (``{}`` for empty responses).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from traza.auth.visibility import Visibility
from traza.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    LoggedModelInput,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from traza.entities.tracking import json_double
from traza.exceptions import TrazaException, invalid, not_found
from traza.server.context import Context
from traza.server.wire import Args, bad_field, missing, to_float
from traza.store.base import SEARCH_MAX_RESULTS_DEFAULT

Reply = dict[str, Any]

#: Points per run that the sampled history (get-history-bulk-interval) returns at most.
MAX_SAMPLED_RESULTS_PER_RUN = 2500
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"
#: What MLflow's server requires of a logged model's JSON before recording it.
LOG_MODEL_REQUIRED_FIELDS = frozenset({"artifact_path", "flavors", "utc_time_created", "run_id"})


def _now() -> int:
    return int(time.time() * 1000)


def _enum(args: Args, name: str, names: dict[str, int], default: int) -> int:
    """A proto enum field, given as its name ("ACTIVE_ONLY") or number (1)."""
    value = args.raw(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value in names:
        return names[value]
    try:
        number = args.integer(name)
    except TrazaException:
        number = None
    if number is None or number not in names.values():
        raise bad_field(name, value, f"one of {', '.join(names)}")
    return number


def _view_type(args: Args, name: str) -> int:
    return _enum(args, name, ViewType._NAMES, ViewType.ACTIVE_ONLY)


def key_values(args: Args, name: str) -> list[tuple[str, str]]:
    """``[{key, value}]`` pairs; a bad one is named by its place (``tags[2].key``), as MLflow
    names it."""
    out = []
    for i, item in enumerate(args.objects(name)):
        key, value = item.get("key"), item.get("value", "")
        if key is None or key == "":
            raise missing(f"{name}[{i}].key")
        if not isinstance(key, str):
            raise bad_field(f"{name}[{i}].key", key, "a string")
        if not isinstance(value, str):
            raise bad_field(f"{name}[{i}].value", value, "a string")
        out.append((key, value))
    return out


# -- experiments -----------------------------------------------------------------------------
def create_experiment(ctx: Context, args: Args) -> Reply:
    name, location = args.required("name"), args.string("artifact_location") or None
    tags = [ExperimentTag(k, v) for k, v in key_values(args, "tags")]
    experiment_id = ctx.store.create_experiment(name, location, tags)
    return {"experiment_id": experiment_id}


def get_experiment(ctx: Context, args: Args) -> Reply:
    return {"experiment": ctx.store.get_experiment(args.required("experiment_id")).to_dict()}


def get_experiment_by_name(ctx: Context, args: Args) -> Reply:
    name = args.required("experiment_name")
    experiment = ctx.store.get_experiment_by_name(name)
    if experiment is None:
        raise not_found(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment.to_dict()}


def search_experiments(ctx: Context, args: Args, visibility: Visibility | None = None) -> Reply:
    """``visibility`` (auth on): only the experiments the caller may read, filtered in SQL."""
    page = ctx.store.search_experiments(
        view_type=_view_type(args, "view_type"),
        max_results=args.integer("max_results", SEARCH_MAX_RESULTS_DEFAULT) or 0,
        filter_string=args.string("filter"),
        order_by=args.strings("order_by"),
        page_token=args.string("page_token") or None,
        visibility=visibility,
    )
    reply: Reply = {"experiments": [e.to_dict() for e in page]}
    if page.token:
        reply["next_page_token"] = page.token
    return reply


def update_experiment(ctx: Context, args: Args) -> Reply:
    experiment_id = args.required("experiment_id")
    new_name = args.string("new_name")
    if new_name:
        ctx.store.rename_experiment(experiment_id, new_name)
    else:
        ctx.store.get_experiment(experiment_id)
    return {}


def delete_experiment(ctx: Context, args: Args) -> Reply:
    ctx.store.delete_experiment(args.required("experiment_id"))
    return {}


def restore_experiment(ctx: Context, args: Args) -> Reply:
    ctx.store.restore_experiment(args.required("experiment_id"))
    return {}


def set_experiment_tag(ctx: Context, args: Args) -> Reply:
    experiment_id, key = args.required("experiment_id"), args.required("key")
    ctx.store.set_experiment_tag(experiment_id, ExperimentTag(key, _value(args)))
    return {}


def delete_experiment_tag(ctx: Context, args: Args) -> Reply:
    ctx.store.delete_experiment_tag(args.required("experiment_id"), args.required("key"))
    return {}


# -- runs ------------------------------------------------------------------------------------
def create_run(ctx: Context, args: Args) -> Reply:
    experiment_id = args.string("experiment_id") or "0"
    start_time = args.integer("start_time") or _now()
    run_name = args.string("run_name") or None
    tags = [RunTag(k, v) for k, v in key_values(args, "tags")]
    run = ctx.store.create_run(
        experiment_id=experiment_id,
        user_id=args.string("user_id") or "",
        start_time=start_time,
        tags=tags,
        run_name=run_name,
    )
    return {"run": run.to_dict()}


def get_run(ctx: Context, args: Args) -> Reply:
    return {"run": ctx.store.get_run(args.run_id()).to_dict()}


_STATUSES = {name: RunStatus.from_string(name) for name in RunStatus._NAMES}


def update_run(ctx: Context, args: Args) -> Reply:
    run_id, end_time = args.run_id(), args.integer("end_time")
    status = None
    if args.raw("status") not in (None, ""):
        status = RunStatus.to_string(_enum(args, "status", _STATUSES, RunStatus.RUNNING))
    info = ctx.store.update_run_info(run_id, status, end_time, args.string("run_name") or None)
    return {"run_info": info.to_dict()}


def delete_run(ctx: Context, args: Args) -> Reply:
    ctx.store.delete_run(args.required("run_id"))
    return {}


def restore_run(ctx: Context, args: Args) -> Reply:
    ctx.store.restore_run(args.required("run_id"))
    return {}


def search_runs(ctx: Context, args: Args, experiment_ids: list[str] | None = None) -> Reply:
    """``experiment_ids`` (auth on): those of the request the caller may read."""
    page = ctx.store.search_runs(
        experiment_ids=args.strings("experiment_ids") if experiment_ids is None else experiment_ids,
        filter_string=args.string("filter"),
        run_view_type=_view_type(args, "run_view_type"),
        max_results=args.integer("max_results", SEARCH_MAX_RESULTS_DEFAULT) or 0,
        order_by=args.strings("order_by"),
        page_token=args.string("page_token") or None,
    )
    reply: Reply = {"runs": [r.to_dict() for r in page]}
    if page.token:
        reply["next_page_token"] = page.token
    return reply


# -- logging ---------------------------------------------------------------------------------
def _metric(item: dict[str, Any], where: str) -> Metric:
    key, value = item.get("key"), item.get("value")
    timestamp, step = item.get("timestamp"), item.get("step", 0)
    # The usual shape (a batch holds up to 1,000 of these) skips the general checks below.
    if (
        len(item) <= 4
        and type(key) is str
        and key
        and type(value) is float
        and type(timestamp) is int
        and type(step) is int
    ):
        return Metric(key, value, timestamp, step)
    if key is None or key == "":
        raise missing(f"{where}key")
    if not isinstance(key, str):
        raise bad_field(f"{where}key", key, "a string")
    if value is None:
        raise missing(f"{where}value")
    if timestamp is None:
        raise missing(f"{where}timestamp")
    fields = Args(item)
    return Metric(
        key,
        to_float(f"{where}value", value),
        fields.integer("timestamp") or 0,
        fields.integer("step") or 0,
        fields.string("model_id"),
        fields.string("dataset_name"),
        fields.string("dataset_digest"),
    )


def log_metric(ctx: Context, args: Args) -> Reply:
    # Fields are checked in MLflow's order (run, key, value, timestamp, step), so a request
    # with several bad fields is refused naming the one MLflow names.
    run_id = args.run_id()
    metric = _metric(
        {
            "key": args.raw("key"),
            "value": args.raw("value"),
            "timestamp": args.raw("timestamp"),
            "step": args.raw("step"),
            "model_id": args.raw("model_id"),
            "dataset_name": args.raw("dataset_name"),
            "dataset_digest": args.raw("dataset_digest"),
        },
        "",
    )
    ctx.store.log_metric(run_id, metric)
    return {}


def _value(args: Args) -> str:
    value = args.string("value")
    if value is None:
        raise missing("value")
    return value


def log_param(ctx: Context, args: Args) -> Reply:
    run_id, key = args.run_id(), args.required("key")
    ctx.store.log_param(run_id, Param(key, _value(args)))
    return {}


def set_tag(ctx: Context, args: Args) -> Reply:
    run_id, key = args.run_id(), args.required("key")
    ctx.store.set_tag(run_id, RunTag(key, _value(args)))
    return {}


def delete_tag(ctx: Context, args: Args) -> Reply:
    ctx.store.delete_tag(args.required("run_id"), args.required("key"))
    return {}


def log_batch(ctx: Context, args: Args) -> Reply:
    run_id = args.run_id()
    metrics = [_metric(m, f"metrics[{i}].") for i, m in enumerate(args.objects("metrics"))]
    params = [Param(k, v) for k, v in key_values(args, "params")]
    tags = [RunTag(k, v) for k, v in key_values(args, "tags")]
    ctx.store.log_batch(run_id, metrics, params, tags)
    return {}


def log_model(ctx: Context, args: Args) -> Reply:
    """The legacy call: append the model's JSON to the run's ``mlflow.log-model.history`` tag."""
    import json

    run_id = args.run_id()
    model_json = args.required("model_json")
    try:
        model = json.loads(model_json)
    except ValueError:
        raise invalid(f"model_json is not valid JSON: {model_json[:80]!r}") from None
    if not isinstance(model, dict):
        raise invalid(f"model_json must be a JSON object, got {model_json[:80]!r}")
    lacking = sorted(LOG_MODEL_REQUIRED_FIELDS - model.keys())
    if lacking:
        raise invalid(f"model_json lacks the mandatory fields {', '.join(lacking)}.")
    history = ctx.store.get_run(run_id).data.tags.get(LOG_MODEL_HISTORY_TAG)
    models = json.loads(history) if history else []
    models.append(model)
    ctx.store.set_tag(run_id, RunTag(LOG_MODEL_HISTORY_TAG, json.dumps(models)))
    return {}


def log_inputs(ctx: Context, args: Args) -> Reply:
    run_id = args.required("run_id")
    inputs = []
    for item in args.objects("datasets"):
        dataset = item.get("dataset")
        if not isinstance(dataset, dict):
            raise missing("datasets.dataset")
        for name in ("name", "digest", "source_type", "source"):
            if not isinstance(dataset.get(name), str):
                raise missing(f"datasets.dataset.{name}")
        tags = tuple(InputTag(k, v) for k, v in key_values(Args(item), "tags"))
        inputs.append(DatasetInput(Dataset.from_dict(dataset), tags))
    models = []
    for i, item in enumerate(args.objects("models")):
        model_id = item.get("model_id")
        if model_id is None or model_id == "":
            raise missing(f"models[{i}].model_id")
        if not isinstance(model_id, str):
            raise bad_field(f"models[{i}].model_id", model_id, "a string")
        models.append(LoggedModelInput(model_id))
    ctx.store.log_inputs(run_id, inputs, models)
    return {}


# -- metric histories ------------------------------------------------------------------------
def metrics_json(points: Sequence[Metric]) -> list[Reply]:
    """Points in the wire shape; written out by hand, since a history can hold millions."""
    out: list[Reply] = []
    append = out.append
    for key, value, timestamp, step, model_id, dataset_name, dataset_digest, _ in points:
        item = {
            "key": key,
            "value": value if value - value == 0 else json_double(value),  # NaN, ±inf
            "timestamp": timestamp,
            "step": step,
        }
        if model_id is not None:
            item["model_id"] = model_id
        if dataset_name is not None:
            item["dataset_name"] = dataset_name
        if dataset_digest is not None:
            item["dataset_digest"] = dataset_digest
        append(item)
    return out


def get_metric_history(ctx: Context, args: Args) -> Reply:
    max_results = args.integer("max_results")
    if max_results is not None and max_results <= 0:
        raise bad_field("max_results", max_results, "a positive integer")
    page = ctx.store.get_metric_history(
        args.run_id(),
        args.required("metric_key"),
        max_results=max_results,
        page_token=args.string("page_token") or None,
    )
    reply: Reply = {"metrics": metrics_json(page)}
    if page.token:
        reply["next_page_token"] = page.token
    return reply


def get_history_interval(ctx: Context, args: Args) -> Reply:
    """Up to ``max_results`` points per run, evenly spread over the steps, ends included."""
    run_ids = args.strings("run_ids")
    if not run_ids:
        raise missing("run_ids")
    if len(run_ids) > 100:
        raise bad_field("run_ids", len(run_ids), "at most 100 run ids")
    key = args.required("metric_key")
    max_results = args.integer("max_results", MAX_SAMPLED_RESULTS_PER_RUN) or 0
    if not 1 <= max_results <= MAX_SAMPLED_RESULTS_PER_RUN:
        raise bad_field("max_results", max_results, f"between 1 and {MAX_SAMPLED_RESULTS_PER_RUN}")
    start, end = args.integer("start_step"), args.integer("end_step")
    if (start is None) != (end is None):
        raise invalid("Give both start_step and end_step, or neither.")
    if start is not None and end is not None and start > end:
        raise invalid(f"start_step ({start}) must not be greater than end_step ({end}).")
    out = []
    for run_id in run_ids:
        points = [
            m
            for m in ctx.store.get_metric_history(run_id, key)
            if start is None or (end is not None and start <= m.step <= end)
        ]
        for item in metrics_json(_sample_by_step(points, max_results)):
            item["run_id"] = run_id
            out.append(item)
    return {"metrics": out}


def _sample_by_step(points: list[Metric], limit: int) -> list[Metric]:
    steps = sorted({m.step for m in points})
    if len(steps) > limit:
        if limit == 1:
            keep = {steps[-1]}
        else:
            stride = (len(steps) - 1) / (limit - 1)
            keep = {steps[round(i * stride)] for i in range(limit)}
        points = [m for m in points if m.step in keep]
    return points


# -- datasets --------------------------------------------------------------------------------
MAX_DATASET_EXPERIMENT_IDS = 20  # MLflow's limit for experiments/search-datasets


def search_datasets(ctx: Context, args: Args) -> Reply:
    """The distinct (experiment, dataset, context) triples logged as run inputs."""
    experiment_ids = args.strings("experiment_ids")
    # MLflow's checks, in its order: at least one id, then at most 20 (before their format).
    if not experiment_ids:
        raise invalid(
            "SearchDatasets request must specify at least one experiment_id. Name the "
            "experiments whose datasets to list in 'experiment_ids'."
        )
    if len(experiment_ids) > MAX_DATASET_EXPERIMENT_IDS:
        raise invalid(
            f"SearchDatasets request cannot specify more than {MAX_DATASET_EXPERIMENT_IDS} "
            f"experiment_ids. Received {len(experiment_ids)} experiment_ids; ask for them "
            f"in several requests."
        )
    seen: dict[tuple[str, str, str, str | None], None] = {}
    token: str | None = None
    while True:
        page = ctx.store.search_runs(experiment_ids, None, ViewType.ACTIVE_ONLY, 1000, None, token)
        for run in page:
            for item in run.inputs.dataset_inputs:
                context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), None)
                d = item.dataset
                seen[(run.info.experiment_id, d.name, d.digest, context)] = None
        token = page.token
        if not token:
            break
    summaries = []
    for experiment_id, name, digest, context in seen:
        summary = {"experiment_id": experiment_id, "name": name, "digest": digest}
        if context is not None:
            summary["context"] = context
        summaries.append(summary)
    return {"dataset_summaries": summaries}
