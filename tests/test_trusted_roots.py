"""The trusted artifact roots table (migration 0006) on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from traza.store.sql.db import SqliteDatabase
from traza.store.sql.schema import MIGRATIONS, applied_migrations, migrate
from traza.store.sql.store import SqlStore
from traza.store.uri import open_store


def test_migration_upgrades_a_store_from_0005(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "old.db")
    names = [m.name for m in MIGRATIONS]
    upto = names.index("0005_metric_buckets") + 1
    migrate(db, MIGRATIONS[:upto])
    assert "trusted_artifact_roots" not in db.table_names()
    db.close()
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    assert isinstance(store, SqlStore)
    assert "0006_trusted_artifact_roots" in applied_migrations(store.db)
    assert store.trusted_artifact_roots() == []
    store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_recorded_roots_are_kept_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "postgresql":
        uri = request.getfixturevalue("postgres_url")
    else:
        uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(uri)
    try:
        store.record_trusted_artifact_root("file:///data/mlruns", "traza import")
        store.record_trusted_artifact_root("file:///data/mlruns", "traza sync")
        store.record_trusted_artifact_root("s3://bucket/prefix", "traza sync")
        assert store.trusted_artifact_roots() == ["file:///data/mlruns", "s3://bucket/prefix"]
    finally:
        store.close()
    reopened = open_store(uri)
    assert reopened.trusted_artifact_roots() == ["file:///data/mlruns", "s3://bucket/prefix"]
    reopened.close()


def _log_offline(uri: Path) -> str:
    import traza

    traza.set_tracking_uri(str(uri))
    traza.set_experiment("offline")
    with traza.start_run(run_name="train") as run:
        traza.log_text("weights", "model/weights.txt")
    traza.set_tracking_uri(None)  # type: ignore[arg-type]
    return run.info.run_id


def _sync(*args: str) -> str:
    from click.testing import CliRunner

    from traza.cli import main

    result = CliRunner().invoke(main, ["sync", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_sync_into_the_store_itself_records_roots_the_server_then_serves(tmp_path: Path) -> None:
    """An operator's sync into the backend store: imported runs show their artifacts in place."""
    from tests.conftest import served_store

    from traza.client import TrazaClient

    cluster, home = tmp_path / "cluster", tmp_path / "home"
    run_id = _log_offline(cluster)
    _sync(str(cluster), str(home))
    source_location = TrazaClient(str(cluster)).get_experiment_by_name("offline")
    assert source_location is not None
    store = open_store(str(home))
    # Each source experiment's folder (the Default one's too), nothing broader.
    assert source_location.artifact_location in store.trusted_artifact_roots()
    assert all(r.startswith(cluster.as_uri()) for r in store.trusted_artifact_roots())
    with served_store(store, tmp_path / "dest") as url:
        files = TrazaClient(url).list_artifacts(run_id, "model")
        assert [f.path for f in files] == ["model/weights.txt"]
    store.close()


def test_sync_into_a_server_says_which_runs_it_will_not_serve(tmp_path: Path) -> None:
    from tests.conftest import served_store

    cluster = tmp_path / "cluster"
    run_id = _log_offline(cluster)
    backend = open_store(str(tmp_path / "server-store"))
    with served_store(backend, tmp_path / "dest") as url:
        output = _sync(str(cluster), url)
        assert "artifacts the target server will not serve (1 runs" in output
        assert f"run {run_id}: " in output and "--copy-artifacts" in output
        assert backend.trusted_artifact_roots() == []
        copied = _sync(str(cluster), url, "--copy-artifacts")
        assert "will not serve" not in copied
    backend.close()


def test_a_location_chosen_on_the_store_itself_is_trusted_but_not_over_http(
    tmp_path: Path,
) -> None:
    """`traza ui` shows artifacts of an experiment created locally with its own folder."""
    from tests.conftest import served_store

    from traza.client import TrazaClient

    home = tmp_path / "home"
    local = TrazaClient(str(home))
    chosen = tmp_path / "data" / "experiment-artifacts"
    experiment_id = local.create_experiment("mine", artifact_location=str(chosen))
    run = local.create_run(experiment_id)
    local.log_text(run.info.run_id, "hello", "notes/a.txt")
    store = open_store(str(home))
    assert store.trusted_artifact_roots() == [str(chosen)]
    local.create_experiment("too-broad", artifact_location="/")
    assert store.trusted_artifact_roots() == [str(chosen)]  # never a shallow folder
    with served_store(store, tmp_path / "dest") as url:
        remote = TrazaClient(url)
        assert [f.path for f in remote.list_artifacts(run.info.run_id, "notes")] == ["notes/a.txt"]
        other = tmp_path / "data" / "over-http"
        remote.create_experiment("remote", artifact_location=str(other))
        assert store.trusted_artifact_roots() == [str(chosen)]
    store.close()


def test_import_skips_an_experiment_whose_location_breaks_the_rule(tmp_path: Path) -> None:
    """A source row written before locations were checked is skipped with its reason."""
    from traza.client import TrazaClient

    cluster, home = tmp_path / "cluster", tmp_path / "home"
    good_run = _log_offline(cluster)
    source = TrazaClient(str(cluster))
    bad_id = source.create_experiment("legacy")
    bad_run = source.create_run(bad_id).info.run_id
    store = open_store(str(cluster))
    with store.db.write() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "UPDATE experiments SET artifact_location = 'file:///etc#' WHERE experiment_id = ?",
            (int(bad_id),),
        )
        cur.execute(
            "UPDATE runs SET artifact_uri = 'file:///etc#/x' WHERE run_uuid = ?", (bad_run,)
        )
    store.close()
    output = _sync(str(cluster), str(home))
    assert "experiment 'legacy'" in output and "'#' (a URI fragment)" in output
    target = TrazaClient(str(home))
    assert target.get_run(good_run).info.run_name == "train"
    assert target.get_experiment_by_name("legacy") is None
    home_store = open_store(str(home))
    assert all("/etc" not in r for r in home_store.trusted_artifact_roots())
    home_store.close()
