"""``traza sweep``: the command's flags, its table and best trial, and one-line errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.test_sweep import MLPROJECT, TRAIN, all_runs, children

from traza.cli import main
from traza.client import TrazaClient


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text(TRAIN)
    return folder


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_grid_prints_the_trials_and_the_best(project: Path) -> None:
    code, output = invoke(
        "sweep", str(project), "-e", "main", "-P", "alpha=0.1,0.5,1.0",
        "-P", "l1_ratio=range(0.1, 0.9, 5)", "--strategy", "grid", "--metric", "rmse",
        "--goal", "minimize", "--max-parallel", "2", "--env-manager", "local",
        "--experiment-name", "cli-sweep", "--backend", "local",
    )  # fmt: skip
    assert code == 0, output
    client = TrazaClient()
    experiment = client.get_experiment_by_name("cli-sweep")
    (parent,) = [r for r in client.search_runs([experiment.experiment_id])
                 if "traza.sweep.hash" in r.data.tags]  # fmt: skip
    best_id = parent.data.tags["traza.sweep.best_run_id"]
    assert f"Sweep run: {parent.info.run_id}" in output
    assert f"Best trial: 5 (run {best_id}) rmse=0.1" in output
    assert "Best params: alpha=0.5, l1_ratio=0.1" in output
    header = next(line for line in output.splitlines() if line.startswith("trial"))
    assert header.split() == ["trial", "status", "rmse", "run_id", "alpha", "l1_ratio"]
    assert len(children(parent.info.run_id)) == 15
    # The same command again resumes: nothing new runs.
    code, again = invoke(
        "sweep", str(project), "-P", "alpha=0.1,0.5,1.0", "-P", "l1_ratio=range(0.1, 0.9, 5)",
        "--metric", "rmse", "--env-manager", "local", "--experiment-name", "cli-sweep",
    )  # fmt: skip
    assert code == 0, again
    assert f"Sweep run: {parent.info.run_id}" in again
    assert len(children(parent.info.run_id)) == 15
    code, fresh = invoke(
        "sweep", str(project), "-P", "alpha=0.1,0.5,1.0", "-P", "l1_ratio=range(0.1, 0.9, 5)",
        "--metric", "rmse", "--env-manager", "local", "--experiment-name", "cli-sweep", "--new",
    )  # fmt: skip
    assert code == 0 and f"Sweep run: {parent.info.run_id}" not in fresh


def test_random_from_a_config_file(project: Path, tmp_path: Path) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(textwrap.dedent("""\
        strategy: random
        trials: 3
        seed: 11
        metric: rmse
        goal: maximize
        parameters:
          alpha: uniform(0.1, 0.2)
          l1_ratio: [0.25, 0.75]
        """))  # fmt: skip
    code, output = invoke("sweep", str(project), "--config", str(config), "--env-manager",
                          "local", "--max-parallel", "3")  # fmt: skip
    assert code == 0, output
    (parent,) = [r for r in all_runs() if "traza.sweep.hash" in r.data.tags]
    kids = children(parent.info.run_id)
    assert len(kids) == 3
    assert {k.data.params["l1_ratio"] for k in kids} <= {"0.25", "0.75"}
    assert parent.data.tags["traza.sweep.goal"] == "maximize"
    assert parent.data.tags["traza.sweep.seed"] == "11"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-P", "alpha"], "Invalid format for -P: 'alpha'. Use -P name=values, e.g. -P "
         "alpha=0.1,0.5."),
        (["-P", "alpha=1", "-P", "alpha=2"], "Repeated parameter: 'alpha'"),
        (["-P", "alpha=range(1,2)"], "Error: Invalid values for parameter 'alpha': "
         "'range(1,2)': range() takes 3 arguments: range(start, stop, num)."),
        (["-P", "alpha=1,2", "--trials", "2"], "Error: --strategy grid runs every "
         "combination; do not give --trials"),
        (["-P", "alpha=1,2", "--strategy", "random"], "Error: --strategy random needs "
         "--trials N (how many trials to draw)."),
        (["-P", "alpha=1", "--config", "missing.yaml"], "Error: Cannot read the sweep config "
         "'missing.yaml'"),
        (["-P", "alpha=1", "--experiment-name", "a", "--experiment-id", "1"],
         "Specify only one of 'experiment-name' or 'experiment-id' options."),
        (["-P", "alpha=1", "--backend", "nowhere"], "Unknown backend 'nowhere'"),
    ],
)  # fmt: skip
def test_errors_are_one_line_and_create_nothing(
    project: Path, args: list[str], message: str
) -> None:
    code, output = invoke("sweep", str(project), "--env-manager", "local", *args)
    assert code != 0
    assert message in output
    assert "Traceback" not in output
    assert all_runs() == []


def test_a_bad_config_key_is_named(project: Path, tmp_path: Path) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text("parameters:\n  alpha: [1, 2]\nmax_paralel: 2\n")
    code, output = invoke("sweep", str(project), "--config", str(config))
    assert code == 1
    assert f"Unknown key 'max_paralel' in the sweep config '{config}'" in output
    config.write_text("parameters:\n  alpha: [1, 2]\n")
    code, output = invoke("sweep", str(project), "--config", str(config), "-P", "alpha=3")
    assert "Parameter 'alpha' is given both with -P and in the sweep config; keep one." in output
