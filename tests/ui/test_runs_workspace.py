"""The runs table, the chart workspace and Compare at 1,280, 1,440 and 1,920 px: default
columns, no sideways scrolling of the page, bars for one value per run, and a CSV download equal
to ``mlflow.search_runs`` for the same filter and order."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from server.live import live_server

from .conftest import SCREENSHOTS

TIMEOUT = 10_000
WIDTHS = (1280, 1440, 1920)
#: A course-like experiment: every metric logged once per run, one of them large (an MSE).
COURSE = [
    ("ridge", {"alpha": "0.1", "copy_X": "True", "model": "ridge"}, {"mae": 0.31, "r2": 0.82}),
    ("lasso", {"alpha": "1.0", "copy_X": "True", "model": "lasso"}, {"mae": 0.31, "r2": 0.64}),
    ("forest", {"alpha": "0.0", "copy_X": "True", "model": "rf"}, {"mae": 0.22, "r2": 0.91}),
    ("baseline", {"model": "mean"}, {"mae": 0.52}),
]
MSE = 1_234_567_891.0


@dataclass(frozen=True)
class Site:
    url: str
    #: Another experiment, with one run logging ``rmse``.
    experiment_id: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A live server of its own (lighter than the shared seed: these tests need no models)."""
    import mlflow

    root = tmp_path_factory.mktemp("ui-runs")
    with live_server(f"sqlite:///{root / 'tracking.db'}", Path(root)) as live:
        client = mlflow.MlflowClient(tracking_uri=live.url)
        other = client.create_experiment("other")
        run = client.create_run(other, run_name="elsewhere")
        client.log_metric(run.info.run_id, "rmse", 2.0)
        yield Site(live.url, other)


@pytest.fixture(scope="module")
def course(site: Site) -> dict[str, str]:
    """The experiment's id and each run's id by name."""
    import mlflow

    mlflow.set_tracking_uri(site.url)
    client = mlflow.MlflowClient()
    exp = client.create_experiment("course")
    ids = {"experiment": exp}
    for i, (name, params, metrics) in enumerate(COURSE):
        run = client.create_run(exp, run_name=name)
        rid = run.info.run_id
        ids[name] = rid
        for k, v in params.items():
            client.log_param(rid, k, v)
        for k, v in metrics.items():
            client.log_metric(rid, k, v)
        client.log_metric(rid, "eval_mse", MSE * (i + 1))
        client.log_metric(rid, "system/cpu", 50.0)
        client.set_terminated(rid)
    return ids


def _width(page: Any, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})


def _no_sideways_scroll(page: Any) -> None:
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], (
        f"the page scrolls sideways: {sizes[0]} px of content in {sizes[1]}"
    )


def test_runs_table_default_columns_at_each_width(
    page: Any, site: Site, course: dict[str, str]
) -> None:
    page.goto(f"{site.url}/#/experiments/{course['experiment']}")
    table = page.get_by_role("table", name="Runs")
    expect(table).to_be_visible(timeout=TIMEOUT)
    heads = table.locator("tr.heads th[data-col]")
    expect(heads.first).to_be_visible()
    cols = heads.evaluate_all("els => els.map(e => e.dataset.col)")
    metrics = [c for c in cols if c.startswith("metrics.")]
    params = [c for c in cols if c.startswith("params.")]
    # Metrics by how many runs have them, `system/` left out; params likewise, up to 5.
    assert metrics == ["metrics.eval_mse", "metrics.mae", "metrics.r2"]
    assert params[:2] == ["params.model", "params.alpha"] and len(params) == 3
    groups = table.locator("tr.groups th").all_inner_texts()
    assert [g.strip() for g in groups if g.strip()] == ["METRICS", "PARAMETERS"] or [
        g.strip().lower() for g in groups if g.strip()
    ] == ["metrics", "parameters"]
    row = table.locator(f"tr[data-run-id='{course['forest']}']")
    expect(row.locator("td").nth(cols.index("metrics.r2") + 1)).to_have_text("0.91")
    expect(page.locator(".run-count")).to_have_text("4 runs")
    for width in WIDTHS:
        _width(page, width)
        expect(table).to_be_visible()
        _no_sideways_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"runs-table-{width}.png"))
    # A sort or a filter keeps the columns the experiment opened with.
    table.locator("th[data-col='metrics.mae'] button").click()
    expect(table.locator("th[data-col='metrics.mae']")).to_have_attribute("aria-sort", "descending")
    page.get_by_label("Filter runs").fill("params.model = 'mean'")
    page.get_by_label("Filter runs").press("Enter")
    expect(table.locator("tbody tr[data-run-id]")).to_have_count(1, timeout=TIMEOUT)
    assert heads.evaluate_all("els => els.map(e => e.dataset.col)") == cols
    # Two experiments: an Experiment column; the table scrolls inside its own box.
    both = f"{course['experiment']},{site.experiment_id}"
    page.goto(f"{site.url}/#/experiments?ids={both}")
    expect(table.locator("th[data-col=experiment]")).to_be_visible(timeout=TIMEOUT)
    expect(table.get_by_role("link", name="course").first).to_be_visible()
    expect(table.get_by_role("link", name="other", exact=True)).to_be_visible()
    _width(page, 1280)
    _no_sideways_scroll(page)


def test_columns_remembered_per_experiment_url_first(
    page: Any, site: Site, course: dict[str, str]
) -> None:
    page.goto(f"{site.url}/#/experiments/{course['experiment']}")
    expect(page.locator("th[data-col='metrics.mae']")).to_be_visible(timeout=TIMEOUT)
    page.get_by_text(re.compile(r"^Columns \(\d+\)$")).click()
    page.get_by_role("checkbox", name="mae", exact=True).uncheck()
    page.keyboard.press("Escape")
    expect(page.locator("th[data-col='metrics.mae']")).to_have_count(0)
    # Back later without the columns in the URL: the browser remembers them.
    page.goto(f"{site.url}/#/experiments/{site.experiment_id}")
    expect(page.locator("th[data-col='metrics.rmse']")).to_be_visible(timeout=TIMEOUT)
    page.goto(f"{site.url}/#/experiments/{course['experiment']}")
    expect(page.locator("th[data-col='metrics.r2']")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("th[data-col='metrics.mae']")).to_have_count(0)
    # A column dragged wider stays so (the browser keeps its width too).
    header = page.locator("th[data-col='metrics.r2']")
    before = header.bounding_box()["width"]
    grip = header.get_by_role("separator", name="Resize r2").bounding_box()
    page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    page.mouse.down()
    page.mouse.move(grip["x"] + 80, grip["y"] + grip["height"] / 2, steps=4)
    page.mouse.up()
    assert abs(header.bounding_box()["width"] - (before + 80)) < 6
    page.reload()
    expect(header).to_be_visible(timeout=TIMEOUT)
    assert abs(header.bounding_box()["width"] - (before + 80)) < 6
    # A link that names columns wins over what was remembered.
    page.goto(f"{site.url}/#/experiments/{course['experiment']}?cols=metrics.mae")
    expect(page.locator("th[data-col='metrics.mae']")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("th[data-col='metrics.r2']")).to_have_count(0)


def test_csv_download_equals_search_runs(page: Any, site: Site, course: dict[str, str]) -> None:
    import mlflow

    where = "metrics.mae < 0.5"
    page.goto(f"{site.url}/#/experiments/{course['experiment']}?sort=metrics.r2&dir=desc")
    page.get_by_label("Filter runs").fill(where)
    page.get_by_label("Filter runs").press("Enter")
    expect(page.locator("table[aria-label=Runs] tbody tr[data-run-id]")).to_have_count(
        3, timeout=TIMEOUT
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    with open(download.value.path(), newline="") as f:
        rows = list(csv.DictReader(f))
    mlflow.set_tracking_uri(site.url)
    frame = mlflow.search_runs(
        [course["experiment"]], filter_string=where, order_by=["metrics.r2 DESC"]
    )
    assert [r["run_id"] for r in rows] == list(frame["run_id"])
    assert {"run_name", "status", "metrics.mae", "metrics.r2", "params.model"} <= set(rows[0])
    for row, (_, want) in zip(rows, frame.iterrows(), strict=True):
        assert row["run_name"] == want["tags.mlflow.runName"]
        assert row["status"] == want["status"]
        assert row["params.model"] == want["params.model"]
        for key in ("metrics.mae", "metrics.r2", "metrics.eval_mse"):
            if math.isnan(want[key]):
                assert row[key] == ""
            else:
                assert float(row[key]) == want[key]


def test_chart_workspace_bars_and_hiding(page: Any, site: Site, course: dict[str, str]) -> None:
    page.goto(f"{site.url}/#/experiments/{course['experiment']}?tab=charts")
    r2 = page.locator("[data-panel='metric:r2']")
    bars = r2.get_by_role("img", name="Bar chart of r2")
    expect(bars).to_be_visible(timeout=TIMEOUT)
    # Every run with r2 has its own bar; lasso and ridge share mae and both stay visible.
    expect(bars.locator("g.bar")).to_have_count(3)
    mae = page.locator("[data-panel='metric:mae']").locator("g.bar")
    expect(mae).to_have_count(4)
    # A large metric's values are drawn in full, not clipped.
    mse = page.locator("[data-panel='metric:eval_mse']")
    expect(mse.locator("text.value").first).to_have_text(
        f"{MSE * 4:.0f}"
    )  # baseline, the newest run
    svg = mse.get_by_role("img").bounding_box()
    for label in mse.locator("text.value").all():
        box = label.bounding_box()
        assert box["x"] + box["width"] <= svg["x"] + svg["width"], label.inner_text()
    # The first metric is on an axis of the scatter and of the parallel coordinates.
    scatter = page.locator("[data-panel='scatter']")
    expect(scatter.get_by_label("Y axis")).to_have_value(re.compile(r"^metrics\."))
    parallel = page.locator("[data-panel='parallel']").get_by_role(
        "img", name=re.compile("^Parallel coordinates")
    )
    assert "metrics." in (parallel.get_attribute("aria-label") or "")
    for width in WIDTHS:
        _width(page, width)
        expect(bars).to_be_visible()
        _no_sideways_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"workspace-{width}.png"))

    # Full screen and back; remove and move panels.
    page.get_by_role("button", name="Full screen: r2").click()
    expect(r2).to_have_class(re.compile(r"\bfull\b"))
    page.keyboard.press("Escape")
    expect(r2).not_to_have_class(re.compile(r"\bfull\b"))
    page.get_by_role("button", name="Remove mae").click()
    expect(page.locator("[data-panel='metric:mae']")).to_have_count(0)
    first = page.locator("article.panel").first
    expect(first).to_have_attribute("data-panel", "metric:eval_mse")
    page.get_by_role("button", name="Move eval_mse later").click()
    expect(first).to_have_attribute("data-panel", "metric:r2")

    # A run hidden in the table leaves the charts.
    page.get_by_role("tab", name="Table").click()
    page.get_by_role("button", name="Show forest in charts").click()
    page.get_by_role("tab", name="Charts").click()
    expect(bars.locator("g.bar")).to_have_count(2, timeout=TIMEOUT)
    expect(bars.locator(f"g.bar[data-run-id='{course['forest']}']")).to_have_count(0)
    # The list beside the charts toggles the same: lasso hidden there, forest shown again.
    runs = page.get_by_role("complementary", name="Runs in the charts")
    runs.get_by_role("button", name="Show lasso in charts").click()
    runs.get_by_role("button", name="Show forest in charts").click()
    expect(bars.locator("g.bar")).to_have_count(2)
    expect(bars.locator(f"g.bar[data-run-id='{course['lasso']}']")).to_have_count(0)
    expect(runs.get_by_role("button", name="Show lasso in charts")).to_have_attribute(
        "aria-pressed", "false"
    )


def test_compare_bars_diffs_and_axes(page: Any, site: Site, course: dict[str, str]) -> None:
    ids = ",".join(course[n] for n in ("ridge", "lasso", "baseline"))
    page.goto(f"{site.url}/#/compare?runs={ids}&charts=mae")
    table = page.get_by_role("table", name="Run comparison")
    expect(table).to_be_visible(timeout=TIMEOUT)
    # baseline has no copy_X: ridge and lasso agree on it, so it is no difference.
    expect(table.locator("tr[data-key='params.copy_X']")).not_to_have_class("diff")
    expect(table.locator("tr[data-key='params.alpha']")).to_have_class("diff")
    expect(table.locator("tr[data-key='metrics.mae']")).to_have_class("diff")
    bars = page.get_by_role("img", name="Bar chart of mae")
    expect(bars.locator("g.bar")).to_have_count(3, timeout=TIMEOUT)
    expect(page.get_by_label("Y axis")).to_have_value(re.compile(r"^metrics\."))
    assert page.get_by_label("X axis").last.input_value() != "params.copy_X"
    parallel = page.get_by_role("img", name=re.compile("^Parallel coordinates"))
    assert "metrics." in (parallel.get_attribute("aria-label") or "")
    for width in WIDTHS:
        _width(page, width)
        expect(bars).to_be_visible()
        _no_sideways_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"compare-{width}.png"))


def test_rows_virtualized_and_fetched_as_the_table_scrolls(page: Any, site: Site) -> None:
    import traza
    from traza.entities import Metric, Param

    client = traza.MlflowClient(tracking_uri=site.url)
    exp = client.create_experiment("many runs")
    many = 130  # a first page of 100, then the rest as the table nears its end
    for i in range(many):
        run = client.create_run(exp, run_name=f"r{i:03d}", start_time=1_700_000_000_000 + i)
        client.log_batch(
            run.info.run_id, metrics=[Metric("m", i / many, 0, 0)], params=[Param("p", str(i))]
        )
    page.goto(f"{site.url}/#/experiments/{exp}")
    rows = page.locator("table[aria-label=Runs] tbody tr[data-run-id]")
    expect(rows.first).to_contain_text("r129", timeout=TIMEOUT)
    expect(page.locator(".run-count")).to_have_text(f"{many} runs · 100 loaded")
    assert rows.count() < 60  # only the rows in view (and a few) are in the page
    box = page.locator(".runs-wrap")
    for _ in range(20):
        box.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        if page.locator("td.name[title=r000]").count():
            break
        page.wait_for_timeout(100)
    expect(page.locator("td.name[title=r000]")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".run-count")).to_have_text(f"{many} runs")
    assert rows.count() < 60
    # The keyboard moves between rows, scrolling the table as it goes.
    page.get_by_role("link", name="r000", exact=True).focus()
    page.keyboard.press("Home")
    expect(page.get_by_role("link", name="r129", exact=True)).to_be_focused(timeout=TIMEOUT)
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("link", name="r128", exact=True)).to_be_focused()
    page.keyboard.press("End")
    expect(page.get_by_role("link", name="r000", exact=True)).to_be_focused(timeout=TIMEOUT)
    page.keyboard.press("ArrowUp")
    expect(page.get_by_role("link", name="r001", exact=True)).to_be_focused()
    _no_sideways_scroll(page)


def test_compare_keeps_the_tables_colours(page: Any, site: Site, course: dict[str, str]) -> None:
    page.goto(f"{site.url}/#/experiments/{course['experiment']}")
    colour = "e => getComputedStyle(e).backgroundColor"
    dots = {}
    for name in ("lasso", "baseline"):
        row = page.locator(f"tr[data-run-id='{course[name]}']")
        expect(row).to_be_visible(timeout=TIMEOUT)
        dots[name] = row.locator(".run-dot").evaluate(colour)
        page.get_by_role("checkbox", name=f"Select run {name}").check()
    assert dots["lasso"] != dots["baseline"]
    page.get_by_role("button", name="Compare 2 selected").click()
    table = page.get_by_role("table", name="Run comparison")
    expect(table).to_be_visible(timeout=TIMEOUT)
    for name in ("lasso", "baseline"):
        head = table.locator("thead th", has=page.get_by_role("link", name=name, exact=True))
        assert head.locator(".swatch").evaluate(colour) == dots[name]


#: The workspace's group headings (``# System``) and metric panels, in the page's order.
ORDER = """(root) => [...root.querySelectorAll('h3.panel-group, [data-panel^="metric:"]')]
  .map((e) => e.matches('h3') ? `# ${e.textContent.trim()}` : e.dataset.panel.slice(7))"""


def test_system_metrics_charted_in_a_group_of_their_own(
    page: Any, site: Site, course: dict[str, str]
) -> None:
    """``system/`` metrics (log_system_metrics=True) come after the model's, under "System"."""
    page.goto(f"{site.url}/#/experiments/{course['experiment']}?tab=charts")
    panels = page.locator(".workspace .panels")
    expect(panels.locator("[data-panel='metric:system/cpu']")).to_be_visible(timeout=TIMEOUT)
    order = panels.evaluate(ORDER)
    assert order[-2:] == ["# System", "system/cpu"], order
    assert {"mae", "r2", "eval_mse"} <= set(order[:-2]), order
    page.screenshot(path=str(SCREENSHOTS / "workspace-system-group.png"), full_page=True)

    page.goto(f"{site.url}/#/runs/{course['forest']}?tab=metrics")
    group = page.get_by_role("region", name="System")
    expect(group.locator("figure.chart")).to_have_count(1, timeout=TIMEOUT)
    expect(group).to_contain_text("system/cpu")
    charts = page.locator("figure.chart")
    expect(charts).to_have_count(4)
    # The model's three charts come first, outside the group.
    assert charts.evaluate_all(
        "els => els.map(e => !!e.closest('section[aria-labelledby=system-group]'))"
    ) == [
        False,
        False,
        False,
        True,
    ]


def test_group_by_a_param_with_each_metrics_count_mean_min_max(
    page: Any, site: Site, course: dict[str, str]
) -> None:
    page.goto(f"{site.url}/#/experiments/{course['experiment']}")
    expect(page.get_by_role("table", name="Runs")).to_be_visible(timeout=TIMEOUT)
    page.get_by_label("Group by").select_option("params.copy_X")
    groups = page.get_by_role("table", name="Runs grouped by copy_X")
    expect(groups).to_contain_text("2 groups by param copy_X over all 4 runs", timeout=TIMEOUT)
    # ridge, lasso and forest have copy_X; baseline has not.
    kept = groups.locator("tr[data-group='True']")
    expect(kept.locator("td").first).to_have_text("3")
    expect(kept.locator("td[data-metric=mae]")).to_have_text("0.28 (0.22 – 0.31)")
    expect(kept.locator("td[data-metric=r2]")).to_have_text("0.79 (0.64 – 0.91)")
    none = groups.locator("tr[data-group='(none)']")
    expect(none.locator("td").first).to_have_text("1")
    expect(none.locator("td[data-metric=mae]")).to_have_text("0.52 (0.52 – 0.52)")
    expect(none.locator("td[data-metric=r2]")).to_have_text("–")
    assert "group=params.copy_X" in page.url  # a link shares the grouping
    page.screenshot(path=str(SCREENSHOTS / "runs-grouped.png"), full_page=True)


def test_group_by_covers_runs_not_loaded_yet(page: Any, site: Site) -> None:
    """150 runs, of which the table loads the first 100: the groups count all 150, with each
    metric's mean, min and max over all of them (the server groups them)."""
    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient(tracking_uri=site.url)
    exp = client.create_experiment("many")
    for i in range(150):
        run_id = client.create_run(exp, run_name=f"r{i:03d}").info.run_id
        client.log_batch(run_id, [Metric("score", i, 0, 0)], [Param("fold", str(i % 3))])
    page.goto(f"{site.url}/#/experiments/{exp}?group=params.fold")
    expect(page.locator(".run-count")).to_contain_text("100 loaded", timeout=TIMEOUT)
    groups = page.get_by_role("table", name="Runs grouped by fold")
    expect(groups).to_contain_text("3 groups by param fold over all 150 runs", timeout=TIMEOUT)
    for fold, (low, high) in {"0": (0, 147), "1": (1, 148), "2": (2, 149)}.items():
        row = groups.locator(f"tr[data-group='{fold}']")
        expect(row.locator("td").first).to_have_text("50")
        mean = (low + high) / 2
        expect(row.locator("td[data-metric=score]")).to_have_text(f"{mean:g} ({low} – {high})")
    page.screenshot(path=str(SCREENSHOTS / "runs-grouped-150.png"), full_page=True)
