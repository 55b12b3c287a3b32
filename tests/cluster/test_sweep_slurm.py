"""``traza sweep --backend slurm`` against the real one-node Slurm of ``slurm_engine``: a grid
sweep's trials are the tasks of one Slurm job array (``%K``: at most K at once) logging into
their child runs through a live ``traza server``; ``job_array: false`` keeps a job per trial;
a cancelled array sweep resumed submits only its unfinished indices."""

from __future__ import annotations

import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from cluster.engines import Slurm
from traza.client import TrazaClient
from traza.entities import ViewType
from traza.projects import sweep
from traza.projects.backends.slurm_array import array_spec


def config(tmp_path: Path) -> dict[str, Any]:
    return {"staging_dir": str(tmp_path / "staging"), "poll_interval": 0.2,
            "upload_interval": 0.5, "cpus": 1, "mem": "100M", "time": "5"}  # fmt: skip


def children(client: TrazaClient, parent_id: str) -> list[Any]:
    experiment_id = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'", ViewType.ALL
    )
    return sorted(runs, key=lambda r: (int(r.data.tags["traza.sweep.trial"]), r.info.start_time))


def test_the_array_spec_keeps_ranges_and_the_throttle() -> None:
    assert array_spec([0, 1, 2, 3], 2) == "0-3%2"
    assert array_spec([2, 1], 2) == "1-2%2"
    assert array_spec([0, 1, 2, 5, 7, 8], 3) == "0-2,5,7-8%3"
    assert array_spec([4], 1) == "4%1"


def running_tasks(job_name: str = "", job: str = "") -> set[str]:
    which = ["-j", job] if job else ["-n", job_name]
    done = subprocess.run(["squeue", "-h", "-r", "-t", "RUNNING", *which, "-o", "%i"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return set(done.stdout.split())


def test_a_grid_sweep_runs_as_one_job_array_at_most_k_at_once(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    client = TrazaClient(server)
    grid = sweep(str(project), "main", {"x": "1,2,3,4"}, metric="y", goal="maximize",
                 max_parallel=2, backend="slurm", backend_config=config(tmp_path),
                 env_manager="local", experiment_name="sweep-on-slurm",
                 synchronous=False)  # fmt: skip
    seen: list[set[str]] = []

    def sample() -> None:  # what Slurm runs at once, every 50 ms while the sweep lasts
        while grid.get_status() == "RUNNING":
            seen.append(running_tasks(f"traza-sweep-{grid.run_id[:8]}"))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    assert grid.wait()
    sampler.join()
    kids = children(client, grid.run_id)
    assert [k.data.params["x"] for k in kids] == ["1", "2", "3", "4"]
    assert {k.info.status for k in kids} == {"FINISHED"}
    assert [k.data.metrics["y"] for k in kids] == [2.0, 4.0, 6.0, 8.0]
    arrays = {k.data.tags["traza.backend.array_job_id"] for k in kids}
    assert len(arrays) == 1 and arrays.pop().isdigit()
    array = kids[0].data.tags["traza.backend.array_job_id"]
    assert [k.data.tags["traza.backend.job_id"] for k in kids] == [f"{array}_{i}" for i in
                                                                    range(4)]  # fmt: skip
    shown = subprocess.run(["scontrol", "show", "job", "-o", f"{array}_0"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    assert "ArrayTaskThrottle=2" in shown
    assert 1 <= max(len(s) for s in seen) <= 2  # Slurm's throttle, not the sweep, holds K
    assert set().union(*seen) <= {f"{array}_{i}" for i in range(4)}
    assert {k.data.tags["mlflow.project.backend"] for k in kids} == {"slurm"}
    for kid in kids:  # each task's own output kept on its own run
        x = kid.data.params["x"]
        log = client.download_artifacts(kid.info.run_id, "project_output.log", str(tmp_path))
        assert f"training with x = {float(x)}" in Path(log).read_text()
    parent = client.get_run(grid.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["traza.sweep.best_run_id"] == kids[3].info.run_id
    assert float(parent.data.tags["traza.sweep.best_value"]) == 8.0
    assert not list((tmp_path / "staging").glob("array-*"))  # removed once every task ended


def test_ctrl_c_of_traza_sweep_cancels_the_whole_array(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    import json
    import signal
    import sys

    traza = str(Path(sys.executable).parent / "traza")
    proc = subprocess.Popen(
        [traza, "sweep", str(project), "-e", "slow", "-P", "x=1,2,3", "--max-parallel", "2",
         "--backend", "slurm", "--backend-config", json.dumps(config(tmp_path)),
         "--env-manager", "local", "--experiment-name", "interrupted-on-slurm"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = TrazaClient(server)
    deadline, job, parent = time.monotonic() + 120, "", ""
    try:  # until Slurm runs two of the array's three tasks
        while not job or len(running_tasks(job=job)) < 2:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
            exp = client.get_experiment_by_name("interrupted-on-slurm")
            if exp is not None:
                runs = client.search_runs([exp.experiment_id], "", ViewType.ALL)
                for run in runs:
                    job = run.data.tags.get("traza.backend.array_job_id", job)
                    parent = run.data.tags.get("mlflow.parentRunId", parent)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    kids = children(client, parent)
    assert [k.info.status for k in kids] == ["KILLED", "KILLED", "KILLED"]
    assert client.get_run(parent).info.status == "KILLED"
    states = subprocess.run(
        ["squeue", "-h", "-r", "-t", "all", "-j", job, "-o", "%T"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert states == ["CANCELLED"] * 3, states


def test_job_array_false_keeps_one_job_per_trial(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    client = TrazaClient(server)
    drawn = sweep(str(project), "main", {"x": "uniform(0, 1)"}, strategy="random", trials=2,
                  seed=5, metric="y", max_parallel=2, backend="slurm",
                  backend_config={**config(tmp_path), "job_array": False}, env_manager="local",
                  experiment_name="sweep-on-slurm")  # fmt: skip
    kids = children(client, drawn.run_id)
    assert {k.info.status for k in kids} == {"FINISHED"} and len(kids) == 2
    for kid in kids:
        assert kid.data.metrics["y"] == 2 * float(kid.data.params["x"])
        assert "traza.backend.array_job_id" not in kid.data.tags
    jobs = {k.data.tags["traza.backend.job_id"] for k in kids}
    assert len(jobs) == 2 and all(j.isdigit() for j in jobs)
    assert [t.params for t in drawn.trials] == [{"x": k.data.params["x"]} for k in kids]


def test_array_tasks_get_their_own_run_token_in_a_private_file(
    slurm: Slurm, auth_server: str, project: Path, tmp_path: Path
) -> None:
    client = TrazaClient(auth_server)
    done = sweep(str(project), "main", {"x": "uniform(0, 1)"}, strategy="random", trials=2,
                 seed=3, max_parallel=2, backend="slurm",
                 backend_config={**config(tmp_path), "keep_job_dir": True},
                 env_manager="local", experiment_name="tokens-on-slurm")  # fmt: skip
    kids = children(client, done.run_id)
    assert {k.info.status for k in kids} == {"FINISHED"}
    assert {k.data.tags["token_kind"] for k in kids} == {"run"}
    assert {k.data.tags["password_seen"] for k in kids} == {"False"}
    (folder,) = (tmp_path / "staging").glob("array-*")
    files = sorted(folder.glob("task-*.env"))
    assert [f.name for f in files] == ["task-0.env", "task-1.env"]
    for task, file in enumerate(files):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        text = file.read_text()
        assert f"MLFLOW_RUN_ID={kids[task].info.run_id}" in text
        assert "MLFLOW_TRACKING_TOKEN=" in text and "PASSWORD" not in text
    assert files[0].read_text() != files[1].read_text()


def test_a_failing_task_fails_its_own_run_with_its_exit_code(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    client = TrazaClient(server)
    failed = sweep(str(project), "fail", {"x": "1,2"}, max_parallel=2, backend="slurm",
                   backend_config=config(tmp_path), env_manager="local",
                   experiment_name="failing-on-slurm")  # fmt: skip
    assert failed.get_status() == "FAILED"
    kids = children(client, failed.run_id)
    assert [k.info.status for k in kids] == ["FAILED", "FAILED"]
    for task, kid in enumerate(kids):
        reason = kid.data.tags["traza.backend.reason"]
        assert f"_{task} ended" in reason and "exit code 3" in reason, reason
        log = client.download_artifacts(kid.info.run_id, "project_output.log", str(tmp_path))
        assert "about to fail" in Path(log).read_text()


def test_a_bad_partition_fails_every_task_with_slurms_words(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    client = TrazaClient(server)
    failed = sweep(str(project), "main", {"x": "1,2"}, max_parallel=2, backend="slurm",
                   backend_config={**config(tmp_path), "partition": "nope"},
                   env_manager="local", experiment_name="bad-on-slurm")  # fmt: skip
    assert failed.get_status() == "FAILED"
    kids = children(client, failed.run_id)
    assert [k.info.status for k in kids] == ["FAILED", "FAILED"]
    for kid in kids:
        assert "invalid partition" in kid.data.tags["traza.backend.reason"].lower()


def test_a_cancelled_slurm_sweep_resumes(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    client = TrazaClient(server)
    kwargs: dict[str, Any] = dict(metric="y", max_parallel=1, backend="slurm",
                                  backend_config=config(tmp_path), env_manager="local",
                                  experiment_name="resumed-on-slurm")  # fmt: skip
    first = sweep(str(project), "main", {"x": "1,2,3"}, synchronous=False, **kwargs)
    deadline = time.monotonic() + 180
    while first.trials[0].status != "FINISHED":
        assert time.monotonic() < deadline, [t.status for t in first.trials]
        time.sleep(0.2)
    first.cancel()
    assert client.get_run(first.run_id).info.status == "KILLED"
    done = children(client, first.run_id)
    assert done[0].info.status == "FINISHED"
    assert [k.info.status for k in done[1:]] == ["KILLED", "KILLED"]
    first_array = done[0].data.tags["traza.backend.array_job_id"]
    assert [k.data.tags["traza.backend.job_id"] for k in done] == [f"{first_array}_{i}" for i
                                                                    in range(3)]  # fmt: skip
    # What a dead sweep process would leave queued under the sweep's job name:
    left = subprocess.run(["sbatch", "--parsable", f"--job-name=traza-sweep-{first.run_id[:8]}",
                           "--output=/dev/null", "--wrap", "sleep 600"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    second = sweep(str(project), "main", {"x": "1,2,3"}, **kwargs)
    gone = subprocess.run(["squeue", "-h", "-t", "all", "-j", left, "-o", "%T"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert gone == "CANCELLED"
    assert second.run_id == first.run_id
    assert [t.resumed for t in second.trials] == [True, False, False]
    finals: dict[str, Any] = {}
    for kid in children(client, second.run_id):
        finals[kid.data.tags["traza.sweep.trial"]] = kid
    assert {k.info.status for k in finals.values()} == {"FINISHED"}
    assert finals["0"].info.run_id == done[0].info.run_id
    array = finals["1"].data.tags["traza.backend.array_job_id"]
    assert array != first_array and finals["2"].data.tags["traza.backend.array_job_id"] == array
    assert [finals[i].data.tags["traza.backend.job_id"] for i in "12"] == [
        f"{array}_1",
        f"{array}_2",
    ]
    tasks = subprocess.run(
        ["squeue", "-h", "-r", "-t", "all", "-j", array, "-o", "%i"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(tasks) == [f"{array}_1", f"{array}_2"]  # only the unfinished indices
    assert client.get_run(second.run_id).info.status == "FINISHED"
