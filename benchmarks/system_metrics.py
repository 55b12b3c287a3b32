"""The CPU cost of system-metrics sampling, Traza against MLflow, side by side.

Each library runs in its own fresh process and folder (Traza on ``./mlruns``, MLflow on
``sqlite:///mlflow.db``), starts a run with ``log_system_metrics=True`` at a short sampling
interval (one sample a step, so every sample is also a ``log_batch``) and sleeps. The sampler
thread's own CPU clock (``pthread_getcpuclockid``, Linux) is read just before ``end_run``; its
CPU seconds per sample, over MLflow's default interval of 10 s, is the share of one core the
sampler takes at the default. The whole process's CPU time is shown as a cross-check.

    python benchmarks/system_metrics.py            # 0.05 s interval for 10 s
    python benchmarks/system_metrics.py --quick    # for 3 s
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
DEFAULT_INTERVAL = 10.0
THREADS = {"traza": "traza-system-metrics", "mlflow": "SystemMetricsMonitor"}


def worker(library: str, interval: float, seconds: float) -> dict[str, Any]:
    if library == "traza":
        import traza as lib
    else:
        import mlflow as lib

        lib.set_tracking_uri("sqlite:///mlflow.db")
    lib.set_system_metrics_sampling_interval(interval)
    with lib.start_run() as warm:  # store creation is not counted
        lib.log_metric("warm", 1.0)
    cpu0 = time.process_time()
    with lib.start_run(log_system_metrics=True) as run:
        [thread] = [t for t in threading.enumerate() if t.name == THREADS[library]]
        assert thread.ident is not None
        clock = time.pthread_getcpuclockid(thread.ident)
        time.sleep(seconds)
        thread_cpu = time.clock_gettime(clock)
    process_cpu = time.process_time() - cpu0
    client = lib.MlflowClient()
    steps = len(client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage"))
    del warm
    per_sample = thread_cpu / max(steps, 1)
    return {
        "steps": steps,
        "thread_cpu_s": thread_cpu,
        "process_cpu_s": process_cpu,
        "per_sample_ms": per_sample * 1000,
        "core_percent_at_10s": per_sample / DEFAULT_INTERVAL * 100,
    }


def measure(library: str, interval: float, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
        args = [sys.executable, str(HERE), "--worker", library, str(interval), str(seconds)]
        out = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"{library} failed:\n{out.stderr}")
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library, interval, seconds = args.worker
        print(json.dumps(worker(library, float(interval), float(seconds))))
        return
    seconds = 3.0 if args.quick else 10.0
    print(f"sampling every {args.interval} s for {seconds} s, one sample a step")
    print(f"{'library':8} {'steps':>6} {'ms/sample':>10} {'% core @10s':>12} {'process cpu s':>14}")
    for library in ("traza", "mlflow"):
        r = measure(library, args.interval, seconds)
        print(
            f"{library:8} {r['steps']:>6} {r['per_sample_ms']:>10.2f} "
            f"{r['core_percent_at_10s']:>12.4f} {r['process_cpu_s']:>14.2f}"
        )


if __name__ == "__main__":
    main()
