"""Opening stores: URIs, migrations, and refusing stores Traza did not create."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from traza.exceptions import TrazaException
from traza.store.sql.db import SqliteDatabase
from traza.store.sql.schema import MIGRATIONS, Migration, applied_migrations, migrate
from traza.store.uri import open_store


def test_previous_schema_upgrades_keeping_data(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "old.db")
    assert migrate(db, MIGRATIONS[:1]) == ["0001_tracking"]
    with db.write() as cur:
        cur.execute(
            "INSERT INTO experiments VALUES (7, 'old', 'artifacts/7', 'active', 1, 1, NULL)"
        )
        cur.execute(
            "INSERT INTO runs (run_uuid, experiment_id, name, start_time, artifact_uri) "
            "VALUES ('a' || hex(randomblob(15)), 7, 'r', 5, 'artifacts/7/r')"
        )
        cur.execute("INSERT INTO params VALUES (1, 'p', 'v')")
    db.close()
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    (run,) = store.search_runs(["7"])
    assert run.data.params == {"p": "v"} and run.info.run_name == "r"
    store.log_inputs(run.info.run_id, [])  # tables of the second migration exist
    db = SqliteDatabase(tmp_path / "old.db")
    assert applied_migrations(db) == [m.name for m in MIGRATIONS]
    assert migrate(db) == []  # applying again does nothing
    db.close()


def test_failed_migration_leaves_previous_version(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "x.db")
    migrate(db, MIGRATIONS[:1])
    broken = Migration("0002_broken", ("CREATE TABLE ok_table (x INT)", "NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, [MIGRATIONS[0], broken])
    assert applied_migrations(db) == ["0001_tracking"]
    assert "ok_table" not in db.table_names()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "new.db")
    migrate(db, [*MIGRATIONS, Migration("9999_future", ("CREATE TABLE future (x INT)",))])
    db.close()
    with pytest.raises(TrazaException, match="newer Traza"):
        open_store(f"sqlite:///{tmp_path / 'new.db'}")


def test_mlflow_database_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "mlflow.db")
    conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(TrazaException, match="traza import") as e:
        open_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert "MLflow database" in e.value.message
    conn = sqlite3.connect(tmp_path / "mlflow.db")
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["alembic_version"]
    conn.close()


def test_mlflow_file_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mlruns" / "0").mkdir(parents=True)
    (tmp_path / "mlruns" / "0" / "meta.yaml").write_text("name: Default\n")
    with pytest.raises(TrazaException, match="traza import") as e:
        open_store(str(tmp_path / "mlruns"))
    assert "MLflow file store" in e.value.message
    assert not (tmp_path / "mlruns" / "traza.db").exists()


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("this is not sqlite at all, just some text " * 20)
    with pytest.raises(TrazaException, match="not a SQLite database"):
        open_store(f"sqlite:///{tmp_path / 'notes.db'}")
    conn = sqlite3.connect(tmp_path / "app.db")
    conn.execute("CREATE TABLE users (id INT)")
    conn.commit()
    conn.close()
    with pytest.raises(TrazaException, match="did not create"):
        open_store(f"sqlite:///{tmp_path / 'app.db'}")


@pytest.mark.parametrize("uri", ["sqlite://", "sqlite:///:memory:", "mysql://x/y", "s3://b/p"])
def test_unsupported_uris(uri: str) -> None:
    with pytest.raises(TrazaException):
        open_store(uri)


def test_uri_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///relative.db").close()
    assert (tmp_path / "relative.db").is_file()
    open_store(f"sqlite:///{tmp_path / 'abs' / 'x.db'}").close()
    assert (tmp_path / "abs" / "x.db").is_file()
    open_store((tmp_path / "folder").as_uri()).close()
    assert (tmp_path / "folder" / "traza.db").is_file()


def test_postgres_store_refuses_mlflow_schema_and_bad_servers(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
    with pytest.raises(TrazaException, match="traza import"):
        open_store(postgres_url)
    with pytest.raises(TrazaException, match="Cannot connect") as e:
        open_store("postgresql://someone:secret@127.0.0.1:9/nowhere")
    assert "secret" not in e.value.message


def test_postgres_metric_text_with_nul_is_bad_input_and_writes_nothing(postgres_url: str) -> None:
    """PostgreSQL text cannot hold NUL: the one-statement metric write refuses it up front (it
    was psycopg's DataError, a 500 through the server), and the batch's other points stay out."""
    from traza.entities import Metric

    store = open_store(postgres_url)
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    for bad in (
        Metric("a", 1.0, 1, 0, dataset_name="train\x00"),
        Metric("a", 1.0, 1, 0, model_id="m-\x00"),
    ):
        with pytest.raises(TrazaException, match="NUL") as e:
            store.log_batch(run_id, metrics=[Metric("ok", 2.0, 1, 0), bad])
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert store.get_run(run_id).data.metrics == {}
    store.log_batch(run_id, metrics=[Metric("ok", 2.0, 1, 0)])
    assert store.get_run(run_id).data.metrics == {"ok": 2.0}
    store.close()
