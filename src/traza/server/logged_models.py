"""Handlers for MLflow 3's logged-model endpoints (``/mlflow/logged-models/...``)."""

from __future__ import annotations

from typing import Any

from traza.entities import (
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
)
from traza.server.context import Context
from traza.server.tracking import key_values
from traza.server.wire import Args, bad_field, missing
from traza.store.base import SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT
from traza.validation import validate_artifact_path

Reply = dict[str, Any]


def create(ctx: Context, args: Args) -> Reply:
    model = ctx.store.create_logged_model(
        experiment_id=args.required("experiment_id"),
        name=args.string("name"),
        source_run_id=args.string("source_run_id") or None,
        tags=[LoggedModelTag(k, v) for k, v in key_values(args, "tags")],
        params=[LoggedModelParameter(k, v) for k, v in key_values(args, "params")],
        model_type=args.string("model_type") or None,
    )
    return {"model": model.to_dict()}


def get(ctx: Context, args: Args, model_id: str) -> Reply:
    return {"model": ctx.store.get_logged_model(model_id).to_dict()}


def finalize(ctx: Context, args: Args, model_id: str) -> Reply:
    raw = args.raw("status")
    if raw is None:
        raise missing("status")
    try:
        status = LoggedModelStatus.parse(raw)
    except ValueError:
        raise bad_field("status", raw, "LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED") from None
    return {"model": ctx.store.finalize_logged_model(model_id, status).to_dict()}


def delete(ctx: Context, args: Args, model_id: str) -> Reply:
    ctx.store.delete_logged_model(model_id)
    return {}


def search(ctx: Context, args: Args, experiment_ids: list[str] | None = None) -> Reply:
    """``experiment_ids`` (auth on): those of the request the caller may read."""
    page = ctx.store.search_logged_models(
        experiment_ids=args.strings("experiment_ids") if experiment_ids is None else experiment_ids,
        filter_string=args.string("filter") or None,
        datasets=args.objects("datasets") or None,
        max_results=args.integer("max_results", SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT) or 0,
        order_by=args.objects("order_by") or None,
        page_token=args.string("page_token") or None,
    )
    reply: Reply = {"models": [m.to_dict() for m in page]}
    if page.token:
        reply["next_page_token"] = page.token
    return reply


def set_tags(ctx: Context, args: Args, model_id: str) -> Reply:
    tags = [LoggedModelTag(k, v) for k, v in key_values(args, "tags")]
    ctx.store.set_logged_model_tags(model_id, tags)
    return {}


def delete_tag(ctx: Context, args: Args, model_id: str, tag_key: str) -> Reply:
    ctx.store.delete_logged_model_tag(model_id, tag_key)
    return {}


def log_params(ctx: Context, args: Args, model_id: str) -> Reply:
    params = [LoggedModelParameter(k, v) for k, v in key_values(args, "params")]
    ctx.store.log_logged_model_params(model_id, params)
    return {}


def list_artifacts(ctx: Context, args: Args, model_id: str) -> Reply:
    model = ctx.store.get_logged_model(model_id)
    path = validate_artifact_path(args.string("artifact_directory_path"))
    files = ctx.artifacts.for_uri(model.artifact_location).list_artifacts(path or None)
    reply: Reply = {"root_uri": model.artifact_location}
    if files:
        reply["files"] = [f.to_dict() for f in files]
    return reply


def log_outputs(ctx: Context, args: Args) -> Reply:
    outputs = []
    for item in args.objects("models"):
        model_id = item.get("model_id")
        if not isinstance(model_id, str) or not model_id:
            raise missing("models.model_id")
        outputs.append(LoggedModelOutput(model_id, Args(item).integer("step") or 0))
    ctx.store.log_outputs(args.required("run_id"), outputs)
    return {}
