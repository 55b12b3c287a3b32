"""``traza run`` as a first-time user meets it (issue 15): the ``python`` on PATH runs a local
command, as in MLflow; likely typos in parameters and types are said; a run refused before it
exists leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import uv

from traza.client import TrazaClient
from traza.exceptions import ExecutionException
from traza.projects import run

PREFIX_SCRIPT = """\
import json, sys
with open("ran.json", "w") as f:
    json.dump({"prefix": sys.prefix, "argv": sys.argv[1:]}, f)
"""


def project(folder: Path, mlproject: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLproject").write_text(textwrap.dedent(mlproject))
    (folder / "main.py").write_text(PREFIX_SCRIPT)
    return folder


def ran(folder: Path) -> dict[str, object]:
    result: dict[str, object] = json.loads((folder / "ran.json").read_text())
    return result


PLAIN = """\
name: plain
entry_points:
  main:
    parameters:
      n_jobs_param: {type: int, default: 1}
      fit_intercept_param: {type: bool, default: True}
    command: "python main.py {n_jobs_param} {fit_intercept_param}"
"""


# -- item 7: --env-manager local runs the python on PATH --------------------------------------
@pytest.fixture(scope="session")
def other_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second environment (no packages), as a user's project environment beside Traza's."""
    folder = tmp_path_factory.mktemp("other") / "venv"
    subprocess.run(
        [uv.find_uv_bin(), "venv", "--quiet", "--python", sys.executable, str(folder)],
        check=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )  # fmt: skip
    return folder


def test_local_runs_the_python_on_path(
    tmp_path: Path,
    other_venv: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    folder = project(tmp_path / "p", PLAIN)
    monkeypatch.setenv("PATH", f"{other_venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    submitted = run(str(folder), env_manager="local")
    assert Path(str(ran(folder)["prefix"])) == other_venv
    err = capfd.readouterr().err
    named = [line for line in err.splitlines() if line.startswith("Running with")]
    assert len(named) == 1 and str(other_venv / "bin" / "python") in named[0], err
    assert sys.executable in named[0]  # and where Traza itself runs
    run_ = TrazaClient().get_run(submitted.run_id)
    version = ".".join(str(v) for v in sys.version_info[:3])
    assert run_.data.tags["traza.project.pythonVersion"] == version


def test_local_uses_the_running_python_when_path_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path / "p", PLAIN)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    run(str(folder), env_manager="local")
    assert ran(folder)["prefix"] == sys.prefix
    assert "Running with" not in capfd.readouterr().err  # Traza's own: nothing to say


def test_traza_own_python_first_on_path_is_not_announced(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path / "p", PLAIN)  # conftest puts the suite's bin first on PATH
    run(str(folder), env_manager="local")
    assert ran(folder)["prefix"] == sys.prefix
    assert "Running with" not in capfd.readouterr().err


# -- item 10: a mistyped parameter or type is said, MLflow's behaviour kept --------------------
def test_an_undeclared_parameter_is_passed_on_with_a_did_you_mean(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path / "p", PLAIN)
    run(str(folder), parameters={"n_jobs": "2"}, env_manager="local")
    assert ran(folder)["argv"] == ["1", "True", "--n_jobs", "2"]  # MLflow's rule, kept
    err = capfd.readouterr().err
    assert "Warning: Parameter 'n_jobs' is not declared by entry point 'main'" in err
    assert "declared: n_jobs_param, fit_intercept_param" in err
    assert "Did you mean n_jobs_param?" in err


def test_an_unrelated_undeclared_parameter_is_named_without_a_guess(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path / "p", PLAIN)
    run(str(folder), parameters={"zz": "3"}, env_manager="local")
    err = capfd.readouterr().err
    assert "Parameter 'zz' is not declared" in err and "Did you mean" not in err


def test_a_type_mlflow_does_not_define_is_a_string_with_a_warning(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = project(
        tmp_path / "p",
        """\
        entry_points:
          main:
            parameters:
              n: {type: integer, default: 1}
            command: "python main.py {n}"
        """,
    )
    run(str(folder), parameters={"n": "two"}, env_manager="local")  # not checked: a string
    assert ran(folder)["argv"] == ["two"]
    err = capfd.readouterr().err
    assert "Parameter 'n' of entry point 'main' has type 'integer'" in err
    assert "taken as a string" in err
    capfd.readouterr()
    run(str(project(tmp_path / "q", PLAIN)), env_manager="local")
    assert "Warning" not in capfd.readouterr().err  # int and bool are Traza's own, checked


# -- item 9: a run refused before it exists leaves no store behind ----------------------------
def test_a_refused_run_leaves_no_mlruns(tmp_path: Path, isolated: Path) -> None:
    folder = project(tmp_path / "p", PLAIN)
    with pytest.raises(ExecutionException, match="not an integer"):
        run(str(folder), parameters={"n_jobs_param": "many"}, env_manager="local")
    with pytest.raises(Exception, match="Could not find nope among entry points"):
        run(str(folder), entry_point="nope", env_manager="local")
    assert not (isolated / "mlruns").exists()


def test_an_environment_that_cannot_be_built_leaves_no_mlruns(
    tmp_path: Path, isolated: Path
) -> None:
    from click.testing import CliRunner

    from traza.cli import main

    folder = project(tmp_path / "p", PLAIN.replace("name: plain", "python_env: python_env.yaml"))
    (folder / "python_env.yaml").write_text('python: "1.0"\ndependencies: []\n')
    result = CliRunner().invoke(
        main, ["run", str(folder), "--env-manager", "virtualenv", "--experiment-name", "X"]
    )
    assert result.exit_code == 1 and "1.0" in result.output, result.output
    assert not (isolated / "mlruns").exists()  # neither a store nor an empty experiment
