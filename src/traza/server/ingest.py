"""``POST /api/traza/v1/ingest``: records with their own ids and timestamps, for ``traza sync``.

MLflow's REST API cannot keep a run's id (``runs/create`` makes a new one), so syncing a local
store into a Traza server goes through this endpoint instead: the body is an
:class:`~traza.transfer.records.IngestBatch` in its wire form, written by the server's store
exactly as a local ingest would (idempotent, one transaction per part); the reply is the
:class:`~traza.transfer.records.IngestResult`.
"""

from __future__ import annotations

from typing import Any

from traza.exceptions import invalid
from traza.server.context import Context
from traza.server.wire import Args

PARTS = ("experiments", "runs", "logged_models", "registered_models")


def ingest(ctx: Context, args: Args) -> dict[str, Any]:
    from traza.transfer.records import IngestBatch

    body = {part: args.raw(part) for part in PARTS if args.raw(part) is not None}
    if not body:
        raise invalid(f"An ingest batch has at least one of {', '.join(PARTS)}.")
    for part, items in body.items():
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise invalid(f"{part!r} must be a list of objects.")
    try:
        batch = IngestBatch.from_wire(body)
    except (TypeError, KeyError, ValueError, IndexError) as e:
        raise invalid(f"Malformed ingest batch: {type(e).__name__}: {e}.") from None
    result = ctx.store.ingest(batch)
    # A run's location is recorded as sent, but the server serves only its trusted roots
    # (nothing sent over HTTP adds one): say which runs' artifacts it will not serve.
    for run in batch.runs:
        if run.artifact_uri and not ctx.artifacts.serves(run.artifact_uri):
            result.unserved.append(f"run {run.run_id}: {run.artifact_uri}")
    return result.to_wire()
