"""``traza.projects.run``: fetch, check, prepare, then record and run a project's entry point.

Everything that can be refused (the source, the MLproject, the parameters, the environment,
the docker engine) is checked before the run is created. From the moment the run exists it
is always ended: FINISHED, FAILED or KILLED, never left RUNNING.

Any other ``backend`` is handed over by :mod:`traza.projects.backends.submit`; the cluster
backends reuse the checks, run creation and ending defined here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traza.exceptions import ExecutionException, TrazaException, invalid
from traza.projects import params, sources
from traza.projects.spec import EntryPoint, Project, load_project
from traza.projects.submitted import OUTPUT_ARTIFACT, LocalSubmittedRun, SubmittedRun

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")
PYTHON_VERSION_TAG = "traza.project.pythonVersion"
_SHELL_CHARS = set(";&|<>()$`*?[")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class _Prepared:
    """Everything known before the run is created."""

    source: sources.Source
    project: Project
    entry_point: EntryPoint
    resolved: params.Resolved
    command: str
    manager: str
    python: str | None
    python_version: str | None
    env_vars: dict[str, str]
    mlflow_importable: bool
    env_path: Path | None = None  # the virtual environment's folder (None: local or docker)


def run(
    uri: str = ".",
    entry_point: str = "main",
    version: str | None = None,
    parameters: dict[str, Any] | None = None,
    docker_args: dict[str, Any] | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    backend: str = "local",
    backend_config: dict[str, Any] | str | None = None,
    storage_dir: str | None = None,
    synchronous: bool = True,
    run_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    build_image: bool = False,
    docker_auth: dict[str, Any] | None = None,
) -> SubmittedRun:
    """Run the project at ``uri`` (a folder or a Git URI, ``#subdir`` allowed) as MLflow does.

    ``parameters`` fill the entry point's ``{templates}`` (undeclared ones are appended as
    ``--key value``); they are checked against their types before anything is created.
    ``synchronous=False`` returns at once; the run is recorded when its command ends.
    Raises :class:`ExecutionException` when a synchronous run fails.
    """
    if env_manager is not None and env_manager not in ENV_MANAGERS:
        raise invalid(
            f"Invalid value for `env_manager`: {env_manager}. Must be one of {list(ENV_MANAGERS)}"
        )
    if experiment_name and experiment_id:
        raise invalid("Specify only one of 'experiment_name' or 'experiment_id'.")
    if docker_auth:
        raise invalid("docker_auth is not supported: log in with `docker login` first.")
    if backend != "local":
        from traza.projects.backends import Submission
        from traza.projects.backends.submit import submit_to

        submission = Submission(
            uri, entry_point, version, dict(parameters or {}), env_manager=env_manager,
            storage_dir=storage_dir, synchronous=synchronous, run_id=run_id, run_name=run_name,
            docker_args=docker_args, build_image=build_image,
        )  # fmt: skip
        return submit_to(backend, backend_config, submission, experiment_name, experiment_id)
    base = Path(storage_dir).expanduser() if storage_dir else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="traza-run-", dir=base))
    keep_work = base is not None

    def cleanup_work() -> None:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)

    try:
        prepared = _prepare(uri, entry_point, version, parameters, env_manager, work)
        image = _docker_image(prepared, build_image)
        from traza.client import TrazaClient

        client = TrazaClient()
        exp_id = _experiment_id(client, experiment_name, experiment_id)
    except BaseException:
        cleanup_work()
        raise
    submitted = _start(
        client, prepared, uri, exp_id, run_id, run_name, docker_args, image, work, cleanup_work
    )
    if synchronous:
        _wait(submitted)
    return submitted


def _prepare(
    uri: str,
    entry_point: str,
    version: str | None,
    parameters: dict[str, Any] | None,
    env_manager: str | None,
    work: Path,
    env_root: Path | None = None,
) -> _Prepared:
    """Fetch, check and build everything the command needs (``env_root``: where
    environments are cached, the default cache when ``None``)."""
    source = sources.fetch(uri, version, work / "project")
    project = load_project(source.directory)
    entry = project.entry_point(entry_point)
    resolved = params.resolve(entry, params.as_strings(parameters), source.directory)
    for warning in resolved.warnings:
        _say(f"Warning: {warning}")
    if project.docker_env is not None:
        from traza.projects import docker

        docker.check_environment(project.docker_env)
        docker.check_engine()
        manager, python, python_version, env_vars, has_mlflow = "docker", None, None, {}, False
        env_path = None
    else:
        from traza.environments import prepare_environment

        env = prepare_environment(
            source.directory, env_manager, project.python_env, project.conda_env, progress=_say,
            env_root=env_root,
        )  # fmt: skip
        manager, python, python_version = env.manager, env.python, env.python_version
        env_vars, has_mlflow = dict(env.env_vars), _has_mlflow(env.path)
        env_path = env.path
    values = params.command_values(entry, resolved, source.directory, work)
    command = params.format_command(entry, values, resolved.extra)
    return _Prepared(
        source, project, entry, resolved, command, manager, python, python_version, env_vars,
        has_mlflow, env_path,
    )  # fmt: skip


def _has_mlflow(env_path: Path | None) -> bool:
    """Whether the child could ``import mlflow`` (then it needs a server to log through)."""
    if env_path is None:
        import importlib.util

        return importlib.util.find_spec("mlflow") is not None
    patterns = ("lib/python*/site-packages/mlflow", "Lib/site-packages/mlflow")
    return any(any(env_path.glob(p)) for p in patterns)


def _docker_image(prepared: _Prepared, build: bool) -> str | None:
    docker_env = prepared.project.docker_env
    if docker_env is None:
        return None
    if not build:
        return docker_env.image
    from traza.projects import docker

    return docker.build_image(
        prepared.source.directory, prepared.project.name, docker_env.image,
        prepared.source.git_commit,
    )  # fmt: skip


def _experiment_id(client: Any, name: str | None, experiment_id: str | None) -> str:
    """MLflow's rule: the id given, else the name (created when missing), else the active one."""
    if experiment_id:
        return str(experiment_id)
    if name:
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        _say(f"'{name}' does not exist. Creating a new experiment")
        try:
            return str(client.create_experiment(name))
        except TrazaException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return str(client.get_experiment_by_name(name).experiment_id)  # another process won
    from traza.fluent import _resolve_experiment_id

    return _resolve_experiment_id()


def _tags(prepared: _Prepared, backend: str = "local") -> dict[str, str]:
    from traza import context, fluent

    source = prepared.source
    tags = {
        context.USER: _user(),
        context.SOURCE_NAME: source.source_name,
        context.SOURCE_TYPE: "PROJECT",
        "mlflow.project.entryPoint": prepared.entry_point.name,
        "mlflow.project.env": prepared.manager,
        "mlflow.project.backend": backend,
    }
    optional = {
        context.GIT_COMMIT: source.git_commit,
        "mlflow.source.git.repoURL": source.git_repo_url,
        "mlflow.source.git.branch": source.git_branch,
        PYTHON_VERSION_TAG: prepared.python_version,
    }
    tags.update({k: v for k, v in optional.items() if v})
    active = fluent.active_run()
    if active is not None:
        tags[context.PARENT_RUN_ID] = active.info.run_id
    return tags


def _user() -> str:
    from traza.config import current_user

    return current_user()


def store_uri(tracking_uri: str) -> str:
    """``tracking_uri`` usable from another working directory (relative SQLite paths resolved)."""
    if tracking_uri.startswith("sqlite:///") and not tracking_uri.startswith("sqlite:////"):
        rest = tracking_uri[len("sqlite:///") :]
        path, sep, query = rest.partition("?")
        return f"sqlite:///{Path(path).expanduser().resolve()}{sep}{query}"
    return tracking_uri


def needs_shell(command: str) -> bool:
    """Whether ``command`` uses shell syntax (pipes, ``&&``, ``$VAR``, globs, redirections...).

    Filled-in values are single-quoted, so only what the project's author wrote can need a
    shell; everything else runs as a plain argument list.
    """
    quote: str | None = None
    escaped = False
    word_start = True
    for ch in command:
        if escaped:
            escaped, word_start = False, False
        elif quote == "'":
            quote = None if ch == "'" else quote
        elif ch == "\\":
            escaped = True
        elif quote == '"':
            if ch in "$`":
                return True
            quote = None if ch == '"' else quote
        elif ch in "'\"":
            quote, word_start = ch, False
        elif ch in _SHELL_CHARS or (word_start and ch in "~#"):
            return True
        else:
            word_start = ch.isspace()
    words = command.split(None, 1)
    return bool(words) and _ASSIGNMENT.match(words[0]) is not None


def command_argv(command: str, python: str | None) -> list[str]:
    """The argument list to start: ``python`` becomes the environment's interpreter."""
    if needs_shell(command):
        return [os.environ.get("SHELL") or "bash", "-c", command]
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise ExecutionException(f"Cannot parse the command {command!r}: {e}") from None
    if not argv:
        raise ExecutionException("The entry point's command is empty.")
    if python and argv[0] in ("python", "python3"):
        argv[0] = python
    return argv


def _start(
    client: Any,
    prepared: _Prepared,
    uri: str,
    experiment_id: str,
    run_id: str | None,
    run_name: str | None,
    docker_args: dict[str, Any] | None,
    image: str | None,
    work: Path,
    cleanup_work: Any,
    extra_tags: dict[str, str] | None = None,
) -> SubmittedRun:
    """Create (or reuse) the run, then start the command; the run is ended on any failure."""
    try:
        run = open_run(
            client, prepared, experiment_id, run_id, run_name, extra_tags, docker=image is not None
        )
    except BaseException:
        cleanup_work()
        raise
    run_id = str(run.info.run_id)
    server: Any = None

    def cleanup() -> None:
        try:
            if server is not None:
                server.stop()
        finally:
            cleanup_work()

    try:
        tracking_uri = store_uri(client.tracking_uri)
        mlflow_uri = tracking_uri
        if not tracking_uri.startswith(("http://", "https://")) and prepared.mlflow_importable:
            server = _Loopback(tracking_uri)
            mlflow_uri = server.url
        run_env = {
            "MLFLOW_RUN_ID": run_id,
            "MLFLOW_EXPERIMENT_ID": str(run.info.experiment_id),
            "MLFLOW_TRACKING_URI": mlflow_uri,
            "TRAZA_RUN_ID": run_id,
            "TRAZA_EXPERIMENT_ID": str(run.info.experiment_id),
            "TRAZA_TRACKING_URI": tracking_uri,
        }
        argv = _argv(prepared, image, run_env, tracking_uri, docker_args)
        env = {**os.environ, **prepared.env_vars, **run_env}
        env.pop("TRAZA_EXPERIMENT_NAME", None)
        env.pop("MLFLOW_EXPERIMENT_NAME", None)
        env.setdefault("PYTHONUNBUFFERED", "1")  # output streams as it is printed
        if argv[0] == (os.environ.get("SHELL") or "bash") and prepared.python:
            env["PATH"] = os.path.dirname(prepared.python) + os.pathsep + env.get("PATH", "")
        _say(f"=== Running command {shlex.join(argv)!r} in run with ID '{run_id}' ===")
        try:
            process = subprocess.Popen(
                argv,
                cwd=prepared.source.directory,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            raise ExecutionException(f"Could not start {argv[0]!r}: {e.strerror or e}") from e

        def finish(status: str, log_path: Path) -> None:
            _finish(client, run_id, status, log_path)

        return LocalSubmittedRun(run_id, process, work / OUTPUT_ARTIFACT, finish, cleanup)
    except BaseException as e:
        try:
            client.set_terminated(run_id, "FAILED")
        finally:
            cleanup()
        if isinstance(e, Exception) and not isinstance(e, TrazaException):
            raise ExecutionException(f"Run (ID '{run_id}') failed to start: {e}") from e
        raise


def open_run(
    client: Any,
    prepared: _Prepared,
    experiment_id: str,
    run_id: str | None,
    run_name: str | None,
    extra_tags: dict[str, str] | None = None,
    *,
    backend: str = "local",
    docker: bool = False,
) -> Any:
    """The run a project's command logs into: ``run_id``'s as it is (MLflow's internal
    ``--run-id``), else a new one with the project's tags, parameters and lineage. A new run
    that cannot be completed is marked FAILED."""
    if run_id:
        run = client.get_run(run_id)
        if run_name:
            client.update_run(run_id, name=run_name)
        return run
    tags = {**_tags(prepared, backend), **(extra_tags or {})}
    run = client.create_run(experiment_id, tags=tags, run_name=run_name)
    new_id = str(run.info.run_id)
    try:
        from traza.entities import Param

        logged = prepared.resolved.to_log
        if logged:
            client.log_batch(new_id, params=[Param(k, v) for k, v in logged.items()])
        if not docker:  # a DVC stage's command: its data, params, Git, packages
            from traza import lineage

            lineage.record_for_command(
                client, new_id, prepared.source.directory, prepared.command, prepared.env_path,
                prepared.python_version,
            )  # fmt: skip
    except BaseException as e:
        client.set_terminated(new_id, "FAILED")
        if isinstance(e, Exception) and not isinstance(e, TrazaException):
            raise ExecutionException(f"Run (ID '{new_id}') failed to start: {e}") from e
        raise
    return run


def run_command(
    source: sources.Source,
    command: str,
    env: Any,
    *,
    experiment_id: str,
    entry_point: str,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    synchronous: bool = True,
) -> SubmittedRun:
    """Run ``command`` in ``source.directory`` with the prepared environment ``env``
    (a :class:`traza.environments.PreparedEnv`) as a new run, exactly as an entry point runs:
    same tags, child variables, loopback server, output log and ending. ``traza reproduce``
    runs a DVC stage's command this way."""
    from traza.client import TrazaClient

    project = Project(source.directory, None, {})
    entry = EntryPoint(entry_point, command)
    prepared = _Prepared(
        source, project, entry, params.Resolved({}, {}), command, env.manager, env.python,
        env.python_version, dict(env.env_vars), _has_mlflow(env.path), env.path,
    )  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="traza-run-"))
    client = TrazaClient()
    submitted = _start(
        client, prepared, str(source.directory), experiment_id, None, run_name, None, None,
        work, lambda: shutil.rmtree(work, ignore_errors=True), tags,
    )  # fmt: skip
    if synchronous:
        _wait(submitted)
    return submitted


def _argv(
    prepared: _Prepared,
    image: str | None,
    run_env: dict[str, str],
    tracking_uri: str,
    docker_args: dict[str, Any] | None,
) -> list[str]:
    if image is None:
        return command_argv(prepared.command, prepared.python)
    from traza.projects import docker

    assert prepared.project.docker_env is not None
    inner = (
        ["sh", "-c", prepared.command]
        if needs_shell(prepared.command)
        else shlex.split(prepared.command)
    )
    return docker.docker_argv(
        prepared.project.docker_env, image, prepared.source.directory, inner, run_env,
        tracking_uri, docker_args,
    )  # fmt: skip


class _Loopback:
    """A ``traza server`` on 127.0.0.1 over the run's store, for a child that imports mlflow.

    Only the listening socket is made up front. The server itself (its modules, its own
    connection to the store, uvicorn) starts on a thread when the first connection arrives,
    which waits in the socket's backlog meanwhile: a child that never talks to it costs
    nothing. (``BackgroundServer`` builds its app before it has a port, which would put all
    of that before the child starts.)
    """

    def __init__(self, tracking_uri: str) -> None:
        import socket
        import threading

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self._wake_r, self._wake_w = socket.socketpair()
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server: Any = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(tracking_uri,), daemon=True, name="traza-loopback"
        )
        self._thread.start()

    def _serve(self, tracking_uri: str) -> None:
        import select

        try:
            readable, _, _ = select.select([self._socket, self._wake_r], [], [])
            if self._stopping.is_set() or self._socket not in readable:
                return
            import uvicorn

            from traza.server import ServerSettings, create_app

            # Its own connection to the store (the server closes its store when it stops);
            # artifacts stay where the store keeps them, as ``traza ui`` serves them.
            app = create_app(ServerSettings(backend_store_uri=tracking_uri))
            config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
            self._server = uvicorn.Server(config)
            if not self._stopping.is_set():
                self._server.run(sockets=[self._socket])
        except Exception as e:
            _say(f"The loopback tracking server at {self.url} stopped: {e}")
        finally:
            for sock in (self._socket, self._wake_r, self._wake_w):
                sock.close()

    def stop(self) -> None:
        """Ask the server to stop; nothing waits for its shutdown to finish."""
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        with contextlib.suppress(OSError):  # already closed: the server thread is done
            self._wake_w.send(b"x")


def _finish(client: Any, run_id: str, status: str, log_path: Path) -> None:
    """Keep the output as an artifact and record ``status`` (a child's own ending is kept
    when the command succeeded)."""
    try:
        if log_path.exists():
            client.log_artifact(run_id, str(log_path))
    except Exception as e:  # the status must still be recorded
        _say(f"Could not upload the output of run {run_id}: {e}")
    if status == "FINISHED":
        current = client.get_run(run_id).info.status
        if current in ("FINISHED", "FAILED", "KILLED"):
            return
    client.set_terminated(run_id, status)


def _wait(submitted: SubmittedRun) -> None:
    try:
        succeeded = submitted.wait()
    except KeyboardInterrupt:
        _say(f"=== Run (ID '{submitted.run_id}') interrupted, cancelling run ===")
        submitted.cancel()
        raise
    if not succeeded:
        raise ExecutionException(f"Run (ID '{submitted.run_id}') failed")
    _say(f"=== Run (ID '{submitted.run_id}') succeeded ===")
