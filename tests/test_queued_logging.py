"""Traza's client against a live server: logging goes through the background queue.

What is checked is what a user relies on: every point arrives, a rejection is raised at the next
call naming the key, and the other points sent beside it are not lost.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import traza
from conftest import served_store
from traza.entities import Metric, Param
from traza.exceptions import TrazaException
from traza.store.queued import QueuedStore
from traza.store.rest import RestStore
from traza.store.uri import cached_store, open_store


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    backend = open_store(str(tmp_path / "store"))
    with served_store(backend, tmp_path / "dest") as url:
        traza.set_tracking_uri(url)
        yield url, backend


def test_the_client_queues_in_front_of_a_server(served: tuple[str, Any]) -> None:
    url, _ = served
    store = cached_store(url)
    assert isinstance(store, QueuedStore) and isinstance(store.inner, RestStore)
    assert traza.TrazaClient().store is store  # one queue per process, shared


def test_every_point_arrives_in_order(served: tuple[str, Any]) -> None:
    _, backend = served
    with traza.start_run() as run:
        for step in range(5000):
            traza.log_metric("loss", 1 / (step + 1), step=step)
        traza.log_params({"lr": 0.1, "layers": 3})
        traza.set_tags({"team": "nlp"})
    history = backend.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(5000))
    stored = backend.get_run(run.info.run_id)
    assert stored.data.params == {"lr": "0.1", "layers": "3"}
    assert stored.data.tags["team"] == "nlp" and stored.info.status == "FINISHED"


def test_reads_see_what_was_logged(served: tuple[str, Any]) -> None:
    with traza.start_run() as run:
        traza.log_metric("m", 2.0)
        assert traza.get_run(run.info.run_id).data.metrics == {"m": 2.0}


def test_a_param_conflict_is_raised_at_the_next_call_and_keeps_the_rest(
    served: tuple[str, Any],
) -> None:
    _, backend = served
    with traza.start_run() as run:
        traza.log_param("lr", 0.1)
        traza.flush_async_logging()
        traza.log_param("lr", 0.2)  # rejected by the server, in the background
        traza.log_metric("kept", 1.0)
        traza.log_param("other", "x")
        with pytest.raises(TrazaException, match="'lr'") as e:
            traza.flush_async_logging()
        assert "Changing param values is not allowed" in e.value.message
        traza.flush_async_logging()  # reported once, not again
    stored = backend.get_run(run.info.run_id)
    assert stored.data.params == {"lr": "0.1", "other": "x"}
    assert stored.data.metrics == {"kept": 1.0}


def test_a_rejection_is_raised_by_end_run_which_still_ends_the_run(
    served: tuple[str, Any],
) -> None:
    _, backend = served
    run = traza.start_run()
    traza.log_param("p", "a")
    traza.flush_async_logging()
    traza.log_param("p", "b")
    traza.log_metric("m", 3.0)
    with pytest.raises(TrazaException, match="'p'"):
        traza.end_run()
    stored = backend.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED" and stored.data.metrics == {"m": 3.0}


def test_one_bad_point_among_many_is_isolated(served: tuple[str, Any]) -> None:
    """Points the server refuses (a deleted run's) are reported; the others still land."""
    _, backend = served
    client = traza.TrazaClient()
    live = client.create_run("0").info.run_id
    gone = client.create_run("0").info.run_id
    client.delete_run(gone)
    points = [Metric("m", float(i), 1, i) for i in range(300)]
    client.log_batch(live, metrics=points[:150])
    client.log_batch(gone, metrics=points[150:])
    client.log_batch(live, params=[Param("after", "1")])
    with pytest.raises(TrazaException, match=gone):
        client.flush()
    assert len(backend.get_metric_history(live, "m")) == 150
    assert backend.get_run(live).data.params == {"after": "1"}


def test_bad_input_fails_at_the_call(served: tuple[str, Any]) -> None:
    with traza.start_run():
        with pytest.raises(TrazaException, match="Invalid metric name"):
            traza.log_metric("bad!key", 1.0)
        with pytest.raises(TrazaException, match="the limit is 6000"):
            traza.log_param("long", "x" * 7000)


def test_synchronous_waits_and_raises(served: tuple[str, Any]) -> None:
    with traza.start_run() as run:
        traza.log_param("p", 1)
        traza.TrazaClient().log_param(run.info.run_id, "p", 1, synchronous=True)
        with pytest.raises(TrazaException, match="'p'"):
            traza.TrazaClient().log_param(run.info.run_id, "p", 2, synchronous=True)
        op = traza.log_metric("m", 1.0, synchronous=False)
        op.wait()
        assert traza.get_run(run.info.run_id).data.metrics == {"m": 1.0}


def test_a_full_queue_makes_callers_wait_and_loses_nothing(served: tuple[str, Any]) -> None:
    url, backend = served
    store = QueuedStore(RestStore(url), max_pending=50)
    run_id = store.create_run("0", "u", 1, [], None).info.run_id
    for step in range(2000):
        store.log_metric(run_id, Metric("m", float(step), 1, step))
    store.flush()
    assert [m.step for m in backend.get_metric_history(run_id, "m")] == list(range(2000))
    store.close()


EXITING_SCRIPT = """
import sys, traza
traza.set_tracking_uri(sys.argv[1])
run = traza.start_run()
for step in range(3000):
    traza.log_metric("m", float(step), step=step)
print(run.info.run_id)
"""


def test_interpreter_exit_flushes_the_queue(served: tuple[str, Any], tmp_path: Path) -> None:
    url, backend = served
    script = tmp_path / "exits.py"
    script.write_text(EXITING_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert len(backend.get_metric_history(run_id, "m")) == 3000
    assert backend.get_run(run_id).info.status == "FINISHED"
