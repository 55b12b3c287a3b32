"""A live ``traza server`` that proxies artifacts, as the tests in this folder use it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import postgres_schema
from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer
from traza.store.base import Store
from traza.store.uri import open_store

PROXIED_ROOT = "mlflow-artifacts:/"


@dataclass(frozen=True)
class Live:
    url: str
    store: Store
    #: Where the proxy keeps files (``mlflow-artifacts:/x`` is ``artifacts/x``).
    artifacts: Path


@contextmanager
def live_server(
    store_uri: str, root: Path, auth_config: Any = None, **settings: Any
) -> Iterator[Live]:
    """Serve the store at ``store_uri`` with ``mlflow-artifacts:/`` as the artifact root.

    ``root`` holds the artifacts destination; ``settings`` override :class:`ServerSettings`
    fields; ``auth_config`` (a ``traza.auth.config.AuthConfig``) goes with ``app_name``.
    The server closes the store when it stops.
    """
    artifacts = root / "mlartifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    store = open_store(store_uri, artifact_root=PROXIED_ROOT)
    config = ServerSettings(
        backend_store_uri=store_uri,
        default_artifact_root=PROXIED_ROOT,
        serve_artifacts=True,
        artifacts_destination=str(artifacts),
        **settings,
    )
    with BackgroundServer(create_app(config, store=store, auth_config=auth_config)) as server:
        yield Live(server.url, store, artifacts)


@contextmanager
def live_backend(backend: str, root: Path) -> Iterator[Live]:
    """``live_server`` over a fresh store of the kind ``backend`` names: ``sqlite`` (a new file
    under ``root``) or ``postgresql`` (a new schema on the test server, dropped afterwards)."""
    if backend == "postgresql":
        with postgres_schema() as uri, live_server(uri, root) as live:
            yield live
    else:
        with live_server(f"sqlite:///{root / 'db' / 'tracking.db'}", root) as live:
            yield live
