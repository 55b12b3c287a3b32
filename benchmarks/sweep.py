"""A sweep's scheduling overhead: ``traza sweep`` against the MLflow way (a parent run and a
loop of ``mlflow.projects.run(synchronous=False)`` with at most K in flight), side by side.

The project's entry point sleeps (``sleep 1``: the trial itself costs nothing else), so the
ideal wall clock is ``trials * pause / parallel``; whatever is above it is the sweep's: a
child run per trial created, its params logged, the process started, its output kept as an
artifact, its end recorded, the next one started. A second entry point is a Python script that
sleeps and logs its metric with ``import traza`` (``import mlflow`` for MLflow), which adds the
interpreter's start and the import to every trial.

    python benchmarks/sweep.py            # 20 trials of 1 s, 2 at a time (~2 min)
    python benchmarks/sweep.py --quick    # 6 trials of 0.5 s, 2 at a time (~40 s)
    python benchmarks/sweep.py --slurm    # the sleep sweep on a real one-node Slurm (root):
                                          # one job array against a job per trial

``--slurm`` starts Slurm as tests/cluster does and a ``traza server``, then runs the sweep
in-process with ``backend="slurm"`` twice: as one job array (the default) and with
``job_array: false``. Besides the wall clock it reports *submit to all queued*: from the
sweep's call until Slurm has seen every trial's job (``squeue -r -t all``, polled every 20 ms).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent

MLPROJECT = """\
name: bench_sweep
entry_points:
  sleep:
    parameters:
      alpha: float
      pause: float
    command: "sleep {pause}"
  script:
    parameters:
      alpha: float
      pause: float
    command: "python train.py {alpha} {pause}"
"""

TRAIN = """\
import sys, time
import {module} as tracking
alpha, pause = map(float, sys.argv[1:3])
time.sleep(pause)
tracking.log_metric("rmse", (alpha - 0.5) ** 2)
"""

MLFLOW_LOOP = """\
import sys, threading, time
import mlflow
from mlflow.projects import run

project, entry, pause = sys.argv[1], sys.argv[2], sys.argv[5]
trials, parallel = int(sys.argv[3]), int(sys.argv[4])
mlflow.set_tracking_uri("sqlite:///mlflow.db")
mlflow.set_experiment("bench")
slots = threading.Semaphore(parallel)
threads = []
start = time.perf_counter()
with mlflow.start_run(run_name="sweep"):
    for i in range(trials):
        slots.acquire()
        submitted = run(project, entry, parameters={"alpha": str(i / trials), "pause": pause},
                        env_manager="local", synchronous=False)
        def wait(s=submitted):
            try:
                s.wait()
            finally:
                slots.release()
        t = threading.Thread(target=wait)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
print("ELAPSED", time.perf_counter() - start)
"""


def make_project(folder: Path, module: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text(TRAIN.replace("{module}", module))
    return folder


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAZA_", "MLFLOW_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    return env


def traza_sweep(work: Path, entry: str, trials: int, parallel: int, pause: float) -> float:
    """The whole ``traza sweep`` command's wall clock (Python start and import included)."""
    project = make_project(work / "project", "traza")
    started = time.perf_counter()
    done = subprocess.run(
        [str(VENV_BIN / "traza"), "sweep", str(project), "-e", entry, "-P",
         f"alpha=range(0, 1, {trials})", "-P", f"pause={pause}", "--max-parallel",
         str(parallel), "--env-manager", "local"],
        cwd=work, env=_env(work), capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"traza sweep failed:\n{done.stderr[-3000:]}")
    return elapsed


def mlflow_loop(work: Path, entry: str, trials: int, parallel: int, pause: float) -> float:
    project = make_project(work / "project", "mlflow")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MLFLOW_LOOP, str(project), entry, str(trials), str(parallel),
         str(pause)],
        cwd=work, env=_env(work), capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the MLflow loop failed:\n{done.stderr[-3000:]}")
    return elapsed


def slurm_sweeps(trials: int, parallel: int, pause: float) -> None:
    """The ``sleep`` sweep on a real Slurm: one job array, then one job per trial."""
    import threading

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from cluster.engines import slurm_cluster
    from traza.projects import sweep
    from traza.server import ServerSettings, create_app
    from traza.server.background import BackgroundServer
    from traza.store.uri import open_store

    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-slurm-"))
    try:
        project = make_project(tmp / "project", "traza")
        uri = f"sqlite:///{tmp / 'tracking.db'}"
        settings = ServerSettings(
            backend_store_uri=uri, default_artifact_root="mlflow-artifacts:/",
            artifacts_destination=str(tmp / "artifacts"),
        )  # fmt: skip
        store = open_store(uri, artifact_root="mlflow-artifacts:/")
        ideal = trials * pause / parallel
        print(f"Slurm 22.05: {trials} trials of sleep {pause:g}, {parallel} at a time: "
              f"ideal {ideal:.2f} s; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        print(f"{'submission':<18}{'wall':>9}{'over ideal':>12}{'submit to all queued':>22}")
        with (
            BackgroundServer(create_app(settings, store=store)) as server,
            slurm_cluster(tmp / "slurm") as cluster,
        ):
            os.environ["MLFLOW_TRACKING_URI"] = server.url
            os.environ["SLURM_CONF"] = str(cluster.conf)
            for label, array in (("one job array", True), ("a job per trial", False)):
                before = _slurm_ids()
                seen: set[str] = set()
                queued: list[float] = []
                stop = threading.Event()

                def watch(
                    before: set[str] = before,
                    seen: set[str] = seen,
                    queued: list[float] = queued,
                    stop: threading.Event = stop,
                ) -> None:
                    while not stop.is_set() and not queued:
                        seen.update(_slurm_ids() - before)
                        if len(seen) >= trials:
                            queued.append(time.perf_counter())
                        time.sleep(0.02)  # fmt: skip

                config = {"staging_dir": str(tmp / "staging"), "poll_interval": 0.2,
                          "job_array": array}  # fmt: skip
                watcher = threading.Thread(target=watch)
                started = time.perf_counter()
                watcher.start()
                done = sweep(str(project), "sleep", {"alpha": f"range(0, 1, {trials})",
                             "pause": str(pause)}, max_parallel=parallel, backend="slurm",
                             backend_config=config, env_manager="local",
                             experiment_name=f"bench {label}")  # fmt: skip
                wall = time.perf_counter() - started
                stop.set()
                watcher.join()
                if done.get_status() != "FINISHED":
                    raise SystemExit(f"the {label} sweep ended {done.get_status()}")
                to_queued = f"{queued[0] - started:.2f}s" if queued else "-"
                print(f"{label:<18}{wall:>8.2f}s{wall - ideal:>11.2f}s{to_queued:>22}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _slurm_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i"], capture_output=True,
                         text=True).stdout  # fmt: skip
    return set(out.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 trials of 0.5 s")
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--pause", type=float, default=None)
    parser.add_argument("--no-mlflow", action="store_true", help="Traza only")
    parser.add_argument("--slurm", action="store_true", help="on a real Slurm: array vs jobs")
    args = parser.parse_args()
    trials = args.trials or (6 if args.quick else 20)
    pause = args.pause or (0.5 if args.quick else 1.0)
    if args.slurm:
        slurm_sweeps(trials, args.parallel, pause)
        return
    ideal = trials * pause / args.parallel
    print(f"{trials} trials of {pause} s, {args.parallel} at a time: ideal {ideal:.2f} s")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    header = f"{'entry point':<22}{'system':<8}{'wall':>9}{'over ideal':>12}{'per trial':>11}"
    print(header)
    print("-" * len(header))
    results: dict[tuple[str, str], float] = {}
    for entry, shown in (("sleep", f"sleep {pause:g}"), ("script", "python script")):
        systems = [("traza", traza_sweep)] + ([] if args.no_mlflow else [("mlflow", mlflow_loop)])
        for name, measure in systems:
            with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
                wall = measure(Path(tmp), entry, trials, args.parallel, pause)
            results[(entry, name)] = wall
            over = wall - ideal
            print(f"{shown:<22}{name:<8}{wall:>8.2f}s{over:>11.2f}s{over / trials:>10.3f}s")
        if not args.no_mlflow:
            t_over = results[(entry, "traza")] - ideal
            m_over = results[(entry, "mlflow")] - ideal
            print(f"{'':<22}{'ratio':<8}{'':>9}{m_over / max(t_over, 1e-9):>11.1f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    goal = results[("sleep", "traza")] <= ideal + 0.3 * trials
    print(f"goal (sleep entry point: <= {0.3 * trials + ideal:.1f} s): "
          f"{'met' if goal else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
