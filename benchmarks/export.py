"""``traza export`` into MLflow's SQLite database, and ``traza gc`` on the same store.

The data: one Traza store (SQLite folder layout) with one experiment of N runs, each with 10
params, 10 metric keys x 100 steps (1,000 points) and one small artifact; 1,000 runs hold
1,000,000 points (``--quick``: 10 runs, 10,000 points, no baseline). Measured, one run each,
wall clock in this process (``mlflow`` already imported, MLflow's database already created, so
the figures are the export's own work):

- ``export``: every run into an empty MLflow 3.17.2 SQLite database through the real ``mlflow``
  client (``traza export sqlite:///mlflow.db``);
- ``re-export``: the same again, where nothing changed (every run found by its
  ``traza.source_run_id`` tag and skipped on its digest);
- ``gc --yes``: after deleting every run, purging them (rows and artifact folders);
- ``mlflow alone``: the baseline, MLflow's own client logging the same runs (create, params,
  the same metric batches, one artifact, terminate) into another empty database: what writing
  this data into MLflow costs at all, whoever does it.

    python benchmarks/export.py                 # 1,000 runs, 1,000,000 points (15-20 min)
    python benchmarks/export.py --runs 200      # 200 runs, with the MLflow baseline
    python benchmarks/export.py --quick         # 10 runs, no baseline (< 30 s)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def seed(uri: str, runs: int, scratch: Path) -> tuple[int, str]:
    """The source store; returns (metric points written, experiment id). ``scratch``: a folder
    for the artifact file (removed with the benchmark's temporary folder)."""
    from traza.artifacts import get_repository
    from traza.entities import Metric, Param, RunTag
    from traza.store.uri import open_store

    store = open_store(uri)
    exp = store.create_experiment("bench")
    t0 = 1_700_000_000_000
    points = 0
    src = scratch / "notes.txt"
    src.write_text("artifact")
    for i in range(runs):
        run = store.create_run(exp, "bench", t0 + i, [RunTag("kind", "bench")], f"run-{i}")
        rid = run.info.run_id
        store.log_batch(rid, params=[Param(f"p{k}", str(i * k)) for k in range(10)])
        for k in range(10):
            batch = [Metric(f"m{k}", (i + s) / 100.0, t0 + i * 1000 + s, s) for s in range(100)]
            store.log_batch(rid, metrics=batch)
            points += len(batch)
        get_repository(run.info.artifact_uri).log_artifact(src)
        store.update_run_info(rid, "FINISHED", t0 + i + 500, None)
    store.close()
    return points, exp


def mlflow_alone(target: str, runs: int, scratch: Path) -> float:
    """Seconds MLflow's client takes to log the same data itself."""
    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient(target)
    exp = client.create_experiment("bench")
    t0 = 1_700_000_000_000
    src = scratch / "notes.txt"
    src.write_text("artifact")
    started = time.perf_counter()
    for i in range(runs):
        rid = client.create_run(exp, start_time=t0 + i, run_name=f"run-{i}").info.run_id
        client.log_batch(rid, params=[Param(f"p{k}", str(i * k)) for k in range(10)])
        for k in range(10):
            batch = [Metric(f"m{k}", (i + s) / 100.0, t0 + i * 1000 + s, s) for s in range(100)]
            client.log_batch(rid, metrics=batch)
        client.log_artifact(rid, str(src))
        client.set_terminated(rid, "FINISHED", t0 + i + 500)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 runs, no MLflow baseline")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    runs = args.runs or (10 if args.quick else 1000)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    from traza.store.uri import open_store
    from traza.transfer.export import export_to_mlflow

    with tempfile.TemporaryDirectory(prefix="traza-bench-export-") as tmp:
        os.chdir(tmp)  # MLflow puts a SQLite database's artifacts in ./mlruns
        source = str(Path(tmp) / "traza")
        started = time.perf_counter()
        points, exp = seed(source, runs, Path(tmp))
        seeded = time.perf_counter() - started
        target = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        mlflow.MlflowClient(target).search_experiments()  # MLflow creates its schema here
        store = open_store(source)
        rows = []
        for label in ("export", "re-export"):
            started = time.perf_counter()
            summary = export_to_mlflow(store, target)
            rows.append((label, time.perf_counter() - started, summary.counts))
        exported = mlflow.MlflowClient(target).search_runs(
            [mlflow.MlflowClient(target).get_experiment_by_name("bench").experiment_id],
            max_results=5000,
        )
        assert len(exported) == runs, len(exported)
        for run in store.search_runs([exp], max_results=5000):
            store.delete_run(run.info.run_id)
        started = time.perf_counter()
        report = store.purge_deleted(dry_run=False)
        rows.append(("gc --yes", time.perf_counter() - started, {"runs purged": len(report.runs)}))
        store.close()
        if not args.quick:
            baseline = f"sqlite:///{Path(tmp) / 'baseline.db'}"
            mlflow.MlflowClient(baseline).search_experiments()
            rows.append(("mlflow alone", mlflow_alone(baseline, runs, Path(tmp)), {}))
    print(f"{runs} runs, {points:,} metric points (seeded in {seeded:.1f} s)")
    for label, seconds, counts in rows:
        detail = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()) if v)
        rate = f", {points / seconds:,.0f} points/s" if label in ("export", "mlflow alone") else ""
        print(f"  {label:<12} {seconds:8.2f} s{rate}   {f'({detail})' if detail else ''}")


if __name__ == "__main__":
    sys.exit(main())
