"""`traza.sklearn`, MLflow's `mlflow.sklearn`: scikit-learn models in MLflow's format, and
autologging. ``import traza.sklearn`` and (after ``import traza as mlflow``) ``mlflow.sklearn``
resolve here; scikit-learn itself loads only when a model is saved or loaded, or autolog runs.
"""

from __future__ import annotations

from traza.sklearn.autolog import autolog  # cheap: sklearn loads when it is called
from traza.sklearn.flavor import (
    FLAVOR_NAME,
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_SKOPS,
    SUPPORTED_SERIALIZATION_FORMATS,
    _load_pyfunc,
    get_default_pip_requirements,
    load_model,
    load_pyfunc_with_meta,
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
    "load_pyfunc_with_meta",
    "log_model",
    "save_model",
]
