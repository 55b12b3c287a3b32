"""`traza.models`, MLflow's `mlflow.models`: the MLmodel format and signatures.

``import traza.models`` and (after ``import traza as mlflow``) ``mlflow.models`` resolve here.
"""

from __future__ import annotations

from typing import Any

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

#: Evaluation loads its module (and through it pandas and scikit-learn) on first use only.
_LAZY = {
    "evaluate": "traza.models.evaluation",
    "EvaluationResult": "traza.models.evaluation",
    "EvaluationArtifact": "traza.models.evaluation",
    "make_metric": "traza.models.metrics",
    "MetricValue": "traza.models.metrics",
    "EvaluationMetric": "traza.models.metrics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'traza.models' has no attribute {name!r}")


__all__ = [
    "ColSpec",
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "MetricValue",
    "Model",
    "ModelConfig",
    "ModelInfo",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "evaluate",
    "infer_signature",
    "make_metric",
    "set_model",
]
