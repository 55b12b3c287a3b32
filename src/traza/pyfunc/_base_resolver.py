"""The one function a pickled ``PythonModel`` calls to find its base class.

It is pickled by value (its code travels inside ``python_model.pkl``), so the pickle names
neither Traza nor MLflow: loaded by Traza it subclasses Traza's ``PythonModel``, loaded by MLflow
MLflow's. Keep it free of module globals: nothing else from this module travels with it.
"""

from __future__ import annotations

from typing import Any


def resolve_base(name: str) -> Any:
    """``PythonModel`` or ``PythonModelContext`` of whichever library is loading the model."""
    import importlib
    import sys

    homes = ("traza.pyfunc.python_model", "mlflow.pyfunc.model")
    for home in homes:  # the library already loaded is the one loading the pickle
        module = sys.modules.get(home)
        if module is not None and hasattr(module, name):
            return getattr(module, name)
    errors = []
    for home in homes:
        try:
            return getattr(importlib.import_module(home), name)
        except ImportError as e:
            errors.append(str(e))
    raise ImportError(
        f"This model subclasses {name}, from Traza or MLflow, and neither can be imported "
        f"({'; '.join(errors)}): pip install traza (or mlflow)."
    )
