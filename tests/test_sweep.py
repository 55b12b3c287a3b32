"""``traza.projects.sweep``: a parent run and a child run per trial, on the local backend with
``--env-manager local``, against a real SQLite store: grid, seeded random, a failing trial, at
most K trials in flight, cancel, resume and ``new``."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from traza.client import TrazaClient
from traza.entities import ViewType
from traza.projects import sweep

MLPROJECT = """\
name: sweepable
entry_points:
  main:
    parameters:
      alpha: float
      l1_ratio: {type: float, default: 0.5}
      pause: {type: float, default: 0}
    command: "python train.py {alpha} {l1_ratio} {pause}"
  fails_above:
    parameters:
      alpha: float
    command: "python fails.py {alpha}"
  slow:
    parameters:
      alpha: float
    command: "python slow.py {alpha}"
  steps:
    parameters:
      x: float
    command: "python steps.py {x}"
"""

TRAIN = """\
import sys, time
import traza
alpha, l1_ratio, pause = map(float, sys.argv[1:4])
time.sleep(pause)
traza.log_metric("rmse", (alpha - 0.5) ** 2 + l1_ratio)
"""

FAILS = """\
import sys
import traza
alpha = float(sys.argv[1])
if alpha > 0.7:
    sys.exit("alpha too large")
traza.log_metric("rmse", alpha)
"""

SLOW = """\
import os, sys, time
with open(f"pid-{os.environ['MLFLOW_RUN_ID']}", "w") as f:
    f.write(str(os.getpid()))
time.sleep(300)
"""

STEPS = """\
import sys, time
import traza
x = float(sys.argv[1])
for step in range(8):
    traza.log_metric("loss", x * (step + 1), step=step)
    time.sleep(0.25)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    files = {"train.py": TRAIN, "fails.py": FAILS, "slow.py": SLOW, "steps.py": STEPS}
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def children(parent_id: str) -> list[Any]:
    client = TrazaClient()
    experiment_id = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'", ViewType.ALL
    )
    return sorted(runs, key=lambda r: (int(r.data.tags["traza.sweep.trial"]), r.info.start_time))


def all_runs() -> list[Any]:
    client = TrazaClient()
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids, run_view_type=ViewType.ALL)) if ids else []


def test_grid_runs_every_combination_as_children_of_the_parent(project: Path) -> None:
    result = sweep(
        str(project),
        parameters={"alpha": "0.1,0.5,1.0", "l1_ratio": "range(0.1, 0.5, 3)"},
        metric="rmse",
        max_parallel=2,
        env_manager="local",
        experiment_name="grid",
    )
    client = TrazaClient()
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    kids = children(result.run_id)
    combos = [(k.data.params["alpha"], k.data.params["l1_ratio"]) for k in kids]
    assert combos == [(a, b) for a in ("0.1", "0.5", "1.0") for b in ("0.1", "0.3", "0.5")]
    assert {k.info.status for k in kids} == {"FINISHED"}
    assert {k.data.params["pause"] for k in kids} == {"0"}  # defaults logged, as traza run does
    assert {k.info.experiment_id for k in kids} == {parent.info.experiment_id}
    assert all(k.data.tags["mlflow.project.entryPoint"] == "main" for k in kids)
    values = {k.info.run_id: k.data.metrics["rmse"] for k in kids}
    best_id = min(values, key=lambda i: values[i])
    assert parent.data.tags["traza.sweep.best_run_id"] == best_id
    assert float(parent.data.tags["traza.sweep.best_value"]) == pytest.approx(0.1)
    assert result.best is not None and result.best.run_id == best_id
    assert result.best.params == {"alpha": "0.5", "l1_ratio": "0.1"}
    definition = json.loads(parent.data.tags["traza.sweep.definition"])
    assert definition["parameters"]["l1_ratio"] == {"kind": "values",
                                                    "values": ["0.1", "0.3", "0.5"]}  # fmt: skip
    assert definition["strategy"] == "grid" and definition["trials"] == 9
    saved = Path(client.download_artifacts(result.run_id, "sweep.json"))
    assert json.loads(saved.read_text()) == definition
    assert [t.status for t in result.trials] == ["FINISHED"] * 9
    assert result.get_status() == "FINISHED"


def test_random_draws_are_seeded_and_in_bounds(project: Path) -> None:
    space = {
        "alpha": "uniform(0.2, 0.4)",
        "l1_ratio": "loguniform(0.001, 0.1)",
        "pause": "choice(0, 0.01)",
    }
    first = sweep(str(project), parameters=space, strategy="random", trials=5, seed=7,
                  metric="rmse", max_parallel=3, env_manager="local")  # fmt: skip
    drawn = [(k.data.params["alpha"], k.data.params["l1_ratio"], k.data.params["pause"])
             for k in children(first.run_id)]  # fmt: skip
    assert len(drawn) == 5 and len(set(drawn)) == 5
    for alpha, l1_ratio, pause in drawn:
        assert 0.2 <= float(alpha) <= 0.4
        assert 0.001 <= float(l1_ratio) <= 0.1
        assert pause in ("0", "0.01")
    again = sweep(str(project), parameters=space, strategy="random", trials=5, seed=7,
                  metric="rmse", max_parallel=3, env_manager="local", new=True)  # fmt: skip
    assert again.run_id != first.run_id
    assert [(k.data.params["alpha"], k.data.params["l1_ratio"], k.data.params["pause"])
            for k in children(again.run_id)] == drawn  # fmt: skip
    other = sweep(str(project), parameters=space, strategy="random", trials=5, seed=8,
                  metric="rmse", env_manager="local")  # fmt: skip
    assert [k.data.params["alpha"] for k in children(other.run_id)] != [d[0] for d in drawn]


def test_int_draws_are_integers_in_bounds(project: Path) -> None:
    result = sweep(str(project), parameters={"alpha": "int(1, 3)"}, strategy="random",
                   trials=6, seed=1, env_manager="local", max_parallel=3)  # fmt: skip
    values = [k.data.params["alpha"] for k in children(result.run_id)]
    assert set(values) <= {"1", "2", "3"} and len(values) == 6
    assert result.best is None  # no metric asked for: nothing ranked
    assert "traza.sweep.best_run_id" not in TrazaClient().get_run(result.run_id).data.tags


def test_a_failing_trial_is_failed_and_never_the_best(project: Path) -> None:
    result = sweep(str(project), "fails_above", {"alpha": "0.5,0.9,0.1"}, metric="rmse",
                   goal="maximize", env_manager="local")  # fmt: skip
    statuses = {k.data.params["alpha"]: k.info.status for k in children(result.run_id)}
    assert statuses == {"0.5": "FINISHED", "0.9": "FAILED", "0.1": "FINISHED"}
    parent = TrazaClient().get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    assert float(parent.data.tags["traza.sweep.best_value"]) == 0.5  # maximize, 0.9 failed


def test_every_trial_failing_fails_the_sweep(project: Path) -> None:
    result = sweep(str(project), "fails_above", {"alpha": "0.8,0.9"}, env_manager="local")
    assert result.get_status() == "FAILED"
    assert TrazaClient().get_run(result.run_id).info.status == "FAILED"


def _max_overlap(runs: list[Any]) -> int:
    events = sorted([(r.info.start_time, 1) for r in runs] + [(r.info.end_time, -1) for r in runs])
    most = current = 0
    for _, change in events:
        current += change
        most = max(most, current)
    return most


def test_max_parallel_is_respected(project: Path) -> None:
    result = sweep(str(project), parameters={"alpha": "0.1,0.2,0.3,0.4,0.5,0.6",
                   "pause": "0.5"}, max_parallel=2, env_manager="local")  # fmt: skip
    kids = children(result.run_id)
    assert len(kids) == 6 and {k.info.status for k in kids} == {"FINISHED"}
    assert _max_overlap(kids) == 2
    single = sweep(str(project), parameters={"alpha": "0.1,0.2,0.3", "pause": "0.2"},
                   max_parallel=1, env_manager="local")  # fmt: skip
    assert _max_overlap(children(single.run_id)) == 1


def _wait_for(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cancel_stops_every_trial(project: Path) -> None:
    result = sweep(str(project), "slow", {"alpha": "1,2,3,4"}, max_parallel=2,
                   env_manager="local", synchronous=False)  # fmt: skip
    pid_files = lambda: sorted(project.glob("pid-*"))  # noqa: E731
    _wait_for(lambda: len(pid_files()) == 2)
    pids = [int(p.read_text()) for p in pid_files()]
    result.cancel()
    assert result.get_status() == "KILLED"
    assert not result.wait()
    client = TrazaClient()
    assert client.get_run(result.run_id).info.status == "KILLED"
    kids = children(result.run_id)
    assert len(kids) == 2 and {k.info.status for k in kids} == {"KILLED"}
    _wait_for(lambda: not any(_alive(p) for p in pids), timeout=30)
    assert [t.status for t in result.trials] == ["KILLED", "KILLED", "PENDING", "PENDING"]


def test_resume_keeps_finished_trials_and_reruns_the_rest(project: Path) -> None:
    space = {"alpha": "uniform(0, 1)", "pause": "choice(0, 30)"}
    # Seed 3 draws pauses of 0 and 30: the quick trials finish, the others are cancelled.
    kwargs: dict[str, Any] = dict(parameters=space, strategy="random", trials=6, seed=3,
                                  metric="rmse", max_parallel=6, env_manager="local")  # fmt: skip
    first = sweep(str(project), synchronous=False, **kwargs)
    _wait_for(lambda: all(t.run_id for t in first.trials))
    planned = {t.index: dict(t.params) for t in first.trials}
    quick = {i for i, p in planned.items() if p["pause"] == "0"}
    assert quick and len(quick) < 6, planned  # the seed gives both kinds
    # Finished and recorded by the sweep (a trial still exiting when cancelled is KILLED).
    _wait_for(lambda: sum(t.status == "FINISHED" for t in first.trials) == len(quick))
    first.cancel()
    kept = {k.info.run_id for k in children(first.run_id) if k.info.status == "FINISHED"}
    # Rerun the unfinished ones quickly: the same definition but a project without the pause.
    (project / "train.py").write_text(TRAIN.replace("time.sleep(pause)", "pass"))
    second = sweep(str(project), **kwargs)
    assert second.run_id == first.run_id
    parent = TrazaClient().get_run(second.run_id)
    assert parent.info.status == "FINISHED"
    by_trial: dict[int, list[Any]] = {}
    for kid in children(second.run_id):
        by_trial.setdefault(int(kid.data.tags["traza.sweep.trial"]), []).append(kid)
    assert sorted(by_trial) == list(range(6))
    for index, runs in by_trial.items():
        final = runs[-1]
        assert final.info.status == "FINISHED"
        assert {k: final.data.params[k] for k in space} == planned[index]  # same draws
        if index in quick:
            assert [r.info.run_id for r in runs] == [final.info.run_id]
            assert final.info.run_id in kept
        else:
            assert [r.info.status for r in runs] == ["KILLED", "FINISHED"]
    assert sum(t.resumed for t in second.trials) == len(quick)
    # Once more: everything is kept, nothing runs; --new starts a fresh parent.
    count = len(all_runs())
    third = sweep(str(project), **kwargs)
    assert third.run_id == first.run_id and len(all_runs()) == count
    fresh = sweep(str(project), new=True, **kwargs)
    assert fresh.run_id != first.run_id and len(children(fresh.run_id)) == 6


def test_a_changed_definition_is_a_new_sweep(project: Path) -> None:
    one = sweep(str(project), parameters={"alpha": "0.1,0.2"}, env_manager="local")
    two = sweep(str(project), parameters={"alpha": "0.1,0.3"}, env_manager="local")
    three = sweep(str(project), parameters={"alpha": "0.1,0.2"}, env_manager="local",
                  experiment_name="elsewhere")  # fmt: skip
    assert len({one.run_id, two.run_id, three.run_id}) == 3
    again = sweep(str(project), parameters={"alpha": "0.1,0.2"}, env_manager="local",
                  max_parallel=2)  # fmt: skip
    assert again.run_id == one.run_id  # how it runs is not what it is


def test_yaml_config_holds_values_with_commas(project: Path, tmp_path: Path) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            entry_point: main
            strategy: grid
            metric: rmse
            parameters:
              alpha: [0.1, 0.9]
              extra: ["a,b", "c(d)"]
            """
        )
    )
    result = sweep(str(project), config=config, env_manager="local")
    got = [(k.data.params["alpha"], k.data.params["extra"]) for k in children(result.run_id)]
    assert got == [("0.1", "a,b"), ("0.1", "c(d)"), ("0.9", "a,b"), ("0.9", "c(d)")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parameters": {"alpha": "0.1,,0.3"}},
         "Invalid values for parameter 'alpha': '0.1,,0.3': value 2 is empty (write values as "
         "'a,b,c')."),
        ({"parameters": {"alpha": "0.1,0.1"}},
         "Invalid values for parameter 'alpha': '0.1,0.1': '0.1' is listed twice."),
        ({"parameters": {"alpha": "range(0, 1)"}},
         "Invalid values for parameter 'alpha': 'range(0, 1)': range() takes 3 arguments: "
         "range(start, stop, num)."),
        ({"parameters": {"alpha": "range(0, 1, 2.5)"}},
         "Invalid values for parameter 'alpha': 'range(0, 1, 2.5)': num '2.5' is not an "
         "integer."),
        ({"parameters": {"alpha": "range(0, x, 3)"}},
         "Invalid values for parameter 'alpha': 'range(0, x, 3)': stop 'x' is not a number."),
        ({"parameters": {"alpha": "range(0, 1, 0)"}},
         "Invalid values for parameter 'alpha': 'range(0, 1, 0)': num must be at least 1, got 0."),
        ({"parameters": {"alpha": "normal(0, 1)"}, "strategy": "random", "trials": 2},
         "Invalid values for parameter 'alpha': 'normal(0, 1)': unknown function normal(); write "
         "a list 'a,b,c', 'range(start, stop, num)', or for --strategy random/optuna "
         "'uniform(lo, hi)', 'loguniform(lo, hi)', 'int(lo, hi)', 'choice(a, b, ...)' (a "
         "literal value like this goes in a --config YAML file, as a YAML list)."),
        ({"parameters": {"alpha": "uniform(1, 0)"}, "strategy": "random", "trials": 2},
         "Invalid values for parameter 'alpha': 'uniform(1, 0)': lo 1 must be less than hi 0."),
        ({"parameters": {"alpha": "loguniform(0, 1)"}, "strategy": "random", "trials": 2},
         "Invalid values for parameter 'alpha': 'loguniform(0, 1)': loguniform needs 0 < lo, "
         "got 0."),
        ({"parameters": {"alpha": "int(1.5, 3)"}, "strategy": "random", "trials": 2},
         "Invalid values for parameter 'alpha': 'int(1.5, 3)': lo '1.5' is not an integer."),
        ({"parameters": {"alpha": "uniform(0, 1"}, "strategy": "random", "trials": 2},
         "Invalid values for parameter 'alpha': 'uniform(0, 1': unbalanced parentheses; write "
         "a list 'a,b,c', 'range(start, stop, num)', or for --strategy random/optuna "
         "'uniform(lo, hi)', 'loguniform(lo, hi)', 'int(lo, hi)', 'choice(a, b, ...)' (values "
         "that hold commas or parentheses go in a --config YAML file, as a YAML list)."),
        ({"parameters": {"alpha": "uniform(0, 1)"}},
         "--strategy grid needs a list or range(start, stop, num) for 'alpha', not "
         "'uniform(0, 1)'; distributions are for --strategy random or optuna."),
        ({"parameters": {"alpha": "0.1,0.2"}, "trials": 3},
         "--strategy grid runs every combination; do not give --trials (or use --strategy "
         "random/optuna to draw a number of trials)."),
        ({"parameters": {"alpha": "0.1,0.2"}, "strategy": "random"},
         "--strategy random needs --trials N (how many trials to draw)."),
        ({"parameters": {"alpha": "0.1,0.2"}, "strategy": "optuna", "trials": 2},
         "--strategy optuna needs --metric (the value it optimizes)."),
        ({"parameters": {"alpha": "0.1,abc"}},
         "Invalid value 'abc' for parameter 'alpha' of type float: not a number."),
        ({"parameters": {"l1_ratio": "0.1"}},
         "No values given for the entry point's required parameters: 'alpha' (add -P "
         "name=value)."),
        ({"parameters": {}},
         "A sweep needs at least one parameter: -P name=values, e.g. -P alpha=0.1,0.5,1.0."),
        ({"parameters": {"alpha": "0.1"}, "max_parallel": 0},
         "--max-parallel must be at least 1, got 0."),
        ({"parameters": {"alpha": "0.1"}, "goal": "up"},
         "--goal must be minimize or maximize, got 'up'."),
        ({"parameters": {"alpha": "0.1"}, "entry_point": "nope"}, None),
    ],
)  # fmt: skip
def test_bad_definitions_are_refused_before_any_run(
    project: Path, kwargs: dict[str, Any], message: str | None
) -> None:
    from traza.exceptions import TrazaException

    with pytest.raises(TrazaException) as caught:
        sweep(str(project), env_manager="local", **kwargs)
    if message is not None:
        assert caught.value.message == message
    else:
        assert "nope" in caught.value.message
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert all_runs() == []


def test_ctrl_c_kills_the_trials_and_the_parent(project: Path) -> None:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "traza", "sweep", str(project), "-e", "slow", "-P",
         "alpha=1,2,3", "--max-parallel", "2", "--env-manager", "local"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for(lambda: len(list(project.glob("pid-*"))) == 2)
        pids = [int(p.read_text()) for p in project.glob("pid-*")]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err.decode()
    assert b"Sweep interrupted" in err
    (parent,) = [r for r in all_runs() if "traza.sweep.hash" in r.data.tags]
    assert parent.info.status == "KILLED"
    assert {k.info.status for k in children(parent.info.run_id)} == {"KILLED"}
    _wait_for(lambda: not any(_alive(p) for p in pids), timeout=30)


def test_a_sweep_on_postgresql(
    project: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store is PostgreSQL: the sweep and every trial's process use it directly."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", postgres_url)
    result = sweep(str(project), parameters={"alpha": "0.2,0.6", "l1_ratio": "0.1,0.3"},
                   metric="rmse", max_parallel=2, env_manager="local")  # fmt: skip
    client = TrazaClient(postgres_url)
    kids = children(result.run_id)
    assert len(kids) == 4 and {k.info.status for k in kids} == {"FINISHED"}
    parent = client.get_run(result.run_id)
    assert result.best is not None and result.best.params == {"alpha": "0.6", "l1_ratio": "0.1"}
    assert parent.data.tags["traza.sweep.best_run_id"] == result.best.run_id
    assert sweep(str(project), parameters={"alpha": "0.2,0.6", "l1_ratio": "0.1,0.3"},
                 metric="rmse", env_manager="local").run_id == result.run_id  # fmt: skip


def test_a_long_definition_fits_its_tag(project: Path) -> None:
    values = [f"value-{i:05d}" for i in range(2000)]
    result = sweep(str(project), parameters={"alpha": "0.5", "label": values},
                   strategy="random", trials=1, seed=1, env_manager="local")  # fmt: skip
    client = TrazaClient()
    tag = client.get_run(result.run_id).data.tags["traza.sweep.definition"]
    assert len(tag) <= 8000
    assert json.loads(tag)["parameters"]["label"] == {
        "kind": "values", "values": values[:5], "count": 2000}  # fmt: skip
    whole = json.loads(Path(client.download_artifacts(result.run_id, "sweep.json")).read_text())
    assert whole["parameters"]["label"]["values"] == values
    (kid,) = children(result.run_id)
    assert kid.data.params["label"] in values
