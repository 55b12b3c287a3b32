"""`traza.pyfunc`, MLflow's `mlflow.pyfunc`: `import traza.pyfunc` and `mlflow.pyfunc` resolve.

Model support (the MLmodel format, flavors, signatures) is the Models milestone; until it lands
this module exists so scripts import cleanly, and names it lacks say so.
"""

from __future__ import annotations


def __getattr__(name: str) -> object:
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"traza.pyfunc.{name} is not available in this Traza release: model logging and loading "
        "(log_model, load_model, infer_signature, autolog) arrive with the Models milestone."
    )
