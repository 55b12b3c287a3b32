"""``traza permissions grant|revoke|list`` on a store, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from traza.auth.grants import Kind, get_grant, set_grant
from traza.auth.principal import Permission
from traza.auth.store import AuthStore
from traza.cli import main
from traza.entities import RegisteredModel
from traza.store.uri import open_store

PASSWORD = "correct horse battery staple"


def test_grant_list_and_revoke(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/cli.db"
    store = open_store(uri)
    experiment_id = store.create_experiment("shared")
    model: RegisteredModel = store.create_registered_model("fraud")
    auth = AuthStore(store.db)  # type: ignore[attr-defined]
    jo = auth.create_user("jo", PASSWORD)
    auth.create_user("kim", PASSWORD)
    runner = CliRunner()

    def traza(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, ["permissions", *args, "--backend-store-uri", uri])
        assert result.exit_code == code, result.output
        return result.output

    assert "jo has EDIT" in traza("grant", "jo", "edit", "--experiment-id", experiment_id).replace(
        "'", ""
    )
    assert get_grant(store.db, Kind.EXPERIMENT, experiment_id, jo.id) is Permission.EDIT  # type: ignore[attr-defined]
    traza("grant", "kim", "NO_PERMISSIONS", "--experiment-id", experiment_id)
    traza("grant", "jo", "MANAGE", "--registered-model", model.name)
    listing = traza("list")
    assert listing.splitlines()[0].split() == ["resource", "id", "or", "name", "user", "permission"]
    assert f"experiment        {experiment_id}  jo    EDIT" in listing
    assert "NO_PERMISSIONS" in listing and "registered model  fraud" in listing
    mine = traza("list", "--user", "kim")
    assert "kim" in mine and "jo" not in mine
    on_model = traza("list", "--registered-model", "fraud")
    assert "MANAGE" in on_model and experiment_id not in on_model
    traza("revoke", "jo", "--experiment-id", experiment_id)
    assert get_grant(store.db, Kind.EXPERIMENT, experiment_id, jo.id) is None  # type: ignore[attr-defined]
    # Mistakes are said, not silently done.
    assert "no permission on experiment" in traza(
        "revoke", "jo", "--experiment-id", experiment_id, code=1
    )
    assert "not found" in traza("grant", "zed", "READ", "--experiment-id", experiment_id, code=1)
    assert "12345" in traza("grant", "jo", "READ", "--experiment-id", "12345", code=1)
    assert "Name one resource" in traza("grant", "jo", "READ", code=2)
    assert "Invalid value" in traza(
        "grant", "jo", "OWNER", "--experiment-id", experiment_id, code=2
    )
    store.close()


def test_purging_an_experiment_drops_its_grants(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/gc.db")
    kept, gone = store.create_experiment("kept"), store.create_experiment("gone")
    jo = AuthStore(store.db).create_user("jo", PASSWORD)  # type: ignore[attr-defined]
    for experiment_id in (kept, gone):
        set_grant(store.db, Kind.EXPERIMENT, experiment_id, jo.id, Permission.EDIT)  # type: ignore[attr-defined]
    store.delete_experiment(gone)
    assert get_grant(store.db, Kind.EXPERIMENT, gone, jo.id) is Permission.EDIT  # type: ignore[attr-defined]
    store.purge_deleted(experiment_ids=[gone], dry_run=False)
    assert get_grant(store.db, Kind.EXPERIMENT, gone, jo.id) is None  # type: ignore[attr-defined]
    assert get_grant(store.db, Kind.EXPERIMENT, kept, jo.id) is Permission.EDIT  # type: ignore[attr-defined]
    store.close()
