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
