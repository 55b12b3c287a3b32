"""Small SQL helpers shared by the store modules."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

IN_CHUNK = 500


def now_ms() -> int:
    return int(time.time() * 1000)


def marks(items: Sequence[Any]) -> str:
    """``?, ?, ?`` for an IN list of ``items``."""
    return ", ".join("?" * len(items))


def chunks(ids: list[int]) -> Iterable[list[int]]:
    """Split ids for IN lists that stay under every engine's bound-parameter limit."""
    for i in range(0, len(ids), IN_CHUNK):
        yield ids[i : i + IN_CHUNK]


def fetch_many(cur: Any, queries: Sequence[str], args: Sequence[Any]) -> list[list[Any]]:
    """Every query's rows, all run with the same arguments.

    On PostgreSQL they go out together (the cursor's ``fetch_many``: one round trip for all);
    elsewhere one after another.
    """
    together = getattr(cur, "fetch_many", None)
    if together is not None:
        return together(queries, args)  # type: ignore[no-any-return]
    out = []
    for query in queries:
        cur.execute(query, args)
        out.append(cur.fetchall())
    return out
