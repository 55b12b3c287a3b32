"""What a scenario hands back to the runner: its figures and every failure it saw."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Scale = Literal["ci", "full"]
Figure = int | float | str


@dataclass
class Result:
    """One scenario's outcome. ``ok`` is false as soon as one failure is recorded.

    ``scale`` says in words what ran (``"50 kill -9, 2 runs each"``); ``figures`` holds the
    measured numbers by name (``"acknowledged points": 41230``, ``"points/s": 9100.5``);
    ``failures`` holds one sentence per loss, duplicate or error found.
    """

    name: str
    scale: str
    figures: dict[str, Figure] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, condition: bool, failure: str) -> bool:
        """Record ``failure`` unless ``condition`` holds; returns ``condition``."""
        if not condition:
            self.failures.append(failure)
        return condition

    def merge(self, prefix: str, other: Result) -> None:
        """Fold a sub-part's figures and failures in, under ``prefix``."""
        self.figures.update({f"{prefix} {k}": v for k, v in other.figures.items()})
        self.failures.extend(f"{prefix}: {f}" for f in other.failures)
