"""The ``slurm`` backend: the entry point as an ``sbatch`` job on a cluster that shares a
filesystem with this machine.

The job script is built from the entry point's command and ``#SBATCH`` lines from the backend
config (every value checked: the script is a shell script). The project runs in place (a
folder on the shared filesystem) or is copied to ``staging_dir``; the environment is built
once under ``env_root`` on the shared filesystem and reused by every job. The job's state
comes from ``squeue`` (``-t all`` also lists recently ended jobs) and ``scontrol``, so no
accounting daemon is needed; a job that can never start (a pending reason Slurm will not
resolve by itself) is cancelled and its run FAILED with Slurm's reason.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traza.exceptions import ExecutionException
from traza.projects.backends import remote
from traza.projects.backends.base import Submission, TrazaBackend
from traza.projects.submitted import SubmittedRun

_NAME = re.compile(r"^[A-Za-z0-9_.,-]+$")
_TIME = re.compile(r"^\d+(-\d+)?(:\d+){0,2}$")
_MEM = re.compile(r"^\d+[KMGT]?$")
_COUNT = re.compile(r"^\d+(-\d+)?$")
_GRES = re.compile(r"^[A-Za-z0-9_.:,-]+$")
_MODULE = re.compile(r"^[A-Za-z0-9_.+/-]+$")
_OPTION = re.compile(r"^--?[A-Za-z][A-Za-z0-9-]*(=[A-Za-z0-9_.,:=%@/+-]*)?$")
_PATH = re.compile(r"^[A-Za-z0-9_./+@=,~-]+$")

#: config key -> (``#SBATCH`` option, check, what the value must look like).
_SBATCH: dict[str, tuple[str, re.Pattern[str], str]] = {
    "partition": ("--partition", _NAME, "a partition name"),
    "account": ("--account", _NAME, "an account name"),
    "qos": ("--qos", _NAME, "a QOS name"),
    "time": ("--time", _TIME, "minutes or [D-]HH:MM:SS"),
    "cpus": ("--cpus-per-task", _COUNT, "a number of CPUs"),
    "mem": ("--mem", _MEM, "a size such as 4G or 500M"),
    "gpus": ("--gpus", _GRES, "a count or type:count, e.g. 1 or a100:2"),
    "gres": ("--gres", _GRES, "a generic resource, e.g. gpu:a100:2"),
    "nodes": ("--nodes", _COUNT, "a number of nodes (or min-max)"),
}
_OTHER = {
    "extra_sbatch": 'a list of sbatch options, e.g. ["--constraint=avx2"]',
    "modules": "a list of environment modules to load",
    "staging_dir": "an absolute folder on the shared filesystem",
    "env_root": "an absolute folder on the shared filesystem",
    "stage_project": "true or false",
    "shared_store": "true or false",
    "keep_job_dir": "true or false",
    "poll_interval": "seconds between state queries",
    "upload_interval": "seconds between uploads of the output",
    "job_array": "true or false (a sweep's trials as one Slurm job array; default true)",
}
KNOWN = (*_SBATCH, *_OTHER)
#: Pending reasons Slurm does not resolve by itself: the job would wait forever.
FATAL_PENDING = {
    "BadConstraints": "the job's constraints cannot be met by any node",
    "PartitionNodeLimit": "more nodes than the partition allows",
    "PartitionTimeLimit": "a longer time than the partition allows",
    "InvalidAccount": "the account is not valid",
    "InvalidQOS": "the QOS is not valid",
    "AccountNotAllowed": "the account may not use this partition",
    "QOSNotAllowed": "the QOS may not be used in this partition",
    "DependencyNeverSatisfied": "a dependency can never be satisfied",
}
_ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "RESIZING",
           "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "SIGNALING", "STAGE_OUT", "STOPPED",
           "RESV_DEL_HOLD", "SPECIAL_EXIT"}  # fmt: skip


def _bad(key: str, value: Any, want: str) -> ExecutionException:
    return ExecutionException(
        f"Invalid slurm backend config {key}={value!r}: expected {want}.",
        error_code="INVALID_PARAMETER_VALUE",
    )


def _flag(config: dict[str, Any], key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise _bad(key, value, "true or false")
    return value


def _seconds(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.05 <= value <= 600:
        raise _bad(key, value, "a number of seconds from 0.05 to 600")
    return float(value)


def _folder(config: dict[str, Any], key: str) -> Path | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _PATH.match(value):
        raise _bad(key, value, "a folder path of letters, digits and _./+@=,~- (no spaces)")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise _bad(key, value, "an absolute folder path")
    return path


def _strings(config: dict[str, Any], key: str, pattern: re.Pattern[str], want: str) -> list[str]:
    value = config.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(key, value, want)
    out = []
    for item in value:
        item = item.strip()
        item = item[len("#SBATCH") :].strip() if item.startswith("#SBATCH") else item
        if not pattern.match(item):
            raise _bad(key, item, want)
        out.append(item)
    return out


def sbatch_options(config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The ``#SBATCH`` options for ``config`` and the resources they ask (for the run's tag).
    Unknown keys and values that are not plain words are refused."""
    unknown = sorted(set(config) - set(KNOWN))
    if unknown:
        raise ExecutionException(
            f"Unknown slurm backend config key(s): {', '.join(unknown)}. Known keys: "
            f"{', '.join(KNOWN)}.",
            error_code="INVALID_PARAMETER_VALUE",
        )
    options, resources = [], {}
    for key, (option, pattern, want) in _SBATCH.items():
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _bad(key, value, want)
        text = str(value)
        if not pattern.match(text):
            raise _bad(key, value, want)
        options.append(f"{option}={text}")
        resources[key] = text
    extra = _strings(config, "extra_sbatch", _OPTION, _OTHER["extra_sbatch"] + " (--name=value)")
    options.extend(extra)
    if extra:
        resources["extra_sbatch"] = " ".join(extra)
    return options, resources


def job_script(
    options: list[str], modules: list[str], directory: Path, argv: list[str], exit_file: Path
) -> str:
    """The batch script: ``#SBATCH`` lines, module loads, the command, its exit status kept."""
    lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in options)]
    lines += [f"module load {m}" for m in modules]
    lines += [
        f"cd {shlex.quote(str(directory))} || exit 1",
        shlex.join(argv),
        "status=$?",
        f'echo "$status" > {shlex.quote(str(exit_file))}',
        'exit "$status"',
    ]
    return "\n".join(lines) + "\n"


def _slurm(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise ExecutionException(
            f"{args[0]!r} was not found: the slurm backend runs on a machine with Slurm's "
            "client commands (sbatch, squeue, scontrol, scancel) on PATH."
        ) from None


class SlurmJob:
    """A submitted batch job: its state from squeue/scontrol, its output file, scancel."""

    def __init__(self, job_id: str, output: Path, exit_file: Path) -> None:
        self.job_id = job_id
        self.output = output
        self.exit_file = exit_file

    def _squeue_line(self) -> str:
        """squeue's ``STATE|REASON`` for the job, empty once slurmctld forgot it."""
        done = _slurm(["squeue", "-h", "-t", "all", "-j", self.job_id, "-o", "%T|%r"])
        if done.returncode != 0 and "Invalid job id" not in done.stderr:
            raise ExecutionException(f"squeue failed: {done.stderr.strip()}")
        return done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""

    def poll(self) -> remote.JobState:
        line = self._squeue_line()
        if not line:  # purged from slurmctld's memory: the exit status file tells
            return self._from_exit_file()
        state, _, reason = line.partition("|")
        state = state.strip().split()[0] if state.strip() else "UNKNOWN"
        if state == "PENDING":
            if reason in FATAL_PENDING:
                _slurm(["scancel", self.job_id])
                return remote.JobState(
                    "FAILED", f"Slurm cannot start the job: {reason} ({FATAL_PENDING[reason]})"
                )
            return remote.JobState("PENDING", reason)
        if state in _ACTIVE:
            return remote.JobState("RUNNING", reason)
        if state == "COMPLETED":
            return remote.JobState("SUCCEEDED")
        if state == "CANCELLED":
            return remote.JobState("STOPPED", "cancelled (scancel)")
        return remote.JobState("FAILED", self._failure(state, reason))

    def _failure(self, state: str, reason: str) -> str:
        shown = _slurm(["scontrol", "show", "job", "-o", self.job_id])
        fields = dict(f.split("=", 1) for f in shown.stdout.split() if "=" in f)
        code = fields.get("ExitCode", "")
        why = f"Slurm job {self.job_id} ended {state}"
        if code:
            status, _, signal = code.partition(":")
            why += f" with exit code {status}" + (f" (signal {signal})" if signal != "0" else "")
        if reason and reason != "None":
            why += f", reason {reason}"
        return why

    def _from_exit_file(self) -> remote.JobState:
        try:
            code = self.exit_file.read_text().strip()
        except OSError:
            return remote.JobState(
                "FAILED", f"Slurm job {self.job_id} is gone and left no exit status"
            )
        if code == "0":
            return remote.JobState("SUCCEEDED")
        return remote.JobState("FAILED", f"Slurm job {self.job_id} ended with exit code {code}")

    def read_output(self, offset: int) -> bytes:
        try:
            with self.output.open("rb") as f:
                f.seek(offset)
                return f.read(1 << 20)
        except FileNotFoundError:
            return b""

    def cancel(self) -> None:
        done = _slurm(["scancel", self.job_id])
        if done.returncode != 0:
            raise ExecutionException(f"scancel {self.job_id} failed: {done.stderr.strip()}")


class SlurmBackend(TrazaBackend):
    """``sbatch`` on the cluster this machine submits to."""

    name = "slurm"

    def submit(self, submission: Submission) -> SubmittedRun:
        config = submission.config
        options, resources = sbatch_options(config)
        if not isinstance(config.get("job_array", True), bool):
            raise _bad("job_array", config["job_array"], "true or false")
        modules = _strings(config, "modules", _MODULE, _OTHER["modules"])
        shared_store = _flag(config, "shared_store")
        stage, keep = _flag(config, "stage_project"), _flag(config, "keep_job_dir")
        poll = _seconds(config, "poll_interval", 1.0)
        upload = _seconds(config, "upload_interval", 5.0)
        staging = _folder(config, "staging_dir") or Path.home() / ".cache" / "traza" / "slurm"
        env_root = _folder(config, "env_root") or staging / "envs"
        remote.check_tracking(self.name, submission.tracking_uri, shared_store)
        staging.mkdir(parents=True, exist_ok=True)
        job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=staging))
        cleanup: Callable[[], None] = (lambda: None) if keep else remote.remove_tree(job_dir)
        try:
            opened = remote.open_project(
                submission, self.name, job_dir, env_root=env_root,
                shared_store=shared_store, resources=resources,
            )  # fmt: skip
        except BaseException:
            cleanup()
            raise
        try:
            return self._sbatch(submission, opened, job_dir, options, modules, stage, cleanup,
                                poll, upload)  # fmt: skip
        except BaseException:
            cleanup()
            if opened.client.get_run(opened.run_id).info.status not in ("FAILED", "KILLED"):
                opened.client.set_terminated(opened.run_id, "FAILED")
            raise

    def _sbatch(
        self,
        s: Submission,
        opened: remote.Opened,
        job_dir: Path,
        options: list[str],
        modules: list[str],
        stage: bool,
        cleanup: Callable[[], None],
        poll: float,
        upload: float,
    ) -> SubmittedRun:

        prepared, client, run_id = opened.prepared, opened.client, opened.run_id
        directory = prepared.source.directory
        if stage and not directory.is_relative_to(job_dir):
            target = job_dir / "project"
            skipped = shutil.ignore_patterns("mlruns", ".venv", "__pycache__")
            shutil.copytree(directory, target, symlinks=True, ignore=skipped)
            directory = target
        argv = remote.job_argv(prepared.command, prepared.python)
        env = {k: v for k, v in os.environ.items() if k not in remote.SECRET_VARIABLES}
        for name in ("TRAZA_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"):
            env.pop(name, None)
        env.update(prepared.env_vars)
        if prepared.python:
            env["PATH"] = os.path.dirname(prepared.python) + os.pathsep + env.get("PATH", "")
        env.update(remote.run_variables(opened.run, s.tracking_uri))
        env.update(remote.run_token(s.tracking_uri, run_id, self.name))
        env.setdefault("PYTHONUNBUFFERED", "1")
        from traza.projects.backends import slurm_array

        batch = slurm_array.current()
        if batch is not None and s.config.get("job_array", True) is not False:
            task = batch.add(opened, options, modules, directory, argv, env,
                             staging=job_dir.parent, keep=_flag(s.config, "keep_job_dir"),
                             poll=poll)  # fmt: skip
            return remote.RemoteSubmittedRun(
                run_id, task, client, job_dir / "traza", poll_interval=poll,
                upload_interval=upload, cleanup=batch.releasing(cleanup),
            )  # fmt: skip
        output, exit_file = job_dir / "slurm-output.log", job_dir / "exit_status"
        options = [f"--job-name=traza-{run_id[:8]}", f"--output={output}", *options]
        script = job_dir / "job.sh"
        script.write_text(job_script(options, modules, directory, argv, exit_file))
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["sbatch", "--parsable", "--export=ALL", str(script)],
                capture_output=True, text=True, env=env, timeout=120,
            )  # fmt: skip
        except FileNotFoundError:
            remote.fail_before_submission(client, run_id, self.name, "sbatch is not on PATH")
            raise  # unreachable: the line above raises
        if done.returncode != 0:
            reason = done.stderr.strip().replace("sbatch: error: ", "") or "sbatch failed"
            remote.fail_before_submission(client, run_id, self.name, reason)
        job_id = done.stdout.strip().split(";")[0]
        remote.say(
            f"=== Submitted Slurm job {job_id} for run '{run_id}' "
            f"({time.monotonic() - started:.2f} s) ==="
        )
        client.set_tag(run_id, remote.JOB_ID_TAG, job_id)
        job = SlurmJob(job_id, output, exit_file)
        return remote.RemoteSubmittedRun(
            run_id, job, client, job_dir / "traza", poll_interval=poll, upload_interval=upload,
            cleanup=cleanup,
        )  # fmt: skip
