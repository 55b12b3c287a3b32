"""The OpenAPI description: committed, equal to what the route table generates, and served."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import schemathesis

from traza.auth.rules import public
from traza.server import ServerSettings, create_app
from traza.server.background import BackgroundServer
from traza.server.openapi import SPEC_FILE, build, handler_fields, render
from traza.server.routes import TRACKING, Route, all_routes

REGENERATE = "python -m traza.server.openapi --write"


def test_the_committed_description_matches_the_route_table() -> None:
    committed = SPEC_FILE.read_text(encoding="utf-8")
    assert committed == render(build()), (
        f"{SPEC_FILE.name} is out of date with server/routes.py: run `{REGENERATE}` and "
        "commit the result."
    )


def test_every_route_is_described_under_its_first_prefix() -> None:
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    for route in all_routes():
        path = (route.prefixes[0] + route.path).replace(":path}", "}")
        assert route.method.lower() in spec["paths"].get(path, {}), f"{route.method} {path}"
    assert "get" in spec["paths"]["/api/traza/v1/openapi.json"]
    assert "get" in spec["paths"]["/api/3.0/mlflow/server-info"]


def test_a_new_route_makes_the_description_differ() -> None:
    def new_endpoint(ctx: object, args: object) -> dict[str, str]:
        return {}

    extra = Route("POST", "/mlflow/runs/brand-new", new_endpoint, permission=public())
    assert render(build([*all_routes(), extra])) != SPEC_FILE.read_text(encoding="utf-8")


def test_fields_come_from_the_handlers_code() -> None:
    log_batch = next(r for r in TRACKING if r.path == "/mlflow/runs/log-batch")
    fields = handler_fields(log_batch.handler)
    assert set(fields) >= {"run_id", "metrics", "params", "tags"}
    assert fields["metrics"][0]["type"] == "array"
    history = next(r for r in TRACKING if r.path == "/mlflow/metrics/get-history")
    assert handler_fields(history.handler)["metric_key"] == ({"type": "string"}, True)


def test_the_description_is_valid_openapi() -> None:
    schema = schemathesis.openapi.from_dict(json.loads(SPEC_FILE.read_text(encoding="utf-8")))
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= len(all_routes())


def test_the_server_publishes_it_with_its_prefix(tmp_path: Path) -> None:
    settings = ServerSettings(
        backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", static_prefix="/traza"
    )
    with BackgroundServer(create_app(settings)) as server:
        url = f"{server.url}/traza/api/traza/v1/openapi.json"
        with urllib.request.urlopen(url) as r:
            assert r.headers["Content-Type"] == "application/json"
            served = json.loads(r.read())
    assert served["servers"] == [{"url": "/traza"}]
    del served["servers"]
    assert served == json.loads(SPEC_FILE.read_text(encoding="utf-8"))
