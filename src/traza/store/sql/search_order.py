"""Runs ordered by one metric, read as an index walk that stops after a page.

The general query sorts every matching run by ``CASE`` (numbers, then NaN, then runs without the
metric) and the value, so the database must find and sort all matches before returning 100.
Here the three groups are three queries, run one after another until the page is full: the
numbers walk ``latest_metrics (key, value)`` in order and stop after the page, checking each
run's filters as they go. Page tokens carry where the last page ended (keyset pagination), so
page 10 costs what page 1 costs. Used for large experiments only: a small one is faster sorted
whole (see :func:`worth_walking`).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from typing import Any

from traza.search.grammar import OrderBy
from traza.store.sql import compile as sqlc
from traza.store.sql.db import Cursor
from traza.store.sql.dialect import Dialect
from traza.store.sql.util import marks

#: Below this many runs in the searched experiments a full sort is as fast as a walk, and the
#: walk could visit every run of the store holding the metric (other experiments' too).
WALK_FROM_RUNS = 5000
#: Seconds a store trusts that experiments it found large enough to walk still are.
WALK_REMEMBERED = 60.0

_NUMBERS, _NANS, _MISSING = 0, 1, 2
_TIE_AFTER = "(r.start_time < ? OR (r.start_time = ? AND r.run_uuid > ?))"


def applies(orders: Sequence[OrderBy]) -> bool:
    return len(orders) == 1 and orders[0].entity == "metric"


def worth_walking(cur: Cursor, exp_ids: Sequence[int], known: dict[Any, float]) -> bool:
    """Whether the experiments hold at least ``WALK_FROM_RUNS`` runs (counted no further).

    ``known`` remembers a yes for ``WALK_REMEMBERED`` seconds (the count is a round trip of
    0.7-1.7 ms on PostgreSQL, a tenth of a walked page): experiments seldom shrink, and a walk
    of a smaller one returns the same page, only not faster.
    """
    key = tuple(sorted(exp_ids))
    if time.monotonic() - known.get(key, -WALK_REMEMBERED) < WALK_REMEMBERED:
        return True
    cur.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE experiment_id IN ({marks(exp_ids)}) "
        "LIMIT ?) x",
        [*exp_ids, WALK_FROM_RUNS],
    )
    if int(cur.fetchone()[0]) < WALK_FROM_RUNS:
        return False
    if len(known) >= 1000:
        known.clear()
    known[key] = time.monotonic()
    return True


def _fingerprint(order: OrderBy) -> str:
    return f"{order.key}:{int(order.ascending)}"


def decode_cursor(token: str | None, order: OrderBy) -> dict[str, Any] | None:
    """Where the previous page of this same ordering ended, if its token says so."""
    if not token:
        return None
    try:
        after = json.loads(base64.b64decode(token, validate=True)).get("after")
    except (ValueError, AttributeError):
        return None  # decode_page_token reports a bad token
    if not isinstance(after, dict) or after.get("k") != _fingerprint(order):
        return None
    group, start, uuid = after.get("g"), after.get("t"), after.get("u")
    value = after.get("v")
    if group not in (_NUMBERS, _NANS, _MISSING) or not isinstance(start, int):
        return None
    if not isinstance(uuid, str) or (group == _NUMBERS and not isinstance(value, int | float)):
        return None
    return after


def encode_token(offset: int, order: OrderBy, last: tuple[Any, ...]) -> str:
    """A page token with the offset (any reader can use it) and where this page ended."""
    group, value, row = last[0], last[1], last[2:]
    after = {"k": _fingerprint(order), "g": group, "v": value, "t": row[6], "u": row[1]}
    return base64.b64encode(json.dumps({"offset": offset, "after": after}).encode()).decode()


def search(
    cur: Cursor,
    dialect: Dialect,
    order: OrderBy,
    conditions: Sequence[str],
    args: Sequence[Any],
    limit: int,
    after: dict[str, Any] | None,
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` rows ``(group, value, *RUN_COLUMNS)`` after ``after``, in order."""
    if dialect.name == "postgresql":
        # Starting parallel workers costs more than the walk itself (40-200 ms measured on a
        # busy machine, against 5-15 ms for the whole page). And psycopg prepares a statement
        # run five times, after which PostgreSQL may switch to a generic plan that cannot see
        # the metric key's selectivity and sorts every run (up to 1.5 s measured): plan each.
        cur.execute(
            "SELECT set_config('max_parallel_workers_per_gather', '0', true), "
            "set_config('plan_cache_mode', 'force_custom_plan', true)"
        )
    where = " AND ".join(conditions)
    start_group = after["g"] if after else _NUMBERS
    rows: list[tuple[Any, ...]] = []
    for group in (_NUMBERS, _NANS, _MISSING):
        if group < start_group or len(rows) >= limit:
            continue
        cursor = after if after and group == start_group else None
        rows += _group(cur, group, order, where, args, limit - len(rows), cursor)
    return rows


def _group(
    cur: Cursor,
    group: int,
    order: OrderBy,
    where: str,
    args: Sequence[Any],
    limit: int,
    after: dict[str, Any] | None,
) -> list[tuple[Any, ...]]:
    """One group's rows in order; ``after`` (a cursor in this group) skips what came before."""
    key = order.key
    terms: list[tuple[str, list[Any]]] = []  # (condition, its arguments), in query order
    source = "latest_metrics o JOIN runs r ON r.id = o.run_id"
    value, sort = "NULL", "r.start_time DESC, r.run_uuid"
    if group == _NUMBERS:
        terms.append(("o.key = ? AND o.value IS NOT NULL AND o.is_nan <> 1", [key]))
        direction, cmp = ("", ">") if order.ascending else (" DESC", "<")
        value, sort = "o.value", f"o.value{direction}, {sort}"
    elif group == _NANS:
        terms.append(("o.key = ? AND o.is_nan = 1", [key]))
    else:
        source = "runs r"
        terms.append(
            (
                "NOT EXISTS (SELECT 1 FROM latest_metrics x WHERE x.run_id = r.id AND x.key = ? "
                "AND (x.is_nan = 1 OR x.value IS NOT NULL))",
                [key],
            )
        )
    terms.append((where, list(args)))
    if after is not None:
        t, u = after["t"], after["u"]
        if group == _NUMBERS:
            v = after["v"]
            # The first term bounds the index range; the second is the exact keyset.
            terms.append(
                (
                    f"o.value {cmp}= ? AND (o.value {cmp} ? OR (o.value = ? AND {_TIE_AFTER}))",
                    [v, v, v, t, t, u],
                )
            )
        else:
            terms.append((_TIE_AFTER, [t, t, u]))
    query = (
        f"SELECT {group}, {value}, {sqlc.RUN_COLUMNS} FROM {source} "
        f"WHERE {' AND '.join(sql for sql, _ in terms)} ORDER BY {sort} LIMIT ?"
    )
    cur.execute(query, [a for _, term_args in terms for a in term_args] + [limit])
    return list(cur.fetchall())
