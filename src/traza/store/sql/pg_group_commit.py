"""Concurrent metric writes on PostgreSQL share one commit.

Each ``log_batch`` is one statement in its own transaction, and each commit waits for
PostgreSQL to flush its WAL to disk. With several training jobs logging through one server the
flushes, not the CPU, set the pace: four clients reached 773 requests/s with the CPU 64% busy,
1,190/s at 82% when commits did not wait for the disk. Here a write that arrives while another
thread of this process is writing waits for it, and the next writer takes every batch that
queued meanwhile into one transaction: one flush for all. No one is answered before the commit
that holds their points, so nothing acknowledged can be lost; a writer alone writes at once.

A group is written with each batch's plain first statement; if any fails (a batch resent after
a lost answer clashes with its stored points, or the connection drops), the transaction rolls
back and every batch of the group is written alone, as it would have been without the group.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Outcome = tuple[str | None, int]
Rows = list[tuple[Any, ...]]


class _Pending:
    __slots__ = ("done", "error", "outcome", "rows", "run_id")

    def __init__(self, run_id: str, rows: Rows) -> None:
        self.run_id, self.rows = run_id, rows
        self.outcome: Outcome = (None, 0)
        self.error: BaseException | None = None
        self.done = False


class GroupCommit:
    """Writes metric batches, sharing one transaction among those that arrive together."""

    def __init__(
        self,
        alone: Callable[[str, Rows], Outcome],
        together: Callable[[list[tuple[str, Rows]]], list[Outcome]],
    ) -> None:
        self._alone, self._together = alone, together
        self._cond = threading.Condition()
        self._queued: list[_Pending] = []
        self._writing = False
        #: Transactions that held more than one batch (for tests and benchmarks).
        self.shared = 0

    def write(self, run_id: str, rows: Rows) -> Outcome:
        mine = _Pending(run_id, rows)
        with self._cond:
            self._queued.append(mine)
            while self._writing and not mine.done:
                self._cond.wait()
            if not mine.done:
                self._writing = True
                group, self._queued = self._queued, []
        if not mine.done:
            try:
                self._write(group)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.outcome

    def _write(self, group: list[_Pending]) -> None:
        if len(group) > 1:
            try:
                outcomes = self._together([(p.run_id, p.rows) for p in group])
            except Exception:
                pass  # each alone below, where a clash or an error is its own
            else:
                self.shared += 1
                for pending, outcome in zip(group, outcomes, strict=True):
                    pending.outcome, pending.done = outcome, True
                return
        for pending in group:
            try:
                pending.outcome = self._alone(pending.run_id, pending.rows)
            except BaseException as e:
                pending.error = e
            pending.done = True
