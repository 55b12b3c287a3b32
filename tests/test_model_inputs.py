"""Model inputs (``run.inputs.model_inputs``): the logged models a run used, kept by every kind
of store (over REST both ways too) and added to older databases by migration 0008."""

from __future__ import annotations

from pathlib import Path

import pytest

from traza.entities import DatasetInput, LoggedModelInput
from traza.entities.tracking import Dataset
from traza.store.base import Store
from traza.store.sql.db import SqliteDatabase
from traza.store.sql.schema import MIGRATIONS, applied_migrations, migrate
from traza.store.sql.store import SqlStore
from traza.store.uri import open_store


def test_model_inputs_round_trip(store: Store) -> None:
    experiment_id = store.create_experiment("inputs")
    run = store.create_run(experiment_id, "me", 1, [], "used")
    first = store.create_logged_model(experiment_id, name="first")
    second = store.create_logged_model(experiment_id, name="second")
    dataset = DatasetInput(Dataset("train", "d1", "code", "{}"))
    store.log_inputs(run.info.run_id, [dataset], [LoggedModelInput(first.model_id)])
    store.log_inputs(
        run.info.run_id,
        models=[LoggedModelInput(second.model_id), LoggedModelInput(first.model_id)],
    )
    store.flush()
    inputs = store.get_run(run.info.run_id).inputs
    assert sorted(m.model_id for m in inputs.model_inputs) == sorted(
        [first.model_id, second.model_id]
    )
    assert [d.dataset.name for d in inputs.dataset_inputs] == ["train"]
    found = store.search_runs([experiment_id], None, 1, 10, None, None)
    assert {m.model_id for m in found[0].inputs.model_inputs} == {first.model_id, second.model_id}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_0008_upgrades_a_0007_database(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    upto = [m.name for m in MIGRATIONS].index("0007_auth") + 1
    if kind == "postgresql":
        from traza.store.sql.postgres import PostgresDatabase

        uri = request.getfixturevalue("postgres_url")
        db = PostgresDatabase(uri)
    else:
        uri = f"sqlite:///{tmp_path / 'old.db'}"
        db = SqliteDatabase(tmp_path / "old.db")
    migrate(db, MIGRATIONS[:upto])
    assert "run_model_inputs" not in db.table_names()
    db.close()
    store = open_store(uri)
    try:
        assert isinstance(store, SqlStore)
        assert "0008_run_model_inputs" in applied_migrations(store.db)
        experiment_id = store.create_experiment("upgraded")
        run = store.create_run(experiment_id, "me", 1, [], "r")
        store.log_inputs(run.info.run_id, models=[LoggedModelInput("m-abc")])
        assert store.get_run(run.info.run_id).inputs.model_inputs == (LoggedModelInput("m-abc"),)
    finally:
        store.close()
