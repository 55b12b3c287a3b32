"""The tracking server as an ASGI app, built by a factory from the route table.

``create_app(settings)`` opens the store named by the settings (or uses the one given) and
returns an app that dispatches by exact path first (one dict lookup for nearly every request),
then by template for the few routes with path parameters. Errors become MLflow's error JSON
with the status its error code maps to; nothing unexpected leaks a stack trace.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from traza._version import __version__
from traza.auth.principal import SCOPE_KEY, Principal
from traza.auth.rules import public
from traza.exceptions import (
    BAD_REQUEST,
    ENDPOINT_NOT_FOUND,
    INTERNAL_ERROR,
    TrazaException,
    http_status_for,
)
from traza.server import wire
from traza.server.artifact_service import ArtifactService
from traza.server.browser import guard, page_policy, require_json
from traza.server.context import Context
from traza.server.routes import V3, Route, all_routes, unguarded
from traza.server.settings import ServerSettings
from traza.server.shedding import shed
from traza.server.ui_static import DEFAULT_UI_DIR, UiBundle
from traza.store.base import Store
from traza.store.waiting import WouldBlock, no_waiting

logger = logging.getLogger("traza.server")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_JSON = "application/json"


def _error(code: str, message: str, status: int | None = None) -> Response:
    status = status or http_status_for(code)
    # A 503 (the database restarting, say) tells clients when to come back, as shedding does.
    headers = {"Retry-After": "1"} if status == 503 else None
    return Response(
        wire.error_body(code, message), status_code=status, media_type=_JSON, headers=headers
    )


class _Template:
    """A path with ``{name}`` (one segment) or ``{name:path}`` (the rest) parameters."""

    def __init__(self, template: str) -> None:
        pattern = re.sub(r"\{(\w+):path\}", r"(?P<\1>.*)", template)
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self.regex = re.compile(f"^{pattern}$")


class TrazaApp:
    """Dispatch to the route table; answer health, version and server-info itself."""

    def __init__(self, ctx: Context, routes: list[Route], authorizer: Any = None) -> None:
        missing = unguarded(routes)
        if missing:
            raise RuntimeError(
                f"Routes without a permission rule: {', '.join(missing)}. Give each a rule "
                "(traza.auth.rules) so auth can check it; the server does not start without."
            )
        self.ctx = ctx
        #: Requests of this process being answered now (on the event loop: no lock needed).
        self._in_flight = 0
        #: The permission check (``traza.auth.authorize.Authorizer``), made on first use.
        self.authorizer = authorizer
        self.prefix = ctx.settings.static_prefix.rstrip("/")
        ui_dir = ctx.settings.ui_dir
        ui_root = Path(ui_dir) if ui_dir else DEFAULT_UI_DIR
        self.ui = UiBundle(ui_root, self.prefix, page_policy(ctx.settings))
        self.exact: dict[str, dict[str, Route]] = {}
        self.templated: list[tuple[re.Pattern[str], dict[str, Route]]] = []
        by_template: dict[str, dict[str, Route]] = {}
        for route in routes:
            for api in route.prefixes:
                full = f"{self.prefix}{api}{route.path}"
                if "{" in route.path:
                    by_template.setdefault(full, {})[route.method] = route
                else:
                    self.exact.setdefault(full, {})[route.method] = route
        for template, methods in by_template.items():
            self.templated.append((_Template(template).regex, methods))
        for api in V3:
            self.exact[f"{self.prefix}{api}/mlflow/server-info"] = {
                "GET": Route("GET", "/mlflow/server-info", self._server_info, permission=public())
            }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self._in_flight += 1
        try:
            response = await self._respond(Request(scope, receive))
        finally:
            self._in_flight -= 1
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.ctx.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _find(self, path: str) -> tuple[dict[str, Route] | None, dict[str, str]]:
        methods = self.exact.get(path)
        if methods is not None:
            return methods, {}
        for regex, candidates in self.templated:
            match = regex.match(path)
            if match:
                return candidates, match.groupdict()
        return None, {}

    async def _respond(self, request: Request) -> Response:
        # The decoded path as the server received it: Starlette's ``request.url.path`` re-escapes
        # '?', '#' and '\\', which would rename artifacts whose names contain them.
        path: str = request.scope["path"]
        methods, params = self._find(path)
        if methods is None:
            return await self._fallback(request, path)
        route = methods.get(request.method)
        if route is None:
            return _error(
                ENDPOINT_NOT_FOUND,
                f"{request.method} is not allowed on {path}; use {', '.join(sorted(methods))}.",
                405,
            )
        request.scope["path_params"] = params
        # Set by the authentication middleware when auth is on; absent, everything is allowed.
        principal: Principal | None = request.scope.get(SCOPE_KEY)
        if principal is not None and self.authorizer is None:
            self._start_authorizer(request.scope)
        try:
            if route.raw:
                if principal is not None:
                    query = wire.Args.from_query(request.query_params)
                    await anyio.to_thread.run_sync(self._check, route, principal, query, params)
                response: Response = await route.handler(self.ctx, request)
                return response
            args = await self._args(request)
            if principal is None and route.short and self._in_flight == 1:
                try:  # alone: a thread hop costs more; a locked store sends it to a thread
                    with no_waiting():
                        reply = self._call(route, args, params)
                except WouldBlock:
                    reply = await anyio.to_thread.run_sync(self._call, route, args, params)
            elif principal is None:
                reply = await anyio.to_thread.run_sync(self._call, route, args, params)
            else:
                reply = await anyio.to_thread.run_sync(
                    self._call_checked, route, principal, args, params
                )
            return Response(wire.dumps(reply), media_type=_JSON)
        except TrazaException as e:
            return _error(e.error_code, e.message, getattr(e, "http_status", None))
        except Exception:
            logger.exception("Unexpected error in %s %s", request.method, path)
            return _error(INTERNAL_ERROR, f"Unexpected server error in {request.method} {path}.")

    def _call(self, route: Route, args: wire.Args, params: dict[str, str]) -> Any:
        return route.handler(self.ctx, args, **params)

    def _start_authorizer(self, scope: Scope) -> None:
        """The permission check, with the auth config the authentication layer read."""
        from traza.auth.authorize import authorizer_for

        authenticator = scope.get("traza.authenticator")
        users = getattr(getattr(authenticator, "store", None), "db", None)
        config = getattr(authenticator, "config", None)
        self.authorizer = authorizer_for(self.ctx.store, config, users)

    def _check(
        self, route: Route, principal: Principal, args: wire.Args, params: dict[str, str]
    ) -> Any:
        assert route.permission is not None  # every route has one (checked at startup)
        return self.authorizer.check(route.permission, principal, args, params)

    def _call_checked(
        self, route: Route, principal: Principal, args: wire.Args, params: dict[str, str]
    ) -> Any:
        decision = self._check(route, principal, args, params)
        reply = route.handler(self.ctx, args, **params, **decision.kwargs)
        if decision.after is not None:
            decision.after(reply)
        return reply

    async def _args(self, request: Request) -> wire.Args:
        if request.method == "GET":
            return wire.Args.from_query(request.query_params)
        limit = self.ctx.settings.max_json_bytes
        declared = request.headers.get("content-length")
        if declared not in (None, "0") or "transfer-encoding" in request.headers:
            require_json(request.headers.get("content-type"))
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _too_large(limit)
        return wire.Args(wire.parse_json(bytes(body)))

    async def _fallback(self, request: Request, path: str) -> Response:
        under_prefix = not self.prefix or path == self.prefix or path.startswith(f"{self.prefix}/")
        local = path[len(self.prefix) :] if under_prefix else path
        if request.method in ("GET", "HEAD") and under_prefix:
            if local == "/health":
                return PlainTextResponse("OK")
            if local == "/version":
                return PlainTextResponse(__version__)
            page = await anyio.to_thread.run_sync(self.ui.respond, request, local)
            if page is not None:
                return page
        return _error(ENDPOINT_NOT_FOUND, f"No API endpoint {request.method} {path}.", 404)

    def _server_info(self, ctx: Context, args: wire.Args) -> dict[str, Any]:
        """What MLflow 3 clients ask before they upload: multipart only where the store has it."""
        multipart = False
        if ctx.settings.serve_artifacts:
            with contextlib.suppress(TrazaException):
                multipart = ctx.artifacts.proxied().supports_multipart
        return {
            "store_type": "SqlStore",
            "workspaces_enabled": False,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": multipart,
            "multipart_downloads_enabled": False,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "features_enabled": {"gateway": False},
        }


def _too_large(limit: int) -> TrazaException:
    return TrazaException(
        f"The request body is larger than {limit} bytes. Split it (log_batch takes at most "
        "1000 metrics), or upload large files as artifacts.",
        error_code=BAD_REQUEST,
    )


def create_app(
    settings: ServerSettings,
    store: Store | None = None,
    artifacts: ArtifactService | None = None,
    auth_config: Any = None,
) -> Any:
    """The server app for ``settings``; ``store``/``artifacts`` override what settings name.

    With ``settings.app_name`` (``basic-auth``) every request authenticates (``traza.auth``);
    ``auth_config`` (a ``traza.auth.config.AuthConfig``) replaces what the environment says.

    The app sits behind the browser rules of ``server/browser.py``, and those behind load
    shedding (``server/shedding.py``), which refuses what a full worker cannot take.
    """
    if store is None:
        from traza.store.uri import open_store

        store = open_store(settings.backend_store_uri, settings.default_artifact_root)
    if artifacts is None:
        artifacts = ArtifactService(
            settings.artifacts_destination,
            settings.serve_artifacts,
            (settings.default_artifact_root or "", _store_artifact_root(store)),
            store.trusted_artifact_roots,
        )
    app: Any = TrazaApp(Context(store, artifacts, settings), all_routes())
    if settings.app_name:
        from traza.auth.setup import build

        app = build(app, store, settings, auth_config)
    return shed(guard(app, settings), settings, settings.static_prefix.rstrip("/"))


def _store_artifact_root(store: Store) -> str:
    """Where a local store keeps new experiments' artifacts (trusted like the configured roots)."""
    root = getattr(store, "artifact_root", None)
    resolve = getattr(store, "resolve_location", None)
    return str(resolve(root)) if isinstance(root, str) and resolve is not None else ""


def app_from_environment() -> Any:
    """The factory uvicorn calls in each worker process (settings come from the environment)."""
    from traza.server.settings import from_environment

    return create_app(from_environment())
