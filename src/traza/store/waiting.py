"""Writes that must not wait for a lock: the server's event-loop shortcut.

The server answers a short request on its event loop when nothing else is in flight (a thread
hop costs more than the request). A SQLite write there that found another process holding the
database's write lock (a second worker, ``traza gc``, an import) would hold the whole worker,
``/health`` included, for up to the busy timeout (60 s). Inside :func:`no_waiting` the
request's first write transaction is refused with :class:`WouldBlock` instead of waiting, before
anything is written, and the server reruns the request on a thread, where waiting is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_NO_WAIT: ContextVar[bool] = ContextVar("traza_no_wait", default=False)


class WouldBlock(Exception):
    """The first write of a request found the store locked; nothing was written."""


@contextmanager
def no_waiting() -> Iterator[None]:
    token = _NO_WAIT.set(True)
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


def first_write_must_not_wait() -> bool:
    """True once per :func:`no_waiting` block, for its first write: later writes of the same
    request come after a committed one, so the request could not be rerun; they wait."""
    if not _NO_WAIT.get():
        return False
    _NO_WAIT.set(False)
    return True
