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

from traza.server import artifacts, ingest, logged_models, registry, tracking, ui_api

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


def _json(method: str, path: str, handler: Callable[..., Any]) -> Route:
    return Route(method, path, handler)


TRACKING: list[Route] = [
    _json("POST", "/mlflow/experiments/create", tracking.create_experiment),
    _json("GET", "/mlflow/experiments/get", tracking.get_experiment),
    _json("GET", "/mlflow/experiments/get-by-name", tracking.get_experiment_by_name),
    _json("POST", "/mlflow/experiments/search", tracking.search_experiments),
    _json("GET", "/mlflow/experiments/search", tracking.search_experiments),
    _json("POST", "/mlflow/experiments/update", tracking.update_experiment),
    _json("POST", "/mlflow/experiments/delete", tracking.delete_experiment),
    _json("POST", "/mlflow/experiments/restore", tracking.restore_experiment),
    _json("POST", "/mlflow/experiments/set-experiment-tag", tracking.set_experiment_tag),
    _json("POST", "/mlflow/experiments/delete-experiment-tag", tracking.delete_experiment_tag),
    _json("POST", "/mlflow/experiments/search-datasets", tracking.search_datasets),
    _json("POST", "/mlflow/runs/create", tracking.create_run),
    _json("GET", "/mlflow/runs/get", tracking.get_run),
    _json("POST", "/mlflow/runs/update", tracking.update_run),
    _json("POST", "/mlflow/runs/delete", tracking.delete_run),
    _json("POST", "/mlflow/runs/restore", tracking.restore_run),
    _json("POST", "/mlflow/runs/search", tracking.search_runs),
    _json("POST", "/mlflow/runs/log-metric", tracking.log_metric),
    _json("POST", "/mlflow/runs/log-parameter", tracking.log_param),
    _json("POST", "/mlflow/runs/set-tag", tracking.set_tag),
    _json("POST", "/mlflow/runs/delete-tag", tracking.delete_tag),
    _json("POST", "/mlflow/runs/log-batch", tracking.log_batch),
    _json("POST", "/mlflow/runs/log-model", tracking.log_model),
    _json("POST", "/mlflow/runs/log-inputs", tracking.log_inputs),
    _json("GET", "/mlflow/metrics/get-history", tracking.get_metric_history),
    _json("GET", "/mlflow/metrics/get-history-bulk-interval", tracking.get_history_interval),
    _json("GET", "/mlflow/artifacts/list", artifacts.list_run_artifacts),
    _json("POST", "/mlflow/artifacts/presigned-upload-url", artifacts.presigned_upload_url),
    _json("POST", "/mlflow/artifacts/presigned-download-url", artifacts.presigned_download_url),
    _json("POST", "/mlflow/runs/outputs", logged_models.log_outputs),
]

_MODEL = "/mlflow/logged-models/{model_id}"
LOGGED_MODELS: list[Route] = [
    _json("POST", "/mlflow/logged-models", logged_models.create),
    _json("POST", "/mlflow/logged-models/search", logged_models.search),
    _json("GET", _MODEL, logged_models.get),
    _json("PATCH", _MODEL, logged_models.finalize),
    _json("DELETE", _MODEL, logged_models.delete),
    _json("PATCH", f"{_MODEL}/tags", logged_models.set_tags),
    _json("DELETE", f"{_MODEL}/tags/{{tag_key}}", logged_models.delete_tag),
    _json("POST", f"{_MODEL}/params", logged_models.log_params),
    _json("GET", f"{_MODEL}/artifacts/directories", logged_models.list_artifacts),
]

ARTIFACT_PROXY: list[Route] = [
    _json("GET", "/mlflow-artifacts/artifacts", artifacts.list_proxied),
    Route("GET", "/mlflow-artifacts/artifacts/{path:path}", artifacts.download, raw=True),
    Route("PUT", "/mlflow-artifacts/artifacts/{path:path}", artifacts.upload, raw=True),
    _json("DELETE", "/mlflow-artifacts/artifacts/{path:path}", artifacts.delete),
    _json("POST", "/mlflow-artifacts/mpu/create/{path:path}", artifacts.create_multipart),
    _json("POST", "/mlflow-artifacts/mpu/complete/{path:path}", artifacts.complete_multipart),
    _json("POST", "/mlflow-artifacts/mpu/abort/{path:path}", artifacts.abort_multipart),
    _json("GET", "/mlflow-artifacts/presigned/{path:path}", artifacts.presigned_proxied_url),
]

REGISTRY: list[Route] = [
    _json(method, path, handler) for method, path, handler in registry.ENDPOINTS
]


WEB_UI: list[Route] = [
    Route("GET", "/experiments/keys", ui_api.experiment_keys, prefixes=UI),
    Route("GET", "/metrics/history", ui_api.metric_history, prefixes=UI),
    Route("GET", "/runs/metric-summaries", ui_api.metric_summaries, prefixes=UI),
    Route("GET", "/runs/{run_id}/metric-summaries", ui_api.metric_summaries, prefixes=UI),
    Route("GET", "/artifacts/get", ui_api.get_artifact, raw=True, prefixes=UI),
    # MLflow's UI reads files here, relative to the server's root (and static prefix).
    Route("GET", "/get-artifact", ui_api.mlflow_get_artifact, raw=True, prefixes=("",)),
]


#: ``traza sync`` into a server: records with their own ids (see ``server/ingest.py``).
INGEST: list[Route] = [Route("POST", "/ingest", ingest.ingest, prefixes=UI[:1])]


def all_routes() -> list[Route]:
    return [*TRACKING, *LOGGED_MODELS, *ARTIFACT_PROXY, *REGISTRY, *WEB_UI, *INGEST]
