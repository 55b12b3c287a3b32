"""``permissions/mine/experiments``: the caller's level on each experiment of a list, as the web
UI's experiments page asks it (Rename needs EDIT, Delete MANAGE), against a live server with
auth on, on SQLite and PostgreSQL, and with auth off."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.server.test_permissions import (
    API,
    LEVELS,
    Server,
    any_server,  # noqa: F401 (a fixture)
    server,  # noqa: F401 (a fixture)
    share_experiment,
)

from traza.auth.store import RUN
from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer

MINE = "/api/traza/v1/permissions/mine/experiments"


def _levels(live: Server, who: str, ids: list[str]) -> dict[str, str]:
    reply = live.ok(who, "GET", MINE, {"experiment_ids": ids})
    assert reply["auth_enabled"] is True
    assert [e["experiment_id"] for e in reply["experiments"]] == ids  # in the order asked
    for e in reply["experiments"]:
        assert e["can_update"] is (e["permission"] in ("EDIT", "MANAGE"))
        assert e["can_delete"] is (e["permission"] == "MANAGE")
    return {e["experiment_id"]: e["permission"] for e in reply["experiments"]}


def test_each_user_learns_their_level_on_every_experiment_at_once(
    any_server: Server,  # noqa: F811
) -> None:
    shared = any_server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "shared"})[
        "experiment_id"
    ]
    share_experiment(any_server, shared)
    own = any_server.ok("dana", "POST", f"{API}/experiments/create", {"name": "danas"})[
        "experiment_id"
    ]
    ids = [shared, own, "0"]
    for name, level in LEVELS.items():
        found = _levels(any_server, name, ids)
        expected_shared = "READ" if level is None else level.value
        expected_own = "MANAGE" if name == "dana" else "READ"  # the creator; else the default
        assert found == {shared: expected_shared, own: expected_own, "0": "READ"}, name
    admin = any_server.ok("admin", "GET", MINE, {"experiment_ids": ids})
    assert admin["is_admin"] is True
    assert {e["permission"] for e in admin["experiments"]} == {"MANAGE"}


def test_a_run_scoped_token_reads_its_experiment_and_nothing_else(server: Server) -> None:  # noqa: F811
    own = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "job"})["experiment_id"]
    other = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "other"})[
        "experiment_id"
    ]
    run_id = server.ok("olivia", "POST", f"{API}/runs/create", {"experiment_id": own})["run"][
        "info"
    ]["run_id"]
    olivia = server.auth.get_user("olivia")
    secret, _ = server.auth.create_token(olivia.id, "job", kind=RUN, run_id=run_id)
    server.tokens["job"] = f"Bearer {secret}"
    assert _levels(server, "job", [own, other]) == {own: "READ", other: "NO_PERMISSIONS"}


def test_bad_lists_are_refused_with_what_to_do(server: Server) -> None:  # noqa: F811
    status, reply = server.call("reader", "GET", MINE)
    assert status == 400 and "experiment_ids" in reply["message"]
    status, reply = server.call("reader", "GET", MINE, {"experiment_ids": ["1", "x'; --"]})
    assert status == 400 and "give numbers" in reply["message"]
    status, reply = server.call(
        "reader", "GET", MINE, {"experiment_ids": [str(i) for i in range(1001)]}
    )
    assert status == 400 and "at most 1000" in reply["message"]


def test_without_auth_everything_is_allowed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    app = create_app(ServerSettings(backend_store_uri=uri, default_artifact_root=str(tmp_path)))
    query = "experiment_ids=0&experiment_ids=7"
    with BackgroundServer(app) as live, urllib.request.urlopen(f"{live.url}{MINE}?{query}") as r:
        reply = json.loads(r.read())
    assert reply["auth_enabled"] is False
    assert [(e["experiment_id"], e["permission"]) for e in reply["experiments"]] == [
        ("0", "MANAGE"),
        ("7", "MANAGE"),
    ]
