"""Grid and random sweeps on Slurm as one job array (issue 18).

Those strategies know every trial's values up front, so instead of the engine's "start one
more when one ends" the sweep creates every pending trial's child run at once and submits
them as ONE ``sbatch --array=<trial indices>%<max_parallel>``: Slurm keeps K running, and a
resumed sweep's array holds only the unfinished indices. Optuna (adaptive) and
``job_array: false`` in the backend config keep one job per trial.
"""

from __future__ import annotations

import queue
from typing import Any

from traza.sweeps.engine import TRIAL_TAG, Sweep, Trial

STRATEGIES = ("grid", "random")


def sweep_class(strategy: str, backend: str, backend_config: Any) -> type[Sweep]:
    """:class:`ArraySweep` where an array fits, else the engine's trial-by-trial :class:`Sweep`."""
    if backend != "slurm" or strategy not in STRATEGIES:
        return Sweep
    from traza.projects.backends import load_config

    try:
        if load_config(backend_config).get("job_array", True) is False:
            return Sweep
    except Exception:  # an unreadable config: each trial's launch says why, as before
        return Sweep
    return ArraySweep


class ArraySweep(Sweep):
    """A sweep whose pending trials go to Slurm together, as one job array."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._arrays: list[Any] = []

    def _fill(self, pending: list[Trial], running: dict[int, Trial], finished: queue.Queue[int]
              ) -> None:  # fmt: skip
        """Every pending trial's child run and task made, then the one array submitted (each
        trial still ends on its own: a waiter per task)."""
        if not pending:
            return
        from traza.projects.backends import slurm_array

        batch, pending[:] = list(pending), []
        name = f"traza-sweep-{self.parent_run_id[:8]}"
        if not self._arrays:  # a resumed sweep: what a dead run of it left queued goes first
            slurm_array.cancel_named(name)
        # Task ids are the trial indices, unless one passes Slurm's default MaxArraySize.
        fits = max(t.index for t in batch) <= slurm_array.MAX_TASK_ID
        with slurm_array.batch(self.max_parallel, name, TRIAL_TAG if fits else None) as array:
            self._arrays.append(array)
            for trial in batch:
                if self._cancelled.is_set():
                    array.abandon("not submitted: the sweep was cancelled")
                    return
                if self._start_trial(trial, finished):
                    running[trial.index] = trial
                else:
                    self._ended(trial)

    def _stop(self) -> None:
        """One ``scancel`` per array, then each trial's run waits to be recorded KILLED."""
        for array in self._arrays:
            array.cancel_all()
        super()._stop()
