"""``traza server`` and ``traza ui``: the tracking server on uvicorn.

Flags match ``mlflow server``'s; each also reads ``TRAZA_<NAME>`` then ``MLFLOW_<NAME>``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from traza.server.settings import SETTINGS_VARIABLE, ServerSettings, resolve_artifact_root


def _env(name: str) -> list[str]:
    return [f"TRAZA_{name}", f"MLFLOW_{name}"]


def _default_store() -> str:
    from traza import config

    return config.tracking_uri_from_environment() or config.DEFAULT_TRACKING_URI


def _serve(settings: ServerSettings) -> None:
    """Check the store opens (clear errors, migrations done once), then run uvicorn."""
    import uvicorn

    from traza.cli.ports import check_port_free
    from traza.exceptions import TrazaException
    from traza.store.uri import open_store

    check_port_free(settings.host, settings.port)  # before the store is created or announced
    try:
        open_store(settings.backend_store_uri, settings.default_artifact_root).close()
    except TrazaException as e:
        raise click.ClickException(e.message) from None
    if settings.app_name:
        _check_auth(settings)
    os.environ[SETTINGS_VARIABLE] = settings.to_json()
    if settings.disable_security_middleware or settings.allowed_hosts.strip() == "*":
        click.echo(
            "Warning: the Host check is off, so any web page can reach this server through DNS "
            "rebinding; list the server's names with --allowed-hosts instead.",
            err=True,
        )
    elif settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.allowed_hosts:
        click.echo(
            "Only requests addressed to localhost or a private-network address are answered: "
            "list the names clients use for this server with --allowed-hosts.",
            err=True,
        )
    where = f"http://{settings.host}:{settings.port}{settings.static_prefix}"
    artifacts = settings.default_artifact_root or "beside the store"
    click.echo(
        f"Traza {_version()} serving {settings.backend_store_uri} at {where} "
        f"(artifacts: {artifacts}; {settings.workers} worker(s)). Ctrl+C stops it.",
        err=True,
    )
    uvicorn.run(
        "traza.server.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        # uvicorn would believe X-Forwarded-For/-Proto from 127.0.0.1 and rewrite the client's
        # address; only --trusted-proxies decides that (an address counts for rate limits).
        proxy_headers=False,
    )
    sys.exit(0)


def _check_auth(settings: ServerSettings) -> None:
    """Refuse to start with auth on and no admin (and create the configured one, once)."""
    from traza.auth.setup import check_startup
    from traza.exceptions import TrazaException

    try:
        check_startup(settings, os.environ)
    except TrazaException as e:
        raise click.ClickException(e.message) from None


def _version() -> str:
    from traza._version import __version__

    return __version__


_host = click.option(
    "-h", "--host", envvar=_env("HOST"), default="127.0.0.1", show_default=True,
    help="Interface to listen on (0.0.0.0 for every interface).",
)  # fmt: skip
_port = click.option("-p", "--port", envvar=_env("PORT"), type=int, default=5000, show_default=True)


def _browser_options(command: Callable[..., None]) -> Callable[..., None]:
    """MLflow's security flags and ``MLFLOW_SERVER_*`` variables (see ``server/browser.py``)."""
    options = [
        click.option(
            "--allowed-hosts", envvar=_env("SERVER_ALLOWED_HOSTS"), default="",
            help="Comma-separated Host names to answer besides localhost and private addresses "
            "(any port), e.g. traza.example.com or *.corp.example; '*' answers any (no DNS "
            "rebinding protection).",
        ),
        click.option(
            "--cors-allowed-origins", envvar=_env("SERVER_CORS_ALLOWED_ORIGINS"), default="",
            help="Comma-separated origins (https://app.example.com) whose pages may call the API "
            "from a browser; '*' for any, without credentials. Default: none.",
        ),
        click.option(
            "--x-frame-options", envvar=_env("SERVER_X_FRAME_OPTIONS"), default="DENY",
            show_default=True, type=click.Choice(["DENY", "SAMEORIGIN", "NONE"], False),
            help="Who may frame the UI: nobody, pages of this server, or anyone (NONE).",
        ),
        click.option(
            "--disable-security-middleware", envvar=_env("SERVER_DISABLE_SECURITY_MIDDLEWARE"),
            is_flag=True, default=False,
            help="DANGEROUS: turn off the Host check, cross-origin blocking and framing headers.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _shedding_options(command: Callable[..., None]) -> Callable[..., None]:
    """Load shedding per worker (``server/shedding.py``); Traza's own, so ``TRAZA_SERVER_*``."""
    options = [
        click.option(
            "--max-in-flight", envvar="TRAZA_SERVER_MAX_IN_FLIGHT", type=click.IntRange(min=0),
            default=64, show_default=True,
            help="Requests each worker handles at once; beyond that they queue (0: no limit, "
            "no shedding).",
        ),
        click.option(
            "--max-queued", envvar="TRAZA_SERVER_MAX_QUEUED", type=click.IntRange(min=0),
            default=512, show_default=True,
            help="Requests each worker keeps waiting for a slot; one more gets 503 with "
            "Retry-After at once.",
        ),
        click.option(
            "--queue-timeout", envvar="TRAZA_SERVER_QUEUE_TIMEOUT",
            type=click.FloatRange(min=0), default=10.0, show_default=True,
            help="Seconds a request waits for a slot before it gets 503 with Retry-After.",
        ),
        click.option(
            "--retry-after", envvar="TRAZA_SERVER_RETRY_AFTER", type=click.IntRange(min=0),
            default=1, show_default=True,
            help="The Retry-After (seconds) sent with a 503 when the worker is full.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _shedding_settings(options: dict[str, Any]) -> dict[str, Any]:
    names = ("max_in_flight", "max_queued", "queue_timeout", "retry_after")
    return {name: options.pop(name) for name in names}


def _browser_settings(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "allowed_hosts": options["allowed_hosts"],
        "cors_allowed_origins": options["cors_allowed_origins"],
        "x_frame_options": options["x_frame_options"].upper(),
        "disable_security_middleware": options["disable_security_middleware"],
    }


@click.command()
@click.option(
    "--backend-store-uri",
    envvar=_env("BACKEND_STORE_URI"),
    default=None,
    help="Store to serve: sqlite:///path.db, postgresql://..., or a folder "
    "(default: the tracking URI from the environment, else ./mlruns).",
)
@click.option(
    "--default-artifact-root",
    envvar=_env("DEFAULT_ARTIFACT_ROOT"),
    default=None,
    help="Where new experiments keep artifacts (default: mlflow-artifacts:/, proxied by this "
    "server into --artifacts-destination).",
)
@click.option(
    "--serve-artifacts/--no-serve-artifacts",
    envvar=_env("SERVE_ARTIFACTS"),
    default=True,
    show_default=True,
    help="Proxy artifact uploads and downloads (mlflow-artifacts:/ URIs).",
)
@click.option(
    "--artifacts-destination",
    envvar=_env("ARTIFACTS_DESTINATION"),
    default="./mlartifacts",
    show_default=True,
    help="Where proxied artifacts are kept: a folder or s3://bucket/prefix.",
)
@_host
@_port
@click.option(
    "-w",
    "--workers",
    envvar=_env("WORKERS"),
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (use several on PostgreSQL; SQLite serialises writes anyway).",
)
@click.option(
    "--static-prefix",
    envvar=_env("STATIC_PREFIX"),
    default="",
    help="A path prefix for every route, e.g. /traza behind a proxy.",
)
@_browser_options
@_shedding_options
@click.option(
    "--app-name",
    envvar=_env("APP_NAME"),
    default=None,
    help="basic-auth: every request signs in (users, tokens, per-experiment and per-model "
    "permissions; MLflow's flag). The first admin comes from MLFLOW_AUTH_ADMIN_PASSWORD or "
    "`traza users create NAME --admin`.",
)
@click.option(
    "--trusted-proxies",
    envvar=_env("TRUSTED_PROXIES"),
    default="",
    help="Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For, "
    "X-Forwarded-Proto and --auth-header are believed (default: none).",
)
@click.option(
    "--auth-header",
    envvar=_env("AUTH_HEADER"),
    default=None,
    help="With --app-name basic-auth: a header naming the signed-in user, set by an SSO proxy "
    "(e.g. X-Forwarded-User from oauth2-proxy); accepted only from --trusted-proxies.",
)
def server(
    backend_store_uri: str | None,
    default_artifact_root: str | None,
    serve_artifacts: bool,
    artifacts_destination: str,
    host: str,
    port: int,
    workers: int,
    static_prefix: str,
    app_name: str | None,
    trusted_proxies: str,
    auth_header: str | None,
    **browser: Any,
) -> None:
    """Serve MLflow's tracking REST API (and artifact proxy) over a Traza store."""
    shedding = _shedding_settings(browser)
    if static_prefix and not static_prefix.startswith("/"):
        raise click.BadParameter("must start with '/'", param_hint="--static-prefix")
    if app_name not in (None, "basic-auth"):
        raise click.BadParameter(
            f"{app_name!r} is not an app Traza has: use basic-auth (users and permissions), or "
            "leave the flag out.",
            param_hint="--app-name",
        )
    if auth_header and app_name is None:
        raise click.BadParameter("needs --app-name basic-auth", param_hint="--auth-header")
    _serve(
        ServerSettings(
            backend_store_uri=backend_store_uri or _default_store(),
            default_artifact_root=resolve_artifact_root(default_artifact_root, serve_artifacts),
            serve_artifacts=serve_artifacts,
            artifacts_destination=artifacts_destination,
            host=host,
            port=port,
            workers=workers,
            static_prefix=static_prefix.rstrip("/"),
            **_browser_settings(browser),
            app_name=app_name,
            trusted_proxies=trusted_proxies,
            auth_header=auth_header or None,
            **shedding,
        )
    )


@click.command()
@click.option(
    "--backend-store-uri",
    envvar=_env("BACKEND_STORE_URI"),
    default=None,
    help="Store to show (default: the tracking URI from the environment, else ./mlruns).",
)
@_host
@_port
@_browser_options
def ui(backend_store_uri: str | None, host: str, port: int, **browser: Any) -> None:
    """Browse the local store: the tracking server on 127.0.0.1:5000, artifacts in place."""
    _serve(
        ServerSettings(
            backend_store_uri=backend_store_uri or _default_store(),
            default_artifact_root=None,
            host=host,
            port=port,
            **_browser_settings(browser),
        )
    )
