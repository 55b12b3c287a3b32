"""``traza server --app-name basic-auth``: who gets in, over real HTTP on 127.0.0.1.

The real ``mlflow`` client signs in with a password and with a token; raw requests (sent with
``http.client``, so nothing is added) check the refusals: no credentials and wrong ones get 401
from loopback too, failed logins are rate-limited per user and per address, the SSO header is
believed only from a configured proxy, and changes reach a second worker within the bound.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.exceptions import MlflowException, RestException

from conftest import postgres_schema
from traza.auth.config import AuthConfig
from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer
from traza.store.uri import open_store

ADMIN_PASSWORD = "admin password 1"
PASSWORD = "user password 12"
#: How long a change may take to reach another worker (the auth_version poll, 2 s), plus slack
#: for a slow machine.
BOUND = 2.0
PROXIED = "mlflow-artifacts:/"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    url: str

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        parsed = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            conn.request(method, path, data, sent)
            response = conn.getresponse()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            conn.close()


def basic(username: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = basic("admin", ADMIN_PASSWORD)
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


@contextmanager
def auth_server(uri: str, root: Path, **settings: Any) -> Iterator[Server]:
    config = settings.pop("config", AuthConfig(admin_password=ADMIN_PASSWORD))
    (root / "mlartifacts").mkdir(parents=True, exist_ok=True)
    store = open_store(uri, artifact_root=PROXIED)
    server_settings = ServerSettings(
        backend_store_uri=uri,
        default_artifact_root=PROXIED,
        artifacts_destination=str(root / "mlartifacts"),
        app_name="basic-auth",
        **settings,
    )
    with BackgroundServer(create_app(server_settings, store=store, auth_config=config)) as s:
        yield Server(s.url)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with auth_server(f"sqlite:///{tmp_path / 'tracking.db'}", tmp_path) as s:
        yield s


def make_user(server: Server, username: str, password: str = PASSWORD) -> None:
    reply = server.request(
        "POST", "/api/2.0/mlflow/users/create", {"username": username, "password": password}, ADMIN
    )
    assert reply.status == 200, reply.body


def make_token(server: Server, headers: dict[str, str], **fields: Any) -> str:
    reply = server.request("POST", "/api/traza/v1/tokens", {"name": "t", **fields}, headers)
    assert reply.status == 200, reply.body
    token: str = reply.json()["token"]
    return token


def wait_until_refused(server: Server, headers: dict[str, str]) -> float:
    """Seconds until ``headers`` get a 401 (fails after twice the bound)."""
    start = time.monotonic()
    while time.monotonic() - start < 2 * BOUND + 3:
        if server.request("GET", SEARCH, headers=headers).status == 401:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError("The credential still works long after the change.")


# -- refusals -------------------------------------------------------------------------------


def test_no_credentials_and_wrong_ones_are_refused_from_loopback(server: Server) -> None:
    for headers in ({}, basic("admin", "wrong password!!"), basic("nobody", ADMIN_PASSWORD),
                    bearer("trz_not-a-token"), {"Authorization": "Digest x"}):  # fmt: skip
        reply = server.request("GET", SEARCH, headers=headers)
        assert reply.status == 401, headers
        assert reply.json()["error_code"] == "UNAUTHENTICATED"
        assert reply.headers["www-authenticate"] == 'Basic realm="traza"'
    # Every API is behind it, including artifacts and the UI's data, but not health or the UI.
    paths = ["/api/2.0/mlflow-artifacts/artifacts/1/x/a.txt", "/get-artifact?path=a",
             "/ajax-api/2.0/mlflow/experiments/search", "/api/3.0/mlflow/server-info"]  # fmt: skip
    for path in paths:
        assert server.request("GET", path).status == 401, path
    assert server.request("GET", "/health").body == b"OK"
    assert server.request("GET", "/version").status == 200
    assert server.request("GET", SEARCH, headers=ADMIN).status == 200


def test_the_ui_s_own_calls_get_no_basic_challenge(server: Server) -> None:
    reply = server.request("GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=1")
    assert reply.status == 401 and "www-authenticate" not in reply.headers
    # "Who am I?" answers the signed-out with no user (the UI then shows its sign-in page).
    for headers in ({}, basic("admin", "wrong password!!")):
        me = server.request("GET", "/ajax-api/traza/v1/auth/me", headers=headers)
        assert me.status == 200 and me.json() == {"user": None, "auth_enabled": True}


def test_without_app_name_nothing_asks_for_credentials(tmp_path: Path) -> None:
    # The authentication layer is not even imported (authorization's rules are plain data).
    mine = ["middleware", "api", "store", "setup", "config", "passwords"]
    code = (
        "import sys, traza.server.app, traza.cli.server, traza.server.routes;"
        f"print([m for m in {mine!r} if 'traza.auth.' + m in sys.modules])"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", loaded.stderr
    uri = f"sqlite:///{tmp_path / 'open.db'}"
    settings = ServerSettings(backend_store_uri=uri, artifacts_destination=str(tmp_path))
    with BackgroundServer(create_app(settings, store=open_store(uri))) as s:
        server = Server(s.url)
        assert server.request("GET", SEARCH).status == 200
        reply = server.request("POST", "/api/2.0/mlflow/users/create", {"username": "x"})
        assert reply.status == 404 and "--app-name basic-auth" in reply.json()["message"]
        # The web UI asks on every load: told auth is off, it shows no sign-in.
        me = server.request("GET", "/ajax-api/traza/v1/auth/me")
        assert (me.status, me.json()) == (200, {"user": None, "auth_enabled": False})


# -- the real mlflow client -----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_mlflow_client_with_password_and_with_token(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with contextmanager(_backend)(backend, tmp_path) as uri, auth_server(uri, tmp_path) as server:
        make_user(server, "alice")
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
        client = mlflow.MlflowClient(server.url)
        exp = client.create_experiment("by-password")
        run = client.create_run(exp)
        client.log_metric(run.info.run_id, "loss", 0.5)
        client.log_param(run.info.run_id, "lr", "0.1")
        client.set_terminated(run.info.run_id)
        assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.5}

        token = make_token(server, basic("alice", PASSWORD))
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
        mlflow.set_tracking_uri(server.url)
        try:
            mlflow.set_experiment("by-token")
            with mlflow.start_run() as active:
                mlflow.log_metrics({"acc": 0.9})
                mlflow.log_text("hello", "notes.txt")
            got = mlflow.MlflowClient(server.url).get_run(active.info.run_id)
            assert got.data.metrics == {"acc": 0.9}
            assert mlflow.artifacts.load_text(f"runs:/{active.info.run_id}/notes.txt") == "hello"
        finally:
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]

        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "trz_revoked-or-made-up")
        with pytest.raises(MlflowException) as e:
            mlflow.MlflowClient(server.url).search_experiments()
        assert "401" in str(e.value) or "UNAUTHENTICATED" in str(e.value)


def _backend(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'tracking.db'}"


def test_traza_s_own_client_signs_in(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import traza

    make_user(server, "tia")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "tia")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    traza.set_tracking_uri(server.url)
    try:
        traza.set_experiment("fluent")
        with traza.start_run() as run:
            traza.log_metric("m", 1.0)
            traza.log_param("p", "v")
        got = traza.TrazaClient(server.url).get_run(run.info.run_id)
        assert got.data.metrics == {"m": 1.0} and got.data.params == {"p": "v"}
    finally:
        traza.set_tracking_uri(None)  # type: ignore[arg-type]


def test_traza_sync_into_an_authenticated_server(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from traza.cli import main
    from traza.client import TrazaClient

    local = tmp_path / "laptop"
    client = TrazaClient(str(local))
    exp = client.create_experiment("synced")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "x", 2.0)
    runner = CliRunner()
    refused = runner.invoke(main, ["sync", str(local), server.url])
    assert refused.exit_code != 0 and "UNAUTHENTICATED" in refused.output
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    synced = runner.invoke(main, ["sync", str(local), server.url])
    assert synced.exit_code == 0, synced.output
    remote = server.request(
        "GET", f"/api/2.0/mlflow/runs/get?run_id={run.info.run_id}", headers=ADMIN
    )
    assert remote.json()["run"]["data"]["metrics"][0]["value"] == 2.0


def test_get_app_client_manages_users(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.server import get_app_client

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    client = get_app_client("basic-auth", tracking_uri=server.url)
    user = client.create_user("bea", PASSWORD)
    assert (user.username, user.is_admin) == ("bea", False)
    assert client.get_user("bea").id == user.id
    with pytest.raises(RestException, match="RESOURCE_ALREADY_EXISTS"):
        client.create_user("bea", PASSWORD)
    client.update_user_admin("bea", True)
    assert client.get_user("bea").is_admin
    client.update_user_password("bea", "bea's new password")
    assert server.request("GET", SEARCH, headers=basic("bea", "bea's new password")).status == 200
    assert server.request("GET", SEARCH, headers=basic("bea", PASSWORD)).status == 401
    client.delete_user("bea")
    with pytest.raises(RestException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_user("bea")


def test_user_api_is_admin_only_except_for_oneself(server: Server) -> None:
    make_user(server, "cy")
    make_user(server, "dee")
    cy = basic("cy", PASSWORD)
    create = {"username": "eve", "password": PASSWORD}
    assert server.request("POST", "/api/2.0/mlflow/users/create", create, cy).status == 403
    assert server.request("GET", "/api/2.0/mlflow/users/get?username=dee", headers=cy).status == 403
    own = server.request("GET", "/api/2.0/mlflow/users/get?username=cy", headers=cy)
    assert own.status == 200 and own.json()["user"]["username"] == "cy"
    other = {"username": "dee", "password": "taken over 1234"}
    assert server.request("PATCH", "/api/2.0/mlflow/users/update-password", other, cy).status == 403
    promote = {"username": "cy", "is_admin": True}
    assert server.request("PATCH", "/api/2.0/mlflow/users/update-admin", promote, cy).status == 403
    mine = {"username": "cy", "password": "cy's new password"}
    no_current = server.request("PATCH", "/api/2.0/mlflow/users/update-password", mine, cy)
    assert no_current.status == 400 and "current_password" in no_current.json()["message"]
    mine["current_password"] = PASSWORD
    assert server.request("PATCH", "/api/2.0/mlflow/users/update-password", mine, cy).status == 200
    short = {"username": "dee", "password": "short"}
    reply = server.request("PATCH", "/api/2.0/mlflow/users/update-password", short, ADMIN)
    assert reply.status == 400 and "12 characters" in reply.json()["message"]
    gone = server.request("DELETE", "/api/2.0/mlflow/users/delete", {"username": "admin"}, ADMIN)
    assert gone.status == 400


# -- tokens, sessions, run-scoped tokens ----------------------------------------------------


def test_tokens_are_listed_without_secrets_and_revoked(server: Server) -> None:
    make_user(server, "fay")
    fay = basic("fay", PASSWORD)
    token = make_token(server, fay, name="laptop")
    assert server.request("GET", SEARCH, headers=bearer(token)).status == 200
    # A token is also accepted as the Basic password, with any username.
    assert server.request("GET", SEARCH, headers=basic("whoever", token)).status == 200
    listed = server.request("GET", "/api/traza/v1/tokens", headers=fay)
    assert token not in listed.body.decode()
    (info,) = listed.json()["tokens"]
    assert info["name"] == "laptop" and info["last_used_time"] is not None
    make_user(server, "gus")
    theirs = server.request(
        "DELETE", f"/api/traza/v1/tokens/{info['id']}", headers=basic("gus", PASSWORD)
    )
    assert theirs.status == 403
    # A token cannot mint tokens.
    assert server.request("POST", "/api/traza/v1/tokens", {}, bearer(token)).status == 200
    assert server.request("DELETE", f"/api/traza/v1/tokens/{info['id']}", headers=fay).status == 200
    assert server.request("GET", SEARCH, headers=bearer(token)).status == 401


def test_run_scoped_token_is_revoked_when_the_run_ends(server: Server) -> None:
    make_user(server, "hal")
    hal = basic("hal", PASSWORD)
    exp = server.request("POST", "/api/2.0/mlflow/experiments/create", {"name": "jobs"}, hal)
    exp_id = exp.json()["experiment_id"]
    run = server.request("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp_id}, hal)
    run_id = run.json()["run"]["info"]["run_id"]
    token = make_token(server, hal, run_id=run_id)
    me = server.request("GET", "/api/traza/v1/auth/me", headers=bearer(token)).json()
    assert me == {"user": me["user"], "run_id": run_id, "auth_enabled": True}
    assert me["user"]["username"] == "hal"
    log = {"run_id": run_id, "key": "k", "value": 1.0, "timestamp": 1, "step": 0}
    assert (
        server.request("POST", "/api/2.0/mlflow/runs/log-metric", log, bearer(token)).status == 200
    )
    minted = server.request("POST", "/api/traza/v1/tokens", {}, bearer(token))
    assert minted.status == 403
    end = {"run_id": run_id, "status": "FINISHED", "end_time": 2}
    assert server.request("POST", "/api/2.0/mlflow/runs/update", end, bearer(token)).status == 200
    assert (
        server.request("POST", "/api/2.0/mlflow/runs/log-metric", log, bearer(token)).status == 401
    )
    ended = server.request("POST", "/api/traza/v1/tokens", {"run_id": run_id}, hal)
    assert ended.status == 400 and "has ended" in ended.json()["message"]


def test_run_scoped_token_is_revoked_when_the_run_is_deleted(server: Server) -> None:
    make_user(server, "hank")
    hank = basic("hank", PASSWORD)
    exp = server.request("POST", "/api/2.0/mlflow/experiments/create", {"name": "gone"}, hank)
    exp_id = exp.json()["experiment_id"]
    run = server.request("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp_id}, hank)
    run_id = run.json()["run"]["info"]["run_id"]
    token = make_token(server, hank, run_id=run_id)
    log = {"run_id": run_id, "key": "k", "value": 1.0, "timestamp": 1, "step": 0}
    assert (
        server.request("POST", "/api/2.0/mlflow/runs/log-metric", log, bearer(token)).status == 200
    )
    deleted = server.request("POST", "/api/2.0/mlflow/runs/delete", {"run_id": run_id}, hank)
    assert deleted.status == 200
    # Restored, the run takes writes again from its owner, but not from the deleted job's token.
    restored = server.request("POST", "/api/2.0/mlflow/runs/restore", {"run_id": run_id}, hank)
    assert restored.status == 200
    assert (
        server.request("POST", "/api/2.0/mlflow/runs/log-metric", log, bearer(token)).status == 401
    )
    assert server.request("POST", "/api/2.0/mlflow/runs/log-metric", log, hank).status == 200


def test_web_session_cookie(server: Server) -> None:
    make_user(server, "ida")
    login = {"username": "ida", "password": PASSWORD}
    reply = server.request("POST", "/api/traza/v1/auth/login", login)
    assert reply.status == 200 and reply.json()["user"]["username"] == "ida"
    cookie = reply.headers["set-cookie"]
    attributes = [part.strip() for part in cookie.split(";")]
    assert "HttpOnly" in attributes and "SameSite=Strict" in attributes
    assert "Secure" not in attributes  # plain http here; https adds it
    session = {"Cookie": attributes[0]}
    me = server.request("GET", "/ajax-api/traza/v1/auth/me", headers=session)
    assert me.status == 200 and me.json()["user"]["username"] == "ida"
    # The session is not a token: it is no good as a bearer credential.
    assert (
        server.request("GET", SEARCH, headers=bearer(attributes[0].split("=", 1)[1])).status == 401
    )
    assert server.request("POST", "/api/traza/v1/auth/logout", headers=session).status == 200
    assert server.request("GET", "/ajax-api/traza/v1/auth/me", headers=session).json() == {
        "user": None,
        "auth_enabled": True,
    }
    assert server.request("GET", SEARCH, headers=session).status == 401
    wrong = server.request("POST", "/api/traza/v1/auth/login", {"username": "ida", "password": "x"})
    assert wrong.status == 401 and "set-cookie" not in wrong.headers


def test_secure_cookie_behind_a_trusted_https_proxy(tmp_path: Path) -> None:
    with auth_server(f"sqlite:///{tmp_path / 't.db'}", tmp_path, trusted_proxies="127.0.0.1") as s:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        reply = s.request("POST", "/api/traza/v1/auth/login", login, {"X-Forwarded-Proto": "https"})
        assert "Secure" in [p.strip() for p in reply.headers["set-cookie"].split(";")]


# -- rate limiting and proxies --------------------------------------------------------------


def test_failed_logins_are_limited_per_address(server: Server) -> None:
    make_user(server, "jon")
    for n in range(10):
        assert (
            server.request("GET", SEARCH, headers=basic(f"u{n}", "wrong password!")).status == 401
        )
    locked = server.request("GET", SEARCH, headers=basic("jon", PASSWORD))
    assert locked.status == 429 and locked.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert 200 < int(locked.headers["retry-after"]) <= 300
    # Without a trusted proxy, X-Forwarded-For is the client's word and changes nothing.
    spoofed = server.request(
        "GET", SEARCH, headers={**basic("jon", PASSWORD), "X-Forwarded-For": "203.0.113.7"}
    )
    assert spoofed.status == 429
    # A credential verified before the lockout is cached and keeps working.
    assert server.request("GET", SEARCH, headers=ADMIN).status in (200, 429)


def test_failed_logins_are_limited_per_user_and_per_forwarded_address(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 't.db'}"
    with auth_server(uri, tmp_path, trusted_proxies="127.0.0.0/8") as server:
        make_user(server, "kim")
        make_user(server, "lou")

        def attempt(user: str, password: str, address: str) -> int:
            headers = {**basic(user, password), "X-Forwarded-For": f"198.51.100.1, {address}"}
            return server.request("GET", SEARCH, headers=headers).status

        for _ in range(10):
            assert attempt("lou", "wrong password!", "203.0.113.1") == 401
        # That address is locked out, for every user ...
        assert attempt("kim", PASSWORD, "203.0.113.1") == 429
        # ... others are not, and the left part of X-Forwarded-For (the client's) is ignored.
        assert attempt("kim", PASSWORD, "203.0.113.2") == 200
        # Ten failures against one user from many addresses lock that user.
        for n in range(10):
            assert attempt("kim", "wrong password!", f"192.0.2.{n}") == 401
        assert attempt("kim", PASSWORD, "192.0.2.200") in (200, 429)  # cached: still signed in
        assert attempt("kim", "yet another guess", "192.0.2.201") == 429


def test_ipv6_addresses_are_limited_per_64(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 't.db'}"
    with auth_server(uri, tmp_path, trusted_proxies="127.0.0.1") as server:

        def attempt(password: str, address: str) -> int:
            headers = {**basic("admin", password), "X-Forwarded-For": address}
            return server.request("GET", SEARCH, headers=headers).status

        make_user(server, "pat")
        pat = basic("pat", PASSWORD)
        for n in range(10):
            assert attempt("wrong password!", f"2001:db8:0:1::{n + 1:x}") == 401
        for address, status in (("2001:db8:0:1::ffff", 429), ("2001:db8:0:2::1", 200)):
            reply = server.request("GET", SEARCH, headers={**pat, "X-Forwarded-For": address})
            assert reply.status == status, address


def test_stale_cookies_and_revoked_tokens_do_not_lock_an_address_out(server: Server) -> None:
    for _ in range(15):
        stale = {"Cookie": "traza_session=trz_ended-long-ago"}
        assert server.request("GET", SEARCH, headers=stale).status == 401
        assert server.request("GET", SEARCH, headers=bearer("trz_revoked")).status == 401
    assert server.request("GET", SEARCH, headers=ADMIN).status == 200


def test_login_endpoint_is_rate_limited(server: Server) -> None:
    for _ in range(10):
        wrong = {"username": "admin", "password": "wrong password!"}
        assert server.request("POST", "/api/traza/v1/auth/login", wrong).status == 401
    right = {"username": "admin", "password": ADMIN_PASSWORD}
    reply = server.request("POST", "/api/traza/v1/auth/login", right)
    assert reply.status == 429 and int(reply.headers["retry-after"]) > 0


def test_sso_header_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 't.db'}"
    sso = {"X-Forwarded-User": "max@example.com"}
    settings = {"auth_header": "X-Forwarded-User"}
    with auth_server(uri, tmp_path, trusted_proxies="10.1.2.3", **settings) as server:
        assert server.request("GET", SEARCH, headers=sso).status == 401
        # Even with a valid password, the header from elsewhere does not switch the user.
        me = server.request("GET", "/api/traza/v1/auth/me", headers={**sso, **ADMIN})
        assert me.json()["user"]["username"] == "admin"
    with auth_server(uri, tmp_path, trusted_proxies="127.0.0.1", **settings) as server:
        me = server.request("GET", "/api/traza/v1/auth/me", headers=sso)
        assert me.status == 200 and me.json()["user"]["username"] == "max@example.com"
        assert not me.json()["user"]["is_admin"]
    with (
        pytest.raises(Exception, match="needs --trusted-proxies"),
        auth_server(uri, tmp_path, **settings),
    ):
        pass


# -- several workers ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_revocation_and_new_password_reach_another_worker_within_the_bound(
    backend: str, tmp_path: Path
) -> None:
    with (
        contextmanager(_backend)(backend, tmp_path) as uri,
        auth_server(uri, tmp_path) as first,
        auth_server(uri, tmp_path) as second,
    ):
        make_user(first, "ned")
        ned = basic("ned", PASSWORD)
        token = make_token(first, ned)
        assert second.request("GET", SEARCH, headers=ned).status == 200
        assert second.request("GET", SEARCH, headers=bearer(token)).status == 200  # now cached
        tokens = first.request("GET", "/api/traza/v1/tokens", headers=ned).json()["tokens"]
        assert (
            first.request("DELETE", f"/api/traza/v1/tokens/{tokens[0]['id']}", headers=ned).status
            == 200
        )
        assert first.request("GET", SEARCH, headers=bearer(token)).status == 401  # at once here
        assert wait_until_refused(second, bearer(token)) <= BOUND + 0.5
        change = {"username": "ned", "password": "ned's new password"}
        assert (
            first.request("PATCH", "/api/2.0/mlflow/users/update-password", change, ADMIN).status
            == 200
        )
        assert wait_until_refused(second, ned) <= BOUND + 0.5
        assert second.request("GET", SEARCH, headers=basic("ned", change["password"])).status == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _traza_server(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "traza", "server", "--backend-store-uri",
               f"sqlite:///{tmp_path / 'workers.db'}", "--artifacts-destination",
               str(tmp_path / "art"), "--app-name", "basic-auth", *args]  # fmt: skip
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_server_refuses_to_start_without_an_admin_and_two_workers_share_users(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if "AUTH" not in k}
    refused = _traza_server(tmp_path, env, "--port", str(_free_port()))
    _, err = refused.communicate(timeout=60)
    assert refused.returncode != 0
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" in err and "traza users create" in err
    wrong = subprocess.run(
        [sys.executable, "-m", "traza", "server", "--app-name", "other"],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0 and "basic-auth" in wrong.stderr

    port = _free_port()
    env["MLFLOW_AUTH_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    process = _traza_server(tmp_path, env, "--port", str(port), "--workers", "2")
    try:
        server = Server(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            try:
                if server.request("GET", "/health").status == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        make_user(server, "olive")
        token = make_token(server, basic("olive", PASSWORD))
        # Each request may land on either worker: all must know the new user and token.
        for _ in range(20):
            assert server.request("GET", SEARCH, headers=basic("olive", PASSWORD)).status == 200
            assert server.request("GET", SEARCH, headers=bearer(token)).status == 200
        delete = {"username": "olive"}
        assert server.request("DELETE", "/api/2.0/mlflow/users/delete", delete, ADMIN).status == 200
        time.sleep(BOUND + 0.5)
        for _ in range(10):
            assert server.request("GET", SEARCH, headers=bearer(token)).status == 401
    finally:
        process.terminate()
        process.communicate(timeout=30)


# -- cost -----------------------------------------------------------------------------------


def test_a_cached_credential_costs_well_under_a_millisecond(tmp_path: Path) -> None:
    import anyio

    from traza.auth.middleware import Authenticator
    from traza.auth.setup import ensure_admin, open_auth_store

    config = AuthConfig(admin_password=ADMIN_PASSWORD)
    auth = open_auth_store(config, open_store(f"sqlite:///{tmp_path / 'cost.db'}"))
    ensure_admin(auth, config)
    authenticator = Authenticator(auth, config)
    scope = {"type": "http", "client": ("127.0.0.1", 5), "headers": []}
    headers = {b"authorization": ADMIN["Authorization"].encode()}

    async def measure() -> float:
        await authenticator.authenticate(scope, headers)  # verifies (scrypt) and caches
        n = 20000
        start = time.perf_counter()
        for _ in range(n):
            await authenticator.authenticate(scope, headers)
        return (time.perf_counter() - start) / n

    per_request = anyio.run(measure)
    print(f"cached Basic credential: {per_request * 1e6:.1f} µs per request")
    assert per_request < 0.0002


def test_a_routed_path_outside_the_api_prefixes_still_needs_credentials(tmp_path: Path) -> None:
    """Fail closed: a route the table gains under a new prefix is not taken for a UI file."""
    import anyio

    from traza.auth.middleware import Authenticator, AuthMiddleware
    from traza.auth.setup import open_auth_store

    class App:
        def __init__(self) -> None:
            self.exact = {"/new-api/thing": {}}
            self.templated: list[Any] = []

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    auth = open_auth_store(AuthConfig(), open_store(f"sqlite:///{tmp_path / 'r.db'}"))
    middleware = AuthMiddleware(App(), Authenticator(auth, AuthConfig()), "")

    async def status(path: str) -> int:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        scope = {"type": "http", "method": "GET", "path": path, "headers": [],
                 "client": ("127.0.0.1", 1)}  # fmt: skip
        await middleware(scope, receive, send)
        return int(sent[0]["status"])

    assert anyio.run(status, "/new-api/thing") == 401
    assert anyio.run(status, "/assets/index.js") == 200
