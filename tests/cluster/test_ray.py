"""The ``ray`` backend against a real Ray cluster (``ray start --head`` on 127.0.0.1 with 2
CPUs, started by the ``ray_engine`` fixture), through its Jobs REST API only: success,
failure with Ray's message, a job that cannot be placed, stop (Ray STOPPED, run KILLED),
the output kept while it runs, Traza shipped as the wheel, the salary example, and the
refusal of a local store."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import traza.projects
from cluster.conftest import FAST_POLLING, output_of, wait_for_output
from cluster.engines import Ray
from traza.client import TrazaClient
from traza.exceptions import ExecutionException
from traza.projects.backends.ray import package_uri, zip_folder


def config(ray: Ray, **more: Any) -> dict[str, Any]:
    return {"address": ray.address, **FAST_POLLING, **more}


def job_status(ray: Ray, job_id: str) -> str:
    with urllib.request.urlopen(f"{ray.address}/api/jobs/{job_id}", timeout=30) as r:
        return str(json.loads(r.read())["status"])


def test_a_job_runs_and_logs_into_its_run(ray_engine: Ray, server: str, project: Path) -> None:
    submitted = traza.projects.run(
        str(project), "main", parameters={"x": 2.5}, backend="ray", env_manager="local",
        backend_config=config(ray_engine, num_cpus=1), experiment_name="on-ray",
    )  # fmt: skip
    assert submitted.get_status() == "FINISHED"
    client = TrazaClient(server)
    run = client.get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"y": 5.0}
    tags = run.data.tags
    assert tags["mlflow.project.backend"] == "ray"
    assert tags["traza.backend.job_id"] == f"traza-{submitted.run_id}"
    assert json.loads(tags["traza.backend.resources"]) == {"num_cpus": 1.0}
    assert job_status(ray_engine, tags["traza.backend.job_id"]) == "SUCCEEDED"
    log = output_of(client, submitted.run_id)
    assert "training with x = 2.5" in log and "done" in log


def test_traza_reaches_the_job_as_the_packed_wheel(
    ray_engine: Ray, server: str, project: Path
) -> None:
    submitted = traza.projects.run(
        str(project), "which_traza", backend="ray", env_manager="local",
        backend_config=config(ray_engine),
    )  # fmt: skip
    log = output_of(TrazaClient(server), submitted.run_id)
    where = log.rsplit("traza=", 1)[1].split()[0]
    # Unpacked by Ray from the uploaded package, not the editable checkout this suite runs.
    assert "py_modules_files" in where and "_ray_pkg_" in where
    assert not where.startswith(str(Path(traza.__file__).parent))


def test_a_failing_job_is_failed_with_rays_message(
    ray_engine: Ray, server: str, project: Path
) -> None:
    with pytest.raises(ExecutionException, match="failed"):
        traza.projects.run(
            str(project), "fail", backend="ray", env_manager="local",
            backend_config=config(ray_engine),
        )  # fmt: skip
    client = TrazaClient(server)
    (run,) = client.search_runs(["0"])
    assert run.info.status == "FAILED"
    reason = run.data.tags["traza.backend.reason"]
    assert reason.startswith(f"Ray job traza-{run.info.run_id} FAILED")
    assert "exit code 3" in reason
    assert "about to fail" in output_of(client, run.info.run_id)


def test_a_job_that_cannot_be_placed_fails_with_rays_reason(
    ray_engine: Ray, server: str, project: Path
) -> None:
    submitted = traza.projects.run(
        str(project), "main", backend="ray", env_manager="local",
        backend_config=config(ray_engine, num_cpus=64, pending_timeout=8), synchronous=False,
    )  # fmt: skip
    assert submitted.wait() is False
    run = TrazaClient(server).get_run(submitted.run_id)
    assert run.info.status == "FAILED"
    job = run.data.tags["traza.backend.job_id"]
    reason = run.data.tags["traza.backend.reason"]
    assert reason.startswith(f"Ray job {job} still PENDING after 8 s (pending_timeout): ")
    assert "waiting for resources" in reason  # Ray's own words
    # (Ray queues the stop of a job that never started; its own start timeout ends it.)


def test_stop_ends_the_job_and_the_output_is_kept_while_it_runs(
    ray_engine: Ray, server: str, project: Path
) -> None:
    submitted = traza.projects.run(
        str(project), "slow", backend="ray", env_manager="local",
        backend_config=config(ray_engine), synchronous=False,
    )  # fmt: skip
    client = TrazaClient(server)
    wait_for_output(client, submitted.run_id, "started", timeout=180)  # while the job runs
    assert submitted.get_status() == "RUNNING"
    assert client.get_run(submitted.run_id).info.status == "RUNNING"
    submitted.cancel()
    assert submitted.get_status() == "KILLED"
    run = client.get_run(submitted.run_id)
    assert run.info.status == "KILLED"
    assert job_status(ray_engine, run.data.tags["traza.backend.job_id"]) == "STOPPED"


def test_an_authenticated_server_gives_the_job_a_run_token_not_the_password(
    ray_engine: Ray, auth_server: str, project: Path
) -> None:
    submitted = traza.projects.run(
        str(project), "main", backend="ray", env_manager="local",
        backend_config=config(ray_engine),
    )  # fmt: skip
    run = TrazaClient(auth_server).get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["token_kind"] == "run"
    assert run.data.tags["password_seen"] == "False"


def test_the_salary_example_trains_on_ray(
    ray_engine: Ray, server: str, salary_project: Path
) -> None:
    submitted = traza.projects.run(
        str(salary_project), "main", parameters={"n_jobs_param": 1}, backend="ray",
        env_manager="local", backend_config=config(ray_engine), experiment_name="Salary Model",
    )  # fmt: skip
    run = TrazaClient(server).get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert 0.9 < run.data.metrics["test_r2"] <= 1.0


def test_a_local_store_is_refused(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ExecutionException, match="traza server") as refused:
        traza.projects.run(
            str(project), "main", backend="ray",
            backend_config={"address": "http://127.0.0.1:8265"},
        )  # fmt: skip
    assert "shared_store" in refused.value.message
    assert TrazaClient().search_runs(["0"]) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({}, "Invalid ray backend config address=None"),
        ({"address": "ray://head:10001"}, "Invalid ray backend config address="),
        ({"address": "http://h:1", "num_cpus": "two"}, "num_cpus='two'"),
        ({"address": "http://h:1", "resources": {"TPU": "1"}}, "resources="),
        ({"address": "http://h:1", "headers": {"X": "a\r\nB: c"}}, "headers="),
        ({"address": "http://h:1", "workdir": "."}, "Unknown ray backend config key(s): workdir"),
    ],
)
def test_config_values_are_checked_before_anything_runs(
    project: Path, bad: dict[str, Any], message: str
) -> None:
    with pytest.raises(ExecutionException) as refused:
        traza.projects.run(str(project), "main", backend="ray", backend_config=bad)
    assert message in refused.value.message
    assert TrazaClient().search_runs(["0"]) == []


def test_the_package_is_content_addressed_and_leaves_stores_out(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    (folder / "mlruns").mkdir(parents=True)
    (folder / "mlruns" / "traza.db").write_text("x")
    (folder / "src").mkdir()
    (folder / "src" / "a.py").write_text("print(1)")
    (folder / "MLproject").write_text("name: p")
    first = zip_folder(folder, [])
    import io
    import zipfile

    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["MLproject", "src/a.py"]
    (folder / "src" / "a.py").touch()  # a new mtime, the same contents
    assert package_uri(zip_folder(folder, [])) == package_uri(first)
    assert package_uri(first).startswith("gcs://_ray_pkg_")
    assert zipfile.ZipFile(io.BytesIO(zip_folder(folder, ["src"]))).namelist() == ["MLproject"]


def test_the_projects_requirements_become_the_jobs_runtime_env(
    ray_engine: Ray, server: str, project: Path
) -> None:
    (project / "python_env.yaml").write_text("python: '3.11'\ndependencies: [six, traza]\n")
    submitted = traza.projects.run(
        str(project), "where_six", backend="ray", backend_config=config(ray_engine),
        env_manager="uv",
    )  # fmt: skip
    run = TrazaClient(server).get_run(submitted.run_id)
    assert run.data.tags["mlflow.project.env"] == "uv"
    log = output_of(TrazaClient(server), submitted.run_id)
    prefix = log.rsplit("prefix=", 1)[1].split()[0]
    assert "runtime_resources/uv" in prefix  # Ray's environment for the requirements


def test_cancelling_a_job_that_waits_for_resources_ends_the_run_at_once(
    ray_engine: Ray, server: str, project: Path
) -> None:
    submitted = traza.projects.run(
        str(project), "main", backend="ray", env_manager="local",
        backend_config=config(ray_engine, num_gpus=4), synchronous=False,
    )  # fmt: skip
    client = TrazaClient(server)
    assert client.get_run(submitted.run_id).info.status == "SCHEDULED"
    submitted.cancel()  # returns without waiting for Ray's 15-minute start timeout
    run = client.get_run(submitted.run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["traza.backend.reason"] == "cancelled before it started"
