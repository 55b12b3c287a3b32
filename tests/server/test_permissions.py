"""Permissions with auth on: several users against a live ``traza server --app-name basic-auth``.

Each request goes over a real socket with real credentials (Basic passwords, bearer tokens);
grants are made through MLflow's permission API by the users who hold MANAGE.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from traza.auth.config import AuthConfig
from traza.auth.principal import Permission
from traza.auth.store import RUN, AuthStore
from traza.server import ServerSettings, create_app
from traza.server.app import TrazaApp
from traza.server.background import BackgroundServer
from traza.server.routes import Route, all_routes
from traza.store.uri import open_store

PASSWORD = "correct horse battery staple"
PROXIED_ROOT = "mlflow-artifacts:/"
NO, READ, USE, EDIT, MANAGE = (
    Permission.NO_PERMISSIONS,
    Permission.READ,
    Permission.USE,
    Permission.EDIT,
    Permission.MANAGE,
)
RANK = {NO: 0, READ: 1, USE: 2, EDIT: 3, MANAGE: 4}
#: A user per level (granted on the resource by its owner) and one without a grant.
LEVELS: dict[str, Permission | None] = {
    "reader": READ,
    "user": USE,
    "editor": EDIT,
    "manager": MANAGE,
    "nobody": NO,
    "dana": None,
}


@dataclass
class Server:
    url: str
    store: Any
    auth: AuthStore
    tokens: dict[str, str] = field(default_factory=dict)

    def user(self, name: str, admin: bool = False) -> None:
        self.auth.create_user(name, PASSWORD, is_admin=admin)
        credentials = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
        self.tokens[name] = f"Basic {credentials}"

    def call(
        self, who: str, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        """``path`` is sent byte for byte; ``body`` as JSON (a GET's as the query string)."""
        parsed = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        headers = {"Authorization": self.tokens[who]}
        data = raw
        if body is not None and method == "GET":
            path += "?" + urllib.parse.urlencode(body, doseq=True)
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(payload) if payload else {}
        except ValueError:
            return response.status, payload

    def ok(self, who: str, method: str, path: str, body: Any = None) -> Any:
        status, reply = self.call(who, method, path, body)
        assert status == 200, (who, method, path, status, reply)
        return reply


@contextmanager
def auth_server(
    store_uri: str,
    root: Path,
    default: Permission = READ,
    users_uri: str | None = None,
    **more: Any,
) -> Iterator[Server]:
    artifacts = root / "mlartifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    store = open_store(store_uri, artifact_root=PROXIED_ROOT)
    settings = ServerSettings(
        backend_store_uri=store_uri,
        default_artifact_root=PROXIED_ROOT,
        artifacts_destination=str(artifacts),
        app_name="basic-auth",
        **more,
    )
    config = AuthConfig(default_permission=default, admin_password=PASSWORD, database_uri=users_uri)
    with BackgroundServer(create_app(settings, store=store, auth_config=config)) as server:
        users = open_store(users_uri) if users_uri else store
        live = Server(server.url, store, AuthStore(users.db))  # type: ignore[attr-defined]
        live.tokens["admin"] = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        yield live


@contextmanager
def store_uri(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "postgresql":
        from tests.conftest import postgres_schema

        with postgres_schema() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with auth_server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path) as live:
        live.user("olivia")
        for name in LEVELS:
            live.user(name)
        yield live


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The same users on SQLite and on PostgreSQL."""
    with store_uri(request.param, tmp_path) as uri, auth_server(uri, tmp_path) as live:
        live.user("olivia")
        for name in LEVELS:
            live.user(name)
        yield live


API = "/api/2.0/mlflow"


def allowed(level: Permission | None, need: Permission, default: Permission = READ) -> bool:
    return RANK[default if level is None else level] >= RANK[need]


def assert_denied(status: int, reply: Any, what: str) -> None:
    assert status == 403, reply
    assert reply["error_code"] == "PERMISSION_DENIED"
    assert what in reply["message"]


def share_experiment(server: Server, experiment_id: str) -> None:
    for name, level in LEVELS.items():
        if level is not None:
            server.ok(
                "olivia",
                "POST",
                f"{API}/experiments/permissions/create",
                {"experiment_id": experiment_id, "username": name, "permission": level.value},
            )


# -- the route table ------------------------------------------------------------------------------
def test_every_route_declares_a_permission_rule() -> None:
    routes = all_routes()
    assert len(routes) > 80
    assert [f"{r.method} {r.path}" for r in routes if r.permission is None] == []


def test_a_route_without_a_rule_stops_the_server(tmp_path: Path) -> None:
    from traza.server.artifact_service import ArtifactService
    from traza.server.context import Context

    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        settings = ServerSettings(backend_store_uri="x")
        ctx = Context(store, ArtifactService(str(tmp_path), True), settings)
        bare = Route("POST", "/mlflow/new-thing", lambda ctx, args: {})
        with pytest.raises(RuntimeError, match="POST /mlflow/new-thing"):
            TrazaApp(ctx, [*all_routes(), bare])
    finally:
        store.close()


# -- experiments, runs, artifacts, logged models --------------------------------------------------
def test_each_level_on_an_experiment_its_runs_artifacts_and_logged_models(server: Server) -> None:
    experiment_id = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "e"})[
        "experiment_id"
    ]
    share_experiment(server, experiment_id)
    run = server.ok("olivia", "POST", f"{API}/runs/create", {"experiment_id": experiment_id})
    run_id = run["run"]["info"]["run_id"]
    art = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts"
    status, _ = server.call("olivia", "PUT", f"{art}/kept.txt", raw=b"kept")
    assert status == 200
    model = server.ok(
        "olivia", "POST", f"{API}/logged-models", {"experiment_id": experiment_id, "name": "lm"}
    )["model"]["info"]["model_id"]

    def fresh_run() -> str:
        reply = server.ok("olivia", "POST", f"{API}/runs/create", {"experiment_id": experiment_id})
        return str(reply["run"]["info"]["run_id"])

    exp, run = {"experiment_id": experiment_id}, {"run_id": run_id}
    file = {"run_id": run_id, "path": "kept.txt"}
    proxy = "/api/2.0/mlflow-artifacts/artifacts"
    point = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    tag = {"key": "k", "value": "v"}
    checks: list[tuple[str, Permission, Any]] = [
        ("get experiment", READ, lambda: ("GET", f"{API}/experiments/get", exp)),
        ("get run", READ, lambda: ("GET", f"{API}/runs/get", run)),
        (
            "history",
            READ,
            lambda: ("GET", f"{API}/metrics/get-history", {**run, "metric_key": "m"}),
        ),
        ("list run artifacts", READ, lambda: ("GET", f"{API}/artifacts/list", run)),
        ("download", READ, lambda: ("GET", f"{art}/kept.txt", None)),
        ("list proxied", READ, lambda: ("GET", proxy, {"path": f"{experiment_id}/{run_id}"})),
        ("get-artifact", READ, lambda: ("GET", "/get-artifact", {**file, "run_uuid": run_id})),
        ("ui artifact", READ, lambda: ("GET", "/api/traza/v1/artifacts/get", file)),
        ("get logged model", READ, lambda: ("GET", f"{API}/logged-models/{model}", None)),
        ("create run", EDIT, lambda: ("POST", f"{API}/runs/create", exp)),
        (
            "tag experiment",
            EDIT,
            lambda: ("POST", f"{API}/experiments/set-experiment-tag", {**exp, **tag}),
        ),
        ("log batch", EDIT, lambda: ("POST", f"{API}/runs/log-batch", {**run, "metrics": [point]})),
        ("log inputs", EDIT, lambda: ("POST", f"{API}/runs/log-inputs", {**run, "datasets": []})),
        ("upload", EDIT, lambda: ("PUT", f"{art}/new.txt", b"new")),
        (
            "tag model",
            EDIT,
            lambda: ("PATCH", f"{API}/logged-models/{model}/tags", {"tags": [tag]}),
        ),
        ("create logged model", EDIT, lambda: ("POST", f"{API}/logged-models", exp)),
        ("delete run", MANAGE, lambda: ("POST", f"{API}/runs/delete", {"run_id": fresh_run()})),
        ("delete artifact", MANAGE, lambda: ("DELETE", f"{art}/kept.txt", None)),
    ]
    for name, level in LEVELS.items():
        for what, need, request in checks:
            method, path, body = request()
            if isinstance(body, bytes):
                status, reply = server.call(name, method, path, raw=body)
            else:
                status, reply = server.call(name, method, path, body)
            if allowed(level, need):
                assert status == 200, (name, what, reply)
                if what == "delete artifact":  # put it back for the next user
                    server.call("olivia", "PUT", f"{art}/kept.txt", raw=b"kept")
            else:
                assert status == 403, (name, what, status, reply)
                assert reply["error_code"] == "PERMISSION_DENIED"
                assert need.value in reply["message"], reply
    # Deleting the experiment needs MANAGE; the owner (its creator) has it.
    for name in ("editor", "dana"):
        status, reply = server.call(
            name, "POST", f"{API}/experiments/delete", {"experiment_id": experiment_id}
        )
        assert_denied(status, reply, f"experiment {experiment_id}")
    server.ok("manager", "POST", f"{API}/experiments/delete", {"experiment_id": experiment_id})


def test_logged_model_artifacts_and_deletion_resolve_to_the_model_experiment(
    server: Server,
) -> None:
    experiment_id = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "lm"})[
        "experiment_id"
    ]
    share_experiment(server, experiment_id)
    model = server.ok("olivia", "POST", f"{API}/logged-models", {"experiment_id": experiment_id})
    model_id = model["model"]["info"]["model_id"]
    path = (
        f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/models/{model_id}/artifacts/MLmodel"
    )
    assert server.call("reader", "PUT", path, raw=b"x")[0] == 403
    assert server.call("editor", "PUT", path, raw=b"flavors: {}")[0] == 200
    assert server.call("nobody", "GET", path)[0] == 403
    assert server.call("reader", "GET", path)[0] == 200
    status, reply = server.call("editor", "DELETE", f"{API}/logged-models/{model_id}")
    assert_denied(status, reply, f"logged model {model_id}")
    server.ok("manager", "DELETE", f"{API}/logged-models/{model_id}")


def test_artifact_paths_naming_no_experiment_are_for_admins_only(server: Server) -> None:
    status, reply = server.call("dana", "GET", "/api/2.0/mlflow-artifacts/artifacts", {"path": ""})
    assert_denied(status, reply, "names no experiment")
    status, reply = server.call(
        "dana", "PUT", "/api/2.0/mlflow-artifacts/artifacts/shared/x.txt", raw=b"x"
    )
    assert_denied(status, reply, "names no experiment")
    assert (
        server.call("admin", "PUT", "/api/2.0/mlflow-artifacts/artifacts/shared/x.txt", raw=b"x")[0]
        == 200
    )
    # A path that climbs out of the experiment it names is never judged by that experiment.
    experiment_id = server.ok("dana", "POST", f"{API}/experiments/create", {"name": "mine"})[
        "experiment_id"
    ]
    for climb in ("..", "%2e%2e", "%252e%252e"):
        path = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{climb}/shared/x.txt"
        status, reply = server.call("dana", "GET", path)
        assert status == 400 and reply["error_code"] == "INVALID_PARAMETER_VALUE", (climb, reply)


def test_creator_gets_manage_and_only_managers_change_grants(any_server: Server) -> None:
    server = any_server
    experiment_id = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "g"})[
        "experiment_id"
    ]
    reply = server.ok(
        "olivia",
        "GET",
        f"{API}/experiments/permissions/get",
        {"experiment_id": experiment_id, "username": "olivia"},
    )
    assert reply["experiment_permission"]["permission"] == "MANAGE"
    assert reply["experiment_permission"]["experiment_id"] == experiment_id
    body = {"experiment_id": experiment_id, "username": "editor", "permission": "EDIT"}
    server.ok("olivia", "POST", f"{API}/experiments/permissions/create", body)
    # An EDIT holder may not hand out access; a second create of the same grant is refused.
    status, reply = server.call(
        "editor", "POST", f"{API}/experiments/permissions/create", {**body, "username": "dana"}
    )
    assert_denied(status, reply, "MANAGE")
    status, reply = server.call("olivia", "POST", f"{API}/experiments/permissions/create", body)
    assert (status, reply["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    server.ok(
        "olivia", "PATCH", f"{API}/experiments/permissions/update", {**body, "permission": "READ"}
    )
    status, reply = server.call(
        "editor", "POST", f"{API}/runs/create", {"experiment_id": experiment_id}
    )
    assert_denied(status, reply, "EDIT")
    server.ok(
        "olivia",
        "DELETE",
        f"{API}/experiments/permissions/delete",
        {"experiment_id": experiment_id, "username": "editor"},
    )
    status, reply = server.call(
        "olivia",
        "GET",
        f"{API}/experiments/permissions/get",
        {"experiment_id": experiment_id, "username": "editor"},
    )
    assert status == 404
    # The admin may change anyone's grants.
    server.ok(
        "admin",
        "POST",
        f"{API}/experiments/permissions/create",
        {**body, "username": "nobody", "permission": "NO_PERMISSIONS"},
    )
    status, reply = server.call(
        "nobody", "GET", f"{API}/experiments/get", {"experiment_id": experiment_id}
    )
    assert_denied(status, reply, f"experiment {experiment_id}")


def test_ui_learns_what_the_caller_may_do(server: Server) -> None:
    experiment_id = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "ui"})[
        "experiment_id"
    ]
    share_experiment(server, experiment_id)
    for name, expected in (
        ("reader", "READ"),
        ("editor", "EDIT"),
        ("dana", "READ"),
        ("olivia", "MANAGE"),
    ):
        reply = server.ok(
            name, "GET", "/api/traza/v1/permissions/mine", {"experiment_id": experiment_id}
        )
        assert reply["permission"] == expected
        assert reply["can_update"] is (expected in ("EDIT", "MANAGE"))
        assert reply["auth_enabled"] is True
    reply = server.ok(
        "admin", "GET", "/ajax-api/traza/v1/permissions/mine", {"experiment_id": experiment_id}
    )
    assert reply["is_admin"] is True and reply["can_manage"] is True


def test_ingest_is_for_admins_only(server: Server) -> None:
    status, reply = server.call("olivia", "POST", "/api/traza/v1/ingest", {"experiments": []})
    assert_denied(status, reply, "admin")


# -- registered models ----------------------------------------------------------------------------
def test_each_level_on_a_registered_model_and_its_versions(server: Server) -> None:
    server.ok("olivia", "POST", f"{API}/registered-models/create", {"name": "rm"})
    for name, level in LEVELS.items():
        if level is not None:
            server.ok(
                "olivia",
                "POST",
                f"{API}/registered-models/permissions/create",
                {"name": "rm", "username": name, "permission": level.value},
            )
    experiment_id = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "src"})[
        "experiment_id"
    ]
    run_id = server.ok("olivia", "POST", f"{API}/runs/create", {"experiment_id": experiment_id})[
        "run"
    ]["info"]["run_id"]
    source = f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    server.ok(
        "olivia",
        "POST",
        f"{API}/model-versions/create",
        {"name": "rm", "source": source, "run_id": run_id},
    )
    rm, v1 = {"name": "rm"}, {"name": "rm", "version": "1"}
    alias = {"name": "rm", "alias": "prod"}
    RM, MV = f"{API}/registered-models", f"{API}/model-versions"
    checks: list[tuple[str, Permission, tuple[str, str, Any]]] = [
        ("get", READ, ("GET", f"{RM}/get", rm)),
        ("get version", READ, ("GET", f"{MV}/get", v1)),
        ("download uri", READ, ("GET", f"{MV}/get-download-uri", v1)),
        ("tag", EDIT, ("POST", f"{RM}/set-tag", {**rm, "key": "k", "value": "v"})),
        ("update version", EDIT, ("PATCH", f"{MV}/update", {**v1, "description": "d"})),
        ("alias", EDIT, ("POST", f"{RM}/alias", {**alias, "version": "1"})),
        ("delete alias", MANAGE, ("DELETE", f"{RM}/alias", alias)),
    ]
    for name, level in LEVELS.items():
        for what, need, (method, path, body) in checks:
            if what == "delete alias":
                server.ok(
                    "olivia",
                    "POST",
                    f"{API}/registered-models/alias",
                    {"name": "rm", "alias": "prod", "version": "1"},
                )
            status, reply = server.call(name, method, path, body)
            if allowed(level, need):
                assert status == 200, (name, what, reply)
            else:
                assert (status, reply["error_code"]) == (403, "PERMISSION_DENIED"), (
                    name,
                    what,
                    reply,
                )
                assert "registered model 'rm'" in reply["message"]
    # A new version needs READ on what it is made from (MLflow asks the same).
    private = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "private"})
    private_id = private["experiment_id"]
    body = {"experiment_id": private_id, "username": "editor", "permission": "NO_PERMISSIONS"}
    server.ok("olivia", "POST", f"{API}/experiments/permissions/create", body)
    hidden = server.ok("olivia", "POST", f"{API}/runs/create", {"experiment_id": private_id})
    hidden_id = hidden["run"]["info"]["run_id"]
    version = {"name": "rm", "source": f"mlflow-artifacts:/{private_id}/{hidden_id}/artifacts/m"}
    status, reply = server.call("editor", "POST", f"{MV}/create", {**version, "run_id": hidden_id})
    assert_denied(status, reply, f"run {hidden_id}")
    server.ok("olivia", "POST", f"{MV}/create", {**version, "run_id": hidden_id})
    status, reply = server.call("nobody", "POST", f"{MV}/create", {**version, "run_id": hidden_id})
    assert_denied(status, reply, "registered model 'rm'")
    # Renaming keeps the grants under the new name; deleting the model drops them.
    server.ok(
        "editor", "POST", f"{API}/registered-models/rename", {"name": "rm", "new_name": "rm2"}
    )
    assert server.call("reader", "GET", f"{API}/registered-models/get", {"name": "rm2"})[0] == 200
    assert server.call("nobody", "GET", f"{API}/registered-models/get", {"name": "rm2"})[0] == 403
    status, reply = server.call(
        "editor", "DELETE", f"{API}/registered-models/delete", {"name": "rm2"}
    )
    assert_denied(status, reply, "MANAGE")
    server.ok("manager", "DELETE", f"{API}/registered-models/delete", {"name": "rm2"})
    with server.store.db.read() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "SELECT count(*) FROM auth_registered_model_permissions WHERE name IN ('rm', 'rm2')"
        )
        assert cur.fetchone()[0] == 0


# -- search: filtered in SQL, pages stay full -----------------------------------------------------
def pages(
    server: Server, who: str, method: str, path: str, body: dict[str, Any], key: str
) -> list[list[Any]]:
    """Every page of a search, following the page tokens."""
    out: list[list[Any]] = []
    token = None
    while True:
        reply = server.ok(who, method, path, {**body, **({"page_token": token} if token else {})})
        out.append(reply.get(key, []))
        token = reply.get("next_page_token")
        if not token:
            return out


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("default", [NO, READ])
def test_search_shows_only_what_the_caller_may_read_with_full_pages(
    kind: str, default: Permission, tmp_path: Path
) -> None:
    with store_uri(kind, tmp_path) as uri, auth_server(uri, tmp_path, default) as server:
        server.user("alice")
        experiments = [
            server.ok("admin", "POST", f"{API}/experiments/create", {"name": f"e{i}"})[
                "experiment_id"
            ]
            for i in range(6)
        ]
        for i, experiment_id in enumerate(experiments):
            # Without a default alice reads e0, e2, e4 by grant; with READ, e1 and e3 are taken.
            level = (
                ("READ" if i % 2 == 0 else None)
                if default is NO
                else (None if i % 2 == 0 or i == 5 else "NO_PERMISSIONS")
            )
            if level:
                server.ok(
                    "admin",
                    "POST",
                    f"{API}/experiments/permissions/create",
                    {"experiment_id": experiment_id, "username": "alice", "permission": level},
                )
            server.ok("admin", "POST", f"{API}/registered-models/create", {"name": f"m{i}"})
            if level:
                server.ok(
                    "admin",
                    "POST",
                    f"{API}/registered-models/permissions/create",
                    {"name": f"m{i}", "username": "alice", "permission": level},
                )
            for _ in range(3):
                run = server.ok(
                    "admin", "POST", f"{API}/runs/create", {"experiment_id": experiment_id}
                )
            run_id = run["run"]["info"]["run_id"]
            server.ok(
                "admin",
                "POST",
                f"{API}/model-versions/create",
                {
                    "name": f"m{i}",
                    "source": f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/m",
                    "run_id": run_id,
                },
            )
            server.ok("admin", "POST", f"{API}/logged-models", {"experiment_id": experiment_id})
        visible = [
            e
            for i, e in enumerate(experiments)
            if (i % 2 == 0 if default is NO else i not in (1, 3))
        ]
        names = {f"m{experiments.index(e)}" for e in visible}
        if default is READ:
            visible.append("0")  # the Default experiment, by default

        found = pages(
            server, "alice", "POST", f"{API}/experiments/search", {"max_results": 2}, "experiments"
        )
        assert [len(p) for p in found[:-1]] == [2] * (len(found) - 1)
        assert sorted(e["experiment_id"] for p in found for e in p) == sorted(visible)

        body = {"experiment_ids": experiments, "max_results": 2}
        found = pages(server, "alice", "POST", f"{API}/runs/search", body, "runs")
        assert [len(p) for p in found] == [2, 2, 2, 2, 1] if default is NO else [2] * 6
        assert {r["info"]["experiment_id"] for p in found for r in p} == set(visible) - {"0"}

        found = pages(server, "alice", "POST", f"{API}/logged-models/search", body, "models")
        assert {m["info"]["experiment_id"] for p in found for m in p} == set(visible) - {"0"}
        assert all(len(p) == 2 for p in found[:-1])

        found = pages(
            server,
            "alice",
            "GET",
            f"{API}/registered-models/search",
            {"max_results": 2},
            "registered_models",
        )
        assert [len(p) for p in found[:-1]] == [2] * (len(found) - 1)
        assert {m["name"] for p in found for m in p} == names
        found = pages(
            server,
            "alice",
            "GET",
            f"{API}/model-versions/search",
            {"max_results": 2},
            "model_versions",
        )
        assert {v["name"] for p in found for v in p} == names
        # The admin sees everything.
        found = pages(
            server,
            "admin",
            "GET",
            f"{API}/registered-models/search",
            {"max_results": 2},
            "registered_models",
        )
        assert len({m["name"] for p in found for m in p}) == 6


# -- run-scoped tokens ----------------------------------------------------------------------------
def test_a_run_scoped_token_logs_to_its_run_and_reads_its_experiment_only(server: Server) -> None:
    experiment_id = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "job"})[
        "experiment_id"
    ]
    other = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "other"})[
        "experiment_id"
    ]
    run_id = server.ok("olivia", "POST", f"{API}/runs/create", {"experiment_id": experiment_id})[
        "run"
    ]["info"]["run_id"]
    sibling = server.ok("olivia", "POST", f"{API}/runs/create", {"experiment_id": experiment_id})[
        "run"
    ]["info"]["run_id"]
    olivia = server.auth.get_user("olivia")
    secret, _ = server.auth.create_token(olivia.id, "job", kind=RUN, run_id=run_id)
    server.tokens["job"] = f"Bearer {secret}"
    metric = {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
    server.ok("job", "POST", f"{API}/runs/log-batch", {"run_id": run_id, "metrics": [metric]})
    server.ok("job", "GET", f"{API}/runs/get", {"run_id": run_id})
    server.ok("job", "GET", f"{API}/runs/get", {"run_id": sibling})  # reading its experiment
    server.ok("job", "GET", f"{API}/experiments/get", {"experiment_id": experiment_id})
    status, _ = server.call(
        "job",
        "PUT",
        f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/out.txt",
        raw=b"ok",
    )
    assert status == 200
    model = server.ok(
        "job",
        "POST",
        f"{API}/logged-models",
        {"experiment_id": experiment_id, "source_run_id": run_id},
    )
    model_id = model["model"]["info"]["model_id"]
    status, _ = server.call(
        "job",
        "PUT",
        f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/models/{model_id}/artifacts/MLmodel",
        raw=b"x",
    )
    assert status == 200
    found = pages(
        server, "job", "POST", f"{API}/experiments/search", {"max_results": 10}, "experiments"
    )
    assert [e["experiment_id"] for p in found for e in p] == [experiment_id]
    refused = [
        ("POST", f"{API}/runs/log-batch", {"run_id": sibling, "metrics": [metric]}),
        ("POST", f"{API}/runs/create", {"experiment_id": experiment_id}),
        ("POST", f"{API}/runs/delete", {"run_id": run_id}),
        ("GET", f"{API}/experiments/get", {"experiment_id": other}),
        ("POST", f"{API}/experiments/create", {"name": "new"}),
        (
            "POST",
            f"{API}/experiments/set-experiment-tag",
            {"experiment_id": experiment_id, "key": "k", "value": "v"},
        ),
        ("GET", f"{API}/registered-models/get", {"name": "anything"}),
        ("DELETE", f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/out.txt", None),
    ]
    for method, path, body in refused:
        status, reply = server.call("job", method, path, body)
        assert (status, reply["error_code"]) == (403, "PERMISSION_DENIED"), (path, reply)
    status, _ = server.call(
        "job",
        "PUT",
        f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{sibling}/x.txt",
        raw=b"no",
    )
    assert status == 403


# -- the real mlflow client -----------------------------------------------------------------------
def test_mlflow_client_with_read_gets_403_on_a_write_and_the_app_client_grants(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException, RestException
    from mlflow.server import get_app_client

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "olivia")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    owner = mlflow.MlflowClient(tracking_uri=server.url)
    experiment_id = owner.create_experiment("shared")
    app = get_app_client("basic-auth", tracking_uri=server.url)
    app.grant_user_permission("reader", "experiment", experiment_id, "READ")
    assert app.get_user_permission("reader", "experiment", experiment_id).permission == "READ"
    assert app.get_user_permission("olivia", "experiment", experiment_id).permission == "MANAGE"

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "reader")
    reader = mlflow.MlflowClient(tracking_uri=server.url)
    assert reader.get_experiment(experiment_id).name == "shared"
    with pytest.raises((RestException, MlflowException)) as caught:
        reader.set_experiment_tag(experiment_id, "k", "v")
    assert "PERMISSION_DENIED" in str(caught.value) or "403" in str(caught.value)
    with pytest.raises((RestException, MlflowException)):
        reader.create_run(experiment_id)
    with pytest.raises((RestException, MlflowException)):  # only a MANAGE holder grants
        get_app_client("basic-auth", tracking_uri=server.url).grant_user_permission(
            "dana", "experiment", experiment_id, "EDIT"
        )
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "olivia")
    app.revoke_user_permission("reader", "experiment", experiment_id)
    assert (
        app.get_user_permission("reader", "experiment", experiment_id).permission == "READ"
    )  # default


# -- caches, prefixes, a separate users database --------------------------------------------------
def test_a_grant_changed_elsewhere_takes_effect_within_5_seconds(server: Server) -> None:
    import time

    from traza.auth import grants

    experiment_id = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "c"})[
        "experiment_id"
    ]
    body = {"experiment_id": experiment_id}
    server.ok("dana", "GET", f"{API}/experiments/get", body)  # READ by default, now cached
    dana = server.auth.get_user("dana")
    # Out of band, as `traza permissions` or another worker writes it.
    grants.set_grant(server.auth.db, grants.Kind.EXPERIMENT, experiment_id, dana.id, NO)
    start = time.monotonic()
    while server.call("dana", "GET", f"{API}/experiments/get", body)[0] != 403:
        assert time.monotonic() - start < 5, "the revoked read still works after 5 s"
        time.sleep(0.1)
    grants.delete_grant(server.auth.db, grants.Kind.EXPERIMENT, experiment_id, dana.id)
    start = time.monotonic()
    while server.call("dana", "GET", f"{API}/experiments/get", body)[0] != 200:
        assert time.monotonic() - start < 5, "the restored read still fails after 5 s"
        time.sleep(0.1)


def test_static_prefix_and_ajax_api_go_through_the_same_check(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with auth_server(uri, tmp_path, NO, static_prefix="/team") as server:
        server.user("olivia")
        server.user("dana")
        experiment_id = server.ok(
            "olivia", "POST", f"/team{API}/experiments/create", {"name": "p"}
        )["experiment_id"]
        run_id = server.ok(
            "olivia", "POST", f"/team{API}/runs/create", {"experiment_id": experiment_id}
        )["run"]["info"]["run_id"]
        for path, body in (
            ("/team/ajax-api/2.0/mlflow/experiments/get", {"experiment_id": experiment_id}),
            (f"/team{API}/runs/get", {"run_id": run_id}),
            ("/team/get-artifact", {"run_uuid": run_id, "path": "x.txt"}),
            ("/team/ajax-api/traza/v1/runs/metric-summaries", {"run_id": run_id}),
            (f"/team/ajax-api/traza/v1/runs/{run_id}/metric-summaries", None),
            ("/team/api/traza/v1/experiments/keys", {"experiment_ids": experiment_id}),
            ("/team/api/traza/v1/experiments/keys", {"experiment_id": experiment_id}),
        ):
            status, reply = server.call("dana", "GET", path, body)
            assert_denied(status, reply, "READ")
            assert server.call("olivia", "GET", path, body)[0] in (200, 404), path


def test_search_with_a_separate_users_database(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with auth_server(uri, tmp_path, NO, users_uri=f"sqlite:///{tmp_path / 'users.db'}") as server:
        server.user("olivia")
        server.user("alice")
        ids = [
            server.ok("olivia", "POST", f"{API}/experiments/create", {"name": f"s{i}"})[
                "experiment_id"
            ]
            for i in range(3)
        ]
        server.ok(
            "olivia",
            "POST",
            f"{API}/experiments/permissions/create",
            {"experiment_id": ids[1], "username": "alice", "permission": "READ"},
        )
        found = pages(
            server, "alice", "POST", f"{API}/experiments/search", {"max_results": 1}, "experiments"
        )
        assert [e["experiment_id"] for p in found for e in p] == [ids[1]]
        found = pages(
            server, "olivia", "POST", f"{API}/experiments/search", {"max_results": 1}, "experiments"
        )
        assert sorted(e["experiment_id"] for p in found for e in p) == sorted(ids)


def test_a_run_scoped_token_never_does_more_than_its_scope_or_its_user(server: Server) -> None:
    experiment_id = server.ok("olivia", "POST", f"{API}/experiments/create", {"name": "t"})[
        "experiment_id"
    ]
    share_experiment(server, experiment_id)
    run_id = server.ok("olivia", "POST", f"{API}/runs/create", {"experiment_id": experiment_id})[
        "run"
    ]["info"]["run_id"]
    batch = {"run_id": run_id, "params": [{"key": "p", "value": "1"}]}
    # An admin's run token is confined to the run like anyone's.
    admin = server.auth.get_user("admin")
    secret, _ = server.auth.create_token(admin.id, "a", kind=RUN, run_id=run_id)
    server.tokens["admin-job"] = f"Bearer {secret}"
    server.ok("admin-job", "POST", f"{API}/runs/log-batch", batch)
    for method, path, body in (
        ("POST", f"{API}/experiments/create", {"name": "x"}),
        ("POST", "/api/traza/v1/ingest", {"experiments": []}),
        ("POST", f"{API}/runs/delete", {"run_id": run_id}),
        (
            "POST",
            f"{API}/experiments/permissions/create",
            {"experiment_id": experiment_id, "username": "dana", "permission": "MANAGE"},
        ),
    ):
        status, reply = server.call("admin-job", method, path, body)
        assert_denied(status, reply, f"scoped to run {run_id}")
    reply = server.ok("admin-job", "GET", "/api/traza/v1/permissions/mine", {"run_id": run_id})
    assert reply["permission"] == "EDIT"
    # A token minted while its user could edit stops when the user no longer may.
    editor = server.auth.get_user("editor")
    secret, _ = server.auth.create_token(editor.id, "e", kind=RUN, run_id=run_id)
    server.tokens["editor-job"] = f"Bearer {secret}"
    server.ok("editor-job", "POST", f"{API}/runs/log-batch", batch)
    server.ok(
        "olivia",
        "PATCH",
        f"{API}/experiments/permissions/update",
        {"experiment_id": experiment_id, "username": "editor", "permission": "READ"},
    )
    status, reply = server.call("editor-job", "POST", f"{API}/runs/log-batch", batch)
    assert_denied(status, reply, "EDIT")
    reply = server.ok("editor-job", "GET", "/api/traza/v1/permissions/mine", {"run_id": run_id})
    assert reply["permission"] == "READ"


def test_a_run_without_an_experiment_is_judged_on_the_default_experiment(server: Server) -> None:
    status, reply = server.call("dana", "POST", f"{API}/runs/create", {"run_name": "r"})
    assert_denied(status, reply, "EDIT on experiment 0")
    server.ok("admin", "POST", f"{API}/experiments/permissions/create",
              {"experiment_id": "0", "username": "dana", "permission": "EDIT"})  # fmt: skip
    reply = server.ok("dana", "POST", f"{API}/runs/create", {"run_name": "r"})
    assert reply["run"]["info"]["experiment_id"] == "0"


def test_without_auth_everything_is_allowed_and_grants_are_refused(tmp_path: Path) -> None:
    from .live import live_server

    with live_server(f"sqlite:///{tmp_path / 'open.db'}", tmp_path) as live:
        open_server = Server(live.url, live.store, AuthStore(live.store.db))  # type: ignore[attr-defined]
        open_server.tokens["anyone"] = ""
        experiment_id = open_server.ok(
            "anyone", "POST", f"{API}/experiments/create", {"name": "o"}
        )["experiment_id"]
        reply = open_server.ok(
            "anyone", "GET", "/api/traza/v1/permissions/mine", {"experiment_id": experiment_id}
        )
        assert (reply["permission"], reply["auth_enabled"]) == ("MANAGE", False)
        status, reply = open_server.call(
            "anyone", "POST", f"{API}/experiments/permissions/create",
            {"experiment_id": experiment_id, "username": "x", "permission": "READ"},
        )  # fmt: skip
        assert (status, reply["error_code"]) == (400, "INVALID_STATE")
        assert "--app-name basic-auth" in reply["message"]
