"""``Store.purge_deleted`` and ``traza gc`` on SQLite and PostgreSQL: what goes, what stays.

Each test builds a store holding active and deleted runs, experiments and logged models, with
artifacts on disk (or in an S3 bucket), then checks that purged items have no row left in any
table and no artifact file, and that everything else is exactly as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.conftest import Bucket, postgres_schema

from traza.artifacts import get_repository
from traza.artifacts.local import local_path_of
from traza.cli import main
from traza.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    LoggedModelOutput,
    LoggedModelTag,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from traza.exceptions import TrazaException
from traza.store.purge import parse_age
from traza.store.sql.store import SqlStore
from traza.store.uri import open_store

DAY_MS = 86_400_000
RUN_TABLES = (
    "params",
    "tags",
    "metrics",
    "latest_metrics",
    "metric_buckets",
    "run_inputs",
    "input_tags",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URI: a Traza folder (SQLite) or a PostgreSQL schema with local artifacts."""
    if request.param == "sqlite":
        yield str(tmp_path / "mlruns")
        return
    with postgres_schema() as url:
        yield url


def _open(uri: str, tmp_path: Path, artifact_root: str | None = None) -> SqlStore:
    if artifact_root is None and uri.startswith("postgresql"):
        artifact_root = (tmp_path / "pg-artifacts").as_uri()
    store = open_store(uri, artifact_root=artifact_root)
    assert isinstance(store, SqlStore)
    return store


@dataclass
class World:
    kept_exp: str
    gone_exp: str
    kept_run: str
    deleted_run: str
    gone_exp_runs: list[str]
    deleted_model: str
    gone_exp_model: str
    kept_model: str


def _artifacts(uri: str, tmp_path: Path, name: str) -> None:
    src = tmp_path / "src" / name
    src.mkdir(parents=True, exist_ok=True)
    (src / "a.txt").write_text(f"artifact of {name}")
    (src / "sub").mkdir(exist_ok=True)
    (src / "sub" / "b.json").write_text("{}")
    get_repository(uri).log_artifacts(src)


def _run(store: SqlStore, tmp_path: Path, experiment_id: str, name: str) -> str:
    run = store.create_run(experiment_id, "ana", 1_000, [RunTag("team", "x")], name)
    rid = run.info.run_id
    store.log_batch(
        rid,
        metrics=[Metric("loss", 1.0 / (s + 1), 1_000 + s, s) for s in range(5)],
        params=[Param("lr", "0.1")],
        tags=[RunTag("note", name)],
    )
    store.log_inputs(
        rid,
        [
            DatasetInput(
                Dataset(f"data-{name}", "d1g3st", "local", '{"uri": "x.csv"}'),
                (InputTag("mlflow.data.context", "training"),),
            )
        ],
    )
    _artifacts(run.info.artifact_uri, tmp_path, name)
    return rid


def _model(store: SqlStore, tmp_path: Path, experiment_id: str, run_id: str, name: str) -> str:
    model = store.create_logged_model(experiment_id, name, run_id, tags=[LoggedModelTag("k", "v")])
    store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    _artifacts(model.artifact_location, tmp_path, f"model-{name}")
    return model.model_id


def _world(store: SqlStore, tmp_path: Path) -> World:
    kept_exp = store.create_experiment("kept", tags=[ExperimentTag("owner", "ana")])
    gone_exp = store.create_experiment("gone", tags=[ExperimentTag("owner", "bo")])
    kept_run = _run(store, tmp_path, kept_exp, "kept-run")
    deleted_run = _run(store, tmp_path, kept_exp, "deleted-run")
    kept_model = _model(store, tmp_path, kept_exp, kept_run, "kept-model")
    deleted_model = _model(store, tmp_path, kept_exp, deleted_run, "deleted-model")
    gone_runs = [_run(store, tmp_path, gone_exp, f"gone-{i}") for i in range(2)]
    gone_model = _model(store, tmp_path, gone_exp, gone_runs[0], "gone-model")
    store.delete_run(deleted_run)
    store.delete_logged_model(deleted_model)
    store.delete_experiment(gone_exp)
    return World(
        kept_exp,
        gone_exp,
        kept_run,
        deleted_run,
        gone_runs,
        deleted_model,
        gone_model,
        kept_model,
    )


def _backdate(store: SqlStore, table: str, column: str, key: Any, days: float) -> None:
    when = int(time.time() * 1000 - days * DAY_MS)
    with store.db.write() as cur:
        cur.execute(f"UPDATE {table} SET deleted_time = ? WHERE {column} = ?", (when, key))


def _run_tables(store: SqlStore) -> list[str]:
    """Every table with an integer ``run_id`` column (those added later included); a text one
    holds a run's uuid instead (``auth_tokens``: a run-scoped token, revoked when the run ends)."""
    names = sorted(store.db.table_names())
    with store.db.read() as cur:
        if store.db.dialect.name == "sqlite":
            found = []
            for name in names:
                cur.execute(f"PRAGMA table_info({name})")
                if any(col[1] == "run_id" and "INT" in col[2].upper() for col in cur.fetchall()):
                    found.append(name)
        else:
            cur.execute(
                "SELECT table_name FROM information_schema.columns WHERE column_name = 'run_id' "
                "AND data_type IN ('bigint', 'integer') AND table_schema = current_schema()"
            )
            found = sorted(r[0] for r in cur.fetchall())
    # model_versions.run_id holds a run's uuid, not the internal id these tables key on.
    return [t for t in found if t != "model_versions"]


def _row_counts(store: SqlStore, run_uuid: str) -> dict[str, int]:
    counts = {}
    tables = _run_tables(store)
    assert set(RUN_TABLES) <= set(tables)
    with store.db.read() as cur:
        cur.execute("SELECT id FROM runs WHERE run_uuid = ?", (run_uuid,))
        row = cur.fetchone()
        counts["runs"] = 0 if row is None else 1
        for table in tables:
            if row is None:
                counts[table] = 0
                continue
            cur.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (row[0],))
            counts[table] = cur.fetchone()[0]
    return counts


def _count(store: SqlStore, sql: str, *args: Any) -> int:
    with store.db.read() as cur:
        cur.execute(sql, args)
        return int(cur.fetchone()[0])


def _snapshot(store: SqlStore, run_id: str) -> dict[str, Any]:
    run = store.get_run(run_id)
    return {
        "info": run.info,
        "params": run.data.params,
        "tags": run.data.tags,
        "history": list(store.get_metric_history(run_id, "loss")),
        "inputs": run.inputs,
        "outputs": run.outputs,
        "files": sorted(
            str(p.relative_to(local_path_of(run.info.artifact_uri)))
            for p in local_path_of(run.info.artifact_uri).rglob("*")
        ),
    }


def test_dry_run_lists_everything_due_and_deletes_nothing(backend: str, tmp_path: Path) -> None:
    store = _open(backend, tmp_path)
    w = _world(store, tmp_path)
    before = {r: _row_counts(store, r) for r in [w.deleted_run, *w.gone_exp_runs]}
    report = store.purge_deleted()
    assert report.dry_run
    assert [e.id for e in report.experiments] == [w.gone_exp]
    assert {r.id for r in report.runs} == {w.deleted_run, *w.gone_exp_runs}
    assert {m.id for m in report.logged_models} == {w.deleted_model, w.gone_exp_model}
    assert report.skipped == [] and report.artifact_errors == []
    for run_id, counts in before.items():
        assert _row_counts(store, run_id) == counts
        assert counts["metrics"] == 5 and counts["input_tags"] == 1
        uri = store.get_run(run_id).info.artifact_uri
        assert (local_path_of(uri) / "sub" / "b.json").is_file()
    assert store.get_experiment(w.gone_exp).lifecycle_stage == "deleted"
    store.close()


def test_purge_removes_rows_and_artifacts_and_leaves_the_rest(backend: str, tmp_path: Path) -> None:
    store = _open(backend, tmp_path)
    w = _world(store, tmp_path)
    kept_before = _snapshot(store, w.kept_run)
    kept_model_before = store.get_logged_model(w.kept_model)
    run_roots = {
        r: local_path_of(store.get_run(r).info.artifact_uri)
        for r in [w.deleted_run, *w.gone_exp_runs]
    }
    gone_exp_root = local_path_of(store.get_experiment(w.gone_exp).artifact_location)
    with store.db.read() as cur:
        cur.execute(
            "SELECT model_id, artifact_location FROM logged_models WHERE model_id IN (?, ?)",
            (w.deleted_model, w.gone_exp_model),
        )
        model_roots = {m: local_path_of(store.resolve_location(loc)) for m, loc in cur.fetchall()}
    assert all(p.is_dir() for p in [*run_roots.values(), *model_roots.values()])

    report = store.purge_deleted(dry_run=False)

    assert not report.dry_run and report.artifact_errors == [] and report.skipped == []
    assert {r.id for r in report.runs} == set(run_roots)
    assert [e.id for e in report.experiments] == [w.gone_exp]
    for run_id, root in run_roots.items():
        assert set(_row_counts(store, run_id).values()) == {0}, run_id
        assert not root.exists()
        with pytest.raises(TrazaException, match="not found"):
            store.get_run(run_id)
    for model_id, root in model_roots.items():
        assert not root.exists() and not root.parent.exists()  # models/<id> went too
        assert _count(store, "SELECT COUNT(*) FROM logged_models WHERE model_id = ?", model_id) == 0
        for table in ("logged_model_tags", "logged_model_params"):
            assert _count(store, f"SELECT COUNT(*) FROM {table} WHERE model_id = ?", model_id) == 0
    with pytest.raises(TrazaException, match="No experiment"):
        store.get_experiment(w.gone_exp)
    eid = int(w.gone_exp)
    for table in ("experiment_tags", "datasets", "runs", "logged_models"):
        assert _count(store, f"SELECT COUNT(*) FROM {table} WHERE experiment_id = ?", eid) == 0
    assert not gone_exp_root.exists()

    # Everything else is untouched: the active run, its model, its experiment, its dataset.
    assert _snapshot(store, w.kept_run) == kept_before
    assert store.get_logged_model(w.kept_model) == kept_model_before
    kept = store.get_experiment(w.kept_exp)
    assert kept.lifecycle_stage == "active" and kept.tags == {"owner": "ana"}
    assert [r.info.run_id for r in store.search_runs([w.kept_exp], run_view_type=ViewType.ALL)] == [
        w.kept_run
    ]
    assert _count(store, "SELECT COUNT(*) FROM datasets WHERE experiment_id = ?", int(w.kept_exp))
    # A second gc finds nothing left to do.
    again = store.purge_deleted(dry_run=False)
    assert again.items == [] and again.skipped == []
    store.close()


def test_older_than_keeps_recent_deletions(backend: str, tmp_path: Path) -> None:
    store = _open(backend, tmp_path)
    exp = store.create_experiment("e")
    old, recent = _run(store, tmp_path, exp, "old"), _run(store, tmp_path, exp, "recent")
    old_exp = store.create_experiment("old-exp")
    old_exp_run = _run(store, tmp_path, old_exp, "in-old-exp")
    for r in (old, recent):
        store.delete_run(r)
    store.delete_experiment(old_exp)
    _backdate(store, "runs", "run_uuid", old, 40)
    _backdate(store, "experiments", "experiment_id", int(old_exp), 31)

    report = store.purge_deleted(older_than_ms=parse_age("30d"), dry_run=False)

    assert {r.id for r in report.runs} == {old, old_exp_run}
    assert [e.id for e in report.experiments] == [old_exp]
    assert store.get_run(recent).info.lifecycle_stage == "deleted"
    assert _row_counts(store, recent)["metrics"] == 5
    assert local_path_of(store.get_run(recent).info.artifact_uri).is_dir()
    # Named explicitly, a run deleted too recently is refused, not silently kept.
    with pytest.raises(TrazaException, match="not old enough"):
        store.purge_deleted(older_than_ms=parse_age("1d"), run_ids=[recent], dry_run=False)
    assert store.get_run(recent).info.lifecycle_stage == "deleted"
    store.close()


def test_named_items_must_exist_and_be_deleted(backend: str, tmp_path: Path) -> None:
    store = _open(backend, tmp_path)
    exp = store.create_experiment("e")
    active = _run(store, tmp_path, exp, "active")
    deleted = _run(store, tmp_path, exp, "deleted")
    store.delete_run(deleted)
    with pytest.raises(TrazaException, match="not in the deleted stage") as info:
        store.purge_deleted(run_ids=[deleted, active], dry_run=False)
    assert "traza runs delete" in info.value.message
    # Nothing was purged: the check covers every named run before anything goes.
    assert _row_counts(store, deleted)["runs"] == 1
    with pytest.raises(TrazaException, match="not in the deleted stage"):
        store.purge_deleted(experiment_ids=[exp], dry_run=False)
    with pytest.raises(TrazaException, match="not found"):
        store.purge_deleted(run_ids=["0" * 32])
    with pytest.raises(TrazaException, match="Default experiment"):
        store.delete_experiment("0")
        store.purge_deleted(experiment_ids=["0"])
    with pytest.raises(TrazaException, match="negative"):
        store.purge_deleted(older_than_ms=-1)
    # Named, only that run goes.
    other = _run(store, tmp_path, exp, "other")
    store.delete_run(other)
    report = store.purge_deleted(run_ids=[deleted], dry_run=False)
    assert [r.id for r in report.runs] == [deleted]
    assert _row_counts(store, deleted)["runs"] == 0
    assert _row_counts(store, other)["runs"] == 1
    store.close()


def test_named_logged_models(backend: str, tmp_path: Path) -> None:
    store = _open(backend, tmp_path)
    w = _world(store, tmp_path)
    with pytest.raises(TrazaException, match="not in the deleted stage"):
        store.purge_deleted(logged_model_ids=[w.kept_model], dry_run=False)
    report = store.purge_deleted(logged_model_ids=[w.deleted_model], dry_run=False)
    assert [m.id for m in report.logged_models] == [w.deleted_model]
    assert report.runs == [] and report.experiments == []
    assert (
        _count(store, "SELECT COUNT(*) FROM logged_models WHERE model_id = ?", w.deleted_model) == 0
    )
    assert _row_counts(store, w.deleted_run)["runs"] == 1  # its run was not named: it stays
    assert store.get_logged_model(w.kept_model).tags == {"k": "v"}
    store.close()


def test_a_run_restored_inside_a_deleted_experiment_keeps_it(backend: str, tmp_path: Path) -> None:
    store = _open(backend, tmp_path)
    exp = store.create_experiment("e")
    restored, gone = _run(store, tmp_path, exp, "restored"), _run(store, tmp_path, exp, "gone")
    model_id = _model(store, tmp_path, exp, restored, "m")
    store.delete_experiment(exp)
    store.restore_run(restored)
    report = store.purge_deleted(dry_run=False)
    assert [r.id for r in report.runs] == [gone]
    assert report.experiments == [] and report.logged_models == []
    assert [(s.kind, s.id) for s in report.skipped] == [("experiment", exp)]
    assert restored in report.skipped[0].reason
    assert store.get_run(restored).data.params == {"lr": "0.1"}
    assert store.get_logged_model(model_id).name == "m"
    assert store.get_experiment(exp).lifecycle_stage == "deleted"
    store.close()


@pytest.mark.parametrize("layout", ["mlflow", "another-traza-store"])
def test_artifacts_of_another_store_are_kept(backend: str, tmp_path: Path, layout: str) -> None:
    """Runs imported or synced without copying their artifacts still point into the other store
    (MLflow's ``<exp>/<run>/artifacts``, or another Traza store's ``<root>/<exp>/<run>``): their
    rows go, the other store's files stay."""
    store = _open(backend, tmp_path)
    exp = store.create_experiment("imported")
    run = _run(store, tmp_path, exp, "from-elsewhere")
    other = tmp_path / "other-store" / exp
    foreign = other / run / "artifacts" if layout == "mlflow" else other / run
    (foreign / "model").mkdir(parents=True)
    (foreign / "model" / "MLmodel").write_text("x")
    with store.db.write() as cur:
        cur.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (foreign.as_uri(), run))
        cur.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
            (other.as_uri(), int(exp)),
        )
    store.delete_run(run)
    report = store.purge_deleted(dry_run=False)
    assert [r.id for r in report.runs] == [run] and report.runs[0].artifact_uri is None
    assert [(s.kind, s.id) for s in report.skipped] == [("artifacts", run)]
    assert "belong to another store" in report.skipped[0].reason
    assert _row_counts(store, run)["runs"] == 0
    assert (foreign / "model" / "MLmodel").read_text() == "x"
    store.close()


def test_a_purged_experiment_in_another_store_keeps_its_folders(
    backend: str, tmp_path: Path
) -> None:
    """An experiment imported without copying artifacts still names MLflow's ``mlruns/<id>``:
    its rows go, and not even the empty folders of that store are touched."""
    store = _open(backend, tmp_path)
    exp = store.create_experiment("imported")
    other = tmp_path / "mlruns" / exp
    (other / "a1b2" / "tags").mkdir(parents=True)
    (other / "a1b2" / "artifacts").mkdir()
    (other / "meta.yaml").write_text("name: imported\n")
    with store.db.write() as cur:
        cur.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
            (other.as_uri(), int(exp)),
        )
    store.delete_experiment(exp)
    report = store.purge_deleted(dry_run=False)
    assert [e.id for e in report.experiments] == [exp]
    assert (other / "a1b2" / "tags").is_dir() and (other / "a1b2" / "artifacts").is_dir()
    store.close()


def test_default_experiment_is_kept_but_its_runs_go(backend: str, tmp_path: Path) -> None:
    store = _open(backend, tmp_path)
    run = _run(store, tmp_path, "0", "in-default")
    store.delete_experiment("0")
    report = store.purge_deleted(dry_run=False)
    assert [r.id for r in report.runs] == [run] and report.experiments == []
    assert store.get_experiment("0").name == "Default"
    store.close()


def test_runs_and_models_a_registered_version_uses_are_kept(backend: str, tmp_path: Path) -> None:
    store = _open(backend, tmp_path)
    exp = store.create_experiment("e")
    registered_run = _run(store, tmp_path, exp, "registered")
    plain = _run(store, tmp_path, exp, "plain")
    maker = _run(store, tmp_path, exp, "maker")
    model_id = _model(store, tmp_path, exp, maker, "m")
    store.create_registered_model("prod")
    store.create_model_version("prod", f"runs:/{registered_run}/model", registered_run)
    store.create_model_version("prod", f"models:/{model_id}", None, model_id=model_id)
    store.delete_experiment(exp)

    report = store.purge_deleted(dry_run=False)

    assert [r.id for r in report.runs] == [plain]
    assert report.experiments == [] and report.logged_models == []
    reasons = {(s.kind, s.id): s.reason for s in report.skipped}
    assert "version 1 of registered model 'prod'" in reasons[("run", registered_run)]
    assert "version 2 of registered model 'prod'" in reasons[("logged_model", model_id)]
    # The version made from the logged model records its source run, which stays too.
    assert "version 2 of registered model 'prod'" in reasons[("run", maker)]
    assert ("experiment", exp) in reasons
    assert local_path_of(store.get_run(registered_run).info.artifact_uri).is_dir()
    assert store.get_model_version("prod", 1).run_id == registered_run
    store.close()


def test_s3_artifacts_are_deleted(bucket: Bucket, tmp_path: Path) -> None:
    store = _open(str(tmp_path / "mlruns"), tmp_path, artifact_root=f"s3://{bucket.name}/root")
    exp = store.create_experiment("e")
    kept, gone = _run(store, tmp_path, exp, "kept"), _run(store, tmp_path, exp, "gone")
    store.delete_run(gone)
    assert any(gone in k for k in bucket.object_keys())
    report = store.purge_deleted(dry_run=False)
    assert [r.id for r in report.runs] == [gone] and report.artifact_errors == []
    keys = bucket.object_keys()
    assert not any(gone in k for k in keys)
    assert sorted(k.rsplit(kept + "/artifacts/", 1)[1] for k in keys) == ["a.txt", "sub/b.json"]
    store.close()


def test_proxied_artifacts_need_the_destination(tmp_path: Path) -> None:
    store = _open(str(tmp_path / "mlruns"), tmp_path, artifact_root="mlflow-artifacts:/")
    exp = store.create_experiment("e")
    run = store.create_run(exp, "u", 1, [], "proxied")
    destination = tmp_path / "mlartifacts"
    root = destination / exp / run.info.run_id
    assert run.info.artifact_uri == f"mlflow-artifacts:/{exp}/{run.info.run_id}/artifacts"
    (root / "artifacts").mkdir(parents=True)
    (root / "artifacts" / "f.txt").write_text("x")
    store.delete_run(run.info.run_id)
    with pytest.raises(TrazaException, match="--artifacts-destination"):
        store.purge_deleted(dry_run=False)
    assert root.is_dir() and _row_counts(store, run.info.run_id)["runs"] == 1
    report = store.purge_deleted(dry_run=False, artifacts_destination=str(destination))
    assert [r.id for r in report.runs] == [run.info.run_id] and report.artifact_errors == []
    assert not root.exists() and (destination / exp).is_dir()
    store.close()


def test_runs_of_both_layouts_under_a_root_are_purged(tmp_path: Path) -> None:
    """Under an artifact root new runs use MLflow's <exp>/<run>/artifacts; runs created before
    keep <exp>/<run>. gc deletes both, and the emptied <run> folder of the new layout."""
    root = tmp_path / "root"
    store = _open(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, artifact_root=root.as_uri())
    exp = store.create_experiment("e")
    new = store.create_run(exp, "u", 1, [], "new").info.run_id
    old = store.create_run(exp, "u", 1, [], "old").info.run_id
    with store.db.write() as cur:  # as an older Traza recorded it
        cur.execute(
            "UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
            (f"{root.as_uri()}/{exp}/{old}", old),
        )
    for run_id in (new, old):
        get_repository(store.get_run(run_id).info.artifact_uri).log_artifact(
            str(_file(tmp_path, "f.txt")), None
        )
    assert (root / exp / new / "artifacts" / "f.txt").is_file()
    assert (root / exp / old / "f.txt").is_file()
    store.delete_run(new)
    store.delete_run(old)
    report = store.purge_deleted(dry_run=False)
    assert sorted(r.id for r in report.runs) == sorted([new, old])
    assert report.skipped == [] and report.artifact_errors == []
    assert not (root / exp / new).exists() and not (root / exp / old).exists()
    assert (root / exp).is_dir()
    store.close()


def _file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


def test_cli_dry_run_then_yes(tmp_path: Path) -> None:
    uri = str(tmp_path / "mlruns")
    store = _open(uri, tmp_path)
    w = _world(store, tmp_path)
    store.close()
    runner = CliRunner()
    listed = runner.invoke(main, ["gc", "--backend-store-uri", uri])
    assert listed.exit_code == 0, listed.output
    assert w.deleted_run in listed.output and w.gone_exp in listed.output
    assert "Would purge 1 experiment(s), 3 run(s), 2 logged model(s)." in listed.output
    assert "--yes" in listed.output

    refused = runner.invoke(main, ["gc", "--backend-store-uri", uri, "--run-ids", w.kept_run])
    assert refused.exit_code == 1 and "not in the deleted stage" in refused.output
    bad_age = runner.invoke(main, ["gc", "--backend-store-uri", uri, "--older-than", "3x"])
    assert bad_age.exit_code == 1 and "e.g. 30d" in bad_age.output
    young = runner.invoke(main, ["gc", "--backend-store-uri", uri, "--older-than", "1h", "--yes"])
    assert young.exit_code == 0 and "Purged 0 experiment(s), 0 run(s)" in young.output

    done = runner.invoke(
        main, ["gc", "--backend-store-uri", uri, "--run-ids", w.deleted_run, "--yes"]
    )
    assert done.exit_code == 0, done.output
    assert "Purged 0 experiment(s), 1 run(s), 0 logged model(s)." in done.output
    rest = runner.invoke(main, ["--tracking-uri", uri, "gc", "--yes"])
    assert "Purged 1 experiment(s), 2 run(s), 2 logged model(s)." in rest.output
    store = _open(uri, tmp_path)
    assert _row_counts(store, w.deleted_run)["runs"] == 0
    assert store.get_run(w.kept_run).data.params == {"lr": "0.1"}
    store.close()


def test_cli_refuses_a_store_that_is_not_there(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    result = CliRunner().invoke(main, ["gc", "--backend-store-uri", str(missing)])
    assert result.exit_code == 1 and f"No Traza store at {missing}" in result.output
    assert not missing.exists()
    result = CliRunner().invoke(main, ["gc", "--backend-store-uri", f"sqlite:///{missing}.db"])
    assert result.exit_code == 1 and "No database at" in result.output


def test_cli_refuses_a_tracking_server() -> None:
    result = CliRunner().invoke(main, ["gc", "--backend-store-uri", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "backend store itself" in result.output and "--backend-store-uri" in result.output


@pytest.mark.parametrize(
    ("text", "ms"),
    [("30d", 30 * DAY_MS), ("2h", 7_200_000), ("1d12h", 1.5 * DAY_MS), ("90m", 5_400_000)],
)
def test_parse_age(text: str, ms: float) -> None:
    assert parse_age(text) == ms


def test_parse_age_rejects_nonsense() -> None:
    for text in ("", "30", "d", "3x", "-2h"):
        with pytest.raises(TrazaException, match="number and a unit"):
            parse_age(text)
