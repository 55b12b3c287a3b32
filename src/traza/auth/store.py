"""Users, tokens and failed-login counters in the store's database (:class:`AuthStore`).

Tables (migration ``0007_auth`` in ``traza/store/sql/schema.py``), for code that queries them:

- ``auth_users(id, username UNIQUE, password_hash, is_admin 0/1, created_time,
  last_update_time)``; a user made by the trusted-header mode has ``password_hash = '!'``.
- ``auth_tokens(id, token_hash UNIQUE (sha256 hex), user_id, name, kind, run_id, created_time,
  expires_time, last_used_time)``; ``kind`` is ``personal``, ``session`` or ``run`` (then
  ``run_id`` is the run it may log to).
- ``auth_experiment_permissions(experiment_id, user_id, permission)``, PK both ids.
- ``auth_registered_model_permissions(name, user_id, permission)``, PK ``(name, user_id)``.
- ``auth_failed_logins(key, count, window_start)``; key ``user:<name>`` or ``addr:<address>``.
- ``auth_version(id = 1, version)``: bumped in the same transaction as every change to users,
  tokens or grants (call :func:`bump_version` with the write cursor), so each worker drops its
  caches within its poll interval. Times are milliseconds since the epoch.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from traza.auth import passwords
from traza.exceptions import RESOURCE_ALREADY_EXISTS, TrazaException, invalid, not_found
from traza.store.sql.db import Cursor, Database

PERSONAL = "personal"
SESSION = "session"
RUN = "run"
#: A password hash no password matches (users who sign in only through an SSO proxy).
NO_PASSWORD = "!"
MAX_USERNAME_LENGTH = 255


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_admin: bool
    created_time: int
    last_update_time: int

    def to_dict(self) -> dict[str, Any]:
        """MLflow's JSON shape of a user (``users/get``)."""
        return {"id": self.id, "username": self.username, "is_admin": self.is_admin}


@dataclass(frozen=True)
class Token:
    id: int
    user_id: int
    name: str
    kind: str
    run_id: str | None
    created_time: int
    expires_time: int | None
    last_used_time: int | None

    def to_dict(self) -> dict[str, Any]:
        """What the token API lists (never the secret, which is not stored)."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "kind": self.kind,
            "run_id": self.run_id,
            "created_time": self.created_time,
            "expires_time": self.expires_time,
            "last_used_time": self.last_used_time,
        }


def now_ms() -> int:
    return int(time.time() * 1000)


def bump_version(cur: Cursor) -> None:
    """Mark users, tokens or grants as changed (inside the caller's write transaction)."""
    cur.execute("UPDATE auth_version SET version = version + 1 WHERE id = 1")


_USER_COLUMNS = "id, username, is_admin, created_time, last_update_time"
_TOKEN_COLUMNS = "id, user_id, name, kind, run_id, created_time, expires_time, last_used_time"


def _user(row: Any) -> User:
    return User(int(row[0]), row[1], bool(row[2]), int(row[3]), int(row[4]))


def _token(row: Any) -> Token:
    return Token(int(row[0]), int(row[1]), row[2], row[3], row[4], int(row[5]), row[6], row[7])


def check_username(username: object) -> str:
    if not isinstance(username, str) or not username.strip():
        raise invalid("The username must be a non-empty string.")
    if len(username) > MAX_USERNAME_LENGTH:
        raise invalid(f"The username is longer than {MAX_USERNAME_LENGTH} characters.")
    if ":" in username or any(ord(c) < 32 or ord(c) == 127 for c in username):
        raise invalid(
            f"Invalid username {username!r}: it may not contain ':' or control characters."
        )
    return username


class AuthStore:
    """The auth tables of one database (the tracking store's, or a separate users database)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- users -------------------------------------------------------------------------------

    def create_user(self, username: str, password: str | None, is_admin: bool = False) -> User:
        """A new user; ``password=None`` makes one that cannot sign in with a password."""
        check_username(username)
        if password is None:
            stored = NO_PASSWORD
        else:
            passwords.check_password_strength(password)
            stored = passwords.hash_password(password)
        now = now_ms()
        with self.db.write() as cur:
            cur.execute("SELECT 1 FROM auth_users WHERE username = ?", (username,))
            if cur.fetchone() is not None:
                raise TrazaException(
                    f"User {username!r} already exists.", error_code=RESOURCE_ALREADY_EXISTS
                )
            cur.execute(
                "INSERT INTO auth_users (username, password_hash, is_admin, created_time, "
                "last_update_time) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (username, stored, int(is_admin), now, now),
            )
            user_id = int(cur.fetchone()[0])
            bump_version(cur)
        return User(user_id, username, is_admin, now, now)

    def get_user(self, username: str) -> User:
        user = self.find_user(username)
        if user is None:
            raise not_found(f"User with username={username!r}")
        return user

    def find_user(self, username: str) -> User | None:
        with self.db.read() as cur:
            cur.execute(f"SELECT {_USER_COLUMNS} FROM auth_users WHERE username = ?", (username,))
            row = cur.fetchone()
        return None if row is None else _user(row)

    def user_by_id(self, user_id: int) -> User | None:
        with self.db.read() as cur:
            cur.execute(f"SELECT {_USER_COLUMNS} FROM auth_users WHERE id = ?", (user_id,))
            row = cur.fetchone()
        return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        with self.db.read() as cur:
            cur.execute(f"SELECT {_USER_COLUMNS} FROM auth_users ORDER BY username")
            return [_user(row) for row in cur.fetchall()]

    def has_admin(self) -> bool:
        with self.db.read() as cur:
            cur.execute("SELECT 1 FROM auth_users WHERE is_admin <> 0 LIMIT 1")
            return cur.fetchone() is not None

    def set_password(self, username: str, password: str) -> None:
        passwords.check_password_strength(password)
        self._update(username, "password_hash", passwords.hash_password(password))
        # A new password also ends the user's web sessions.
        with self.db.write() as cur:
            cur.execute(
                "DELETE FROM auth_tokens WHERE kind = ? AND user_id = "
                "(SELECT id FROM auth_users WHERE username = ?)",
                (SESSION, username),
            )
            bump_version(cur)

    def set_admin(self, username: str, is_admin: bool) -> None:
        self._update(username, "is_admin", int(is_admin))

    def _update(self, username: str, column: str, value: object) -> None:
        with self.db.write() as cur:
            cur.execute(
                f"UPDATE auth_users SET {column} = ?, last_update_time = ? WHERE username = ?",
                (value, now_ms(), username),
            )
            if cur.rowcount == 0:
                raise not_found(f"User with username={username!r}")
            bump_version(cur)

    def delete_user(self, username: str) -> None:
        """Delete a user with their tokens and grants."""
        with self.db.write() as cur:
            cur.execute("SELECT id FROM auth_users WHERE username = ?", (username,))
            row = cur.fetchone()
            if row is None:
                raise not_found(f"User with username={username!r}")
            for table in ("auth_tokens", "auth_experiment_permissions",
                          "auth_registered_model_permissions"):  # fmt: skip
                cur.execute(f"DELETE FROM {table} WHERE user_id = ?", (row[0],))
            cur.execute("DELETE FROM auth_users WHERE id = ?", (row[0],))
            bump_version(cur)

    def check_password(self, username: str, password: str) -> User | None:
        """The user when ``password`` is theirs (runs scrypt: about 0.1 s)."""
        with self.db.read() as cur:
            cur.execute(
                f"SELECT {_USER_COLUMNS}, password_hash FROM auth_users WHERE username = ?",
                (username,),
            )
            row = cur.fetchone()
        if row is None:
            # As slow as a wrong password, so timing does not tell which usernames exist.
            passwords.verify_password(password, _dummy_hash())
            return None
        if not passwords.verify_password(password, row[5]):
            return None
        return _user(row)

    def user_for_header(self, username: str) -> User:
        """The user an SSO proxy vouched for, created on first sight (no password)."""
        user = self.find_user(username)
        if user is not None:
            return user
        try:
            return self.create_user(username, None)
        except TrazaException as e:
            if e.error_code != RESOURCE_ALREADY_EXISTS:
                raise
            return self.get_user(username)  # another worker created it just now

    # -- tokens ------------------------------------------------------------------------------

    def create_token(
        self,
        user_id: int,
        name: str = "",
        kind: str = PERSONAL,
        run_id: str | None = None,
        expires_time: int | None = None,
    ) -> tuple[str, Token]:
        """A new token; returns its secret (shown once, never stored) and its record."""
        secret = passwords.new_token()
        now = now_ms()
        with self.db.write() as cur:
            cur.execute(
                "INSERT INTO auth_tokens (token_hash, user_id, name, kind, run_id, "
                "created_time, expires_time) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (passwords.token_hash(secret), user_id, name, kind, run_id, now, expires_time),
            )
            token_id = int(cur.fetchone()[0])
            # A new token needs no cache to forget; only revocations bump the version.
        return secret, Token(token_id, user_id, name, kind, run_id, now, expires_time, None)

    def list_tokens(self, user_id: int) -> list[Token]:
        """A user's personal and run tokens (sessions are not listed)."""
        with self.db.read() as cur:
            cur.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM auth_tokens WHERE user_id = ? AND kind <> ? "
                "ORDER BY id",
                (user_id, SESSION),
            )
            return [_token(row) for row in cur.fetchall()]

    def get_token(self, token_id: int) -> Token:
        with self.db.read() as cur:
            cur.execute(f"SELECT {_TOKEN_COLUMNS} FROM auth_tokens WHERE id = ?", (token_id,))
            row = cur.fetchone()
        if row is None:
            raise not_found(f"Token {token_id}")
        return _token(row)

    def revoke_token(self, token_id: int) -> None:
        with self.db.write() as cur:
            cur.execute("DELETE FROM auth_tokens WHERE id = ?", (token_id,))
            if cur.rowcount == 0:
                raise not_found(f"Token {token_id}")
            bump_version(cur)

    def revoke_secret(self, secret: str) -> None:
        """Revoke the token whose secret this is (a web session's logout)."""
        with self.db.write() as cur:
            cur.execute(
                "DELETE FROM auth_tokens WHERE token_hash = ?", (passwords.token_hash(secret),)
            )
            if cur.rowcount:
                bump_version(cur)

    def revoke_run_tokens(self, run_id: str) -> int:
        """Revoke every token scoped to ``run_id`` (the run ended); returns how many."""
        with self.db.write() as cur:
            cur.execute("DELETE FROM auth_tokens WHERE kind = ? AND run_id = ?", (RUN, run_id))
            count = int(cur.rowcount)
            if count:
                bump_version(cur)
        return count

    def lookup_token(self, secret: str) -> tuple[Token, User] | None:
        """The live token with this secret and its owner; marks it used."""
        now = now_ms()
        with self.db.read() as cur:
            cur.execute(
                f"SELECT {', '.join('t.' + c.strip() for c in _TOKEN_COLUMNS.split(','))}, "
                f"{', '.join('u.' + c.strip() for c in _USER_COLUMNS.split(','))} "
                "FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id "
                "WHERE t.token_hash = ?",
                (passwords.token_hash(secret),),
            )
            row = cur.fetchone()
        if row is None:
            return None
        token, user = _token(row[:8]), _user(row[8:])
        if token.expires_time is not None and token.expires_time <= now:
            return None
        with self.db.write() as cur:
            cur.execute("UPDATE auth_tokens SET last_used_time = ? WHERE id = ?", (now, token.id))
        return token, user

    # -- failed logins -----------------------------------------------------------------------

    def locked_for(self, keys: list[str], limit: int, window_ms: int) -> float | None:
        """Seconds until the first of ``keys`` that reached ``limit`` failures may try again."""
        now = now_ms()
        marks = ", ".join("?" for _ in keys)
        with self.db.read() as cur:
            cur.execute(
                f"SELECT count, window_start FROM auth_failed_logins WHERE key IN ({marks})",
                keys,
            )
            rows = cur.fetchall()
        waits = [
            (int(start) + window_ms - now) / 1000
            for count, start in rows
            if int(count) >= limit and int(start) + window_ms > now
        ]
        return max(waits) if waits else None

    def record_failure(self, keys: list[str], window_ms: int) -> None:
        """Count one failed login against each key (a new window once the old one ended)."""
        now = now_ms()
        with self.db.write() as cur:
            # Counters whose window ended are dropped, so made-up usernames do not pile up.
            cur.execute(
                "DELETE FROM auth_failed_logins WHERE window_start <= ?", (now - window_ms,)
            )
            for key in keys:
                cur.execute(
                    "INSERT INTO auth_failed_logins (key, count, window_start) VALUES (?, 1, ?) "
                    "ON CONFLICT (key) DO UPDATE SET "
                    "count = CASE WHEN auth_failed_logins.window_start + ? <= ? THEN 1 "
                    "ELSE auth_failed_logins.count + 1 END, "
                    "window_start = CASE WHEN auth_failed_logins.window_start + ? <= ? THEN ? "
                    "ELSE auth_failed_logins.window_start END",
                    (key, now, window_ms, now, window_ms, now, now),
                )

    def clear_failures(self, keys: list[str]) -> None:
        marks = ", ".join("?" for _ in keys)
        with self.db.write() as cur:
            cur.execute(f"DELETE FROM auth_failed_logins WHERE key IN ({marks})", keys)

    # -- change tracking ---------------------------------------------------------------------

    def version(self) -> int:
        with self.db.read() as cur:
            cur.execute("SELECT version FROM auth_version WHERE id = 1")
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def bump(self) -> None:
        """Tell every worker to drop its caches (for changes made outside this class)."""
        with self.db.write() as cur:
            bump_version(cur)


@functools.cache
def _dummy_hash() -> str:
    return passwords.hash_password("not a password of anyone's")
