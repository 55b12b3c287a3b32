"""Moving data: ``traza import`` against MLflow's ``mlflow migrate-filestore``, and ``traza sync``.

The data: an MLflow file store (MLflow 3.17.2's layout, written directly: MLflow's ``FileStore``
takes ~75 ms a run on this machine; ``migrate-filestore`` reading it checks it): one
experiment, N runs, each with 5 params, 3 tags and 100 metric points (4 keys x 25 steps), so
10,000 runs hold 1,000,000 points (``--quick``: 200 runs, 20,000 points). Then, one run each, wall
clock of the whole command in a fresh process (imports included, as a user sees it), and its
CPU time (user + system, the fairer figure on a shared machine):

- ``mlflow migrate-filestore --source mlruns --target sqlite:///mlflow.db``: MLflow's way of
  moving that file store into a database (its SQLite database is then the next step's input);
- ``traza import mlruns --to traza-a``: the same job, file store into a Traza store;
- ``traza import mlflow.db --to traza-b``: MLflow's SQLite database into a Traza store;
- ``traza sync``: 1,000 new runs (100 points each) from a local Traza store into another store
  and into a ``traza server`` (SQLite behind it) that already have 1,000; then the same sync
  again with nothing new.

mlflow-export-import (PyPI) is not run: not installed here, and its last release (1.2.0, 2023)
predates MLflow 3; ``migrate-filestore`` is the bulk path MLflow 3.17.2 itself ships.

    python benchmarks/transfer.py            # 10,000 runs, 1,000,000 points (~30 min, MLflow)
    python benchmarks/transfer.py --quick    # 200 runs, 20,000 points, 100-run sync (< 60 s)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def write_file_store(root: Path, runs: int) -> None:
    """MLflow's file store layout, written directly (MLflow's own FileStore takes ~75 ms a run
    here, 12 minutes for 10,000): the files MLflow 3.17.2 writes, which it then reads."""
    t0 = 1_700_000_000_000
    for eid, name in (("0", "Default"), ("1", "bench")):
        folder = root / eid
        folder.mkdir(parents=True)
        (folder / "meta.yaml").write_text(
            f"artifact_location: {folder}\ncreation_time: {t0}\nexperiment_id: '{eid}'\n"
            f"last_update_time: {t0}\nlifecycle_stage: active\nname: {name}\n"
        )
    for i in range(runs):
        rid = f"{i + 1:032x}"  # MLflow skips an all-zero run id
        run = root / "1" / rid
        for sub in ("metrics", "params", "tags", "artifacts"):
            (run / sub).mkdir(parents=True)
        (run / "meta.yaml").write_text(
            f"artifact_uri: {run}/artifacts\nend_time: {t0 + i + 1000}\nentry_point_name: ''\n"
            f"experiment_id: '1'\nlifecycle_stage: active\nrun_id: {rid}\nrun_name: run-{i}\n"
            "source_name: ''\nsource_type: 4\nsource_version: ''\n"
            f"start_time: {t0 + i}\nstatus: 3\ntags: []\nuser_id: bench\n"
        )
        for key in ("loss", "acc", "val_loss", "val_acc"):
            (run / "metrics" / key).write_text(
                "".join(f"{t0 + i * 100 + s} {(i + s) / 25.0} {s}\n" for s in range(25))
            )
        for j in range(5):
            (run / "params" / f"p{j}").write_text(str(i * j))
        for j in range(3):
            (run / "tags" / f"t{j}").write_text(f"v{j}")
        (run / "tags" / "mlflow.runName").write_text(f"run-{i}")


LOG_TRAZA_RUNS = """
import sys
import traza
from traza.entities import Metric, Param, RunTag

uri, runs, offset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = traza.MlflowClient(uri)
exp = client.get_experiment_by_name("bench")
eid = exp.experiment_id if exp else client.create_experiment("bench")
t0 = 1_700_000_000_000
for i in range(offset, offset + runs):
    run = client.create_run(eid, run_name=f"run-{i}", start_time=t0 + i)
    rid = run.info.run_id
    metrics = [Metric(k, (i + s) / 25.0, t0 + i * 100 + s, s)
               for k in ("loss", "acc", "val_loss", "val_acc") for s in range(25)]
    client.log_batch(rid, metrics=metrics, params=[Param(f"p{j}", str(i * j)) for j in range(5)],
                     tags=[RunTag(f"t{j}", f"v{j}") for j in range(3)])
    client.set_terminated(rid)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def timed(cmd: list[str], cwd: Path) -> float:
    """Wall-clock seconds of the command; its CPU seconds (user + system) go to ``CPU``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


CPU: list[float] = []


def last_cpu() -> float:
    return CPU[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 runs, 100-run sync")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--sync-runs", type=int, default=None)
    parser.add_argument("--only", choices=["import", "sync"], default=None)
    args = parser.parse_args()
    runs = args.runs or (200 if args.quick else 10_000)
    sync_runs = args.sync_runs or (100 if args.quick else 1_000)
    traza = str(VENV_BIN / "traza")
    with tempfile.TemporaryDirectory(prefix="traza-bench-transfer-") as tmp:
        work = Path(tmp)
        if args.only == "sync":
            bench_sync(work, sync_runs)
            return
        print(f"MLflow file store: {runs:,} runs, {runs * 100:,} metric points")
        write_file_store(work / "mlruns", runs)
        cpu: dict[str, float] = {}
        migrate = timed(
            [
                str(VENV_BIN / "mlflow"),
                "migrate-filestore",
                "--source",
                str(work / "mlruns"),
                "--target",
                f"sqlite:///{work / 'mlflow.db'}",
                "--no-progress",
            ],
            work,
        )
        cpu["migrate"] = last_cpu()
        import sqlite3

        with sqlite3.connect(work / "mlflow.db") as db:  # MLflow read every run we wrote
            migrated = db.execute("SELECT COUNT(*), (SELECT COUNT(*) FROM metrics) FROM runs")
            assert tuple(migrated.fetchone()) == (runs, runs * 100), "migrate-filestore lost data"
        from_files = timed([traza, "import", str(work / "mlruns"), "--to", "traza-a"], work)
        cpu["files"] = last_cpu()
        from_db = timed([traza, "import", str(work / "mlflow.db"), "--to", "traza-b"], work)
        cpu["db"] = last_cpu()
        again = timed([traza, "import", str(work / "mlflow.db"), "--to", "traza-b"], work)
        cpu["again"] = last_cpu()
        rows = [
            ("mlflow migrate-filestore (file store -> SQLite)", migrate, cpu["migrate"]),
            ("traza import mlruns/ (file store -> Traza)", from_files, cpu["files"]),
            ("traza import mlflow.db (SQLite -> Traza)", from_db, cpu["db"]),
            ("traza import mlflow.db again (nothing new)", again, cpu["again"]),
        ]
        print(f"\n{'import':<50} {'wall s':>8} {'ratio':>7} {'CPU s':>8} {'ratio':>7}")
        for i, (label, seconds, cpu_s) in enumerate(rows):
            ratios = (
                ("", "")
                if i == 0
                else (f"{migrate / seconds:.1f}x", f"{cpu['migrate'] / cpu_s:.1f}x")
            )
            print(f"{label:<50} {seconds:>8.2f} {ratios[0]:>7} {cpu_s:>8.2f} {ratios[1]:>7}")

        if args.only != "import":
            bench_sync(work, sync_runs)


def serve(store: Path, port: int) -> subprocess.Popen[bytes]:
    import urllib.request

    server = subprocess.Popen(
        [str(VENV_BIN / "traza"), "server", "--backend-store-uri", str(store), "--host",
         "127.0.0.1", "--port", str(port)],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("traza server did not start")


def bench_sync(work: Path, sync_runs: int) -> None:
    import socket

    python, traza = str(VENV_BIN / "python"), str(VENV_BIN / "traza")
    source = str(work / "src")
    timed([python, "-c", LOG_TRAZA_RUNS, source, str(sync_runs), "0"], work)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = serve(work / "served", port)
    try:
        targets = {"Traza store": str(work / "dst"), "traza server": f"http://127.0.0.1:{port}"}
        for target in targets.values():
            timed([traza, "sync", source, target], work)
        timed([python, "-c", LOG_TRAZA_RUNS, source, str(sync_runs), str(sync_runs)], work)
        print(f"\n{'sync (local Traza store -> target)':<50} {'wall s':>8} {'':>7} {'CPU s':>8}")
        for name, target in targets.items():
            new = timed([traza, "sync", source, target], work)
            cpu_new = last_cpu()
            none = timed([traza, "sync", source, target], work)
            cpu_none = last_cpu()
            label = f"{sync_runs:,} new runs into a {name} (it has {sync_runs:,})"
            print(f"{label:<50} {new:>8.2f} {'':>7} {cpu_new:>8.2f}")
            print(f"{'  again, nothing new':<50} {none:>8.2f} {'':>7} {cpu_none:>8.2f}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
