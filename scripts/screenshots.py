"""Save current screenshots of each web UI page into ``docs/screenshots/`` (not run by CI).

    .venv/bin/python scripts/screenshots.py

Seeds a fresh store as the course does (the salary example's training runs through autolog, an
evaluation run, the model registered as ``salary-model`` with the alias ``champion``), serves it
with ``traza server --default-artifact-root ./mlruns``'s settings, and has the system Chromium
(``TRAZA_CHROMIUM``, else ``/usr/bin/chromium``) save each page at 1,440 px wide.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SALARY = ROOT / "examples" / "salary"
OUT = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1440, 900


def seed(url: str) -> dict[str, str]:
    """The course's runs: three trainings (n_jobs, fit_intercept) and one evaluation."""
    sys.path.insert(0, str(SALARY))
    import evaluate_model  # type: ignore[import-not-found]
    import train_model  # type: ignore[import-not-found]

    import traza

    traza.set_tracking_uri(url)
    ids: dict[str, str] = {"experiment": traza.set_experiment("salary").experiment_id}
    client = traza.MlflowClient()
    client.set_experiment_tag(ids["experiment"], "mlflow.note.content", "Salary regression.")
    for args in (["1", "True"], ["2", "True"], ["1", "False"]):
        train_model.main(["train_model.py", *args])
    runs = client.search_runs([ids["experiment"]], order_by=["attributes.start_time ASC"])
    ids["run"], ids["other"] = runs[0].info.run_id, runs[2].info.run_id
    evaluate_model.main(["evaluate_model.py", ids["run"]])
    version = traza.register_model(f"runs:/{ids['run']}/model", "salary-model")
    client.set_registered_model_alias("salary-model", "champion", version.version)
    ids["model_id"] = client.search_logged_models([ids["experiment"]])[-1].model_id
    return ids


def pages(ids: dict[str, str]) -> dict[str, str]:
    exp, run = ids["experiment"], ids["run"]
    return {
        "experiments": "#/",
        "runs-table": f"#/experiments/{exp}",
        "chart-workspace": f"#/experiments/{exp}?tab=charts",
        "run-overview": f"#/runs/{run}",
        "run-artifacts": f"#/runs/{run}?tab=artifacts&artifact=models:/{ids['model_id']}",
        "logged-model": f"#/experiments/{exp}/models/{ids['model_id']}",
        "compare": f"#/compare?runs={run},{ids['other']}",
        "models": "#/models",
        "registered-model": "#/models/salary-model",
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    from traza.server import ServerSettings, create_app
    from traza.server.background import BackgroundServer
    from traza.server.settings import resolve_artifact_root

    chromium = os.environ.get("TRAZA_CHROMIUM", "/usr/bin/chromium")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        settings = ServerSettings(
            backend_store_uri=f"sqlite:///{Path(tmp) / 'mlflow.db'}",
            default_artifact_root=resolve_artifact_root(str(Path(tmp) / "mlruns"), True),
        )
        with BackgroundServer(create_app(settings)) as server:
            ids = seed(server.url)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
                )
                page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on(
                    "console",
                    lambda m: errors.append(m.text) if m.type == "error" else None,
                )
                for name, route in pages(ids).items():
                    page.goto(f"{server.url}/{route}")
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(800)  # charts and late names settle
                    path = OUT / f"{name}.png"
                    page.screenshot(path=str(path))
                    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")
                browser.close()
    if errors:  # the pages must not log errors in normal use
        raise SystemExit(f"Console errors while taking the screenshots: {errors}")


if __name__ == "__main__":
    main()
