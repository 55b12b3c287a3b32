"""Inputs the filter fuzzing (torture/fuzz.py) found failing inside a store: now clear errors.

Each was an internal error on PostgreSQL only; both stores now refuse them alike with
INVALID_PARAMETER_VALUE naming the position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from traza.exceptions import TrazaException
from traza.search import parse_run_filter
from traza.store.base import Store


def _searches(store: Store) -> dict[str, Callable[[str | None, list[str] | None], Any]]:
    return {
        "runs": lambda f, o: store.search_runs(["0"], f, order_by=o),
        "experiments": lambda f, o: store.search_experiments(filter_string=f, order_by=o),
        "registered models": lambda f, o: store.search_registered_models(f, order_by=o),  # type: ignore[attr-defined]
        "model versions": lambda f, o: store.search_model_versions(f, order_by=o),  # type: ignore[attr-defined]
        "logged models": lambda f, o: store.search_logged_models(["0"], f, order_by=o),
    }


def _refused(call: Callable[[], Any], *words: str) -> str:
    with pytest.raises(TrazaException) as e:
        call()
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    for word in words:
        assert word in e.value.message
    return e.value.message


@pytest.mark.parametrize(
    "text",
    ["params.model = 'a\x00b'", "tags.`a\x00` = 'x'", "name LIKE '%\x00%'", "\x00"],
)
def test_a_nul_character_in_a_filter_is_a_clear_error(sql_store: Store, text: str) -> None:
    for what, search in _searches(sql_store).items():
        message = _refused(lambda: search(text, None), "NUL character", "position")  # noqa: B023
        assert f"position {text.index(chr(0))}" in message, what


def test_a_nul_character_in_order_by_is_a_clear_error(sql_store: Store) -> None:
    for search in _searches(sql_store).values():
        _refused(lambda: search(None, ["metrics.\x00rmse DESC"]), "NUL character")  # noqa: B023


@pytest.mark.parametrize("op", ["LIKE", "ILIKE"])
def test_a_like_pattern_ending_in_one_backslash_is_a_clear_error(sql_store: Store, op: str) -> None:
    run = sql_store.create_run("0", "u", 0, [], "backslash\\")
    for what, search in _searches(sql_store).items():
        key = "attributes.run_name" if what == "runs" else "name"
        _refused(lambda: search(f"{key} {op} 'x\\\\'", None), "unpaired backslash")  # noqa: B023
    # A pattern ending in two backslashes is searched (what it matches differs: PostgreSQL reads
    # a backslash as LIKE's escape, SQLite does not, as with MLflow's stores).
    sql_store.search_runs(["0"], f"attributes.run_name {op} 'backslash\\\\\\\\'")
    found = sql_store.search_runs(["0"], f"attributes.run_name {op} 'backslash%'")
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_the_grammar_points_at_the_pattern() -> None:
    with pytest.raises(TrazaException) as e:
        parse_run_filter("params.p LIKE 'a\\\\'")
    assert "(at position 14)" in e.value.message


@pytest.mark.parametrize("number", ["9223372036854775808", "-9223372036854775809", "1e30"])
def test_a_time_beyond_64_bits_is_compared_not_an_overflow(sql_store: Store, number: str) -> None:
    """SQLite's driver could not bind such an integer (OverflowError); now it compares."""
    run = sql_store.create_run("0", "u", 1_000, [], "r")
    before = float(number) < 0
    found = sql_store.search_runs(["0"], f"attributes.start_time >= {number}")
    assert [r.info.run_id for r in found] == ([run.info.run_id] if before else [])
    assert len(sql_store.search_experiments(filter_string=f"creation_time < {number}")) == (
        0 if before else 1
    )
    model = sql_store.create_logged_model("0", "m", run.info.run_id)
    models = sql_store.search_logged_models(["0"], f"creation_timestamp > {number}")
    assert [m.model_id for m in models] == ([model.model_id] if before else [])


def test_a_version_number_beyond_64_bits_is_a_clear_error(sql_store: Store) -> None:
    for text in ("version_number = 9223372036854775808", "version_number = '99999999999999999999'"):
        _refused(
            lambda: sql_store.search_model_versions(text),  # type: ignore[attr-defined]  # noqa: B023
            "version_number must be compared with an integer",
        )
