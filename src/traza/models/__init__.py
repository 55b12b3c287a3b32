"""`traza.models`, MLflow's `mlflow.models`: `import traza.models` and `mlflow.models` resolve.

Signatures (``infer_signature``, ``ModelSignature``) are here; the rest of model support (the
MLmodel format, flavors, logging and loading) is the Models milestone, and names not yet built
say so.
"""

from __future__ import annotations

from traza.models.signature import ModelSignature, infer_signature

__all__ = ["ModelSignature", "infer_signature"]


def __getattr__(name: str) -> object:
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"traza.models.{name} is not available in this Traza release: model logging and loading "
        "(log_model, load_model, autolog) arrive with the Models milestone."
    )
