"""``--strategy optuna``: Optuna's ask-and-tell drives the trials, and its median pruner stops a
trial whose intermediate metric (read from the store while it runs) is worse than the
median; the pruned trial ends KILLED with ``traza.sweep.pruned``."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.test_sweep import MLPROJECT, STEPS, TRAIN, children

from traza.client import TrazaClient
from traza.projects import sweep


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "steps.py").write_text(STEPS)
    (folder / "train.py").write_text(TRAIN)
    return folder


def test_optuna_prunes_a_trial_that_is_worse_than_the_median(project: Path) -> None:
    result = sweep(str(project), "steps", {"x": "uniform(0.1, 10)"}, strategy="optuna",
                   trials=8, seed=4, metric="loss", max_parallel=1, pruner_startup_trials=2,
                   env_manager="local", poll_seconds=0.1)  # fmt: skip
    client = TrazaClient()
    kids = children(result.run_id)
    assert len(kids) == 8
    pruned = [k for k in kids if k.data.tags.get("traza.sweep.pruned") == "true"]
    finished = [k for k in kids if k.info.status == "FINISHED"]
    assert pruned, [(k.data.params["x"], k.info.status) for k in kids]
    assert len(pruned) + len(finished) == 8
    for kid in pruned:
        assert kid.info.status == "KILLED"
        steps = [m.step for m in client.get_metric_history(kid.info.run_id, "loss")]
        assert len(steps) < 8  # stopped before its last step
        assert float(kid.data.params["x"]) > min(float(k.data.params["x"]) for k in finished)
    assert sorted(t.index for t in result.trials if t.pruned) == sorted(
        int(k.data.tags["traza.sweep.trial"]) for k in pruned
    )
    best = min(finished, key=lambda k: k.data.metrics["loss"])
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["traza.sweep.best_run_id"] == best.info.run_id
    assert float(parent.data.tags["traza.sweep.best_value"]) == best.data.metrics["loss"]
    assert parent.data.tags["traza.sweep.strategy"] == "optuna"


def test_optuna_learns_from_results_and_resumes_with_them(project: Path) -> None:
    space = {"alpha": "uniform(0, 1)", "l1_ratio": "choice(0, 1)"}
    result = sweep(str(project), parameters=space, strategy="optuna", trials=12, seed=1,
                   metric="rmse", env_manager="local", max_parallel=2, pruner="none")  # fmt: skip
    kids = children(result.run_id)
    assert {k.info.status for k in kids} == {"FINISHED"} and len(kids) == 12
    for kid in kids:
        assert 0 <= float(kid.data.params["alpha"]) <= 1
        assert kid.data.params["l1_ratio"] in ("0", "1")
    study = result.study
    told = sorted((t.params["alpha"], t.value) for t in study.trials)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 12
    assert told == sorted((float(k.data.params["alpha"]), k.data.metrics["rmse"]) for k in kids)
    assert result.best is not None
    assert result.best.value == pytest.approx(study.best_value)
    again = sweep(str(project), parameters=space, strategy="optuna", trials=12, seed=1,
                  metric="rmse", env_manager="local", max_parallel=2, pruner="none")  # fmt: skip
    assert again.run_id == result.run_id and all(t.resumed for t in again.trials)
    assert again.best is not None and again.best.run_id == result.best.run_id
    # The resumed study was given every kept trial, so it continues from what they taught.
    assert sorted((t.params["alpha"], t.value) for t in again.study.trials) == told
