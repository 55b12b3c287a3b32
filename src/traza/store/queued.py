"""A bounded background queue in front of a remote store: no round trip per logged point.

Logging calls (``log_batch``, ``log_metric``, ``log_param``, ``set_tag``) are checked, queued
and return at once; one thread drains the queue into ``log-batch`` requests within MLflow's
limits. Every other call first waits for the queue to drain, so reads see what was logged.

Nothing is dropped silently. A batch the server rejects is split (params, tags and metrics
apart, then halved down to the offending entries), so one bad key or a param conflict never
takes the other points down with it; the rejection is raised at the next call through this
store (or by ``flush()``), naming the key. A full queue makes callers wait.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

from traza.entities import Metric, Param, RunTag
from traza.exceptions import TrazaException
from traza.store.base import Store
from traza.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
    validate_entities,
)

#: Entities (points, params, tags) that may wait in the queue before callers block.
MAX_PENDING = 100_000
_CLIENT_ERRORS = frozenset({"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST"})

_live: weakref.WeakSet[QueuedStore] = weakref.WeakSet()

_Item = tuple[str, Sequence[Metric], Sequence[Param], Sequence[RunTag]]


class QueuedStore(Store):
    def __init__(self, inner: Store, max_pending: int = MAX_PENDING) -> None:
        self.inner = inner
        self.max_pending = max_pending
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._items: deque[_Item] = deque()
        self._pending = 0  # entities queued or being sent
        self._errors: list[str] = []
        self._thread: threading.Thread | None = None

    # -- queued logging ----------------------------------------------------------------------
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        self._raise_errors()
        validate_entities(metrics, params, tags)
        count = len(metrics) + len(params) + len(tags)
        if not count:
            return
        with self._lock_for_this_process():
            while self._pending and self._pending + count > self.max_pending:
                self._cond.wait()
            self._items.append((run_id, tuple(metrics), tuple(params), tuple(tags)))
            self._pending += count
            self._ensure_worker()
            self._cond.notify_all()

    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=(metric,))

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, params=(param,))

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, tags=(tag,))

    def flush(self) -> None:
        """Wait until everything queued has been sent; raise what the server rejected."""
        with self._lock_for_this_process():
            while self._pending:
                self._cond.wait()
        self._raise_errors()

    # -- the worker --------------------------------------------------------------------------
    def _lock_for_this_process(self) -> threading.Condition:
        if self._pid != os.getpid():  # forked: the parent's queue and thread are not ours
            self._reset()
        return self._cond

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="traza-logging", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._items:
                    self._cond.wait()
                items = list(self._items)
                self._items.clear()
            sent = 0
            for run_id, metrics, params, tags in _by_run(items):
                try:
                    self._send(run_id, metrics, params, tags)
                except BaseException as e:  # never let the worker die with entities pending
                    self._record(f"could not log to run {run_id}: {e}")
                sent += len(metrics) + len(params) + len(tags)
            with self._cond:
                self._pending -= sent
                self._cond.notify_all()

    def _send(
        self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]
    ) -> None:
        """Everything queued for one run, in batches within MLflow's limits."""
        while metrics or params or tags:
            p, params = params[:MAX_PARAMS_TAGS_PER_BATCH], params[MAX_PARAMS_TAGS_PER_BATCH:]
            t, tags = tags[:MAX_PARAMS_TAGS_PER_BATCH], tags[MAX_PARAMS_TAGS_PER_BATCH:]
            room = min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(p) - len(t))
            m, metrics = metrics[:room], metrics[room:]
            self._deliver(run_id, m, p, t)

    def _deliver(
        self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]
    ) -> None:
        """Send a batch; if the server rejects it, split it until only what it refuses is left.

        Params, tags and metrics are tried apart first (a param conflict must not cost the
        metrics beside it), then a rejected list is halved down to its offending entries.
        """
        if not (metrics or params or tags):
            return
        try:
            self.inner.log_batch(run_id, metrics, params, tags)
            return
        except TrazaException as e:
            if e.error_code not in _CLIENT_ERRORS:  # unreachable in time: splitting won't help
                n = len(metrics) + len(params) + len(tags)
                self._record(f"{n} entries for run {run_id} were not logged: {e.message}")
                return
            if len(metrics) + len(params) + len(tags) == 1:
                self._record(e.message)
                return
        if sum(1 for kind in (metrics, params, tags) if kind) > 1:
            self._deliver(run_id, metrics, [], [])
            self._deliver(run_id, [], params, [])
            self._deliver(run_id, [], [], tags)
            return
        items: list[Any] = metrics or params or tags
        for half in (items[: len(items) // 2], items[len(items) // 2 :]):
            batch = (half, [], []) if metrics else ([], half, []) if params else ([], [], half)
            self._deliver(run_id, *batch)

    def _record(self, message: str) -> None:
        with self._cond:
            self._errors.append(message)

    def _raise_errors(self) -> None:
        with self._cond:
            errors, self._errors = self._errors, []
        if errors:
            more = f" (and {len(errors) - 1} more: {'; '.join(errors[1:4])})" if errors[1:] else ""
            raise TrazaException(
                f"Logging in the background failed: {errors[0]}{more}",
                error_code="INVALID_PARAMETER_VALUE",
            )


def _by_run(items: list[_Item]) -> list[tuple[str, list[Metric], list[Param], list[RunTag]]]:
    """Merge queued items per run, keeping their order."""
    merged: dict[str, tuple[list[Metric], list[Param], list[RunTag]]] = {}
    for run_id, metrics, params, tags in items:
        group = merged.setdefault(run_id, ([], [], []))
        group[0].extend(metrics)
        group[1].extend(params)
        group[2].extend(tags)
    return [(run_id, *group) for run_id, group in merged.items()]


def _forward(name: str) -> Any:
    """A Store method that waits for the queue, then calls the inner store."""

    def method(self: QueuedStore, *args: Any, **kwargs: Any) -> Any:
        # The call itself happens either way (end_run still ends the run); a rejection from
        # the queue is raised after it.
        with self._lock_for_this_process():
            while self._pending:
                self._cond.wait()
        result = getattr(self.inner, name)(*args, **kwargs)
        self._raise_errors()
        return result

    method.__name__ = name
    return method


_QUEUED = {"log_batch", "log_metric", "log_param", "set_tag", "flush"}
#: Optional Store methods (with a refusing default) that the inner store may implement.
_OPTIONAL = {"ingest"}
_PASS_THROUGH = frozenset(
    name for name in getattr(Store, "__abstractmethods__", ()) if name not in _QUEUED
) | frozenset(_OPTIONAL)
for _name in _PASS_THROUGH:
    setattr(QueuedStore, _name, _forward(_name))
QueuedStore.__abstractmethods__ = frozenset()


def _flush_all_at_exit() -> None:
    for store in list(_live):
        if store._pid != os.getpid():
            continue
        try:
            store.flush()
        except Exception as e:
            print(f"traza: {e}", file=sys.stderr)


atexit.register(_flush_all_at_exit)
