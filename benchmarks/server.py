"""Tracking servers side by side in one run: traza server, mlflow server and FastTrackML.

Each system serves a copy of the same seeded store (SQLite, then PostgreSQL) from its own
subprocess; the workloads are raw HTTP requests timed on the client (server time), then the
same operations end to end through the official mlflow client, then Traza's own client. The
ratios are the other system's time over Traza's (or Traza's throughput over theirs).

    python benchmarks/server.py                 # full scale, both backends (~8 minutes)
    python benchmarks/server.py --quick         # 1/10 of the data, fewer repeats (~2 minutes)
    python benchmarks/server.py --backend sqlite --only traza --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import clients
import endpoints
import seeding
import servers
from rest import Connection, HttpError

Result = dict[str, Any]
Results = dict[str, dict[str, Result]]  # system -> row key -> result
RATIO_SYSTEMS = ("mlflow", "fasttrackml")
#: (system, least ratio, label): Traza's goals against each peer, per endpoint.
ENDPOINT_GOALS = (("mlflow", 10.0, ">= 10x mlflow"), ("fasttrackml", 1.0, "> FML"))
CLIENT_GOAL = 500.0  # Traza's client log_metric rate over the mlflow client's (on mlflow)


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    kind: str  # "startup", "latency", "transfer", "throughput" or "floor"
    goal: str = "endpoint"  # "endpoint" (>= 10x mlflow, beat FastTrackML), "startup", "", "client"


def rows(plan: endpoints.Plan) -> list[Row]:
    runs, points, big = f"{plan.scale.runs:,}", f"{plan.scale.points:,}", plan.big_mib
    return [
        Row("start", "start to ready (until GET /health)", "startup", "startup"),
        Row("create_run", "create run", "latency"),
        Row("log_batch_10", "log_batch, 10 metrics", "latency"),
        Row("log_batch_1000", "log_batch, 1,000 metrics", "latency"),
        Row("search", f"search_runs over {runs} runs (100 back)", "latency"),
        Row("history", f"get_metric_history, {points} points", "latency"),
        Row("upload_1", "artifact upload, 1 MiB", "transfer"),
        Row("download_1", "artifact download, 1 MiB", "transfer"),
        Row("upload_big", f"artifact upload, {big} MiB", "transfer"),
        Row("download_big", f"artifact download, {big} MiB", "transfer"),
        Row("concurrent_4", "4 clients x log_batch 10 (total)", "throughput"),
        Row("concurrent_16", "16 clients x log_batch 10 (total)", "throughput"),
        Row("e2e_create_run", "mlflow client: create_run", "latency", ""),
        Row("e2e_log_metric", f"mlflow client: {plan.log_metric_calls} log_metric", "latency", ""),
        Row("e2e_log_batch", "mlflow client: log_batch 1,000", "latency", ""),
        Row("e2e_search", f"mlflow client: search_runs ({runs} runs)", "latency", ""),
        Row("e2e_history", f"mlflow client: get_metric_history {points}", "latency", ""),
        Row("e2e_floor", "  of which parsing alone (no server)", "floor", ""),
        Row(
            "traza_client",
            f"traza client: {plan.traza_client_calls:,} log_metric",
            "latency",
            "client",
        ),
    ]


def _one_line(e: BaseException) -> str:
    if isinstance(e, HttpError):
        served = e.status not in (404, 405, 501) and "ENDPOINT_NOT_FOUND" not in e.text
        return str(e) if served else f"not served ({e})"
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160] if text else ''}"


def _attempt(out: Result, key: str, work: Callable[[], Result]) -> None:
    try:
        out[key] = work()
    except Exception as e:
        out[key] = {"error": _one_line(e)}


def _raw_workloads(out: Result, server: servers.Server, plan: endpoints.Plan, folder: Path) -> None:
    conn = Connection(server.url)
    target = endpoints.Target(server.system, server.url, plan, folder)
    target.discover(conn)
    _attempt(out, "create_run", lambda: endpoints.create_run(conn, target))
    _attempt(out, "log_batch_10", lambda: endpoints.log_batch(conn, target, 10))
    _attempt(out, "log_batch_1000", lambda: endpoints.log_batch(conn, target, 1000))
    _attempt(out, "search", lambda: endpoints.search_runs(conn, target))
    _attempt(out, "history", lambda: endpoints.metric_history(conn, target))
    for mib, suffix in ((1, "1"), (plan.big_mib, "big")):
        if "not served" in out.get("upload_1", {}).get("error", ""):
            out[f"upload_{suffix}"] = out[f"download_{suffix}"] = out["upload_1"]
            continue  # a server that answers no small upload cuts a 100 MiB one off mid-body
        try:
            up, down = endpoints.artifacts(conn, target, mib)
            out[f"upload_{suffix}"], out[f"download_{suffix}"] = up, down
        except Exception as e:
            conn.close()
            conn = Connection(server.url)
            out[f"upload_{suffix}"] = out[f"download_{suffix}"] = {"error": _one_line(e)}
    conn.close()


def _concurrency(out: Result, server: servers.Server, plan: endpoints.Plan, folder: Path) -> None:
    conn = Connection(server.url)
    target = endpoints.Target(server.system, server.url, plan, folder)
    target.discover(conn)
    conn.close()
    for n in (4, 16):
        _attempt(out, f"concurrent_{n}", functools.partial(endpoints.concurrent, target, n))
        servers.settle(server)  # requests a client gave up on may still be running


def _end_to_end(
    out: Result, system: str, url: str, plan: endpoints.Plan, worker: clients.MlflowClientWorker
) -> None:
    try:
        e2e = worker.run(url, plan)
    except Exception as e:
        e2e = {name: {"error": _one_line(e)} for name in ("create_run", "log_metric")}
    names = {
        "create_run": "e2e_create_run",
        "log_metric": "e2e_log_metric",
        "log_batch": "e2e_log_batch",
        "search_runs": "e2e_search",
        "metric_history": "e2e_history",
        "parse_floor": "e2e_floor",
    }
    for name, key in names.items():
        if name in e2e:
            out[key] = e2e[name]
    if system == "traza":
        _attempt(out, "traza_client", lambda: clients.traza_in_subprocess(url, plan)["log_metric"])


def bench_system(
    system: str,
    backend: str,
    plan: endpoints.Plan,
    pg: servers.Postgres,
    log: Callable[[str], None],
    worker: clients.MlflowClientWorker,
) -> Result:
    """Every workload on one system and backend; a failure becomes the row's (or system's) note."""
    out: Result = {}
    source = seeding.ensure_seeded(system, backend, plan.scale, pg, log)
    work_db = f"{source}_work"
    with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as tmp:
        folder = Path(tmp)
        if backend == "sqlite":
            store = folder / "store.db"
            servers.copy_sqlite(Path(source), store)
            uri = servers.store_uri(system, backend, str(store), pg)
        else:
            pg.create(work_db, template=source)
            uri = servers.store_uri(system, backend, work_db, pg)
        try:
            with servers.running(system, uri, folder) as server:
                out["start"] = {"seconds": server.start_to_ready, "settle": server.settle_seconds}
                log(
                    f"{system} on {backend}: ready in {server.start_to_ready:.2f} s, "
                    f"idle after {server.settle_seconds:.1f} s more"
                )
                _raw_workloads(out, server, plan, folder)
                log(f"{system} on {backend}: raw requests done")
                _end_to_end(out, system, server.url, plan, worker)
                log(f"{system} on {backend}: clients done")
                if backend == "sqlite":  # last: a server it overwhelms may take a while after
                    _concurrency(out, server, plan, folder)
                    log(f"{system} on {backend}: concurrency done")
            if backend == "postgresql":  # concurrency against two worker processes
                with servers.running(system, uri, folder, workers=2) as server:
                    out["start_workers_2"] = {"seconds": server.start_to_ready}
                    _concurrency(out, server, plan, folder)
                    log(f"{system} on {backend}: concurrency (2 workers) done")
        finally:
            if backend == "postgresql":
                pg.drop(work_db)
    return out


# -- the table -------------------------------------------------------------------------------
def _seconds(row: Row, r: Result) -> float | None:
    """The figure a ratio is taken of: seconds per operation (lower is better)."""
    if "error" in r:
        return None
    if row.kind == "startup":
        return float(r["seconds"])
    if row.kind == "throughput":
        return 1.0 / r["per_s"] if r.get("per_s") else None
    return float(r["median_ms"]) / 1000


def _rate(per_s: float) -> str:
    return f"{per_s:,.1f}/s" if per_s < 10 else f"{per_s:,.0f}/s"


def cell(row: Row, r: Result | None) -> str:
    if r is None:
        return "-"
    if "error" in r:
        return "n/a"
    if row.kind == "startup":
        return f"{r['seconds']:.2f} s"
    if row.kind == "throughput":
        errors = f" ({r['errors']} err)" if r.get("errors") else ""
        return f"{_rate(r['per_s'])}{errors}"
    ms = r["median_ms"]
    text = f"{ms:,.2f} ms" if ms < 10 else f"{ms:,.0f} ms"
    if row.kind == "transfer":
        return f"{text} {r['mib_per_s']:,.0f} MiB/s"
    if row.kind == "floor":
        return text
    return f"{text} {_rate(r['per_s'])}"


def _mostly_failed(r: Result | None) -> bool:
    return bool(r and r.get("errors") and r["errors"] >= r.get("count", 0))


def ratio(row: Row, mine: Result | None, theirs: Result | None) -> float | None:
    """How many times faster Traza is; none when either side is missing or mostly failed."""
    if mine is None or theirs is None or _mostly_failed(theirs):
        return None
    a, b = _seconds(row, mine), _seconds(row, theirs)
    return b / a if a and b else None


def goal_text(row: Row, results: Results, ratios: dict[str, float | None]) -> str:
    traza = results.get("traza", {}).get(row.key)
    if traza is None or "error" in traza:
        return ""
    parts = []
    if row.goal == "startup":
        parts.append(f"< 1 s: {'met' if traza['seconds'] < 1 else 'NOT met'}")
    elif row.goal == "endpoint":
        for system, need, label in ENDPOINT_GOALS:
            value = ratios.get(system)
            if value is not None:
                parts.append(f"{label}: {'met' if value >= need else 'NOT met'}")
            elif _mostly_failed(results.get(system, {}).get(row.key)):
                parts.append(f"{label}: met ({system} failed)")
    checks = [r.get("check") for r in (results[s].get(row.key) for s in results) if r]
    checks = [c for c in checks if c is not None]
    if any(c != checks[0] for c in checks):
        parts.append("(results differ!)")
    return "; ".join(parts)


def print_table(
    backend: str, plan: endpoints.Plan, results: Results, notes: dict[str, list[str]]
) -> None:
    systems = list(results)
    header = f"{'workload (' + backend + ')':44}" + "".join(f"{s:>22}" for s in systems)
    ratio_systems = [s for s in RATIO_SYSTEMS if s in results and "traza" in results]
    header += "".join(f"{s[:6] + '/traza':>14}" for s in ratio_systems) + "  goal"
    print(header)
    print("-" * len(header))
    for row in rows(plan):
        if all(row.key not in results[s] for s in systems):
            continue
        cells = [cell(row, results[s].get(row.key)) for s in systems]
        ratios = {
            s: ratio(row, results["traza"].get(row.key), results[s].get(row.key))
            for s in ratio_systems
        }
        if row.key == "traza_client" and "mlflow" in results:  # vs the mlflow client on mlflow
            theirs = results["mlflow"].get("e2e_log_metric")
            ratios = {"mlflow": ratio(row, results["traza"].get(row.key), theirs)}
            value = ratios["mlflow"]
            met = value is not None and value >= CLIENT_GOAL
            goal_str = f">= {CLIENT_GOAL:g}x mlflow client on mlflow: {'met' if met else 'NOT met'}"
        else:
            goal_str = goal_text(row, results, ratios)
        ratio_cells = [
            "failed" if _mostly_failed(results[s].get(row.key)) else "-" for s in ratio_systems
        ]
        ratio_cells = [
            f"{ratios[s]:,.1f}x" if ratios.get(s) else text
            for s, text in zip(ratio_systems, ratio_cells, strict=True)
        ]
        line = f"{row.title:44}" + "".join(f"{c:>22}" for c in cells)
        print(line + "".join(f"{c:>14}" for c in ratio_cells) + f"  {goal_str}", flush=True)
        for s in systems:
            r = results[s].get(row.key)
            if r and "error" in r:
                notes.setdefault(f"{s}: {r['error']}", []).append(row.title.strip())
            elif r and r.get("errors"):
                text = f"{s}: {r['errors']} of {r['count'] + r['errors']} requests failed"
                notes.setdefault(f"{text}, first: {r['first_error'][:160]}", []).append(row.title)
    for note, titles in notes.items():
        print(f"  note: {note}" + (f" ({'; '.join(titles)})" if titles else ""))
    print()


def _versions(only: str | None) -> dict[str, str]:
    found = {"traza": version("traza")}
    if only != "traza":
        found["mlflow"] = version("mlflow")
        if servers.FML.exists():
            text = subprocess.run([str(servers.FML), "--version"], capture_output=True, text=True)
            found["fasttrackml"] = text.stdout.strip().rsplit(" ", 1)[-1]
    return found


@dataclass
class Session:
    """What one invocation runs, and where its results go."""

    plan: endpoints.Plan
    pg: servers.Postgres
    systems: tuple[str, ...]
    skipped: dict[str, str]  # system -> why it cannot run here
    log: Callable[[str], None]
    worker: clients.MlflowClientWorker

    def backend(self, backend: str) -> dict[str, Any]:
        results: Results = {}
        notes: dict[str, list[str]] = {}
        for system in self.systems:
            if system in self.skipped:
                notes[f"{system}: {self.skipped[system]}"] = []
                continue
            try:
                results[system] = bench_system(
                    system, backend, self.plan, self.pg, self.log, self.worker
                )
            except (servers.ServerError, OSError, RuntimeError) as e:
                notes[f"{system} on {backend}: not run: {_one_line(e)}"] = []
                self.log(f"{system} on {backend}: not run: {_one_line(e)}")
        print_table(backend, self.plan, results, notes)
        return {"results": results, "notes": notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1/10 of the data, fewer repeats")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--only", choices=("traza",), help="run traza server only")
    parser.add_argument(
        "--systems", help="comma-separated subset of traza,mlflow,fasttrackml (default: all)"
    )
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    parser.add_argument("--postgres-host", default="127.0.0.1")
    parser.add_argument("--postgres-port", type=int, default=5432)
    args = parser.parse_args()
    servers.stop_on_sigterm()
    plan = endpoints.QUICK if args.quick else endpoints.FULL
    systems = ("traza",) if args.only else servers.SYSTEMS
    if args.systems:
        wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
        if unknown := set(wanted) - set(servers.SYSTEMS):
            parser.error(f"unknown --systems {sorted(unknown)}; choose from {servers.SYSTEMS}")
        systems = tuple(s for s in servers.SYSTEMS if s in wanted)
    skipped: dict[str, str] = {}
    if "fasttrackml" in systems and (problem := servers.fasttrackml_problem()):
        skipped["fasttrackml"] = problem
    versions = _versions(args.only)
    load = os.getloadavg()[0]
    print(
        f"Python {platform.python_version()}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; {os.cpu_count()} CPUs, load {load:.2f}; {plan.scale.runs:,} runs, "
        f"{plan.scale.points:,} points, {plan.big_mib} MiB",
        flush=True,
    )
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"  [{time.monotonic() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    pg = servers.Postgres(host=args.postgres_host, port=args.postgres_port)
    session = Session(plan, pg, systems, skipped, log, clients.MlflowClientWorker())
    report: dict[str, Any] = {"versions": versions, "plan": dataclasses.asdict(plan)}
    report["load_before"] = load
    backends = ("sqlite", "postgresql") if args.backend == "all" else (args.backend,)
    try:
        report["results"] = {backend: session.backend(backend) for backend in backends}
    finally:
        session.worker.close()
    report["seconds"] = time.monotonic() - started
    report["load_after"] = os.getloadavg()[0]
    print(f"total {report['seconds']:.0f} s; load average now {report['load_after']:.2f}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # every server was stopped on the way out
        print("interrupted; every server started was stopped", file=sys.stderr)
        sys.exit(130)
