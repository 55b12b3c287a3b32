"""Optuna's pruning poll for a running sweep: a trial's stepped values of the sweep's metric,
read back from the store, are told to the strategy's pruner; a trial it prunes is stopped
(KILLED, tagged ``traza.sweep.pruned``). Kept apart from the scheduler in ``engine.py``, which
calls :func:`report` while trials run and once more as each ends."""

from __future__ import annotations

import math
import sys
import threading
from typing import Any

PRUNED_TAG = "traza.sweep.pruned"


def report(client: Any, strategy: Any, metric: str | None, trial: Any, may_prune: bool = True
           ) -> bool:  # fmt: skip
    """Report the trial's intermediate values; stop it when the strategy says so and return
    True (``may_prune=False``: it has ended; its values still inform the pruner)."""
    if trial.run_id is None or metric is None or trial.pruned:
        return False
    history = client.get_metric_history(trial.run_id, metric)
    for point in sorted(history, key=lambda m: (m.step, m.timestamp)):
        if point.value is None or math.isnan(point.value):
            continue
        prune = strategy.report(trial.index, int(point.step), float(point.value))
        if prune and may_prune:
            trial.pruned = True
            client.set_tag(trial.run_id, PRUNED_TAG, "true")
            print(f"Trial {trial.index} pruned at step {point.step} ({metric}={point.value})",
                  file=sys.stderr, flush=True)  # fmt: skip
            threading.Thread(target=trial.submitted.cancel, daemon=True).start()
            return True
    return False
