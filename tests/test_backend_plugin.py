"""Backends by name: a plugin installed under MLflow's ``mlflow.project_backend`` entry point
group is found and used by ``traza run --backend NAME``, with MLflow's call and classes.

The plugin is a real distribution (a ``.dist-info`` with ``entry_points.txt``) on the child
process's ``sys.path``, found by :mod:`importlib.metadata` as pip would have installed it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from traza.client import TrazaClient
from traza.exceptions import ExecutionException
from traza.projects import backends

PLUGIN = '''\
"""A tiny MLflow project backend, written against MLflow's own plugin classes."""
import json
import subprocess

from mlflow.projects.backend.abstract_backend import AbstractBackend
from mlflow.projects.submitted_run import SubmittedRun

import traza


class _Done(SubmittedRun):
    def __init__(self, run_id, ok):
        self._run_id, self._ok = run_id, ok

    @property
    def run_id(self):
        return self._run_id

    def wait(self):
        return self._ok

    def get_status(self):
        return "FINISHED" if self._ok else "FAILED"

    def cancel(self):
        pass


class TinyBackend(AbstractBackend):
    def run(self, project_uri, entry_point, params, version, backend_config, tracking_uri,
            experiment_id):
        client = traza.TrazaClient(tracking_uri)
        run = client.create_run(experiment_id)
        run_id = run.info.run_id
        client.log_param(run_id, "greeting", backend_config["greeting"])
        client.set_tag(run_id, "tiny.config", json.dumps(sorted(backend_config)))
        client.set_tag(run_id, "tiny.entry", f"{project_uri}|{entry_point}|{params}")
        command = "true" if params.get("ok", "yes") == "yes" else "false"
        ok = subprocess.run([command]).returncode == 0
        client.set_terminated(run_id, "FINISHED" if ok else "FAILED")
        return _Done(run_id, ok)
'''


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "tinybackend").mkdir(parents=True)
    (site / "tinybackend" / "__init__.py").write_text(PLUGIN)
    info = site / "tinybackend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinybackend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[mlflow.project_backend]\ntiny = tinybackend:TinyBackend\n"
    )
    (info / "RECORD").write_text("")
    return site


def _traza(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "traza", *args], cwd=cwd, env=env, text=True,
        capture_output=True, timeout=300,
    )  # fmt: skip


def test_a_plugin_backend_runs_the_project(plugin_path: Path, isolated: Path) -> None:
    project = isolated / "project"
    project.mkdir()
    (project / "MLproject").write_text("name: p\nentry_points:\n  main:\n    command: 'true'\n")
    done = _traza(
        ["run", str(project), "--backend", "tiny", "--backend-config", '{"greeting": "hola"}',
         "-P", "ok=yes", "--experiment-name", "plugins", "--run-name", "tiny-run"],
        plugin_path, isolated,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    client = TrazaClient()
    experiment = client.get_experiment_by_name("plugins")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params == {"greeting": "hola"}
    assert run.data.tags["mlflow.project.backend"] == "tiny"
    assert run.data.tags["mlflow.runName"] == "tiny-run"
    assert run.data.tags["tiny.entry"] == f"{project}|main|{{'ok': 'yes'}}"
    # MLflow's reserved keys come with the user's own, as mlflow run passes them.
    assert json.loads(run.data.tags["tiny.config"]) == sorted(
        ["DOCKER_ARGS", "ENV_MANAGER", "STORAGE_DIR", "SYNCHRONOUS", "build_image",
         "docker_auth", "greeting"]
    )  # fmt: skip

    failed = _traza(
        ["run", str(project), "--backend", "tiny", "--backend-config", '{"greeting": "x"}',
         "-P", "ok=no", "--experiment-name", "plugins"],
        plugin_path, isolated,
    )  # fmt: skip
    assert failed.returncode == 1
    assert "failed" in failed.stderr


def test_an_unknown_backend_names_the_installed_ones(plugin_path: Path, isolated: Path) -> None:
    project = isolated / "project"
    project.mkdir()
    (project / "MLproject").write_text("name: p\nentry_points:\n  main:\n    command: 'true'\n")
    done = _traza(["run", str(project), "--backend", "nope"], plugin_path, isolated)
    assert done.returncode == 1
    assert "Unknown backend 'nope'. Available: local, slurm, ray, tiny" in done.stderr


def test_backend_config_from_json_yaml_and_errors(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("partition: debug\ncpus: 2\n")
    (tmp_path / "t.yml").write_text("time: 02:00:00\nmem: 1e9\nnum_cpus: 0.5\nx: .inf\n")
    assert backends.load_config(str(tmp_path / "t.yml")) == {
        "time": "02:00:00",
        "mem": 1e9,
        "num_cpus": 0.5,
        "x": float("inf"),
    }  # base-60 is not a number here
    (tmp_path / "c.json").write_text('{"partition": "gpu"}')
    assert backends.load_config(str(tmp_path / "c.yaml")) == {"partition": "debug", "cpus": 2}
    assert backends.load_config(str(tmp_path / "c.json")) == {"partition": "gpu"}
    assert backends.load_config('{"a": 1}') == {"a": 1}
    assert backends.load_config({"a": 1}) == {"a": 1}
    with pytest.raises(ExecutionException, match="JSON parse error"):
        backends.load_config("{nope")
    with pytest.raises(ExecutionException, match="must be an object"):
        backends.load_config("[1, 2]")
    with pytest.raises(ExecutionException, match="cannot read"):
        backends.load_config(str(tmp_path / "missing.json"))
