"""A sweep's parent run page in Chromium: the definition, the best trial, a parallel-coordinates
plot of the trials and the trials table, from a real ``traza sweep`` run through a live
server (the trials log over HTTP), at 1,280, 1,440 and 1,920 px."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from tests.test_sweep import MLPROJECT, TRAIN, children

from server.live import live_server

from .conftest import SCREENSHOTS

TIMEOUT = 15_000
WIDTHS = (1280, 1440, 1920)
FAILS = "import sys\nsys.exit('no')\n"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A live server whose store holds a finished grid sweep (6 trials) and a failed sweep."""
    root = tmp_path_factory.mktemp("ui-sweep")
    project = root / "project"
    project.mkdir()
    (project / "MLproject").write_text(MLPROJECT)
    (project / "train.py").write_text(TRAIN)
    (project / "fails.py").write_text(FAILS)
    with live_server(f"sqlite:///{root / 'tracking.db'}", root) as live:
        saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "PATH")}
        os.environ["MLFLOW_TRACKING_URI"] = live.url
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        try:
            from traza.projects import sweep

            grid = sweep(str(project), parameters={"alpha": "0.1,0.5,0.9",
                         "l1_ratio": "range(0.1, 0.5, 2)"}, metric="rmse", max_parallel=2,
                         env_manager="local", experiment_name="ui-sweeps")  # fmt: skip
            failed = sweep(str(project), "fails_above", {"alpha": "0.8"}, env_manager="local",
                           experiment_name="ui-sweeps")  # fmt: skip
            kids = children(grid.run_id)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        yield {"url": live.url, "grid": grid, "failed": failed, "children": kids}


def test_the_parent_run_page_shows_the_sweep(page: Any, swept: dict[str, Any]) -> None:
    grid = swept["grid"]
    best = grid.best
    assert best is not None and best.params == {"alpha": "0.5", "l1_ratio": "0.1"}
    page.goto(f"{swept['url']}/#/runs/{grid.run_id}")
    section = page.get_by_role("region", name="Sweep", exact=True)
    expect(section).to_be_visible(timeout=TIMEOUT)
    definition = page.get_by_role("table", name="Sweep definition")
    expect(definition).to_contain_text("grid")
    expect(definition).to_contain_text("6 of 6 started")
    expect(definition).to_contain_text("6 finished")
    expect(definition).to_contain_text("minimize rmse")
    expect(definition).to_contain_text("0.1, 0.5, 0.9")
    best_table = page.get_by_role("table", name="Best trial")
    expect(best_table.get_by_role("link", name=f"trial-{best.index}")).to_be_visible()
    expect(best_table).to_contain_text("0.1")
    plot = section.get_by_role("img", name="Parallel coordinates of params.alpha, "
                               "params.l1_ratio, metrics.rmse")  # fmt: skip
    expect(plot).to_be_visible()
    assert plot.locator("polyline").count() == 6
    # Coloured by rmse: the best trial blue, the worst (two trials at 0.66) orange.
    strokes = dict(
        plot.locator("polyline").evaluate_all(
            "ls => ls.map(l => [l.querySelector('title').textContent, l.getAttribute('stroke')])"
        )
    )
    assert strokes[f"trial-{best.index}"] == "hsl(212, 62%, 42%)"
    assert sorted(strokes.values()).count("hsl(28, 62%, 50%)") == 2
    table = page.get_by_role("table", name="Sweep trials")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(6)
    # Best first: ordered by rmse, then by trial when asked.
    assert rows.first.get_attribute("data-run") == best.run_id
    expect(rows.first).to_contain_text("best")
    values = [float(v) for v in table.locator("tbody tr td:nth-child(4)").all_inner_texts()]
    assert values == sorted(values)
    page.get_by_label("Order by").select_option("trial")
    trials = table.locator("tbody tr td:first-child").all_inner_texts()
    assert trials == ["0", "1", "2", "3", "4", "5"]
    table.get_by_role("link", name="trial-2").click()
    expect(page.get_by_role("heading", name="trial-2")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("region", name="Sweep", exact=True)).to_have_count(
        0
    )  # a trial is no sweep


def test_a_failed_sweep_shows_its_failed_trial(page: Any, swept: dict[str, Any]) -> None:
    failed = swept["failed"]
    page.goto(f"{swept['url']}/#/runs/{failed.run_id}")
    expect(page.get_by_role("table", name="Sweep definition")).to_contain_text(
        "1 failed", timeout=TIMEOUT
    )
    expect(page.get_by_role("table", name="Best trial")).to_have_count(0)
    expect(page.get_by_text("No finished trial has logged the metric yet.")).to_be_visible()
    expect(page.get_by_text("No finished trial yet.")).to_be_visible()
    expect(page.get_by_role("table", name="Sweep trials").locator("tbody tr")).to_contain_text(
        "FAILED"
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_the_sweep_fits_each_width(page: Any, swept: dict[str, Any], width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{swept['url']}/#/runs/{swept['grid'].run_id}")
    expect(page.get_by_role("table", name="Sweep trials").locator("tbody tr")).to_have_count(
        6, timeout=TIMEOUT
    )
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"the page scrolls sideways: {sizes[0]} px in {sizes[1]}"
    box = page.get_by_role("img", name="Parallel coordinates of params.alpha, "
                           "params.l1_ratio, metrics.rmse").bounding_box()  # fmt: skip
    assert box is not None and box["x"] + box["width"] <= width
    SCREENSHOTS.mkdir(exist_ok=True)
    page.get_by_role("region", name="Sweep", exact=True).screenshot(
        path=str(SCREENSHOTS / f"sweep-{width}.png")
    )
