"""Differential test: one MLflow script run with ``mlflow`` and with ``traza`` records the same.

The user script below is written once, importing the library as ``import {lib} as mlflow``. It
runs twice, each time in its own subprocess and its own empty directory: once with the real
``mlflow`` (tracking to ``sqlite:///mlflow.db``, MLflow 3's default local store) and once with
``traza`` (its default: ``./mlruns``). A second subprocess per library
(``differential/snapshot.py``) reads everything back through that library's own
``MlflowClient`` and dumps plain JSON; the tests compare the two dumps. The test process never
imports mlflow.

What is compared, per run (keyed by run name, which the script keeps unique): run info
(experiment, status, lifecycle stage, user), params, latest metrics, full metric histories as
sorted (step, value) lists (timestamps are ignored: most are wall-clock times), and tags. Then
``search_runs`` results (ordered run names) for a table of filters, orders, view types and page
sizes; invalid filters must be rejected by both with the same error code.

Deliberately avoided: filters where a NaN latest value decides the outcome. MLflow stores a NaN
latest metric as 0 with an is_nan flag and its SQL filters compare the 0 (so NaN matches
``metrics.acc < 0.5`` and ``!= 0.55``); Traza makes NaN match no comparison. Filters on
``metrics.acc`` that could see the NaN run ("killed") use only ranges that exclude 0 either way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

# Found without importing it: the test process never imports mlflow. A missing peer is an
# error, not a skip: this comparison is part of what the suite promises.
if importlib.util.find_spec("mlflow") is None:
    raise ImportError("the differential test needs mlflow==3.17.2: pip install -e '.[test]'")

LIBRARIES = ("mlflow", "traza")
SNAPSHOT_SCRIPT = Path(__file__).parent / "differential" / "snapshot.py"
SCRIPT_NAME = "train.py"
SUBPROCESS_TIMEOUT = 300

ALPHA = "diff-alpha"
BETA = "diff-beta"

USER_SCRIPT = """\
import math
import time

import {lib} as mlflow

T0 = 1_700_000_000_000  # explicit metric timestamps (ms)


def pause():
    # Distinct start times make the default order (start_time DESC) deterministic.
    time.sleep(0.03)


mlflow.set_experiment("diff-alpha")

pause()
with mlflow.start_run(run_name="rf-small"):
    mlflow.log_param("model", "rf")
    mlflow.log_params({"depth": 3, "lr": 0.1, "use_bias": True, "layers": [1, 2], "note": None})
    for step, acc in enumerate([0.5, 0.6, 0.7, 0.8]):
        mlflow.log_metric("acc", acc, step=step)
    # Out of order: the latest value is the one at the largest step, then largest timestamp.
    mlflow.log_metric("loss", 0.9, step=2, timestamp=T0 + 3000)
    mlflow.log_metric("loss", 0.5, step=5, timestamp=T0 + 1000)
    mlflow.log_metric("loss", 0.7, step=5, timestamp=T0 + 2000)
    mlflow.log_metric("loss", 0.1, step=1, timestamp=T0 + 9000)
    mlflow.log_metrics({"f1": 0.61, "precision": 0.7}, step=3)
    mlflow.log_metrics({"f1": 0.4})
    mlflow.log_metric("count", 3)
    mlflow.log_param("opt.lr", "0.01")
    mlflow.log_metric("val loss", 0.25)
    mlflow.log_metric("val/acc", 0.66)
    mlflow.set_tag("team", "vision")
    mlflow.set_tags({"stage": "dev", "priority": 3})

pause()
with mlflow.start_run(run_name="rf-large"):
    mlflow.log_params({"model": "rf", "depth": 12})
    mlflow.log_metric("acc", 0.3)
    mlflow.log_metric("loss", 1.2, step=0, timestamp=T0)
    mlflow.set_tag("team", "Vision-2")

pause()
with mlflow.start_run(run_name="svm"):
    mlflow.log_param("model", "svm")
    mlflow.log_metric("acc", 0.9, step=0)
    mlflow.log_metric("acc", 0.85, step=1)
    mlflow.set_tag("team", "nlp")
    pause()
    with mlflow.start_run(run_name="svm-child", nested=True):
        mlflow.log_param("kernel", "rbf")
        mlflow.log_metric("child_score", 1.5)

pause()
try:
    with mlflow.start_run(run_name="crash"):
        mlflow.log_param("model", "lr")
        mlflow.log_metric("acc", 0.55)
        mlflow.set_tag("team", "vision")
        raise RuntimeError("training diverged")
except RuntimeError:
    pass

pause()
mlflow.start_run(run_name="killed")
mlflow.log_param("model", "rf")
mlflow.log_metric("acc", 0.4, step=0)
mlflow.log_metric("acc", math.nan, step=1)
mlflow.log_metric("gain", math.inf)
mlflow.log_metric("drop", -math.inf)
mlflow.set_tag("team", "VISION-3")
mlflow.end_run(status="KILLED")

pause()
with mlflow.start_run(run_name="inf-acc"):
    mlflow.log_param("model", "xgb")
    mlflow.log_metric("acc", math.inf)
    mlflow.set_tag("team", "tabular")

pause()
with mlflow.start_run(run_name="doomed") as doomed:
    mlflow.log_param("model", "rf")
    mlflow.log_metric("acc", 0.95)
    mlflow.set_tag("team", "vision")
mlflow.delete_run(doomed.info.run_id)

mlflow.set_experiment("diff-beta")
mlflow.set_experiment_tag("owner", "ml-team")
client = mlflow.MlflowClient()

pause()
with mlflow.start_run(run_name="batch") as run:
    Metric, Param, RunTag = mlflow.entities.Metric, mlflow.entities.Param, mlflow.entities.RunTag
    client.log_batch(
        run.info.run_id,
        metrics=[
            Metric("acc", 0.65, T0, 0),
            Metric("acc", 0.75, T0 + 10, 1),
            Metric("acc", 0.6, T0 + 5, 1),
            Metric("noise", math.nan, T0, 0),
            Metric("noise", 2.0, T0, 1),
            Metric("peak", math.inf, T0, 0),
            Metric("floor", -math.inf, T0, 0),
        ],
        params=[Param("model", "gbm"), Param("depth", "6")],
        tags=[RunTag("team", "vis-batch")],
    )

pause()
with mlflow.start_run(run_name="no-metrics"):
    mlflow.log_param("model", "rf")
    mlflow.set_tag("team", "nlp")

pause()
with mlflow.start_run(run_name="neg-inf"):
    mlflow.log_param("model", "lr")
    mlflow.log_metric("acc", -math.inf)
    # Two values at one step and timestamp: MLflow's stores keep the larger one as latest.
    mlflow.log_metric("tie", 0.2, step=1, timestamp=T0)
    mlflow.log_metric("tie", 0.1, step=1, timestamp=T0)
"""

# Run name → experiment, as the script above creates them.
RUNS = {
    "rf-small": ALPHA,
    "rf-large": ALPHA,
    "svm": ALPHA,
    "svm-child": ALPHA,
    "crash": ALPHA,
    "killed": ALPHA,
    "inf-acc": ALPHA,
    "doomed": ALPHA,
    "batch": BETA,
    "no-metrics": BETA,
    "neg-inf": BETA,
}
RUN_ASPECTS = ("info", "params", "metrics", "history", "tags")

# Tags left out of the comparison. The git tags describe the checkout around the script; the
# script runs in a temporary folder outside any repository, so neither library should write
# them, but whether one does depends on where the temporary folder lives, not on the library.
EXCLUDED_TAG_PREFIXES = ("mlflow.source.git.", "mlflow.gitRepoURL")
# Compared on its own (test_source_name_matches), so that a difference in it shows as one
# failure instead of failing every run's tags. mlflow.user and mlflow.source.type must match.
SOURCE_NAME_TAG = "mlflow.source.name"

# MLflow's SQL store cannot hold ±inf: it writes ±sys.float_info.max instead
# (SqlAlchemyStore.sanitize_metric_value), so MLflow reads a logged inf back as 1.8e308, where
# Traza (like MLflow's old file store) returns inf. That is MLflow's storage limit, not a
# difference in what the script logged: ±max float compares as ±inf on both sides.
_FLOAT_MAX = sys.float_info.max


@dataclass(frozen=True)
class SearchCase:
    id: str
    filter: str = ""
    order_by: tuple[str, ...] = ()
    experiments: tuple[str, ...] = (ALPHA, BETA)
    view: str = "ACTIVE_ONLY"
    page_size: int | None = None


SEARCH_CASES = [
    # filters (default order: start_time DESC)
    SearchCase("all"),
    SearchCase("alpha-only", experiments=(ALPHA,)),
    SearchCase("acc-gt", "metrics.acc > 0.5"),
    SearchCase("acc-ge", "metrics.acc >= 0.55"),
    SearchCase("acc-eq", "metrics.acc = 0.55"),
    SearchCase("acc-lt-beta", "metrics.acc < 0.7", experiments=(BETA,)),
    SearchCase("acc-ne-beta", "metrics.acc != 0.75", experiments=(BETA,)),
    SearchCase("acc-above-huge", "metrics.acc > 1e300"),
    SearchCase("acc-below-huge", "metrics.acc < -1e300"),
    SearchCase("loss-latest", "metrics.loss > 0.6"),
    SearchCase("loss-latest-eq", "metrics.loss = 0.7"),
    SearchCase("tie-latest", "metrics.tie = 0.2"),
    SearchCase("noise-latest", "metrics.noise = 2"),
    SearchCase("model-eq", "params.model = 'rf'"),
    SearchCase("model-ne", "params.model != 'rf'"),
    SearchCase("model-is-null", "params.model IS NULL"),
    SearchCase("model-is-not-null", "params.model IS NOT NULL"),
    SearchCase("param-like", "params.model LIKE 's%'"),
    SearchCase("param-bool", "params.use_bias = 'True'"),
    SearchCase("param-none", "params.note = 'None'"),
    SearchCase("param-list", "params.layers = '[1, 2]'"),
    SearchCase("param-dotted-key", "params.opt.lr = '0.01'"),
    SearchCase("param-backticked-key", "params.`opt.lr` = '0.01'"),
    SearchCase("param-double-quoted-value", 'params.model = "rf"'),
    SearchCase("metric-key-with-space", "metrics.`val loss` < 1"),
    SearchCase("metric-key-with-slash", "metrics.val/acc > 0.5"),
    SearchCase("metric-key-with-slash-quoted", "metrics.`val/acc` > 0.5"),
    SearchCase("tag-like", "tags.team LIKE 'vis%'"),
    SearchCase("tag-like-underscore", "tags.team LIKE 'Vision_2'"),
    SearchCase("tag-like-case", "tags.team LIKE 'VIS%'"),
    SearchCase("tag-ilike", "tags.team ILIKE 'VIS%'"),
    SearchCase("tag-eq", "tags.team = 'nlp'"),
    SearchCase("tag-ne", "tags.team != 'nlp'"),
    SearchCase("tag-is-null", "tags.team IS NULL"),
    SearchCase("tag-int-value", "tags.priority = '3'"),
    SearchCase("tag-parent", "tags.mlflow.parentRunId = {id:svm}"),
    SearchCase("tag-backticks", "tags.`mlflow.runName` = 'svm'"),
    SearchCase("status-finished", "attributes.status = 'FINISHED'"),
    SearchCase("status-ne-finished", "attributes.status != 'FINISHED'"),
    SearchCase("status-killed", "status = 'KILLED'"),
    SearchCase("and", "metrics.acc >= 0.5 and params.model = 'rf'"),
    SearchCase("and-three", "params.model = 'rf' AND tags.team LIKE '%ision%' AND metrics.acc > 0"),
    SearchCase("run-name-eq", "attributes.run_name = 'svm'"),
    SearchCase("run-name-ne", "attributes.run_name != 'svm'"),
    SearchCase("run-name-like", "attributes.run_name LIKE 'rf-%'"),
    SearchCase("run-name-ilike", "run_name ILIKE 'RF%'"),
    SearchCase("run-id-eq", "attributes.run_id = {id:crash}"),
    SearchCase("run-id-in", "attributes.run_id IN ({id:svm}, {id:crash}, {id:batch})"),
    SearchCase("run-id-not-in", "attributes.run_id NOT IN ({id:svm}, {id:crash})"),
    # orders
    SearchCase("order-acc-desc", order_by=("metrics.acc DESC",)),
    SearchCase("order-acc-asc", order_by=("metrics.acc ASC",)),
    SearchCase("order-acc-default-direction", order_by=("metrics.acc",)),
    SearchCase("order-model-acc", order_by=("params.model ASC", "metrics.acc DESC")),
    SearchCase("order-model-desc", order_by=("params.model DESC",)),
    SearchCase("order-run-name", order_by=("attributes.run_name",)),
    SearchCase("order-run-name-desc", order_by=("attributes.run_name DESC",)),
    SearchCase("order-start-desc", order_by=("attributes.start_time DESC",)),
    SearchCase("order-start-asc", order_by=("attributes.start_time ASC",)),
    SearchCase("order-status", order_by=("attributes.status",)),
    SearchCase("order-team", order_by=("tags.team ASC",)),
    SearchCase("order-loss", order_by=("metrics.loss ASC",)),
    SearchCase("order-filtered", "params.model = 'rf'", ("metrics.acc DESC",)),
    # view types
    SearchCase("view-all", view="ALL"),
    SearchCase("view-deleted", view="DELETED_ONLY"),
    SearchCase("view-all-acc-desc", view="ALL", order_by=("metrics.acc DESC",)),
    SearchCase("view-deleted-beta", view="DELETED_ONLY", experiments=(BETA,)),
    # pagination
    SearchCase("pages-default", page_size=2),
    SearchCase("pages-acc-desc", order_by=("metrics.acc DESC",), page_size=2),
    SearchCase("pages-filtered", "params.model = 'rf'", page_size=2),
    SearchCase("pages-all-view", view="ALL", page_size=3),
    # rejected by both
    SearchCase("bad-metric-string", "metrics.acc = 'x'"),
    SearchCase("bad-param-number", "params.model = 1"),
    SearchCase("bad-param-op", "params.model > 'a'"),
    SearchCase("bad-entity", "foo.bar = 'x'"),
    SearchCase("bad-or", "metrics.acc > 0.5 OR params.model = 'rf'"),
    SearchCase("bad-tag-in", "tags.team IN ('nlp', 'vision')"),
    SearchCase("bad-metric-is-null", "metrics.acc IS NULL"),
    SearchCase("bad-attribute", "attributes.color = 'red'"),
    SearchCase("bad-order-entity", order_by=("foo.bar",)),
]


def _environment(lib: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if lib == "mlflow":
        # Set through the environment so the script text is the same for both libraries.
        env["MLFLOW_TRACKING_URI"] = "sqlite:///mlflow.db"
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def _run_all(commands: dict[str, tuple[list[str], Path]]) -> None:
    """Run one command per library concurrently; fail with its output if any fails."""
    procs = {
        lib: subprocess.Popen(
            argv,
            cwd=cwd,
            env=_environment(lib),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for lib, (argv, cwd) in commands.items()
    }
    failures = []
    for lib, proc in procs.items():
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        if proc.returncode != 0:
            failures.append(f"[{lib}] {commands[lib][0]} exited {proc.returncode}\n{out}\n{err}")
    if failures:
        pytest.fail("\n\n".join(failures))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Both libraries' snapshots, from one run of the user script each."""
    folders = {lib: tmp_path_factory.mktemp(f"differential-{lib}") for lib in LIBRARIES}
    cases = tmp_path_factory.mktemp("differential-cases") / "cases.json"
    cases.write_text(json.dumps([asdict(case) for case in SEARCH_CASES]))
    for lib, folder in folders.items():
        (folder / SCRIPT_NAME).write_text(USER_SCRIPT.replace("{lib}", lib))
    # Invoked as users do (``python train.py`` in the project folder).
    _run_all({lib: ([sys.executable, SCRIPT_NAME], folder) for lib, folder in folders.items()})
    _run_all(
        {
            lib: ([sys.executable, str(SNAPSHOT_SCRIPT), lib, str(cases), "snapshot.json"], folder)
            for lib, folder in folders.items()
        }
    )
    return {lib: json.loads((f / "snapshot.json").read_text()) for lib, f in folders.items()}


def _logged_value(value: float | str) -> float | str:
    """A snapshot metric value, with MLflow's stand-in for ±inf read as ±inf."""
    if value == _FLOAT_MAX:
        return "Infinity"
    if value == -_FLOAT_MAX:
        return "-Infinity"
    return value


def _point_order(point: list[Any]) -> tuple[int, str]:
    """Any total order works: both sides are sorted the same way before comparing."""
    return (point[0], repr(point[1]))


def _comparable(aspect: str, data: Any) -> Any:
    """One aspect of a run's snapshot, shaped for comparison (see the module constants)."""
    if data is None:
        return None
    if aspect == "metrics":
        return {key: _logged_value(value) for key, value in data.items()}
    if aspect == "history":
        return {
            key: sorted(([step, _logged_value(v)] for step, v in points), key=_point_order)
            for key, points in data.items()
        }
    if aspect == "tags":
        return {
            key: value
            for key, value in data.items()
            if not key.startswith(EXCLUDED_TAG_PREFIXES) and key != SOURCE_NAME_TAG
        }
    return data


def test_both_recorded_the_script_runs(recorded: dict[str, dict[str, Any]]) -> None:
    for lib in LIBRARIES:
        runs = recorded[lib]["runs"]
        assert {name: run["info"]["experiment"] for name, run in runs.items()} == RUNS, lib


def test_experiments_match(recorded: dict[str, dict[str, Any]]) -> None:
    assert recorded["traza"]["experiments"] == recorded["mlflow"]["experiments"]


def test_experiment_order_matches(recorded: dict[str, dict[str, Any]]) -> None:
    """search_experiments' default order (creation_time DESC), for the script's experiments.

    "Default" is left out: each store creates it when first opened, which Traza can do in the
    same millisecond as it creates the first experiment (the tie then falls to experiment_id),
    while MLflow's database setup takes long enough to separate the two.
    """
    expected = [n for n in recorded["mlflow"]["experiment_order"] if n != "Default"]
    got = [n for n in recorded["traza"]["experiment_order"] if n != "Default"]
    assert got == expected == [BETA, ALPHA]


@pytest.mark.parametrize("aspect", RUN_ASPECTS)
@pytest.mark.parametrize("run_name", list(RUNS))
def test_run_matches(recorded: dict[str, dict[str, Any]], run_name: str, aspect: str) -> None:
    expected = _comparable(aspect, recorded["mlflow"]["runs"].get(run_name, {}).get(aspect))
    got = _comparable(aspect, recorded["traza"]["runs"].get(run_name, {}).get(aspect))
    assert got == expected


def test_source_name_matches(recorded: dict[str, dict[str, Any]]) -> None:
    """The script ran as ``python train.py``: MLflow records ``sys.argv[0]`` as given."""
    expected = {n: r["tags"].get(SOURCE_NAME_TAG) for n, r in recorded["mlflow"]["runs"].items()}
    got = {n: r["tags"].get(SOURCE_NAME_TAG) for n, r in recorded["traza"]["runs"].items()}
    assert got == expected


@pytest.mark.parametrize("case", SEARCH_CASES, ids=[case.id for case in SEARCH_CASES])
def test_search_runs_matches(recorded: dict[str, dict[str, Any]], case: SearchCase) -> None:
    expected = recorded["mlflow"]["searches"][case.id]
    got = recorded["traza"]["searches"][case.id]
    assert got == expected, f"filter={case.filter!r} order_by={list(case.order_by)}"
