"""Fixtures for the cluster backends: real Slurm and Ray (started once per session, stopped
after), a live ``traza server`` per test (optionally with basic-auth), and small projects.

The Slurm and Ray tests run the same projects the same way, so what they share is here too:
the salary example, the polling settings, reading a run's output and waiting on it."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.engines import Ray, Slurm, can_be_root, ray_cluster, slurm_cluster
from traza.client import TrazaClient
from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer
from traza.store.uri import open_store

ADMIN_PASSWORD = "cluster admin password"
SALARY = Path(__file__).resolve().parents[2] / "examples" / "salary"
#: Backend config keys common to both engines: short jobs polled and uploaded often.
FAST_POLLING: dict[str, Any] = {"poll_interval": 0.2, "upload_interval": 0.5}

MLPROJECT = """\
name: cluster
entry_points:
  main:
    parameters:
      x: {type: float, default: 1.0}
    command: "python train.py {x}"
  fail:
    command: "python -c 'import sys; print(\\"about to fail\\", flush=True); sys.exit(3)'"
  slow:
    command: "python -c 'import time; print(\\"started\\", flush=True); time.sleep(600)'"
  where:
    command: "python -c 'import sys; print(\\"prefix=\\" + sys.prefix, flush=True)'"
  where_six:
    command: "python -c 'import six, sys; print(\\"prefix=\\" + sys.prefix, flush=True)'"
  which_traza:
    command: "python -c 'import traza; print(\\"traza=\\" + traza.__file__, flush=True)'"
"""

TRAIN = """\
import os
import sys

import traza

x = float(sys.argv[1])
print("training with x =", x, flush=True)
with traza.start_run():
    traza.log_metric("y", x * 2)
    traza.set_tag("token_kind", "run" if os.environ.get("MLFLOW_TRACKING_TOKEN") else "none")
    traza.set_tag("password_seen", str("MLFLOW_TRACKING_PASSWORD" in os.environ))
print("done", flush=True)
"""


@pytest.fixture(scope="session")
def slurm_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    if not can_be_root():
        pytest.fail(
            "The Slurm tests start slurmctld/slurmd as root: run them as root or with "
            "passwordless sudo."
        )
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


@pytest.fixture
def slurm(slurm_engine: Slurm, monkeypatch: pytest.MonkeyPatch) -> Slurm:
    monkeypatch.setenv("SLURM_CONF", str(slurm_engine.conf))
    return slurm_engine


@pytest.fixture(scope="session")
def ray_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ray]:
    with ray_cluster(Path("/tmp") / f"traza-ray-{os.getpid()}") as cluster:
        yield cluster


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A ``traza server`` on 127.0.0.1 over a fresh SQLite store, as the tracking URI."""
    root = tmp_path / "served"
    root.mkdir()
    uri = f"sqlite:///{root / 'tracking.db'}"
    settings = ServerSettings(
        backend_store_uri=uri,
        default_artifact_root="mlflow-artifacts:/",
        artifacts_destination=str(root / "mlartifacts"),
    )
    store = open_store(uri, artifact_root="mlflow-artifacts:/")
    with BackgroundServer(create_app(settings, store=store)) as s:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", s.url)
        yield s.url


@pytest.fixture
def auth_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The same with ``--app-name basic-auth``; this process signs in as the admin."""
    from traza.auth.config import AuthConfig

    root = tmp_path / "served"
    root.mkdir()
    uri = f"sqlite:///{root / 'tracking.db'}"
    settings = ServerSettings(
        backend_store_uri=uri,
        default_artifact_root="mlflow-artifacts:/",
        artifacts_destination=str(root / "mlartifacts"),
        app_name="basic-auth",
    )
    store = open_store(uri, artifact_root="mlflow-artifacts:/")
    config = AuthConfig(admin_password=ADMIN_PASSWORD)
    with BackgroundServer(create_app(settings, store=store, auth_config=config)) as s:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", s.url)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
        yield s.url


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text(TRAIN)
    return folder


@pytest.fixture
def salary_project(tmp_path: Path) -> Path:
    """A copy of ``examples/salary`` without any local store or bytecode it may hold."""
    folder = tmp_path / "salary"
    shutil.copytree(SALARY, folder, ignore=shutil.ignore_patterns("mlruns", "__pycache__"))
    return folder


def output_of(client: TrazaClient, run_id: str) -> str:
    """The run's ``project_output.log`` as uploaded so far."""
    return Path(client.download_artifacts(run_id, "project_output.log")).read_text()


def wait_for(check: Callable[[], Any], timeout: float = 120, what: str = "") -> Any:
    """Poll ``check`` until it gives a true value, and return that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what or check} not true within {timeout} s")


def wait_for_output(client: TrazaClient, run_id: str, text: str, timeout: float = 120) -> None:
    """Wait until the uploaded output holds ``text`` (the log may not exist yet)."""

    def uploaded() -> bool:
        try:
            return text in output_of(client, run_id)
        except Exception:
            return False

    wait_for(uploaded, timeout, f"{text!r} in the uploaded output of run {run_id}")
