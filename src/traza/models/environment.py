"""A model's environment files: ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``.

Versions are pinned to what is installed now, so the model can be rebuilt and served later
(``traza models serve --env-manager virtualenv``, or MLflow's). Neither Traza nor MLflow is
pinned: the loader ``mlflow.sklearn`` is provided by whichever of the two serves the model, and
each serving tool installs itself into the environment it builds.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from traza.models.model import python_version

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"


@functools.lru_cache(maxsize=256)
def _version(distribution: str) -> str | None:
    """The installed version (None if missing); read once per process, since each lookup
    scans ``sys.path`` (about 5 ms, several per saved model)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned(distribution: str) -> str:
    """``name==version`` for an installed distribution, or the bare name if it is missing.

    A local version label (torch's ``+cpu``) is dropped, as MLflow does: PyPI has no such
    version, so the pin would not install."""
    version = _version(distribution)
    return distribution if version is None else f"{distribution}=={version.split('+')[0]}"


def is_installed(distribution: str) -> bool:
    return _version(distribution) is not None


def resolve_requirements(
    defaults: Iterable[str],
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
) -> list[str]:
    """MLflow's rules: ``pip_requirements`` replaces the defaults, ``extra_pip_requirements``
    adds to them; either may be a path to a requirements file."""
    if pip_requirements is not None and extra_pip_requirements is not None:
        from traza.exceptions import invalid

        raise invalid("Give pip_requirements or extra_pip_requirements, not both.")

    def read(value: Sequence[str] | str) -> list[str]:
        if isinstance(value, str):
            lines = Path(value).read_text(encoding="utf-8").splitlines()
            return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
        return [str(v) for v in value]

    if pip_requirements is not None:
        return read(pip_requirements)
    base = [pinned(d) for d in defaults if is_installed(d)]
    if extra_pip_requirements is not None:
        base += read(extra_pip_requirements)
    return base


def write_environment(directory: Path, requirements: Sequence[str]) -> dict[str, str]:
    """Write the three files; returns the pyfunc flavor's ``env`` mapping."""
    (directory / REQUIREMENTS_FILE).write_text("\n".join(requirements), encoding="utf-8")
    build = [pinned("pip"), pinned("setuptools"), "wheel"]
    python_env = {
        "python": python_version(),
        "build_dependencies": build,
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (directory / PYTHON_ENV_FILE).write_text(
        yaml.safe_dump(python_env, sort_keys=False), encoding="utf-8"
    )
    pip_cap = build[0].replace("==", "<=")
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={python_version()}", pip_cap, {"pip": list(requirements)}],
        "name": "mlflow-env",
    }
    (directory / CONDA_ENV_FILE).write_text(yaml.safe_dump(conda, sort_keys=False), "utf-8")
    return {"conda": CONDA_ENV_FILE, "virtualenv": PYTHON_ENV_FILE}
