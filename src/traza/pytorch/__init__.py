"""`traza.pytorch`, MLflow's `mlflow.pytorch`: PyTorch models in MLflow's format.

``import traza.pytorch`` (and ``mlflow.pytorch`` after ``import traza as mlflow``) is cheap:
torch loads when a model is saved or loaded, and Lightning when ``autolog()`` is called.
"""

from __future__ import annotations

from traza.pytorch.flavor import (
    FLAVOR_NAME,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_PT2,
    _load_pyfunc,
    get_default_pip_requirements,
    load_model,
    load_pyfunc_with_meta,
    load_state_dict,
    log_model,
    log_state_dict,
    save_model,
    save_state_dict,
)
from traza.pytorch.lightning_autolog import autolog, load_checkpoint

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_PT2",
    "_load_pyfunc",
    "autolog",
    "get_default_pip_requirements",
    "load_checkpoint",
    "load_model",
    "load_pyfunc_with_meta",
    "load_state_dict",
    "log_model",
    "log_state_dict",
    "save_model",
    "save_state_dict",
]
