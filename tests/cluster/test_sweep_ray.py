"""``traza sweep --backend ray`` against the real Ray cluster of ``ray_engine``: each trial is
a Ray job (through the Jobs REST API) logging into its child run through a live server."""

from __future__ import annotations

from pathlib import Path

from cluster.engines import Ray
from traza.client import TrazaClient
from traza.entities import ViewType
from traza.projects import sweep


def test_a_random_sweep_runs_as_ray_jobs(ray_engine: Ray, server: str, project: Path) -> None:
    result = sweep(str(project), "main", {"x": "choice(1, 2, 3)"}, strategy="random", trials=2,
                   seed=2, metric="y", goal="maximize", max_parallel=2, backend="ray",
                   backend_config={"address": ray_engine.address, "poll_interval": 0.2,
                                   "num_cpus": 1},
                   env_manager="local", experiment_name="sweep-on-ray")  # fmt: skip
    client = TrazaClient(server)
    parent = client.get_run(result.run_id)
    nested = f"tags.mlflow.parentRunId = '{result.run_id}'"
    kids = client.search_runs([parent.info.experiment_id], nested, ViewType.ALL)
    assert len(kids) == 2 and {k.info.status for k in kids} == {"FINISHED"}
    for kid in kids:
        assert kid.data.tags["mlflow.project.backend"] == "ray"
        assert kid.data.tags["traza.backend.job_id"] == f"traza-{kid.info.run_id}"
        assert kid.data.metrics["y"] == 2 * float(kid.data.params["x"])
    best = max(kids, key=lambda k: k.data.metrics["y"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["traza.sweep.best_run_id"] == best.info.run_id
