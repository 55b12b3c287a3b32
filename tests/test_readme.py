"""The README's commands, run as written after the quickstart (issue 15, item 9).

"After the quickstart" is a folder with the quickstart's ``.venv`` (here the suite's own, which
holds the same extras: dvc, sklearn and uv) activated, and the clone's ``examples/salary``. Each
section's ``bash`` and ``python`` blocks run there in order, with only the README's
placeholders (``<experiment name>``, ``<run id>``) filled in and ``traza ui`` given a free port.
The DVC section's ``dvc repro``/``traza reproduce`` are what ``scripts/demo.sh`` runs and
``tests/test_dvc_pipeline.py`` checks.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from traza.client import TrazaClient

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
_BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def section(title: str) -> str:
    """A ``## `` section of the README with its ``### `` subsections."""
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def blocks(title: str) -> list[tuple[str, str]]:
    found = [(m[1], m[2]) for m in _BLOCK.finditer(section(title))]
    assert found, f"no code blocks in README section {title!r}"
    return found


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clone after ``bash scripts/demo.sh``: its ``.venv`` and ``examples/salary``."""
    folder = tmp_path_factory.mktemp("clone")
    (folder / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    shutil.copytree(REPO / "examples" / "salary", folder / "examples" / "salary",
                    ignore=shutil.ignore_patterns("mlruns", "data", "models", "reports",
                                                  "__pycache__", ".dvc", "dvc.lock"))  # fmt: skip
    return folder


@pytest.fixture
def shell(root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The activated environment (``source .venv/bin/activate``), nothing else set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAZA_", "MLFLOW_"))}
    env["PATH"] = f"{root / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(root / ".venv")
    env["TRAZA_ENV_ROOT"] = str(tmp_path_factory.getbasetemp() / "readme-envs")  # the cache
    env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "2"
    return env


def run_block(language: str, code: str, root: Path, env: dict[str, str]) -> str:
    args = ["bash", "-e", "-o", "pipefail", "-c", code] if language == "bash" else [
        "python", "-c", code]  # fmt: skip
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (
        f"README {language} block failed:\n{code}\n--- stdout\n{done.stdout[-3000:]}\n"
        f"--- stderr\n{done.stderr[-5000:]}"
    )
    return done.stdout + done.stderr


def run_section(title: str, root: Path, env: dict[str, str]) -> str:
    """Every block of a section in order; Python blocks share one script (the Models section's
    registry example uses the ``run_id`` of the one before)."""
    said, python = [], []
    for language, code in blocks(title):
        if language == "python":
            python.append(code)
        else:
            said.append(run_block(language, code, root, env))
    if python:
        said.append(run_block("python", "\n".join(python), root, env))
    return "\n".join(said)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_using_it_from_python(root: Path, shell: dict[str, str]) -> None:
    said = run_section("Using it from Python", root, shell)
    assert "'system/cpu_utilization_percentage'" in said  # the system metrics example
    (experiment,) = [e for e in TrazaClient(str(root / "mlruns")).search_experiments()
                     if e.name == "salary_model"]  # fmt: skip
    assert experiment.experiment_id


def test_models_and_the_registry(root: Path, shell: dict[str, str]) -> None:
    said = run_section("Models", root, shell)
    assert "Created version '1' of model 'salary_model'." in said
    assert "['Hello, Ada!', 'Hello, Linus!']" in said  # the custom Python model
    # XGBoost and LightGBM autologging: early stopping's keys and each eval set's metrics.
    assert "True ['best_iteration', 'stopped_iteration', 'train-rmse', 'valid-rmse']" in said
    assert "['valid_0-l2']" in said
    # Model evaluation: the RMSE and the custom metric's share, printed on one line.
    assert re.search(r"^\d+(\.\d+)?(e[+-]?\d+)? [01](\.\d+)?$", said, re.MULTILINE), said
    client = TrazaClient(str(root / "mlruns"))
    assert client.get_model_version_by_alias("salary_model", "champion").version == "1"


def test_quickstart_commands(root: Path, shell: dict[str, str]) -> None:
    client = TrazaClient(str(root / "mlruns"))
    experiment_id = client.create_experiment("quickstart-look")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "r2", 0.9)
    (code,) = [c for lang, c in blocks("Quickstart") if lang == "bash" and "traza ui" in c]
    lines = []
    for line in code.splitlines():
        if line.startswith("traza ui"):
            continue  # started below on a free port: it serves until stopped
        line = line.replace("<experiment name>", shlex.quote("quickstart-look"))
        lines.append(line.replace("<run id>", run.info.run_id))
    said = run_block("bash", "\n".join(lines), root, shell)
    assert "quickstart-look" in said and run.info.run_id in said
    port = _free_port()
    ui = subprocess.Popen(["traza", "ui", "--port", str(port)], cwd=root, env=shell,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert ui.poll() is None, ui.communicate()[1].decode()
                time.sleep(0.2)
        else:
            pytest.fail("traza ui did not answer")
    finally:
        ui.terminate()
        ui.communicate(timeout=30)


def test_projects_and_the_salary_example(root: Path, shell: dict[str, str]) -> None:
    said = run_section("Projects", root, shell)
    assert "Running with" not in said  # the activated .venv's python is Traza's own
    runs = TrazaClient(str(root / "examples" / "salary" / "mlruns")).search_runs(
        [e.experiment_id for e in TrazaClient(str(root / "examples" / "salary" / "mlruns"))
         .search_experiments()]
    )  # fmt: skip
    by_entry = sorted(r.data.tags.get("mlflow.project.entryPoint", "") for r in runs)
    assert by_entry == ["main", "main", "step_1", "step_2"], by_entry
    assert {r.info.status for r in runs} == {"FINISHED"}
    from_python = TrazaClient(str(root / "mlruns")).search_runs(
        [TrazaClient(str(root / "mlruns")).get_experiment_by_name("Salary Model").experiment_id]
    )
    assert sorted(r.data.tags["mlflow.project.entryPoint"] for r in from_python) == [
        "step_1", "step_2"]  # fmt: skip


def test_the_quickstart_environment_can_build_environments() -> None:
    """``bash scripts/demo.sh`` installs the extras that bring uv, which ``traza run
    --env-manager virtualenv`` (the Projects section) and ``traza reproduce`` build with."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    demo = (REPO / "scripts" / "demo.sh").read_text()
    (extras,) = re.findall(r"^bash scripts/setup\.sh (\S+)$", demo, re.MULTILINE)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    installed = [d for e in extras.split(",") for d in project["optional-dependencies"][e]]
    assert any(re.match(r"uv\b", d) for d in installed), (extras, installed)
