"""The model registry, per store: models, versions, tags, aliases, stages, search and errors."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from traza.entities import (
    LoggedModelTag,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from traza.exceptions import TrazaException
from traza.store.base import Store


def error(call: Any, *args: Any, **kwargs: Any) -> TrazaException:
    with pytest.raises(TrazaException) as e:
        call(*args, **kwargs)
    return e.value


def code(call: Any, *args: Any, **kwargs: Any) -> str:
    return error(call, *args, **kwargs).error_code


def versions(page: list[ModelVersion]) -> list[tuple[str, str]]:
    return [(v.name, v.version) for v in page]


# -- registered models -----------------------------------------------------------------------
def test_create_get_update_delete(store: Store) -> None:
    created = store.create_registered_model(
        "clf", [RegisteredModelTag("team", "vision"), RegisteredModelTag("team", "nlp")], "first"
    )
    assert isinstance(created, RegisteredModel)
    assert (created.name, created.description, created.tags) == ("clf", "first", {"team": "nlp"})
    assert created.latest_versions == () and created.aliases == {}
    assert created.creation_timestamp == created.last_updated_timestamp > 0
    assert store.get_registered_model("clf") == created

    updated = store.update_registered_model("clf", "second")
    assert updated.description == "second"
    assert updated.last_updated_timestamp is not None
    assert updated.last_updated_timestamp >= created.creation_timestamp
    assert store.get_registered_model("clf").description == "second"
    assert store.update_registered_model("clf", None).description is None

    store.delete_registered_model("clf")
    missing = error(store.get_registered_model, "clf")
    assert missing.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "clf" in missing.message


def test_create_twice_is_already_exists(store: Store) -> None:
    store.create_registered_model("dup")
    e = error(store.create_registered_model, "dup")
    assert e.error_code == "RESOURCE_ALREADY_EXISTS" and "dup" in e.message


@pytest.mark.parametrize("name", ["", "  ", "a/b", "a:b", "..", "."])
def test_bad_model_names(store: Store, name: str) -> None:
    assert code(store.create_registered_model, name) == "INVALID_PARAMETER_VALUE"
    assert store.search_registered_models() == []


def test_missing_model_errors_name_it(store: Store) -> None:
    for call, args in [
        (store.get_registered_model, ("nope",)),
        (store.update_registered_model, ("nope", "d")),
        (store.rename_registered_model, ("nope", "other")),
        (store.delete_registered_model, ("nope",)),
        (store.get_latest_versions, ("nope",)),
        (store.set_registered_model_tag, ("nope", RegisteredModelTag("k", "v"))),
        (store.delete_registered_model_tag, ("nope", "k")),
        (store.create_model_version, ("nope", "s3://b/m")),
        (store.delete_registered_model_alias, ("nope", "a")),
        (store.get_model_version_by_alias, ("nope", "a")),
    ]:
        e = error(call, *args)
        assert e.error_code == "RESOURCE_DOES_NOT_EXIST", call
        assert "nope" in e.message


def test_tags(store: Store) -> None:
    store.create_registered_model("m")
    store.set_registered_model_tag("m", RegisteredModelTag("a", "1"))
    store.set_registered_model_tag("m", RegisteredModelTag("b", "2"))
    store.set_registered_model_tag("m", RegisteredModelTag("a", "3"))
    assert store.get_registered_model("m").tags == {"a": "3", "b": "2"}
    store.delete_registered_model_tag("m", "a")
    store.delete_registered_model_tag("m", "never-set")  # no error, as in MLflow
    assert store.get_registered_model("m").tags == {"b": "2"}
    bad = RegisteredModelTag("../x", "v")
    assert code(store.set_registered_model_tag, "m", bad) == "INVALID_PARAMETER_VALUE"
    long = RegisteredModelTag("k", "x" * 100_001)
    assert code(store.set_registered_model_tag, "m", long) == "INVALID_PARAMETER_VALUE"
    store.set_registered_model_tag("m", RegisteredModelTag("k", "x" * 100_000))
    assert len(store.get_registered_model("m").tags["k"]) == 100_000


# -- versions --------------------------------------------------------------------------------
def test_versions_number_from_one_and_are_never_reused(store: Store) -> None:
    store.create_registered_model("m")
    made = [store.create_model_version("m", f"s3://b/{i}") for i in range(3)]
    assert [v.version for v in made] == ["1", "2", "3"]
    store.delete_model_version("m", "3")
    store.delete_model_version("m", 2)
    assert code(store.get_model_version, "m", "3") == "RESOURCE_DOES_NOT_EXIST"
    assert store.create_model_version("m", "s3://b/next").version == "4"
    assert versions(store.search_model_versions("name = 'm'")) == [("m", "4"), ("m", "1")]
    # A model made again under the same name starts over, as in MLflow.
    store.delete_registered_model("m")
    store.create_registered_model("m")
    assert store.create_model_version("m", "s3://b/again").version == "1"


def test_version_fields_and_tags(store: Store) -> None:
    store.create_registered_model("m")
    run_id = "a" * 32
    v = store.create_model_version(
        "m",
        "s3://bucket/model",
        run_id=run_id,
        tags=[ModelVersionTag("k", "v")],
        run_link="http://example/run",
        description="d",
    )
    assert (v.name, v.version, v.source, v.run_id) == ("m", "1", "s3://bucket/model", run_id)
    assert (v.current_stage, v.status, v.description) == ("None", "READY", "d")
    assert (v.tags, v.run_link, v.aliases, v.model_id) == (
        {"k": "v"},
        "http://example/run",
        (),
        None,
    )
    assert store.get_model_version("m", "1") == v
    assert store.get_model_version("m", 1) == v
    assert store.get_model_version_download_uri("m", "1") == "s3://bucket/model"

    store.set_model_version_tag("m", "1", ModelVersionTag("k", "w"))
    store.set_model_version_tag("m", "1", ModelVersionTag("other", "x"))
    store.delete_model_version_tag("m", "1", "other")
    store.delete_model_version_tag("m", "1", "never-set")
    assert store.get_model_version("m", "1").tags == {"k": "w"}

    updated = store.update_model_version("m", "1", "new words")
    assert updated.description == "new words"
    assert updated.last_updated_timestamp is not None
    assert updated.last_updated_timestamp >= v.creation_timestamp
    assert store.get_model_version("m", "1").description == "new words"


def test_version_errors(store: Store) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b/1")
    e = error(store.get_model_version, "m", "7")
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "name=m" in e.message and "version=7" in e.message
    for call, args in [
        (store.update_model_version, ("m", "7", "d")),
        (store.delete_model_version, ("m", "7")),
        (store.get_model_version_download_uri, ("m", "7")),
        (store.transition_model_version_stage, ("m", "7", "Staging")),
        (store.set_model_version_tag, ("m", "7", ModelVersionTag("k", "v"))),
        (store.set_registered_model_alias, ("m", "a", "7")),
    ]:
        assert code(call, *args) == "RESOURCE_DOES_NOT_EXIST", call
    assert code(store.get_model_version, "m", "one") == "INVALID_PARAMETER_VALUE"
    assert code(store.create_model_version, "m", "") == "INVALID_PARAMETER_VALUE"


def test_logged_model_source(store: Store) -> None:
    experiment_id = store.create_experiment("e")
    run_id = store.create_run(experiment_id, "u", 1, [], "r").info.run_id
    logged = store.create_logged_model(experiment_id, name="clf", source_run_id=run_id)
    store.set_logged_model_tags(logged.model_id, [LoggedModelTag("mlflow.modelVersions", "[]")])
    store.create_registered_model("m")
    v = store.create_model_version("m", f"models:/{logged.model_id}")
    assert (v.model_id, v.run_id, v.source) == (logged.model_id, run_id, logged.model_uri)
    assert store.get_model_version("m", "1").model_id == logged.model_id
    assert store.get_model_version_download_uri("m", "1") == logged.artifact_location
    # The logged model lists the versions made from it (as MLflow's server records them).
    v2 = store.create_model_version("m", logged.artifact_location, model_id=logged.model_id)
    assert (v2.run_id, v2.source) == (run_id, logged.artifact_location)
    tag = store.get_logged_model(logged.model_id).tags["mlflow.modelVersions"]
    assert json.loads(tag) == [{"name": "m", "version": 1}, {"name": "m", "version": 2}]
    # A registry URI as the source reuses that version's artifacts.
    v3 = store.create_model_version("m", "models:/m/1")
    assert store.get_model_version_download_uri("m", v3.version) == logged.artifact_location
    missing = "m-" + "0" * 32
    assert code(store.create_model_version, "m", f"models:/{missing}") == (
        "RESOURCE_DOES_NOT_EXIST"
    )


def test_rename_carries_versions_tags_and_aliases(store: Store) -> None:
    store.create_registered_model("old", [RegisteredModelTag("t", "1")])
    store.create_model_version("old", "s3://b/1", tags=[ModelVersionTag("vt", "x")])
    store.set_registered_model_alias("old", "champion", "1")
    store.create_registered_model("taken")
    assert code(store.rename_registered_model, "old", "taken") == "RESOURCE_ALREADY_EXISTS"
    assert code(store.rename_registered_model, "old", "a/b") == "INVALID_PARAMETER_VALUE"

    renamed = store.rename_registered_model("old", "new")
    assert (renamed.name, renamed.tags, renamed.aliases) == ("new", {"t": "1"}, {"champion": "1"})
    assert [v.name for v in renamed.latest_versions] == ["new"]
    assert code(store.get_registered_model, "old") == "RESOURCE_DOES_NOT_EXIST"
    v = store.get_model_version("new", "1")
    assert (v.name, v.tags, v.aliases) == ("new", {"vt": "x"}, ("champion",))
    assert store.get_model_version_by_alias("new", "champion").version == "1"
    assert versions(store.search_model_versions("name = 'new'")) == [("new", "1")]
    assert store.create_model_version("new", "s3://b/2").version == "2"


# -- aliases ---------------------------------------------------------------------------------
def test_aliases_move_and_follow_deletes(store: Store) -> None:
    store.create_registered_model("m")
    for i in range(3):
        store.create_model_version("m", f"s3://b/{i}")
    store.set_registered_model_alias("m", "champion", "1")
    store.set_registered_model_alias("m", "challenger", 2)
    assert store.get_registered_model("m").aliases == {"challenger": "2", "champion": "1"}
    assert store.get_model_version("m", "1").aliases == ("champion",)

    store.set_registered_model_alias("m", "champion", "2")  # moves, never duplicates
    assert store.get_model_version_by_alias("m", "champion").version == "2"
    assert store.get_model_version("m", "1").aliases == ()
    assert store.get_model_version("m", "2").aliases == ("challenger", "champion")
    assert store.get_model_version_by_alias("m", "latest").version == "3"

    store.delete_model_version("m", "2")  # drops the aliases naming it
    assert store.get_registered_model("m").aliases == {}
    e = error(store.get_model_version_by_alias, "m", "champion")
    assert e.error_code == "INVALID_PARAMETER_VALUE" and "champion" in e.message  # MLflow's code

    store.set_registered_model_alias("m", "champion", "3")
    store.delete_registered_model_alias("m", "champion")
    store.delete_registered_model_alias("m", "never-set")
    assert store.get_registered_model("m").aliases == {}


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V12", "a b", "a.b", ""])
def test_reserved_and_bad_aliases(store: Store, alias: str) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b/1")
    assert code(store.set_registered_model_alias, "m", alias, "1") == "INVALID_PARAMETER_VALUE"
    assert store.get_registered_model("m").aliases == {}


# -- stages ----------------------------------------------------------------------------------
def test_stages_and_latest_versions(store: Store) -> None:
    store.create_registered_model("m")
    for i in range(4):
        store.create_model_version("m", f"s3://b/{i}")
    moved = store.transition_model_version_stage("m", "1", "production")
    assert moved.current_stage == "Production"
    store.transition_model_version_stage("m", "2", "Staging")
    store.transition_model_version_stage("m", "3", "Staging")
    latest = store.get_latest_versions("m")
    assert [(v.version, v.current_stage) for v in latest] == [
        ("1", "Production"),
        ("3", "Staging"),
        ("4", "None"),
    ]
    assert [v.version for v in store.get_latest_versions("m", ["staging"])] == ["3"]
    assert [v.version for v in store.get_latest_versions("m", ["Production", "Archived"])] == ["1"]
    model = store.get_registered_model("m")
    assert [(v.version, v.current_stage) for v in model.latest_versions] == [
        (v.version, v.current_stage) for v in latest
    ]

    # Archiving the others in the target stage, and only those.
    store.transition_model_version_stage("m", "4", "Staging", archive_existing_versions=True)
    stages = {v.version: v.current_stage for v in store.search_model_versions("name = 'm'")}
    assert stages == {"1": "Production", "2": "Archived", "3": "Archived", "4": "Staging"}
    assert code(store.transition_model_version_stage, "m", "1", "Gone") == (
        "INVALID_PARAMETER_VALUE"
    )
    assert code(store.get_latest_versions, "m", ["Gone"]) == "INVALID_PARAMETER_VALUE"
    assert code(store.transition_model_version_stage, "m", "1", "None", True) == (
        "INVALID_PARAMETER_VALUE"
    )
    assert store.get_model_version("m", "1").current_stage == "Production"


# -- search ----------------------------------------------------------------------------------
def _models(store: Store) -> None:
    for name, team in [("alpha", "a"), ("beta", "b"), ("Gamma", "a"), ("delta_x", "")]:
        tags = [RegisteredModelTag("team", team)] if team else []
        store.create_registered_model(name, tags)


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ["Gamma", "alpha", "beta", "delta_x"]),
        ("name = 'alpha'", ["alpha"]),
        ("name != 'alpha'", ["Gamma", "beta", "delta_x"]),
        ("name LIKE '%a'", ["Gamma", "alpha", "beta"]),
        ("name LIKE 'g%'", []),
        ("name ILIKE 'g%'", ["Gamma"]),
        ("name IN ('alpha', 'beta')", ["alpha", "beta"]),
        ("name NOT IN ('alpha', 'beta')", ["Gamma", "delta_x"]),
        ("tags.team = 'a'", ["Gamma", "alpha"]),
        ("tags.team != 'a'", ["beta"]),
        ("tags.`team` LIKE 'b%' and name = 'beta'", ["beta"]),
        ("tags.team ILIKE 'A'", ["Gamma", "alpha"]),
        ("attribute.name = 'delta_x'", ["delta_x"]),
    ],
)
def test_search_registered_models(
    store: Store, filter_string: str | None, expected: list[str]
) -> None:
    _models(store)
    assert [m.name for m in store.search_registered_models(filter_string)] == expected


@pytest.mark.parametrize(
    "filter_string",
    [
        "creation_timestamp > 0",
        "metrics.x > 1",
        "name = 1",
        "tags.t IN ('a')",
        "name = 'a' or name = 'b'",
        "name >",
        "run_id = 'x'",
    ],
)
def test_search_registered_models_bad_filters(store: Store, filter_string: str) -> None:
    assert code(store.search_registered_models, filter_string) == "INVALID_PARAMETER_VALUE"


def test_search_registered_models_order_and_pages(store: Store) -> None:
    _models(store)
    time.sleep(0.005)  # timestamps are in milliseconds
    store.update_registered_model("alpha", "touched later")
    names = [m.name for m in store.search_registered_models(order_by=["name DESC"])]
    assert names == ["delta_x", "beta", "alpha", "Gamma"]
    by_update = store.search_registered_models(order_by=["last_updated_timestamp DESC"])
    assert by_update[0].name == "alpha"
    by_time = store.search_registered_models(order_by=["timestamp DESC"])
    assert by_time[0].name == "alpha"
    by_creation = store.search_registered_models(order_by=["creation_timestamp DESC"])
    stamps = [m.creation_timestamp for m in by_creation]
    assert stamps == sorted(stamps, reverse=True)
    for bad in (["nope"], ["name", "name DESC"], ["timestamp", "last_updated_timestamp"]):
        assert code(store.search_registered_models, order_by=bad) == "INVALID_PARAMETER_VALUE"

    seen: list[str] = []
    token = None
    for _ in range(3):
        page = store.search_registered_models(max_results=3, page_token=token)
        seen += [m.name for m in page]
        token = page.token
        if token is None:
            break
    assert seen == ["Gamma", "alpha", "beta", "delta_x"] and token is None
    assert code(store.search_registered_models, max_results=1001) == "INVALID_PARAMETER_VALUE"
    assert code(store.search_registered_models, page_token="bad") == "INVALID_PARAMETER_VALUE"


def test_search_registered_models_loads_whole_models(store: Store) -> None:
    for i in range(3):
        name = f"m{i}"
        store.create_registered_model(name, [RegisteredModelTag("i", str(i))])
        for _ in range(i + 1):
            store.create_model_version(name, "s3://b/x")
        store.set_registered_model_alias(name, "best", "1")
        store.transition_model_version_stage(name, "1", "Production")
    page = store.search_registered_models()
    assert [(m.name, m.tags, m.aliases) for m in page] == [
        (f"m{i}", {"i": str(i)}, {"best": "1"}) for i in range(3)
    ]
    latest = [[(v.version, v.current_stage, v.aliases) for v in m.latest_versions] for m in page]
    assert latest == [
        [("1", "Production", ("best",))],
        [("1", "Production", ("best",)), ("2", "None", ())],
        [("1", "Production", ("best",)), ("3", "None", ())],
    ]


def _versions(store: Store) -> dict[str, str]:
    runs = {"r1": "1" * 32, "r2": "2" * 32}
    store.create_registered_model("a")
    store.create_registered_model("b")
    store.create_model_version(
        "a", "s3://b/a/1", run_id=runs["r1"], tags=[ModelVersionTag("k", "x")]
    )
    store.create_model_version("a", "s3://b/a/2", run_id=runs["r2"])
    store.create_model_version("b", "gs://other/b/1", run_id=runs["r1"])
    store.create_model_version("b", "s3://b/b/2", tags=[ModelVersionTag("k", "y")])
    return runs


def test_search_model_versions(store: Store) -> None:
    runs = _versions(store)
    r1, r2 = runs["r1"], runs["r2"]

    def found(filter_string: str | None) -> list[tuple[str, str]]:
        return sorted(versions(store.search_model_versions(filter_string)))

    assert found(None) == [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2")]
    assert found("name = 'a'") == [("a", "1"), ("a", "2")]
    assert found("name IN ('b')") == [("b", "1"), ("b", "2")]
    assert found(f"run_id = '{r1}'") == [("a", "1"), ("b", "1")]
    assert found(f"run_id IN ('{r1}', '{r2}') and name = 'a'") == [("a", "1"), ("a", "2")]
    assert found(f"run_id NOT IN ('{r1}')") == [("a", "2")]
    assert found("source_path LIKE 's3://%'") == [("a", "1"), ("a", "2"), ("b", "2")]
    assert found("source_path = 'gs://other/b/1'") == [("b", "1")]
    assert found("version_number = 2") == [("a", "2"), ("b", "2")]
    assert found("version_number >= '2' and name = 'b'") == [("b", "2")]
    assert found("version_number < 2") == [("a", "1"), ("b", "1")]
    assert found("tags.k = 'x'") == [("a", "1")]
    assert found("tags.k != 'x'") == [("b", "2")]
    assert found("tags.k LIKE '%'") == [("a", "1"), ("b", "2")]
    assert found("name ILIKE 'A'") == [("a", "1"), ("a", "2")]
    for bad in [
        "version_number = 1.5",
        "version_number = 'x'",
        "source_path IN ('a')",
        "current_stage = 'None'",
        "tags.k > 'a'",
        "name = 'a' OR name = 'b'",
    ]:
        assert code(store.search_model_versions, bad) == "INVALID_PARAMETER_VALUE", bad


def test_search_model_versions_order_and_pages(store: Store) -> None:
    _versions(store)
    time.sleep(0.005)
    store.update_model_version("a", "1", "touched")
    default = store.search_model_versions()
    assert versions(default)[0] == ("a", "1")  # last updated first
    rest = [(-(v.last_updated_timestamp or 0), v.name, -int(v.version)) for v in default[1:]]
    assert rest == sorted(rest)  # then name, then version DESC
    assert versions(store.search_model_versions(order_by=["name", "version_number"])) == [
        ("a", "1"),
        ("a", "2"),
        ("b", "1"),
        ("b", "2"),
    ]
    assert versions(store.search_model_versions(order_by=["version_number DESC"])) == [
        ("a", "2"),
        ("b", "2"),
        ("a", "1"),
        ("b", "1"),
    ]
    for bad in (["nope"], ["name", "name DESC"], ["run_id"]):
        assert code(store.search_model_versions, order_by=bad) == "INVALID_PARAMETER_VALUE"

    pages = []
    token = None
    while True:
        page = store.search_model_versions(
            order_by=["name", "version_number"], max_results=3, page_token=token
        )
        pages.append(versions(page))
        token = page.token
        if token is None:
            break
    assert pages == [[("a", "1"), ("a", "2"), ("b", "1")], [("b", "2")]]
    assert code(store.search_model_versions, max_results=0) == "INVALID_PARAMETER_VALUE"


def test_concurrent_versions_get_distinct_numbers(store: Store) -> None:
    store.create_registered_model("busy")
    made: list[str] = []
    failures: list[BaseException] = []

    def register() -> None:
        try:
            for _ in range(5):
                made.append(store.create_model_version("busy", "s3://b/x").version)
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(made, key=int) == [str(i) for i in range(1, 21)]


def test_prompts_are_searched_only_when_asked_for(store: Store) -> None:
    """MLflow keeps prompts as tagged models; its client adds ``is_prompt != 'true'``."""
    prompt_tag = "mlflow.prompt.is_prompt"
    store.create_registered_model("model")
    store.create_registered_model("prompt", [RegisteredModelTag(prompt_tag, "true")])
    store.create_model_version("model", "s3://b/m")
    store.create_model_version("prompt", "s3://b/p", tags=[ModelVersionTag(prompt_tag, "true")])
    not_prompts = f"tags.`{prompt_tag}` != 'true'"
    prompts = f"tags.`{prompt_tag}` = 'true'"
    assert [m.name for m in store.search_registered_models()] == ["model"]
    assert [m.name for m in store.search_registered_models(not_prompts)] == ["model"]
    assert [m.name for m in store.search_registered_models(prompts)] == ["prompt"]
    assert versions(store.search_model_versions()) == [("model", "1")]
    assert versions(store.search_model_versions(f"name = 'model' AND {not_prompts}")) == [
        ("model", "1")
    ]
    assert versions(store.search_model_versions(prompts)) == [("prompt", "1")]
