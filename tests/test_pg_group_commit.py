"""Concurrent metric batches on PostgreSQL share one commit (``store/sql/pg_group_commit.py``):
who waits for whom, that a group failing falls back to each batch alone, and, against a real
PostgreSQL, that many threads logging at once store every point once with right summaries."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from tests.conftest import postgres_schema

from traza.entities import Metric
from traza.exceptions import TrazaException
from traza.store.sql.pg_group_commit import GroupCommit
from traza.store.sql.store import SqlStore
from traza.store.uri import open_store


class _Recorder:
    """``alone``/``together`` that record what they were given; the first ``alone`` holds until
    released, so the writers that arrive meanwhile must queue."""

    def __init__(self, fail_together: bool = False) -> None:
        self.alone_calls: list[str] = []
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.fail_together = fail_together

    def alone(self, run_id: str, rows: Any) -> tuple[str | None, int]:
        if not self.alone_calls:
            self.alone_calls.append(run_id)
            self.release.wait(10)
        else:
            self.alone_calls.append(run_id)
        if run_id == "bad":
            raise TrazaException("bad run", error_code="INVALID_PARAMETER_VALUE")
        return ("active", len(rows))

    def together(self, batches: list[tuple[str, Any]]) -> list[tuple[str | None, int]]:
        self.groups.append([run_id for run_id, _ in batches])
        if self.fail_together:
            raise RuntimeError("a clash")
        return [("active", len(rows)) for _, rows in batches]


def _start(writer: GroupCommit, run_id: str, results: dict[str, Any]) -> threading.Thread:
    def body() -> None:
        try:
            results[run_id] = writer.write(run_id, [("k", 0, 0, 1.0, 0, None, None, None)])
        except TrazaException as e:
            results[run_id] = e

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def _queued(writer: GroupCommit, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(writer._queued) < count:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def _while_a_writes(
    recorder: _Recorder, others: tuple[str, ...]
) -> tuple[GroupCommit, dict[str, Any]]:
    """Writer "a" starts alone and holds; ``others`` queue meanwhile; then all finish."""
    writer = GroupCommit(recorder.alone, recorder.together)
    results: dict[str, Any] = {}
    first = _start(writer, "a", results)
    while not recorder.alone_calls:
        time.sleep(0.005)
    threads = [_start(writer, name, results) for name in others]
    _queued(writer, len(others))
    recorder.release.set()
    for thread in [first, *threads]:
        thread.join(10)
    return writer, results


def test_writers_that_arrive_while_one_writes_go_together() -> None:
    recorder = _Recorder()
    writer, results = _while_a_writes(recorder, ("b", "c", "d"))
    assert recorder.alone_calls == ["a"]
    assert [sorted(g) for g in recorder.groups] == [["b", "c", "d"]]
    assert results == {name: ("active", 1) for name in "abcd"}
    assert writer.shared == 1


def test_a_group_that_fails_writes_each_alone_and_errors_stay_their_own() -> None:
    recorder = _Recorder(fail_together=True)
    writer, results = _while_a_writes(recorder, ("b", "bad", "d"))
    assert len(recorder.groups) == 1 and writer.shared == 0
    assert sorted(recorder.alone_calls) == ["a", "b", "bad", "d"]
    assert isinstance(results.pop("bad"), TrazaException)
    assert results == {name: ("active", 1) for name in "abd"}


@pytest.mark.parametrize("resend", [False, True])
def test_many_threads_logging_at_once_store_every_point_once(resend: bool) -> None:
    threads, batches = 8, 40
    with postgres_schema() as url:
        store = open_store(url)
        assert isinstance(store, SqlStore)
        try:
            runs = [store.create_run("0", "u", 0, [], f"r{i}").info.run_id for i in range(threads)]
            deleted = store.create_run("0", "u", 0, [], "gone").info.run_id
            store.delete_run(deleted)
            errors: list[str] = []

            def log(run_id: str) -> None:
                for b in range(batches):
                    points = [Metric(f"k{k}", b + k / 10, 1000 + b, b) for k in range(5)]
                    store.log_batch(run_id, metrics=points)
                    if resend and b % 10 == 0:  # the answer was lost: the client sends it again
                        store.log_batch(run_id, metrics=points)
                for _ in range(3):
                    try:
                        store.log_batch(deleted, metrics=[Metric("x", 1.0, 1, 0)])
                    except TrazaException as e:
                        errors.append(e.error_code)

            workers = [threading.Thread(target=log, args=(run_id,)) for run_id in runs]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(120)
            # A deleted run refuses its writes as it does alone, whatever group they were in.
            assert errors == ["INVALID_PARAMETER_VALUE"] * (3 * threads)
            for run_id in runs:
                history = store.get_metric_history(run_id, "k3")
                assert [(m.step, m.value) for m in history] == [
                    (b, b + 0.3) for b in range(batches)
                ]
                summaries = {s.key: s for s in store.get_metric_summaries(run_id)}
                assert summaries["k3"].count == batches
                assert store.get_run(run_id).data.metrics["k0"] == batches - 1
            assert store.get_metric_history(deleted, "x") == []
            assert store._group_commit is not None and store._group_commit.shared > 0
        finally:
            store.close()
