"""One benchmark workload, run in a fresh process: ``workloads.py WORKLOAD LIBRARY SCALE``.

``LIBRARY`` is ``traza`` or ``mlflow``; both are driven through the same MLflow-shaped calls.
Only the workload is timed (set-up and imports are not, except for ``import``). Prints one JSON
object: the seconds taken, how many operations that covers, and a check value that both
libraries must agree on.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

Result = dict[str, Any]


def load(library: str) -> Any:
    module = importlib.import_module(library)
    if library == "mlflow":
        # MLflow 3's default local store, named explicitly.
        module.set_tracking_uri("sqlite:///mlflow.db")
    return module


def entities(library: str) -> Any:
    return importlib.import_module(f"{library}.entities")


def bench_import(library: str, scale: float) -> Result:
    start = time.perf_counter()
    importlib.import_module(library)
    return {"seconds": time.perf_counter() - start, "count": 1, "check": None}


def bench_log_metric(library: str, scale: float) -> Result:
    lib = load(library)
    n = int(10_000 * scale)
    with lib.start_run() as run:
        lib.log_metric("warmup", 0.0)
        start = time.perf_counter()
        for i in range(n):
            lib.log_metric("loss", 1.0 / (i + 1), step=i)
        seconds = time.perf_counter() - start
    points = len(lib.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    return {"seconds": seconds, "count": n, "check": points}


def _new_run_and_points(library: str, n: int) -> tuple[Any, str, list[Any]]:
    """A client, a fresh run in it, and ``n`` points of one metric (not yet logged)."""
    client = load(library).MlflowClient()
    metric = entities(library).Metric
    points = [metric("loss", float(i), 1_700_000_000_000 + i, i) for i in range(n)]
    return client, client.create_run("0").info.run_id, points


def bench_log_batch(library: str, scale: float) -> Result:
    n = int(100_000 * scale)
    client, run_id, points = _new_run_and_points(library, n)
    start = time.perf_counter()
    client.log_batch(run_id, metrics=points)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "count": n, "check": len(client.get_metric_history(run_id, "loss"))}


def _log_many_runs(lib: Any, n: int) -> None:
    for i in range(n):
        with lib.start_run():
            lib.log_params({"i": i} | {f"p{j}": f"v{(i + j) % 3}" for j in range(9)})
            lib.log_metrics({f"m{j}": ((i * 7 + j * 13) % 100) / 100 for j in range(5)})
            lib.set_tags({f"t{j}": f"x{i % 5}" for j in range(3)})


def bench_many_runs(library: str, scale: float) -> Result:
    lib = load(library)
    n = int(500 * scale)
    lib.set_experiment("many-runs")
    start = time.perf_counter()
    _log_many_runs(lib, n)
    seconds = time.perf_counter() - start
    found = lib.search_runs(output_format="list", max_results=100_000)
    return {"seconds": seconds, "count": n, "check": len(found)}


SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"
SEARCH_ORDER = ["metrics.m1 DESC"]


def bench_search(library: str, scale: float) -> Result:
    lib = load(library)
    experiment_id = lib.set_experiment("search").experiment_id
    _log_many_runs(lib, int(500 * scale))
    client = lib.MlflowClient()
    searches = 20
    start = time.perf_counter()
    for _ in range(searches):
        found = client.search_runs([experiment_id], SEARCH_FILTER, order_by=SEARCH_ORDER)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "count": searches, "check": [r.data.params["i"] for r in found]}


def bench_metric_history(library: str, scale: float) -> Result:
    client, run_id, points = _new_run_and_points(library, int(100_000 * scale))
    client.log_batch(run_id, metrics=points)
    start = time.perf_counter()
    history = client.get_metric_history(run_id, "loss")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "count": 1, "check": len(history)}


WORKLOADS: dict[str, Callable[[str, float], Result]] = {
    "import": bench_import,
    "log_metric": bench_log_metric,
    "log_batch": bench_log_batch,
    "many_runs": bench_many_runs,
    "search": bench_search,
    "metric_history": bench_metric_history,
}


def main() -> None:
    workload, library, scale = sys.argv[1], sys.argv[2], float(sys.argv[3])
    result = WORKLOADS[workload](library, scale)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
