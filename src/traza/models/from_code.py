"""Models from code: a Python file that builds the model and hands it to :func:`set_model`.

``log_model(python_model="model.py")`` stores the file instead of a pickle, and loading runs
it again: nothing unpicklable, nothing tied to the Python version that saved it. The file runs
under a fresh module name each time, so one process can load several such models.

A file written for MLflow (``from mlflow.models import set_model``) loads in Traza without
MLflow installed: while it runs, ``mlflow`` imports resolve to Traza.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from traza.exceptions import TrazaException, invalid

_model: Any = None
_config: dict[str, Any] | None = None


def set_model(model: Any) -> None:
    """Called by a model's code file: ``model`` (a PythonModel, or a callable) is the model."""
    global _model
    if isinstance(model, str) or not (callable(model) or hasattr(model, "predict")):
        raise invalid(
            f"set_model() takes the model object (a PythonModel instance or a function), got "
            f"{type(model).__name__}."
        )
    _model = model


def model_config() -> dict[str, Any] | None:
    """The ``model_config`` of the model whose code file is running (None outside one)."""
    return _config or None


class ModelConfig:
    """A model file's configuration (MLflow's ``mlflow.models.ModelConfig``): the
    ``model_config`` the model was saved with while the file runs as a model, else
    ``development_config`` (a dict or a YAML file's path), for running the file by hand."""

    def __init__(self, *, development_config: str | dict[str, Any] | None = None) -> None:
        self.config: str | dict[str, Any] | None = (
            _config if _config is not None else development_config
        )
        if not self.config:
            raise FileNotFoundError(
                "No model configuration: log the model with model_config=, or give "
                "ModelConfig(development_config=...) a dict or a YAML file to run it by hand."
            )
        if not isinstance(self.config, dict) and not os.path.isfile(self.config):
            raise FileNotFoundError(f"Config file '{self.config}' not found.")

    def to_dict(self) -> dict[str, Any]:
        if isinstance(self.config, dict):
            return self.config
        import yaml

        with open(str(self.config), encoding="utf-8") as f:
            data = yaml.safe_load(f)
        if not isinstance(data, dict):
            raise invalid(f"The config file {self.config} does not hold a mapping.")
        return data

    def get(self, key: str) -> Any:
        """A top-level value; a missing key raises KeyError naming it."""
        data = self.to_dict()
        if key not in data:
            raise KeyError(f"Key '{key}' not found in the model configuration.")
        return data[key]


def load_code_model(code_file: Path, config: dict[str, Any] | None = None) -> Any:
    """Run ``code_file`` and return the model it passed to :func:`set_model`."""
    global _model, _config
    if not code_file.is_file():
        raise TrazaException(
            f"The model's code file {code_file} is missing: the model directory is incomplete.",
            error_code="RESOURCE_DOES_NOT_EXIST",
        )
    import uuid

    name = f"code_model_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, os.fspath(code_file))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # While the file runs, an empty mapping (not None) means "saved without a config", as in
    # MLflow: a ModelConfig then refuses its development_config rather than silently using it.
    _model, _config = None, config if config is not None else {}
    from traza.pyfunc._portable import mlflow_stand_ins, uses_mlflow_without_it

    try:
        if uses_mlflow_without_it(code_file.read_bytes()):
            with mlflow_stand_ins():
                spec.loader.exec_module(module)
        else:
            spec.loader.exec_module(module)
    except TrazaException:
        raise
    except Exception as e:
        raise TrazaException(
            f"Running the model's code file {code_file} failed: {type(e).__name__}: {e}"
        ) from e
    finally:
        _config = None
    model, _model = _model, None
    if model is None and (mlflow_models := sys.modules.get("mlflow.models.model")) is not None:
        # The file imported the real MLflow, whose set_model keeps the model there.
        model = getattr(mlflow_models, "__mlflow_model__", None)
        mlflow_models.__mlflow_model__ = None  # type: ignore[attr-defined]
    if model is None:
        raise invalid(
            f"The code file {code_file} did not call set_model(): end it with "
            "traza.models.set_model(<your model>)."
        )
    return model
