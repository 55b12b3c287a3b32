"""`traza.sklearn`, MLflow's `mlflow.sklearn`: scikit-learn models in MLflow's format, and
autologging. ``import traza.sklearn`` and (after ``import traza as mlflow``) ``mlflow.sklearn``
resolve here; scikit-learn itself loads only when a model is saved or loaded.
"""

from __future__ import annotations

from typing import Any

from traza.sklearn.flavor import (
    FLAVOR_NAME,
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_SKOPS,
    SUPPORTED_SERIALIZATION_FORMATS,
    _load_pyfunc,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_CLOUDPICKLE",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_SKOPS",
    "SUPPORTED_SERIALIZATION_FORMATS",
    "_load_pyfunc",
    "autolog",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "save_model",
]


def __getattr__(name: str) -> Any:
    if name == "autolog":  # its module patches sklearn only when called; import it on demand
        from traza.sklearn.autolog import autolog

        return autolog
    raise AttributeError(f"module 'traza.sklearn' has no attribute {name!r}")
