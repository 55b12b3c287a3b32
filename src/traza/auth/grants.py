"""Grants of MLflow's permission levels to users, on experiments and registered models, in SQL.

The rows live in the store's ``auth_experiment_permissions`` and
``auth_registered_model_permissions`` tables (migration ``0007_auth``); every change bumps
``auth_version`` so each server worker's permission cache notices it within its poll interval.
Searches filter by the same tables in SQL (:mod:`traza.auth.visibility`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from traza.auth.principal import Permission
from traza.auth.visibility import EXPERIMENT_TABLE, MODEL_TABLE
from traza.exceptions import invalid, not_found
from traza.store.sql.db import Cursor, Database


class Kind:
    """What a grant is on: the table and the column naming the resource."""

    EXPERIMENT = (EXPERIMENT_TABLE, "experiment_id")
    REGISTERED_MODEL = (MODEL_TABLE, "name")


def _key(kind: tuple[str, str], key: str) -> Any:
    if kind is Kind.EXPERIMENT:
        try:
            return int(key)
        except (TypeError, ValueError):
            raise invalid(f"Invalid experiment id {key!r}: give a number.") from None
    return key


def bump_version(cur: Cursor) -> None:
    """Tell every worker's cache that users, tokens or grants changed."""
    cur.execute("UPDATE auth_version SET version = version + 1 WHERE id = 1")


def read_version(db: Database) -> int:
    with db.read() as cur:
        cur.execute("SELECT version FROM auth_version WHERE id = 1")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def get_grant(db: Database, kind: tuple[str, str], key: str, user_id: int) -> Permission | None:
    """The level granted to ``user_id`` on one resource, or ``None`` without a grant."""
    table, column = kind
    with db.read() as cur:
        cur.execute(
            f"SELECT permission FROM {table} WHERE {column} = ? AND user_id = ?",
            (_key(kind, key), user_id),
        )
        row = cur.fetchone()
    return Permission(row[0]) if row else None


def grants_on(
    db: Database, kind: tuple[str, str], keys: Sequence[str], user_id: int
) -> dict[str, Permission]:
    """The user's grants on each of ``keys`` that has one (one query)."""
    if not keys:
        return {}
    table, column = kind
    values = [_key(kind, k) for k in keys]
    with db.read() as cur:
        cur.execute(
            f"SELECT {column}, permission FROM {table} WHERE user_id = ? AND "
            f"{column} IN ({', '.join('?' * len(values))})",
            [user_id, *values],
        )
        return {str(k): Permission(p) for k, p in cur.fetchall()}


def set_grant(
    db: Database, kind: tuple[str, str], key: str, user_id: int, permission: Permission
) -> None:
    """Grant ``permission`` (replacing any grant the user had on the resource)."""
    table, column = kind
    with db.write() as cur:
        cur.execute(
            f"INSERT INTO {table} ({column}, user_id, permission) VALUES (?, ?, ?) "
            f"ON CONFLICT ({column}, user_id) DO UPDATE SET permission = excluded.permission",
            (_key(kind, key), user_id, permission.value),
        )
        bump_version(cur)


def create_grant(
    db: Database, kind: tuple[str, str], key: str, user_id: int, permission: Permission
) -> None:
    """A new grant; one that exists already is RESOURCE_ALREADY_EXISTS (MLflow's create)."""
    from traza.exceptions import RESOURCE_ALREADY_EXISTS, TrazaException

    table, column = kind
    with db.write() as cur:
        cur.execute(
            f"INSERT INTO {table} ({column}, user_id, permission) VALUES (?, ?, ?) "
            f"ON CONFLICT ({column}, user_id) DO NOTHING RETURNING user_id",
            (_key(kind, key), user_id, permission.value),
        )
        if cur.fetchone() is None:
            raise TrazaException(
                f"The user already has a permission on {_noun(kind)} {key!r}: update it instead.",
                error_code=RESOURCE_ALREADY_EXISTS,
            )
        bump_version(cur)


def update_grant(
    db: Database, kind: tuple[str, str], key: str, user_id: int, permission: Permission
) -> None:
    table, column = kind
    with db.write() as cur:
        cur.execute(
            f"UPDATE {table} SET permission = ? WHERE {column} = ? AND user_id = ? "
            "RETURNING user_id",
            (permission.value, _key(kind, key), user_id),
        )
        if cur.fetchone() is None:
            raise _no_grant(kind, key)
        bump_version(cur)


def delete_grant(db: Database, kind: tuple[str, str], key: str, user_id: int) -> None:
    table, column = kind
    with db.write() as cur:
        cur.execute(
            f"DELETE FROM {table} WHERE {column} = ? AND user_id = ? RETURNING user_id",
            (_key(kind, key), user_id),
        )
        if cur.fetchone() is None:
            raise _no_grant(kind, key)
        bump_version(cur)


def delete_resource_grants(db: Database, kind: tuple[str, str], key: str) -> None:
    """Forget every grant on a resource that is gone."""
    table, column = kind
    with db.write() as cur:
        cur.execute(f"DELETE FROM {table} WHERE {column} = ?", (_key(kind, key),))
        bump_version(cur)


def rename_model_grants(db: Database, old: str, new: str) -> None:
    """A renamed registered model keeps its grants."""
    with db.write() as cur:
        cur.execute(f"UPDATE {MODEL_TABLE} SET name = ? WHERE name = ?", (new, old))
        bump_version(cur)


def delete_user_grants(db: Database, user_id: int) -> None:
    """Forget every grant of a user that is deleted."""
    with db.write() as cur:
        for table in (EXPERIMENT_TABLE, MODEL_TABLE):
            cur.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
        bump_version(cur)


@dataclass(frozen=True)
class GrantRow:
    kind: str  # "experiment" or "registered_model"
    key: str
    username: str
    user_id: int
    permission: Permission


def list_grants(
    db: Database, username: str | None = None, kind: str | None = None, key: str | None = None
) -> list[GrantRow]:
    """Grants, optionally those of one user, of one kind, or on one resource."""
    rows: list[GrantRow] = []
    for name, (table, column) in (
        ("experiment", Kind.EXPERIMENT),
        ("registered_model", Kind.REGISTERED_MODEL),
    ):
        if kind is not None and kind != name:
            continue
        conditions, args = [], []
        if username is not None:
            conditions.append("u.username = ?")
            args.append(username)
        if key is not None:
            conditions.append(f"g.{column} = ?")
            args.append(_key((table, column), key))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with db.read() as cur:
            cur.execute(
                f"SELECT g.{column}, u.username, u.id, g.permission FROM {table} g "
                f"JOIN auth_users u ON u.id = g.user_id {where} ORDER BY g.{column}, u.username",
                args,
            )
            rows += [
                GrantRow(name, str(k), str(u), int(i), Permission(p))
                for k, u, i, p in cur.fetchall()
            ]
    return rows


def user_grants(db: Database, user_id: int) -> dict[str, dict[Any, Permission]]:
    """Every grant of one user, by table (for a users database apart from the runs)."""
    out: dict[str, dict[Any, Permission]] = {}
    with db.read() as cur:
        for table, column in (Kind.EXPERIMENT, Kind.REGISTERED_MODEL):
            cur.execute(f"SELECT {column}, permission FROM {table} WHERE user_id = ?", (user_id,))
            out[table] = {k: Permission(p) for k, p in cur.fetchall()}
    return out


def user_id_of(db: Database, username: str) -> int:
    """The id of the user named ``username``; an unknown name is RESOURCE_DOES_NOT_EXIST."""
    with db.read() as cur:
        cur.execute("SELECT id FROM auth_users WHERE username = ?", (username,))
        row = cur.fetchone()
    if row is None:
        raise not_found(f"User with username={username} not found. Create the user first.")
    return int(row[0])


def _noun(kind: tuple[str, str]) -> str:
    return "experiment" if kind is Kind.EXPERIMENT else "registered model"


def _no_grant(kind: tuple[str, str], key: str) -> Exception:
    return not_found(
        f"The user has no permission on {_noun(kind)} {key!r} to change: create one first."
    )
