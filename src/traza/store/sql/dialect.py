"""What differs between the SQL engines Traza speaks: DDL types, placeholders, LIKE."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Dialect:
    name: str
    #: DDL for an auto-incrementing integer primary key.
    serial_pk: str
    #: Suffix for tables keyed by their primary key alone (SQLite's WITHOUT ROWID).
    without_rowid: str
    #: Statement that starts a transaction that will write.
    begin_write: str
    #: Placeholder used by the driver, if not ``?``.
    placeholder: str = "?"

    def ddl(self, statement: str) -> str:
        return statement.format(serial_pk=self.serial_pk, without_rowid=self.without_rowid)

    def sql(self, statement: str) -> str:
        """Translate a ``?``-placeholder statement for this driver."""
        if self.placeholder == "?":
            return statement
        return _translate(statement, self.placeholder)

    def like(self, column: str) -> str:
        """Case-sensitive LIKE (SQLite connections set ``case_sensitive_like``)."""
        return f"{column} LIKE ?"

    def ilike(self, column: str) -> str:
        if self.name == "postgresql":
            return f"{column} ILIKE ?"
        return f"lower({column}) LIKE lower(?)"


@lru_cache(maxsize=512)
def _translate(statement: str, placeholder: str) -> str:
    return statement.replace("%", "%%").replace("?", placeholder)


SQLITE = Dialect(
    name="sqlite",
    serial_pk="INTEGER PRIMARY KEY",
    without_rowid=" WITHOUT ROWID",
    begin_write="BEGIN IMMEDIATE",
)
