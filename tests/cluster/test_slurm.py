"""The ``slurm`` backend against a real one-node Slurm (slurmctld + slurmd from Debian's
packages, started by the ``slurm_engine`` fixture): success, failure with Slurm's reason,
jobs that can never start, cancel, the output kept while it runs, the environment built
once and reused, a run-scoped token, the salary example, and the refusal of a local store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import traza.projects
from cluster.conftest import FAST_POLLING, output_of, wait_for, wait_for_output
from cluster.engines import Slurm
from traza.client import TrazaClient
from traza.exceptions import ExecutionException
from traza.projects.backends.slurm import job_script, sbatch_options


def config(tmp_path: Path, **more: Any) -> dict[str, Any]:
    return {"staging_dir": str(tmp_path / "staging"), **FAST_POLLING, **more}


def squeue(job_id: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True
    ).stdout.strip()


def test_a_job_runs_and_logs_into_its_run(
    slurm: Slurm, server: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Credentials for a server without auth: no token is made, and they stay here.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "someone")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "secret")
    submitted = traza.projects.run(
        str(project), "main", parameters={"x": 2.5}, backend="slurm", env_manager="local",
        backend_config=config(tmp_path, cpus=1, mem="100M", time="5"),
        experiment_name="on-slurm", synchronous=False,
    )  # fmt: skip
    assert submitted.wait() is True
    assert submitted.get_status() == "FINISHED"
    client = TrazaClient(server)
    run = client.get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"y": 5.0}
    assert run.data.params == {"x": "2.5"}
    tags = run.data.tags
    assert tags["mlflow.project.backend"] == "slurm"
    assert tags["traza.backend.job_id"].isdigit()
    assert json.loads(tags["traza.backend.resources"]) == {"cpus": "1", "mem": "100M", "time": "5"}
    assert tags["token_kind"] == "none"
    assert tags["password_seen"] == "False"
    log = output_of(client, submitted.run_id)
    assert "training with x = 2.5" in log and "done" in log
    # The job dir (script, output) is removed once the run is recorded.
    assert list((tmp_path / "staging").glob("job-*")) == []


def test_a_failing_job_is_failed_with_its_exit_code(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    with pytest.raises(ExecutionException, match="failed"):
        traza.projects.run(
            str(project), "fail", backend="slurm", env_manager="local",
            backend_config=config(tmp_path),
        )  # fmt: skip
    client = TrazaClient(server)
    (run,) = client.search_runs(["0"])
    assert run.info.status == "FAILED"
    job = run.data.tags["traza.backend.job_id"]
    assert run.data.tags["traza.backend.reason"] == (
        f"Slurm job {job} ended FAILED with exit code 3, reason NonZeroExitCode"
    )
    assert "about to fail" in output_of(client, run.info.run_id)


def test_a_bad_partition_fails_before_submission_with_slurms_words(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    with pytest.raises(ExecutionException, match="Invalid partition name specified"):
        traza.projects.run(
            str(project), "main", backend="slurm", env_manager="local",
            backend_config=config(tmp_path, partition="nope"),
        )  # fmt: skip
    (run,) = TrazaClient(server).search_runs(["0"])
    assert run.info.status == "FAILED"
    assert "Invalid partition name specified" in run.data.tags["traza.backend.reason"]


def test_a_job_that_can_never_start_is_cancelled_and_failed(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    # The partition allows 60 minutes: Slurm keeps such a job PENDING forever.
    submitted = traza.projects.run(
        str(project), "main", backend="slurm", env_manager="local",
        backend_config=config(tmp_path, time="3:00:00"), synchronous=False,
    )  # fmt: skip
    assert submitted.wait() is False
    run = TrazaClient(server).get_run(submitted.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["traza.backend.reason"] == (
        "Slurm cannot start the job: PartitionTimeLimit (a longer time than the partition allows)"
    )
    assert squeue(run.data.tags["traza.backend.job_id"]) == ""


def test_cancel_stops_the_job_and_the_output_is_kept_while_it_runs(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    submitted = traza.projects.run(
        str(project), "slow", backend="slurm", env_manager="local",
        backend_config=config(tmp_path), synchronous=False,
    )  # fmt: skip
    client = TrazaClient(server)
    wait_for_output(client, submitted.run_id, "started")  # uploaded while the job still runs
    assert submitted.get_status() == "RUNNING"
    assert client.get_run(submitted.run_id).info.status == "RUNNING"
    job = client.get_run(submitted.run_id).data.tags["traza.backend.job_id"]
    assert squeue(job) == "RUNNING"
    submitted.cancel()
    assert submitted.get_status() == "KILLED"
    assert client.get_run(submitted.run_id).info.status == "KILLED"
    wait_for(lambda: squeue(job) == "", timeout=60)


def test_the_environment_is_built_once_on_the_shared_folder_and_reused(
    slurm: Slurm, server: str, project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (project / "python_env.yaml").write_text("python: '3.11'\ndependencies: []\n")
    env_root = tmp_path / "shared" / "envs"
    settings = config(tmp_path, env_root=str(env_root), stage_project=True)
    prefixes = []
    for _ in range(2):
        submitted = traza.projects.run(
            str(project), "where", backend="slurm", env_manager="virtualenv",
            backend_config=settings,
        )  # fmt: skip
        log = output_of(TrazaClient(server), submitted.run_id)
        prefixes.append(log.split("prefix=", 1)[1].strip())
    assert prefixes[0] == prefixes[1]
    assert Path(prefixes[0]).parent == env_root
    assert capfd.readouterr().err.count("Creating environment") == 1


def test_an_authenticated_server_gives_the_job_a_run_token_not_the_password(
    slurm: Slurm, auth_server: str, project: Path, tmp_path: Path
) -> None:
    submitted = traza.projects.run(
        str(project), "main", backend="slurm", env_manager="local",
        backend_config=config(tmp_path),
    )  # fmt: skip
    run = TrazaClient(auth_server).get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"y": 2.0}
    assert run.data.tags["token_kind"] == "run"
    assert run.data.tags["password_seen"] == "False"


def test_the_salary_example_trains_on_slurm(
    slurm: Slurm, server: str, salary_project: Path, tmp_path: Path
) -> None:
    submitted = traza.projects.run(
        str(salary_project), "main", parameters={"n_jobs_param": 1}, backend="slurm",
        env_manager="local", backend_config=config(tmp_path), experiment_name="Salary Model",
    )  # fmt: skip
    client = TrazaClient(server)
    run = client.get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert 0.9 < run.data.metrics["test_r2"] <= 1.0
    assert run.data.tags["mlflow.project.backend"] == "slurm"


def test_a_local_store_is_refused_unless_declared_shared(
    slurm: Slurm, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}.db")
    with pytest.raises(ExecutionException, match=r"use its URI|traza server") as refused:
        traza.projects.run(
            str(project), "main", backend="slurm", env_manager="local",
            backend_config=config(tmp_path),
        )  # fmt: skip
    assert "shared_store" in refused.value.message
    client = TrazaClient()
    assert client.search_runs(["0"]) == []  # refused before any run exists
    submitted = traza.projects.run(
        str(project), "main", parameters={"x": 4}, backend="slurm", env_manager="local",
        backend_config=config(tmp_path, shared_store=True),
    )  # fmt: skip
    assert TrazaClient().get_run(submitted.run_id).data.metrics == {"y": 8.0}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"partition": "debug\n#SBATCH --uid=0"}, "Invalid slurm backend config partition="),
        ({"time": "1; rm -rf /"}, "Invalid slurm backend config time="),
        ({"modules": ["gcc && curl x"]}, "Invalid slurm backend config modules="),
        ({"extra_sbatch": ["--comment=$(id)"]}, "Invalid slurm backend config extra_sbatch="),
        ({"cpus": True}, "Invalid slurm backend config cpus="),
        ({"partiton": "debug"}, "Unknown slurm backend config key(s): partiton"),
        ({"staging_dir": "relative/dir"}, "an absolute folder path"),
        ({"shared_store": "yes"}, "true or false"),
    ],
)
def test_config_values_are_checked_before_anything_runs(
    project: Path, tmp_path: Path, bad: dict[str, Any], message: str
) -> None:
    with pytest.raises(ExecutionException) as refused:
        traza.projects.run(str(project), "main", backend="slurm", backend_config=bad)
    assert message in refused.value.message
    assert TrazaClient().search_runs(["0"]) == []


def test_the_script_quotes_paths_and_keeps_the_exit_status(tmp_path: Path) -> None:
    options, resources = sbatch_options(
        {"partition": "gpu", "gpus": "a100:2", "nodes": 2, "extra_sbatch": ["#SBATCH --exclusive"]}
    )
    assert options == ["--partition=gpu", "--gpus=a100:2", "--nodes=2", "--exclusive"]
    assert resources == {"partition": "gpu", "gpus": "a100:2", "nodes": "2",
                         "extra_sbatch": "--exclusive"}  # fmt: skip
    script = job_script(
        options, ["cuda/12"], Path("/shared/my project"), ["python", "t.py", "a b"],
        Path("/shared/exit"),
    )  # fmt: skip
    assert script.splitlines() == [
        "#!/bin/bash", "#SBATCH --partition=gpu", "#SBATCH --gpus=a100:2", "#SBATCH --nodes=2",
        "#SBATCH --exclusive", "module load cuda/12", "cd '/shared/my project' || exit 1",
        "python t.py 'a b'", "status=$?", "echo \"$status\" > /shared/exit", 'exit "$status"',
    ]  # fmt: skip


def test_cancelling_a_queued_job_removes_it(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    submitted = traza.projects.run(
        str(project), "main", backend="slurm", env_manager="local",
        backend_config=config(tmp_path, extra_sbatch=["--hold"]), synchronous=False,
    )  # fmt: skip
    client = TrazaClient(server)
    job = client.get_run(submitted.run_id).data.tags["traza.backend.job_id"]
    assert submitted.get_status() == "SCHEDULED"
    assert client.get_run(submitted.run_id).info.status == "SCHEDULED"
    assert squeue(job) == "PENDING"
    submitted.cancel()
    assert client.get_run(submitted.run_id).info.status == "KILLED"
    wait_for(lambda: squeue(job) == "", timeout=60)


def test_traza_run_on_slurm_with_a_yaml_config(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from traza.cli import main

    settings = tmp_path / "slurm.yaml"
    settings.write_text(f"staging_dir: {tmp_path / 'staging'}\ncpus: 1\npoll_interval: 0.2\n")
    result = CliRunner().invoke(
        main,
        ["run", str(project), "-P", "x=3", "--backend", "slurm", "--backend-config",
         str(settings), "--env-manager", "local", "--experiment-name", "cli-slurm"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    client = TrazaClient(server)
    experiment = client.get_experiment_by_name("cli-slurm")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert (run.info.status, run.data.metrics) == ("FINISHED", {"y": 6.0})
    assert json.loads(run.data.tags["traza.backend.resources"]) == {"cpus": "1"}

    bad = CliRunner().invoke(main, ["run", str(project), "--backend", "slurm",
                                    "--backend-config", '{"cpus": "all"}'])  # fmt: skip
    assert bad.exit_code != 0
    assert "Invalid slurm backend config cpus='all': expected a number of CPUs." in bad.output
