"""`traza.xgboost`, MLflow's `mlflow.xgboost`: XGBoost models in MLflow's format. ``import
traza.xgboost`` and (after ``import traza as mlflow``) ``mlflow.xgboost`` resolve here; xgboost
itself loads only when a model is saved or loaded, or ``autolog()`` is called.
"""

from __future__ import annotations

from traza.xgboost._autolog import autolog  # cheap: xgboost loads when it is called
from traza.xgboost.flavor import (
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
