"""``traza export``: a Traza store copied into MLflow, checked entity by entity with both clients.

Traza's client reads the source, the real ``mlflow`` client reads the export (MLflow's own
SQLite database in this process, and a live ``mlflow server``): experiments, runs (info, status,
times, lifecycle), params, tags, full metric histories with steps, timestamps and model/dataset
links, dataset inputs, model outputs, artifacts, logged models, and registered models with their
versions, aliases, tags, descriptions and stages. A second export changes nothing; an export
after the source changed brings over exactly what is new.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from traza import TrazaClient
from traza.cli import main
from traza.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelTag,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from traza.entities.registry import ModelVersionTag, RegisteredModelTag
from traza.store.base import Store
from traza.transfer.export_support import DIGEST_TAG, SOURCE_MODEL_TAG, SOURCE_RUN_TAG

T0 = 1_600_000_000_000


@dataclass
class Seed:
    uri: str
    finished: str
    child: str
    running: str
    deleted: str
    model_id: str


def _files(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _seed(tmp_path: Path) -> Seed:
    """A store with one of everything an export must carry, with fixed times."""
    from traza.artifacts import get_repository

    uri = str(tmp_path / "traza")
    client = TrazaClient(uri)
    store: Store = client.store
    exp = store.create_experiment("salary", tags=[])
    store.set_experiment_tag(exp, _etag("team", "ml"))
    gone = store.create_experiment("abandoned")

    finished = store.create_run(exp, "ana", T0, [RunTag("mlflow.user", "ana")], "baseline")
    fid = finished.info.run_id
    model = store.create_logged_model(
        exp,
        "forest",
        fid,
        tags=[LoggedModelTag("flavor", "sklearn")],
        params=[LoggedModelParameter("n_estimators", "200")],
        model_type="regressor",
    )
    store.log_batch(
        fid,
        metrics=[Metric("loss", 1.0 / (s + 1), T0 + 10 * s, s) for s in range(300)]
        + [
            Metric("loss", 0.25, T0 + 5, 3),  # a second point at a step already logged
            Metric("odd", math.nan, T0 + 1, 0),
            Metric("odd", math.inf, T0 + 2, 1),
            Metric("rmse", 0.5, T0 + 7, 2, model.model_id, "train", "d1"),
        ],
        params=[Param("alpha", "0.1"), Param("fit_intercept", "True")],
        tags=[RunTag("stage", "dev"), RunTag("mlflow.note.content", "first try")],
    )
    store.log_inputs(
        fid,
        [
            DatasetInput(
                Dataset("train", "d1", "local", '{"uri": "train.csv"}', '{"cols": []}', '{"n": 9}'),
                (InputTag("mlflow.data.context", "training"),),
            )
        ],
    )
    store.log_outputs(fid, [LoggedModelOutput(model.model_id, 3)])
    get_repository(finished.info.artifact_uri).log_artifacts(
        _files(tmp_path / "run-files", {"model/MLmodel": "flavors: {}", "notes/a.txt": "alpha"})
    )
    get_repository(model.artifact_location).log_artifacts(
        _files(tmp_path / "model-files", {"MLmodel": "model", "model.pkl": "bytes"})
    )
    store.finalize_logged_model(model.model_id, "READY")
    store.update_run_info(fid, "FINISHED", T0 + 60_000, None)

    child = store.create_run(exp, "ana", T0 + 100, [RunTag("mlflow.parentRunId", fid)], "child")
    store.log_batch(child.info.run_id, metrics=[Metric("acc", 0.9, T0 + 101, 0)])
    store.update_run_info(child.info.run_id, "FAILED", T0 + 200, None)
    # The child used its parent's model (run.inputs.model_inputs).
    store.log_inputs(child.info.run_id, models=[LoggedModelInput(model.model_id)])
    running = store.create_run(exp, "bo", T0 + 300, [], "still-going")
    store.log_batch(running.info.run_id, params=[Param("p", "1")])
    deleted = store.create_run(exp, "bo", T0 + 400, [], "thrown-away")
    store.log_batch(deleted.info.run_id, metrics=[Metric("loss", 3.0, T0 + 401, 0)])
    store.update_run_info(deleted.info.run_id, "KILLED", T0 + 500, None)
    store.delete_run(deleted.info.run_id)
    old = store.create_run(gone, "bo", T0 + 600, [], "in-deleted-experiment")
    store.update_run_info(old.info.run_id, "FINISHED", T0 + 700, None)
    store.delete_experiment(gone)

    store.create_registered_model(
        "salary-model", [RegisteredModelTag("owner", "ana")], "predicts salaries"
    )
    store.create_model_version(
        "salary-model", f"runs:/{fid}/model", fid, [ModelVersionTag("v", "one")], None, "first"
    )
    store.create_model_version(
        "salary-model", f"models:/{model.model_id}", fid, None, None, None, model.model_id
    )
    store.create_model_version("salary-model", f"runs:/{fid}/model", fid)
    store.delete_model_version("salary-model", 3)  # a gap: the export keeps numbering
    store.create_model_version("salary-model", f"runs:/{child.info.run_id}/x", child.info.run_id)
    store.set_registered_model_alias("salary-model", "champion", 2)
    store.set_registered_model_alias("salary-model", "previous", 1)
    store.transition_model_version_stage("salary-model", 1, "Archived")
    return Seed(
        uri, fid, child.info.run_id, running.info.run_id, deleted.info.run_id, model.model_id
    )


def _dataset_inputs(inputs: Any) -> list[tuple[Any, ...]]:
    """Dataset inputs (Traza's or MLflow's) as comparable tuples."""
    return [
        (
            d.dataset.name,
            d.dataset.digest,
            d.dataset.source_type,
            d.dataset.source,
            d.dataset.schema,
            d.dataset.profile,
            sorted((x.key, x.value) for x in d.tags),
        )
        for d in inputs
    ]


def _etag(key: str, value: str) -> Any:
    from traza.entities import ExperimentTag

    return ExperimentTag(key, value)


# -- the comparison: Traza's client on the source, mlflow's on the export -----------------------
def _point(m: Any, model_ids: dict[str, str] | None) -> tuple[Any, ...]:
    """A metric point as a tuple; a source point's model id is mapped to the exported one."""
    value = "nan" if math.isnan(m.value) else m.value
    if math.isinf(m.value):  # MLflow's SQL store itself keeps +-inf as +-max float
        value = math.copysign(sys.float_info.max, m.value)
    model_id = getattr(m, "model_id", None)
    if model_ids is not None and model_id:
        model_id = model_ids[model_id]
    return (m.key, value, m.timestamp, m.step, model_id, m.dataset_name, m.dataset_digest)


def _model_tags(tags: dict[str, str]) -> dict[str, Any]:
    """A logged model's tags; the registered versions' list compared by (name, version)."""
    out: dict[str, Any] = {k: v for k, v in tags.items() if k != SOURCE_MODEL_TAG}
    if "mlflow.modelVersions" in out:
        out["mlflow.modelVersions"] = sorted(
            (v["name"], str(v["version"])) for v in json.loads(out["mlflow.modelVersions"])
        )
    return out


def _local_files(uri: str) -> dict[str, str]:
    from traza.artifacts.local import local_path_of

    root = local_path_of(uri)
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def _all_files(download: Any, dst: Path) -> dict[str, str]:
    root = Path(download(dst))
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def compare(source_uri: str, target: Any, tmp_path: Path) -> dict[str, int]:
    """Assert that the MLflow export holds everything the Traza store does; returns counts."""
    import mlflow.artifacts

    src = TrazaClient(source_uri)
    counts = {"runs": 0, "points": 0, "versions": 0}
    run_map: dict[str, str] = {}
    model_map: dict[str, str] = {}
    for exp in src.search_experiments(ViewType.ALL):
        texp = target.get_experiment_by_name(exp.name)
        assert texp is not None, exp.name
        assert texp.lifecycle_stage == exp.lifecycle_stage, exp.name
        assert texp.tags == exp.tags
        target_runs = {
            r.data.tags[SOURCE_RUN_TAG]: r
            for r in target.search_runs([texp.experiment_id], run_view_type=ViewType.ALL)
        }
        source_runs = src.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
        assert sorted(target_runs) == sorted(r.info.run_id for r in source_runs)
        for run in source_runs:
            run_map[run.info.run_id] = target_runs[run.info.run_id].info.run_id
        for model in src.search_logged_models([exp.experiment_id]):
            (tm,) = [
                m
                for m in target.search_logged_models([texp.experiment_id])
                if m.tags.get(SOURCE_MODEL_TAG) == model.model_id
            ]
            model_map[model.model_id] = tm.model_id
            assert (tm.name, tm.model_type, tm.params) == (
                model.name,
                model.model_type,
                model.params,
            )
            assert _model_tags(tm.tags) == _model_tags(model.tags)
            assert tm.status.to_proto() == 2 and str(model.status.value) == "READY"
            assert tm.source_run_id == run_map[model.source_run_id]
            assert sorted(_point(m, None) for m in tm.metrics) == sorted(
                (*_point(m, None)[:4], tm.model_id, *_point(m, None)[5:]) for m in model.metrics
            )
            assert [m.key for m in tm.metrics] == ["rmse"]
            got = _all_files(
                lambda d, m=tm: mlflow.artifacts.download_artifacts(
                    artifact_uri=m.artifact_location,
                    dst_path=str(d),
                    tracking_uri=target._tracking_client.tracking_uri,
                ),
                tmp_path / "dl" / tm.model_id,
            )
            want = _local_files(model.artifact_location)
            assert got == want and got
        for run in source_runs:
            t = target_runs[run.info.run_id]
            counts["runs"] += 1
            i, ti = run.info, t.info
            assert (ti.status, ti.start_time, ti.end_time, ti.lifecycle_stage, ti.run_name) == (
                i.status,
                i.start_time,
                i.end_time,
                i.lifecycle_stage,
                i.run_name,
            ), i.run_name
            assert ti.user_id == i.user_id
            assert t.data.params == run.data.params
            tags = {k: v for k, v in t.data.tags.items() if not k.startswith("traza.")}
            want_tags = dict(run.data.tags)
            if "mlflow.parentRunId" in want_tags:
                want_tags["mlflow.parentRunId"] = run_map[want_tags["mlflow.parentRunId"]]
            want_tags.setdefault("mlflow.user", i.user_id)
            assert tags == want_tags, i.run_name
            assert sorted(t.data.metrics) == sorted(run.data.metrics)
            for key in run.data.metrics:
                want = sorted(
                    (_point(m, model_map) for m in src.get_metric_history(i.run_id, key)), key=repr
                )
                # MLflow keeps a point's model and dataset on the logged model's metrics
                # (checked above), not in the run's history.
                want = [w[:4] for w in want]
                got = sorted(
                    (_point(m, None)[:4] for m in target.get_metric_history(ti.run_id, key)),
                    key=repr,
                )
                assert got == want, (i.run_name, key)
                counts["points"] += len(got)
            want_inputs = _dataset_inputs(run.inputs.dataset_inputs)
            got_inputs = _dataset_inputs(t.inputs.dataset_inputs if t.inputs else [])
            assert got_inputs == want_inputs
            got_outputs = [
                (o.model_id, o.step) for o in (t.outputs.model_outputs if t.outputs else [])
            ]
            assert got_outputs == [
                (model_map[o.model_id], o.step) for o in run.outputs.model_outputs
            ]
            # MLflow's search_runs leaves model inputs out; get_run has them.
            got_models = target.get_run(ti.run_id).inputs.model_inputs or []
            want_models = src.get_run(i.run_id).inputs.model_inputs
            assert sorted(m.model_id for m in got_models) == sorted(
                model_map[m.model_id] for m in want_models
            )
            want_files = _local_files(i.artifact_uri)
            if ti.lifecycle_stage == "active":
                got_files = (
                    _all_files(
                        lambda d, r=ti: target.download_artifacts(r.run_id, "", str(d)),
                        tmp_path / "dl" / ti.run_id,
                    )
                    if target.list_artifacts(ti.run_id)
                    else {}
                )
                assert got_files == want_files, i.run_name
    for rm in src.search_registered_models():
        rm = src.get_registered_model(rm.name)
        trm = target.get_registered_model(rm.name)
        assert (trm.description, trm.tags) == (rm.description, rm.tags)
        assert {a: str(v) for a, v in trm.aliases.items()} == rm.aliases
        versions = src.search_model_versions(f"name = '{rm.name}'")
        tversions = {str(v.version): v for v in target.search_model_versions(f"name = '{rm.name}'")}
        assert sorted(tversions) == sorted(v.version for v in versions)
        for v in versions:
            tv = target.get_model_version(rm.name, v.version)  # with its aliases
            counts["versions"] += 1
            assert (tv.tags, tv.description or None, tv.current_stage) == (
                v.tags,
                v.description or None,
                v.current_stage,
            )
            assert tv.run_id == run_map[v.run_id]
            if v.model_id:
                # MLflow 3.17's SQL registry does not return model_id (its own register_model
                # neither): the source names the logged model.
                assert tv.model_id in (None, model_map[v.model_id])
                assert tv.source == f"models:/{model_map[v.model_id]}"
            else:
                assert tv.source == v.source.replace(v.run_id, run_map[v.run_id])
            assert sorted(tv.aliases) == sorted(v.aliases)
    return counts


@pytest.fixture(scope="session")
def mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow database, made once: MLflow's migrations take seconds on every new one."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_db(mlflow_db_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh MLflow SQLite database (a copy of the template) as a tracking URI."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    path = tmp_path / "mlflow.db"
    shutil.copy(mlflow_db_template, path)
    return f"sqlite:///{path}"


def _mlflow_client(uri: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_export_to_mlflow_sqlite_carries_every_entity(tmp_path: Path, mlflow_db: str) -> None:
    seed = _seed(tmp_path)
    target_uri = mlflow_db
    runner = CliRunner()
    result = runner.invoke(main, ["export", target_uri, "--from", seed.uri])
    assert result.exit_code == 0, result.output
    assert "runs created: 5" in result.output and "model versions created: 3" in result.output
    assert "model inputs: 1" in result.output
    assert "experiment 'salary'" in result.output  # progress, on stderr
    target = _mlflow_client(target_uri)
    counts = compare(seed.uri, target, tmp_path / "first")
    assert counts == {"runs": 5, "points": 306, "versions": 3}
    # The numbering is MLflow's own: version 3 was a placeholder for the deleted one.
    assert {str(v.version) for v in target.search_model_versions("name = 'salary-model'")} == {
        "1",
        "2",
        "4",
    }

    # Again: nothing new, nothing duplicated.
    again = runner.invoke(main, ["export", target_uri, "--from", seed.uri])
    assert again.exit_code == 0, again.output
    assert "runs unchanged: 5" in again.output
    assert "runs created" not in again.output and "metric points" not in again.output
    assert "model versions matched: 3" in again.output
    compare(seed.uri, target, tmp_path / "second")

    # An export interrupted half-way through a run (no digest yet) is completed, not repeated.
    (baseline,) = target.search_runs(
        [target.get_experiment_by_name("salary").experiment_id],
        f"tags.traza.source_run_id = '{seed.finished}'",
    )
    target.delete_tag(baseline.info.run_id, DIGEST_TAG)
    resumed = runner.invoke(main, ["export", target_uri, "--from", seed.uri])
    assert resumed.exit_code == 0, resumed.output
    assert "runs updated: 1" in resumed.output and "runs unchanged: 4" in resumed.output
    assert "metric points" not in resumed.output and "params" not in resumed.output
    assert len(target.get_metric_history(baseline.info.run_id, "loss")) == 301

    # The source moves on: points, a tag, a deleted run restored, a new run, a new alias.
    src = TrazaClient(seed.uri)
    src.store.restore_run(seed.deleted)
    src.store.update_run_info(seed.running, "FINISHED", T0 + 9_000, None)
    for s in range(300, 310):
        src.store.log_batch(seed.running, metrics=[Metric("late", float(s), T0 + s, s)])
    src.store.log_batch(seed.child, tags=[RunTag("reviewed", "yes")])
    exp = src.get_experiment_by_name("salary")
    assert exp is not None
    src.store.create_run(exp.experiment_id, "ana", T0 + 10_000, [], "new")
    src.store.set_registered_model_alias("salary-model", "latest-good", 4)
    third = runner.invoke(main, ["export", target_uri, "--from", seed.uri])
    assert third.exit_code == 0, third.output
    assert "runs created: 1" in third.output and "runs updated: 3" in third.output
    assert "metric points: 10" in third.output and "aliases: 1" in third.output
    assert compare(seed.uri, target, tmp_path / "third")["runs"] == 6


def test_export_of_some_experiments(tmp_path: Path, mlflow_db: str) -> None:
    seed = _seed(tmp_path)
    exp = TrazaClient(seed.uri).get_experiment_by_name("abandoned")
    assert exp is not None
    target_uri = mlflow_db
    result = CliRunner().invoke(
        main, ["export", target_uri, "--from", seed.uri, "--experiment-ids", exp.experiment_id]
    )
    assert result.exit_code == 0, result.output
    target = _mlflow_client(target_uri)
    assert target.get_experiment_by_name("salary") is None
    texp = target.get_experiment_by_name("abandoned")
    assert texp.lifecycle_stage == "deleted"
    (run,) = target.search_runs([texp.experiment_id], run_view_type=ViewType.ALL)
    assert (run.info.run_name, run.info.status, run.info.end_time) == (
        "in-deleted-experiment",
        "FINISHED",
        T0 + 700,
    )
    # A registered model none of whose versions was exported is reported, not created empty.
    assert "skipped registered model salary-model: none of its versions" in result.output
    unknown = CliRunner().invoke(
        main, ["export", target_uri, "--from", seed.uri, "--experiment-ids", "12345"]
    )
    assert unknown.exit_code == 1 and "No experiment with id 12345" in unknown.output


def _empty_store(path: Path) -> str:
    from traza.store.uri import open_store

    open_store(str(path)).close()
    return str(path)


def test_export_without_mlflow_says_how_to_get_it(tmp_path: Path) -> None:
    _empty_store(tmp_path / "s")
    # A process where `import mlflow` fails, as where it is not installed.
    code = (
        "import sys; sys.modules['mlflow'] = None; from traza.cli import main; "
        f"main(['export', 'sqlite:///x.db', '--from', {str(tmp_path / 's')!r}])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 1
    assert "pip install mlflow" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.db").exists()


def test_export_to_a_bad_target_is_a_clear_error(tmp_path: Path) -> None:
    source = _empty_store(tmp_path / "s")
    result = CliRunner().invoke(main, ["export", "nosuch://x", "--from", source])
    assert result.exit_code == 1
    assert "nosuch://x" in result.output and "sqlite:///mlflow.db" in result.output
    missing = CliRunner().invoke(main, ["export", "sqlite:///m.db", "--from", str(tmp_path / "t")])
    assert missing.exit_code == 1 and "No Traza store at" in missing.output
    assert not (tmp_path / "t").exists()


def test_export_to_a_traza_server_through_mlflow_rest(tmp_path: Path) -> None:
    """A Traza server speaks MLflow's REST API, so it is an export target like MLflow's own."""
    from tests.conftest import served_store

    from traza.store.uri import open_store

    seed = _seed(tmp_path)
    backend = open_store(str(tmp_path / "served"))
    with served_store(backend, tmp_path / "served-artifacts") as url:
        result = CliRunner().invoke(main, ["export", url, "--from", seed.uri])
        assert result.exit_code == 0, result.output
        counts = compare(seed.uri, _mlflow_client(url), tmp_path / "cmp")
        assert counts == {"runs": 5, "points": 306, "versions": 3}
    backend.close()


# -- a live mlflow server -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module", autouse=True)
def _mlflow_server_booting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    """A live ``mlflow server`` on 127.0.0.1, started when this module starts: it takes tens of
    seconds to boot on a busy machine, which then overlaps the tests that run before it."""
    port = _free_port()
    folder = tmp_path_factory.mktemp("mlflow-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    log = folder / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--artifacts-destination",
                str(folder / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers are stopped with it
        )
    try:
        yield _Server(f"http://127.0.0.1:{port}", process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def mlflow_server(_mlflow_server_booting: _Server) -> str:
    server = _mlflow_server_booting
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server.url
        except OSError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(server.log.read_text()[-3000:])
        time.sleep(0.3)


def test_export_to_a_live_mlflow_server(tmp_path: Path, mlflow_server: str) -> None:
    seed = _seed(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["export", mlflow_server, "--from", seed.uri])
    assert result.exit_code == 0, result.output
    target = _mlflow_client(mlflow_server)
    assert compare(seed.uri, target, tmp_path / "cmp") == {"runs": 5, "points": 306, "versions": 3}
    again = runner.invoke(main, ["export", mlflow_server, "--from", seed.uri])
    assert again.exit_code == 0, again.output
    assert "runs unchanged: 5" in again.output and "runs created" not in again.output
    exp = target.get_experiment_by_name("salary")
    tagged = target.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
    assert len(tagged) == 4 and all(DIGEST_TAG in r.data.tags for r in tagged)


def test_export_into_a_traza_store_is_refused(tmp_path: Path) -> None:
    """MLflow would add its alembic tables to a Traza database and fail half way: refused before
    MLflow touches it, the store unchanged."""
    import sqlite3

    source = _empty_store(tmp_path / "s")
    db = tmp_path / "s" / "traza.db"

    def tables() -> set[str]:
        conn = sqlite3.connect(db)
        try:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()

    before = tables()
    for target in (f"sqlite:///{db}", (tmp_path / "s").as_uri()):
        result = CliRunner().invoke(main, ["export", target, "--from", source])
        assert result.exit_code == 1, result.output
        assert "is a Traza store" in result.output and "traza sync" in result.output
        assert "Traceback" not in result.output
    assert tables() == before and "alembic_version" not in before
    assert not (tmp_path / "s" / "0").exists()


def test_export_into_a_traza_postgres_store_is_refused(tmp_path: Path) -> None:
    from tests.conftest import postgres_schema

    from traza.store.uri import open_store

    source = _empty_store(tmp_path / "s")
    with postgres_schema() as url:
        open_store(url).close()
        result = CliRunner().invoke(main, ["export", url, "--from", source])
        assert result.exit_code == 1 and "is a Traza store" in result.output, result.output


def test_a_logged_model_whose_export_was_interrupted_is_completed(
    tmp_path: Path, mlflow_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Created in MLflow but stopped before its artifacts landed: the next export finds it by
    its tag, uploads the artifacts and finalizes it, instead of leaving it pending and empty."""
    from traza.transfer import export as export_module

    seed = _seed(tmp_path)
    real_upload = export_module.MlflowExporter._upload_artifacts

    def interrupted(self: Any, artifact_uri: str, target_id: str, model: bool = False) -> bool:
        if model:
            raise KeyboardInterrupt
        return real_upload(self, artifact_uri, target_id, model)

    monkeypatch.setattr(export_module.MlflowExporter, "_upload_artifacts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_module.export_to_mlflow(TrazaClient(seed.uri).store, mlflow_db)
    monkeypatch.setattr(export_module.MlflowExporter, "_upload_artifacts", real_upload)
    target = _mlflow_client(mlflow_db)
    (pending,) = target.search_logged_models(
        [target.get_experiment_by_name("salary").experiment_id]
    )
    assert str(pending.status) in ("PENDING", "LoggedModelStatus.PENDING")
    result = CliRunner().invoke(main, ["export", mlflow_db, "--from", seed.uri])
    assert result.exit_code == 0, result.output
    model = target.get_logged_model(pending.model_id)
    assert model.tags[SOURCE_MODEL_TAG] == seed.model_id
    assert "READY" in str(model.status)
    files = {a.path for a in target.list_logged_model_artifacts(model.model_id)}
    assert files == {"MLmodel", "model.pkl"}


def test_a_run_whose_files_did_not_change_is_not_uploaded_again(
    tmp_path: Path, mlflow_db: str
) -> None:
    from traza.artifacts import get_repository

    seed = _seed(tmp_path)
    runner = CliRunner()
    first = runner.invoke(main, ["export", mlflow_db, "--from", seed.uri])
    assert first.exit_code == 0 and "artifact roots uploaded: 1" in first.output, first.output
    src = TrazaClient(seed.uri)
    src.store.log_batch(seed.finished, tags=[RunTag("reviewed", "yes")])
    tagged = runner.invoke(main, ["export", mlflow_db, "--from", seed.uri])
    assert tagged.exit_code == 0, tagged.output
    assert "runs updated: 1" in tagged.output and "artifact roots uploaded" not in tagged.output
    root = src.get_run(seed.finished).info.artifact_uri
    get_repository(root).log_artifacts(_files(tmp_path / "more", {"notes/b.txt": "beta"}))
    grown = runner.invoke(main, ["export", mlflow_db, "--from", seed.uri])
    assert grown.exit_code == 0 and "artifact roots uploaded: 1" in grown.output, grown.output
    target = _mlflow_client(mlflow_db)
    (run,) = target.search_runs(
        [target.get_experiment_by_name("salary").experiment_id],
        f"tags.traza.source_run_id = '{seed.finished}'",
    )
    assert {a.path for a in target.list_artifacts(run.info.run_id, "notes")} == {
        "notes/a.txt",
        "notes/b.txt",
    }
