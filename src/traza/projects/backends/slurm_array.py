"""Several slurm-backend runs submitted as ONE Slurm job array (``sbatch --array=...%K``), so
Slurm itself keeps at most K of them running.

Inside ``with batch(K, name):`` the slurm backend still opens each run as usual (its project,
environment, run-scoped token) but, instead of its own ``sbatch``, hands its command to the
batch: a per-task script and a per-task environment file (mode 0600: it holds the run's token)
in the array's folder. Leaving the block submits one array whose script runs
``task-$SLURM_ARRAY_TASK_ID.sh``; ``--export`` can only give every task the same environment,
so whatever differs between runs (run id, token) goes through those files.

Each run keeps its own :class:`~traza.projects.backends.remote.RemoteSubmittedRun`, following
an :class:`ArrayTask` (a :class:`SlurmJob` named ``<array>_<task>``, which squeue, scontrol and
scancel accept); the tasks share one ``squeue`` per poll interval instead of one each.
"""

from __future__ import annotations

import contextvars
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from traza.exceptions import ExecutionException
from traza.projects.backends import remote
from traza.projects.backends.slurm import SlurmJob, _slurm, job_script

ARRAY_JOB_ID_TAG = "traza.backend.array_job_id"
#: Slurm's default MaxArraySize is 1001: larger task ids are refused by sbatch.
MAX_TASK_ID = 1000
#: Never in the array's shared environment: each task's own file sets them.
PER_RUN = frozenset(("MLFLOW_RUN_ID", "TRAZA_RUN_ID", "MLFLOW_TRACKING_TOKEN",
                     "TRAZA_TRACKING_TOKEN"))  # fmt: skip
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_current: contextvars.ContextVar[ArrayBatch | None] = contextvars.ContextVar(
    "traza_slurm_array", default=None
)


def current() -> ArrayBatch | None:
    """The batch slurm-backend submissions in this context join (``None``: one job each)."""
    return _current.get()


@contextmanager
def batch(max_parallel: int, name: str, index_tag: str | None = None) -> Iterator[ArrayBatch]:
    """Collect the slurm runs submitted in the block; submit them as one array when it ends
    (an exception in the block submits nothing: its runs end KILLED). ``index_tag``: a run
    tag holding the task's number (a sweep's trial index), else runs are numbered in order."""
    collected = ArrayBatch(max_parallel, name, index_tag)
    token = _current.set(collected)
    try:
        yield collected
    except BaseException:
        collected.abandon("not submitted: the submitting process stopped first")
        raise
    finally:
        _current.reset(token)
    collected.submit()


def array_spec(indices: list[int], max_parallel: int) -> str:
    """``--array``'s value: consecutive indices as ranges (``0-3,7,9-10%2``)."""
    parts: list[str] = []
    ordered = sorted(indices)
    start = prev = ordered[0]
    for i in [*ordered[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts) + f"%{max_parallel}"


class ArrayTask(SlurmJob):
    """One run's task of the array: ``<array>_<task>`` once the array is submitted."""

    def __init__(self, owner: ArrayBatch, task: int, folder: Path, run_id: str, client: Any):
        super().__init__("", folder / f"task-{task}.log", folder / f"task-{task}.exit")
        self.batch, self.task, self.run_id, self.client = owner, task, run_id, client
        self.cancelled = False

    def _squeue_line(self) -> str:
        return self.batch.line(self.job_id)

    def poll(self) -> remote.JobState:
        if self.batch.failure:
            return remote.JobState("FAILED", self.batch.failure)
        if not self.job_id:
            if self.cancelled or self.batch.abandoned:
                return remote.JobState("STOPPED", self.batch.abandoned or "cancelled")
            return remote.JobState("PENDING", "waiting for the job array's submission")
        return super().poll()

    def cancel(self) -> None:
        if not self.job_id:
            self.cancelled = True  # left out of the array
        elif not self.batch.all_cancelled:
            super().cancel()


class ArrayBatch:
    """The runs of one job array: their files, the one ``sbatch``, the shared ``squeue``."""

    def __init__(self, max_parallel: int, name: str, index_tag: str | None) -> None:
        self.max_parallel, self.name, self.index_tag = max_parallel, name, index_tag
        self.tasks: dict[int, ArrayTask] = {}
        self.array_id: str | None = None
        self.failure = ""
        self.abandoned = ""
        self.all_cancelled = False
        self.folder: Path | None = None
        self._header: tuple[list[str], list[str]] | None = None
        self._env: dict[str, str] = {}
        self._keep = False
        self._fresh = 0.5
        self._lock = threading.Lock()
        self._seen = -1e9
        self._lines: dict[str, str] = {}
        self._users = 0
        self._closed = False

    def _task_number(self, run: Any) -> int:
        tag = run.data.tags.get(self.index_tag) if self.index_tag else None
        wanted = int(tag) if tag is not None and str(tag).isdigit() else len(self.tasks)
        while wanted in self.tasks:
            wanted += 1
        return wanted

    def add(
        self,
        opened: remote.Opened,
        options: list[str],
        modules: list[str],
        directory: Path,
        argv: list[str],
        env: dict[str, str],
        *,
        staging: Path,
        keep: bool,
        poll: float,
    ) -> ArrayTask:
        """Write the run's task script and variables; it starts when the array is submitted."""
        if self._closed:
            raise ExecutionException("This job array was already submitted.")
        if self._header is None:
            self._header = (list(options), list(modules))
            self._env = {k: v for k, v in env.items() if k not in PER_RUN}
            self.folder = Path(tempfile.mkdtemp(prefix="array-", dir=staging))
            self._fresh = poll / 2
        elif self._header != (options, modules):
            raise ExecutionException(
                "The runs of one Slurm job array must ask the same resources and modules."
            )
        assert self.folder is not None
        self._keep = self._keep or keep
        task = self._task_number(opened.run)
        own = {k: v for k, v in env.items()
               if (k in PER_RUN or self._env.get(k) != v) and _VARIABLE.match(k)}  # fmt: skip
        variables = self.folder / f"task-{task}.env"
        fd = os.open(variables, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(own.items()))
        job = ArrayTask(self, task, self.folder, opened.run_id, opened.client)
        script = job_script([], [], directory, argv, job.exit_file).split("\n", 1)
        text = f"{script[0]}\n. {shlex.quote(str(variables))}\n{script[1]}"
        (self.folder / f"task-{task}.sh").write_text(text)
        self.tasks[task] = job
        self._users += 1
        return job

    def releasing(self, cleanup: Callable[[], None]) -> Callable[[], None]:
        """``cleanup`` and, after the array's last run ended, the array's folder removed."""

        def release() -> None:
            try:
                cleanup()
            finally:
                with self._lock:
                    self._users -= 1
                self._remove_if_unused()

        return release

    def _remove_if_unused(self) -> None:
        if self._closed and self._users <= 0 and not self._keep and self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def abandon(self, reason: str) -> None:
        self.abandoned, self._closed = reason, True
        self._remove_if_unused()

    def submit(self) -> None:
        """One ``sbatch --array`` for every run added and not cancelled meanwhile."""
        self._closed = True
        numbers = sorted(n for n, t in self.tasks.items() if not t.cancelled)
        if self.abandoned or not numbers or self.folder is None or self._header is None:
            self._remove_if_unused()
            return
        options, modules = self._header
        options = [f"--job-name={self.name}", f"--output={self.folder}/task-%a.log", *options]
        script = self.folder / "array.sh"
        script.write_text("\n".join([
            "#!/bin/bash", *(f"#SBATCH {o}" for o in options),
            *(f"module load {m}" for m in modules),
            f'exec bash {shlex.quote(str(self.folder))}/task-"$SLURM_ARRAY_TASK_ID".sh', "",
        ]))  # fmt: skip
        spec = array_spec(numbers, self.max_parallel)
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["sbatch", "--parsable", "--export=ALL", f"--array={spec}", str(script)],
                capture_output=True, text=True, env=self._env, timeout=120,
            )  # fmt: skip
        except FileNotFoundError:
            self.failure = "sbatch is not on PATH"
            return
        except subprocess.TimeoutExpired:
            self.failure = "sbatch did not answer within 120 s"
            return
        if done.returncode != 0:
            self.failure = done.stderr.strip().replace("sbatch: error: ", "") or "sbatch failed"
            remote.say(f"=== The Slurm job array was not submitted: {self.failure} ===")
            return
        self.array_id = done.stdout.strip().split(";")[0]
        from traza.entities import RunTag

        for number in numbers:
            task = self.tasks[number]
            task.job_id = f"{self.array_id}_{number}"
            tags = [RunTag(remote.JOB_ID_TAG, task.job_id),
                    RunTag(ARRAY_JOB_ID_TAG, self.array_id)]  # fmt: skip
            try:
                task.client.log_batch(task.run_id, tags=tags)
            except Exception as e:  # the job runs anyway; said, not fatal
                remote.say(f"Could not tag run {task.run_id} with its Slurm task: {e}")
        remote.say(
            f"=== Submitted Slurm job array {self.array_id} (--array={spec}, "
            f"{len(numbers)} runs) ({time.monotonic() - started:.2f} s) ==="
        )

    def line(self, job_id: str) -> str:
        """The task's ``STATE|REASON`` from one ``squeue`` of the whole array, refreshed at
        most every half poll interval whichever task asks."""
        with self._lock:
            if time.monotonic() - self._seen >= self._fresh:
                done = _slurm(["squeue", "-h", "-t", "all", "-r", "-j", str(self.array_id),
                               "-o", "%i|%T|%r"])  # fmt: skip
                if done.returncode != 0 and "Invalid job id" not in done.stderr:
                    raise ExecutionException(f"squeue failed: {done.stderr.strip()}")
                lines = {}
                for row in done.stdout.splitlines():
                    task_id, _, rest = row.strip().partition("|")
                    lines[task_id] = rest
                self._lines, self._seen = lines, time.monotonic()
            return self._lines.get(job_id, "")

    def cancel_all(self) -> None:
        """One ``scancel`` of the whole array (its tasks' own cancels then only wait)."""
        if self.array_id is None or self.all_cancelled:
            return
        self.all_cancelled = True
        done = _slurm(["scancel", self.array_id])
        if done.returncode != 0:
            remote.say(f"scancel {self.array_id} failed: {done.stderr.strip()}")


def cancel_named(name: str) -> None:
    """``scancel`` this user's jobs called ``name``: an array a dead process left behind (its
    tasks would still run and log into runs already marked KILLED)."""
    import getpass

    done = _slurm(["scancel", f"--name={name}", f"--user={getpass.getuser()}"])
    if done.returncode != 0:
        remote.say(f"scancel --name={name} failed: {done.stderr.strip()}")
