"""`traza.pyfunc`, MLflow's `mlflow.pyfunc`: load any model as one with ``predict``.

``import traza.pyfunc`` and (after ``import traza as mlflow``) ``mlflow.pyfunc`` resolve here.
Models saved by MLflow load too: their ``python_function`` flavor names ``mlflow.sklearn`` or
``mlflow.pyfunc.model``, which Traza maps to its own loaders. Custom models subclass
:class:`PythonModel` and are saved with :func:`save_model` / :func:`log_model`.
"""

from __future__ import annotations

import os
from typing import Any

from traza.pyfunc.model import FLAVOR_NAME, PyFuncModel

__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "add_to_model",
    "get_default_pip_requirements",
    "get_model_dependencies",
    "load_model",
    "log_model",
    "save_model",
]

#: Names loaded on first use, so ``import traza.pyfunc`` stays as cheap as it was.
_LAZY = {
    "PythonModel": "traza.pyfunc.python_model",
    "PythonModelContext": "traza.pyfunc.python_model",
    "save_model": "traza.pyfunc.save",
    "log_model": "traza.pyfunc.save",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'traza.pyfunc' has no attribute {name!r}")


def get_default_pip_requirements() -> list[str]:
    """What a Python model's requirements hold at least: the installed cloudpickle."""
    from traza.models.environment import pinned

    return [pinned("cloudpickle")]


def load_model(
    model_uri: str | os.PathLike[str],
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: dict[str, Any] | None = None,
) -> PyFuncModel:
    """Load ``model_uri`` (``runs:/``, ``models:/``, a path or an artifact URI) for ``predict``."""
    from traza.models.locate import local_model_dir
    from traza.pyfunc.model import load_pyfunc_from_dir

    return load_pyfunc_from_dir(local_model_dir(model_uri, dst_path), model_config)


def add_to_model(
    model: Any,
    loader_module: str,
    data: str | None = None,
    code: str | None = None,
    conda_env: str | None = None,
    python_env: str | None = None,
    model_config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Add the ``python_function`` flavor to ``model`` (a :class:`traza.models.Model`)."""
    from traza.models.model import python_version

    params: dict[str, Any] = {"loader_module": loader_module, **kwargs}
    params["python_version"] = python_version()
    if data:
        params["data"] = data
    if code:
        params["code"] = code
    env = {k: v for k, v in (("conda", conda_env), ("virtualenv", python_env)) if v}
    if env:
        params["env"] = env
    if model_config:
        params["config"] = model_config
    return model.add_flavor(FLAVOR_NAME, **params)


def get_model_dependencies(model_uri: str, format: str = "pip") -> str:
    """The path of the model's ``requirements.txt`` (``format="pip"``) or ``conda.yaml``."""
    from traza.exceptions import invalid
    from traza.models.environment import CONDA_ENV_FILE, REQUIREMENTS_FILE
    from traza.models.locate import local_model_dir

    if format not in ("pip", "conda"):
        raise invalid(f"Unknown format {format!r}: use 'pip' or 'conda'.")
    path = local_model_dir(model_uri) / (REQUIREMENTS_FILE if format == "pip" else CONDA_ENV_FILE)
    if not path.is_file():
        raise invalid(f"The model at {model_uri} has no {path.name}.")
    return str(path)
