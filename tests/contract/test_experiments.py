"""Experiments: create, read, search, rename, tag, delete and restore, on every store."""

from __future__ import annotations

import pytest

from traza.entities import ExperimentTag, LifecycleStage, ViewType
from traza.exceptions import TrazaException
from traza.store.base import Store


def test_default_experiment_exists(store: Store) -> None:
    default = store.get_experiment("0")
    assert default.name == "Default"
    assert default.lifecycle_stage == LifecycleStage.ACTIVE
    assert store.get_experiment_by_name("Default") == default


def test_create_and_get(store: Store) -> None:
    experiment_id = store.create_experiment("exp-a", tags=[ExperimentTag("team", "vision")])
    assert experiment_id.isdigit() and experiment_id != "0"
    exp = store.get_experiment(experiment_id)
    assert exp.name == "exp-a"
    assert exp.tags == {"team": "vision"}
    assert exp.artifact_location.startswith("file://")
    assert exp.artifact_location.endswith(f"/artifacts/{experiment_id}")
    assert exp.creation_time is not None and exp.creation_time == exp.last_update_time


def test_ids_do_not_repeat(store: Store) -> None:
    ids = {store.create_experiment(f"e{i}") for i in range(20)}
    assert len(ids) == 20


def test_explicit_artifact_location(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    experiment_id = store.create_experiment("loc", artifact_location=str(tmp_path / "elsewhere"))
    assert store.get_experiment(experiment_id).artifact_location == str(tmp_path / "elsewhere")


def test_duplicate_name_is_refused(store: Store) -> None:
    store.create_experiment("dup")
    with pytest.raises(TrazaException) as e:
        store.create_experiment("dup")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert "dup" in e.value.message


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 501])
def test_bad_names_are_refused(store: Store, name: object) -> None:
    with pytest.raises(TrazaException) as e:
        store.create_experiment(name)  # type: ignore[arg-type]
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_unknown_experiment(store: Store) -> None:
    with pytest.raises(TrazaException) as e:
        store.get_experiment("123456")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(TrazaException) as e:
        store.get_experiment("not-an-id")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert store.get_experiment_by_name("nope") is None


def test_rename(store: Store) -> None:
    a = store.create_experiment("a")
    store.create_experiment("b")
    store.rename_experiment(a, "a2")
    assert store.get_experiment(a).name == "a2"
    assert store.get_experiment_by_name("a") is None
    with pytest.raises(TrazaException) as e:
        store.rename_experiment(a, "b")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_delete_and_restore_cascade_to_runs(store: Store) -> None:
    experiment_id = store.create_experiment("gone")
    run = store.create_run(experiment_id, "u", 1, [], "r")
    store.delete_experiment(experiment_id)
    assert store.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED
    assert store.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(TrazaException):
        store.create_run(experiment_id, "u", 2, [], None)
    with pytest.raises(TrazaException) as e:
        store.create_experiment("gone")
    assert "deleted" in e.value.message
    store.restore_experiment(experiment_id)
    assert store.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE
    assert store.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_tags(store: Store) -> None:
    experiment_id = store.create_experiment("tagged")
    store.set_experiment_tag(experiment_id, ExperimentTag("k", "v1"))
    store.set_experiment_tag(experiment_id, ExperimentTag("k", "v2"))
    store.set_experiment_tag(experiment_id, ExperimentTag("other", "x"))
    assert store.get_experiment(experiment_id).tags == {"k": "v2", "other": "x"}
    store.delete_experiment_tag(experiment_id, "k")
    assert store.get_experiment(experiment_id).tags == {"other": "x"}
    with pytest.raises(TrazaException) as e:
        store.delete_experiment_tag(experiment_id, "k")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_view_types(store: Store) -> None:
    keep = store.create_experiment("keep")
    drop = store.create_experiment("drop")
    store.delete_experiment(drop)
    active = {e.experiment_id for e in store.search_experiments(ViewType.ACTIVE_ONLY)}
    deleted = {e.experiment_id for e in store.search_experiments(ViewType.DELETED_ONLY)}
    every = {e.experiment_id for e in store.search_experiments(ViewType.ALL)}
    assert active == {"0", keep}
    assert deleted == {drop}
    assert every == {"0", keep, drop}


def test_search_filters_and_order(store: Store) -> None:
    ids = {}
    for name, team in [("salary-a", "ml"), ("salary-b", "data"), ("other", "ml")]:
        ids[name] = store.create_experiment(name, tags=[ExperimentTag("team", team)])

    def names(**kwargs: object) -> list[str]:
        return [e.name for e in store.search_experiments(**kwargs)]  # type: ignore[arg-type]

    assert names(filter_string="name LIKE 'salary%'", order_by=["name"]) == ["salary-a", "salary-b"]
    assert names(filter_string="name ILIKE 'SALARY-%'", order_by=["name DESC"]) == [
        "salary-b",
        "salary-a",
    ]
    assert names(filter_string="tags.team = 'ml'", order_by=["name"]) == ["other", "salary-a"]
    assert names(filter_string="tags.team IS NULL") == ["Default"]
    assert names(filter_string=f"experiment_id = '{ids['other']}'") == ["other"]
    assert names(filter_string="name != 'other' AND tags.team != 'data'") == ["salary-a"]
    created = store.get_experiment(ids["salary-b"]).creation_time
    assert "salary-b" in names(filter_string=f"creation_time >= {created}")
    # Newest first by default, ties broken by id.
    found = store.search_experiments()
    keys = [(-(e.creation_time or 0), int(e.experiment_id)) for e in found]
    assert keys == sorted(keys)


def test_search_pages(store: Store) -> None:
    for i in range(7):
        store.create_experiment(f"p{i}")
    seen, token = [], None
    while True:
        page = store.search_experiments(max_results=3, order_by=["name"], page_token=token)
        assert len(page) <= 3
        seen += [e.name for e in page]
        token = page.token
        if token is None:
            break
    assert seen == ["Default"] + [f"p{i}" for i in range(7)]


@pytest.mark.parametrize(
    "bad", ["name = ", "name > 'x'", "metrics.a > 1", "nope = 'x'", "name = 'a' OR name = 'b'"]
)
def test_search_bad_filter(store: Store, bad: str) -> None:
    with pytest.raises(TrazaException) as e:
        store.search_experiments(filter_string=bad)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("location", ["runs:/0123456789abcdef/x", "models:/m-1"])
def test_artifact_location_cannot_name_a_run_or_model(store: Store, location: str) -> None:
    with pytest.raises(TrazaException) as e:
        store.create_experiment("located", artifact_location=location)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert store.get_experiment_by_name("located") is None
