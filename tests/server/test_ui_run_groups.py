"""``GET runs/groups``: runs grouped by a param or tag over every run a filter matches, with
each metric's count, mean, min and max, computed by SQL on SQLite and PostgreSQL (and, for other
stores, from the runs read page by page: both must agree)."""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from traza.entities import Metric, Param, RunTag, ViewType
from traza.store import run_groups
from traza.store.base import Store

from .live import Live, live_backend

HTTP = urllib3.PoolManager()
UI_API = "/ajax-api/traza/v1"
RUNS = 250  # more than the table's first page of 100, so the figures cannot come from one


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    with live_backend(request.param, tmp_path) as live:
        yield live


def _seed(store: Store) -> str:
    """Run i: param model = a/b/c by i % 3 (none when i % 10 == 9), tag team = x/y by i % 2,
    metric loss = i, acc = i / 1000 on even runs only; run 0's acc is NaN, run 2's is
    infinite; run 5 is deleted."""
    exp = store.create_experiment("groups")
    for i in range(RUNS):
        run_id = store.create_run(exp, "u", i, [RunTag("team", "xy"[i % 2])], f"r{i}").info.run_id
        params = [] if i % 10 == 9 else [Param("model", "abc"[i % 3])]
        metrics = [Metric("loss", float(i), 1, 0)]
        if i % 2 == 0:
            acc = math.nan if i == 0 else math.inf if i == 2 else i / 1000
            metrics.append(Metric("acc", acc, 1, 0))
        store.log_batch(run_id, metrics, params)
        if i == 5:
            store.delete_run(run_id)
    return exp


def _expected(keep: Any, by: Any) -> dict[Any, dict[str, Any]]:
    """The figures computed here, the obvious way."""
    groups: dict[Any, dict[str, Any]] = {}
    for i in range(RUNS):
        if i == 5 or not keep(i):
            continue
        g = groups.setdefault(by(i), {"count": 0, "loss": [], "acc": []})
        g["count"] += 1
        g["loss"].append(float(i))
        if i % 2 == 0 and i not in (0, 2):
            g["acc"].append(i / 1000)
    return groups


def _check(reply: dict[str, Any], expected: dict[Any, dict[str, Any]]) -> None:
    assert reply["total_runs"] == sum(g["count"] for g in expected.values())
    got = {g["value"]: g for g in reply["groups"]}
    assert set(got) == set(expected)
    counts = [g["count"] for g in reply["groups"]]
    assert counts == sorted(counts, reverse=True)  # the most populous first
    for value, want in expected.items():
        g = got[value]
        assert g["count"] == want["count"], value
        for metric in ("loss", "acc"):
            values = want[metric]
            if not values:
                assert metric not in g["metrics"]
                continue
            stats = g["metrics"][metric]
            assert stats["count"] == len(values)
            assert stats["mean"] == pytest.approx(sum(values) / len(values), rel=1e-12)
            assert (stats["min"], stats["max"]) == (min(values), max(values))


def _groups(live: Live, **query: Any) -> tuple[int, Any]:
    r = HTTP.request(
        "GET", f"{live.url}{UI_API}/runs/groups?{urllib.parse.urlencode(query, doseq=True)}"
    )
    return r.status, json.loads(r.data)


def test_groups_cover_every_matching_run(live: Live) -> None:
    exp = _seed(live.store)
    model = lambda i: None if i % 10 == 9 else "abc"[i % 3]  # noqa: E731
    status, reply = _groups(live, experiment_ids=exp, by="params.model", metrics=["loss", "acc"])
    assert status == 200, reply
    assert reply["by"] == "params.model" and reply["truncated"] is False
    _check(reply, _expected(lambda i: True, model))
    assert {g["value"]: g["count"] for g in reply["groups"]}[None] == RUNS // 10  # no param

    # A filter: only the matching runs count, whatever page they would be on.
    status, reply = _groups(
        live, experiment_ids=exp, by="tags.team", metrics=["loss", "acc"],
        filter="metrics.loss >= 100 and params.model != 'c'",
    )  # fmt: skip
    assert status == 200, reply
    keep = lambda i: i >= 100 and i % 10 != 9 and i % 3 != 2  # noqa: E731
    _check(reply, _expected(keep, lambda i: "xy"[i % 2]))

    # Deleted runs only.
    status, reply = _groups(
        live, experiment_ids=exp, by="params.model", metrics=["loss"], run_view_type="DELETED_ONLY"
    )
    assert reply["groups"] == [
        {
            "value": "c",
            "count": 1,
            "metrics": {"loss": {"count": 1, "mean": 5.0, "min": 5.0, "max": 5.0}},
        }
    ]


def test_sql_and_the_page_by_page_reading_agree(live: Live) -> None:
    exp = _seed(live.store)
    for by, flt in (("params.model", None), ("tags.team", "metrics.acc > 0.1")):
        sql = live.store.group_runs([exp], flt, ViewType.ACTIVE_ONLY, by, ["loss", "acc", "none"])
        generic = Store.group_runs(
            live.store, [exp], flt, ViewType.ACTIVE_ONLY, by, ["loss", "acc", "none"]
        )
        assert [g.value for g in sql.groups] == [g.value for g in generic.groups]
        for a, b in zip(sql.groups, generic.groups, strict=True):
            assert a.count == b.count and set(a.metrics) == set(b.metrics)
            for key, s in a.metrics.items():
                t = b.metrics[key]
                assert (s.count, s.min, s.max) == (t.count, t.min, t.max)
                assert s.mean == pytest.approx(t.mean, rel=1e-12)


def test_many_groups_are_cut_and_say_so(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = _seed(live.store)
    monkeypatch.setattr(run_groups, "MAX_GROUPS", 2)
    found = live.store.group_runs([exp], None, ViewType.ACTIVE_ONLY, "params.model", [])
    assert found.truncated and len(found.groups) == 2 and found.total_runs == RUNS - 1


def test_bad_requests_say_what_to_do(live: Live) -> None:
    exp = live.store.create_experiment("e")
    for query, words in (
        ({"by": "params.x"}, "experiment_ids"),
        ({"experiment_ids": exp}, "by"),
        ({"experiment_ids": exp, "by": "metrics.loss"}, "params.<key> or tags.<key>"),
        ({"experiment_ids": exp, "by": "params."}, "params.<key> or tags.<key>"),
        ({"experiment_ids": exp, "by": "params.x", "filter": "metrics.loss >"}, "filter"),
        (
            {"experiment_ids": exp, "by": "params.x", "metrics": [f"m{i}" for i in range(101)]},
            "at most 100",
        ),
        ({"experiment_ids": "x", "by": "params.x"}, "xperiment"),
    ):
        status, reply = _groups(live, **query)
        assert status == 400, (query, reply)
        assert words.lower() in reply["message"].lower(), (words, reply["message"])


def test_groups_need_read(tmp_path: Path) -> None:
    from .test_permissions import API, NO, assert_denied, auth_server

    with auth_server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, NO) as server:
        server.user("olivia")
        server.user("dana")
        exp = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "o"})[
            "experiment_id"
        ]
        query = {"experiment_ids": exp, "by": "params.model"}
        status, reply = server.call("dana", "GET", f"{UI_API}/runs/groups", query)
        assert_denied(status, reply, "READ")
        assert server.ok("olivia", "GET", f"{UI_API}/runs/groups", query)["total_runs"] == 0


def test_a_group_whose_values_are_all_nan_or_infinite_has_no_figures(live: Live) -> None:
    exp = live.store.create_experiment("nan")
    for value, acc in (("x", math.nan), ("x", -math.inf), ("y", 1.0)):
        run_id = live.store.create_run(exp, "u", 0, [], None).info.run_id
        live.store.log_batch(run_id, [Metric("acc", acc, 1, 0)], [Param("g", value)])
    for found in (
        live.store.group_runs([exp], None, ViewType.ACTIVE_ONLY, "params.g", ["acc"]),
        Store.group_runs(live.store, [exp], None, ViewType.ACTIVE_ONLY, "params.g", ["acc"]),
    ):
        by_value = {g.value: g for g in found.groups}
        assert by_value["x"].count == 2 and by_value["x"].metrics == {}
        assert by_value["y"].metrics["acc"].mean == 1.0
