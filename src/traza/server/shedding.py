"""Load shedding: a worker answers 503 with ``Retry-After`` when it is full, instead of timing out.

Each worker process handles at most ``max_in_flight`` requests at once; up to ``max_queued``
more wait (first come, first served) at most ``queue_timeout`` seconds for a slot. A request that
finds the queue full, or waits too long, gets ``503 Service Unavailable`` with ``Retry-After``
at once: clients (Traza's and MLflow's) back off and retry, and the requests the server took
keep their latency instead of every request slowing until the clients' own timeouts fire.

The common path costs a comparison and two integer updates; ``max_in_flight = 0`` turns the
layer off. ``/health`` and ``/version`` are always answered, so a load balancer does not take
a busy worker for a dead one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from traza.server import wire

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

SHED_CODE = "TEMPORARILY_UNAVAILABLE"


class LoadShedder:
    """The outermost layer of a worker: admit, queue or refuse each HTTP request."""

    def __init__(
        self,
        app: App,
        max_in_flight: int,
        max_queued: int,
        queue_timeout: float,
        retry_after: int,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.queue_timeout = queue_timeout
        self.exempt = exempt
        self.in_flight = 0
        #: Waiting requests; a finished request hands its slot to the first one still waiting.
        self.waiters: deque[asyncio.Future[None]] = deque()
        #: Requests refused since the worker started (read by tests and the torture suite).
        self.shed = 0
        self._body = wire.error_body(
            SHED_CODE,
            f"The server is busy (more than {max_in_flight} requests in progress on this worker "
            f"and {max_queued} waiting). Retry after {retry_after} s; Traza's and MLflow's "
            "clients do so by themselves.",
        )
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"retry-after", str(retry_after).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight < self.max_in_flight:
            self.in_flight += 1
        elif not await self._wait():
            self.shed += 1
            await self._refuse(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _wait(self) -> bool:
        """Queue for a slot; true once one was handed over, false if refused or timed out."""
        if len(self.waiters) >= self.max_queued or self.queue_timeout <= 0:
            return False
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(slot)
        try:
            await asyncio.wait((slot,), timeout=self.queue_timeout)
        except BaseException:  # cancelled while waiting: give back a slot handed meanwhile
            if self._leave(slot):
                self._release()
            raise
        return self._leave(slot)

    def _leave(self, slot: asyncio.Future[None]) -> bool:
        """Stop waiting; true when the slot was handed over (the caller then owns it)."""
        if slot.done() and not slot.cancelled():
            return True
        slot.cancel()
        with contextlib.suppress(ValueError):  # handed over and popped, or never queued
            self.waiters.remove(slot)
        return False

    def _release(self) -> None:
        while self.waiters:
            slot = self.waiters.popleft()
            if not slot.done():
                slot.set_result(None)  # the slot passes on: in_flight stays as it is
                return
        self.in_flight -= 1

    async def _refuse(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": self._headers})
        await send({"type": "http.response.body", "body": self._body})


def shed(app: App, settings: Any, prefix: str = "") -> App:
    """``app`` behind a :class:`LoadShedder` as ``settings`` configure it (off at 0)."""
    if settings.max_in_flight <= 0:
        return app
    exempt = frozenset(f"{prefix}{p}" for p in ("/health", "/version"))
    return LoadShedder(
        app,
        settings.max_in_flight,
        settings.max_queued,
        settings.queue_timeout,
        settings.retry_after,
        exempt,
    )
