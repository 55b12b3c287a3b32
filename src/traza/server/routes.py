"""Every endpoint the server answers, in one table.

A route is ``(method, path template, handler)``. JSON handlers are plain functions
``handler(ctx, args, **path_params) -> dict`` run on a worker thread; raw handlers are coroutines
``handler(ctx, request) -> Response`` for streaming. Paths are served under each of the route's
API prefixes (``/api/2.0`` and the UI's ``/ajax-api/2.0``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from traza.auth import rules as R
from traza.auth.rules import EDIT, MANAGE, READ, After, Rule, Search
from traza.server import (
    artifacts,
    auth_handlers,
    ingest,
    logged_models,
    permissions_api,
    registry,
    tracking,
    ui_api,
)

V2 = ("/api/2.0", "/ajax-api/2.0")
V3 = ("/api/3.0", "/ajax-api/3.0")
#: The web UI's own endpoints (what it reads beyond MLflow's API).
UI = ("/api/traza/v1", "/ajax-api/traza/v1")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[..., Any]
    raw: bool = False
    prefixes: tuple[str, ...] = V2
    #: Who may call it with auth on (``traza.auth.rules``); the server refuses a route without.
    permission: Rule | None = None
    #: A few milliseconds at most (one run's rows): answered on the event loop itself when no
    #: other request is in flight, sparing the hop to a worker thread (see TrazaApp._respond).
    short: bool = False


def _json(method: str, path: str, handler: Callable[..., Any], permission: Rule) -> Route:
    return Route(method, path, handler, permission=permission)


def _short(method: str, path: str, handler: Callable[..., Any], permission: Rule) -> Route:
    return Route(method, path, handler, permission=permission, short=True)


TRACKING: list[Route] = [
    _json(
        "POST",
        "/mlflow/experiments/create",
        tracking.create_experiment,
        R.signed_in(After.GRANT_EXPERIMENT_CREATOR),
    ),
    _json("GET", "/mlflow/experiments/get", tracking.get_experiment, R.experiment(READ)),
    _json(
        "GET",
        "/mlflow/experiments/get-by-name",
        tracking.get_experiment_by_name,
        R.experiment_by_name(READ),
    ),
    _json(
        "POST",
        "/mlflow/experiments/search",
        tracking.search_experiments,
        R.search(Search.EXPERIMENTS),
    ),
    _json(
        "GET",
        "/mlflow/experiments/search",
        tracking.search_experiments,
        R.search(Search.EXPERIMENTS),
    ),
    _json("POST", "/mlflow/experiments/update", tracking.update_experiment, R.experiment(EDIT)),
    _json("POST", "/mlflow/experiments/delete", tracking.delete_experiment, R.experiment(MANAGE)),
    _json("POST", "/mlflow/experiments/restore", tracking.restore_experiment, R.experiment(MANAGE)),
    _json(
        "POST",
        "/mlflow/experiments/set-experiment-tag",
        tracking.set_experiment_tag,
        R.experiment(EDIT),
    ),
    _json(
        "POST",
        "/mlflow/experiments/delete-experiment-tag",
        tracking.delete_experiment_tag,
        R.experiment(EDIT),
    ),
    _json(
        "POST", "/mlflow/experiments/search-datasets", tracking.search_datasets, R.experiments(READ)
    ),
    _short("POST", "/mlflow/runs/create", tracking.create_run, R.experiment(EDIT, default="0")),
    _short("GET", "/mlflow/runs/get", tracking.get_run, R.run(READ)),
    _short("POST", "/mlflow/runs/update", tracking.update_run, R.run(EDIT)),
    _json("POST", "/mlflow/runs/delete", tracking.delete_run, R.run(MANAGE)),
    _json("POST", "/mlflow/runs/restore", tracking.restore_run, R.run(MANAGE)),
    _json("POST", "/mlflow/runs/search", tracking.search_runs, R.search(Search.RUNS)),
    _short("POST", "/mlflow/runs/log-metric", tracking.log_metric, R.run(EDIT)),
    _short("POST", "/mlflow/runs/log-parameter", tracking.log_param, R.run(EDIT)),
    _short("POST", "/mlflow/runs/set-tag", tracking.set_tag, R.run(EDIT)),
    _short("POST", "/mlflow/runs/delete-tag", tracking.delete_tag, R.run(EDIT)),
    _short("POST", "/mlflow/runs/log-batch", tracking.log_batch, R.run(EDIT)),
    _json("POST", "/mlflow/runs/log-model", tracking.log_model, R.run(EDIT)),
    _json("POST", "/mlflow/runs/log-inputs", tracking.log_inputs, R.run(EDIT)),
    _json("GET", "/mlflow/metrics/get-history", tracking.get_metric_history, R.run(READ)),
    _json(
        "GET",
        "/mlflow/metrics/get-history-bulk-interval",
        tracking.get_history_interval,
        R.runs(READ),
    ),
    _json("GET", "/mlflow/artifacts/list", artifacts.list_run_artifacts, R.run(READ)),
    _json(
        "POST",
        "/mlflow/artifacts/presigned-upload-url",
        artifacts.presigned_upload_url,
        R.run(EDIT, model_field="model_id"),
    ),
    _json(
        "POST",
        "/mlflow/artifacts/presigned-download-url",
        artifacts.presigned_download_url,
        R.run(READ),
    ),
    _json("POST", "/mlflow/runs/outputs", logged_models.log_outputs, R.run(EDIT)),
]

_MODEL = "/mlflow/logged-models/{model_id}"
LOGGED_MODELS: list[Route] = [
    _json(
        "POST",
        "/mlflow/logged-models",
        logged_models.create,
        R.experiment(EDIT, source_run_field="source_run_id"),
    ),
    _json(
        "POST", "/mlflow/logged-models/search", logged_models.search, R.search(Search.LOGGED_MODELS)
    ),
    _json("GET", _MODEL, logged_models.get, R.logged_model(READ)),
    _json("PATCH", _MODEL, logged_models.finalize, R.logged_model(EDIT)),
    _json("DELETE", _MODEL, logged_models.delete, R.logged_model(MANAGE)),
    _json("PATCH", f"{_MODEL}/tags", logged_models.set_tags, R.logged_model(EDIT)),
    _json("DELETE", f"{_MODEL}/tags/{{tag_key}}", logged_models.delete_tag, R.logged_model(EDIT)),
    _json("POST", f"{_MODEL}/params", logged_models.log_params, R.logged_model(EDIT)),
    _json(
        "GET", f"{_MODEL}/artifacts/directories", logged_models.list_artifacts, R.logged_model(READ)
    ),
]

ARTIFACT_PROXY: list[Route] = [
    _json("GET", "/mlflow-artifacts/artifacts", artifacts.list_proxied, R.artifact(READ)),
    Route(
        "GET",
        "/mlflow-artifacts/artifacts/{path:path}",
        artifacts.download,
        raw=True,
        permission=R.artifact(READ),
    ),
    Route(
        "PUT",
        "/mlflow-artifacts/artifacts/{path:path}",
        artifacts.upload,
        raw=True,
        permission=R.artifact(EDIT),
    ),
    _json(
        "DELETE", "/mlflow-artifacts/artifacts/{path:path}", artifacts.delete, R.artifact(MANAGE)
    ),
    _json(
        "POST",
        "/mlflow-artifacts/mpu/create/{path:path}",
        artifacts.create_multipart,
        R.artifact(EDIT),
    ),
    _json(
        "POST",
        "/mlflow-artifacts/mpu/complete/{path:path}",
        artifacts.complete_multipart,
        R.artifact(EDIT),
    ),
    _json(
        "POST",
        "/mlflow-artifacts/mpu/abort/{path:path}",
        artifacts.abort_multipart,
        R.artifact(EDIT),
    ),
    _json(
        "GET",
        "/mlflow-artifacts/presigned/{path:path}",
        artifacts.presigned_proxied_url,
        R.artifact(READ),
    ),
]

_RM, _MV = "/mlflow/registered-models", "/mlflow/model-versions"
#: The registry's rules by (method, path); an endpoint missing here is refused at startup.
REGISTRY_RULES: dict[tuple[str, str], Rule] = {
    ("POST", f"{_RM}/create"): R.signed_in(After.GRANT_MODEL_CREATOR),
    ("GET", f"{_RM}/get"): R.registered_model(READ),
    ("POST", f"{_RM}/rename"): R.registered_model(EDIT, After.RENAME_MODEL),
    ("PATCH", f"{_RM}/update"): R.registered_model(EDIT),
    ("DELETE", f"{_RM}/delete"): R.registered_model(MANAGE, After.DELETE_MODEL),
    ("GET", f"{_RM}/search"): R.search(Search.REGISTERED_MODELS),
    ("POST", f"{_RM}/get-latest-versions"): R.registered_model(READ),
    ("GET", f"{_RM}/get-latest-versions"): R.registered_model(READ),
    ("POST", f"{_RM}/set-tag"): R.registered_model(EDIT),
    ("DELETE", f"{_RM}/delete-tag"): R.registered_model(EDIT),
    ("POST", f"{_RM}/alias"): R.registered_model(EDIT),
    ("DELETE", f"{_RM}/alias"): R.registered_model(MANAGE),
    ("GET", f"{_RM}/alias"): R.registered_model(READ),
    ("POST", f"{_MV}/create"): R.model_version_source(),
    ("GET", f"{_MV}/get"): R.registered_model(READ),
    ("PATCH", f"{_MV}/update"): R.registered_model(EDIT),
    ("DELETE", f"{_MV}/delete"): R.registered_model(MANAGE),
    ("GET", f"{_MV}/search"): R.search(Search.MODEL_VERSIONS),
    ("GET", f"{_MV}/get-download-uri"): R.registered_model(READ),
    ("POST", f"{_MV}/transition-stage"): R.registered_model(EDIT),
    ("POST", f"{_MV}/set-tag"): R.registered_model(EDIT),
    ("DELETE", f"{_MV}/delete-tag"): R.registered_model(MANAGE),
}

REGISTRY: list[Route] = [
    Route(method, path, handler, permission=REGISTRY_RULES.get((method, path)))
    for method, path, handler in registry.ENDPOINTS
]


WEB_UI: list[Route] = [
    Route(
        "GET",
        "/experiments/keys",
        ui_api.experiment_keys,
        prefixes=UI,
        permission=R.experiments(READ, "experiment_ids", "experiment_id"),
    ),
    Route(
        "GET",
        "/experiments/summaries",
        ui_api.experiment_summaries,
        prefixes=UI,
        permission=R.experiments(READ, "experiment_ids", "experiment_id"),
    ),
    Route(
        "GET",
        "/runs/csv",
        ui_api.runs_csv_download,
        raw=True,
        prefixes=UI,
        permission=R.experiments(READ, "experiment_ids", "experiment_id"),
    ),
    Route(
        "GET",
        "/runs/groups",
        ui_api.run_groups,
        prefixes=UI,
        permission=R.experiments(READ, "experiment_ids", "experiment_id"),
    ),
    Route("GET", "/metrics/history", ui_api.metric_history, prefixes=UI, permission=R.runs(READ)),
    # The chart workspace: many metrics of the same runs at once (READ on every run's experiment).
    Route(
        "POST", "/metrics/histories", ui_api.metric_histories, prefixes=UI, permission=R.runs(READ)
    ),
    Route(
        "GET",
        "/runs/metric-summaries",
        ui_api.metric_summaries,
        prefixes=UI,
        permission=R.run(READ),
    ),
    Route(
        "GET",
        "/runs/{run_id}/metric-summaries",
        ui_api.metric_summaries,
        prefixes=UI,
        permission=R.run(READ),
    ),
    Route(
        "GET", "/artifacts/get", ui_api.get_artifact, raw=True, prefixes=UI, permission=R.run(READ)
    ),
    # MLflow 3's UI reads a logged model's files here (the MLmodel, the input example).
    Route(
        "GET",
        "/mlflow/logged-models/{model_id}/artifacts/files",
        ui_api.logged_model_file,
        raw=True,
        prefixes=V2[1:],  # a Flask route beside MLflow's protos, under the UI's prefix only
        permission=R.logged_model(READ),
    ),
    # MLflow's UI reads files here, relative to the server's root (and static prefix).
    Route(
        "GET",
        "/get-artifact",
        ui_api.mlflow_get_artifact,
        raw=True,
        prefixes=("",),
        permission=R.run(READ),
    ),
]


#: ``traza sync`` into a server: records with their own ids (see ``server/ingest.py``).
INGEST: list[Route] = [
    Route("POST", "/ingest", ingest.ingest, prefixes=UI[:1], permission=R.admin())
]


async def _openapi(ctx: Any, request: Any) -> Any:
    """This API's OpenAPI description (``server/openapi.py``, imported on first use)."""
    from traza.server.openapi import serve

    return await serve(ctx, request)


#: The description holds route and field names only, no data: anyone signed in may read it.
DESCRIPTION: list[Route] = [
    Route("GET", "/openapi.json", _openapi, raw=True, prefixes=UI[:1], permission=R.public())
]


def _auth(
    method: str,
    path: str,
    handler: Callable[..., Any],
    rule: Rule,
    prefixes: tuple[str, ...] = V2,
) -> Route:
    return Route(method, path, handler, raw=True, prefixes=prefixes, permission=rule)


_USERS = "/mlflow/users"
#: Users (MLflow's auth API), tokens and the web UI's sign-in (``traza.auth.api``): the handlers
#: check "the user themselves or an admin" where the rule says signed in.
AUTH: list[Route] = [
    _auth("POST", f"{_USERS}/create", auth_handlers.create_user, R.admin()),
    _auth("GET", f"{_USERS}/get", auth_handlers.get_user, R.signed_in()),
    _auth("GET", f"{_USERS}/current", auth_handlers.current_user, R.public()),
    _auth("GET", f"{_USERS}/list", auth_handlers.list_users, R.admin()),
    _auth("PATCH", f"{_USERS}/update-password", auth_handlers.update_password, R.signed_in()),
    _auth("PATCH", f"{_USERS}/update-admin", auth_handlers.update_admin, R.admin()),
    _auth("DELETE", f"{_USERS}/delete", auth_handlers.delete_user, R.admin()),
    _auth("POST", "/tokens", auth_handlers.create_token, R.signed_in(), UI),
    _auth("GET", "/tokens", auth_handlers.list_tokens, R.signed_in(), UI),
    _auth("DELETE", "/tokens/{token_id}", auth_handlers.revoke_token, R.signed_in(), UI),
    # Open to anyone: the authentication layer lets these through without credentials.
    _auth("POST", "/auth/login", auth_handlers.login, R.public(), UI),
    _auth("POST", "/auth/logout", auth_handlers.logout, R.public(), UI),
    _auth("GET", "/auth/me", auth_handlers.me, R.public(), UI),
]


_EP, _RP = "/mlflow/experiments/permissions", "/mlflow/registered-models/permissions"
_grants = R.grants()
#: MLflow's auth API, the permission half (``server/permissions_api.py``), and the UI's question.
PERMISSIONS: list[Route] = [
    _json("POST", f"{_EP}/create", permissions_api.create_experiment_permission, _grants),
    _json("GET", f"{_EP}/get", permissions_api.get_experiment_permission, _grants),
    _json("PATCH", f"{_EP}/update", permissions_api.update_experiment_permission, _grants),
    _json("DELETE", f"{_EP}/delete", permissions_api.delete_experiment_permission, _grants),
    _json("POST", f"{_RP}/create", permissions_api.create_model_permission, _grants),
    _json("GET", f"{_RP}/get", permissions_api.get_model_permission, _grants),
    _json("PATCH", f"{_RP}/update", permissions_api.update_model_permission, _grants),
    _json("DELETE", f"{_RP}/delete", permissions_api.delete_model_permission, _grants),
    *(
        Route(method, f"/mlflow/users/permissions/{verb}", handler, prefixes=V3, permission=_grants)
        for method, verb, handler in (
            ("POST", "grant", permissions_api.grant_user_permission),
            ("POST", "revoke", permissions_api.revoke_user_permission),
            ("GET", "get", permissions_api.get_user_permission),
        )
    ),
    Route("GET", "/permissions/mine", permissions_api.mine, prefixes=UI, permission=_grants),
    Route("GET", "/permissions/list", permissions_api.list_on, prefixes=UI, permission=_grants),
    Route(
        "GET",
        "/permissions/mine/experiments",
        permissions_api.mine_experiments,
        prefixes=UI,
        permission=_grants,
    ),
]


def all_routes() -> list[Route]:
    return [
        *TRACKING,
        *LOGGED_MODELS,
        *ARTIFACT_PROXY,
        *REGISTRY,
        *WEB_UI,
        *INGEST,
        *DESCRIPTION,
        *AUTH,
        *PERMISSIONS,
    ]


def unguarded(routes: list[Route]) -> list[str]:
    """Routes without a permission rule: the server refuses to start with any (fail closed)."""
    return [f"{r.method} {r.path}" for r in routes if r.permission is None]
