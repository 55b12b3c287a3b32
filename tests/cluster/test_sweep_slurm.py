"""``traza sweep --backend slurm`` against the real one-node Slurm of ``slurm_engine``: each
trial is a Slurm job logging into its child run through a live ``traza server``; grid and
seeded random sweeps, at most K jobs at once, and a cancelled sweep resumed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cluster.engines import Slurm
from traza.client import TrazaClient
from traza.entities import ViewType
from traza.projects import sweep


def config(tmp_path: Path) -> dict[str, Any]:
    return {"staging_dir": str(tmp_path / "staging"), "poll_interval": 0.2,
            "upload_interval": 0.5, "cpus": 1, "mem": "100M", "time": "5"}  # fmt: skip


def children(client: TrazaClient, parent_id: str) -> list[Any]:
    experiment_id = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'", ViewType.ALL
    )
    return sorted(runs, key=lambda r: (int(r.data.tags["traza.sweep.trial"]), r.info.start_time))


def test_grid_and_random_sweeps_run_as_slurm_jobs(
    slurm: Slurm, server: str, project: Path, tmp_path: Path
) -> None:
    client = TrazaClient(server)
    grid = sweep(str(project), "main", {"x": "1,2,3"}, metric="y", goal="maximize",
                 max_parallel=2, backend="slurm", backend_config=config(tmp_path),
                 env_manager="local", experiment_name="sweep-on-slurm")  # fmt: skip
    kids = children(client, grid.run_id)
    assert [k.data.params["x"] for k in kids] == ["1", "2", "3"]
    assert {k.info.status for k in kids} == {"FINISHED"}
    assert [k.data.metrics["y"] for k in kids] == [2.0, 4.0, 6.0]
    jobs = {k.data.tags["traza.backend.job_id"] for k in kids}
    assert len(jobs) == 3 and all(j.isdigit() for j in jobs)
    assert {k.data.tags["mlflow.project.backend"] for k in kids} == {"slurm"}
    parent = client.get_run(grid.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["traza.sweep.best_run_id"] == kids[2].info.run_id
    assert float(parent.data.tags["traza.sweep.best_value"]) == 6.0

    drawn = sweep(str(project), "main", {"x": "uniform(0, 1)"}, strategy="random", trials=2,
                  seed=5, metric="y", max_parallel=2, backend="slurm",
                  backend_config=config(tmp_path), env_manager="local",
                  experiment_name="sweep-on-slurm")  # fmt: skip
    kids = children(client, drawn.run_id)
    assert {k.info.status for k in kids} == {"FINISHED"} and len(kids) == 2
    for kid in kids:
        assert kid.data.metrics["y"] == 2 * float(kid.data.params["x"])
    assert [t.params for t in drawn.trials] == [{"x": k.data.params["x"]} for k in kids]


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
    assert {k.info.status for k in done[1:]} <= {"KILLED"}
    second = sweep(str(project), "main", {"x": "1,2,3"}, **kwargs)
    assert second.run_id == first.run_id
    assert [t.resumed for t in second.trials] == [True, False, False]
    finals: dict[str, Any] = {}
    for kid in children(client, second.run_id):
        finals[kid.data.tags["traza.sweep.trial"]] = kid
    assert {k.info.status for k in finals.values()} == {"FINISHED"}
    assert finals["0"].info.run_id == done[0].info.run_id
    assert client.get_run(second.run_id).info.status == "FINISHED"
