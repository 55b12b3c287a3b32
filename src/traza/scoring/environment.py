"""A model's own Python environment for ``traza models serve|predict --env-manager
virtualenv|uv``: the model's ``python_env.yaml`` (or ``requirements.txt``) built by
:mod:`traza.environments` with the running Traza installed from its wheel.

``mlflow``/``mlflow-skinny`` requirements are left out: Traza provides the ``mlflow.sklearn``
loader a model names, as MLflow installs itself into the environments it builds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from traza.environments import SCORING_SKIPPED, EnvSpec, bytecode_vars, ensure_venv


def model_spec(model_dir: Path) -> EnvSpec:
    """The model's ``python_env.yaml`` (``-r`` files read from the model folder); a model
    without one falls back to ``requirements.txt`` and the running Python's version."""
    env_file = model_dir / "python_env.yaml"
    if env_file.is_file():
        spec = EnvSpec.from_python_env(env_file)
    else:
        running = ".".join(str(x) for x in sys.version_info[:3])
        spec = EnvSpec.from_requirements(model_dir / "requirements.txt", running)
    return spec.without(SCORING_SKIPPED)


def get_or_create_env(
    model_dir: Path, cache_dir: Path | None = None, progress: Callable[[str], None] | None = None
) -> Path:
    """The folder of the model's environment, built now if the cache does not hold it."""
    prepared = ensure_venv(
        model_spec(model_dir), "virtualenv", project=model_dir, env_root=cache_dir,
        skip=SCORING_SKIPPED, with_traza=True, progress=progress,
    )  # fmt: skip
    assert prepared.path is not None
    return prepared.path


def env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run_in_env(env_dir: Path, args: list[str]) -> int:
    """Run ``python -m traza <args>`` in the environment; returns its exit code. On POSIX the
    process is replaced (exec), so signals reach the server directly."""
    python = str(env_python(env_dir))
    command = [python, "-m", "traza", *args]
    env = {**os.environ, "VIRTUAL_ENV": str(env_dir), **bytecode_vars(env_dir)}
    env.pop("PYTHONPATH", None)
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(python, command, env)
    return subprocess.run(command, env=env).returncode
