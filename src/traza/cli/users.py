"""``traza users`` and ``traza tokens``: accounts of a server with ``--app-name basic-auth``.

They work on the store directly (``--backend-store-uri``, or the users database that
``MLFLOW_AUTH_CONFIG_PATH``'s ``database_uri`` names), so the first admin can be made before the
server starts. Running servers see each change within 2 seconds.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import click

from traza.cli.errors import reports_errors
from traza.cli.output import echo_table, timestamp

if TYPE_CHECKING:
    from traza.auth.store import AuthStore


def server_store_option(func: Any) -> Any:
    """``--backend-store-uri``: the store a server serves (shared by ``traza permissions``)."""
    return click.option(
        "--backend-store-uri",
        envvar=["TRAZA_BACKEND_STORE_URI", "MLFLOW_BACKEND_STORE_URI"],
        default=None,
        help="The server's store: sqlite:///path.db, postgresql://..., or a folder (default: "
        "the tracking URI from the environment, else ./mlruns).",
    )(func)


def _open(backend_store_uri: str | None, create: bool = False) -> AuthStore:
    """The users of the store (created with ``create``: the first admin of a new server)."""
    from traza import config
    from traza.auth.config import read_auth_config
    from traza.auth.setup import open_auth_store
    from traza.cli.gc import existing_store_uri

    auth_config = read_auth_config(os.environ)
    uri = backend_store_uri or config.tracking_uri_from_environment() or "./mlruns"
    if not auth_config.database_uri and not create:
        existing_store_uri(uri)
    return open_auth_store(auth_config, None, uri)


def _password_option(func: Any) -> Any:
    return click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="The password (asked for when not given; at least 12 characters).",
    )(func)


@click.group()
def users() -> None:
    """Create, list and delete the users of a server with --app-name basic-auth."""


@users.command("create")
@click.argument("username")
@_password_option
@click.option("--admin", is_flag=True, help="Make the user an admin (may do everything).")
@server_store_option
@reports_errors
def create_user(username: str, password: str, admin: bool, backend_store_uri: str | None) -> None:
    """Create USERNAME (the first admin of a new server too)."""
    user = _open(backend_store_uri, create=True).create_user(username, password, is_admin=admin)
    click.echo(f"Created {'admin' if admin else 'user'} {user.username!r} (id {user.id}).")


@users.command("list")
@server_store_option
@reports_errors
def list_users(backend_store_uri: str | None) -> None:
    """List the users."""
    rows = [
        [str(u.id), u.username, "yes" if u.is_admin else "", timestamp(u.created_time)]
        for u in _open(backend_store_uri).list_users()
    ]
    echo_table(["id", "username", "admin", "created"], rows)


@users.command("delete")
@click.argument("username")
@click.confirmation_option(prompt="Delete the user with their tokens and permissions?")
@server_store_option
@reports_errors
def delete_user(username: str, backend_store_uri: str | None) -> None:
    """Delete USERNAME with their tokens and permissions."""
    _open(backend_store_uri).delete_user(username)
    click.echo(f"Deleted user {username!r}.")


@users.command("set-password")
@click.argument("username")
@_password_option
@server_store_option
@reports_errors
def set_password(username: str, password: str, backend_store_uri: str | None) -> None:
    """Give USERNAME a new password (their web sessions end)."""
    _open(backend_store_uri).set_password(username, password)
    click.echo(f"Changed the password of {username!r}.")


@users.command("set-admin")
@click.argument("username")
@click.option("--no", "revoke", is_flag=True, help="Take admin away instead.")
@server_store_option
@reports_errors
def set_admin(username: str, revoke: bool, backend_store_uri: str | None) -> None:
    """Make USERNAME an admin (or, with --no, not one)."""
    _open(backend_store_uri).set_admin(username, not revoke)
    click.echo(f"{username!r} is {'no longer ' if revoke else ''}an admin.")


@click.group()
def tokens() -> None:
    """Personal access tokens (MLFLOW_TRACKING_TOKEN) of a server with --app-name basic-auth."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", default="", help="What the token is for.")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None)
@click.option("--run-id", default=None, help="Valid only to log to this run.")
@server_store_option
@reports_errors
def create_token(
    username: str,
    name: str,
    expires_in_days: int | None,
    run_id: str | None,
    backend_store_uri: str | None,
) -> None:
    """Create a token for USERNAME; prints the secret, which is shown only this once."""
    from traza.auth.store import PERSONAL, RUN

    store = _open(backend_store_uri)
    user = store.get_user(username)
    expires = None
    if expires_in_days:
        expires = int(time.time() * 1000) + expires_in_days * 86_400_000
    secret, token = store.create_token(
        user.id, name, RUN if run_id else PERSONAL, run_id or None, expires
    )
    click.echo(f"Token {token.id} for {username!r} (shown once; keep it secret):", err=True)
    click.echo(secret)


@tokens.command("list")
@click.argument("username")
@server_store_option
@reports_errors
def list_tokens(username: str, backend_store_uri: str | None) -> None:
    """List USERNAME's tokens (never their secrets)."""
    store = _open(backend_store_uri)
    rows = [
        [
            str(t.id),
            t.name,
            t.kind,
            t.run_id or "",
            timestamp(t.created_time),
            timestamp(t.expires_time) if t.expires_time else "never",
            timestamp(t.last_used_time) if t.last_used_time else "",
        ]
        for t in store.list_tokens(store.get_user(username).id)
    ]
    echo_table(["id", "name", "kind", "run", "created", "expires", "last used"], rows)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@server_store_option
@reports_errors
def revoke_token(token_id: int, backend_store_uri: str | None) -> None:
    """Revoke token TOKEN_ID (running servers refuse it within 2 seconds)."""
    _open(backend_store_uri).revoke_token(token_id)
    click.echo(f"Revoked token {token_id}.")
