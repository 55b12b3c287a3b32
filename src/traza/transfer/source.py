"""What every reader gives the pipeline: records, in batches, plus counts for the progress bar."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from traza.transfer.records import (
    ExperimentRecord,
    LoggedModelRecord,
    RegisteredModelRecord,
    RunRecord,
)

#: A batch of runs ends at this many runs or metric points, whichever comes first.
BATCH_RUNS = 1000
BATCH_POINTS = 250_000


class Source(Protocol):
    #: What the source is, for messages (a path or URL).
    label: str
    #: Things the reader could not carry over, with the reason (reported in the summary).
    skipped: list[str]

    def experiments(self) -> list[ExperimentRecord]: ...

    def logged_models(self) -> Iterator[LoggedModelRecord]: ...

    def run_count(self) -> int: ...

    def run_batches(self) -> Iterator[list[RunRecord]]: ...

    def registered_models(self) -> Iterator[RegisteredModelRecord]: ...

    def close(self) -> None: ...


def batched(runs: Iterator[RunRecord]) -> Iterator[list[RunRecord]]:
    """Group runs into batches bounded by run count and metric points."""
    batch: list[RunRecord] = []
    points = 0
    for run in runs:
        batch.append(run)
        points += len(run.metrics)
        if len(batch) >= BATCH_RUNS or points >= BATCH_POINTS:
            yield batch
            batch, points = [], 0
    if batch:
        yield batch
