"""Cluster backends: how long ``traza run --backend slurm|ray`` takes to hand a job to the
engine, and how long the engine then takes to start it, on a real one-node Slurm and a real
``ray start --head`` (both started here, as tests/cluster starts them; Slurm needs root).

- *submission overhead*: ``traza.projects.run(..., synchronous=False)`` until it returns, the
  job queued (the project read and checked, the run created SCHEDULED with its tags, and
  ``sbatch`` / the Jobs API call made; a warm package cache on Ray). Goal: < 0.5 s.
- *CLI to queued*: ``traza run --backend ...`` in a fresh process until it prints that the job
  was submitted (Python's start and Traza's import included), beside ``traza --version`` alone.
- *submit to running*: from the return of the submission until the engine itself reports the
  job RUNNING (``squeue``, ``GET /api/jobs/<id>``, polled every 20 ms).

MLflow has no Slurm or Ray backend to compare with (Slurm users install a community plugin;
there is no Ray one), so these are absolute figures.

    python benchmarks/backends.py            # 10 submissions per engine
    python benchmarks/backends.py --quick    # 3 per engine
    python benchmarks/backends.py --only ray # one engine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MLPROJECT = """\
name: bench
entry_points:
  main:
    command: "python -c 'print(\\"hello from the job\\", flush=True)'"
"""


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"median {statistics.median(values) * 1000:7.0f} ms   p90 {p90 * 1000:7.0f} ms"


def _until(check: Callable[[], bool], timeout: float = 300) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.02)
    return time.monotonic()


def _slurm_running(job: str) -> bool:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", job, "-o", "%T"],
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    return out in ("RUNNING", "COMPLETING", "COMPLETED")


def _ray_running(address: str, job: str) -> bool:
    with urllib.request.urlopen(f"{address}/api/jobs/{job}", timeout=30) as r:
        return json.loads(r.read())["status"] in ("RUNNING", "SUCCEEDED")


def _measure(
    backend: str, config: dict[str, Any], running: Callable[[str], bool], n: int, project: Path,
    url: str,
) -> dict[str, list[float]]:  # fmt: skip
    import traza.projects
    from traza.client import TrazaClient

    client = TrazaClient(url)
    out: dict[str, list[float]] = {"submit": [], "running": []}
    for i in range(n + 1):  # the first one warms caches (Ray's packages, imports): not counted
        start = time.monotonic()
        submitted = traza.projects.run(
            str(project), "main", backend=backend, env_manager="local",
            backend_config=config, synchronous=False,
        )  # fmt: skip
        queued = time.monotonic()
        job = client.get_run(submitted.run_id).data.tags["traza.backend.job_id"]
        at_running = _until(lambda job=job: running(job))
        submitted.wait()
        log = Path(client.download_artifacts(submitted.run_id, "project_output.log")).read_text()
        assert "hello from the job" in log, log
        if i == 0:
            continue
        out["submit"].append(queued - start)
        out["running"].append(at_running - queued)
    return out


def _cli_to_queued(
    backend: str, config: dict[str, Any], project: Path, url: str, n: int
) -> list[float]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": url}
    times = []
    for _ in range(n):
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "traza", "run", str(project), "--backend", backend,
             "--backend-config", json.dumps(config), "--env-manager", "local"],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("=== Submitted"):
                times.append(time.monotonic() - start)
                break
        proc.wait()
    return times


def _cli_start(n: int) -> list[float]:
    """``traza --version`` in a new process: the part of "CLI to queued" that any command pays."""
    times = []
    for _ in range(n):
        start = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "traza", "--version"], capture_output=True, check=True
        )
        times.append(time.monotonic() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["slurm", "ray"])
    args = parser.parse_args()
    n = 3 if args.quick else 10

    from cluster.engines import ray_cluster, slurm_cluster
    from traza.server import ServerSettings, create_app
    from traza.server.background import BackgroundServer
    from traza.store.uri import open_store

    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    tmp = Path(tempfile.mkdtemp(prefix="traza-bench-backends-"))
    project = tmp / "project"
    project.mkdir()
    (project / "MLproject").write_text(MLPROJECT)
    uri = f"sqlite:///{tmp / 'tracking.db'}"
    settings = ServerSettings(backend_store_uri=uri, default_artifact_root="mlflow-artifacts:/",
                              artifacts_destination=str(tmp / "artifacts"))  # fmt: skip
    store = open_store(uri, artifact_root="mlflow-artifacts:/")
    print(f"Cluster backends, {n} submissions each after one warm-up (2 cores, shared machine)")
    with BackgroundServer(create_app(settings, store=store)) as server:
        os.environ["MLFLOW_TRACKING_URI"] = server.url
        engines: list[tuple[str, Any]] = []
        if args.only in (None, "slurm"):
            engines.append(("slurm", slurm_cluster(tmp / "slurm")))
        if args.only in (None, "ray"):
            engines.append(("ray", ray_cluster(Path("/tmp") / f"traza-bench-ray-{os.getpid()}")))
        for name, engine in engines:
            with engine as cluster:
                if name == "slurm":
                    os.environ["SLURM_CONF"] = str(cluster.conf)
                    config: dict[str, Any] = {"staging_dir": str(tmp / "staging"),
                                              "poll_interval": 0.2}  # fmt: skip
                    running: Callable[[str], bool] = _slurm_running
                else:
                    config = {"address": cluster.address, "poll_interval": 0.2}
                    running = lambda job, a=cluster.address: _ray_running(a, job)  # noqa: E731
                got = _measure(name, config, running, n, project, server.url)
                cli = _cli_to_queued(name, config, project, server.url, n)
                print(f"{name:5}  submission overhead (call to queued)  {_ms(got['submit'])}")
                print(f"{name:5}  CLI to queued (new process)          {_ms(cli)}")
                print(f"{name:5}  of which CLI start (traza --version)  {_ms(_cli_start(n))}")
                print(f"{name:5}  submit to RUNNING (engine)            {_ms(got['running'])}")


if __name__ == "__main__":
    main()
