"""A sweep's definition: settings from arguments and ``--config`` YAML, its JSON and its hash.

The hash names a sweep: the same experiment, project, entry point, values, strategy, trial
count, seed, metric and goal give the same hash, which is how a rerun finds the sweep to
resume. How it runs (backend, parallelism, environment manager) is not part of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traza.sweeps.space import Space, SweepDefinitionError

GOALS = ("minimize", "maximize")
PRUNERS = ("median", "none")
#: Keys a ``--config`` YAML file may hold (each is also an argument; arguments win).
CONFIG_KEYS = frozenset(
    {
        "parameters", "entry_point", "strategy", "trials", "max_parallel", "metric", "goal",
        "seed", "backend", "backend_config", "env_manager", "pruner", "pruner_startup_trials",
        "pruner_warmup_steps", "experiment_name", "experiment_id", "version",
    }
)  # fmt: skip


def load_config(path: str | Path) -> dict[str, Any]:
    """A sweep YAML file: ``parameters:`` (name: grammar string or YAML list) and settings."""
    import yaml

    file = Path(path).expanduser()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise SweepDefinitionError(f"Cannot read the sweep config {str(file)!r}: {e}.") from None
    except yaml.YAMLError as e:
        raise SweepDefinitionError(f"The sweep config {str(file)!r} is not YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SweepDefinitionError(
            f"The sweep config {str(file)!r} must be a mapping with 'parameters:' and settings."
        )
    unknown = sorted(str(k) for k in data if k not in CONFIG_KEYS)
    if unknown:
        raise SweepDefinitionError(
            f"Unknown key {unknown[0]!r} in the sweep config {str(file)!r}; known keys: "
            + ", ".join(sorted(CONFIG_KEYS))
            + "."
        )
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict):
        raise SweepDefinitionError(
            f"'parameters' in {str(file)!r} must map each name to its values."
        )
    return data


def merge_parameters(
    given: Mapping[str, Any] | None, from_config: Mapping[str, Any]
) -> dict[str, Any]:
    merged = {str(k): v for k, v in from_config.items()}
    for name, value in (given or {}).items():
        if name in merged:
            raise SweepDefinitionError(
                f"Parameter '{name}' is given both with -P and in the sweep config; keep one."
            )
        merged[name] = value
    return merged


def positive(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise SweepDefinitionError(f"{name} must be an integer, got {value!r}.") from None
    if value < minimum:
        raise SweepDefinitionError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


@dataclass(frozen=True)
class Definition:
    """What the sweep is (kept on its parent run as JSON)."""

    uri: str
    version: str | None
    entry_point: str
    space: Space
    strategy: str
    trials: int
    seed: int | None  # as given; a random sweep without one keeps the seed it drew as a tag
    metric: str | None
    goal: str
    pruner: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "version": self.version,
            "entry_point": self.entry_point,
            "parameters": self.space.to_dict(),
            "strategy": self.strategy,
            "trials": self.trials,
            "seed": self.seed,
            "metric": self.metric,
            "goal": self.goal,
            "pruner": self.pruner if self.strategy == "optuna" else None,
        }

    def digest(self, experiment_id: str) -> str:
        text = json.dumps({"experiment_id": experiment_id, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]
