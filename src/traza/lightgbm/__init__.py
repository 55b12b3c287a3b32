"""`traza.lightgbm`, MLflow's `mlflow.lightgbm`: LightGBM models in MLflow's format. ``import
traza.lightgbm`` and (after ``import traza as mlflow``) ``mlflow.lightgbm`` resolve here; lightgbm
itself loads only when a model is saved or loaded, or ``autolog()`` is called.
"""

from __future__ import annotations

from traza.lightgbm._autolog import autolog  # cheap: lightgbm loads when it is called
from traza.lightgbm.flavor import (
    FLAVOR_NAME,
    _load_pyfunc,
    get_default_pip_requirements,
    load_model,
    load_pyfunc_with_meta,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME",
    "_load_pyfunc",
    "autolog",
    "get_default_pip_requirements",
    "load_model",
    "load_pyfunc_with_meta",
    "log_model",
    "save_model",
]
