"""PostgreSQL for the SQL store (psycopg 3): the same schema, migrations and queries as SQLite.

Statements are written with ``?`` placeholders; the cursor wrapper translates them for psycopg.
One connection per process, serialised by a lock (a pool for many server threads is the
tracking server's concern).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from traza.exceptions import TrazaException
from traza.store.sql.dialect import POSTGRESQL


class _Cursor:
    """A psycopg cursor that speaks the store's ``?`` placeholders."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(POSTGRESQL.sql(sql), parameters or None)

    def executemany(self, sql: str, seq_of_parameters: Any) -> Any:
        rows = list(seq_of_parameters)
        if rows:
            self._cursor.executemany(POSTGRESQL.sql(sql), rows)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


class PostgresDatabase:
    dialect = POSTGRESQL

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._conn: Any = None

    @property
    def connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            try:
                import psycopg
            except ImportError:
                raise TrazaException(
                    "PostgreSQL stores need psycopg: pip install 'traza[postgres]'",
                    error_code="INVALID_PARAMETER_VALUE",
                ) from None
            try:
                self._conn = psycopg.connect(_libpq_url(self.url), autocommit=True)
            except psycopg.OperationalError as e:
                raise TrazaException(
                    f"Cannot connect to the PostgreSQL store {_redacted(self.url)}: {e}".strip(),
                    error_code="TEMPORARILY_UNAVAILABLE",
                ) from None
        return self._conn

    @contextmanager
    def write(self) -> Iterator[_Cursor]:
        with self._lock, self.connection.transaction(), self.connection.cursor() as cur:
            yield _Cursor(cur)

    @contextmanager
    def read(self) -> Iterator[_Cursor]:
        with self._lock, self.connection.transaction(), self.connection.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield _Cursor(cur)

    def table_names(self) -> set[str]:
        with self.read() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
            return {row[0] for row in cur.fetchall()}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _libpq_url(url: str) -> str:
    """``postgresql+psycopg://`` (SQLAlchemy's spelling, which MLflow users have) → libpq's."""
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"
