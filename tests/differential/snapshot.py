"""Dump what a tracking library recorded, read back through that library's own client.

Usage: ``python snapshot.py LIB CASES_JSON OUT_JSON`` with ``LIB`` either ``mlflow`` or
``traza``, run in the directory the user script ran in (with the same environment, so the
library finds the same tracking store). It writes plain JSON: experiments, every run keyed
by run name, and the result of every search case in ``CASES_JSON``. Run ids never appear in
the output (they differ between libraries): tag values that are run ids are written as
``<run:NAME>`` and search filters name runs as ``{id:NAME}``.

It runs in its own process so the test process never imports mlflow (and never sees its
warnings); it is a helper of ``tests/test_differential.py``, not a test module.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

ALL_RUNS_LIMIT = 1000
_RUN_REF = re.compile(r"\{id:([^}]+)\}")


def canonical(value: float) -> float | str:
    """A float as strict JSON that compares equal to itself: NaN and ±inf become strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def history_sort_key(point: tuple[int, float | str]) -> tuple[int, int, float, str]:
    step, value = point
    if isinstance(value, str):
        return (step, 1, 0.0, value)
    return (step, 0, value, "")


class Recorder:
    def __init__(self, lib_name: str) -> None:
        self.lib: Any = importlib.import_module(lib_name)
        self.view_type: Any = importlib.import_module(f"{lib_name}.entities").ViewType
        self.client: Any = self.lib.MlflowClient()
        self.experiment_ids: dict[str, str] = {}
        self.experiment_names: dict[str, str] = {}
        self.run_ids: dict[str, str] = {}
        self.run_names: dict[str, str] = {}

    def experiments(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for experiment in self.client.search_experiments(view_type=self.view_type.ALL):
            self.experiment_ids[experiment.name] = experiment.experiment_id
            self.experiment_names[experiment.experiment_id] = experiment.name
            out[experiment.name] = {
                "lifecycle_stage": experiment.lifecycle_stage,
                "tags": {k: v for k, v in experiment.tags.items() if not k.startswith("mlflow.")},
            }
        return out

    def runs(self) -> dict[str, Any]:
        listed = self.client.search_runs(
            list(self.experiment_ids.values()),
            run_view_type=self.view_type.ALL,
            max_results=ALL_RUNS_LIMIT,
        )
        for run in listed:
            self.run_ids[run.info.run_name] = run.info.run_id
            self.run_names[run.info.run_id] = run.info.run_name
        return {run.info.run_name: self.run(run.info.run_id) for run in listed}

    def run(self, run_id: str) -> dict[str, Any]:
        run = self.client.get_run(run_id)
        info = run.info
        history: dict[str, list[tuple[int, float | str]]] = {}
        for key in run.data.metrics:
            points = [
                (int(m.step), canonical(m.value))
                for m in self.client.get_metric_history(run_id, key)
            ]
            history[key] = sorted(points, key=history_sort_key)
        return {
            "info": {
                "experiment": self.experiment_names[info.experiment_id],
                "run_name": info.run_name,
                "status": info.status,
                "lifecycle_stage": info.lifecycle_stage,
                "user_id": info.user_id,
                "has_end_time": info.end_time is not None,
                "ended_after_start": info.end_time is not None and info.end_time >= info.start_time,
            },
            "params": dict(run.data.params),
            "metrics": {k: canonical(v) for k, v in run.data.metrics.items()},
            "history": history,
            "tags": {k: self.run_ref(v) for k, v in run.data.tags.items()},
        }

    def run_ref(self, value: str) -> str:
        name = self.run_names.get(value)
        return f"<run:{name}>" if name is not None else value

    def search(self, case: dict[str, Any]) -> dict[str, Any]:
        filter_string = _RUN_REF.sub(lambda m: f"'{self.run_ids[m.group(1)]}'", case["filter"])
        experiment_ids = [self.experiment_ids[name] for name in case["experiments"]]
        view = getattr(self.view_type, case["view"])
        page_size = case["page_size"] or ALL_RUNS_LIMIT
        names: list[str] = []
        pages: list[int] = []
        token: str | None = None
        try:
            while True:
                page = self.client.search_runs(
                    experiment_ids,
                    filter_string,
                    view,
                    page_size,
                    case["order_by"] or None,
                    token,
                )
                names.extend(self.run_names[run.info.run_id] for run in page)
                pages.append(len(page))
                token = page.token
                if not token or len(pages) > ALL_RUNS_LIMIT:
                    break
        except Exception as e:
            return {"error": getattr(e, "error_code", None) or type(e).__name__}
        return {"names": names, "pages": pages}


def main(argv: list[str]) -> int:
    lib_name, cases_path, out_path = argv
    cases: list[dict[str, Any]] = json.loads(Path(cases_path).read_text())
    recorder = Recorder(lib_name)
    snapshot: dict[str, Any] = {"experiments": recorder.experiments()}
    snapshot["experiment_order"] = list(recorder.experiment_ids)
    snapshot["runs"] = recorder.runs()
    snapshot["searches"] = {case["id"]: recorder.search(case) for case in cases}
    Path(out_path).write_text(json.dumps(snapshot, indent=1, sort_keys=True, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
