"""Project environments and runs side by side: Traza's environments (``traza.environments``,
built with uv) against MLflow's ``virtualenv`` (pyenv + ``python -m venv`` + pip) and ``uv``
modes, and, once ``traza run`` exists, ``traza run`` against ``mlflow run``.

The project is trivial: a script that logs one parameter and one metric through ``import
mlflow`` and exits; its ``python_env.yaml`` asks for the running Python's version (one that
pyenv and uv find here, so nothing is downloaded) and ``mlflow==3.17.2`` (``--quick``: ``six``).

Environment builds (the build call alone, in a fresh process, imports not timed):
- *cold, fresh package cache*: no environment cached and an empty package cache (a new
  ``UV_CACHE_DIR`` for uv, ``PIP_CACHE_DIR`` for MLflow's pip): every package downloaded.
- *cold*: no environment cached, the package cache warm (what a second project with the same
  packages sees; uv's cache is Traza's normal state, as pip's is MLflow's).
- *warm*: the environment cached (median of several).
Runs (wall clock of the whole command, median of several when warm): ``--env-manager local``,
``virtualenv`` and ``uv`` warm and cold (package cache warm), and the script run directly with
the same interpreter; runner overhead = run - direct.

    python benchmarks/projects.py            # mlflow==3.17.2 in the environments (~6 minutes)
    python benchmarks/projects.py --quick    # six, warm package caches, local runs (~1 minute)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
RUNNING = platform.python_version()

TRAIN = """\
import sys
import mlflow

alpha = float(sys.argv[sys.argv.index("--alpha") + 1]) if "--alpha" in sys.argv else 0.5
with mlflow.start_run():
    mlflow.log_param("alpha", alpha)
    mlflow.log_metric("rmse", 1.0 - alpha / 2)
"""

MLPROJECT = """\
name: bench
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
    command: "python train.py --alpha {alpha}"
"""

TRAZA_BUILD = """\
import json, sys, time
from pathlib import Path
import yaml  # imports are not timed (traza run has loaded these already for the MLproject)
import traza.environments.cache, traza.environments.interpreters, traza.environments.spec
from traza.environments import prepare_environment
project = Path(sys.argv[1])
started = time.perf_counter()
env = prepare_environment(project, sys.argv[2], project / "python_env.yaml", None)
print(json.dumps({"seconds": time.perf_counter() - started, "python": env.python}))
"""

MLFLOW_BUILD = """\
import json, os, sys, time
from pathlib import Path
from mlflow.utils.environment import _PythonEnv
from mlflow.utils.virtualenv import _create_virtualenv, _get_virtualenv_name
project = Path(sys.argv[1])
started = time.perf_counter()
python_env = _PythonEnv.from_yaml(project / "python_env.yaml")
env_dir = Path(os.environ["MLFLOW_ENV_ROOT"]) / _get_virtualenv_name(python_env, project)
_create_virtualenv(project, python_env, env_dir, env_manager=sys.argv[2], capture_output=True)
print(json.dumps({"seconds": time.perf_counter() - started, "python": str(env_dir / "bin/python")}))
"""


def write_project(folder: Path, deps: list[str]) -> Path:
    folder.mkdir(parents=True)
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text(TRAIN)
    lines = [f'python: "{RUNNING}"', "dependencies:", *(f"  - {d}" for d in deps)]
    (folder / "python_env.yaml").write_text("\n".join(lines) + "\n")
    return folder


def environ(**extra: str) -> dict[str, str]:
    """The benchmark's variables: this venv's tools (uv for MLflow's uv mode) first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAZA_", "MLFLOW_"))}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return {**env, **extra}


def run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=1800)
    took = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-25:])
        raise RuntimeError(f"{' '.join(args[:4])} ... failed ({done.returncode}):\n{tail}")
    return took, done.stdout


def build(system: str, mode: str, project: Path, env_root: Path, pkg_cache: Path) -> float:
    """One environment build (or cache lookup) in a fresh process; the call's own seconds."""
    env = environ(
        TRAZA_ENV_ROOT=str(env_root), MLFLOW_ENV_ROOT=str(env_root),
        UV_CACHE_DIR=str(pkg_cache / "uv"), PIP_CACHE_DIR=str(pkg_cache / "pip"),
    )  # fmt: skip
    code = TRAZA_BUILD if system == "traza" else MLFLOW_BUILD
    _, out = run([sys.executable, "-c", code, str(project), mode], env)
    return float(json.loads(out.strip().splitlines()[-1])["seconds"])


def bench_builds(work: Path, project: Path, quick: bool, repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for mode, order in (("virtualenv", ("traza", "mlflow")), ("uv", ("mlflow", "traza"))):
        for system in order:  # alternated: a download proxy's warm-up favours neither
            tag = f"{system}-{mode}"
            pkg = work / f"pkg-{tag}"
            # An empty package cache: every package downloaded (--quick: not timed).
            seconds = build(system, mode, project, work / f"fresh-{tag}", pkg)
            if not quick:
                rows.append({"mode": mode, "state": "cold, fresh package cache",
                             "system": system, "seconds": seconds})  # fmt: skip
            root = work / f"cold-{tag}"
            seconds = build(system, mode, project, root, pkg)
            rows.append({"mode": mode, "state": "cold", "system": system, "seconds": seconds})
            warm = [build(system, mode, project, root, pkg) for _ in range(repeat)]
            rows.append({"mode": mode, "state": "warm", "system": system,
                         "seconds": statistics.median(warm)})  # fmt: skip
            print(f"  {tag}: done", file=sys.stderr)
    return rows


# -- runs ------------------------------------------------------------------------------------------
def has_traza_run() -> bool:
    done = subprocess.run([sys.executable, "-m", "traza", "run", "--help"], capture_output=True)
    return done.returncode == 0


def run_command(system: str, project: Path, mode: str) -> list[str]:
    tool = [sys.executable, "-m", "traza"] if system == "traza" else [str(VENV_BIN / "mlflow")]
    return [*tool, "run", str(project), "-e", "main", "-P", "alpha=0.3",
            "--env-manager", mode, "--experiment-name", "bench"]  # fmt: skip


def bench_runs(work: Path, project: Path, quick: bool, repeat: int) -> list[dict[str, Any]]:
    """``traza run`` and ``mlflow run`` wall clock, and the script run directly."""
    rows: list[dict[str, Any]] = []
    pkg = work / "pkg-runs"
    modes = ["local"] if quick else ["local", "virtualenv", "uv"]
    for system in ("traza", "mlflow"):
        store = work / f"store-{system}"
        store.mkdir()
        for mode in modes:
            root = work / f"runs-{system}-{mode}"
            env = environ(
                TRAZA_ENV_ROOT=str(root), MLFLOW_ENV_ROOT=str(root),
                UV_CACHE_DIR=str(pkg / "uv"), PIP_CACHE_DIR=str(pkg / "pip"),
                TRAZA_TRACKING_URI=str(store / "mlruns"),
                MLFLOW_TRACKING_URI=f"sqlite:///{store / 'mlflow.db'}",
            )  # fmt: skip
            if mode != "local":  # the package cache warm, then a cold environment
                warmup = {**env, "TRAZA_ENV_ROOT": str(root) + "-w",
                          "MLFLOW_ENV_ROOT": str(root) + "-w"}  # fmt: skip
                run(run_command(system, project, mode), warmup, cwd=store)
                took, _ = run(run_command(system, project, mode), env, cwd=store)
                rows.append({"mode": mode, "state": "cold", "system": system, "seconds": took})
            else:
                run(run_command(system, project, mode), env, cwd=store)  # store creation
            warm = [run(run_command(system, project, mode), env, cwd=store)[0]
                    for _ in range(repeat)]  # fmt: skip
            rows.append({"mode": mode, "state": "warm", "system": system,
                         "seconds": statistics.median(warm)})  # fmt: skip
            python, child = direct_child(system, mode, project, root, env, store)
            with child as direct_env:
                direct = [run([python, "train.py", "--alpha", "0.3"], direct_env, cwd=project)[0]
                          for _ in range(repeat)]  # fmt: skip
            rows.append({"mode": mode, "state": "direct", "system": system,
                         "seconds": statistics.median(direct)})  # fmt: skip
            print(f"  {system} run {mode}: done", file=sys.stderr)
    return rows


def direct_child(
    system: str, mode: str, project: Path, root: Path, env: dict[str, str], store: Path
) -> tuple[str, contextlib.AbstractContextManager[dict[str, str]]]:
    """The interpreter and variables the runner gives its child, to run the script directly:
    for MLflow the environment's python and the same SQLite store; for Traza the environment's
    variables (``PreparedEnv.env_vars``) and a ``traza server`` on its store, as the runner's
    loopback server."""
    env = {**env, "MLFLOW_EXPERIMENT_NAME": "bench"}
    if system == "mlflow":
        found = sorted(root.glob("*/bin/python"))
        python = sys.executable if mode == "local" else str(found[0])
        return python, contextlib.nullcontext(env)
    python, extra = sys.executable, {}
    if mode != "local":
        from traza.environments import prepare_environment

        prepared = prepare_environment(project, mode, project / "python_env.yaml", None,
                                       env_root=root)  # fmt: skip
        python, extra = prepared.python, prepared.env_vars
    return python, traza_server({**env, **extra}, store)


@contextlib.contextmanager
def traza_server(env: dict[str, str], store: Path) -> Iterator[dict[str, str]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "traza", "server", "--backend-store-uri", str(store / "mlruns"),
         "--artifacts-destination", str(store / "mlartifacts"), "--port", str(port)],
        env=environ(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("traza server did not start") from None
                time.sleep(0.1)
        yield {**env, "MLFLOW_TRACKING_URI": url}
    finally:
        server.terminate()
        server.wait(10)


# -- report ----------------------------------------------------------------------------------------
def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table(title: str, rows: list[dict[str, Any]]) -> list[str]:
    by = {(r["mode"], r["state"], r["system"]): r["seconds"] for r in rows}
    keys = list(dict.fromkeys((r["mode"], r["state"]) for r in rows))
    out = [f"\n{title}", "| env manager | state | traza | mlflow | ratio |",
           "|---|---|---:|---:|---:|"]  # fmt: skip
    for mode, state in keys:
        t, m = by.get((mode, state, "traza")), by.get((mode, state, "mlflow"))
        ratio = f"{m / t:.1f}x" if t and m else "-"
        cells = [_fmt(t) if t is not None else "-", _fmt(m) if m is not None else "-"]
        out.append(f"| {mode} | {state} | {cells[0]} | {cells[1]} | {ratio} |")
    return out


def overheads(rows: list[dict[str, Any]]) -> list[str]:
    by = {(r["mode"], r["state"], r["system"]): r["seconds"] for r in rows}
    out = ["\nRunner overhead (warm run - direct run of the script, same interpreter)",
           "| env manager | traza | mlflow | ratio |", "|---|---:|---:|---:|"]  # fmt: skip
    for mode in dict.fromkeys(r["mode"] for r in rows):
        cells = []
        for system in ("traza", "mlflow"):
            warm, direct = by.get((mode, "warm", system)), by.get((mode, "direct", system))
            cells.append(warm - direct if warm is not None and direct is not None else None)
        t, m = cells
        ratio = f"{m / t:.1f}x" if t and m and t > 0 else "-"
        out.append(f"| {mode} | {_fmt(t) if t is not None else '-'} | "
                   f"{_fmt(m) if m is not None else '-'} | {ratio} |")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="six, warm caches, local runs")
    parser.add_argument("--repeat", type=int, default=None, help="warm samples (default 5; 1)")
    parser.add_argument("--no-runs", action="store_true", help="environment builds only")
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 5)
    deps = ["six"] if args.quick else ["mlflow==3.17.2"]
    work = Path(tempfile.mkdtemp(prefix="traza-bench-projects-"))
    results: dict[str, Any] = {"python": RUNNING, "deps": deps}
    try:
        project = write_project(work / "project", deps)
        print(f"Environment builds ({', '.join(deps)}; Python {RUNNING}) ...", file=sys.stderr)
        results["builds"] = bench_builds(work, project, args.quick, repeat)
        lines = table(f"Environment builds ({', '.join(deps)})", results["builds"])
        if not args.no_runs and has_traza_run():
            run_project = project
            if args.quick:  # the script needs mlflow: local runs use this venv's
                run_project = write_project(work / "run-project", ["mlflow==3.17.2"])
            print("Runs ...", file=sys.stderr)
            results["runs"] = bench_runs(work, run_project, args.quick, repeat)
            lines += table("Runs (wall clock, whole command)", results["runs"])
            lines += overheads(results["runs"])
        elif not args.no_runs:
            lines.append("\n(traza run is not available yet: runs not measured)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{platform.python_version()}, {os.cpu_count()} cores; uv {_uv_version()}")
    print("\n".join(lines))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=1))


def _uv_version() -> str:
    done = subprocess.run([str(VENV_BIN / "uv"), "--version"], capture_output=True, text=True)
    return done.stdout.split()[1] if done.returncode == 0 else "?"


if __name__ == "__main__":
    main()
