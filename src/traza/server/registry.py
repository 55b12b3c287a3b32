"""Handlers for the model registry's endpoints (``model_registry.proto``).

Each one reads its fields through :class:`~traza.server.wire.Args`, calls the store, and answers
MLflow's response shape. Searches and reads arrive as GET query strings, so numbers and lists
come as strings there.
"""

from __future__ import annotations

from typing import Any

from traza.auth.visibility import Visibility
from traza.entities import ModelVersionTag, RegisteredModelTag
from traza.server.context import Context
from traza.server.model_sources import check_source
from traza.server.tracking import key_values
from traza.server.wire import Args, bad_field
from traza.store.registry_base import (
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
)

Reply = dict[str, Any]


def _version(args: Args) -> str:
    """``version``: a string on the wire, though clients may send a number."""
    value = args.raw("version")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return args.required("version")


def _value(args: Args) -> str:
    value = args.raw("value")
    if value is None:
        return args.required("value")
    if not isinstance(value, str):
        raise bad_field("value", value, "a string")
    return value


def _description(args: Args) -> str | None:
    return args.string("description")


# -- registered models -----------------------------------------------------------------------
def create_registered_model(ctx: Context, args: Args) -> Reply:
    model = ctx.store.create_registered_model(
        args.required("name"),
        [RegisteredModelTag(k, v) for k, v in key_values(args, "tags")],
        _description(args),
        args.string("deployment_job_id") or None,
    )
    return {"registered_model": model.to_dict()}


def get_registered_model(ctx: Context, args: Args) -> Reply:
    return {"registered_model": ctx.store.get_registered_model(args.required("name")).to_dict()}


def rename_registered_model(ctx: Context, args: Args) -> Reply:
    model = ctx.store.rename_registered_model(args.required("name"), args.required("new_name"))
    return {"registered_model": model.to_dict()}


def update_registered_model(ctx: Context, args: Args) -> Reply:
    model = ctx.store.update_registered_model(
        args.required("name"), _description(args), args.string("deployment_job_id") or None
    )
    return {"registered_model": model.to_dict()}


def delete_registered_model(ctx: Context, args: Args) -> Reply:
    ctx.store.delete_registered_model(args.required("name"))
    return {}


def search_registered_models(
    ctx: Context, args: Args, visibility: Visibility | None = None
) -> Reply:
    """``visibility`` (auth on): only the models the caller may read, filtered in SQL."""
    page = ctx.store.search_registered_models(
        filter_string=args.string("filter") or None,
        max_results=args.integer("max_results", SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT) or 0,
        order_by=args.strings("order_by") or None,
        page_token=args.string("page_token") or None,
        visibility=visibility,
    )
    reply: Reply = {"registered_models": [m.to_dict() for m in page]}
    if page.token:
        reply["next_page_token"] = page.token
    return reply


def get_latest_versions(ctx: Context, args: Args) -> Reply:
    versions = ctx.store.get_latest_versions(args.required("name"), args.strings("stages") or None)
    return {"model_versions": [v.to_dict() for v in versions]}


def set_registered_model_tag(ctx: Context, args: Args) -> Reply:
    tag = RegisteredModelTag(args.required("key"), _value(args))
    ctx.store.set_registered_model_tag(args.required("name"), tag)
    return {}


def delete_registered_model_tag(ctx: Context, args: Args) -> Reply:
    ctx.store.delete_registered_model_tag(args.required("name"), args.required("key"))
    return {}


# -- aliases ---------------------------------------------------------------------------------
def set_registered_model_alias(ctx: Context, args: Args) -> Reply:
    ctx.store.set_registered_model_alias(
        args.required("name"), args.required("alias"), _version(args)
    )
    return {}


def delete_registered_model_alias(ctx: Context, args: Args) -> Reply:
    ctx.store.delete_registered_model_alias(args.required("name"), args.required("alias"))
    return {}


def get_model_version_by_alias(ctx: Context, args: Args) -> Reply:
    version = ctx.store.get_model_version_by_alias(args.required("name"), args.required("alias"))
    return {"model_version": version.to_dict()}


# -- model versions --------------------------------------------------------------------------
def create_model_version(ctx: Context, args: Args) -> Reply:
    name = args.required("name")
    source = args.required("source")
    run_id = args.string("run_id") or None
    model_id = args.string("model_id") or None
    check_source(ctx.store, ctx.artifacts, source, run_id, model_id)
    version = ctx.store.create_model_version(
        name=name,
        source=source,
        run_id=run_id,
        tags=[ModelVersionTag(k, v) for k, v in key_values(args, "tags")],
        run_link=args.string("run_link") or None,
        description=_description(args),
        model_id=model_id,
    )
    return {"model_version": version.to_dict()}


def get_model_version(ctx: Context, args: Args) -> Reply:
    version = ctx.store.get_model_version(args.required("name"), _version(args))
    return {"model_version": version.to_dict()}


def update_model_version(ctx: Context, args: Args) -> Reply:
    version = ctx.store.update_model_version(
        args.required("name"), _version(args), _description(args)
    )
    return {"model_version": version.to_dict()}


def delete_model_version(ctx: Context, args: Args) -> Reply:
    ctx.store.delete_model_version(args.required("name"), _version(args))
    return {}


def search_model_versions(ctx: Context, args: Args, visibility: Visibility | None = None) -> Reply:
    """``visibility`` (auth on): only versions of models the caller may read."""
    page = ctx.store.search_model_versions(
        filter_string=args.string("filter") or None,
        max_results=args.integer("max_results", SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT) or 0,
        order_by=args.strings("order_by") or None,
        page_token=args.string("page_token") or None,
        visibility=visibility,
    )
    reply: Reply = {"model_versions": [v.to_dict() for v in page]}
    if page.token:
        reply["next_page_token"] = page.token
    return reply


def get_model_version_download_uri(ctx: Context, args: Args) -> Reply:
    uri = ctx.store.get_model_version_download_uri(args.required("name"), _version(args))
    return {"artifact_uri": uri}


def transition_model_version_stage(ctx: Context, args: Args) -> Reply:
    version = ctx.store.transition_model_version_stage(
        args.required("name"),
        _version(args),
        args.required("stage"),
        args.boolean("archive_existing_versions"),
    )
    return {"model_version": version.to_dict()}


def set_model_version_tag(ctx: Context, args: Args) -> Reply:
    tag = ModelVersionTag(args.required("key"), _value(args))
    ctx.store.set_model_version_tag(args.required("name"), _version(args), tag)
    return {}


def delete_model_version_tag(ctx: Context, args: Args) -> Reply:
    ctx.store.delete_model_version_tag(args.required("name"), _version(args), args.required("key"))
    return {}


ENDPOINTS: tuple[tuple[str, str, Any], ...] = (
    ("POST", "/mlflow/registered-models/create", create_registered_model),
    ("GET", "/mlflow/registered-models/get", get_registered_model),
    ("POST", "/mlflow/registered-models/rename", rename_registered_model),
    ("PATCH", "/mlflow/registered-models/update", update_registered_model),
    ("DELETE", "/mlflow/registered-models/delete", delete_registered_model),
    ("GET", "/mlflow/registered-models/search", search_registered_models),
    ("POST", "/mlflow/registered-models/get-latest-versions", get_latest_versions),
    ("GET", "/mlflow/registered-models/get-latest-versions", get_latest_versions),
    ("POST", "/mlflow/registered-models/set-tag", set_registered_model_tag),
    ("DELETE", "/mlflow/registered-models/delete-tag", delete_registered_model_tag),
    ("POST", "/mlflow/registered-models/alias", set_registered_model_alias),
    ("DELETE", "/mlflow/registered-models/alias", delete_registered_model_alias),
    ("GET", "/mlflow/registered-models/alias", get_model_version_by_alias),
    ("POST", "/mlflow/model-versions/create", create_model_version),
    ("GET", "/mlflow/model-versions/get", get_model_version),
    ("PATCH", "/mlflow/model-versions/update", update_model_version),
    ("DELETE", "/mlflow/model-versions/delete", delete_model_version),
    ("GET", "/mlflow/model-versions/search", search_model_versions),
    ("GET", "/mlflow/model-versions/get-download-uri", get_model_version_download_uri),
    ("POST", "/mlflow/model-versions/transition-stage", transition_model_version_stage),
    ("POST", "/mlflow/model-versions/set-tag", set_model_version_tag),
    ("DELETE", "/mlflow/model-versions/delete-tag", delete_model_version_tag),
)
