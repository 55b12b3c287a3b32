"""A private PostgreSQL cluster (``initdb`` in a scratch folder, its own port) that a scenario may
stop and start at will; never the machine's shared server."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
from pathlib import Path

from torture._support import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"{name} not found (apt-get install postgresql)")
    return on_path


def _version(path: str) -> int:
    part = path.split("/")[4]
    return int(part) if part.isdigit() else 0


class Cluster:
    """``initdb`` + ``pg_ctl`` under ``folder``; as the ``postgres`` user when run as root."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # initdb refuses root
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(folder, "postgres")
            parent = folder.parent
            while parent != parent.parent:  # the postgres user must reach its folder
                os.chmod(parent, os.stat(parent).st_mode | 0o005)
                if parent == Path("/tmp"):
                    break
                parent = parent.parent

    def _run(self, *command: str) -> None:
        out = subprocess.run(
            [*self._as, *command], capture_output=True, text=True, timeout=180, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {out.stdout}{out.stderr}")

    def init(self) -> Cluster:
        self._run(
            _bin("initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        return self.start()

    def start(self) -> Cluster:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        options += " -c max_connections=200 -c fsync=on"
        self._run(
            _bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "postgres.log"),
            "-w",
            "-t",
            "120",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash: no checkpoint, recovery from the WAL at the next start."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
