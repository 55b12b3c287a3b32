"""The web UI in the course's own setups, at the widths people use.

Two sites the way the course makes them: runs logged by the real ``mlflow`` client into
``traza server --default-artifact-root ./mlruns`` (the client writes the files itself), and a
local store logged by Traza's client and served as ``traza ui`` serves it. In both the model's
files live outside anything proxied: the pages must still show its signature and example.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from conftest import Bucket
from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer
from traza.server.settings import resolve_artifact_root

from .conftest import SCREENSHOTS, ConsoleErrors

TIMEOUT = 15_000
WIDTHS = (1280, 1440, 1920)
LOGGING = Path(__file__).parent / "mlflow_logging.py"


@dataclass(frozen=True)
class Site:
    url: str
    experiment_id: str
    run_id: str
    model_id: str
    #: The run link the client printed (MLflow's "View run ... at: <url>"), if any.
    printed_link: str = ""
    empty_experiment_id: str = ""


def _ids(url: str, name: str) -> tuple[str, str, str]:
    import traza

    client = traza.MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    models = client.search_logged_models([experiment.experiment_id])
    return experiment.experiment_id, run.info.run_id, models[0].model_id


@pytest.fixture(scope="module")
def file_root_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``traza server --default-artifact-root ./mlruns``, logged into by ``mlflow`` itself."""
    root = tmp_path_factory.mktemp("ui-file-root")
    settings = ServerSettings(
        backend_store_uri=f"sqlite:///{root / 'tracking.db'}",
        default_artifact_root=resolve_artifact_root(str(root / "mlruns"), True),
    )
    with BackgroundServer(create_app(settings)) as server:
        env = {**os.environ, "MLFLOW_TRACKING_URI": server.url, "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(
            [sys.executable, str(LOGGING), server.url],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        link = re.search(r"View run mlflow-run at: (\S+)", output)
        assert link, output
        experiment_id, run_id, model_id = _ids(server.url, "salary")
        assert (root / "mlruns").is_dir()  # the client wrote the files, not the server
        import traza

        empty = traza.MlflowClient(tracking_uri=server.url).get_experiment_by_name("empty")
        assert empty is not None
        yield Site(server.url, experiment_id, run_id, model_id, link.group(1), empty.experiment_id)


def log_with_traza(store: Path, experiment: str, artifact_location: str | None = None) -> None:
    """A run with a logged sklearn model, by Traza's client straight into a local store."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    import traza
    import traza.sklearn
    from traza.models import infer_signature

    traza.set_tracking_uri(str(store))
    try:
        traza.set_experiment(
            experiment_id=traza.create_experiment(experiment, artifact_location=artifact_location)
        )
        x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0]])
        fitted = LinearRegression().fit(x, np.array([1.0, 2.0, 3.0]))
        with traza.start_run(run_name="local-run"):
            traza.log_metric("training_root_mean_squared_error", 0.25)
            traza.sklearn.log_model(
                fitted,
                name="local_model",
                signature=infer_signature(x, fitted.predict(x)),
                input_example=x[:2],
            )
    finally:
        traza.set_tracking_uri(None)


@pytest.fixture(scope="module")
def local_store_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A local store logged by Traza's client, served as ``traza ui`` serves it."""
    store = tmp_path_factory.mktemp("ui-local") / "mlruns"
    log_with_traza(store, "local salary")
    settings = ServerSettings(backend_store_uri=str(store), default_artifact_root=None)
    with BackgroundServer(create_app(settings)) as server:
        yield Site(server.url, *_ids(server.url, "local salary"))


def check_model_page(page: Any, site: Site, model_name: str) -> None:
    """The logged model's page: name, flavor, signature, example, requirements, load code."""
    model = page.get_by_label("Model", exact=True)
    expect(page.get_by_role("heading", name=model_name, exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(model.get_by_role("table", name="Model summary")).to_contain_text("sklearn")
    inputs = model.get_by_role("table", name="Signature inputs")
    expect(inputs).to_contain_text("tensor float64 [-1, 2]", timeout=TIMEOUT)
    expect(model.get_by_role("table", name="Signature outputs")).to_be_visible()
    expect(model.get_by_role("table", name="Input example").locator("tbody tr")).to_have_count(2)
    expect(model.get_by_label("Requirements")).to_contain_text("scikit-learn==")
    code = model.get_by_label("Code to load the model")
    expect(code).to_contain_text(f'mlflow.pyfunc.load_model("models:/{site.model_id}")')


def test_mlflow_clients_printed_link_opens_the_run(page: Any, file_root_site: Site) -> None:
    site = file_root_site
    assert site.printed_link.endswith(f"#/experiments/{site.experiment_id}/runs/{site.run_id}")
    page.goto(site.printed_link)
    expect(page.get_by_role("heading", name="mlflow-run")).to_be_visible(timeout=TIMEOUT)
    # The breadcrumb names the experiment; logged models are listed by name.
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs.get_by_role("link", name="salary")).to_be_visible(timeout=TIMEOUT)
    models = page.locator("section[aria-labelledby=ov-models]")
    expect(models.get_by_role("link", name="salary_model")).to_be_visible(timeout=TIMEOUT)
    expect(models).not_to_contain_text("m-")
    # MLflow's tab paths open the same tabs here.
    page.goto(f"{site.printed_link}/artifacts")
    tree = page.get_by_role("navigation", name="Artifacts")
    expect(tree.get_by_role("button", name="▸ salary_model/")).to_be_visible(timeout=TIMEOUT)


def test_model_with_a_file_artifact_root(page: Any, file_root_site: Site) -> None:
    """--default-artifact-root ./mlruns: the client wrote the model; the server shows it."""
    site = file_root_site
    page.goto(f"{site.url}/#/experiments/{site.experiment_id}/runs/{site.run_id}")
    page.locator("section[aria-labelledby=ov-models]").get_by_role(
        "link", name="salary_model"
    ).click()
    check_model_page(page, site, "salary_model")
    details = page.get_by_role("table", name="Logged model details")
    expect(details.get_by_role("link", name="mlflow-run")).to_be_visible()
    expect(details.get_by_role("link", name="salary-model v1")).to_have_count(1)

    # The run's Artifacts tab holds the logged model as a folder, its page as the model view.
    page.goto(f"{site.url}/#/runs/{site.run_id}?tab=artifacts")
    tree = page.get_by_role("navigation", name="Artifacts")
    tree.get_by_role("button", name="logged model").click()
    check_model_page(page, site, "salary_model")
    tree.get_by_role("button", name="▸ salary_model/").click()
    tree.get_by_role("button", name=re.compile("^input_example.json")).click()
    expect(page.locator(".preview pre")).to_contain_text("[", timeout=TIMEOUT)


def test_registered_version_with_a_file_artifact_root(page: Any, file_root_site: Site) -> None:
    site = file_root_site
    page.goto(f"{site.url}/#/models/salary-model")
    version = page.get_by_label("Version 1", exact=True)
    expect(version.get_by_role("table", name="Signature inputs")).to_be_visible(timeout=TIMEOUT)
    code = version.get_by_label("Code to load the model")
    expect(code).to_contain_text('mlflow.pyfunc.load_model("models:/salary-model/1")')
    row = page.get_by_role("table", name="Model versions").get_by_role("row", name=re.compile("1"))
    expect(row.get_by_role("link", name="mlflow-run")).to_be_visible(timeout=TIMEOUT)


def test_model_in_a_local_store_under_traza_ui(page: Any, local_store_site: Site) -> None:
    site = local_store_site
    page.goto(f"{site.url}/#/experiments/{site.experiment_id}/models/{site.model_id}")
    check_model_page(page, site, "local_model")
    expect(page.get_by_role("table", name="Logged model details")).to_contain_text("local-run")
    page.goto(f"{site.url}/#/runs/{site.run_id}?tab=artifacts&artifact=models:/{site.model_id}")
    check_model_page(page, site, "local_model")


def test_model_with_an_s3_artifact_root(page: Any, bucket: Bucket, tmp_path: Path) -> None:
    """Artifacts in S3 (written by the client itself): the server reads them from its root."""
    root = f"s3://{bucket.name}/artifacts"
    store = tmp_path / "store"
    log_with_traza(store, "s3 salary", f"{root}/salary")
    assert any(k.endswith("/MLmodel") for k in bucket.object_keys())
    settings = ServerSettings(
        backend_store_uri=str(store), default_artifact_root=root, serve_artifacts=False
    )
    with BackgroundServer(create_app(settings)) as server:
        site = Site(server.url, *_ids(server.url, "s3 salary"))
        page.goto(f"{site.url}/#/experiments/{site.experiment_id}/models/{site.model_id}")
        check_model_page(page, site, "local_model")


def test_overview_search_and_long_names(page: Any, file_root_site: Site) -> None:
    site = file_root_site
    page.goto(f"{site.url}/#/runs/{site.run_id}")
    params = page.get_by_role("table", name="Parameters")
    expect(params.locator("tr")).to_have_count(151, timeout=TIMEOUT)
    page.get_by_label("Search parameters, metrics and tags").fill("root_mean")
    expect(params).to_have_count(0)
    metrics = page.get_by_role("table", name="Metrics")
    expect(metrics.locator("tbody tr")).to_have_count(2)
    # A long name is cut to its column, whole on hover.
    name = metrics.get_by_role("link", name="training_root_mean_squared_error")
    expect(name).to_have_attribute("title", "training_root_mean_squared_error")
    page.get_by_label("Search parameters, metrics and tags").fill("param_14")
    expect(params.locator("tr")).to_have_count(10)
    expect(page.locator("#ov-params")).to_have_text("Parameters (10 of 151)")


def test_experiments_list(page: Any, file_root_site: Site) -> None:
    site = file_root_site
    page.goto(f"{site.url}/#/")
    table = page.get_by_role("table", name="Experiments")
    row = table.get_by_role("row", name=re.compile("salary"))
    expect(row).to_contain_text("Salary regression for the course.", timeout=TIMEOUT)
    expect(row).to_contain_text("team: course")
    expect(row.locator("td.num")).to_have_text("1")
    expect(row).to_contain_text(re.compile(r"\d+ (s|min) ago"))
    expect(table.get_by_role("row", name=re.compile("empty")).locator("td.num")).to_have_text("0")


def test_an_empty_experiment_shows_how_to_log_a_first_run(page: Any, file_root_site: Site) -> None:
    site = file_root_site
    page.goto(f"{site.url}/#/experiments/{site.empty_experiment_id}")
    code = page.get_by_label("Code to log a first run")
    expect(code).to_contain_text(
        f'mlflow.set_experiment(experiment_id="{site.empty_experiment_id}")', timeout=TIMEOUT
    )
    expect(page.get_by_label("No runs yet")).to_contain_text(f"MLFLOW_TRACKING_URI={site.url}")
    page.goto(f"{site.url}/#/experiments/{site.experiment_id}")
    expect(page.locator(".run-count")).to_have_text("1 run", timeout=TIMEOUT)


#: The x of the server's caret (``^``, on the message's last line) and of the character of the
#: echoed filter above it: equal only when the text is in a monospace font.
CARET = """(box) => {
  const texts = [...box.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE);
  const node = texts.find((n) => n.data.includes('^'));
  const text = node.data;
  const last = text.lastIndexOf('\\n');
  const above = text.lastIndexOf('\\n', last - 1);
  const column = text.indexOf('^', last) - last - 1;
  const x = (at) => {
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + 1);
    return range.getBoundingClientRect().left;
  };
  const char = text.slice(above + 1 + column, above + 2 + column);
  return [x(last + 1 + column), x(above + 1 + column), char];
}"""


def test_filter_error_caret_points_at_the_character(
    page: Any, file_root_site: Site, console_errors: ConsoleErrors
) -> None:
    site = file_root_site
    console_errors.expect(r"status of 400 .*/runs/search\)$")  # the bad filter, on purpose
    page.goto(f"{site.url}/#/experiments/{site.experiment_id}")
    box = page.get_by_label("Filter runs")
    box.fill("metrics.training_r2_score < 1 and bar = 2 and params.copy_X = 'True'")
    box.press("Enter")
    error = page.get_by_role("alert", name="Filter error")
    expect(error).to_contain_text("^", timeout=TIMEOUT)
    caret, above, character = error.evaluate(CARET)
    assert character == "b" and abs(caret - above) < 1, (caret, above, character)
    assert "monospace" in box.evaluate("(e) => getComputedStyle(e).fontFamily")


#: Pairs of the run page's grid sections whose boxes intersect, and content wider than its
#: section (outside a scrolling container): either is a section drawn over another.
OVERLAPS = """() => {
  const sections = [...document.querySelectorAll('.overview > section')];
  const boxes = sections.map((s) => s.getBoundingClientRect());
  const bad = [];
  const id = (s) => s.getAttribute('aria-labelledby');
  const cross = (a, b) => a.left < b.right - 1 && b.left < a.right - 1;
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (cross(a, b) && a.top < b.bottom - 1 && b.top < a.bottom - 1)
        bad.push(`${id(sections[i])} / ${id(sections[j])}`);
    }
  sections.forEach((s, i) => {
    for (const el of s.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (!r.width || el.closest('.table-wrap')) continue;
      if (r.right > boxes[i].right + 1 || r.left < boxes[i].left - 1)
        bad.push(`${id(s)}: <${el.tagName.toLowerCase()}> sticks out`);
    }
  });
  return [sections.length, bad];
}"""
OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_fit_the_width(page: Any, file_root_site: Site, width: int) -> None:
    """No page scrolls sideways and nothing in the run page's grid overlaps (the runs table,
    the chart workspace and Compare are checked at the same widths in test_runs_workspace)."""
    site = file_root_site
    page.set_viewport_size({"width": width, "height": 900})
    pages = {
        "experiments": ("#/", page.get_by_role("table", name="Experiments")),
        "run-overview": (
            f"#/experiments/{site.experiment_id}/runs/{site.run_id}",
            page.get_by_role("table", name="Datasets"),
        ),
        "run-artifacts": (
            f"#/runs/{site.run_id}?tab=artifacts&artifact=models:/{site.model_id}",
            page.get_by_role("table", name="Signature inputs"),
        ),
        "model": (
            f"#/experiments/{site.experiment_id}/models/{site.model_id}",
            page.get_by_role("table", name="Signature inputs"),
        ),
        "models": ("#/models", page.get_by_role("table", name="Registered models")),
        "registered-model": (
            "#/models/salary-model",
            page.get_by_role("table", name="Model versions").get_by_text("Version 1"),
        ),
    }
    for name, (route, ready) in pages.items():
        page.goto(f"{site.url}/{route}")
        expect(ready).to_be_visible(timeout=TIMEOUT)
        page.wait_for_timeout(300)  # late content (summaries, names) settles
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"width-{width}-{name}.png"), full_page=True)
        scroll, inner = page.evaluate(OVERFLOW)
        assert scroll <= inner, f"{name} at {width} px scrolls sideways: {scroll} > {inner}"
        if name == "run-overview":
            count, bad = page.evaluate(OVERLAPS)
            assert count >= 6 and bad == [], bad
