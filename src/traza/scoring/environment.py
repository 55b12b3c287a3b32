"""A model's own Python environment, built with uv from its ``python_env.yaml``, for
``traza models serve|predict --env-manager virtualenv|uv``.

The environment is cached under ``<cache>/<hash>``, the hash covering everything that decides its
contents (interpreter version, build dependencies, requirements, the Traza source being
installed), so a second serve of the same model starts at once. It is built in a temporary
folder beside its final place and renamed into place, so a crash or a concurrent build never
leaves a half-built environment where a later run would trust it. Traza is not on PyPI: the
running Traza is installed from a wheel built from its own source tree.

``mlflow``/``mlflow-skinny`` requirements are left out: Traza provides the ``mlflow.sklearn``
loader a model names, as MLflow installs itself into the environments it builds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from traza.exceptions import INVALID_PARAMETER_VALUE, TrazaException

_log = logging.getLogger(__name__)

#: Requirements the environment does not need because Traza replaces them.
SKIPPED_REQUIREMENTS = frozenset({"mlflow", "mlflow-skinny", "traza"})
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class EnvironmentBuildError(TrazaException):
    """The model's environment could not be built; the message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/traza/envs`` (``~/.cache/traza/envs``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "traza" / "envs"


@dataclass(frozen=True)
class EnvSpec:
    """What a model asks for: a Python version and pip requirement lines."""

    python: str
    build_dependencies: tuple[str, ...]
    requirements: tuple[str, ...]

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> EnvSpec:
        """Read ``python_env.yaml`` (``-r file`` lines expanded from the model folder); a model
        without one falls back to ``requirements.txt`` and the running Python's version."""
        env_file = model_dir / "python_env.yaml"
        if env_file.is_file():
            doc = yaml.safe_load(env_file.read_text(encoding="utf-8")) or {}
            python = str(doc.get("python") or _running_python())
            build = tuple(str(x) for x in doc.get("build_dependencies") or [])
            deps = [str(x) for x in doc.get("dependencies") or []]
        else:
            python, build, deps = _running_python(), (), ["-r requirements.txt"]
        return cls(python, build, tuple(_expand(deps, model_dir)))

    def digest(self, traza_digest: str) -> str:
        text = "\n".join(
            ["python=" + self.python, *self.build_dependencies, "--", *self.requirements,
             "traza=" + traza_digest]
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def _running_python() -> str:
    return ".".join(str(x) for x in sys.version_info[:3])


def _expand(lines: list[str], base: Path) -> list[str]:
    """Requirement lines with ``-r`` files inlined and Traza's replacements dropped."""
    out: list[str] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip() if not raw.startswith("-") else raw.strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            path = base / line.split(None, 1)[1].strip()
            if not path.is_file():
                raise EnvironmentBuildError(
                    f"The model's python_env.yaml names {path}, which is missing."
                )
            out += _expand(path.read_text(encoding="utf-8").splitlines(), path.parent)
            continue
        match = _NAME.match(line)
        if match and match.group(1).lower().replace("_", "-") in SKIPPED_REQUIREMENTS:
            continue
        out.append(line)
    return out


# -- tools ----------------------------------------------------------------------------------------
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
            "Building a model environment needs uv: pip install 'traza[envs]' (or uv), or "
            "serve in the current environment with --env-manager local."
        )
    return found


def _version_of(python: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _candidates(version: str, pyenv_root: Path | None) -> list[str]:
    major_minor = ".".join(version.split(".")[:2])
    found: list[str] = [sys.executable]
    for name in (f"python{major_minor}", "python3", "python"):
        if path := shutil.which(name):
            found.append(path)
    root = pyenv_root or Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = root / "versions"
    if versions.is_dir():
        for d in sorted(versions.iterdir(), reverse=True):
            exe = d / "bin" / "python"
            if exe.exists():
                found.append(str(exe))
    return list(dict.fromkeys(found))


def find_python(version: str, pyenv_root: Path | None = None) -> str:
    """An interpreter for ``version``: the exact one if this machine has it (the running one,
    PATH, pyenv), else one of the same major.minor with a warning, else an error."""
    wanted = version.strip()
    wanted_mm = ".".join(wanted.split(".")[:2])
    near: str | None = None
    for exe in _candidates(wanted, pyenv_root):
        have = _version_of(exe)
        if have is None:
            continue
        if have == wanted or (wanted.count(".") == 1 and have.startswith(wanted + ".")):
            return exe
        if near is None and ".".join(have.split(".")[:2]) == wanted_mm:
            near = exe
    if near is not None:
        _log.warning(
            "The model was saved with Python %s, which is not on this machine; using %s (%s).",
            wanted, near, _version_of(near),
        )  # fmt: skip
        return near
    raise EnvironmentBuildError(
        f"The model needs Python {wanted} and this machine has no Python {wanted_mm} (looked at "
        f"PATH and pyenv). Install it (e.g. pyenv install {wanted}) or serve with "
        "--env-manager local."
    )


# -- Traza itself ---------------------------------------------------------------------------------
def source_root() -> Path:
    """The source tree of the running Traza (the folder with its ``pyproject.toml``)."""
    import traza

    package = Path(traza.__file__).resolve().parent
    for parent in package.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "traza").is_dir():
            return parent
    raise EnvironmentBuildError(
        f"Traza at {package} is not running from its source tree, and Traza is not on PyPI, so "
        "it cannot be installed into the model's environment; use --env-manager local."
    )


def source_digest(root: Path) -> str:
    """A hash of Traza's source files, so an environment holds the Traza that built it."""
    h = hashlib.sha256()
    for path in sorted((root / "src" / "traza").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    h.update((root / "pyproject.toml").read_bytes())
    return h.hexdigest()[:16]


def _run(args: list[str], what: str) -> None:
    _log.info("Running %s", " ".join(args))
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise EnvironmentBuildError(f"Could not {what} (exit code {done.returncode}):\n{tail}")


# -- building -------------------------------------------------------------------------------------
def env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def get_or_create_env(
    model_dir: Path, cache_dir: Path | None = None, pyenv_root: Path | None = None
) -> Path:
    """The folder of the model's environment, built now if the cache does not hold it."""
    spec = EnvSpec.from_model_dir(model_dir)
    root = source_root()
    cache = cache_dir or default_cache_dir()
    final = cache / spec.digest(source_digest(root))
    if env_python(final).exists():
        return final
    uv = find_uv()
    python = find_python(spec.python, pyenv_root)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=cache))
    try:
        env = work / "env"
        _run([uv, "venv", "--quiet", "--relocatable", "--python", python, str(env)],
             "create the virtual environment")  # fmt: skip
        target = ["--python", str(env_python(env))]
        if spec.build_dependencies:
            _run([uv, "pip", "install", "--quiet", *target, *spec.build_dependencies],
                 "install the model's build dependencies")  # fmt: skip
        wheels = work / "wheels"
        _run([uv, "build", "--quiet", "--wheel", "--out-dir", str(wheels), str(root)],
             "build a Traza wheel from its source")  # fmt: skip
        requirements = work / "requirements.txt"
        requirements.write_text("\n".join(spec.requirements) + "\n", encoding="utf-8")
        _run([uv, "pip", "install", "--quiet", *target, "-r", str(requirements),
              *(str(w) for w in wheels.glob("traza-*.whl"))],
             "install the model's requirements")  # fmt: skip
        try:
            env.rename(final)
        except OSError:
            if not env_python(final).exists():  # not a concurrent build that finished first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def run_in_env(env_dir: Path, args: list[str]) -> int:
    """Run ``python -m traza <args>`` in the environment; returns its exit code. On POSIX the
    process is replaced (exec), so signals reach the server directly."""
    python = str(env_python(env_dir))
    command = [python, "-m", "traza", *args]
    env = {**os.environ, "VIRTUAL_ENV": str(env_dir)}
    env.pop("PYTHONPATH", None)
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(python, command, env)
    return subprocess.run(command, env=env).returncode
