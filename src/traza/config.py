"""Settings read from the environment in one place; the rest of Traza is given values.

``TRAZA_*`` variables win over their ``MLFLOW_*`` twins when both are set, so a Traza user can
point Traza somewhere without disturbing MLflow tooling on the same machine.
"""

from __future__ import annotations

import os

from traza.entities._record import Record

DEFAULT_TRACKING_URI = "mlruns"


def _env(name: str) -> str | None:
    value = os.environ.get(f"TRAZA_{name}") or os.environ.get(f"MLFLOW_{name}")
    return value or None


class Settings(Record):
    tracking_uri: str | None
    experiment_name: str | None
    experiment_id: str | None
    run_id: str | None


def from_environment() -> Settings:
    return Settings(
        tracking_uri=_env("TRACKING_URI"),
        experiment_name=_env("EXPERIMENT_NAME"),
        experiment_id=_env("EXPERIMENT_ID"),
        run_id=_env("RUN_ID"),
    )


def tracking_uri_from_environment() -> str | None:
    return _env("TRACKING_URI")


def consume_run_id() -> str | None:
    """The run id a parent process (``traza run``) handed over, removed so it is used once.

    Removing it keeps grandchildren from resuming the same run, as MLflow does.
    """
    run_id = _env("RUN_ID")
    os.environ.pop("TRAZA_RUN_ID", None)
    os.environ.pop("MLFLOW_RUN_ID", None)
    return run_id


def current_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER") or "unknown"


class HttpSettings(Record):
    """How a client talks to a tracking server (``MLFLOW_TRACKING_*``, ``MLFLOW_HTTP_*``)."""

    token: str | None = None
    username: str | None = None
    password: str | None = None
    insecure_tls: bool = False
    server_cert_path: str | None = None
    client_cert_path: str | None = None
    max_retries: int = 7
    backoff_factor: float = 2.0
    backoff_jitter: float = 1.0
    timeout: float = 120.0


def _number(name: str, default: float) -> float:
    value = _env(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"MLFLOW_{name} must be a number, got {value!r}.") from None


def http_settings() -> HttpSettings:
    return HttpSettings(
        token=_env("TRACKING_TOKEN"),
        username=_env("TRACKING_USERNAME"),
        password=_env("TRACKING_PASSWORD"),
        insecure_tls=(_env("TRACKING_INSECURE_TLS") or "").lower() in ("true", "1"),
        server_cert_path=_env("TRACKING_SERVER_CERT_PATH"),
        client_cert_path=_env("TRACKING_CLIENT_CERT_PATH"),
        max_retries=int(_number("HTTP_REQUEST_MAX_RETRIES", 7)),
        backoff_factor=_number("HTTP_REQUEST_BACKOFF_FACTOR", 2.0),
        backoff_jitter=_number("HTTP_REQUEST_BACKOFF_JITTER", 1.0),
        timeout=_number("HTTP_REQUEST_TIMEOUT", 120.0),
    )


def postgres_pool_size() -> int:
    """Connections a process may hold to a PostgreSQL store (``TRAZA_POSTGRES_POOL_SIZE``)."""
    return max(1, int(_number("POSTGRES_POOL_SIZE", 10)))
