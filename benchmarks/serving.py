"""Model scoring servers side by side: ``traza models serve`` and ``mlflow models serve``.

Both serve the same files: a 200-tree RandomForestRegressor on 10 features, saved once by
MLflow. Each server runs as its own subprocess on a free 127.0.0.1 port, with one worker (both
defaults). For 1-row and 1,000-row ``dataframe_split`` requests the client measures latency
(one client, sequential requests: p50 and p99) and throughput (several client threads on
keep-alive connections for a fixed time). In-process ``predict`` times give the floor, so the
server's own overhead is Traza's p50 latency minus the in-process pyfunc ``predict``.

    python benchmarks/serving.py                # 10 s per throughput run (~2 minutes)
    python benchmarks/serving.py --quick        # 2 s per run, fewer latency samples (~40 s)
    python benchmarks/serving.py --only traza --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
SIZES = (1, 1000)
READY_TIMEOUT = 120.0


def build_model(folder: Path) -> tuple[Path, Any]:
    """The model both servers serve, saved by MLflow; and the frame requests are cut from."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2000, 10)), columns=[f"f{i}" for i in range(10)])
    target = frame.sum(axis=1) + rng.normal(size=len(frame))
    model = RandomForestRegressor(n_estimators=200, random_state=0).fit(frame, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow.sklearn
        from mlflow.models import infer_signature

        path = folder / "rf-model"
        mlflow.sklearn.save_model(
            model,
            str(path),
            signature=infer_signature(frame, model.predict(frame)),
            serialization_format="cloudpickle",
        )
    return path, frame


def body_of(frame: Any) -> bytes:
    return json.dumps({"dataframe_split": frame.to_dict(orient="split")}).encode()


def in_process(model_dir: Path, frame: Any, samples: int) -> dict[str, float]:
    """Median 1-row ``predict`` times with no server: what Traza's server calls (pyfunc with
    the forest fast path), plain pyfunc (schema enforcement, then sklearn), bare sklearn."""
    import numpy as np

    import traza.pyfunc
    from traza.scoring.fastpath import accelerate

    model = traza.pyfunc.load_model(model_dir)
    fast = accelerate(model)
    raw = model.get_raw_model()
    one = frame.head(1)
    assert np.array_equal(fast.predict(frame), raw.predict(frame))
    calls = {"served_1": fast.predict, "pyfunc_1": model.predict, "sklearn_1": raw.predict}
    out = {}
    for name, call in calls.items():
        call(one)
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            call(one)
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    return out


# -- servers -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(system: str, model_dir: Path, port: int, workers: int, extra: list[str]) -> list[str]:
    if system == "traza":
        return [sys.executable, "-m", "traza", "models", "serve", "-m", str(model_dir),
                "-p", str(port), "-w", str(workers), *extra]  # fmt: skip
    return [str(VENV_BIN / "mlflow"), "models", "serve", "-m", str(model_dir), "-p", str(port),
            "-w", str(workers), "--env-manager", "local"]  # fmt: skip


@contextlib.contextmanager
def running(
    system: str, model_dir: Path, workers: int, extra: list[str]
) -> Iterator[tuple[int, float]]:
    """The server's port and its start-to-ready seconds; stopped (its whole group) on exit."""
    port = free_port()
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    process = subprocess.Popen(
        command(system, model_dir, port, workers, extra),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env,
    )  # fmt: skip
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{system} exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            if time.perf_counter() - start > READY_TIMEOUT:
                raise RuntimeError(f"{system} did not answer /ping in {READY_TIMEOUT} s")
            time.sleep(0.05)
        yield port, time.perf_counter() - start
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.stderr is not None:
            process.stderr.close()


# -- clients -------------------------------------------------------------------------------------
def _post(conn: http.client.HTTPConnection, body: bytes) -> bytes:
    conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
    return data


def latency(port: int, body: bytes, samples: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(3):
        _post(conn, body)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        _post(conn, body)
        times.append(time.perf_counter() - start)
    conn.close()
    times.sort()
    return {
        "p50": times[len(times) // 2],
        "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
    }


def throughput(port: int, body: bytes, clients: int, seconds: float) -> float:
    """Requests answered per second by ``clients`` threads, each on its own connection."""
    done = [0] * clients
    stop_at = time.perf_counter() + seconds
    errors: list[BaseException] = []

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while time.perf_counter() < stop_at:
                _post(conn, body)
                done[i] += 1
        except BaseException as e:
            errors.append(e)
        finally:
            conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]!r}")
    return sum(done) / (time.perf_counter() - start)


def bench(system: str, model_dir: Path, frame: Any, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with running(system, model_dir, args.workers, args.traza_args.split()) as (port, ready):
        out["start"] = ready
        for rows in SIZES:
            body = body_of(frame.head(rows))
            samples = args.samples if rows == 1 else max(20, args.samples // 10)
            out[f"latency_{rows}"] = latency(port, body, samples)
            out[f"throughput_{rows}"] = throughput(port, body, args.clients, args.seconds)
    return out


# -- report --------------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms"


def print_table(results: dict[str, dict[str, Any]], floor: dict[str, float], clients: int) -> None:
    def row(title: str, cells: list[str], ratio: str) -> None:
        print(f"| {title} | " + " | ".join(cells) + f" | {ratio} |")

    systems = list(results)
    print("| measure | " + " | ".join(systems) + " | ratio |")
    print("|---|" + "---:|" * len(systems) + "---:|")

    def ratio_of(key: str, sub: str | None, higher_is_better: bool) -> str:
        if len(systems) < 2:
            return ""
        a, b = (results[s][key] if sub is None else results[s][key][sub] for s in systems[:2])
        return f"{(a / b if higher_is_better else b / a):.1f}×"

    row(
        "start to ready",
        [f"{r['start']:.1f} s" for r in results.values()],
        ratio_of("start", None, False),
    )
    for rows in SIZES:
        label = f"{rows:,} row{'s' if rows > 1 else ''}"
        for q in ("p50", "p99"):
            row(f"latency {q}, {label}", [ms(r[f"latency_{rows}"][q]) for r in results.values()],
                ratio_of(f"latency_{rows}", q, False))  # fmt: skip
        row(f"throughput, {label}, {clients} clients",
            [f"{r[f'throughput_{rows}']:,.0f}/s" for r in results.values()],
            ratio_of(f"throughput_{rows}", None, True))  # fmt: skip
    print()
    print(f"in-process predict, 1 row (median): what traza serves (pyfunc, forest fast path) "
          f"{ms(floor['served_1'])}, traza pyfunc {ms(floor['pyfunc_1'])}, "
          f"bare sklearn {ms(floor['sklearn_1'])}")  # fmt: skip
    traza = results.get("traza")
    if traza:
        p50 = traza["latency_1"]["p50"]
        print(f"Traza server overhead, 1 row: p50 latency {ms(p50)} minus the same predict "
              f"in process {ms(floor['served_1'])} = {ms(p50 - floor['served_1'])} "
              "(HTTP both ways, JSON parsing, DataFrame, encoding)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s throughput runs, fewer samples")
    parser.add_argument("--only", choices=("traza",), help="skip mlflow models serve")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--traza-args", default="", help="extra flags for traza models serve, e.g. --inline-limit 0"
    )
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    args = parser.parse_args()
    args.seconds = 2.0 if args.quick else 10.0
    args.samples = 100 if args.quick else 500
    folder = Path(tempfile.mkdtemp(prefix="traza-serving-bench-"))
    try:
        model_dir, frame = build_model(folder)
        floor = in_process(model_dir, frame, args.samples)
        results = {}
        for system in ("traza",) if args.only else ("traza", "mlflow"):
            print(f"... {system}", file=sys.stderr, flush=True)
            results[system] = bench(system, model_dir, frame, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    versions = {"traza": version("traza")} | ({} if args.only else {"mlflow": version("mlflow")})
    names = ", ".join(f"{k} {v}" for k, v in versions.items())
    print(f"\n{platform.python_version()}, {os.cpu_count()} cores; {names}; {args.workers} "
          "worker(s); ratio = mlflow/traza time, traza/mlflow throughput\n")  # fmt: skip
    print_table(results, floor, args.clients)
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps({"results": results, "in_process": floor, "versions": versions}, indent=2)
        )


if __name__ == "__main__":
    main()
