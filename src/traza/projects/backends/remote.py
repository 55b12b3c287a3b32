"""What every cluster backend shares: the checks before a run exists, the run created before
the job is submitted, the job's variables (with a run-scoped token on an authenticated
server), and :class:`RemoteSubmittedRun`, which follows a job until it ends.

A backend provides a :class:`Job` (its state, its new output, its cancellation); the rest
(the run's SCHEDULED/RUNNING/final status, ``project_output.log`` uploaded while the job
runs, the engine's reason kept on a FAILED run) is the same on Slurm, Ray or Kubernetes.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

from traza.exceptions import ExecutionException, TrazaException
from traza.projects.submitted import OUTPUT_ARTIFACT, SubmittedRun

JOB_ID_TAG = "traza.backend.job_id"
RESOURCES_TAG = "traza.backend.resources"
REASON_TAG = "traza.backend.reason"
#: Seconds of failed status queries in a row after which the run is FAILED.
POLL_FAILURE_LIMIT = 120.0
#: Seconds a cancelled, running job has to be reported stopped before the run is KILLED anyway.
CANCEL_CONFIRM = 60.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_server(tracking_uri: str) -> bool:
    return tracking_uri.startswith(("http://", "https://"))


def check_tracking(backend: str, tracking_uri: str, shared_store: bool) -> None:
    """Refuse a store the cluster's nodes cannot reach (a local folder or database) unless the
    configuration declares it shared by every node."""
    if is_server(tracking_uri) or shared_store:
        return
    raise ExecutionException(
        f"The tracking URI {tracking_uri!r} is a store on this machine, which the {backend} "
        "job's nodes cannot reach. Start a tracking server on it (`traza server "
        f"--backend-store-uri {tracking_uri} --host 0.0.0.0`) and use its URI "
        "(MLFLOW_TRACKING_URI=http://<host>:5000), or, if the store's folder is on a "
        'filesystem every node mounts, say so with "shared_store": true in the backend config.',
        error_code="INVALID_PARAMETER_VALUE",
    )


def run_variables(run: Any, tracking_uri: str) -> dict[str, str]:
    """The variables that make the job log into ``run`` (both libraries' names)."""
    run_id, experiment_id = str(run.info.run_id), str(run.info.experiment_id)
    return {
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "TRAZA_RUN_ID": run_id,
        "TRAZA_EXPERIMENT_ID": experiment_id,
        "TRAZA_TRACKING_URI": tracking_uri,
    }


#: Credentials never handed to a job: it gets a token scoped to its run instead.
SECRET_VARIABLES = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_TOKEN",
    "TRAZA_TRACKING_PASSWORD",
    "TRAZA_TRACKING_USERNAME",
    "TRAZA_TRACKING_TOKEN",
)


def run_token(tracking_uri: str, run_id: str, backend: str) -> dict[str, str]:
    """``MLFLOW_TRACKING_TOKEN`` for a token that may log only to ``run_id`` (revoked when the
    run ends), when the server is reached with credentials; nothing otherwise."""
    from traza.config import http_settings

    settings = http_settings()
    if not is_server(tracking_uri) or (settings.username is None and settings.token is None):
        return {}
    from traza.http import HttpClient

    http = HttpClient(tracking_uri, settings)
    body = json.dumps({"run_id": run_id, "name": f"traza {backend} job, run {run_id}"})
    try:
        answer = http.request("POST", "/api/traza/v1/tokens", json_body=body.encode())
        secret = json.loads(answer.data)["token"]
    except (TrazaException, ValueError, KeyError) as e:
        if isinstance(e, TrazaException) and e.error_code == "ENDPOINT_NOT_FOUND":
            return {}  # a server without authentication: nothing to hand over
        message = e.message if isinstance(e, TrazaException) else str(e)
        raise ExecutionException(
            f"Could not get a token scoped to run {run_id} for the {backend} job: {message}. "
            "Run tokens are made with a password: set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD (the job never sees them)."
        ) from None
    finally:
        http.close()
    return {"MLFLOW_TRACKING_TOKEN": secret, "TRAZA_TRACKING_TOKEN": secret}


@dataclass(frozen=True)
class JobState:
    """A job's state in the engine's terms, mapped to one of five phases."""

    phase: str  # PENDING | RUNNING | SUCCEEDED | FAILED | STOPPED
    reason: str = ""  # the engine's words: why it waits, failed or stopped

    @property
    def done(self) -> bool:
        return self.phase in ("SUCCEEDED", "FAILED", "STOPPED")


class Job(Protocol):
    """A submitted job as a backend sees it."""

    job_id: str

    def poll(self) -> JobState: ...

    def read_output(self, offset: int) -> bytes:
        """The job's output from byte ``offset`` on (empty when nothing new)."""
        ...

    def cancel(self) -> None: ...


_RUN_STATUS = {"SUCCEEDED": "FINISHED", "FAILED": "FAILED", "STOPPED": "KILLED"}


class RemoteSubmittedRun(SubmittedRun):
    """A job on a cluster, followed by one watcher thread until it ends.

    The thread polls the job every ``poll_interval`` seconds, appends its new output to the
    console and to ``project_output.log`` (uploaded to the run every ``upload_interval``
    seconds while it grows, and at the end), moves the run from SCHEDULED to RUNNING, and
    ends it FINISHED, FAILED (with the engine's reason in ``traza.backend.reason``) or KILLED.
    It is not a daemon: a script that submits and returns still records the ending.
    """

    def __init__(
        self,
        run_id: str,
        job: Job,
        client: Any,
        work: Path,
        *,
        poll_interval: float = 1.0,
        upload_interval: float = 5.0,
        cleanup: Callable[[], None] = lambda: None,
        echo: bool = True,
    ) -> None:
        self._run_id = run_id
        self.job = job
        self._client = client
        self._log_path = work / OUTPUT_ARTIFACT
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_path.touch()
        self._poll_interval = poll_interval
        self._upload_interval = upload_interval
        self._cleanup = cleanup
        self._echo = echo
        self._status = "SCHEDULED"
        self._reason = ""
        self._cancelled = threading.Event()
        self._done = threading.Event()
        self._offset = 0
        self._thread = threading.Thread(target=self._watch, name=f"traza-job-{run_id[:8]}")
        self._thread.start()

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def reason(self) -> str:
        """The engine's reason for a FAILED or KILLED ending (empty otherwise)."""
        return self._reason

    def wait(self) -> bool:
        self._done.wait()
        return self._status == "FINISHED"

    def get_status(self) -> str:
        return self._status

    def cancel(self) -> None:
        """Stop the job in the engine and wait until the run is recorded KILLED."""
        if self._done.is_set():
            return
        self._cancelled.set()
        self.job.cancel()
        self._done.wait()

    def _pull_output(self) -> bool:
        data = self.job.read_output(self._offset)
        if not data:
            return False
        self._offset += len(data)
        with self._log_path.open("ab") as log:
            log.write(data)
        if self._echo:
            try:
                sys.stdout.write(data.decode("utf-8", "replace"))
                sys.stdout.flush()
            except (OSError, ValueError):
                pass
        return True

    def _upload(self) -> None:
        try:
            self._client.log_artifact(self._run_id, str(self._log_path))
        except Exception as e:  # the next upload or the final one tries again
            say(f"Could not upload the output of run {self._run_id} yet: {e}")

    def _watch(self) -> None:
        status, reason = "FAILED", "the watcher stopped unexpectedly"
        try:
            status, reason = self._follow()
        except BaseException as e:  # the run must still be ended
            reason = f"{type(e).__name__}: {e}"
        finally:
            self._end(status, reason)

    def _follow(self) -> tuple[str, str]:
        last_upload, grown = time.monotonic(), False
        failing_since: float | None = None
        cancelled_at: float | None = None
        while True:
            try:
                state = self.job.poll()
                grown = self._pull_output() or grown
                failing_since = None
            except Exception as e:
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > POLL_FAILURE_LIMIT:
                    return "FAILED", f"the job's state could not be read: {e}"
                self._cancelled.wait(self._poll_interval)
                continue
            if state.done:
                if self._cancelled.is_set():
                    return "KILLED", state.reason or "cancelled"
                return _RUN_STATUS[state.phase], state.reason
            if self._cancelled.is_set():
                # A job that never started needs no confirmation (Ray keeps a stopped PENDING
                # job until its own start timeout); a running one gets CANCEL_CONFIRM seconds.
                cancelled_for = time.monotonic() - (
                    cancelled_at := cancelled_at or time.monotonic()
                )
                if state.phase == "PENDING":
                    return "KILLED", "cancelled before it started"
                if cancelled_for > CANCEL_CONFIRM:
                    return (
                        "KILLED",
                        f"cancelled; the engine had not confirmed it after {CANCEL_CONFIRM:g} s",
                    )
            if state.phase == "RUNNING" and self._status == "SCHEDULED":
                self._status = "RUNNING"
                try:
                    self._client.update_run(self._run_id, status="RUNNING")
                except Exception as e:  # the ending is what matters; said, not fatal
                    say(f"Could not mark run {self._run_id} RUNNING: {e}")
            if grown and time.monotonic() - last_upload >= self._upload_interval:
                self._upload()
                last_upload, grown = time.monotonic(), False
            self._cancelled.wait(self._poll_interval)

    def _end(self, status: str, reason: str) -> None:
        try:
            for _ in range(3):  # output written just before the end
                try:
                    if not self._pull_output():
                        break
                except Exception:
                    break
            if status != "FINISHED" and reason:
                self._reason = reason
                say(f"=== Run (ID '{self._run_id}') {status}: {reason} ===")
                try:
                    self._client.set_tag(self._run_id, REASON_TAG, reason[:5000])
                except Exception as e:
                    say(f"Could not tag run {self._run_id} with the reason: {e}")
            from traza.projects.runner import _finish

            _finish(self._client, self._run_id, status, self._log_path)
        finally:
            try:
                self._cleanup()
            finally:
                self._status = status
                self._done.set()


def fail_before_submission(client: Any, run_id: str, backend: str, reason: str) -> NoReturn:
    """A run whose job never reached the engine: FAILED, with the engine's words."""
    try:
        client.set_tag(run_id, REASON_TAG, reason[:5000])
    finally:
        client.set_terminated(run_id, "FAILED")
    raise ExecutionException(f"The {backend} job of run {run_id} was not submitted: {reason}")


def remove_tree(path: Path) -> Callable[[], None]:
    return lambda: shutil.rmtree(path, ignore_errors=True)


def job_argv(command: str, python: str | None) -> list[str]:
    """The entry point's arguments on a cluster node: shell syntax goes through ``bash -c``
    (not this machine's ``$SHELL``)."""
    from traza.projects import runner

    if runner.needs_shell(command):
        return ["bash", "-c", command]
    return runner.command_argv(command, python)


@dataclass
class Opened:
    """A project ready to submit: its checked command and environment, and its new run."""

    client: Any
    prepared: Any  # traza.projects.runner._Prepared
    run: Any

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)


def open_project(
    submission: Any,
    backend: str,
    work: Path,
    *,
    env_root: Path | None,
    shared_store: bool,
    resources: dict[str, Any],
    build_env: bool = True,
) -> Opened:
    """Check the store, fetch and prepare the project (its environment built under
    ``env_root``, or, with ``build_env`` false, left to the engine), then create the run,
    SCHEDULED, with the backend and resources as tags."""
    from traza.client import TrazaClient
    from traza.projects import runner

    s = submission
    check_tracking(backend, s.tracking_uri, shared_store)
    if s.docker_args or s.build_image:
        raise ExecutionException(f"Docker options do not apply to the {backend} backend.")
    manager = s.env_manager if build_env else "local"
    prepared = runner._prepare(
        s.uri, s.entry_point, s.version, s.parameters, manager, work, env_root
    )
    if not build_env and s.env_manager != "local":
        prepared.manager = s.env_manager or "virtualenv"  # the engine builds it
        prepared.env_path = None
    if prepared.project.docker_env is not None:
        raise ExecutionException(
            f"The {backend} backend runs projects with a Python environment; this one names a "
            "docker_env. Run it locally, or give it a python_env.yaml or conda.yaml."
        )
    client = TrazaClient(s.tracking_uri)
    tags = {**s.extra_tags, RESOURCES_TAG: json.dumps(resources, sort_keys=True)}
    run = runner.open_run(
        client, prepared, s.experiment_id, s.run_id, s.run_name, tags, backend=backend
    )
    if s.run_id:
        client.set_tag(s.run_id, "mlflow.project.backend", backend)
        client.set_tag(s.run_id, RESOURCES_TAG, tags[RESOURCES_TAG])
    client.update_run(str(run.info.run_id), status="SCHEDULED")
    return Opened(client, prepared, run)
