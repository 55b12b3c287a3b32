"""Traza against MLflow, side by side in one run: times, throughputs and ratios.

Each workload runs once per library in its own fresh process and empty folder (Traza on its
default ``./mlruns``, MLflow on its default ``sqlite:///mlflow.db``). The ratio is MLflow's time
over Traza's: how many times faster Traza is.

    python benchmarks/run.py            # the full workloads (MLflow takes a few minutes)
    python benchmarks/run.py --quick    # 1/20 of the work, a smoke run
    python benchmarks/run.py --only traza --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from harness import run_worker

HERE = Path(__file__).resolve().parent
LIBRARIES = ("traza", "mlflow")
IMPORT_REPEATS = 5


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    unit: str  # how throughput is shown: "/s" per operation, or "ms" per operation
    goal_ratio: float


WORKLOADS = (
    Workload("import", "import", "ms", 10),
    Workload("log_metric", "10,000 log_metric calls", "/s", 50),
    Workload("log_batch", "100,000 points via log_batch", "/s", 20),
    Workload("many_runs", "500 runs x (10 params, 5 metrics, 3 tags)", "/s", 20),
    Workload("search", "20 search_runs over 500 runs", "ms", 10),
    Workload("metric_history", "get_metric_history, 100,000 points", "ms", 10),
)


def run_once(workload: str, library: str, scale: float) -> dict[str, Any]:
    args = [workload, library, str(scale)]
    prefix, label = f"bench-{library}-", f"{library} {workload}"
    return run_worker(HERE / "workloads.py", args, prefix, label)


def measure(workload: Workload, library: str, scale: float) -> dict[str, Any]:
    if workload.name == "import":  # short and noisy: the median of several fresh processes
        runs = [run_once("import", library, scale) for _ in range(IMPORT_REPEATS)]
        return {"seconds": statistics.median(r["seconds"] for r in runs), "count": 1, "check": None}
    return run_once(workload.name, library, scale)


def throughput(workload: Workload, result: dict[str, Any]) -> str:
    if workload.unit == "/s":
        return f"{result['count'] / result['seconds']:,.0f}/s"
    return f"{result['seconds'] / result['count'] * 1000:,.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="run 1/20 of each workload")
    parser.add_argument("--only", choices=LIBRARIES, help="run one library only")
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    parser.add_argument("--workload", action="append", help="run only these (repeatable)")
    args = parser.parse_args()
    scale = 0.05 if args.quick else 1.0
    libraries = (args.only,) if args.only else LIBRARIES
    selected = [w for w in WORKLOADS if not args.workload or w.name in args.workload]

    versions = ", ".join(f"{lib} {version(lib)}" for lib in libraries)
    print(f"Python {platform.python_version()}, {versions}, {os.cpu_count()} CPUs, scale {scale}")
    header = f"{'workload':44} {'traza':>12} {'mlflow':>12} {'ratio':>8}  goal"
    print(header)
    print("-" * len(header))
    report = []
    for workload in selected:
        results = {lib: measure(workload, lib, scale) for lib in libraries}
        row: dict[str, Any] = {"workload": workload.name, "results": results}
        cells = [throughput(workload, results[lib]) if lib in results else "-" for lib in LIBRARIES]
        goal = ""
        if len(results) == 2:
            ratio = results["mlflow"]["seconds"] / results["traza"]["seconds"]
            row["ratio"] = ratio
            met = ratio >= workload.goal_ratio
            if workload.name == "import":
                met = met and results["traza"]["seconds"] < 0.1
                goal = f">= {workload.goal_ratio:g}x and < 100 ms: {'met' if met else 'NOT met'}"
            else:
                goal = f">= {workload.goal_ratio:g}x: {'met' if met else 'NOT met'}"
            if results["traza"]["check"] != results["mlflow"]["check"]:
                goal += "  (results differ!)"
            cells.append(f"{ratio:.1f}x")
        else:
            cells.append("-")
        print(
            f"{workload.title:44} {cells[0]:>12} {cells[1]:>12} {cells[2]:>8}  {goal}", flush=True
        )
        report.append(row)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
