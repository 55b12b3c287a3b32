"""Virtual environments built with uv: ``uv venv --python <interpreter>`` then ``uv pip install``
of the build dependencies and the requirements, uv's package cache left on (it is what makes a
second build of the same packages take a second). Interpreters are never downloaded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from traza.environments.spec import EnvironmentBuildError, EnvSpec

_TRAZA = re.compile(r"^\s*traza\s*(\[[^\]]*\])?", re.IGNORECASE)


def find_uv() -> str:
    """The ``uv`` executable: the ``uv`` package's (``pip install 'traza[envs]'``), else PATH."""
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise EnvironmentBuildError(
            "Building an environment needs uv: pip install 'traza[envs]' (or install uv), or "
            "use --env-manager local to run in the current environment."
        )
    return found


def uv_environ() -> dict[str, str]:
    """The variables uv runs with: no interpreter downloads, no outer virtualenv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run_step(args: list[str], what: str, env: dict[str, str], cwd: Path | None = None) -> None:
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise EnvironmentBuildError(f"Could not {what} (exit code {done.returncode}):\n{tail}")


def requirement_files(spec: EnvSpec, traza_wheel: Path | None, folder: Path) -> list[str]:
    """Write the requirements (and constraints) into ``folder``; the ``uv pip install`` args.
    A line naming ``traza`` (extras kept) is pointed at the wheel of the running Traza."""
    reqs: list[str] = []
    constraints: list[str] = []
    for line in spec.requirements:
        if line.startswith("--constraint "):
            constraints.append(line[len("--constraint ") :])
        elif traza_wheel is not None and (match := _TRAZA.match(line)):
            reqs.append(f"traza{match[1] or ''} @ {traza_wheel.resolve().as_uri()}")
        else:
            reqs.append(line)
    args: list[str] = []
    if reqs:
        (folder / "traza-requirements.txt").write_text("\n".join(reqs) + "\n", encoding="utf-8")
        args += ["-r", str(folder / "traza-requirements.txt")]
    if constraints:
        (folder / "traza-constraints.txt").write_text("\n".join(constraints) + "\n", "utf-8")
        args += ["-c", str(folder / "traza-constraints.txt")]
    return args


def build_venv(
    target: Path,
    interpreter: str,
    spec: EnvSpec,
    *,
    uv: str,
    traza_wheel: Path | None,
    progress: Callable[[str], None],
    cwd: Path | None = None,
) -> None:
    """Create the virtual environment ``target`` and install ``spec`` into it."""
    env = uv_environ()
    run_step([uv, "venv", "--quiet", "--relocatable", "--python", interpreter, str(target)],
             "create the virtual environment", env)  # fmt: skip
    python = ["--python", str(env_python(target))]
    if spec.build_dependencies:
        step = time.monotonic()
        progress(f"Installing {len(spec.build_dependencies)} build dependencies ...")
        run_step([uv, "pip", "install", "--quiet", *python, *spec.build_dependencies],
                 "install the build dependencies", env, cwd)  # fmt: skip
        progress(f"  build dependencies installed in {time.monotonic() - step:.2f} s")
    args = requirement_files(spec, traza_wheel, target)
    if args:
        step = time.monotonic()
        count = sum(1 for r in spec.requirements if not r.startswith("--constraint "))
        progress(f"Installing {count} requirement{'s' * (count != 1)} ...")
        run_step([uv, "pip", "install", "--quiet", *python, *args],
                 "install the requirements", env, cwd)  # fmt: skip
        progress(f"  requirements installed in {time.monotonic() - step:.2f} s")
