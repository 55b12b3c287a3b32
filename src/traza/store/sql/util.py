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
