"""What the side-by-side benchmarks share (not a benchmark): a worker run in a fresh process and
folder, the timing of ``log_model`` and ``load_model`` with a warm-up, and the ratio table.

Each benchmark imports it by name (``benchmarks/`` is ``sys.path[0]`` when one runs), so a
change to how workers run or rows print is made once for all of them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

#: The header of the table ``ratio_row`` prints rows of.
RATIO_HEADER = f"{'operation':<38}{'traza ms':>10}{'mlflow ms':>11}{'ratio':>8}"


def run_worker(
    script: Path, args: Iterable[str], prefix: str, label: str, **env: str
) -> dict[str, Any]:
    """Run ``script args`` in a fresh process, in a new empty folder (so each library starts on
    an empty store), without the caller's ``MLFLOW_*``/``TRAZA_*`` settings but with ``env``;
    returns the JSON object its last line of output prints. A failure ends the benchmark
    with the worker's error, under ``label``."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
        done = subprocess.run(
            [sys.executable, str(script), *args],
            cwd=folder,
            env={**clean, **env},
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def time_log_model(
    repeats: int, start_run: Callable[[], AbstractContextManager[Any]], log: Callable[[], Any]
) -> tuple[float, list[str]]:
    """The median seconds of ``log()`` (each in its own run, the run's start and end not
    timed) over ``repeats`` calls after one warm-up, and the URIs of all the models logged."""
    times, uris = [], []
    for i in range(repeats + 1):  # the first is a warm-up
        with start_run():
            start = time.perf_counter()
            info = log()
            elapsed = time.perf_counter() - start
        uris.append(info.model_uri)
        if i:
            times.append(elapsed)
    return statistics.median(times), uris


def time_load_model(
    uris: list[str], load: Callable[[str], Any], check: Callable[[Any, str], None]
) -> float:
    """The median seconds of ``load(uri)`` over the URIs after the first (a warm-up); each
    loaded model is checked by ``check(loaded, uri)`` outside the timing."""
    times = []
    for i, uri in enumerate(uris):
        start = time.perf_counter()
        loaded = load(uri)
        elapsed = time.perf_counter() - start
        check(loaded, uri)
        if i:
            times.append(elapsed)
    return statistics.median(times)


def ratio_row(
    results: dict[str, Any], name: str, ours: dict[str, float], theirs: dict[str, float]
) -> None:
    """Print, under ``RATIO_HEADER``, a row per operation of ``ours`` (Traza's seconds) beside
    ``theirs`` (MLflow's) and their ratio (MLflow over Traza), and keep it in ``results``."""
    for op in ours:
        ratio = theirs[op] / ours[op]
        results[f"{op} ({name})"] = {"traza": ours[op], "mlflow": theirs[op], "ratio": ratio}
        print(
            f"{op + ' (' + name + ')':<38}{ours[op] * 1000:>10.1f}"
            f"{theirs[op] * 1000:>11.1f}{ratio:>7.1f}x"
        )
