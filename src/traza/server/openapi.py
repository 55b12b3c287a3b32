"""An OpenAPI 3.0 description of the REST API, generated from the route table.

Every route of ``server/routes.py`` becomes an operation under its first prefix (``/api/2.0``,
``/api/3.0``, ``/api/traza/v1``; the ``/ajax-api`` twins answer the same). Fields are read from
the handlers' own code: a call ``args.string("name")`` in a JSON handler is a field ``name`` of
type string (``args.required`` makes it required), sent as query parameters for GET and as a
JSON body otherwise. Errors are MLflow's ``{"error_code", "message"}``.

The description is committed as ``openapi.json`` beside this module and served from it at
``/api/traza/v1/openapi.json``; ``tests/test_openapi.py`` fails when it drifts from the routes.
Regenerate it with ``python -m traza.server.openapi --write``.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPEC_FILE = Path(__file__).with_name("openapi.json")
#: What each ``Args`` accessor reads: the field's JSON schema.
_KINDS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "required": {"type": "string"},
    "integer": {"type": "integer", "format": "int64"},
    "boolean": {"type": "boolean"},
    "number": {"type": "number"},
    "items": {"type": "array", "items": {}},
    "strings": {"type": "array", "items": {"type": "string"}},
    "objects": {"type": "array", "items": {"type": "object"}},
    "raw": {},
}
_KEY_VALUES = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
    },
}
_ERROR = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}
#: Answered by the app itself, beside the route table.
_BUILT_IN = (
    ("GET", "/health", "Liveness: OK while the worker runs", "text/plain"),
    ("GET", "/version", "The server's version", "text/plain"),
)


def handler_fields(handler: Callable[..., Any]) -> dict[str, tuple[dict[str, Any], bool]]:
    """``{field: (schema, required)}`` for each ``args.<accessor>("field", ...)`` call."""
    try:
        source = textwrap.dedent(inspect.getsource(handler))
    except (OSError, TypeError):
        return {}
    fields: dict[str, tuple[dict[str, Any], bool]] = {}
    for node in ast.walk(ast.parse(source)):
        if (  # key_values(args, "params"): a list of {"key", "value"}
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "key_values"
            and len(node.args) == 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            fields.setdefault(node.args[1].value, (_KEY_VALUES, False))
            continue
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "args"
        ):
            continue
        kind = node.func.attr
        if kind == "run_id":
            fields.setdefault("run_id", ({"type": "string"}, False))
            fields.setdefault("run_uuid", ({"type": "string"}, False))
            continue
        if kind not in _KINDS or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        name = node.args[0].value
        if not isinstance(name, str):
            continue
        required = kind == "required" or any(
            k.arg == "required" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        )
        old = fields.get(name)
        fields[name] = (_KINDS[kind], required or (old is not None and old[1]))
    return fields


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return f"{method.lower()}_{words}"


def _responses(raw: bool) -> dict[str, Any]:
    content = {"*/*": {}} if raw else {"application/json": {"schema": {"type": "object"}}}
    return {
        "200": {"description": "The answer", "content": content},
        "default": {
            "description": "An error (MLflow's error JSON)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }


def operation(route: Any) -> dict[str, Any]:
    """The OpenAPI operation of one route."""
    path = route.prefixes[0] + route.path
    op: dict[str, Any] = {
        "operationId": _operation_id(route.method, path),
        "summary": (inspect.getdoc(route.handler) or route.handler.__name__).split("\n")[0],
        "responses": _responses(route.raw),
    }
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)(?::path)?\}", route.path)
    ]
    fields = {} if route.raw else handler_fields(route.handler)
    if route.method == "GET":
        params += [
            {"name": name, "in": "query", "required": required, "schema": schema}
            for name, (schema, required) in sorted(fields.items())
        ]
    elif route.raw and route.method == "PUT":
        op["requestBody"] = {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            }
        }
    elif not route.raw:
        body: dict[str, Any] = {
            "type": "object",
            "properties": {name: schema for name, (schema, _) in sorted(fields.items())},
        }
        required = sorted(name for name, (_, req) in fields.items() if req)
        if required:
            body["required"] = required
        op["requestBody"] = {"content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def build(routes: list[Any] | None = None) -> dict[str, Any]:
    """The whole description, from ``routes`` (default: the server's table)."""
    from traza._version import __version__
    from traza.auth.rules import public
    from traza.server.routes import V3, Route, all_routes

    paths: dict[str, dict[str, Any]] = {}
    table = list(all_routes() if routes is None else routes)
    table.append(
        Route("GET", "/mlflow/server-info", _server_info, prefixes=V3, permission=public())
    )
    for route in table:
        path = re.sub(r"\{(\w+):path\}", r"{\1}", route.prefixes[0] + route.path)
        paths.setdefault(path, {})[route.method.lower()] = operation(route)
    for method, path, summary, media in _BUILT_IN:
        paths[path] = {
            method.lower(): {
                "operationId": _operation_id(method, path),
                "summary": summary,
                "responses": {"200": {"description": summary, "content": {media: {}}}},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Traza tracking server",
            "version": __version__.split("+")[0],
            "description": "MLflow's REST API as `traza server` answers it, and Traza's own "
            "endpoints. Generated from the route table (src/traza/server/openapi.py).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {"Error": _ERROR}},
    }


def _server_info(ctx: Any, args: Any) -> dict[str, Any]:
    """What MLflow 3 clients ask before they upload (multipart or not)."""
    return {}


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=1, sort_keys=False) + "\n"


@functools.cache
def served(prefix: str) -> bytes:
    """The committed description, its server URL the static prefix (read once per worker)."""
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    spec["servers"] = [{"url": prefix or "/"}]
    return json.dumps(spec).encode()


async def serve(ctx: Any, request: Any) -> Any:
    """``GET /api/traza/v1/openapi.json``: the committed description."""
    from starlette.responses import Response

    return Response(served(ctx.settings.static_prefix.rstrip("/")), media_type="application/json")


def main(argv: list[str]) -> int:
    text = render(build())
    if argv == ["--write"]:
        SPEC_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {SPEC_FILE}", file=sys.stderr)
        return 0
    if argv == ["--check"]:
        if SPEC_FILE.read_text(encoding="utf-8") != text:
            print(f"{SPEC_FILE} is out of date: run python -m traza.server.openapi --write")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
