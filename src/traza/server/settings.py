"""The server's settings, resolved once from the command line and the environment.

Each option also reads ``TRAZA_<NAME>`` and then ``MLFLOW_<NAME>`` (``MLFLOW_BACKEND_STORE_URI``,
``MLFLOW_SERVE_ARTIFACTS``, ...), so a deployment configured for ``mlflow server`` works as is.
Worker processes receive the resolved settings as JSON in ``TRAZA_SERVER_SETTINGS``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

SETTINGS_VARIABLE = "TRAZA_SERVER_SETTINGS"
PROXIED_ARTIFACT_ROOT = "mlflow-artifacts:/"


@dataclass(frozen=True)
class ServerSettings:
    backend_store_uri: str
    #: Where new experiments put artifacts: a URI, or ``mlflow-artifacts:/`` (proxied); ``None``
    #: keeps the store's own default (beside a local store's database).
    default_artifact_root: str | None = None
    serve_artifacts: bool = True
    #: Where the proxy keeps files (``mlflow-artifacts:/x`` is ``<destination>/x``).
    artifacts_destination: str = "./mlartifacts"
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    static_prefix: str = ""
    #: Largest JSON request body accepted (artifact uploads stream and have no limit).
    max_json_bytes: int = 64 * 1024 * 1024
    #: The built web UI to serve (``None``: the bundle inside the package, ``server/ui_dist``).
    ui_dir: str | None = None
    #: Browser safety (MLflow's names; see ``server/browser.py``): Host names answered beyond
    #: loopback and private addresses, comma-separated (``*``: any); origins given CORS access.
    allowed_hosts: str = ""
    cors_allowed_origins: str = ""
    #: ``DENY``, ``SAMEORIGIN``, or ``NONE`` (no header: any site may frame the UI).
    x_frame_options: str = "DENY"
    #: Turns the Host, CORS and framing layer off (content-type and download rules stay).
    disable_security_middleware: bool = False
    #: ``basic-auth`` turns on users, tokens and permissions (``traza.auth``); ``None``: off.
    app_name: str | None = None
    #: Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For and
    #: ``auth_header`` are believed.
    trusted_proxies: str = ""
    #: A header naming the signed-in user, set by an SSO proxy (``X-Forwarded-User``).
    auth_header: str | None = None
    #: Load shedding per worker (``server/shedding.py``): requests handled at once (0: no
    #: limit), requests waiting beyond those, the longest wait (seconds) before a 503, and the
    #: ``Retry-After`` (seconds) that 503 carries.
    max_in_flight: int = 64
    max_queued: int = 512
    queue_timeout: float = 10.0
    retry_after: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerSettings:
        return cls(**json.loads(text))


def resolve_artifact_root(default_artifact_root: str | None, serve_artifacts: bool) -> str:
    """MLflow's rule: an explicit root wins; else the proxy's root, or local ``./mlruns``."""
    if default_artifact_root:
        return _absolute(default_artifact_root)
    if serve_artifacts:
        return PROXIED_ARTIFACT_ROOT
    return _absolute("./mlruns")


def _absolute(location: str) -> str:
    from pathlib import Path

    from traza.uris import has_scheme

    if has_scheme(location):
        return location.rstrip("/") or location
    return Path(location).expanduser().resolve().as_uri()


def from_environment() -> ServerSettings:
    """The settings a worker process was started with (set by ``traza server``)."""
    text = os.environ.get(SETTINGS_VARIABLE)
    if not text:
        raise RuntimeError(
            f"{SETTINGS_VARIABLE} is not set: start the server with `traza server`, or build "
            "the app with traza.server.create_app(settings)."
        )
    return ServerSettings.from_json(text)
