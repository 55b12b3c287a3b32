"""``traza.projects.run``: parameters checked before a run exists, exact argv for the child,
runs always ended (FINISHED, FAILED, KILLED), Git sources, and children that log with mlflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import traza
from traza.client import TrazaClient
from traza.exceptions import ExecutionException, TrazaException
from traza.projects import run

ARGV_SCRIPT = """\
import json, os, sys
with open(os.environ.get("ARGV_FILE", "argv.json"), "w") as f:
    json.dump(sys.argv[1:], f)
"""


def make_project(folder: Path, mlproject: str | None, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if mlproject is not None:
        (folder / "MLproject").write_text(textwrap.dedent(mlproject))
    for name, text in {"main.py": ARGV_SCRIPT, **(files or {})}.items():
        (folder / name).write_text(text)
    return folder


def argv_of(folder: Path) -> list[str]:
    result: list[str] = json.loads((folder / "argv.json").read_text())
    return result


def all_runs() -> list[Any]:
    client = TrazaClient()
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids))


TYPED = """\
name: typed
entry_points:
  main:
    parameters:
      alpha: float
      n: {type: int, default: 1}
      flag: {type: bool, default: True}
      who: {type: str, default: None}
    command: "python main.py {alpha} {n} {flag} {who}"
"""


@pytest.fixture
def typed(tmp_path: Path) -> Path:
    return make_project(tmp_path / "typed", TYPED)


def test_typed_values_are_passed_and_logged_as_written(typed: Path) -> None:
    submitted = run(
        str(typed), parameters={"alpha": "1e-3", "n": 2, "flag": False}, env_manager="local"
    )
    assert argv_of(typed) == ["1e-3", "2", "False", "None"]
    finished = TrazaClient().get_run(submitted.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.params == {"alpha": "1e-3", "n": "2", "flag": "False", "who": "None"}
    tags = finished.data.tags
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.source.name"] == str(typed)
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.env"] == "local"
    assert tags["mlflow.project.backend"] == "local"
    assert tags["mlflow.user"]
    assert "mlflow.parentRunId" not in tags
    assert submitted.get_status() == "FINISHED"


@pytest.mark.parametrize("spelling", ["true", "False", "1", "0", "YES", "no", "True"])
def test_bool_spellings(typed: Path, spelling: str) -> None:
    run(str(typed), parameters={"alpha": "1", "flag": spelling}, env_manager="local")
    assert argv_of(typed)[2] == spelling


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"alpha": "abc"},
            "Invalid value 'abc' for parameter 'alpha' of type float: not a number.",
        ),
        (
            {"alpha": "1", "n": "2.5"},
            "Invalid value '2.5' for parameter 'n' of type int: not an integer.",
        ),
        (
            {"alpha": "1", "flag": "maybe"},
            "Invalid value 'maybe' for parameter 'flag' of type bool: use true/false, yes/no or "
            "1/0 (any case).",
        ),
        ({}, "No value given for missing parameters: 'alpha'"),
    ],
)
def test_bad_values_are_refused_before_a_run_exists(
    typed: Path, values: dict[str, str], message: str
) -> None:
    with pytest.raises(ExecutionException) as caught:
        run(str(typed), parameters=values, env_manager="local")
    assert caught.value.message == message
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert all_runs() == []
    assert not (typed / "argv.json").exists()


def test_unknown_entry_point_lists_the_entry_points(typed: Path) -> None:
    with pytest.raises(TrazaException, match=r"Could not find train among entry points \['main'\]"):
        run(str(typed), entry_point="train", env_manager="local")
    assert all_runs() == []


def test_scripts_run_without_an_mlproject(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "bare", None, {"go.sh": 'printf "%s\\n" "$@" > sh_args.txt\n'})
    run(str(folder), entry_point="main.py", parameters={"lr": "0.1"}, env_manager="local")
    assert argv_of(folder) == ["--lr", "0.1"]
    run(str(folder), entry_point="go.sh", parameters={"x": "a b"}, env_manager="local")
    assert (folder / "sh_args.txt").read_text().splitlines() == ["--x", "a b"]


def test_templates_quote_values_and_extras_are_appended(tmp_path: Path) -> None:
    folder = make_project(
        tmp_path / "quoting",
        """\
        entry_points:
          main:
            parameters:
              text: string
            command: "python main.py --text {text} --fixed 'a b'"
        """,
    )
    tricky = """it's "quoted"; $HOME && `echo no` * """
    submitted = run(
        str(folder),
        parameters={"text": tricky, "extra key": "x y", "n": 3},
        env_manager="local",
    )
    assert argv_of(folder) == ["--text", tricky, "--fixed", "a b", "--extra key", "x y", "--n", "3"]
    params = TrazaClient().get_run(submitted.run_id).data.params
    assert params == {"text": tricky, "extra key": "x y", "n": "3"}


def test_path_parameters_must_exist_and_are_made_absolute(tmp_path: Path) -> None:
    folder = make_project(
        tmp_path / "paths",
        """\
        entry_points:
          main:
            parameters:
              data: path
              out: {type: uri, default: "s3://bucket/key"}
            command: "python main.py {data} {out}"
        """,
        {"data.csv": "a,b\n"},
    )
    with pytest.raises(ExecutionException) as caught:
        run(str(folder), parameters={"data": "missing.csv"}, env_manager="local")
    assert caught.value.message == (
        "Got value missing.csv for parameter data, but no such file or directory was found."
    )
    with pytest.raises(ExecutionException, match="Expected URI for parameter out but got plain"):
        run(str(folder), parameters={"data": "data.csv", "out": "plain"}, env_manager="local")
    assert all_runs() == []
    submitted = run(str(folder), parameters={"data": "data.csv"}, env_manager="local")
    assert argv_of(folder) == [str(folder / "data.csv"), "s3://bucket/key"]
    assert TrazaClient().get_run(submitted.run_id).data.params["data"] == "data.csv"


def test_a_failing_command_fails_the_run_and_keeps_its_output(tmp_path: Path) -> None:
    folder = make_project(
        tmp_path / "failing",
        "entry_points:\n  main:\n    command: python main.py\n",
        {"main.py": "import sys\nprint('about to fail')\nsys.exit('boom: bad data')\n"},
    )
    with pytest.raises(ExecutionException, match=r"Run \(ID '[0-9a-f]{32}'\) failed"):
        run(str(folder), env_manager="local")
    (failed,) = all_runs()
    assert failed.info.status == "FAILED"
    assert failed.info.end_time is not None
    log = traza.artifacts.load_text(f"runs:/{failed.info.run_id}/project_output.log")
    assert "about to fail" in log and "boom: bad data" in log


def test_a_command_that_cannot_start_fails_the_run(tmp_path: Path) -> None:
    folder = make_project(
        tmp_path / "nostart", "entry_points:\n  main:\n    command: no-such-program-xyz\n"
    )
    with pytest.raises(ExecutionException, match="Could not start 'no-such-program-xyz'"):
        run(str(folder), env_manager="local")
    (failed,) = all_runs()
    assert failed.info.status == "FAILED"


def test_output_is_streamed_and_uploaded(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    folder = make_project(
        tmp_path / "out",
        "entry_points:\n  main:\n    command: python main.py\n",
        {"main.py": "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n"},
    )
    submitted = run(str(folder), env_manager="local")
    captured = capfd.readouterr()
    assert "to stdout" in captured.out and "to stderr" in captured.err
    log = traza.artifacts.load_text(f"runs:/{submitted.run_id}/project_output.log")
    assert "to stdout" in log and "to stderr" in log


SLOW = """\
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open("pids.txt", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
time.sleep(60)
"""


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is alive (zombies left for init do not count)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def test_cancel_kills_the_process_group_and_records_killed(tmp_path: Path) -> None:
    folder = make_project(
        tmp_path / "slow",
        "entry_points:\n  main:\n    command: python main.py\n",
        {"main.py": SLOW},
    )
    submitted = run(str(folder), env_manager="local", synchronous=False)
    deadline = time.monotonic() + 30
    while not (folder / "pids.txt").exists() or not (folder / "pids.txt").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    leader, _grandchild = map(int, (folder / "pids.txt").read_text().split())
    assert submitted.get_status() == "RUNNING"
    assert TrazaClient().get_run(submitted.run_id).info.status == "RUNNING"
    submitted.cancel()
    assert submitted.get_status() == "KILLED"
    assert not submitted.wait()
    assert TrazaClient().get_run(submitted.run_id).info.status == "KILLED"
    assert not _group_alive(leader)


def test_asynchronous_runs_are_waited_for(tmp_path: Path) -> None:
    folder = make_project(
        tmp_path / "async",
        "entry_points:\n  main:\n    command: python main.py\n",
        {"main.py": "import time\ntime.sleep(0.5)\nopen('done', 'w').close()\n"},
    )
    submitted = run(str(folder), env_manager="local", synchronous=False)
    assert submitted.get_status() == "RUNNING"
    assert submitted.wait() is True
    assert submitted.get_status() == "FINISHED"
    assert (folder / "done").exists()
    assert TrazaClient().get_run(submitted.run_id).info.status == "FINISHED"


def test_runs_inside_an_active_run_are_its_children(typed: Path) -> None:
    with traza.start_run() as parent:
        child = run(str(typed), parameters={"alpha": "1"}, env_manager="local")
    tags = TrazaClient().get_run(child.run_id).data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id


def test_experiment_by_name_is_created_and_run_name_kept(typed: Path) -> None:
    submitted = run(
        str(typed),
        parameters={"alpha": "1"},
        experiment_name="Salary Model",
        run_name="first",
        env_manager="local",
    )
    finished = TrazaClient().get_run(submitted.run_id)
    experiment = TrazaClient().get_experiment_by_name("Salary Model")
    assert experiment is not None
    assert finished.info.experiment_id == experiment.experiment_id
    assert finished.info.run_name == "first"


def test_the_child_gets_the_run_and_store(tmp_path: Path) -> None:
    script = (
        "import json, os\n"
        "keys = ['MLFLOW_RUN_ID', 'MLFLOW_EXPERIMENT_ID', 'MLFLOW_TRACKING_URI',"
        " 'TRAZA_TRACKING_URI']\n"
        "json.dump({k: os.environ.get(k) for k in keys}, open('env.json', 'w'))\n"
        "import traza\n"
        "with traza.start_run():\n"
        "    traza.log_metric('from_traza', 2.0)\n"
    )
    folder = make_project(
        tmp_path / "envvars",
        "entry_points:\n  main:\n    command: python main.py\n",
        {"main.py": script},
    )
    submitted = run(str(folder), env_manager="local")
    seen = json.loads((folder / "env.json").read_text())
    assert seen["MLFLOW_RUN_ID"] == submitted.run_id
    assert seen["MLFLOW_EXPERIMENT_ID"] == "0"
    assert seen["TRAZA_TRACKING_URI"] == TrazaClient().tracking_uri
    assert seen["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
    finished = TrazaClient().get_run(submitted.run_id)
    assert finished.data.metrics == {"from_traza": 2.0}
    assert finished.info.status == "FINISHED"


MLFLOW_CHILD = """\
import sys
import mlflow
with mlflow.start_run() as run:
    mlflow.log_metric("rmse", 0.25, step=3)
    mlflow.log_param("from_mlflow", "yes")
    mlflow.set_tag("library", mlflow.__name__)
    mlflow.log_text("hello", "notes/hello.txt")
print("logged into", run.info.run_id)
"""


def test_a_child_importing_the_real_mlflow_logs_into_the_run(tmp_path: Path) -> None:
    folder = make_project(
        tmp_path / "mlflow_child",
        "entry_points:\n  main:\n    command: python main.py\n",
        {"main.py": MLFLOW_CHILD},
    )
    submitted = run(str(folder), env_manager="local")
    finished = TrazaClient().get_run(submitted.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.metrics == {"rmse": 0.25}
    assert finished.data.params["from_mlflow"] == "yes"
    assert finished.data.tags["library"] == "mlflow"
    assert traza.artifacts.load_text(f"runs:/{submitted.run_id}/notes/hello.txt") == "hello"
    log = traza.artifacts.load_text(f"runs:/{submitted.run_id}/project_output.log")
    assert f"logged into {submitted.run_id}" in log


def test_the_real_mlflow_client_reads_a_project_run_through_traza_server(
    tmp_path: Path,
) -> None:
    from server.live import live_server

    folder = make_project(
        tmp_path / "read_back",
        TYPED,
        {"main.py": "import traza\nwith traza.start_run():\n    traza.log_metric('acc', 0.9)\n"},
    )
    store_uri = str(tmp_path / "store")
    with live_server(store_uri, tmp_path) as live:
        traza.set_tracking_uri(live.url)
        submitted = run(
            str(folder),
            parameters={"alpha": "0.5"},
            experiment_name="projects",
            env_manager="local",
        )
        import mlflow

        mlflow.set_tracking_uri(live.url)
        read = mlflow.MlflowClient().get_run(submitted.run_id)
        artifacts = [f.path for f in mlflow.MlflowClient().list_artifacts(submitted.run_id)]
    assert read.info.status == "FINISHED"
    assert read.data.params == {"alpha": "0.5", "n": "1", "flag": "True", "who": "None"}
    assert read.data.metrics == {"acc": 0.9}
    assert read.data.tags["mlflow.source.type"] == "PROJECT"
    assert read.data.tags["mlflow.project.entryPoint"] == "main"
    assert "project_output.log" in artifacts


# -- Git sources ------------------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


VERSIONED = """\
entry_points:
  main:
    command: "python main.py {label}"
    parameters:
      label: {type: string, default: %s}
"""


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, str]:
    """A repository with the project in ``proj/``: main (v-main), branch feature, tag v1."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "--quiet", "--initial-branch", "main")
    make_project(root / "proj", VERSIONED % "first")
    _git(root, "add", ".")
    _git(root, "commit", "--quiet", "-m", "first")
    first = _git(root, "rev-parse", "HEAD")
    _git(root, "tag", "v1")
    _git(root, "checkout", "--quiet", "-b", "feature")
    (root / "proj" / "MLproject").write_text(VERSIONED % "feature")
    _git(root, "commit", "--quiet", "-am", "feature")
    feature = _git(root, "rev-parse", "HEAD")
    _git(root, "checkout", "--quiet", "main")
    (root / "proj" / "MLproject").write_text(VERSIONED % "main")
    _git(root, "commit", "--quiet", "-am", "main")
    main = _git(root, "rev-parse", "HEAD")
    return {"root": str(root), "first": first, "feature": feature, "main": main}


def _ran(submitted: Any) -> tuple[str, dict[str, str]]:
    finished = TrazaClient().get_run(submitted.run_id)
    return finished.data.params["label"], finished.data.tags


@pytest.mark.parametrize(
    ("version", "label", "commit", "branch"),
    [("feature", "feature", "feature", "feature"), ("v1", "first", "first", None)],
)
def test_git_versions_branch_and_tag(
    repo: dict[str, str], version: str, label: str, commit: str, branch: str | None
) -> None:
    uri = f"file://{repo['root']}#proj"
    submitted = run(uri, version=version, env_manager="local")
    ran_label, tags = _ran(submitted)
    assert ran_label == label
    assert tags["mlflow.source.git.commit"] == repo[commit]
    assert tags.get("mlflow.source.git.branch") == branch
    assert tags["mlflow.source.git.repoURL"] == f"file://{repo['root']}"
    assert tags["mlflow.source.name"] == f"file://{repo['root']}#proj"
    # The user's work tree is untouched: still on main, with main's content.
    assert _git(Path(repo["root"]), "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert "main" in (Path(repo["root"]) / "proj" / "MLproject").read_text()


def test_git_version_as_a_commit(repo: dict[str, str]) -> None:
    submitted = run(f"{repo['root']}#proj", version=repo["feature"], env_manager="local")
    label, tags = _ran(submitted)
    assert label == "feature"
    assert tags["mlflow.source.git.commit"] == repo["feature"]
    assert "mlflow.source.git.branch" not in tags
    with pytest.raises(ExecutionException, match="Unable to checkout version 'nope'"):
        run(f"{repo['root']}#proj", version="nope", env_manager="local")


def test_a_local_folder_in_a_work_tree_records_its_commit(repo: dict[str, str]) -> None:
    submitted = run(f"{repo['root']}/proj", env_manager="local")
    label, tags = _ran(submitted)
    assert label == "main"
    assert tags["mlflow.source.git.commit"] == repo["main"]
    assert tags["mlflow.source.name"] == f"file://{repo['root']}#proj"
    assert "mlflow.source.git.repoURL" not in tags  # no remote


def test_a_bare_repository_is_cloned(repo: dict[str, str], tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    _git(tmp_path, "clone", "--quiet", "--bare", repo["root"], str(bare))
    storage = tmp_path / "storage"
    submitted = run(f"{bare}#proj", env_manager="local", storage_dir=str(storage))
    label, tags = _ran(submitted)
    assert label == "main"
    assert tags["mlflow.source.git.commit"] == repo["main"]
    assert list(storage.glob("*/project/proj/argv.json"))  # cloned into --storage-dir
    with pytest.raises(ExecutionException, match="Could not find subdirectory nope"):
        run(f"{bare}#nope", env_manager="local")
    with pytest.raises(ExecutionException, match="must be a relative path inside it"):
        run(f"{bare}#../x", env_manager="local")


def test_a_version_needs_a_git_repository(typed: Path) -> None:
    with pytest.raises(ExecutionException, match="only supported for Git project URIs"):
        run(str(typed), version="main", env_manager="local")


def test_neither_folder_nor_git(tmp_path: Path) -> None:
    with pytest.raises(ExecutionException, match="neither a folder on this machine nor a Git URI"):
        run(str(tmp_path / "nowhere"), env_manager="local")


# -- docker_env -------------------------------------------------------------------------------
def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(_docker_answers(), reason="a Docker engine answers here")
def test_docker_projects_need_an_engine(tmp_path: Path) -> None:
    folder = make_project(
        tmp_path / "docker",
        "name: d\ndocker_env:\n  image: python:3.11-slim\n"
        "entry_points:\n  main:\n    command: python main.py\n",
    )
    with pytest.raises(ExecutionException, match=r"no Docker engine answers|not on PATH"):
        run(str(folder), env_manager="local")
    assert all_runs() == []


def test_docker_env_needs_an_image(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "docker", "docker_env:\n  volumes: ['/a:/b']\n")
    with pytest.raises(ExecutionException, match="no image attribute found"):
        run(str(folder), entry_point="main.py")


def test_one_environment_field_at_most(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "two", "python_env: python_env.yaml\nconda_env: conda.yaml\n")
    with pytest.raises(ExecutionException, match="multiple environment fields"):
        run(str(folder), entry_point="main.py")


def test_mlproject_is_found_case_insensitively(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "case", None)
    (folder / "mlproject").write_text("entry_points:\n  go:\n    command: python main.py x\n")
    run(str(folder), entry_point="go", env_manager="local")
    assert argv_of(folder) == ["x"]


# -- a real environment ------------------------------------------------------------------------
def test_a_project_runs_in_a_uv_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("uv") is None and not (Path(sys.executable).parent / "uv").exists():
        pytest.skip("uv is not installed")
    monkeypatch.setenv("TRAZA_ENV_ROOT", str(tmp_path / "envs"))
    version = ".".join(map(str, sys.version_info[:2]))
    folder = make_project(
        tmp_path / "uv",
        "entry_points:\n  main:\n    command: python main.py\n",
        {
            "python_env.yaml": f"python: '{version}'\ndependencies: []\n",
            "main.py": "import json, sys\njson.dump([sys.prefix], open('argv.json', 'w'))\n",
        },
    )
    submitted = run(str(folder), env_manager="uv")
    (prefix,) = argv_of(folder)
    assert Path(prefix).is_relative_to(tmp_path / "envs")
    tags = TrazaClient().get_run(submitted.run_id).data.tags
    assert tags["mlflow.project.env"] == "uv"
    assert tags["traza.project.pythonVersion"].startswith(version)
