"""``traza sweep``: a hyperparameter sweep as a parent run whose children are the trials.

``space`` parses the value grammar, ``strategies`` turns a space into trials (grid, seeded
random, Optuna's ask-and-tell), ``engine`` records the parent and the children and schedules
the trials on a backend with at most K in flight.
"""

from __future__ import annotations

from traza.sweeps.engine import Sweep, sweep
from traza.sweeps.space import SweepDefinitionError

__all__ = ["Sweep", "SweepDefinitionError", "sweep"]
