"""conda environments from a project's ``conda.yaml``, where a conda executable exists (conda,
mamba or micromamba). conda environments cannot be moved once created, so they are built in
place under a lock; the marker file written last still decides whether one is complete."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from traza.environments.spec import EnvironmentBuildError

if TYPE_CHECKING:
    from traza.environments import PreparedEnv


def find_conda() -> str | None:
    """``$CONDA_EXE``, else conda, mamba or micromamba on PATH."""
    explicit = os.environ.get("TRAZA_CONDA_EXE") or os.environ.get("CONDA_EXE")
    if explicit and os.path.exists(explicit):
        return explicit
    for name in ("conda", "mamba", "micromamba"):
        if found := shutil.which(name):
            return found
    return None


def ensure_conda_env(
    conda_yaml: Path, project: Path, root: Path, progress: Callable[[str], None]
) -> PreparedEnv:
    """The conda environment of ``conda_yaml``, created with ``<conda> env create`` unless
    cached (the key is the file's contents and the conda executable)."""
    from traza.environments import _venv, cache
    from traza.environments.spec import EnvSpec, digest

    exe = find_conda()
    if exe is None:
        raise EnvironmentBuildError(
            "--env-manager conda needs a conda executable and none was found (looked at "
            "$CONDA_EXE and for conda, mamba, micromamba on PATH). Install conda, or run with "
            "--env-manager virtualenv or uv (Traza then installs the conda.yaml's python "
            "version and pip packages with uv)."
        )
    if not conda_yaml.is_file():
        raise EnvironmentBuildError(f"The environment file {conda_yaml} is missing.")
    text = conda_yaml.read_text(encoding="utf-8")
    spec = EnvSpec.from_conda_yaml(conda_yaml)  # validates, and reads pip -r includes
    key = digest("conda", exe, text, spec.key_text())
    final = root / key

    def build(folder: Path) -> dict[str, object]:
        started = time.monotonic()
        progress(f"Creating conda environment {key} from {conda_yaml} ...")
        done = subprocess.run(
            [exe, "env", "create", "--yes", "--quiet", "--prefix", str(folder),
             "--file", str(conda_yaml)],
            capture_output=True, text=True, cwd=project,
        )  # fmt: skip
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
            raise EnvironmentBuildError(f"conda could not create the environment:\n{tail}")
        took = time.monotonic() - started
        progress(f"Environment {key} ready in {took:.2f} s")
        return {"key": key, "manager": "conda", "python_version": _version(folder),
                "spec": spec.summary(), "project": str(project), "created": time.time(),
                "build_seconds": round(took, 3),
                "conda_yaml_sha256": hashlib.sha256(text.encode()).hexdigest()}  # fmt: skip

    if not cache.is_complete(final):
        cache.build_atomically(root, key, build, in_place=True)
    cache.touch(final)
    prepared = _venv("conda", final, _version(final))
    env_vars = {**prepared.env_vars, "CONDA_PREFIX": str(final)}
    env_vars.pop("VIRTUAL_ENV", None)
    return type(prepared)("conda", prepared.python, prepared.python_version, final, env_vars)


def _version(env_dir: Path) -> str:
    """The environment's Python version, from its ``conda-meta`` record (no subprocess)."""
    for record in sorted((env_dir / "conda-meta").glob("python-3*.json")):
        parts = record.name.split("-")
        if len(parts) >= 3:
            return parts[1]
    return ""
