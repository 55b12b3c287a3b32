"""Connections and transactions: one short transaction per call or batch, pragmas set in one place.

A :class:`Database` hands out a cursor inside ``write()`` (a write transaction taken up front, so
concurrent writers queue on the lock instead of failing half-way) or ``read()`` (a snapshot).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from traza.store.sql.dialect import SQLITE, Dialect
from traza.store.waiting import WouldBlock, first_write_must_not_wait

#: Seconds a write waits for another process's write lock before SQLite gives up.
BUSY_TIMEOUT = 60.0

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # With WAL, NORMAL keeps every committed transaction across a process crash; only a power
    # loss can take the last ones back.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}",
    "PRAGMA case_sensitive_like=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-32000",
    "PRAGMA wal_autocheckpoint=4000",
)


class Cursor(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


class Database(Protocol):
    dialect: Dialect

    def write(self) -> Any: ...

    def read(self) -> Any: ...

    def table_names(self) -> set[str]: ...

    def close(self) -> None: ...


_open_databases: weakref.WeakSet[SqliteDatabase] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    # A connection must never cross a fork: the child opens its own on first use.
    for db in list(_open_databases):
        db._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_connections_after_fork)


def _retry_while_locked(conn: sqlite3.Connection, statement: str, deadline: float) -> None:
    """Run ``statement``, retrying while the database is locked until ``deadline``.

    SQLite refuses some lock requests at once, without its busy handler, where waiting could
    deadlock: among many processes opening a new store together (the torture suite's 24), a
    switch to WAL was refused that way now and then ("database is locked"). Waiting a little
    and asking again is what the busy handler would have done.
    """
    pause = 0.005
    while True:
        try:
            conn.execute(statement)
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause * (1 + random.random()))
        pause = min(pause * 2, 0.25)


class SqliteDatabase:
    """One connection per process, serialised by a lock; SQLite's WAL lets processes share."""

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        _open_databases.add(self)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT
        )
        try:
            deadline = time.monotonic() + BUSY_TIMEOUT
            for pragma in SQLITE_PRAGMAS:
                _retry_while_locked(conn, pragma, deadline)
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Cursor]:
        from traza.disk_full import disk_full_reported

        refuse_if_locked = first_write_must_not_wait()
        if not self._lock.acquire(blocking=not refuse_if_locked):
            raise WouldBlock
        try:
            with disk_full_reported(self.path, "this write (rolled back)"):
                conn = self.connection
                cur = conn.cursor()
                if refuse_if_locked:
                    self._begin_without_waiting(cur)
                else:
                    cur.execute(self.dialect.begin_write)
                try:
                    yield cur
                except BaseException:
                    conn.rollback()
                    raise
                else:
                    cur.execute("COMMIT")
        finally:
            self._lock.release()

    def _begin_without_waiting(self, cur: sqlite3.Cursor) -> None:
        """Take the database's write lock now, or raise :class:`WouldBlock`."""
        cur.execute("PRAGMA busy_timeout = 0")
        try:
            cur.execute(self.dialect.begin_write)
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise WouldBlock from None
            raise
        finally:
            cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            conn = self.connection
            cur = conn.cursor()
            cur.execute("BEGIN")
            try:
                yield cur
            finally:
                conn.rollback()

    def table_names(self) -> set[str]:
        with self.read() as cur:
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {row[0] for row in cur.fetchall()}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _reset_after_fork(self) -> None:
        self._lock = threading.RLock()
        self._conn = None
