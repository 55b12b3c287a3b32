"""The ``pickle_module`` ``torch.save`` is given: cloudpickle's pickler with the standard
unpickler, as MLflow's ``mlflow.pytorch.pickle_module``.

A saved model names MLflow's module (``pickle_module_info.txt``), so MLflow loads it without
Traza; Traza maps that name here. cloudpickle stores classes of importable modules by reference
(the class must be importable when loading) and classes defined in ``__main__`` by value.
"""

from __future__ import annotations

from pickle import Unpickler

from cloudpickle import *  # noqa: F403  (torch.save looks up names such as dump and Pickler)
from cloudpickle import CloudPickler as Pickler

__all__ = ["Pickler", "Unpickler"]
