"""Crash safety and concurrency on a real SQLite file, with real processes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import traza as mlflow

LOGGER = textwrap.dedent(
    """
    import sys, traza
    traza.set_tracking_uri(sys.argv[1])
    run = traza.start_run()
    print(run.info.run_id, flush=True)
    step = 0
    while True:
        traza.log_metric("loss", 1.0 / (step + 1), step=step)
        print(step, flush=True)  # acknowledged: log_metric returned
        step += 1
    """
)


def test_sigkill_loses_no_acknowledged_point(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with subprocess.Popen(
        [sys.executable, "-c", LOGGER, str(store_dir)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        acknowledged = -1
        while acknowledged < 300:
            acknowledged = int(proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for line in proc.stdout:  # anything printed before the kill was acknowledged too
            if line.strip():
                acknowledged = int(line)
    conn = sqlite3.connect(store_dir / "traza.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    mlflow.set_tracking_uri(str(store_dir))
    steps = {m.step for m in mlflow.MlflowClient().get_metric_history(run_id, "loss")}
    assert set(range(acknowledged + 1)) <= steps
    assert mlflow.get_run(run_id).info.status == "RUNNING"  # killed: nobody ended it


WORKER = textwrap.dedent(
    """
    import sys, traza
    from traza.entities import Metric
    traza.set_tracking_uri(sys.argv[1])
    worker, shared = sys.argv[2], sys.argv[3]
    client = traza.MlflowClient()
    traza.set_experiment("shared")
    for i in range(20):
        with traza.start_run(run_name=f"w{worker}-{i}"):
            traza.log_params({"worker": worker, "i": i})
            for step in range(10):
                traza.log_metric("m", step, step=step)
        client.log_batch(shared, metrics=[Metric(f"w{worker}", float(s), i, s) for s in range(50)])
        client.log_metric(shared, "all", 1.0, step=int(worker) * 100 + i)
    """
)


def test_processes_log_into_one_database_at_once(tmp_path: Path) -> None:
    store_dir = str(tmp_path / "store")
    mlflow.set_tracking_uri(store_dir)
    shared = mlflow.MlflowClient().create_run("0", run_name="shared").info.run_id
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, store_dir, str(w), shared])
        for w in range(4)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
    runs = mlflow.search_runs(experiment_names=["shared"], output_format="list")
    assert len(runs) == 80
    assert {r.data.params["worker"] for r in runs} == {"0", "1", "2", "3"}
    client = mlflow.MlflowClient()
    assert all(len(client.get_metric_history(r.info.run_id, "m")) == 10 for r in runs)
    for w in range(4):
        assert len(client.get_metric_history(shared, f"w{w}")) == 20 * 50
    assert len(client.get_metric_history(shared, "all")) == 80
    assert mlflow.get_run(shared).data.metrics["all"] == 1.0
