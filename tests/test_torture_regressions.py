"""Fast versions of what the torture suite (torture/, docs/reliability.md) found, each a fix.

- A PostgreSQL connection lost under the server (the database restarting) answered 500; now a
  503 with ``Retry-After``, and the pool reconnects for the next request.
- A full disk surfaced as SQLite's bare "database or disk is full" or a raw ``ENOSPC``, and left
  a half-copied artifact visible; now an error naming the disk, and no partial file.

The full-disk tests mount a real tmpfs of 2 MB (root, or password-less sudo, as .ci/run has).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from conftest import POSTGRES_URL, postgres_schema, served_store
from traza.disk_full import DiskFull
from traza.entities import Metric
from traza.exceptions import TrazaException
from traza.store.uri import open_store


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs: the disk fills for real, with ENOSPC from the kernel."""
    disk = tmp_path / "disk"
    disk.mkdir()
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run([*sudo, "mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                   check=True)  # fmt: skip
    try:
        yield disk
    finally:
        subprocess.run([*sudo, "umount", "-l", str(disk)], check=True)


def test_sqlite_store_on_a_full_disk_names_the_disk_and_keeps_what_was_written(
    small_disk: Path,
) -> None:
    store = open_store(str(small_disk / "store"))
    run_id = store.create_run("0", "", 1, [], None).info.run_id
    written: list[int] = []
    with pytest.raises(DiskFull) as caught:
        for batch in range(10_000):
            steps = range(batch * 500, (batch + 1) * 500)
            store.log_batch(run_id, [Metric("m", float(s), 1, s) for s in steps], [], [])
            written.extend(steps)
    message = caught.value.message
    assert f"mounted at {small_disk}" in message and "Free space on that disk" in message
    assert caught.value.http_status == 507  # a server answers 507, which clients do not retry
    assert written  # the disk took some batches first
    store.close()
    reopened = open_store(str(small_disk / "store"))  # the disk is still full
    try:
        assert [m.step for m in reopened.get_metric_history(run_id, "m")] == written
    finally:
        reopened.close()


def test_local_artifact_on_a_full_disk_leaves_no_partial_file(
    small_disk: Path, tmp_path: Path
) -> None:
    from traza.artifacts.local import LocalArtifactRepository

    repo = LocalArtifactRepository(str(small_disk / "artifacts"))
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(300_000))
    logged = []
    with pytest.raises(DiskFull) as caught:
        for i in range(100):
            repo.log_artifact(payload, f"f{i}")
            logged.append(f"f{i}")
    assert str(small_disk) in caught.value.message
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "big.bin").write_bytes(os.urandom(300_000))
    with pytest.raises(DiskFull):
        repo.log_artifacts(folder, "folder")
    files = sorted(p for p in (small_disk / "artifacts").rglob("*") if p.is_file())
    assert [p.parent.name for p in files] == sorted(logged)  # whole files only, no leftovers
    assert {p.stat().st_size for p in files} == {300_000}


def _drop_connections(application_name: str) -> int:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchall()
    return len(rows)


def test_postgres_connection_lost_is_503_with_retry_after_then_reconnects() -> None:
    name = f"traza_torture_{uuid.uuid4().hex[:8]}"
    with postgres_schema() as url:
        backend = open_store(f"{url}&application_name={name}")
        try:
            backend.create_experiment("before")
            assert _drop_connections(name) >= 1  # what a restart does to the pool's connections
            with pytest.raises(TrazaException) as caught:
                backend.get_experiment_by_name("before")
            assert caught.value.error_code == "TEMPORARILY_UNAVAILABLE"
            assert "unavailable" in caught.value.message and "retry" in caught.value.message
            assert backend.get_experiment_by_name("before") is not None  # reconnected

            with served_store(backend) as server:
                get = f"{server}/api/2.0/mlflow/experiments/get-by-name?experiment_name=before"
                assert _drop_connections(name) >= 1
                statuses = []
                for _ in range(10):
                    try:
                        with urllib.request.urlopen(get, timeout=60) as response:
                            statuses.append(response.status)
                            break
                    except urllib.error.HTTPError as e:
                        statuses.append(e.code)
                        assert e.headers["Retry-After"] == "1"
                assert statuses[-1] == 200 and set(statuses[:-1]) <= {503}, statuses
                assert 503 in statuses
        finally:
            backend.close()


def test_postgres_processes_opening_a_new_database_at_once_create_the_schema_once() -> None:
    """Racing first opens of a fresh PostgreSQL database failed with a duplicate pg_type key
    (``CREATE TABLE IF NOT EXISTS`` is not safe against itself); they now queue on a lock."""
    import threading

    with postgres_schema() as url:
        barrier = threading.Barrier(12)
        errors: list[str] = []
        stores = []

        def open_new() -> None:
            barrier.wait()
            try:
                stores.append(open_store(url))
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")

        threads = [threading.Thread(target=open_new) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            assert errors == []
            with stores[0].db.read() as cur:  # type: ignore[attr-defined]
                cur.execute("SELECT count(*), count(DISTINCT name) FROM traza_migrations")
                total, distinct = cur.fetchone()
            from traza.store.sql.schema import MIGRATIONS

            assert total == distinct == len(MIGRATIONS)
            assert [e.experiment_id for e in stores[0].search_experiments()] == ["0"]
        finally:
            for store in stores:
                store.close()


def test_opening_a_store_retries_a_lock_sqlite_refuses_without_waiting(tmp_path: Path) -> None:
    """Among many processes opening a new SQLite store at once, SQLite now and then refused a
    connection's switch to WAL at once, without its busy handler ("database is locked": the
    torture suite's 24 starters). The opening statements are retried until the busy timeout.
    Here a connection whose own busy timeout is 0 stands for such a refusal: another holds the
    database exclusively for 0.3 s."""
    import sqlite3
    import threading

    from traza.store.sql.db import _retry_while_locked

    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        opener.execute("PRAGMA journal_mode=WAL")  # refused at once, as in the torture runs
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    started = time.monotonic()
    _retry_while_locked(opener, "PRAGMA journal_mode=WAL", time.monotonic() + 10)
    assert opener.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert 0.25 < time.monotonic() - started < 5
    holder.execute("BEGIN EXCLUSIVE")  # and a lock never released ends at the deadline
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _retry_while_locked(opener, "CREATE TABLE t (x)", time.monotonic() + 0.2)
    holder.execute("COMMIT")
    holder.close()
    opener.close()
