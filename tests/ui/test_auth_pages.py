"""The web UI with ``--app-name basic-auth``: sign-in, sharing an experiment and a registered
model, access tokens, and a READ user who sees what they may do.

The server is a real one with authentication on; users and resources are made through the REST
API as an admin, then the browser does what a person would.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from server.live import live_server
from traza.auth.config import AuthConfig

from .conftest import SCREENSHOTS, ConsoleErrors

ADMIN = ("admin", "admin-password-1")
BOB = ("bob", "bob-password-123")


@dataclass(frozen=True)
class Site:
    url: str
    experiment_id: str
    model: str


def _api(url: str, method: str, path: str, body: Any = None, user: tuple[str, str] = ADMIN) -> Any:
    token = base64.b64encode(":".join(user).encode()).decode()
    request = urllib.request.Request(
        url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read() or b"{}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui-auth")
    config = AuthConfig(admin_password=ADMIN[1])
    uri = f"sqlite:///{root / 'tracking.db'}"
    with live_server(uri, root, auth_config=config, app_name="basic-auth") as live:
        _api(
            live.url,
            "POST",
            "/api/2.0/mlflow/users/create",
            {"username": BOB[0], "password": BOB[1]},
        )
        made = _api(live.url, "POST", "/api/2.0/mlflow/experiments/create", {"name": "team-exp"})
        _api(live.url, "POST", "/api/2.0/mlflow/registered-models/create", {"name": "team-model"})
        yield Site(live.url, str(made["experiment_id"]), "team-model")


def _sign_in(page: Any, user: tuple[str, str]) -> None:
    page.get_by_label("Username").fill(user[0])
    page.get_by_label("Password").fill(user[1])
    page.get_by_role("button", name="Sign in").click()


def test_a_deep_link_asks_to_sign_in_then_shows_the_view(
    page: Any, site: Site, console_errors: ConsoleErrors
) -> None:
    console_errors.expect(r"status of 401 .*/auth/login\)$")  # the wrong password, on purpose
    page.goto(f"{site.url}/#/experiments/{site.experiment_id}")
    page.get_by_role("heading", name="Sign in to Traza").wait_for()
    _sign_in(page, ("admin", "wrong-password-0"))
    page.get_by_role("alert", name="Sign-in error").wait_for()
    assert (
        "Wrong username or password" in page.get_by_role("alert", name="Sign-in error").inner_text()
    )
    _sign_in(page, ADMIN)
    page.get_by_role("heading", name="team-exp").wait_for()
    assert page.get_by_label("Signed in").inner_text().startswith("admin")


def test_share_an_experiment_and_a_model(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/#/experiments/{site.experiment_id}")
    _sign_in(page, ADMIN)
    page.get_by_text("Access: you can").click()
    page.get_by_placeholder("username").fill(BOB[0])
    page.get_by_label("Access level").select_option("READ")
    page.get_by_role("button", name="Share").click()
    page.get_by_label(f"Access of {BOB[0]}").wait_for()
    grants = _api(
        site.url, "GET", f"/api/traza/v1/permissions/list?experiment_id={site.experiment_id}"
    )
    assert {"username": "bob", "permission": "READ"} in grants["permissions"]

    page.goto(f"{site.url}/#/models/{site.model}")
    page.get_by_text("Access: you can").click()
    page.get_by_placeholder("username").fill(BOB[0])
    page.get_by_label("Access level").select_option("EDIT")
    page.get_by_role("button", name="Share").click()
    page.get_by_label(f"Access of {BOB[0]}").select_option("MANAGE")
    manage = {"username": "bob", "permission": "MANAGE"}
    for _ in range(100):  # the change is saved when the server answers: poll for it
        grants = _api(site.url, "GET", f"/api/traza/v1/permissions/list?name={site.model}")
        if manage in grants["permissions"]:
            break
        page.wait_for_timeout(100)
    assert manage in grants["permissions"]


def test_a_reader_sees_their_level_and_no_sharing_controls(page: Any, site: Site) -> None:
    _api(
        site.url,
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        {"username": "bob", "resource_type": "experiment", "resource_id": site.experiment_id,
         "permission": "READ"},
    )  # fmt: skip
    page.goto(f"{site.url}/#/experiments/{site.experiment_id}")
    _sign_in(page, BOB)
    summary = page.get_by_text("Access: you can")
    summary.wait_for()
    assert summary.inner_text().strip() == "Access: you can read"
    summary.click()
    assert page.get_by_role("button", name="Share").count() == 0


def test_tokens_are_made_shown_once_and_work(page: Any, site: Site, tmp_path: Path) -> None:
    page.goto(f"{site.url}/#/account")
    _sign_in(page, BOB)
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("New token").locator("code").inner_text()
    page.get_by_role("button", name="Done").click()
    assert page.get_by_label("New token").count() == 0
    assert page.get_by_role("cell", name="laptop").count() == 1

    request = urllib.request.Request(
        f"{site.url}/api/2.0/mlflow/experiments/get?experiment_id={site.experiment_id}",
        headers={"Authorization": f"Bearer {secret}"},
    )
    with urllib.request.urlopen(request) as reply:
        assert json.loads(reply.read())["experiment"]["name"] == "team-exp"

    page.get_by_role("button", name="Revoke").click()
    page.get_by_text("No tokens yet.").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in to Traza").wait_for()


def test_changing_ones_password_asks_to_sign_in_again(page: Any, site: Site) -> None:
    old, new = "carol-password-1", "carol-password-2"
    _api(site.url, "POST", "/api/2.0/mlflow/users/create", {"username": "carol", "password": old})
    page.goto(f"{site.url}/#/account")
    _sign_in(page, ("carol", old))
    form = page.get_by_role("form", name="Change password")
    form.get_by_label("Current password").fill(old)
    form.get_by_label("New password").fill(new)
    form.get_by_label("Again").fill(new)
    form.get_by_role("button", name="Change password").click()
    page.get_by_text("Password changed").wait_for()
    page.get_by_role("heading", name="Sign in to Traza").wait_for()
    _sign_in(page, ("carol", new))
    page.get_by_role("heading", name="carol").wait_for()


def test_a_reader_sees_no_edit_controls_on_runs_and_models(page: Any, site: Site) -> None:
    """bob reads dan's experiment and model: no delete, description, tag or alias controls;
    dan, who made them (MANAGE), sees them all."""
    dan = ("dan", "dan-password-12")
    _api(site.url, "POST", "/api/2.0/mlflow/users/create", {"username": dan[0], "password": dan[1]})
    made = _api(site.url, "POST", "/api/2.0/mlflow/experiments/create", {"name": "dans"}, user=dan)
    run = _api(
        site.url,
        "POST",
        "/api/2.0/mlflow/runs/create",
        {"experiment_id": made["experiment_id"]},
        dan,
    )["run"]["info"]["run_id"]
    _api(site.url, "POST", "/api/2.0/mlflow/registered-models/create", {"name": "dans-model"}, dan)
    # A signed-in user who is not an admin sees edit controls only once the server said they
    # may: to_have_count polls until the count settles, whichever way it goes.
    for user, can in ((BOB, False), (dan, True)):
        page.goto(f"{site.url}/#/experiments/{made['experiment_id']}")
        sign_in = page.get_by_role("heading", name="Sign in to Traza")
        sign_out = page.get_by_role("button", name="Sign out")
        sign_in.or_(sign_out).first.wait_for()
        if not sign_in.is_visible():  # another user is signed in: sign out first
            sign_out.click()
            sign_in.wait_for()
        _sign_in(page, user)
        page.get_by_role("heading", name="dans").wait_for()
        page.get_by_text("Access: you can").wait_for()
        expect(page.get_by_role("button", name="Delete selected")).to_have_count(int(can))
        # Runs of two experiments at once: Delete only where it is allowed in both (neither
        # user has MANAGE on the admin's team-exp).
        page.goto(f"{site.url}/#/experiments/{made['experiment_id']},{site.experiment_id}")
        page.get_by_role("table", name="Runs").wait_for()
        expect(page.get_by_role("button", name="Delete selected")).to_have_count(0)
        page.goto(f"{site.url}/#/experiments/{made['experiment_id']}/runs/{run}")
        page.get_by_role("heading", name="Details").wait_for()
        expect(page.get_by_role("button", name="Add a description")).to_have_count(int(can))
        page.goto(f"{site.url}/#/models/dans-model")
        page.get_by_text("Access: you can").wait_for()
        expect(page.get_by_role("form", name="Add a tag to the model")).to_have_count(int(can))
        # The experiments list: Rename needs EDIT, Delete MANAGE, on each row; team-exp is the
        # admin's (both read it).
        page.goto(f"{site.url}/#/")
        page.get_by_role("link", name="team-exp").wait_for()
        page.get_by_role("link", name="dans", exact=True).wait_for()
        for name, owned in (("dans", can), ("team-exp", False)):
            expect(page.get_by_role("button", name=f"Rename {name}")).to_have_count(int(owned))
            expect(page.get_by_role("button", name=f"Delete {name}")).to_have_count(int(owned))
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"experiments-access-{user[0]}.png"))
