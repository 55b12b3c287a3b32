"""The runs table as CSV: the rows of one search (filter, order, view), the columns the table
shows, streamed page by page so 10,000 runs never sit in memory as one reply.

Column names are those of ``mlflow.search_runs``' DataFrame (``run_id``, ``start_time``,
``metrics.rmse``, ``params.model``, ``tags.team``); the runs table's own ids (``name``,
``start``, ``user``, ``source``) are accepted for the matching columns. ``run_id`` comes first
whatever was asked, so a row can always be traced back to its run.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone

from traza.entities import Run
from traza.exceptions import invalid

#: Rows read from the store per query while streaming.
PAGE = 1000
#: Columns one download may name.
MAX_COLUMNS = 1000
DEFAULT_COLUMNS = ("run_id", "run_name", "experiment_id", "status", "start_time", "end_time")

#: The runs table's column ids, as the DataFrame names them.
ALIASES = {
    "name": "run_name",
    "start": "start_time",
    "user": "user_id",
    "source": "tags.mlflow.source.name",
}


def _time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _duration(run: Run) -> str:
    end = run.info.end_time
    return "" if end is None else repr((end - run.info.start_time) / 1000)


Getter = Callable[[Run], str]

ATTRIBUTES: dict[str, Getter] = {
    "run_id": lambda r: r.info.run_id,
    "run_name": lambda r: r.info.run_name or "",
    "experiment_id": lambda r: r.info.experiment_id,
    "status": lambda r: r.info.status,
    "start_time": lambda r: _time(r.info.start_time),
    "end_time": lambda r: _time(r.info.end_time),
    "duration": _duration,
    "user_id": lambda r: r.info.user_id or "",
    "lifecycle_stage": lambda r: r.info.lifecycle_stage,
    "artifact_uri": lambda r: r.info.artifact_uri,
}


def _getter(column: str) -> Getter:
    if column in ATTRIBUTES:
        return ATTRIBUTES[column]
    kind, dot, key = column.partition(".")
    if dot and key and kind == "metrics":
        return lambda r: next((_number(m.value) for m in r.data.metric_objs if m.key == key), "")
    if dot and key and kind == "params":
        return lambda r: r.data.params.get(key, "")
    if dot and key and kind == "tags":
        return lambda r: r.data.tags.get(key, "")
    raise invalid(
        f"Unknown CSV column {column!r}: use one of {', '.join(ATTRIBUTES)}, or "
        "metrics.<key>, params.<key>, tags.<key>."
    )


def columns(asked: Sequence[str]) -> list[str]:
    """The header: ``run_id`` first, then the asked columns (aliases resolved, no repeats)."""
    if len(asked) > MAX_COLUMNS:
        raise invalid(f"A CSV download takes at most {MAX_COLUMNS} columns, got {len(asked)}.")
    out = ["run_id"]
    for c in asked or DEFAULT_COLUMNS:
        name = ALIASES.get(c, c)
        if name not in out:
            _getter(name)  # refuse an unknown column before the download starts
            out.append(name)
    return out


def rows(
    header: list[str],
    first: Sequence[Run],
    token: str | None,
    next_page: Callable[[str], tuple[Sequence[Run], str | None]],
) -> Iterator[str]:
    """The CSV text, a page at a time: ``first`` is already fetched (so a bad filter is a 400,
    not a broken download); ``next_page(token)`` fetches the rest."""
    getters = [_getter(c) for c in header]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    page: Sequence[Run] = first
    while True:
        for run in page:
            writer.writerow([g(run) for g in getters])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if not token:
            return
        page, token = next_page(token)
