"""The web UI's JSON endpoints (``/api/traza/v1`` and ``/ajax-api/traza/v1``) and artifact reads.

Handlers are parse → Store → dict like the rest of the server; what they return is the
``to_dict`` of :mod:`traza.entities.ui`. Metric values that are not finite are the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"``. ``artifacts/get`` and MLflow's ``/get-artifact``
stream one file of a run from whichever repository holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from traza.artifacts.base import CHUNK_SIZE
from traza.artifacts.local import LocalArtifactRepository
from traza.exceptions import invalid
from traza.server import runs_csv
from traza.server.context import Context
from traza.server.downloads import download_headers
from traza.server.tracking import _view_type
from traza.server.wire import Args, bad_field, missing
from traza.validation import validate_artifact_path

Reply = dict[str, Any]

#: Runs one ``metrics/history`` request may overlay.
MAX_RUNS_PER_HISTORY = 100
DEFAULT_MAX_POINTS = 1000


# -- JSON endpoints ----------------------------------------------------------------------------
def experiment_keys(ctx: Context, args: Args) -> Reply:
    """``GET experiments/keys?experiment_ids=1&experiment_ids=2``: the runs table's columns."""
    ids = args.strings("experiment_ids") or args.strings("experiment_id")
    if not ids:
        raise missing("experiment_ids")
    return ctx.store.get_experiment_keys(ids).to_dict()


#: Experiments one ``experiments/summaries`` request may name (a page of the list).
MAX_EXPERIMENT_SUMMARIES = 1000


def experiment_summaries(ctx: Context, args: Args) -> Reply:
    """``GET experiments/summaries?experiment_ids=1&experiment_ids=2``: run count and last
    activity of each (the experiments list), in one grouped query."""
    ids = args.strings("experiment_ids") or args.strings("experiment_id")
    if not ids:
        raise missing("experiment_ids")
    if len(ids) > MAX_EXPERIMENT_SUMMARIES:
        raise invalid(
            f"experiments/summaries takes at most {MAX_EXPERIMENT_SUMMARIES} experiments per "
            f"request, got {len(ids)}; split the request."
        )
    return {"experiments": [s.to_dict() for s in ctx.store.get_experiment_summaries(ids)]}


def metric_history(ctx: Context, args: Args) -> Reply:
    """``GET metrics/history?run_id=R&key=K&max_points=N&x_axis=step|timestamp|relative``.

    ``run_ids`` may be repeated to get one series per run, in the order given; ``x_min`` and
    ``x_max`` keep the points in that x range (a zoomed chart).
    """
    run_ids = list(args.strings("run_ids"))
    single = args.string("run_id") or args.string("run_uuid")
    if single and single not in run_ids:
        run_ids.insert(0, single)
    if not run_ids:
        raise missing("run_id")
    if len(run_ids) > MAX_RUNS_PER_HISTORY:
        raise invalid(
            f"metrics/history takes at most {MAX_RUNS_PER_HISTORY} runs per request, got "
            f"{len(run_ids)}; split the request."
        )
    key = args.string("key") or args.string("metric_key")
    if not key:
        raise missing("key")
    max_points = args.integer("max_points")
    if max_points is None:
        max_points = DEFAULT_MAX_POINTS
    x_axis = args.string("x_axis") or "step"
    low, high = args.integer("x_min"), args.integer("x_max")
    if (low is None) != (high is None):
        raise invalid("x_min and x_max go together: give both, or neither for the whole history.")
    x_range = None if low is None or high is None else (low, high)
    series = ctx.store.get_metric_histories_sampled(run_ids, key, max_points, x_axis, x_range)
    return {"series": [s.to_dict() for s in series]}


#: Keys one ``metrics/histories`` request may name, and series (runs × keys) it may return.
MAX_KEYS_PER_HISTORIES = 50
MAX_SERIES_PER_HISTORIES = 2000


def metric_histories(ctx: Context, args: Args) -> Reply:
    """``POST metrics/histories {"run_ids": [...], "keys": [...], "max_points": N,
    "x_axis": "step"|"timestamp"|"relative"}``: the downsampled histories of several metrics of
    the same runs in one request (the chart workspace's panels), key by key in the order given,
    each with one series per run in the order given."""
    run_ids = list(dict.fromkeys(args.strings("run_ids")))
    keys = list(dict.fromkeys(args.strings("keys")))
    if not run_ids:
        raise missing("run_ids")
    if not keys:
        raise missing("keys")
    if len(run_ids) > MAX_RUNS_PER_HISTORY:
        raise invalid(
            f"metrics/histories takes at most {MAX_RUNS_PER_HISTORY} runs per request, got "
            f"{len(run_ids)}; split the request."
        )
    if len(keys) > MAX_KEYS_PER_HISTORIES or len(keys) * len(run_ids) > MAX_SERIES_PER_HISTORIES:
        raise invalid(
            f"metrics/histories takes at most {MAX_KEYS_PER_HISTORIES} keys and "
            f"{MAX_SERIES_PER_HISTORIES} series (runs × keys) per request, got {len(keys)} keys "
            f"× {len(run_ids)} runs; ask for fewer keys at a time."
        )
    for key in keys:
        if not key or len(key) > 250:
            raise bad_field("keys", key, "metric keys of 1 to 250 characters")
    max_points = args.integer("max_points")
    if max_points is None:
        max_points = DEFAULT_MAX_POINTS
    x_axis = args.string("x_axis") or "step"
    found = ctx.store.get_metric_histories_batch(run_ids, keys, max_points, x_axis)
    return {
        "histories": [
            {"key": key, "series": [s.to_dict() for s in series]}
            for key, series in zip(keys, found, strict=True)
        ]
    }


def run_groups(ctx: Context, args: Args) -> Reply:
    """``GET runs/groups?experiment_ids=1&filter=…&run_view_type=…&by=params.x&metrics=m``:
    the runs the filter matches grouped by a param or tag, each group's run count and each
    metric's count, mean, min and max, over every matching run (the table's Group by)."""
    ids = args.strings("experiment_ids") or args.strings("experiment_id")
    if not ids:
        raise missing("experiment_ids")
    by = args.string("by")
    if not by:
        raise missing("by")
    groups = ctx.store.group_runs(
        ids,
        args.string("filter"),
        _view_type(args, "run_view_type"),
        by,
        args.strings("metrics"),
    )
    return groups.to_dict()


def metric_summaries(ctx: Context, args: Args, run_id: str | None = None) -> Reply:
    """``GET runs/{run_id}/metric-summaries`` (or ``runs/metric-summaries?run_id=``)."""
    run_id = run_id or args.run_id()
    summaries = ctx.store.get_metric_summaries(run_id)
    return {"run_id": run_id, "summaries": [s.to_dict() for s in summaries]}


async def runs_csv_download(ctx: Context, request: Request) -> Response:
    """``GET runs/csv?experiment_ids=1&filter=…&order_by=…&run_view_type=…&columns=…``: the
    runs table's view as a CSV file, streamed a page of runs at a time."""
    args = Args.from_query(request.query_params)
    ids = args.strings("experiment_ids") or args.strings("experiment_id")
    if not ids:
        raise missing("experiment_ids")
    header = runs_csv.columns(args.strings("columns"))
    view = _view_type(args, "run_view_type")
    filter_string = args.string("filter")
    order_by = args.strings("order_by")

    def page(token: str | None) -> tuple[Any, str | None]:
        found = ctx.store.search_runs(
            ids, filter_string, view, runs_csv.PAGE, order_by, token or None
        )
        return list(found), found.token

    first, token = await anyio.to_thread.run_sync(page, None)
    headers = {
        "Content-Disposition": 'attachment; filename="runs.csv"',
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(
        runs_csv.rows(header, first, token, page),
        media_type="text/csv; charset=utf-8",
        headers=headers,
    )


# -- artifact files (headers: ``server/downloads.py``) -----------------------------------------
def _artifact_args(request: Request) -> tuple[str, str]:
    query = request.query_params
    run_id = query.get("run_id") or query.get("run_uuid")
    if not run_id:
        raise missing("run_id")
    raw = query.get("path")
    if not raw:
        raise missing("path")
    path = validate_artifact_path(raw)
    if not path:
        raise bad_field("path", raw, "a file inside the run's artifacts")
    return run_id, path


async def _send(ctx: Context, request: Request, attachment: bool) -> Response:
    run_id, path = _artifact_args(request)
    return await _send_file(
        ctx, lambda: ctx.store.get_run(run_id).info.artifact_uri, path, attachment
    )


async def _send_file(
    ctx: Context, root: Callable[[], str], path: str, attachment: bool
) -> Response:
    """Stream ``path`` under the artifact root ``root()`` names (checked by the service)."""

    def locate() -> tuple[Any, Any]:
        repo = ctx.artifacts.for_uri(root())
        if isinstance(repo, LocalArtifactRepository):
            return repo.local_file(path), None
        return None, repo.open_stream(path)

    local, stream = await anyio.to_thread.run_sync(locate)
    kind, headers = download_headers(path, inline=not attachment)
    headers["Cache-Control"] = "no-cache"
    if local is not None:
        return _LocalFile(local, media_type=kind, headers=headers)
    size = _stream_size(stream)
    if size is not None:
        headers["Content-Length"] = str(size)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk

    return StreamingResponse(chunks(), media_type=kind, headers=headers)


def _stream_size(stream: Any) -> int | None:
    """The length a repository's stream announces (S3's body, an HTTP response), if any."""
    for name in ("_content_length", "length_remaining"):
        value = getattr(stream, name, None)
        if value is not None and str(value).isdigit():
            return int(value)
    headers = getattr(stream, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    return int(value) if value is not None and str(value).isdigit() else None


class _LocalFile(FileResponse):
    chunk_size = CHUNK_SIZE


async def get_artifact(ctx: Context, request: Request) -> Response:
    """``GET artifacts/get?run_id=R&path=P``: one file, inline unless a browser would run it."""
    return await _send(ctx, request, attachment=False)


async def mlflow_get_artifact(ctx: Context, request: Request) -> Response:
    """MLflow UI's ``GET /get-artifact?path=P&run_uuid=R``: the file as an attachment."""
    return await _send(ctx, request, attachment=True)


async def logged_model_file(ctx: Context, request: Request) -> Response:
    """MLflow 3's ``GET logged-models/{model_id}/artifacts/files?artifact_file_path=P``: one
    file of a logged model, from wherever its artifacts are (proxied, a folder, S3), inline
    unless a browser would run it."""
    model_id = request.path_params["model_id"]
    raw = request.query_params.get("artifact_file_path") or request.query_params.get("path")
    if not raw:
        raise missing("artifact_file_path")
    path = validate_artifact_path(raw)
    if not path:
        raise bad_field("artifact_file_path", raw, "a file inside the model's artifacts")
    return await _send_file(
        ctx, lambda: ctx.store.get_logged_model(model_id).artifact_location, path, False
    )
