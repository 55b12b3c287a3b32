"""Shared fixtures: isolated working directories, fresh fluent state, and the store matrix.

Every store fixture yields a real store on real files; the contract suite in ``contract/``
runs against each, so a backend joins by adding a parameter here.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from traza.store.base import Store
from traza.store.uri import open_store

if TYPE_CHECKING:
    from traza.store.sql.store import SqlStore

STORE_KINDS = ["folder", "sqlite-uri", "postgresql", "rest"]

#: The PostgreSQL server the suite uses (these machines run one with trust auth).
POSTGRES_URL = os.environ.get(
    "TRAZA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, empty schema on the test server, as a URL whose connections use it."""
    import psycopg

    name = f"traza_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            separator = "&" if "?" in POSTGRES_URL else "?"
            yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{name}"
        finally:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


@contextmanager
def served_store(backend: Store, artifacts_destination: Path | None = None) -> Iterator[str]:
    """A live ``traza server`` on 127.0.0.1 over ``backend``; yields its URL."""
    from traza.server import ServerSettings, create_app
    from traza.server.background import BackgroundServer

    settings = ServerSettings(
        backend_store_uri="(given)",
        artifacts_destination=str(artifacts_destination or Path.cwd() / "mlartifacts"),
    )
    with BackgroundServer(create_app(settings, store=backend)) as server:
        yield server.url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgresql":
        with postgres_schema() as url:
            s = open_store(url, artifact_root=(tmp_path / "artifacts").as_uri())
            yield s
            s.close()
        return
    if request.param == "rest":
        with served_store(open_store(str(tmp_path / "served"))) as url:
            s = open_store(url)
            yield s
            s.close()
        return
    if request.param == "folder":
        s = open_store(str(tmp_path / "mlruns"))
    else:
        s = open_store(f"sqlite:///{tmp_path / 'db' / 'tracking.db'}")
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A SQL store on a fresh SQLite file, and on a fresh PostgreSQL schema: for tests of the
    SQL layer itself (its tables, its queries), which the folder and REST stores do not have."""
    from traza.store.sql.store import SqlStore

    if request.param == "postgresql":
        with postgres_schema() as url:
            s = open_store(url, artifact_root=(tmp_path / "artifacts").as_uri())
            assert isinstance(s, SqlStore)
            yield s
            s.close()
        return
    s = open_store(f"sqlite:///{tmp_path / 'tracking.db'}")
    assert isinstance(s, SqlStore)
    yield s
    s.close()


_TRACKING_PREFIXES = ("TRAZA_", "MLFLOW_")
#: The tracking variables the suite started with.
_STARTING_VARIABLES = {k: v for k, v in os.environ.items() if k.startswith(_TRACKING_PREFIXES)}


@pytest.fixture
def _tracking_variables_restored() -> Iterator[None]:
    """After a test (and after its monkeypatch is undone), put the tracking variables back as
    the suite started. MLflow 3's ``set_tracking_uri``/``set_experiment`` write
    ``MLFLOW_TRACKING_URI``/``MLFLOW_EXPERIMENT_ID`` into ``os.environ``; left there they
    reached the module-scoped fixtures of later files, which run before ``isolated``."""
    yield
    for name in [k for k in os.environ if k.startswith(_TRACKING_PREFIXES)]:
        if name not in _STARTING_VARIABLES:
            del os.environ[name]
    os.environ.update(_STARTING_VARIABLES)


@pytest.fixture(autouse=True)
def isolated(
    _tracking_variables_restored: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Run each test in its own folder with no tracking variables and no active runs."""
    for name in list(os.environ):
        if name.startswith(_TRACKING_PREFIXES):
            monkeypatch.delenv(name)
    # A failing request fails fast in tests, for both clients (the default backs off minutes).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    # The suite's environment is activated, as MLflow users activate theirs: the `python` of
    # `traza run --env-manager local` (and of DVC stages) is the one on PATH.
    bin_dir = os.path.dirname(sys.executable)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work
    import traza
    from traza import client, fluent
    from traza.store import uri

    while traza.active_run() is not None:
        traza.end_run()
    client.set_tracking_uri(None)  # type: ignore[arg-type]
    fluent._active_experiment_id = None
    fluent._last_active_run_id = None
    fluent._client_cache = None
    with fluent._lock:
        fluent._open_frames.clear()
    for s in uri._open_stores.values():
        s.close()
    uri._open_stores.clear()
    _reset_mlflow()


def _reset_mlflow() -> None:
    """Forget the real mlflow's global state (active runs, experiment, tracking URI), if used."""
    import sys

    if "mlflow" not in sys.modules:
        return
    import mlflow
    from mlflow.tracking import _tracking_service, fluent

    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None
    _tracking_service.utils._tracking_uri = None


# -- an S3-compatible server (moto's) on 127.0.0.1, and a fresh bucket per test -----------------
@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Bucket:
    name: str
    client: Any

    def object_keys(self) -> list[str]:
        answer = self.client.list_objects_v2(Bucket=self.name)
        return sorted(o["Key"] for o in answer.get("Contents", ()))


@pytest.fixture
def bucket(isolated: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket; the environment points boto3 and Traza at the local server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint)
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    name = f"traza-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(name, client)
