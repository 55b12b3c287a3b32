"""Helpers the scenarios share: free ports, a ``traza server`` subprocess, store checks."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without TRAZA_*/MLFLOW_* settings (a scenario states its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory removed afterwards (kept when TORTURE_KEEP=1, to inspect)."""
    path = Path(tempfile.mkdtemp(prefix=f"torture-{prefix}-"))
    try:
        yield path
    finally:
        if os.environ.get("TORTURE_KEEP") != "1":
            subprocess.run(["rm", "-rf", str(path)], check=False)


def wait_healthy(url: str, process: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            err = process.stderr.read().decode()[-2000:] if process.stderr else ""
            raise RuntimeError(f"the server exited ({process.returncode}): {err}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.read() == b"OK":
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer /health in {timeout} s")


class Server:
    """``traza server`` in its own process group, so ``kill -9`` reaches every worker."""

    def __init__(
        self,
        store_uri: str,
        artifacts: Path,
        *,
        port: int | None = None,
        workers: int = 1,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.store_uri = store_uri
        self.artifacts = artifacts
        self.port = port or free_port()
        self.workers = workers
        self.extra_args = list(extra_args)
        self.env = env or clean_env()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = artifacts.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60) -> Server:
        self.artifacts.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "traza", "server", "--backend-store-uri", self.store_uri]
        command += ["--artifacts-destination", str(self.artifacts), "--port", str(self.port)]
        command += ["--workers", str(self.workers), *self.extra_args]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        try:
            wait_healthy(self.url, self.process, timeout)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; its log ends: {self.log_tail()}") from None
        return self

    def kill9(self) -> None:
        """SIGKILL the whole process group (the supervisor and every worker) and reap it."""
        assert self.process is not None
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sqlite_integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of one SQLite file: ``"ok"`` or SQLite's complaint."""
    conn = sqlite3.connect(path)
    try:
        return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()
