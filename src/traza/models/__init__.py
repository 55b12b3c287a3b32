"""`traza.models`, MLflow's `mlflow.models`: `import traza.models` and `mlflow.models` resolve.

Model support (the MLmodel format, flavors, signatures) is the Models milestone; until it lands
this module exists so scripts import cleanly, and names it lacks say so.
"""

from __future__ import annotations


def __getattr__(name: str) -> object:
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"traza.models.{name} is not available in this Traza release: model logging and loading "
        "(log_model, load_model, infer_signature, autolog) arrive with the Models milestone."
    )
