"""Python environments for projects (``traza run``) and model serving, built with uv (or conda
where it exists), cached by a hash of everything that decides their contents, created
atomically, and found again without running a subprocess.

``prepare_environment`` is what the project runner calls; ``ensure_venv`` is the lower level
the scoring server uses (it leaves out ``mlflow`` requirements, which Traza replaces there).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from traza.environments.spec import EnvironmentBuildError, EnvSpec

__all__ = [
    "MANAGERS",
    "EnvSpec",
    "EnvironmentBuildError",
    "PreparedEnv",
    "ensure_venv",
    "prepare_environment",
]

_log = logging.getLogger(__name__)
MANAGERS = ("local", "virtualenv", "uv", "conda")
#: What the scoring server leaves out: Traza provides the ``mlflow.<flavor>`` loaders itself.
SCORING_SKIPPED = frozenset({"mlflow", "mlflow-skinny", "traza"})


@dataclass(frozen=True)
class PreparedEnv:
    """An environment ready to run a command in."""

    manager: str  # "local" | "virtualenv" | "uv" | "conda"
    python: str  # interpreter to run the entry point with (absolute path)
    python_version: str  # the version actually used, e.g. "3.11.7"
    path: Path | None  # the environment folder (None for local)
    env_vars: dict[str, str]  # extra variables for the child (PATH with the env's bin first, ...)


def _quiet(_: str) -> None:
    pass


def prepare_environment(
    project_dir: Path,
    env_manager: str | None,
    python_env: Path | None,
    conda_env: Path | None,
    *,
    progress: Callable[[str], None] | None = None,
    env_root: Path | None = None,
) -> PreparedEnv:
    """The environment a project runs in, built now unless cached.

    ``python_env``/``conda_env`` are the files the MLproject names (or finds in the project).
    ``env_manager`` ``None`` chooses as MLflow does: ``conda`` for a conda.yaml (``virtualenv``
    with a warning when no conda executable exists here), else ``virtualenv``; a project
    without either file gets an environment with the running Python's version and no packages.
    ``env_root`` overrides the cache folder (``TRAZA_ENV_ROOT``, ``~/.cache/traza/envs``).
    """
    say = progress or _quiet
    if env_manager is not None and env_manager not in MANAGERS:
        raise EnvironmentBuildError(
            f"Unknown environment manager {env_manager!r}; choose one of {', '.join(MANAGERS)}."
        )
    if python_env is not None and conda_env is not None:
        raise EnvironmentBuildError(
            "A project can name one environment file, not both python_env and conda_env."
        )
    if env_manager == "local":
        return local_env(say)
    from traza.environments import conda

    if env_manager is None:
        if conda_env is not None and conda.find_conda() is None:
            _warn(say, f"No conda executable found; building {conda_env} as a virtualenv with "
                       "uv instead (only its python version and pip packages).")  # fmt: skip
            env_manager = "virtualenv"
        else:
            env_manager = "conda" if conda_env is not None else "virtualenv"
    root = env_root or default_root()
    if env_manager == "conda":
        if conda_env is None:
            raise EnvironmentBuildError(
                "A python_env project (or one without conda.yaml) cannot be run with "
                "--env-manager conda; use virtualenv, uv or local."
            )
        return conda.ensure_conda_env(conda_env, project_dir, root, say)
    if conda_env is not None:
        spec = EnvSpec.from_conda_yaml(conda_env)
        if spec.conda_only:
            dropped = ", ".join(spec.conda_only)
            _warn(say, f"{conda_env}: conda packages {dropped} are not installed by "
                       f"--env-manager {env_manager} (pip packages only).")  # fmt: skip
    elif python_env is not None:
        spec = EnvSpec.from_python_env(python_env)
    else:
        spec = EnvSpec(None, source=f"{project_dir} (no environment file)")
    return ensure_venv(spec, env_manager, project=project_dir, env_root=root, progress=say)


def local_env(progress: Callable[[str], None] | None = None) -> PreparedEnv:
    """Nothing built: the ``python`` on ``PATH``, as MLflow's local manager runs the command in
    the caller's environment (the running interpreter only when ``PATH`` has none).

    With Traza installed as a tool or in another environment than the project's packages, the
    interpreter found is not Traza's own: ``progress`` is told which one runs the command.
    """
    import shutil

    found = shutil.which("python")
    if found is None or _same_interpreter(found, sys.executable):
        return PreparedEnv("local", sys.executable, _running_version(), None, {})
    prefix, version = _probe(found)
    (progress or _quiet)(
        f"Running with {found} (Python {version}, {prefix}), the python on PATH; Traza itself "
        f"runs in {sys.executable}."
    )
    # ``found`` itself is run (a pyenv shim then chooses in the project's folder, as a shell
    # running MLflow's command would).
    return PreparedEnv("local", found, version, Path(prefix), {})


def _same_interpreter(found: str, running: str) -> bool:
    """Same folder of the same environment (not resolving links: a virtualenv's ``python``
    links to the base interpreter but sees other packages)."""
    a, b = os.path.abspath(found), os.path.abspath(running)
    return a == b or os.path.dirname(a) == os.path.dirname(b)


def _probe(python: str) -> tuple[str, str]:
    """``sys.prefix`` and the version of another interpreter."""
    import subprocess

    code = "import sys; print(sys.prefix); print('%d.%d.%d' % sys.version_info[:3])"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvironmentBuildError(f"Could not run {python} (the python on PATH): {e}") from e
    lines = done.stdout.split("\n")
    if done.returncode != 0 or len(lines) < 2:
        tail = (done.stderr or done.stdout).strip()[-500:]
        raise EnvironmentBuildError(f"{python} (the python on PATH) does not run: {tail}")
    return lines[0], lines[1]


def _running_version() -> str:
    return ".".join(str(x) for x in sys.version_info[:3])


def default_root() -> Path:
    from traza.environments.cache import default_root as root

    return root()


def _warn(say: Callable[[str], None], message: str) -> None:
    """Through ``progress`` when the caller shows it (logged at INFO then, not shown twice)."""
    if say is _quiet:
        _log.warning("%s", message)
    else:
        _log.info("%s", message)
        say("Warning: " + message)


def ensure_venv(
    spec: EnvSpec,
    manager: str = "virtualenv",
    *,
    project: Path | None = None,
    env_root: Path | None = None,
    skip: frozenset[str] = frozenset(),
    with_traza: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PreparedEnv:
    """A uv-built virtual environment for ``spec`` (from the cache when it holds one).

    ``skip`` names requirements to leave out (normalized project names); ``with_traza`` adds
    the running Traza even when no requirement names it. The cache key covers the interpreter
    actually used, the build dependencies, the requirements with included files' contents and,
    when Traza is installed, the digest of the running Traza's installed files.
    """
    from traza.environments import cache, interpreters, wheel
    from traza.environments.spec import digest

    say = progress or _quiet
    root = env_root or default_root()
    found = interpreters.Finder.from_environ(root / ".interpreters.json").resolve(spec.python)
    interp = found.interpreter
    spec = spec.without(skip)
    if with_traza and "traza" not in spec.names():
        spec = EnvSpec(spec.python, spec.build_dependencies, (*spec.requirements, "traza"),
                       spec.source)  # fmt: skip
    needs_traza = "traza" in spec.names()
    traza_digest = wheel.installed_digest() if needs_traza else ""
    key = digest("venv", interp.version, interp.path, spec.key_text(), "traza=" + traza_digest)
    final = root / key
    if cache.is_complete(final) and os.path.exists(_python_of(final)):
        cache.touch(final)
        return _venv(manager, final, interp.version)

    def build(folder: Path) -> dict[str, object]:
        from traza.environments import uv

        started = time.monotonic()
        if found.warning:  # said once, when built: the cached environment is the same one
            _warn(say, found.warning)
        say(f"Creating environment {key} (Python {interp.version}) ...")
        uv_exe = uv.find_uv()
        whl = wheel.traza_wheel(root / ".wheels", say) if needs_traza else None
        uv.build_venv(folder, interp.path, spec, uv=uv_exe, traza_wheel=whl, progress=say,
                      cwd=project)  # fmt: skip
        took = time.monotonic() - started
        say(f"Environment {key} ready in {took:.2f} s")
        return {
            "key": key, "manager": manager, "python_version": interp.version,
            "python": interp.path, "python_origin": interp.origin,
            "requested_python": spec.python, "spec": spec.summary(),
            "project": str(project) if project else None, "created": time.time(),
            "build_seconds": round(took, 3), "traza_source": traza_digest or None,
            "python_warning": found.warning or None,
        }  # fmt: skip

    cache.build_atomically(root, key, build)
    return _venv(manager, final, interp.version)


def _python_of(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def bytecode_vars(env_dir: Path) -> dict[str, str]:
    """Keep the bytecode of what runs in the environment in ``<env>/.pycache`` (uv installs no
    ``.pyc`` files, and where ``PYTHONDONTWRITEBYTECODE`` is set, as in many images, every run
    would compile its imports again: ``import mlflow`` 5 s instead of 2). The project's own
    folder gets no ``__pycache__``."""
    return {"PYTHONPYCACHEPREFIX": str(env_dir / ".pycache"), "PYTHONDONTWRITEBYTECODE": ""}


def _venv(manager: str, env_dir: Path, version: str) -> PreparedEnv:
    bin_dir = _python_of(env_dir).parent
    path = os.environ.get("PATH", "")
    env_vars = {"PATH": f"{bin_dir}{os.pathsep}{path}" if path else str(bin_dir),
                "VIRTUAL_ENV": str(env_dir), **bytecode_vars(env_dir)}  # fmt: skip
    return PreparedEnv(manager, str(_python_of(env_dir)), version, env_dir, env_vars)
