"""Turning auth on: open the users database, make sure an admin exists, wrap the app.

There is no default admin password. The first admin comes from ``MLFLOW_AUTH_ADMIN_PASSWORD``
(or ``TRAZA_AUTH_ADMIN_PASSWORD``, or ``admin_password`` in the auth config file), or from
``traza users create NAME --admin``; without one the server refuses to start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from traza.auth.config import AuthConfig, read_auth_config
from traza.auth.store import AuthStore
from traza.exceptions import INVALID_STATE, RESOURCE_ALREADY_EXISTS, TrazaException
from traza.server.settings import ServerSettings
from traza.store.base import Store

APP_NAME = "basic-auth"


def check_app_name(app_name: str | None) -> None:
    if app_name not in (None, APP_NAME):
        raise TrazaException(
            f"Unknown --app-name {app_name!r}: Traza has one, {APP_NAME!r} (users, tokens and "
            "permissions). Leave the flag out to serve without authentication.",
            error_code="INVALID_PARAMETER_VALUE",
        )


def open_auth_store(config: AuthConfig, store: Store | None, store_uri: str = "") -> AuthStore:
    """The users database: ``database_uri`` from the config, else the tracking store's."""
    from traza.store.uri import open_store

    if config.database_uri:
        store = open_store(config.database_uri)
        where = config.database_uri
    elif store is None:
        store = open_store(store_uri)
        where = store_uri
    else:
        where = store_uri or "the tracking store"
    db = getattr(store, "db", None)
    if db is None:
        raise TrazaException(
            f"Authentication keeps users in a SQL database, and {where} is not one. Serve a "
            "sqlite:/// or postgresql:// store (or a folder), or name a users database with "
            "database_uri in the file MLFLOW_AUTH_CONFIG_PATH names.",
            error_code="INVALID_PARAMETER_VALUE",
        )
    return AuthStore(db)


def ensure_admin(auth: AuthStore, config: AuthConfig) -> None:
    """Create the configured admin when the store has none; refuse to go on without one."""
    if auth.has_admin():
        return
    if config.admin_password:
        try:
            auth.create_user(config.admin_username, config.admin_password, is_admin=True)
        except TrazaException as e:
            if e.error_code != RESOURCE_ALREADY_EXISTS:
                raise
            if auth.has_admin():  # another worker created it at the same moment
                return
            raise TrazaException(
                f"User {config.admin_username!r} exists but is not an admin, so the admin "
                f"password was not applied. Make them one with `traza users set-admin "
                f"{config.admin_username}`, or set MLFLOW_AUTH_ADMIN_USERNAME to a new name.",
                error_code=INVALID_STATE,
            ) from None
        return
    raise TrazaException(
        "Authentication is on (--app-name basic-auth) but the store has no admin, and Traza "
        "has no default password. Either set MLFLOW_AUTH_ADMIN_PASSWORD (or "
        "TRAZA_AUTH_ADMIN_PASSWORD; the user is 'admin' unless MLFLOW_AUTH_ADMIN_USERNAME "
        "says otherwise) when starting the server, or create one first with "
        "`traza users create NAME --admin --backend-store-uri URI`.",
        error_code=INVALID_STATE,
    )


def build(
    app: Any,
    store: Store,
    settings: ServerSettings,
    config: AuthConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """``app`` behind the authentication layer (checks that an admin exists first).

    ``config`` defaults to what the environment names (``MLFLOW_AUTH_CONFIG_PATH``, ...).
    """
    from traza.auth.middleware import Authenticator, AuthMiddleware

    check_app_name(settings.app_name)
    if config is None:
        config = read_auth_config(os.environ if environ is None else environ)
    _check_header(settings)
    auth = open_auth_store(config, store, settings.backend_store_uri)
    ensure_admin(auth, config)
    authenticator = Authenticator(auth, config, settings.trusted_proxies, settings.auth_header)
    return AuthMiddleware(app, authenticator, settings.static_prefix)


def check_startup(settings: ServerSettings, environ: Mapping[str, str]) -> None:
    """What ``traza server`` checks before it starts workers: flags, config, an admin."""
    from traza.auth.middleware import Networks

    check_app_name(settings.app_name)
    config = read_auth_config(environ)
    _check_header(settings)
    Networks(settings.trusted_proxies)
    auth = open_auth_store(config, None, settings.backend_store_uri)
    try:
        ensure_admin(auth, config)
    finally:
        auth.db.close()


def _check_header(settings: ServerSettings) -> None:
    if settings.auth_header and not settings.trusted_proxies:
        raise TrazaException(
            f"--auth-header {settings.auth_header} needs --trusted-proxies: the header is "
            "accepted only from the proxy's addresses, or anyone could claim to be anyone.",
            error_code="INVALID_PARAMETER_VALUE",
        )
