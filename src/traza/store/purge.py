"""Garbage collection of the deleted stage: what ``Store.purge_deleted`` reports, and ages.

Deleting an experiment, run or logged model only moves it to the deleted stage (restorable).
Purging removes such items for good, rows and artifacts, once they have been deleted for longer
than a given age (``traza gc``, after ``mlflow gc``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from traza.exceptions import invalid

_UNITS_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def parse_age(text: str) -> int:
    """``30d``, ``2h``, ``1d12h``, ``90m``, ``45s`` (MLflow's ``--older-than`` form) in ms."""
    cleaned = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    while pos < len(cleaned):
        match = _AGE.match(cleaned, pos)
        if match is None:
            break
        total += float(match.group(1)) * _UNITS_MS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise invalid(
            f"Could not read the age {text!r}: write a number and a unit (d, h, m or s), "
            "optionally combined, e.g. 30d, 2h, 1d12h or 90m."
        )
    return int(total)


@dataclass(frozen=True)
class PurgedItem:
    """One experiment, run or logged model that goes (or went) for good."""

    kind: str  # "experiment" | "run" | "logged_model"
    id: str
    experiment_id: str
    name: str
    deleted_time: int | None
    #: The artifact root removed with it (runs and logged models), resolved; ``None`` if none.
    artifact_uri: str | None = None


@dataclass(frozen=True)
class Skipped:
    """An item in the deleted stage that was kept, and why."""

    kind: str
    id: str
    reason: str


@dataclass
class PurgeReport:
    dry_run: bool
    #: Items purged (or, in a dry run, that would be).
    experiments: list[PurgedItem] = field(default_factory=list)
    runs: list[PurgedItem] = field(default_factory=list)
    logged_models: list[PurgedItem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: Artifact roots that could not be removed after their rows went: (uri, error message).
    artifact_errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def items(self) -> list[PurgedItem]:
        return [*self.experiments, *self.runs, *self.logged_models]
