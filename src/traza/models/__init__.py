"""`traza.models`, MLflow's `mlflow.models`: the MLmodel format and signatures.

``import traza.models`` and (after ``import traza as mlflow``) ``mlflow.models`` resolve here.
"""

from __future__ import annotations

from traza.models.from_code import ModelConfig, set_model
from traza.models.model import Model, ModelInfo
from traza.models.signature import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)

__all__ = [
    "ColSpec",
    "Model",
    "ModelConfig",
    "ModelInfo",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "infer_signature",
    "set_model",
]
