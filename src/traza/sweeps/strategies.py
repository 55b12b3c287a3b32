"""Strategies: which parameters trial ``i`` gets, and (for Optuna) what it learns from results.

Grid and random are pure functions of the trial's index (random seeds a generator with the
sweep's seed and the index), so a resumed sweep reruns an unfinished trial with the very
values it had. Optuna asks its study for each new trial and is told every result, resumed
ones included.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from traza.sweeps.space import Dimension, Space, SweepDefinitionError


class Strategy:
    """What the scheduler asks of a strategy."""

    #: Whether running trials' intermediate metrics should be read and reported.
    prunes = False

    def params(self, index: int) -> dict[str, str]:
        """The values of trial ``index`` (called once per trial started)."""
        raise NotImplementedError

    def seen(self, index: int, params: dict[str, str], state: str, value: float | None) -> None:
        """A trial ended (now or in the sweep being resumed): ``COMPLETE``, ``FAIL``, ``PRUNED``."""

    def report(self, index: int, step: int, value: float) -> bool:
        """An intermediate value of a running trial; ``True`` when it should be pruned."""
        return False


class Grid(Strategy):
    def __init__(self, space: Space) -> None:
        self._combinations = list(itertools.product(*(d.values for d in space.dimensions)))
        self._names = [d.name for d in space.dimensions]

    def params(self, index: int) -> dict[str, str]:
        return dict(zip(self._names, self._combinations[index], strict=True))


class Random(Strategy):
    def __init__(self, space: Space, seed: int) -> None:
        self._space, self._seed = space, seed

    def params(self, index: int) -> dict[str, str]:
        rng = random.Random(f"traza-sweep:{self._seed}:{index}")
        return {d.name: d.sample(rng) for d in self._space.dimensions}


class Optuna(Strategy):
    """Optuna's ask-and-tell: a TPE sampler seeded with the sweep's seed, a median pruner."""

    prunes = True

    def __init__(
        self, space: Space, seed: int, goal: str, pruner: str, startup_trials: int, warmup: int
    ) -> None:
        try:
            import optuna
        except ImportError:
            raise SweepDefinitionError(
                "--strategy optuna needs Optuna: pip install 'traza[optuna]' (or optuna)."
            ) from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._dimensions = space.dimensions
        self._distributions = {d.name: _distribution(optuna, d) for d in space.dimensions}
        chosen: Any = (
            optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup)
            if pruner == "median"
            else optuna.pruners.NopPruner()
        )
        self.prunes = pruner != "none"
        self.study = optuna.create_study(
            direction="minimize" if goal == "minimize" else "maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=chosen,
        )
        self._trials: dict[int, Any] = {}
        self._reported: dict[int, set[int]] = {}

    def params(self, index: int) -> dict[str, str]:
        trial = self.study.ask(self._distributions)
        self._trials[index] = trial
        return {name: _text(trial.params[name]) for name in self._distributions}

    def seen(self, index: int, params: dict[str, str], state: str, value: float | None) -> None:
        states = self._optuna.trial.TrialState
        trial = self._trials.pop(index, None)
        chosen = getattr(states, state)
        if trial is not None:
            self.study.tell(trial, value if state == "COMPLETE" else None, state=chosen)
            return
        values = _values(self._distributions, params)  # a trial of the sweep being resumed
        if values is None:
            return
        self.study.add_trial(
            self._optuna.trial.create_trial(
                params=values,
                distributions=self._distributions,
                value=value if state == "COMPLETE" else None,
                state=chosen,
            )
        )

    def report(self, index: int, step: int, value: float) -> bool:
        trial = self._trials.get(index)
        if trial is None:
            return False
        done = self._reported.setdefault(index, set())
        if step in done:
            return False
        done.add(step)
        trial.report(value, step)
        return bool(trial.should_prune())


def _distribution(optuna: Any, d: Dimension) -> Any:
    dist = optuna.distributions
    if d.kind in ("values", "choice"):
        return dist.CategoricalDistribution(list(d.values))
    if d.kind == "int":
        return dist.IntDistribution(int(d.low), int(d.high))
    return dist.FloatDistribution(d.low, d.high, log=d.kind == "loguniform")


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)  # exactly what Optuna holds


def _values(distributions: dict[str, Any], params: dict[str, str]) -> dict[str, Any] | None:
    """A resumed trial's logged strings as values of the study's distributions."""
    values: dict[str, Any] = {}
    for name, distribution in distributions.items():
        text = params.get(name)
        if text is None:
            return None
        try:
            kind = type(distribution).__name__
            if kind == "CategoricalDistribution":
                if text not in distribution.choices:
                    return None
                values[name] = text
            elif kind == "IntDistribution":
                values[name] = int(text)
            else:
                values[name] = float(text)
        except ValueError:
            return None
    return values


def strategy(
    name: str,
    space: Space,
    seed: int,
    goal: str,
    pruner: str = "median",
    startup_trials: int = 2,
    warmup: int = 0,
) -> Strategy:
    if name == "grid":
        return Grid(space)
    if name == "random":
        return Random(space, seed)
    return Optuna(space, seed, goal, pruner, startup_trials, warmup)
