"""The web UI in Chromium: Traza's and MLflow's, on the same data, side by side.

One experiment of RUNS runs × 20 params × 20 metrics, and CHART_RUNS runs holding POINTS points
of ``loss`` each, seeded straight into each system's SQLite store (Traza through its Store,
MLflow through its own SQLAlchemy tables, as ``seeding.py`` does) and cached under
``benchmarks/.cache/``. Each system serves its copy with its own server process; Debian's
Chromium (Playwright, ``executable_path``) times, from navigation to the answer on screen:

- ``runs page``: a fresh page until the runs table shows the newest run;
- ``sort``: ordering by a metric column until the table's first row is the expected run;
- ``filter``: a search-grammar filter until the table shows the expected first match;
- ``chart``: one metric of CHART_RUNS runs × POINTS points until the chart is drawn.

Traza's sort and filter are the clicks and keystrokes a user makes; MLflow's are the same
states reached through its URL parameters (``orderByKey``, ``searchFilter``), which its UI
reads as it would from its own controls. MLflow's chart is its metric page
(``#/metric?runs=[...]&metric="loss"...``). A step that does not finish within the timeout is
reported as such.

    .venv/bin/python benchmarks/ui.py                          # 10,000 runs, 5 × 1,000,000
    .venv/bin/python benchmarks/ui.py --runs 1000 --points 100000 --systems traza
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import servers

WIDE = 20
BASE_TIME = 1_700_000_000_000
CHROMIUM = "/usr/bin/chromium"
SORT_KEY = "m3"
FILTER = "metrics.m1 > 0.5 and params.p2 = 'v1'"


def run_values(i: int, runs: int) -> tuple[dict[str, str], dict[str, float]]:
    params = {f"p{k}": f"v{(i + k) % (k + 2)}" for k in range(WIDE)}
    metrics = {f"m{k}": ((i * (7919 + k)) % 10007) / 10007 for k in range(WIDE)}
    metrics["m3"] = i / runs  # the sort key: run i is the largest
    return params, metrics


def loss(j: int, n: int) -> float:
    return 1.0 / (1 + j / 1000) + (0.5 if j == n // 3 else 0.0)  # one spike to keep


def cache_path(system: str, runs: int, points: int, chart_runs: int) -> Path:
    return servers.CACHE / f"ui-{system}-{runs}r-{chart_runs}x{points}p.db"


# -- seeding -----------------------------------------------------------------------------------
def seed_traza(path: Path, runs: int, points: int, chart_runs: int) -> None:
    from traza.entities import Metric, Param
    from traza.store.uri import open_store

    store = open_store(f"sqlite:///{path}", "mlflow-artifacts:/")
    try:
        table = store.create_experiment("ui-table")
        for i in range(runs):
            params, metrics = run_values(i, runs)
            run = store.create_run(table, "bench", BASE_TIME + i * 1000, [], f"run-{i:05d}")
            store.log_batch(
                run.info.run_id,
                metrics=[Metric(k, v, BASE_TIME + i * 1000, 0) for k, v in metrics.items()],
                params=[Param(k, v) for k, v in params.items()],
            )
            store.update_run_info(run.info.run_id, "FINISHED", BASE_TIME + i * 1000 + 500, None)
        chart = store.create_experiment("ui-chart")
        for n in range(chart_runs):
            run_id = store.create_run(chart, "bench", BASE_TIME, [], f"chart-{n}").info.run_id
            for start in range(0, points, 1000):
                batch = [
                    Metric("loss", loss(j, points) + n / 10, BASE_TIME + j, j)
                    for j in range(start, min(points, start + 1000))
                ]
                store.log_batch(run_id, metrics=batch)
    finally:
        store.close()


def seed_mlflow(path: Path, runs: int, points: int, chart_runs: int) -> None:
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store_class: Any = SqlAlchemyStore  # mlflow is untyped
    store = store_class(f"sqlite:///{path}", "mlflow-artifacts:/")
    table = store.create_experiment("ui-table")
    location = store.get_experiment(table).artifact_location

    def run_row(uuid: str, name: str, exp: str, start: int) -> dict[str, Any]:
        return {
            "run_uuid": uuid,
            "name": name,
            "source_type": "LOCAL",
            "source_name": "",
            "entry_point_name": "",
            "user_id": "bench",
            "status": "FINISHED",
            "start_time": start,
            "end_time": start + 500,
            "source_version": "",
            "lifecycle_stage": "active",
            "artifact_uri": f"{location}/{uuid}/artifacts",
            "experiment_id": int(exp),
        }

    rows, params, tags, metrics = [], [], [], []
    for i in range(runs):
        uuid, name, start = f"{i:032x}", f"run-{i:05d}", BASE_TIME + i * 1000
        rows.append(run_row(uuid, name, table, start))
        p, m = run_values(i, runs)
        params += [{"key": k, "value": v, "run_uuid": uuid} for k, v in p.items()]
        tags.append({"key": "mlflow.runName", "value": name, "run_uuid": uuid})
        metrics += [
            {"key": k, "value": v, "timestamp": start, "step": 0, "is_nan": False, "run_uuid": uuid}
            for k, v in m.items()
        ]
    chart = store.create_experiment("ui-chart")
    latest = []
    with store.engine.begin() as conn:
        conn.execute(SqlRun.__table__.insert(), rows)
        conn.execute(SqlParam.__table__.insert(), params)
        conn.execute(SqlTag.__table__.insert(), tags)
        conn.execute(SqlMetric.__table__.insert(), metrics)
        conn.execute(SqlLatestMetric.__table__.insert(), metrics)
        for n in range(chart_runs):
            uuid, name = f"c{n:031x}", f"chart-{n}"
            conn.execute(SqlRun.__table__.insert(), [run_row(uuid, name, chart, BASE_TIME)])
            conn.execute(
                SqlTag.__table__.insert(),
                [{"key": "mlflow.runName", "value": name, "run_uuid": uuid}],
            )
            for start in range(0, points, 100_000):
                batch = [
                    {"key": "loss", "value": loss(j, points) + n / 10, "timestamp": BASE_TIME + j}
                    | {"step": j, "is_nan": False, "run_uuid": uuid}
                    for j in range(start, min(points, start + 100_000))
                ]
                conn.execute(SqlMetric.__table__.insert(), batch)
            latest.append(dict(batch[-1]))
        conn.execute(SqlLatestMetric.__table__.insert(), latest)


def ensure_seeded(system: str, runs: int, points: int, chart_runs: int) -> Path:
    path = cache_path(system, runs, points, chart_runs)
    if path.exists():
        return path
    servers.CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    start = time.perf_counter()
    (seed_traza if system == "traza" else seed_mlflow)(partial, runs, points, chart_runs)
    partial.rename(path)
    print(f"{system}: seeded in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return path


# -- the browser -------------------------------------------------------------------------------
class Timeout(Exception):
    pass


def timed(action: Callable[[], object], until: Callable[[float], None], timeout: float) -> float:
    """Seconds from ``action`` until ``until(ms_left)`` returns (it waits on the page)."""
    start = time.perf_counter()
    action()
    try:
        until(timeout * 1000)
    except Exception as e:  # playwright's TimeoutError, by name to keep the import lazy
        if type(e).__name__ == "TimeoutError":
            raise Timeout from e
        raise
    return time.perf_counter() - start


def ids_of(url: str) -> tuple[str, str, list[str]]:
    """The runs table's experiment, the chart's experiment and the chart's runs."""
    import urllib3

    http = urllib3.PoolManager()

    def post(path: str, body: dict[str, Any]) -> Any:
        r = http.request("POST", url + "/ajax-api/2.0/mlflow/" + path, body=json.dumps(body),
                         headers={"Content-Type": "application/json"})  # fmt: skip
        return json.loads(r.data)

    exps = post("experiments/search", {"max_results": 100})["experiments"]
    by_name = {e["name"]: e["experiment_id"] for e in exps}
    runs = post("runs/search", {"experiment_ids": [by_name["ui-chart"]], "max_results": 100})
    return by_name["ui-table"], by_name["ui-chart"], [r["info"]["run_id"] for r in runs["runs"]]


def measure_traza(page: Any, url: str, runs: int, timeout: float) -> dict[str, float | None]:
    table, _, chart_runs = ids_of(url)
    newest = f"run-{runs - 1:05d}"
    first_row = "table[aria-label=Runs] tbody tr:first-child td.name"
    results: dict[str, float | None] = {}

    def first_is(name: str) -> Callable[[float], None]:
        return lambda ms: page.wait_for_function(
            f"() => document.querySelector({json.dumps(first_row)})?.innerText.trim() === "
            f"{json.dumps(name)} && !document.querySelector('[aria-busy=true]')",
            timeout=ms,
        )

    route = f"{url}/#/experiments/{table}?cols=metrics.{SORT_KEY},params.p2"
    results["runs page"] = timed(lambda: page.goto(route), first_is(newest), timeout)
    header = page.locator(f"th[data-col='metrics.{SORT_KEY}'] button")
    # The first click sorts descending (the newest run stays first); the timed one ascending.
    header.click()
    page.wait_for_selector(f"th[data-col='metrics.{SORT_KEY}'][aria-sort=descending]")
    first_is(newest)(timeout * 1000)
    results["sort"] = timed(header.click, first_is("run-00000"), timeout)
    # Back to descending, then the filter: its first match is not on the page before it.
    header.click()
    first_is(newest)(timeout * 1000)
    box = page.get_by_label("Filter runs")
    box.fill(FILTER)
    expected = first_match(runs, ascending_m3=False)
    results["filter"] = timed(lambda: box.press("Enter"), first_is(expected), timeout)

    chart = f"{url}/#/compare?runs={','.join(chart_runs)}&charts=loss"

    def drawn(ms: float) -> None:
        page.wait_for_selector("figure.chart[data-metric=loss] canvas", timeout=ms)
        page.wait_for_function(
            "() => /points drawn|Drag to zoom/.test(document.querySelector("
            "'figure.chart[data-metric=loss] figcaption')?.innerText ?? '')",
            timeout=ms,
        )

    results["chart"] = timed(lambda: page.goto(chart), drawn, timeout)
    results.update(scroll_and_workspace(page, url, table, timeout))
    return results


#: Scrolls the runs table three screens a frame until the run named ``last`` is drawn; the
#: longest frame in ms (``null`` if it never shows within two minutes).
SCROLL_TO_LAST = """async (last) => {
  const box = document.querySelector(".runs-wrap");
  const found = () => document.querySelector(`tr td.name[title="${last}"]`);
  let prev = performance.now(), worst = 0, done = false;
  const tick = (t) => {
    worst = Math.max(worst, t - prev);
    prev = t;
    if (!done) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const deadline = performance.now() + 120000;
  while (!found() && performance.now() < deadline) {
    box.scrollTop += box.clientHeight * 3;
    await new Promise((r) => requestAnimationFrame(r));
  }
  done = true;
  return found() ? worst : null;
}"""
#: Bar charts the workspace opens with here (its default metric panels; one value per run).
WORKSPACE_PANELS = 16
BARS = "[role=img][aria-label^='Bar chart of']"


def scroll_and_workspace(
    page: Any, url: str, table: str, timeout: float
) -> dict[str, float | None]:
    """Scrolling the runs table to its oldest run (pages fetched as it goes; the longest frame,
    in seconds, is what the user feels), and the chart workspace of its first 100 runs."""
    page.goto(f"{url}/#/experiments/{table}")
    page.wait_for_selector("table[aria-label=Runs] tbody tr[data-run-id]", timeout=timeout * 1000)
    longest = page.evaluate(SCROLL_TO_LAST, "run-00000")
    results: dict[str, float | None] = {
        "scroll, longest frame": None if longest is None else longest / 1000
    }

    def panels(ms: float) -> None:
        page.wait_for_function(
            f"() => document.querySelectorAll({json.dumps(BARS)}).length >= {WORKSPACE_PANELS}",
            timeout=ms,
        )

    charts = f"{url}/#/experiments/{table}?tab=charts"
    results["workspace"] = timed(lambda: page.goto(charts), panels, timeout)
    return results


def first_match(runs: int, ascending_m3: bool) -> str:
    for i in range(runs) if ascending_m3 else reversed(range(runs)):
        p, m = run_values(i, runs)
        if m["m1"] > 0.5 and p["p2"] == "v1":
            return f"run-{i:05d}"
    raise AssertionError("no run matches the filter")


def measure_mlflow(page: Any, url: str, runs: int, timeout: float) -> dict[str, float | None]:
    table, chart_experiment, chart_runs = ids_of(url)
    results: dict[str, float | None] = {}

    def shows(name: str) -> Callable[[float], None]:
        return lambda ms: page.get_by_text(name, exact=True).first.wait_for(timeout=ms)

    # MLflow 3.17 opens experiments on its GenAI overview; the runs table is the ML workflow's.
    base = f"{url}/#/experiments/{table}/runs?workflowType=machine_learning"
    steps: list[tuple[str, str, str]] = [
        ("runs page", base, f"run-{runs - 1:05d}"),
        (
            "sort",
            f"{base}&orderByKey={quote(f'metrics.`{SORT_KEY}`')}&orderByAsc=true",
            "run-00000",
        ),
        (
            "filter",
            f"{base}&orderByKey={quote(f'metrics.`{SORT_KEY}`')}&orderByAsc=false"
            f"&searchFilter={quote(FILTER)}",
            first_match(runs, ascending_m3=False),
        ),
    ]
    for name, target, expected in steps:
        try:
            results[name] = timed(partial(page.goto, target), shows(expected), timeout)
        except Timeout:
            results[name] = None
    # MLflow's metric page reads JSON values, "runs" first.
    query = {
        "runs": chart_runs,
        "metric": "loss",
        "experiments": [chart_experiment],
        "plot_metric_keys": ["loss"],
        "plot_layout": {},
        "x_axis": "step",
        "y_axis_scale": "linear",
        "line_smoothness": 1,
        "show_point": False,
        "deselected_curves": [],
        "last_linear_y_axis_range": [],
    }
    encoded = "&".join(
        f"{k}={v if k in ('x_axis', 'y_axis_scale') else quote(json.dumps(v))}"
        for k, v in query.items()
    )
    metric_page = f"{url}/#/metric?{encoded}"
    try:
        results["chart"] = timed(
            lambda: page.goto(metric_page),
            lambda ms: page.wait_for_selector(".js-plotly-plot .scatterlayer .trace", timeout=ms),
            timeout,
        )
    except Timeout:
        results["chart"] = None
    return results


def bench(system: str, args: argparse.Namespace, browser: Any, work: Path) -> list[dict[str, Any]]:
    cached = ensure_seeded(system, args.runs, args.points, args.chart_runs)
    rounds = []
    for r in range(args.repeats):
        folder = work / f"{system}-{r}"
        folder.mkdir(parents=True)
        db = folder / "store.db"
        shutil.copyfile(cached, db)
        with servers.running(system, f"sqlite:///{db}", folder) as server:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            measure = measure_traza if system == "traza" else measure_mlflow
            try:
                rounds.append(measure(page, server.url, args.runs, args.timeout))
            except Timeout:
                rounds.append({})
            finally:
                page.screenshot(path=str(work / f"{system}-{r}.png"))
                context.close()
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--chart-runs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per step")
    parser.add_argument("--systems", default="traza,mlflow")
    parser.add_argument("--quick", action="store_true", help="1,000 runs, 5 × 20,000 points")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.points, args.repeats, args.systems = 1000, 20_000, 1, "traza"
    import tempfile

    from playwright.sync_api import sync_playwright

    steps = ("runs page", "sort", "filter", "chart", "scroll, longest frame", "workspace")
    table: dict[str, dict[str, float | None]] = {}
    import os

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for system in args.systems.split(","):
            rounds = bench(system, args, browser, Path(tmp))
            table[system] = {}
            for step in steps:
                values = [v for r in rounds if (v := r.get(step)) is not None]
                measured = any(step in r for r in rounds)  # else MLflow's UI has no such step
                table[system][step] = (
                    statistics.median(values) if values else None if measured else math.nan
                )
        browser.close()
    print(
        f"\n{args.runs:,} runs × {WIDE} params × {WIDE} metrics; chart: {args.chart_runs} runs × "
        f"{args.points:,} points; median of {args.repeats}, seconds; load average (1, 5, 15 "
        f"min) {', '.join(f'{v:.1f}' for v in load_before)} before, "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} after ({os.cpu_count()} cores)\n"
    )
    systems = list(table)
    print("| step | " + " | ".join(systems) + (" | MLflow / Traza |" if len(systems) > 1 else " |"))
    print("|---" * (len(systems) + 1 + (len(systems) > 1)) + "|")
    for step in steps:
        cells = [
            "n/a"
            if (v := table[s][step]) is not None and math.isnan(v)
            else f"{v:.3f}"
            if v is not None
            else f"> {args.timeout:.0f}"
            for s in systems
        ]
        ratio = ""
        if len(systems) > 1:
            t, m = table["traza"][step], table["mlflow"].get(step)
            ratio = f" | {m / t:.1f}×" if t and m and not math.isnan(m) else " | –"
        print(f"| {step} | " + " | ".join(cells) + ratio + " |")


if __name__ == "__main__":
    main()
