"""Scenario 2, contention: many processes on one store at once.

16 processes log into one SQLite file for a while (each its own run, and all into one shared run);
64 processes released at the same instant against a store that does not exist yet; 64 processes
calling ``set_experiment`` with one name at the same instant. No error of any kind (no
"database is locked"), every point stored once, one schema, one experiment.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from torture._postgres import Cluster
from torture._support import clean_env, scratch, sqlite_integrity
from torture.result import Result

SCALES = {
    "ci": {"writers": 8, "seconds": 8, "starters": 24},
    "full": {"writers": 16, "seconds": 60, "starters": 64},
}

# argv: store, worker index, shared run id, seconds. Alternates single points (one transaction
# each) with 100-point batches; prints "<points> <calls>" when the time is up.
WRITER = r"""
import sys, time, traza
from traza.entities import Metric
store, worker, shared, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
traza.set_tracking_uri(store)
client = traza.MlflowClient()
run_id = client.create_run("0", run_name=f"writer{worker}").info.run_id
print("ready", flush=True)
sys.stdin.readline()  # the barrier: every writer starts together
step = i = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    if i % 2:
        batch = [Metric("m", float(s), 1, s) for s in range(step, step + 100)]
        client.log_batch(run_id, metrics=batch)
        step += 100
    else:
        client.log_metric(run_id, "m", float(step), 1, step)
        step += 1
    client.log_metric(shared, f"w{worker}", float(i), 1, i)
    i += 1
print(run_id, step, i, flush=True)
"""

# argv: store, mode ("open": create a run in a store that may not exist; "experiment":
# set_experiment("same name")). Imports first, says "ready", then waits for "go".
STARTER = r"""
import sys, traza
store, mode = sys.argv[1:3]
print("ready", flush=True)
sys.stdin.readline()  # the barrier: the parent writes "go" to all 64 within a millisecond
traza.set_tracking_uri(store)
if mode == "open":
    print(traza.MlflowClient().create_run("0").info.run_id, flush=True)
else:
    print(traza.set_experiment("same name").experiment_id, flush=True)
"""


def run(scale: str) -> Result:
    s = SCALES[scale]
    result = Result(
        "contention",
        f"{s['writers']} processes x {s['seconds']} s on one SQLite file; {s['starters']} "
        f"processes at one instant on a new store, and on set_experiment(same name), on SQLite "
        "and PostgreSQL",
    )
    with scratch("contention") as tmp:
        _writers(tmp / "writers", s["writers"], s["seconds"], result)
        _starters(str(tmp / "new-store"), "open", s["starters"], result, "SQLite")
        _starters(str(tmp / "experiment"), "experiment", s["starters"], result, "SQLite")
        # The same races on PostgreSQL (a private cluster): a fresh database, then one name.
        cluster = Cluster(tmp / "pg").init()
        try:
            _starters(cluster.url, "open", s["starters"], result, "PostgreSQL")
            _starters(cluster.url, "experiment", s["starters"], result, "PostgreSQL")
        finally:
            cluster.destroy()
    return result


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _release(procs: list[subprocess.Popen[str]]) -> float:
    """Wait until every process said "ready", then release them together; returns the time."""
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.readline()
    started = time.monotonic()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return started


def _finish(procs: list[subprocess.Popen[str]], result: Result, what: str) -> list[str]:
    """Each process's last stdout line; a non-zero exit or any stderr output is a failure."""
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0 or err.strip():
            result.failures.append(f"{what} failed ({proc.returncode}): {err.strip()[-1500:]}")
        lines = out.strip().splitlines()
        outputs.append(lines[-1] if lines else "")
    return outputs


def _writers(tmp: Path, writers: int, seconds: float, result: Result) -> None:
    from traza.store.uri import open_store

    store = open_store(str(tmp))
    shared = store.create_run("0", "", 1, [], "shared").info.run_id
    store.close()
    procs = [_spawn(WRITER, str(tmp), str(w), shared, str(seconds)) for w in range(writers)]
    started = _release(procs)
    outputs = _finish(procs, result, "a writer")
    elapsed = time.monotonic() - started
    integrity = sqlite_integrity(tmp / "traza.db")
    result.check(integrity == "ok", f"integrity_check: {integrity}")
    store = open_store(str(tmp))
    points = calls = 0
    try:
        for w, line in enumerate(outputs):
            if not line:
                continue
            run_id, steps, n = line.split()
            points += int(steps) + int(n)
            calls += 2 * int(n)
            stored = [m.step for m in store.get_metric_history(run_id, "m")]
            result.check(
                stored == list(range(int(steps))),
                f"writer {w}: its points are not "
                f"each stored once ({len(stored)} stored of {steps})",
            )
            shared_steps = [m.step for m in store.get_metric_history(shared, f"w{w}")]
            result.check(
                shared_steps == list(range(int(n))),
                f"writer {w}: {len(shared_steps)} of {n} shared-run points stored",
            )
    finally:
        store.close()
    result.figures["writers: points stored"] = points
    result.figures["writers: write calls"] = calls
    result.figures["writers: points/s"] = round(points / elapsed, 1)
    result.figures["writers: write calls/s"] = round(calls / elapsed, 1)


def _starters(store_uri: str, mode: str, count: int, result: Result, backend: str) -> None:
    from traza.store.sql.schema import MIGRATIONS
    from traza.store.uri import open_store

    if mode == "experiment":
        open_store(store_uri).close()
    procs = [_spawn(STARTER, store_uri, mode) for _ in range(count)]
    _release(procs)
    failures_before = len(result.failures)
    outputs = _finish(procs, result, f"a {mode} starter on {backend}")
    store = open_store(store_uri)
    try:
        if mode == "open":
            runs = store.search_runs(["0"], max_results=1000)
            result.check(
                len(runs) == count, f"{backend}: {len(runs)} runs stored of {count} created"
            )
            with store.db.read() as cur:  # type: ignore[attr-defined]
                cur.execute("SELECT name FROM traza_migrations")
                applied = sorted(row[0] for row in cur.fetchall())
            result.check(
                applied == sorted(m.name for m in MIGRATIONS),
                f"{backend}: migrations recorded: {applied}",
            )
            errors = len(result.failures) - failures_before
            result.figures[f"{backend}: {count} at once on a new store: errors"] = errors
        else:
            ids = set(outputs)
            experiments = [e for e in store.search_experiments() if e.name == "same name"]
            result.check(
                len(ids) == 1 and len(experiments) == 1,
                f"{backend}: {len(experiments)} experiments, ids handed out: {sorted(ids)}",
            )
            figure = f"{backend}: {count} x set_experiment(same name): experiments"
            result.figures[figure] = len(experiments)
    finally:
        store.close()
