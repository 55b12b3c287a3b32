"""``POST metrics/histories``: many metrics of the same runs in one request (the chart
workspace), on SQLite and PostgreSQL, equal to what ``metrics/history`` gives key by key."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from traza.entities import Metric

from .live import Live, live_backend
from .test_permissions import API, NO, assert_denied, auth_server

HTTP = urllib3.PoolManager()
UI_API = "/ajax-api/traza/v1"


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    with live_backend(request.param, tmp_path) as live:
        yield live


def _post(url: str, body: Any) -> tuple[int, Any]:
    r = HTTP.request(
        "POST", url, body=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    return r.status, json.loads(r.data)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Series equal, NaN equal to NaN."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_histories_of_several_keys_equal_the_per_key_endpoint(live: Live) -> None:
    exp = live.store.create_experiment("w")
    runs = [live.store.create_run(exp, "u", 1_000 * i, [], f"r{i}").info.run_id for i in range(3)]
    # A single value per run (a bar), a NaN single value, a short and a long history, a key
    # one run lacks, and a value logged twice at one step.
    live.store.log_batch(runs[0], [Metric("acc", 0.5, 10, 0), Metric("rmse", math.nan, 11, 3)])
    live.store.log_batch(runs[1], [Metric("acc", 0.7, 20, 2), Metric("rmse", 1.5, 21, 0)])
    live.store.log_batch(runs[2], [Metric("acc", 0.1, 30, 1), Metric("acc", 0.2, 31, 1)])
    for r, run_id in enumerate(runs):
        live.store.log_batch(
            run_id, [Metric("loss", 1 / (1 + j) + r, 100 + j, j) for j in range(300)]
        )
    keys = ["acc", "loss", "rmse", "never-logged"]
    for x_axis in ("step", "timestamp", "relative"):
        status, reply = _post(
            f"{live.url}{UI_API}/metrics/histories",
            {"run_ids": runs, "keys": keys, "max_points": 50, "x_axis": x_axis},
        )
        assert status == 200, reply
        assert [h["key"] for h in reply["histories"]] == keys
        for history in reply["histories"]:
            query = "&".join(f"run_ids={r}" for r in runs)
            single = HTTP.request(
                "GET",
                f"{live.url}{UI_API}/metrics/history?{query}&key={history['key']}"
                f"&max_points=50&x_axis={x_axis}",
            )
            assert single.status == 200
            expected = json.loads(single.data)["series"]
            assert [s["run_id"] for s in history["series"]] == runs
            for got, want in zip(history["series"], expected, strict=True):
                assert _same(got, want), (x_axis, got, want)
    # The values themselves, for the single-point path.
    acc = reply["histories"][0]["series"]
    assert [s["points"] for s in acc[:2]] == [[[0, 0.5]], [[0, 0.7]]]  # relative: x is 0
    assert acc[2]["total"] == 2
    rmse = reply["histories"][2]["series"]
    assert rmse[0]["points"] == [[0, "NaN"]] and rmse[2]["total"] == 0
    loss = reply["histories"][1]["series"]
    assert all(s["sampled"] and s["total"] == 300 and len(s["points"]) <= 50 for s in loss)


def test_bad_requests_say_what_to_do(live: Live) -> None:
    run_id = live.store.create_run("0", "u", 0, [], None).info.run_id
    url = f"{live.url}{UI_API}/metrics/histories"
    for body, words in (
        ({"keys": ["a"]}, "run_ids"),
        ({"run_ids": [run_id]}, "keys"),
        ({"run_ids": [run_id] * 1 + [f"{i:032x}" for i in range(100)], "keys": ["a"]}, "100 runs"),
        ({"run_ids": [run_id], "keys": [f"k{i}" for i in range(51)]}, "at most 50 keys"),
        ({"run_ids": [run_id], "keys": ["a"], "max_points": 1}, "max_points"),
        ({"run_ids": [run_id], "keys": ["a"], "x_axis": "epoch"}, "x_axis"),
        ({"run_ids": [run_id], "keys": "a"}, "keys"),
        ({"run_ids": [run_id], "keys": [""]}, "keys"),
    ):
        status, reply = _post(url, body)
        assert status == 400, (body, reply)
        assert words in reply["message"], (words, reply["message"])
    status, reply = _post(url, {"run_ids": ["f" * 32], "keys": ["a"]})
    assert status == 404 and reply["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_histories_need_read_on_every_run(tmp_path: Path) -> None:
    with auth_server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, NO) as server:
        server.user("olivia")
        server.user("dana")
        mine = server.ok("dana", "POST", f"{API}/experiments/create", {"name": "d"})
        theirs = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "o"})
        runs = [
            server.ok(who, "POST", f"{API}/runs/create", {"experiment_id": e["experiment_id"]})[
                "run"
            ]["info"]["run_id"]
            for who, e in (("dana", mine), ("olivia", theirs))
        ]
        body = {"run_ids": runs, "keys": ["loss"]}
        status, reply = server.call("dana", "POST", f"{UI_API}/metrics/histories", body)
        assert_denied(status, reply, "READ")
        reply = server.ok(
            "dana", "POST", f"{UI_API}/metrics/histories", {**body, "run_ids": runs[:1]}
        )
        assert reply["histories"][0]["series"][0]["total"] == 0
