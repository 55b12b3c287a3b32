"""The auth settings, read once: MLflow's ``basic_auth.ini`` keys, then the environment.

``MLFLOW_AUTH_CONFIG_PATH`` (or ``TRAZA_AUTH_CONFIG_PATH``) names an INI file with a ``[mlflow]``
section, as ``mlflow server --app-name basic-auth`` reads it: ``default_permission``,
``admin_username``, ``admin_password``, ``database_uri`` (a separate users database) and
``auth_cache_ttl_seconds``/``auth_cache_max_size``. ``MLFLOW_AUTH_ADMIN_USERNAME``/
``MLFLOW_AUTH_ADMIN_PASSWORD`` (or the ``TRAZA_`` names) override the file's admin. There is no
default admin password.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass

from traza.auth.principal import Permission
from traza.exceptions import TrazaException

#: The longest a worker trusts a cached credential or grant after it changed elsewhere.
MAX_STALENESS_SECONDS = 5.0


@dataclass(frozen=True)
class AuthConfig:
    #: What a user may do on an experiment or registered model without an explicit grant.
    default_permission: Permission = Permission.READ
    admin_username: str = "admin"
    admin_password: str | None = None
    #: A separate users database (sqlite:///... or postgresql://...); ``None``: the tracking store.
    database_uri: str | None = None
    #: How long a verified credential is kept (capped so changes reach every worker in time).
    cache_ttl_seconds: float = 60.0
    cache_max_size: int = 10000
    #: How often a worker asks the store whether users, tokens or grants changed.
    poll_seconds: float = 2.0
    #: Failed logins allowed per user and per address within ``lockout_window_seconds``.
    max_failed_logins: int = 10
    lockout_window_seconds: int = 300
    #: Lifetime of a web UI session.
    session_days: int = 7
    config_path: str | None = None


def _env(environ: Mapping[str, str], name: str) -> str | None:
    for prefix in ("TRAZA_", "MLFLOW_"):
        value = environ.get(prefix + name)
        if value is not None:
            return value
    return None


def read_auth_config(environ: Mapping[str, str]) -> AuthConfig:
    """The settings from the INI file ``environ`` names (if any) and the admin variables."""
    path = _env(environ, "AUTH_CONFIG_PATH")
    section: Mapping[str, str] = {}
    if path:
        parser = configparser.ConfigParser()
        try:
            with open(path, encoding="utf-8") as f:
                parser.read_file(f)
        except OSError as e:
            raise TrazaException(
                f"Cannot read the auth config {path} named by MLFLOW_AUTH_CONFIG_PATH: "
                f"{e.strerror}. Fix the path or unset the variable.",
                error_code="INVALID_PARAMETER_VALUE",
            ) from None
        except configparser.Error as e:
            raise TrazaException(
                f"The auth config {path} is not a valid INI file: {e}",
                error_code="INVALID_PARAMETER_VALUE",
            ) from None
        if not parser.has_section("mlflow"):
            raise TrazaException(
                f"The auth config {path} has no [mlflow] section (see MLflow's basic_auth.ini).",
                error_code="INVALID_PARAMETER_VALUE",
            )
        section = dict(parser["mlflow"])
    username = _env(environ, "AUTH_ADMIN_USERNAME") or section.get("admin_username") or "admin"
    password = _env(environ, "AUTH_ADMIN_PASSWORD")
    if password is None:
        password = section.get("admin_password")
    ttl = _number(section, "auth_cache_ttl_seconds", 60.0, path)
    # MLflow's 0 means "no cache"; here the cache is always on and bounded, so 0 (or anything
    # longer) still means at most MAX_STALENESS_SECONDS of staleness through the version poll.
    return AuthConfig(
        default_permission=Permission.parse(section.get("default_permission", "READ")),
        admin_username=username,
        admin_password=password or None,
        database_uri=section.get("database_uri") or None,
        cache_ttl_seconds=ttl if ttl > 0 else 60.0,
        cache_max_size=int(_number(section, "auth_cache_max_size", 10000, path)),
        config_path=path,
    )


def _number(section: Mapping[str, str], key: str, default: float, path: str | None) -> float:
    text = section.get(key)
    if text is None or not text.strip():
        return default
    try:
        return float(text)
    except ValueError:
        raise TrazaException(
            f"{key} = {text!r} in {path} is not a number.",
            error_code="INVALID_PARAMETER_VALUE",
        ) from None
