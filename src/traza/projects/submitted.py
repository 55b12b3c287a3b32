"""A running project: its process group, its output, and the run's final status.

One watcher thread per run waits for the command, keeps its output, uploads it to the run and
marks the run FINISHED, FAILED or KILLED, whatever happened in between; ``wait()`` just waits
for that thread. The thread is not a daemon, so a script that starts runs with
``synchronous=False`` and returns still lets them finish and be recorded (as MLflow does).
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

OUTPUT_ARTIFACT = "project_output.log"
#: Seconds between SIGTERM and SIGKILL when a run is cancelled.
CANCEL_GRACE_SECONDS = 5.0


class SubmittedRun:
    """MLflow's interface to a launched project run."""

    @property
    def run_id(self) -> str:
        raise NotImplementedError

    def wait(self) -> bool:
        """Wait for the run to end; ``True`` when it succeeded."""
        raise NotImplementedError

    def get_status(self) -> str:
        """``RUNNING``, ``FINISHED``, ``FAILED`` or ``KILLED``."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop the run (its whole process group) and wait until it is recorded as KILLED."""
        raise NotImplementedError


class _Pump(threading.Thread):
    """Copy one pipe to the console and to the log, chunk by chunk (progress bars included)."""

    def __init__(self, pipe: IO[bytes], console: Any, log: IO[bytes], lock: threading.Lock):
        super().__init__(daemon=True, name="traza-project-output")
        self._pipe, self._console, self._log, self._lock = pipe, console, log, lock
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def run(self) -> None:
        fd = self._pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            with self._lock:
                self._log.write(chunk)
            self._show(self._decoder.decode(chunk))
        self._show(self._decoder.decode(b"", final=True))
        self._pipe.close()

    def _show(self, text: str) -> None:
        if not text:
            return
        try:
            self._console.write(text)
            self._console.flush()
        except (OSError, ValueError):  # a closed console must not stop the log
            pass


class LocalSubmittedRun(SubmittedRun):
    """A command running on this machine in its own process group."""

    def __init__(
        self,
        run_id: str,
        process: subprocess.Popen[bytes],
        log_path: Path,
        finish: Callable[[str, Path], None],
        cleanup: Callable[[], None] = lambda: None,
    ) -> None:
        """``finish(status, log_path)`` records the outcome; ``cleanup`` runs after it, always."""
        self._run_id = run_id
        self._process = process
        self._finish = finish
        self._cleanup = cleanup
        self._log_path = log_path
        self._lock = threading.Lock()
        self._cancelled = False
        self._status = "RUNNING"
        self._done = threading.Event()
        self._log = log_path.open("wb")
        write_lock = threading.Lock()
        self._pumps = [
            _Pump(pipe, console, self._log, write_lock)
            for pipe, console in ((process.stdout, sys.stdout), (process.stderr, sys.stderr))
            if pipe is not None
        ]
        for pump in self._pumps:
            pump.start()
        self._watcher = threading.Thread(target=self._watch, name=f"traza-run-{run_id[:8]}")
        self._watcher.start()

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def pid(self) -> int:
        """The command's process id, which is also its process group id."""
        return self._process.pid

    def _watch(self) -> None:
        status = "FAILED"
        try:
            code = self._process.wait()
            # Output still buffered in the pipes is kept; a background grandchild holding a
            # pipe open does not hold the run hostage.
            for pump in self._pumps:
                pump.join(timeout=5)
            with self._lock:
                status = "KILLED" if self._cancelled else "FINISHED" if code == 0 else "FAILED"
        finally:
            try:
                self._log.close()
                self._finish(status, self._log_path)
            finally:
                try:
                    self._cleanup()
                finally:
                    self._status = status
                    self._done.set()

    def wait(self) -> bool:
        self._done.wait()
        return self._status == "FINISHED"

    def get_status(self) -> str:
        return self._status if self._done.is_set() else "RUNNING"

    def cancel(self) -> None:
        with self._lock:
            if self._process.poll() is not None:
                self._done.wait()
                return
            self._cancelled = True
        kill_process_group(self._process)
        self._done.wait()


def kill_process_group(process: subprocess.Popen[bytes], grace: float | None = None) -> None:
    """SIGTERM the group; SIGKILL whatever is left of it after ``grace`` seconds."""
    grace = CANCEL_GRACE_SECONDS if grace is None else grace
    group = process.pid
    if not _signal_group(group, signal.SIGTERM):
        process.wait()
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process.poll() is not None and not _signal_group(group, 0):
            break
        time.sleep(0.02)
    _signal_group(group, signal.SIGKILL)  # stragglers that ignored SIGTERM
    process.wait()


def _signal_group(group: int, sig: int) -> bool:
    """Send ``sig`` to the group; ``False`` when no process of it is left."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
