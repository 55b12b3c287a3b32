"""The auth API's route handlers, loaded on first call: with auth off ``traza.auth`` stays unloaded.

Each answers 404 with a hint when the server runs without ``--app-name basic-auth``, except
``auth/me``, which says that auth is off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from traza.server import wire
from traza.server.context import Context

#: Where the authentication layer puts itself in the ASGI scope (``traza.auth.principal``).
_AUTHENTICATOR_KEY = "traza.authenticator"

Handler = Callable[[Context, Request], Awaitable[Response]]
_JSON = "application/json"


def _lazy(name: str) -> Handler:
    async def handler(ctx: Context, request: Request) -> Response:
        if _AUTHENTICATOR_KEY not in request.scope:
            return Response(
                wire.error_body(
                    "ENDPOINT_NOT_FOUND",
                    f"{request.method} {request.scope['path']} exists only with authentication "
                    "on: start the server with --app-name basic-auth.",
                ),
                status_code=404,
                media_type="application/json",
            )
        from traza.auth import api

        result: Response = await getattr(api, name)(ctx, request)
        return result

    handler.__name__ = handler.__qualname__ = name
    return handler


create_user = _lazy("create_user")
get_user = _lazy("get_user")
current_user = _lazy("current_user")
list_users = _lazy("list_users")
update_password = _lazy("update_password")
update_admin = _lazy("update_admin")
delete_user = _lazy("delete_user")
create_token = _lazy("create_token")
list_tokens = _lazy("list_tokens")
revoke_token = _lazy("revoke_token")
login = _lazy("login")
logout = _lazy("logout")
_me = _lazy("me")


async def me(ctx: Context, request: Request) -> Response:
    """The signed-in user; with auth off, 200 saying so (the web UI asks on every load)."""
    if _AUTHENTICATOR_KEY not in request.scope:
        return Response(wire.dumps({"user": None, "auth_enabled": False}), media_type=_JSON)
    return await _me(ctx, request)
