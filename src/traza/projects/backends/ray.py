"""The ``ray`` backend: the entry point as a job of a running Ray cluster, through the Ray
Jobs REST API of its dashboard (``address``). No Ray library is imported here.

As Ray's own SDK does, the project folder is zipped into a content-addressed package
(``gcs://_ray_pkg_<sha1>.zip``), uploaded once through ``/api/packages`` and named as the job's
``working_dir``; Traza itself reaches the job as the wheel packed from the installed
distribution, uploaded the same way and listed in ``py_modules`` (Ray unpacks it onto the
job's ``PYTHONPATH``). The project's pip requirements become the runtime environment's
``pip`` list (built and cached by Ray on the cluster), except with ``--env-manager local``,
where the cluster's own Python runs the command.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from traza.exceptions import ExecutionException, TrazaException
from traza.projects.backends import remote
from traza.projects.backends.base import Submission, TrazaBackend
from traza.projects.submitted import SubmittedRun

KNOWN = (
    "address", "num_cpus", "num_gpus", "memory", "resources", "pip", "excludes",
    "headers", "shared_store", "ship_traza", "pending_timeout", "poll_interval",
    "upload_interval",
)  # fmt: skip
#: Never shipped with the project: stores, environments, caches, VCS folders.
DEFAULT_EXCLUDES = ("mlruns", "mlartifacts", ".git", ".venv", "__pycache__", ".dvc/cache")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_HEADER = re.compile(r"^[A-Za-z0-9-]+$")


def _bad(key: str, value: Any, want: str) -> ExecutionException:
    return ExecutionException(
        f"Invalid ray backend config {key}={value!r}: expected {want}.",
        error_code="INVALID_PARAMETER_VALUE",
    )


def _number(config: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(key, value, f"a number from {low:g} to {high:g}")
    return float(value)


def parse_config(config: dict[str, Any]) -> dict[str, Any]:
    """The checked configuration: unknown keys and ill-typed values are refused."""
    unknown = sorted(set(config) - set(KNOWN))
    if unknown:
        raise ExecutionException(
            f"Unknown ray backend config key(s): {', '.join(unknown)}. Known keys: "
            f"{', '.join(KNOWN)}.",
            error_code="INVALID_PARAMETER_VALUE",
        )
    address = config.get("address")
    if not isinstance(address, str) or not re.match(r"^https?://[^\s/?#]+/?$", address):
        raise _bad("address", address, "the dashboard's URL, e.g. http://head-node:8265")
    out: dict[str, Any] = {"address": address.rstrip("/")}
    for key in ("num_cpus", "num_gpus"):
        out[key] = _number(config, key, 0, 1e6)
    out["memory"] = _number(config, "memory", 1, 1e15)
    resources = config.get("resources", {})
    if not isinstance(resources, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
        for k, v in resources.items()
    ):
        raise _bad("resources", resources, 'custom resources, e.g. {"TPU": 1}')
    out["resources"] = {k: float(v) for k, v in resources.items()}
    for key in ("pip", "excludes"):
        value = config.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _bad(key, value, "a list of strings")
        out[key] = list(value)
    headers = config.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and _HEADER.match(k) and isinstance(v, str) and "\n" not in v
        and "\r" not in v
        for k, v in headers.items()
    ):  # fmt: skip
        raise _bad("headers", "...", "HTTP headers for the dashboard, name: value")
    out["headers"] = dict(headers)
    for key, default in (("shared_store", False), ("ship_traza", True)):
        value = config.get(key, default)
        if not isinstance(value, bool):
            raise _bad(key, value, "true or false")
        out[key] = value
    out["pending_timeout"] = _number(config, "pending_timeout", 1, 1e7)
    out["poll_interval"] = _number(config, "poll_interval", 0.05, 600) or 1.0
    out["upload_interval"] = _number(config, "upload_interval", 0.05, 600) or 5.0
    return out


def zip_folder(folder: Path, excludes: list[str]) -> bytes:
    """``folder``'s files (paths relative to it), in a fixed order with fixed dates, so equal
    contents give an equal package and Ray's cache is used."""
    skipped = set(DEFAULT_EXCLUDES) | set(excludes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(folder):
            rel_root = Path(root).relative_to(folder)
            dirs[:] = sorted(
                d for d in dirs if d not in skipped and (rel_root / d).as_posix() not in skipped
            )
            for name in sorted(files):
                rel = (rel_root / name).as_posix()
                if name in skipped or rel in skipped:
                    continue
                path = Path(root) / name
                if path.is_symlink() and not path.exists():
                    continue
                info = zipfile.ZipInfo(rel, date_time=_ZIP_DATE)
                info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return buffer.getvalue()


def package_uri(data: bytes) -> str:
    return f"gcs://_ray_pkg_{hashlib.sha1(data, usedforsecurity=False).hexdigest()}.zip"


class RayApi:
    """The few Jobs API calls the backend makes, over Traza's HTTP client (no tracking
    credentials: the dashboard is another server)."""

    def __init__(self, address: str, headers: dict[str, str]) -> None:
        from traza.config import HttpSettings
        from traza.http import HttpClient

        self.address = address
        self.http = HttpClient(address, HttpSettings(max_retries=3, backoff_factor=0.5,
                                                     timeout=120.0))  # fmt: skip
        self.http.headers.update(headers)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        payload = None if body is None else json.dumps(body).encode()
        try:
            answer = self.http.request(method, path, json_body=payload)
        except TrazaException as e:
            raise ExecutionException(f"Ray at {self.address}: {e.message}") from None
        return json.loads(answer.data) if answer.data else None

    def submit(self, body: dict[str, Any], patience: float = 120.0) -> dict[str, Any]:
        """``POST /api/jobs/``, again while the cluster says its job agent is not up yet (a
        cluster just started); a resent request whose first try went through is a success."""
        import time

        deadline = time.monotonic() + patience
        tries = 0
        while True:
            tries += 1
            try:
                answer = self.call("POST", "/api/jobs/", body)
                return answer if isinstance(answer, dict) else {}
            except ExecutionException as e:
                if tries > 1 and "already exists" in e.message:
                    return {"submission_id": body["submission_id"]}
                if "No available agent" not in e.message or time.monotonic() > deadline:
                    raise
            time.sleep(1.0)

    def upload(self, uri: str, data: bytes) -> None:
        """Put a package on the cluster unless it is there already (Ray's SDK does the same)."""
        name = uri.removeprefix("gcs://")
        try:
            self.http.request("GET", f"/api/packages/gcs/{name}")
            return
        except TrazaException as e:
            if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise ExecutionException(f"Ray at {self.address}: {e.message}") from None
        try:
            self.http.request("PUT", f"/api/packages/gcs/{name}", body=data)
        except TrazaException as e:
            raise ExecutionException(
                f"Ray at {self.address} refused the package {name}: {e.message}"
            ) from None


class RayJob:
    """A submitted Ray job: its status and logs through the Jobs API, stopped by it."""

    def __init__(self, api: RayApi, job_id: str, pending_timeout: float | None) -> None:
        import time

        self.api = api
        self.job_id = job_id
        self.pending_timeout = pending_timeout
        self._submitted = time.monotonic()

    def poll(self) -> remote.JobState:
        import time

        info = self.api.call("GET", f"/api/jobs/{self.job_id}")
        status = str(info.get("status", "UNKNOWN"))
        message = str(info.get("message") or "")
        if status == "PENDING":
            waited = time.monotonic() - self._submitted
            if self.pending_timeout is not None and waited > self.pending_timeout:
                self.cancel()
                return remote.JobState(
                    "FAILED", f"Ray job {self.job_id} still PENDING after "
                    f"{self.pending_timeout:g} s (pending_timeout): {message}",
                )  # fmt: skip
            return remote.JobState("PENDING", message)
        if status in ("RUNNING", "SUCCEEDED", "STOPPED"):
            return remote.JobState(status, message if status == "STOPPED" else "")
        if status == "FAILED":
            kind = info.get("error_type")
            why = f"Ray job {self.job_id} FAILED" + (f" ({kind})" if kind else "")
            return remote.JobState("FAILED", f"{why}: {message}")
        raise ExecutionException(f"Ray reported an unknown job status {status!r}")

    def read_output(self, offset: int) -> bytes:
        logs = self.api.call("GET", f"/api/jobs/{self.job_id}/logs") or {}
        data = str(logs.get("logs") or "").encode("utf-8")
        return data[offset:]

    def cancel(self) -> None:
        self.api.call("POST", f"/api/jobs/{self.job_id}/stop")


class RayBackend(TrazaBackend):
    """A job on the Ray cluster at ``address`` (its dashboard)."""

    name = "ray"

    def submit(self, submission: Submission) -> SubmittedRun:
        config = parse_config(submission.config)
        remote.check_tracking(self.name, submission.tracking_uri, config["shared_store"])
        if submission.env_manager == "conda":
            raise ExecutionException(
                "The ray backend builds the environment with Ray's pip runtime environment; "
                "use --env-manager virtualenv (the default) or local."
            )
        work = Path(tempfile.mkdtemp(prefix="traza-ray-"))
        cleanup = remote.remove_tree(work)
        resources = {k: config[k] for k in ("num_cpus", "num_gpus", "memory") if config[k]}
        resources.update(config["resources"])
        try:
            opened = remote.open_project(
                submission, self.name, work, env_root=None, shared_store=config["shared_store"],
                resources=resources, build_env=False,
            )  # fmt: skip
        except BaseException:
            cleanup()
            raise
        try:
            return self._submit(submission, opened, config, work, cleanup)
        except BaseException:
            cleanup()
            if opened.client.get_run(opened.run_id).info.status not in ("FAILED", "KILLED"):
                opened.client.set_terminated(opened.run_id, "FAILED")
            raise

    def _submit(
        self, s: Submission, opened: remote.Opened, config: dict[str, Any], work: Path,
        cleanup: Any,
    ) -> SubmittedRun:  # fmt: skip
        import time

        prepared, client, run_id = opened.prepared, opened.client, opened.run_id
        api = RayApi(config["address"], config["headers"])
        started = time.monotonic()
        project = zip_folder(prepared.source.directory, config["excludes"])
        working_dir = package_uri(project)
        api.upload(working_dir, project)
        runtime_env: dict[str, Any] = {"working_dir": working_dir}
        if config["ship_traza"]:
            runtime_env["py_modules"] = [self._traza_package(api)]
        pip = [*config["pip"], *self._requirements(s, prepared)]
        if pip:  # Ray installs them with uv for --env-manager uv, else with pip
            runtime_env["uv" if s.env_manager == "uv" else "pip"] = pip
        env_vars = {
            **remote.run_variables(opened.run, s.tracking_uri),
            **remote.run_token(s.tracking_uri, run_id, self.name),
            "PYTHONUNBUFFERED": "1",
        }
        runtime_env["env_vars"] = env_vars
        entrypoint = shlex.join(remote.job_argv(prepared.command, None))
        body: dict[str, Any] = {
            "entrypoint": entrypoint,
            "submission_id": f"traza-{run_id}",
            "runtime_env": runtime_env,
            "metadata": {"traza_run_id": run_id, "traza_experiment_id": s.experiment_id},
        }
        for key in ("num_cpus", "num_gpus", "memory"):
            if config[key] is not None:
                body[f"entrypoint_{key}"] = int(config[key]) if key == "memory" else config[key]
        if config["resources"]:
            body["entrypoint_resources"] = config["resources"]
        try:
            answer = api.submit(body)
        except ExecutionException as e:
            remote.fail_before_submission(client, run_id, self.name, e.message)
        job_id = str(answer.get("submission_id") or answer.get("job_id"))
        remote.say(
            f"=== Submitted Ray job {job_id} for run '{run_id}' "
            f"({time.monotonic() - started:.2f} s) ==="
        )
        client.set_tag(run_id, remote.JOB_ID_TAG, job_id)
        job = RayJob(api, job_id, config["pending_timeout"])
        return remote.RemoteSubmittedRun(
            run_id, job, client, work / "traza", poll_interval=config["poll_interval"],
            upload_interval=config["upload_interval"], cleanup=cleanup,
        )  # fmt: skip

    @staticmethod
    def _traza_package(api: RayApi) -> str:
        from traza.environments import default_root, wheel

        path = wheel.traza_wheel(default_root() / ".wheels", remote.say)
        data = path.read_bytes()  # a wheel is a zip whose top level is the package itself
        uri = package_uri(data)
        api.upload(uri, data)
        return uri

    @staticmethod
    def _requirements(s: Submission, prepared: Any) -> list[str]:
        """The project's pip requirements (Traza's own come as the wheel), unless the
        cluster's Python is asked for."""
        if s.env_manager == "local":
            return []
        from traza.environments.spec import EnvSpec, requirement_name

        project = prepared.project
        if project.python_env is not None:
            spec = EnvSpec.from_python_env(project.python_env)
        elif project.conda_env is not None:
            spec = EnvSpec.from_conda_yaml(project.conda_env)
        else:
            return []
        return [r for r in spec.requirements if requirement_name(r) != "traza"]
