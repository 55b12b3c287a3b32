"""Tracking servers for ``server.py``: where each system's store lives, start, wait, stop.

Every server runs as its own subprocess (in a new session, so it and any children it spawns
can be stopped as one process group) on a free 127.0.0.1 port, from its own temporary folder.
``start_to_ready`` is measured from just before the process is spawned until ``GET /health``
answers 200. Every server started here is stopped on return, on errors and on Ctrl+C.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
FML_VENV = CACHE / "fml-venv"
FML = FML_VENV / "bin" / "fml"
VENV_BIN = Path(sys.executable).parent

SYSTEMS = ("traza", "mlflow", "fasttrackml")
READY_TIMEOUT = 180.0  # seconds; MLflow on a fresh SQLite file needs ~25 s
STOP_TIMEOUT = 5.0  # then SIGKILL: a server stuck on requests it cannot finish may not stop
SETTLE_TIMEOUT = 30.0


class ServerError(RuntimeError):
    """A server would not start or answer; the message is one line for the table."""


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server reachable with trust auth (user, host and port)."""

    user: str = "postgres"
    host: str = "127.0.0.1"
    port: int = 5432
    admin_db: str = "test"

    def libpq(self, db: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{db}"

    def connect(self, db: str | None = None) -> Any:
        import psycopg

        return psycopg.connect(self.libpq(db or self.admin_db), autocommit=True)

    def exists(self, db: str) -> bool:
        with self.connect() as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone()
        return row is not None

    def create(self, db: str, template: str | None = None) -> None:
        """Create ``db`` (a file-level copy of ``template`` when given: seconds, not minutes)."""
        copy = f" TEMPLATE {template}" if template else ""
        with self.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {db}{copy}")

    def drop(self, db: str) -> None:
        with self.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def store_uri(system: str, backend: str, location: str, pg: Postgres) -> str:
    """The backend-store URI ``system`` expects for a SQLite file path or a PostgreSQL db name."""
    if backend == "sqlite":
        if system == "fasttrackml":
            return f"sqlite://{location}"  # FastTrackML's form: sqlite:// + absolute path
        return f"sqlite:///{location}"  # SQLAlchemy's form: sqlite:////abs/path
    url = pg.libpq(location)
    if system == "mlflow":  # this venv has psycopg 3 (not psycopg2), SQLAlchemy's +psycopg
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    if system == "fasttrackml":
        return url.replace("postgresql://", "postgres://", 1) + "?sslmode=disable"
    return url


def _command(system: str, uri: str, port: int, workers: int, folder: Path) -> list[str]:
    artifacts = str(folder / "artifacts")
    if system == "fasttrackml":
        return [
            str(FML),
            "server",
            "--database-uri",
            uri,
            "--listen-address",
            f"127.0.0.1:{port}",
            "--default-artifact-root",
            artifacts,
        ]
    executable = VENV_BIN / ("traza" if system == "traza" else "mlflow")
    return [
        str(executable),
        "server",
        "--backend-store-uri",
        uri,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def fasttrackml_problem() -> str | None:
    """Why FastTrackML cannot run here (one line), or ``None`` when it can."""
    if FML.exists():
        return None
    pip = FML_VENV / "bin" / "pip"
    try:
        if not pip.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(FML_VENV)], check=True, capture_output=True
            )
        done = subprocess.run(
            [str(pip), "install", "-q", "fasttrackml"], capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"not run: installing it failed ({e})"
    if not FML.exists():
        last = (done.stderr.strip().splitlines() or ["no fml executable"])[-1]
        return f"not run: `pip install fasttrackml` failed ({last[:80]})"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_environment(system: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    if system == "mlflow":
        # Its job runner (seven huey consumer processes for MLflow's GenAI jobs) has nothing to
        # do with tracking, and spends ~10 s of CPU importing after the server is ready. Off,
        # MLflow starts sooner and is measured on an otherwise idle machine: only in its favour.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    return env


@dataclass
class Server:
    system: str
    url: str
    process: subprocess.Popen[bytes]
    start_to_ready: float
    log: Path
    settle_seconds: float = 0.0

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])


def _health(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and everything it spawned: SIGTERM its group, then SIGKILL if needed."""
    pgid = process.pid  # started with start_new_session: the group is the server's own
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if process.poll() is not None and not _group_alive(pgid):
                return
            time.sleep(0.05)
    process.poll()


def _cpu_ticks(pgid: int) -> int:
    """CPU time (clock ticks) used so far by every live process in the group."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[2] is pgrp (the 5th field of stat)
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def settle(server: Server) -> float:
    """Wait (bounded) until the server's processes are idle (a server may still be loading
    modules or running migrations in other processes after /health answers)."""
    start = time.monotonic()
    hz = os.sysconf("SC_CLK_TCK")
    before = _cpu_ticks(server.process.pid)
    while time.monotonic() - start < SETTLE_TIMEOUT:
        time.sleep(0.5)
        now = _cpu_ticks(server.process.pid)
        if (now - before) / hz < 0.05:  # under 10% of one core over the last half second
            break
        before = now
    return time.monotonic() - start


@contextlib.contextmanager
def running(
    system: str,
    uri: str,
    folder: Path,
    workers: int = 1,
    settle_after: bool = True,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Serve ``uri`` with ``system`` until the block ends; the folder holds its files.

    ``extra_args`` go on the server's command line, ``env`` over its (cleaned) environment.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / f"{system}-{port}.log"
    command = _command(system, uri, port, workers, folder) + list(extra_args or ())
    with open(log, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=folder,
            env={**_clean_environment(system), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _health(port):
            if process.poll() is not None:
                server = Server(system, "", process, 0.0, log)
                raise ServerError(f"exited with {process.returncode}: {server.log_tail(2)}")
            if time.monotonic() > deadline:
                raise ServerError(f"no answer on /health within {READY_TIMEOUT:.0f} s")
            time.sleep(0.01)
        server = Server(
            system, f"http://127.0.0.1:{port}", process, time.perf_counter() - start, log
        )
        if settle_after:
            server.settle_seconds = settle(server)
        yield server
    finally:
        stop(process)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so every ``running`` block stops its server."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy a checkpointed SQLite file (and its WAL, if one was left) for a server to mutate."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + "-wal"))
