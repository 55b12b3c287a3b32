"""The web UI in Chromium against a live server: each page, as a user drives it."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from .conftest import SCREENSHOTS, ConsoleErrors
from .seed import LONG, SPIKE, Seeded

TIMEOUT = 10_000
RF_FILTER = "params.model = 'rf' and metrics.rmse < 1"


def open_page(page: Any, site: Seeded, route: str) -> None:
    page.goto(f"{site.url}/#/{route}")


def run_names(page: Any) -> list[str]:
    names = page.locator("table[aria-label=Runs] tbody td.name a").all_inner_texts()
    return [n.strip() for n in names]


def test_experiments_page_lists_creates_and_renames(page: Any, site: Seeded) -> None:
    open_page(page, site, "")
    table = page.get_by_role("table", name="Experiments")
    expect(table.get_by_role("link", name="ui-tests")).to_be_visible(timeout=TIMEOUT)
    expect(table.get_by_role("link", name="other experiment")).to_be_visible()

    page.get_by_label("Search experiments").fill("other")
    page.get_by_label("Search experiments").press("Enter")
    expect(table.get_by_role("link", name="other experiment")).to_be_visible()
    expect(table.get_by_role("link", name="ui-tests")).to_have_count(0)
    assert "q=other" in page.url

    page.get_by_label("New experiment").fill("made in the browser")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="made in the browser")).to_be_visible(timeout=TIMEOUT)
    assert re.search(r"#/experiments/\d+", page.url)

    open_page(page, site, "?q=browser")
    page.get_by_role("button", name="Rename made in the browser").click()
    page.get_by_label("New name for made in the browser").fill("renamed in the browser")
    page.get_by_role("button", name="Save").click()
    expect(table.get_by_role("link", name="renamed in the browser")).to_be_visible(timeout=TIMEOUT)


def test_runs_table_filter_with_the_search_grammar(page: Any, site: Seeded) -> None:
    open_page(page, site, f"experiments/{site.experiment_id}")
    expect(page.get_by_role("table", name="Runs")).to_be_visible(timeout=TIMEOUT)
    assert set(run_names(page)) == {"rf-small", "rf-large", "linear", "sweep"}

    page.get_by_label("Filter runs").fill(RF_FILTER)
    page.get_by_label("Filter runs").press("Enter")
    expect(page.locator("table[aria-label=Runs] tbody tr")).to_have_count(2, timeout=TIMEOUT)
    assert set(run_names(page)) == {"rf-small", "rf-large"}
    assert "filter=" in page.url

    # The filter lives in the URL: a reload (or a shared link) shows the same runs.
    page.reload()
    expect(page.locator("table[aria-label=Runs] tbody tr")).to_have_count(2, timeout=TIMEOUT)
    expect(page.get_by_label("Filter runs")).to_have_value(RF_FILTER)


def test_invalid_filter_shows_the_servers_error_inline(
    page: Any, site: Seeded, console_errors: ConsoleErrors
) -> None:
    console_errors.expect(r"status of 400 .*/runs/search\)$")  # the bad filter, on purpose
    open_page(page, site, f"experiments/{site.experiment_id}")
    page.get_by_label("Filter runs").fill("metrics.rmse <> 'x'")
    page.get_by_label("Filter runs").press("Enter")
    error = page.get_by_role("alert", name="Filter error")
    expect(error).to_be_visible(timeout=TIMEOUT)
    assert "rmse" in error.inner_text() or "<>" in error.inner_text()
    expect(page.get_by_label("Filter runs")).to_have_attribute("aria-invalid", "true")


def test_sort_by_a_metric_column_on_the_server(page: Any, site: Seeded) -> None:
    open_page(page, site, f"experiments/{site.experiment_id}?cols=metrics.rmse,params.n_estimators")
    table = page.get_by_role("table", name="Runs")
    expect(table).to_be_visible(timeout=TIMEOUT)

    header = table.locator("th[data-col='metrics.rmse']")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending", timeout=TIMEOUT)
    expect(page.locator("table[aria-label=Runs] tbody tr").first).to_contain_text("linear")
    assert "sort=metrics.rmse" in page.url

    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending", timeout=TIMEOUT)
    expect(page.locator("table[aria-label=Runs] tbody tr").first).to_contain_text("rf-large")
    names = run_names(page)
    assert names.index("rf-large") < names.index("rf-small") < names.index("linear")


def test_column_picker_and_nested_runs(page: Any, site: Seeded) -> None:
    open_page(page, site, f"experiments/{site.experiment_id}")
    expect(page.get_by_role("table", name="Runs")).to_be_visible(timeout=TIMEOUT)
    page.get_by_text(re.compile(r"^Columns \(\d+\)$")).click()
    # The defaults (metrics, the most common params) are shown already; a tag is added.
    expect(page.locator("th[data-col='params.n_estimators']")).to_be_visible()
    page.get_by_role("checkbox", name="team").check()
    expect(page.locator("th[data-col='tags.team']")).to_be_visible()
    assert "tags.team" in page.url
    page.keyboard.press("Escape")

    page.get_by_role("button", name="Expand 2 child runs").click()
    names = run_names(page)
    assert names.index("sweep") < names.index("trial-0")
    assert names.index("sweep") < names.index("trial-1")


def test_run_page_overview_and_description(page: Any, site: Seeded) -> None:
    open_page(page, site, f"runs/{site.runs['rf-small']}")
    expect(page.get_by_role("heading", name="rf-small")).to_be_visible(timeout=TIMEOUT)
    params = page.get_by_role("table", name="Parameters")
    expect(params).to_contain_text("n_estimators")
    metrics = page.get_by_role("table", name="Metrics")
    expect(metrics.get_by_role("row", name=re.compile("rmse"))).to_contain_text("60")
    expect(page.get_by_role("table", name="Tags")).to_contain_text("vision")

    # An empty description shows only the button that adds one (no "None.").
    expect(page.locator("#ov-description + div")).to_have_text("Add a description")
    page.get_by_role("button", name="Add a description").click()
    page.get_by_role("textbox", name="Description").fill("Baseline with ten trees.")
    page.get_by_role("button", name="Save description").click()
    expect(page.locator(".description")).to_have_text("Baseline with ten trees.", timeout=TIMEOUT)
    page.reload()
    expect(page.locator(".description")).to_have_text("Baseline with ten trees.", timeout=TIMEOUT)

    open_page(page, site, f"runs/{site.runs['trial-0']}")
    details = page.get_by_role("table", name="Run details")
    expect(details.get_by_role("link", name=site.runs["sweep"])).to_be_visible(timeout=TIMEOUT)


def test_run_page_shows_lineage(page: Any, site: Seeded) -> None:
    open_page(page, site, f"runs/{site.runs['elsewhere']}")
    lineage = page.get_by_role("table", name="Lineage")
    expect(lineage).to_contain_text("entrenamiento_evaluacion", timeout=TIMEOUT)
    expect(lineage).to_contain_text("python src/model_eng/stage_1_2_train_evaluate.py")
    expect(lineage).to_contain_text("0123456789ab")
    expect(lineage).to_contain_text("uncommitted changes")
    expect(lineage).to_contain_text(f"traza reproduce {site.runs['elsewhere']}")
    expect(lineage.get_by_role("link", name="reproduction")).to_be_visible(timeout=TIMEOUT)
    datasets = page.get_by_role("table", name="Datasets")
    expect(datasets).to_contain_text("dvc data/processed (2.0 MB, 2 files)")
    page.screenshot(path=str(SCREENSHOTS / "run-lineage.png"), full_page=True)
    lineage.get_by_role("link", name="requirements.txt").click()
    assert "artifact=environment%2Frequirements.txt" in page.url
    open_page(page, site, f"runs/{site.runs['reproduction']}")
    link = page.get_by_role("table", name="Lineage").get_by_role(
        "link", name=site.runs["elsewhere"]
    )
    expect(link).to_have_text(site.runs["elsewhere"], timeout=TIMEOUT)


def test_artifact_previews(page: Any, site: Seeded) -> None:
    open_page(page, site, f"runs/{site.runs['rf-small']}?tab=artifacts")
    tree = page.get_by_role("navigation", name="Artifacts")

    tree.get_by_role("button", name=re.compile("^notes.txt")).click()
    expect(page.locator(".preview pre")).to_contain_text("second line", timeout=TIMEOUT)

    tree.get_by_role("button", name=re.compile("^config.json")).click()
    expect(page.locator(".preview pre")).to_contain_text('"layers": [', timeout=TIMEOUT)

    tree.get_by_role("button", name="▸ data/").click()
    tree.get_by_role("button", name=re.compile("^importance.csv")).click()
    csv = page.get_by_role("table", name="CSV preview")
    expect(csv.locator("thead")).to_contain_text("importance", timeout=TIMEOUT)
    expect(csv.locator("tbody tr")).to_have_count(3)
    expect(csv).to_contain_text("income, yearly")

    tree.get_by_role("button", name="▸ images/").click()
    tree.get_by_role("button", name=re.compile("^plot.png")).click()
    image = page.locator("img.preview-image")
    expect(image).to_be_visible(timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelector('img.preview-image').naturalWidth === 2")

    tree.get_by_role("button", name=re.compile("^report.html")).click()
    frame = page.frame_locator("iframe.preview-html")
    expect(frame.locator("#report")).to_have_text("Model report", timeout=TIMEOUT)

    # The run's logged model (MLflow 3 keeps its files apart) comes first, then its own model/.
    folders = tree.get_by_role("button", name="▸ model/")
    expect(folders).to_have_count(2)
    folders.last.click()
    tree.get_by_role("button", name=re.compile("^MLmodel")).click()
    inputs = page.get_by_role("table", name="Signature inputs")
    expect(inputs).to_be_visible(timeout=TIMEOUT)
    expect(inputs.locator("tbody tr")).to_have_count(1)
    expect(inputs).to_contain_text("tensor")
    assert "artifact=model%2FMLmodel" in page.url or "artifact=model/MLmodel" in page.url


def test_metric_chart_overlays_runs(page: Any, site: Seeded) -> None:
    runs = ",".join([site.runs["rf-small"], site.runs["linear"]])
    open_page(page, site, f"compare?runs={runs}&charts=rmse")
    chart = page.locator("figure.chart[data-metric=rmse]")
    expect(chart.locator("canvas")).to_have_count(1, timeout=TIMEOUT)
    legend = chart.locator(".u-legend")
    expect(legend).to_contain_text("rf-small")
    expect(legend).to_contain_text("linear")

    page.get_by_label("Log scale").check()
    page.get_by_label("X axis").first.select_option("relative")
    expect(chart.locator("canvas")).to_have_count(1, timeout=TIMEOUT)
    expect(chart).to_contain_text("Relative time")
    assert "log=1" in page.url and "x=relative" in page.url

    open_page(page, site, f"runs/{site.runs['rf-large']}?tab=metrics")
    accuracy = page.locator("figure.chart[data-metric=accuracy] canvas")
    expect(accuracy).to_have_count(1, timeout=TIMEOUT)
    expect(page.locator("figure.chart[data-metric=rmse] .u-legend")).to_contain_text("rf-large")


def test_zooming_into_a_sampled_chart_fetches_the_detail(page: Any, site: Seeded) -> None:
    open_page(page, site, f"runs/{site.runs['elsewhere']}?tab=metrics")
    chart = page.locator("figure.chart[data-metric=loss]")
    expect(chart).to_contain_text(f"of {LONG:,} points drawn", timeout=TIMEOUT)
    canvas = chart.locator(".chart-canvas")
    expect(canvas).to_have_attribute("data-zoomed", "false")
    box = chart.locator(".u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    with page.expect_request(lambda r: "metrics/history" in r.url and "x_min=" in r.url) as zoom:
        page.mouse.move(box["x"] + box["width"] * 0.60, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.62, y, steps=4)
        page.mouse.up()
    x_min = int(re.search(r"x_min=(\d+)", zoom.value.url).group(1))  # type: ignore[union-attr]
    x_max = int(re.search(r"x_max=(\d+)", zoom.value.url).group(1))  # type: ignore[union-attr]
    assert SPIKE - 1_000 < x_min < x_max < SPIKE + 1_000 and x_max - x_min < 1_000
    expect(canvas).to_have_attribute("data-zoomed", "true", timeout=TIMEOUT)
    expect(chart).to_contain_text(f"Zoomed: {x_max - x_min + 1:,} points in view, every one")
    page.screenshot(path=str(SCREENSHOTS / "chart-zoomed.png"))
    chart.locator(".u-over").dblclick()
    expect(canvas).to_have_attribute("data-zoomed", "false", timeout=TIMEOUT)
    expect(chart).to_contain_text(f"of {LONG:,} points drawn")


def test_compare_two_runs(page: Any, site: Seeded) -> None:
    open_page(page, site, f"experiments/{site.experiment_id}")
    expect(page.get_by_role("table", name="Runs")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("checkbox", name="Select run rf-small").check()
    page.get_by_role("checkbox", name="Select run rf-large").check()
    page.get_by_role("button", name="Compare 2 selected").click()

    table = page.get_by_role("table", name="Run comparison")
    expect(table).to_be_visible(timeout=TIMEOUT)
    expect(table.locator("tr[data-key='params.n_estimators']")).to_have_class("diff")
    expect(table.locator("tr[data-key='params.model']")).not_to_have_class("diff")
    expect(table.locator("tr[data-key='params.n_estimators']")).to_contain_text("100")

    plot = page.get_by_role("img", name=re.compile("^Parallel coordinates"))
    expect(plot.locator("polyline")).to_have_count(2)
    scatter = page.get_by_role("img", name=re.compile("^Scatter of"))
    expect(scatter.locator("circle")).to_have_count(2)

    page.get_by_label("Only show differences").check()
    expect(table.locator("tr[data-key='params.model']")).to_have_count(0)


def test_models_page(page: Any, site: Seeded) -> None:
    open_page(page, site, "models")
    registered = page.get_by_role("table", name="Registered models")
    expect(registered.get_by_role("link", name=site.model_name)).to_be_visible(timeout=TIMEOUT)
    expect(registered).to_contain_text("@champion")
    expect(page.get_by_role("table", name="Logged models")).to_contain_text("model")

    page.get_by_role("table", name="Logged models").get_by_role("button", name="model").click()
    logged = page.get_by_label(re.compile("^Logged model model"))
    expect(logged.get_by_role("table", name="Signature inputs")).to_be_visible(timeout=TIMEOUT)

    registered.get_by_role("link", name=site.model_name).click()
    versions = page.get_by_role("table", name="Model versions")
    expect(versions).to_contain_text("Version 2", timeout=TIMEOUT)
    expect(versions.get_by_role("row", name=re.compile("Version 2"))).to_contain_text("@champion")
    # Version 2's files are among its run's artifacts, version 1's are a logged model's.
    expect(page.get_by_role("table", name="Signature inputs")).to_be_visible(timeout=TIMEOUT)
    versions.get_by_role("button", name="Version 1").click()
    expect(page.get_by_label("Version 1", exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Signature inputs")).to_be_visible(timeout=TIMEOUT)


def test_models_page_edits_aliases_tags_and_description(
    page: Any, site: Seeded, console_errors: ConsoleErrors
) -> None:
    import traza

    console_errors.expect(r"status of 400 .*/registered-models/alias\)$")  # "latest", below

    open_page(page, site, f"models/{site.model_name}")
    versions = page.get_by_role("table", name="Model versions")
    expect(versions).to_contain_text("Version 1", timeout=TIMEOUT)
    versions.get_by_role("button", name="Version 1").click()
    form = page.get_by_role("form", name="Set an alias on version 1")
    form.get_by_label("Alias").fill("staging")
    form.get_by_role("button", name="Set alias").click()
    row = versions.get_by_role("row", name=re.compile("Version 1"))
    expect(row).to_contain_text("@staging", timeout=TIMEOUT)

    tag_form = page.get_by_role("form", name="Add a tag to the model")
    tag_form.get_by_label("Tag key").fill("reviewed")
    tag_form.get_by_label("Tag value").fill("yes")
    tag_form.get_by_role("button", name="Add tag").click()
    details = page.get_by_role("table", name="Registered model details")
    expect(details).to_contain_text("reviewed: yes", timeout=TIMEOUT)

    details.get_by_role("button", name="Remove alias @champion").click()
    expect(versions).not_to_contain_text("@champion", timeout=TIMEOUT)
    details.get_by_role("button", name="Add a description").click()
    details.get_by_label("Description").fill("Salary regressor, reviewed.")
    details.get_by_role("button", name="Save description").click()
    expect(details).to_contain_text("Salary regressor, reviewed.", timeout=TIMEOUT)
    page.screenshot(path=str(SCREENSHOTS / "model-edited.png"), full_page=True)

    # The edits reached the store: the client reads them back.
    model = traza.MlflowClient(tracking_uri=site.url).get_registered_model(site.model_name)
    assert model.aliases == {"staging": "1"}
    assert model.tags["reviewed"] == "yes" and model.tags["owner"] == "ui"
    assert model.description == "Salary regressor, reviewed."

    bad = page.get_by_role("form", name="Set an alias on version 1")
    bad.get_by_label("Alias").fill("latest")  # reserved by MLflow's registry
    bad.get_by_role("button", name="Set alias").click()
    expect(page.get_by_role("alert")).to_contain_text("latest", timeout=TIMEOUT)


HOSTILE = (
    "<html><head><style>h1 { color: rgb(200, 0, 0) }</style></head><body>"
    "<h1 id='hostile'>Hostile report</h1>"
    "<img id='pic' alt='dot' src='data:image/gif;base64,R0lGODlhAQABAAAAACw=' />"
    "<script>document.getElementById('hostile').textContent = 'script ran';"
    "parent.document.title = 'pwned';"
    "fetch('/api/2.0/mlflow/experiments/create', {method: 'POST', headers: "
    "{'Content-Type': 'application/json'}, body: JSON.stringify({name: 'from-preview'})});"
    "</script></body></html>"
)


def test_html_preview_is_sandboxed(page: Any, site: Seeded, console_errors: ConsoleErrors) -> None:
    """An HTML artifact renders (styles, data: images) but runs nothing and cannot reach the
    page: the frame is sandboxed without scripts or same-origin (an opaque origin)."""
    import traza

    # The hostile script being blocked is the point of the test.
    console_errors.expect(r"^Blocked script execution in 'about:srcdoc'.*sandboxed")

    client = traza.MlflowClient(tracking_uri=site.url)
    client.log_text(site.runs["linear"], HOSTILE, "hostile.html")
    open_page(page, site, f"runs/{site.runs['linear']}?tab=artifacts")
    title = page.title()
    page.get_by_role("navigation", name="Artifacts").get_by_role(
        "button", name=re.compile("^hostile.html")
    ).click()
    frame = page.frame_locator("iframe.preview-html")
    heading = frame.locator("#hostile")
    expect(heading).to_have_text("Hostile report", timeout=TIMEOUT)
    expect(heading).to_have_css("color", "rgb(200, 0, 0)")
    frame.locator("#pic").wait_for(timeout=TIMEOUT)
    iframe = page.locator("iframe.preview-html")
    assert iframe.get_attribute("sandbox") == ""
    assert "Content-Security-Policy" in (iframe.get_attribute("srcdoc") or "")
    inner = next(f for f in page.frames if f.url == "about:srcdoc")
    reach = "() => { try { return parent.document.title } catch (e) { return e.name } }"
    assert inner.evaluate(reach) == "SecurityError"
    assert inner.evaluate("() => window.origin") == "null"
    page.wait_for_timeout(500)
    assert page.title() == title != "pwned"
    names = [e.name for e in client.search_experiments()]
    assert "from-preview" not in names


SVG = (
    "<svg xmlns='http://www.w3.org/2000/svg' width='4' height='3' "
    "onload=\"parent.document.title = 'pwned'\"><rect width='4' height='3' fill='red'/>"
    "<script>parent.document.title = 'pwned';</script></svg>"
)


def test_svg_preview_is_an_image(page: Any, site: Seeded) -> None:
    """An SVG is shown as an image, where it cannot run scripts; the file is never inline."""
    import traza

    traza.MlflowClient(tracking_uri=site.url).log_text(site.runs["linear"], SVG, "hostile.svg")
    open_page(page, site, f"runs/{site.runs['linear']}?tab=artifacts")
    title = page.title()
    page.get_by_role("navigation", name="Artifacts").get_by_role(
        "button", name=re.compile("^hostile.svg")
    ).click()
    expect(page.locator("img.preview-image")).to_be_visible(timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelector('img.preview-image').naturalWidth === 4")
    page.wait_for_timeout(500)
    assert page.title() == title != "pwned"
    src = page.locator("img.preview-image").get_attribute("src") or ""
    response = page.request.get(f"{site.url}/{src.lstrip('./')}")
    assert response.headers["content-disposition"] == "attachment; filename=hostile.svg"
    assert response.headers["x-content-type-options"] == "nosniff"
