"""Acknowledgements written by logging children, and the check of a store against them.

A child appends one line per acknowledged write to its ack file *after* the call returned:
``run RID``, ``m RID STEP`` (metric ``loss`` = STEP/2 at STEP), ``b RID STEP`` (metrics ``a``,
``b``, ``c`` at STEP in one batch), ``p RID KEY VALUE`` and ``end RID``. A ``kill -9`` cannot take
back what a finished ``write`` put in the page cache, so every complete line was acknowledged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torture.result import Result


@dataclass
class Acks:
    runs: set[str] = field(default_factory=set)
    points: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    params: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    ended: set[str] = field(default_factory=set)
    run_acks: int = 0  # "run" lines: more than len(runs) means one id was handed out twice

    @property
    def point_count(self) -> int:
        return sum(len(steps) for steps in self.points.values())

    def read(self, path: Path) -> int:
        """Add the complete lines of one ack file; returns how many it had."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return 0
        lines = text.split("\n")[:-1]  # the last piece has no newline: not acknowledged
        for line in lines:
            kind, rid, *rest = line.split(" ")
            if kind == "run":
                self.run_acks += 1
                self.runs.add(rid)
            elif kind == "m":
                self.points[(rid, "loss")].add(int(rest[0]))
            elif kind == "b":
                for key in "abc":
                    self.points[(rid, key)].add(int(rest[0]))
            elif kind == "p":
                self.params[rid][rest[0]] = rest[1]
            elif kind == "end":
                self.ended.add(rid)
        return len(lines)


def value_of(key: str, step: int) -> float:
    return step / 2 + "loss abc".index(key)


def check_store(store: Any, experiment_id: str, acks: Acks, result: Result) -> None:
    """Every acknowledged write present once with its value; every run of the experiment
    readable, its histories free of duplicates. Figures go into ``result``."""
    lost = duplicated = wrong = 0
    runs = store.search_runs([experiment_id], max_results=50_000)
    by_id = {r.info.run_id: r for r in runs}
    result.figures["runs in the store"] = len(by_id)
    result.figures["acknowledged runs"] = len(acks.runs)
    result.figures["acknowledged points"] = acks.point_count
    result.check(acks.run_acks == len(acks.runs), "one run id was handed out twice")
    missing_runs = acks.runs - set(by_id)
    result.check(not missing_runs, f"{len(missing_runs)} acknowledged runs missing")
    per_run: dict[str, list[tuple[str, set[int]]]] = defaultdict(list)
    for (rid, key), acked in acks.points.items():
        per_run[rid].append((key, acked))
        if rid not in by_id:
            lost += len(acked)
    unreadable = 0
    for rid in by_id:
        try:
            run = store.get_run(rid)
            histories = {k: store.get_metric_history(rid, k) for k in run.data.metrics}
        except Exception as e:
            unreadable += 1
            result.failures.append(f"run {rid} unreadable: {e}")
            continue
        for key, history in histories.items():
            steps = [m.step for m in history]
            duplicated += len(steps) - len(set(steps))
            wrong += sum(1 for m in history if m.value != value_of(key, m.step))
        for key, acked in per_run.get(rid, []):
            stored = {m.step for m in histories.get(key, [])}
            lost += len(acked - stored)
        for key, value in acks.params.get(rid, {}).items():
            if run.data.params.get(key) != value:
                lost += 1
        if rid in acks.ended and run.info.status != "FINISHED":
            result.failures.append(
                f"run {rid}: end_run returned but its status is {run.info.status}"
            )
    result.figures["runs unreadable"] = unreadable
    result.figures["acknowledged writes lost"] = lost
    result.figures["points duplicated"] = duplicated
    result.check(lost == 0, f"{lost} acknowledged writes lost")
    result.check(duplicated == 0, f"{duplicated} points stored twice")
    result.check(wrong == 0, f"{wrong} points with a wrong value")
