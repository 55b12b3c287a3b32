"""``traza run``: mlflow run's flags, one-line errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from traza.cli import main
from traza.client import TrazaClient

MLPROJECT = """\
name: cli
entry_points:
  main:
    parameters:
      alpha: float
      fit: {type: bool, default: True}
    command: "python train.py {alpha} {fit}"
  fail:
    command: "python -c 'import sys; sys.exit(3)'"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text(
        "import json, sys\njson.dump(sys.argv[1:], open('argv.json', 'w'))\n"
    )
    return folder


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_run_with_params_and_experiment_name(project: Path) -> None:
    code, output = invoke(
        "run", str(project), "-e", "main", "-P", "alpha=0.5", "-P", "fit=False",
        "-P", "extra=a b", "--experiment-name", "Salary Model", "--env-manager", "local",
        "--run-name", "cli-run",
    )  # fmt: skip
    assert code == 0, output
    assert json.loads((project / "argv.json").read_text()) == ["0.5", "False", "--extra", "a b"]
    client = TrazaClient()
    experiment = client.get_experiment_by_name("Salary Model")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "cli-run"
    assert run.data.params == {"alpha": "0.5", "fit": "False", "extra": "a b"}


def test_experiment_name_from_the_environment(project: Path) -> None:
    code, output = invoke(
        "run", str(project), "-P", "alpha=1", "--env-manager", "local",
        env={"MLFLOW_EXPERIMENT_NAME": "from-env"},
    )  # fmt: skip
    assert code == 0, output
    assert TrazaClient().get_experiment_by_name("from-env") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-P", "alpha=abc"], "Error: Invalid value 'abc' for parameter 'alpha' of type float"),
        ([], "Error: No value given for missing parameters: 'alpha'"),
        (["-P", "alpha"], "Invalid format for -P parameter: 'alpha'. Use -P name=value."),
        (["-P", "alpha=1", "-P", "alpha=2"], "Repeated parameter: 'alpha'"),
        (["-e", "nope"], "Error: Could not find nope among entry points"),
        (["-e", "fail"], "Error: Run (ID '"),
        (
            ["-P", "alpha=1", "-b", "databricks"],
            "Error: Unknown backend 'databricks'. Available: local, slurm, ray",
        ),
    ],
)
def test_failures_are_one_line_errors(project: Path, args: list[str], message: str) -> None:
    code, output = invoke("run", str(project), "--env-manager", "local", *args)
    assert code != 0
    assert message in output
    assert "Traceback" not in output
    client = TrazaClient()
    assert all(r.info.status != "RUNNING" for r in client.search_runs(["0"]))


def test_a_failing_entry_point_is_a_failed_run(project: Path) -> None:
    code, output = invoke("run", str(project), "-e", "fail", "--env-manager", "local")
    assert code == 1
    assert output.strip().splitlines()[-1].endswith("failed")
    (run,) = TrazaClient().search_runs(["0"])
    assert run.info.status == "FAILED"


def test_experiment_name_and_id_are_exclusive(project: Path) -> None:
    code, output = invoke(
        "run", str(project), "--experiment-name", "a", "--experiment-id", "1"
    )  # fmt: skip
    assert code == 2
    assert "Specify only one of 'experiment-name' or 'experiment-id' options." in output
