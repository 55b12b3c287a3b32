"""The web UI's server side: each ``/ajax-api/traza/v1`` endpoint on SQLite and PostgreSQL.

Seeds one store per backend (an experiment of RUNS runs × 20 params × 20 metrics, and
HISTORY_RUNS runs holding POINTS points of ``loss`` each), serves it with ``traza server`` in its
own process, and times each endpoint over HTTP (median and p95 of the repeats, after a warm-up):
what the runs table, a run page and a chart ask for.

    .venv/bin/python benchmarks/ui_api.py                       # 10,000 runs, 5 × 1,000,000 points
    .venv/bin/python benchmarks/ui_api.py --runs 1000 --points 100000 --backend sqlite
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import urllib3

import servers

UI = "/ajax-api/traza/v1"
WIDE = 20
BASE_TIME = 1_700_000_000_000


def seed(
    uri: str, runs: int, history_runs: int, points: int
) -> tuple[str, list[str], str, list[str]]:
    """(experiment id of the runs table, history run ids, a run with WIDE metrics, the table's
    first 100 runs)."""
    from traza.entities import Metric, Param, RunTag
    from traza.store.uri import open_store

    store = open_store(uri, "mlflow-artifacts:/")
    try:
        table = store.create_experiment("ui-table")
        wide = ""
        first: list[str] = []
        for i in range(runs):
            run_id = store.create_run(table, "bench", BASE_TIME + i, [], f"run-{i:05d}").info.run_id
            store.log_batch(
                run_id,
                metrics=[
                    Metric(f"m{k:02d}", (i * 31 + k) % 997 / 997, BASE_TIME, 0) for k in range(WIDE)
                ],
                params=[Param(f"p{k:02d}", f"v{(i + k) % 11}") for k in range(WIDE)],
                tags=[RunTag("team", f"t{i % 4}")],
            )
            wide = wide or run_id
            if len(first) < 100:
                first.append(run_id)
        history = store.create_experiment("ui-history")
        history_ids = []
        for n in range(history_runs):
            run_id = store.create_run(history, "bench", BASE_TIME, [], f"history-{n}").info.run_id
            for start in range(0, points, 1000):
                batch = [
                    Metric("loss", _noisy(j, n), BASE_TIME + j * 10, j)
                    for j in range(start, min(points, start + 1000))
                ]
                store.log_batch(run_id, metrics=batch)
            history_ids.append(run_id)
        return table, history_ids, wide, first
    finally:
        store.close()


def _noisy(j: int, n: int) -> float:
    """A decaying loss with noise and a rare spike, so peaks matter."""
    value = 1.0 / (1 + j / 1000) + 0.05 * math.sin(j * 12.9898 + n)
    return value + (5.0 if j % 250_003 == 7 else 0.0)


def timed(call: Callable[[], bytes], repeats: int) -> tuple[float, float, int]:
    """(median ms, p95 ms, response bytes) after one warm-up call."""
    size = len(call())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], size


def bench(backend: str, uri: str, folder: Path, args: argparse.Namespace) -> list[tuple[str, ...]]:
    start = time.perf_counter()
    table, history, wide, first = seed(uri, args.runs, args.history_runs, args.points)
    seeded = time.perf_counter() - start
    print(f"{backend}: seeded in {seeded:.1f} s", file=sys.stderr)
    http = urllib3.PoolManager()
    rows: list[tuple[str, ...]] = []
    with servers.running("traza", uri, folder, settle_after=False) as server:

        def get(path: str) -> Callable[[], bytes]:
            def call() -> bytes:
                response = http.request("GET", f"{server.url}{path}")
                assert response.status == 200, response.data[:300]
                return bytes(response.data)

            return call

        one = f"{UI}/metrics/history?run_id={history[0]}&key=loss&max_points=1000"
        overlay = "&".join(f"run_ids={r}" for r in history)
        cases = [
            (
                f"experiments/keys ({args.runs:,} runs)",
                f"{UI}/experiments/keys?experiment_ids={table}",
            ),
            (f"metrics/history step ({args.points:,} points)", one),
            (f"metrics/history timestamp ({args.points:,})", f"{one}&x_axis=timestamp"),
            (f"metrics/history relative ({args.points:,})", f"{one}&x_axis=relative"),
            (
                f"metrics/history {len(history)} runs × {args.points:,}",
                f"{UI}/metrics/history?{overlay}&key=loss&max_points=1000",
            ),
            (f"runs/<id>/metric-summaries ({WIDE} keys)", f"{UI}/runs/{wide}/metric-summaries"),
            (
                f"mlflow get-history, full ({args.points:,})",
                f"/ajax-api/2.0/mlflow/metrics/get-history?run_id={history[0]}&metric_key=loss",
            ),
        ]
        calls: list[tuple[str, Callable[[], bytes]]] = [(n, get(p)) for n, p in cases]
        # The chart workspace: 16 metric panels over 100 runs, one request or one per panel.
        keys = [f"m{k:02d}" for k in range(16)]
        body = json.dumps({"run_ids": first, "keys": keys, "max_points": 1000}).encode()

        def batched() -> bytes:
            response = http.request(
                "POST",
                f"{server.url}{UI}/metrics/histories",
                body=body,
                headers={"Content-Type": "application/json"},
            )
            assert response.status == 200, response.data[:300]
            return bytes(response.data)

        runs_query = "&".join(f"run_ids={r}" for r in first)
        per_key = [get(f"{UI}/metrics/history?{runs_query}&key={k}&max_points=1000") for k in keys]
        calls += [
            ("metrics/histories, 100 runs × 16 keys", batched),
            ("metrics/history × 16, 100 runs each", lambda: b"".join(c() for c in per_key)),
        ]
        metric_args = "&".join(f"metrics=m{k:02d}" for k in range(10))
        groups = f"{UI}/runs/groups?experiment_ids={table}&{metric_args}"
        calls += [
            (
                f"runs/groups by a param, 10 metrics ({args.runs:,} runs)",
                get(f"{groups}&by=params.p03"),
            ),
            (
                "runs/groups by a tag, filtered",
                get(f"{groups}&by=tags.team&filter=metrics.m01+%3E+0.5"),
            ),
        ]
        for name, call in calls:
            repeats = 3 if "get-history" in name else args.repeats
            median, p95, size = timed(call, repeats)
            rows.append((backend, name, f"{median:,.1f}", f"{p95:,.1f}", f"{size / 1024:,.0f}"))
            print(" | ".join(rows[-1]), file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--history-runs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    servers.stop_on_sigterm()
    pg = servers.Postgres()
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="traza-ui-bench-") as tmp:
        folder = Path(tmp)
        if args.backend in ("sqlite", "both"):
            rows += bench("sqlite", f"sqlite:///{folder / 'ui.db'}", folder / "sqlite", args)
        if args.backend in ("postgresql", "both"):
            db = "bench_ui_api"
            pg.create(db)
            try:
                rows += bench("postgresql", pg.libpq(db), folder / "postgresql", args)
            finally:
                pg.drop(db)
    print("| backend | endpoint | median ms | p95 ms | response KiB |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print(f"| {' | '.join(row)} |")


if __name__ == "__main__":
    main()
