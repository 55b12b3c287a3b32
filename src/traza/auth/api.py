"""The auth REST API: MLflow's user endpoints, Traza's tokens, and the web UI's sign-in.

MLflow's (``/api/2.0/mlflow/users/...``, as ``mlflow.server.get_app_client("basic-auth")``
calls them): ``create`` (POST, admin), ``get`` (GET, admin or the user), ``current`` (GET),
``list`` (GET, admin), ``update-password`` (PATCH, admin, or the user with
``current_password``), ``update-admin`` (PATCH, admin), ``delete`` (DELETE, admin, not oneself).
Traza's (``/api/traza/v1``): ``tokens`` (POST create, GET list, ``DELETE tokens/{id}``), and
``auth/login``, ``auth/logout``, ``auth/me`` for the web UI's session cookie.

Handlers are raw (``handler(ctx, request)``): they need the caller from the ASGI scope.
"""

from __future__ import annotations

import math
import time
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from traza.auth.middleware import (
    RATE_LIMITED,
    SESSION_COOKIE,
    Authenticator,
    AuthFailure,
    read_cookie,
)
from traza.auth.principal import AUTHENTICATOR_KEY, SCOPE_KEY, Permission, Principal
from traza.auth.store import PERSONAL, RUN, SESSION, AuthStore, User
from traza.exceptions import (
    BAD_REQUEST,
    ENDPOINT_NOT_FOUND,
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    TrazaException,
    invalid,
)
from traza.server import wire
from traza.server.context import Context

_JSON = "application/json"
#: How long a run-scoped token lives when the run never ends through the server.
RUN_TOKEN_DAYS = 30
_DAY_MS = 86_400_000


class _WithStatus(TrazaException):
    """An error whose HTTP status is not the one its code maps to (415)."""

    def __init__(self, message: str, error_code: str, http_status: int) -> None:
        super().__init__(message, error_code=error_code)
        self.http_status = http_status


def _reply(data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(wire.dumps(data), media_type=_JSON, headers=headers)


def _auth(request: Request) -> Authenticator:
    auth = request.scope.get(AUTHENTICATOR_KEY)
    if auth is None:
        raise TrazaException(
            f"{request.url.path} exists only with authentication on: start the server with "
            "--app-name basic-auth.",
            error_code=ENDPOINT_NOT_FOUND,
        )
    assert isinstance(auth, Authenticator)
    return auth


def _caller(request: Request, tokens_allowed: bool = True) -> Principal:
    principal = request.scope.get(SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise TrazaException("Sign in first.", error_code=UNAUTHENTICATED)
    if principal.run_id is not None and not tokens_allowed:
        raise TrazaException(
            "A run-scoped token may only log to its run; use a personal token or password.",
            error_code=PERMISSION_DENIED,
        )
    return principal


def _admin(request: Request) -> Principal:
    caller = _caller(request, tokens_allowed=False)
    if not caller.is_admin:
        raise TrazaException("Only an admin may do this.", error_code=PERMISSION_DENIED)
    return caller


async def _args(request: Request) -> wire.Args:
    if request.method == "GET":
        return wire.Args.from_query(request.query_params)
    body = await request.body()
    if len(body) > 1 << 16:
        raise TrazaException("The request body is too large.", error_code=BAD_REQUEST)
    if not body:
        # MLflow's client sends DELETE's fields in the query when there is no body.
        return wire.Args.from_query(request.query_params)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != _JSON:
        raise _WithStatus(
            f"Send the body as {_JSON} (got {kind or 'no Content-Type'}).", BAD_REQUEST, 415
        )
    return wire.Args(wire.parse_json(body))


async def _run(func: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)


def _changed(auth: Authenticator) -> None:
    auth.invalidate()


# -- MLflow's user API ----------------------------------------------------------------------


async def create_user(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    _admin(request)
    args = await _args(request)
    username, password = args.required("username"), args.required("password")
    user = await _run(auth.store.create_user, username, password)
    return _reply({"user": user.to_dict()})


async def get_user(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    caller = _caller(request, tokens_allowed=False)
    username = (await _args(request)).required("username")
    if not caller.is_admin and username != caller.username:
        raise TrazaException("Only an admin may read another user.", error_code=PERMISSION_DENIED)
    user = await _run(auth.store.get_user, username)
    return _reply({"user": user.to_dict()})


async def current_user(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    caller = _caller(request)
    user = await _run(auth.store.get_user, caller.username)
    return _reply({"user": user.to_dict(), "is_basic_auth": True})


async def list_users(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    _admin(request)
    users: list[User] = await _run(auth.store.list_users)
    return _reply({"users": [u.to_dict() for u in users]})


async def update_password(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    caller = _caller(request, tokens_allowed=False)
    args = await _args(request)
    username, password = args.required("username"), args.required("password")
    if username == caller.username:
        # Re-asserting the current password keeps a hijacked session from taking the account.
        current = args.string("current_password")
        if not current:
            raise invalid("Give current_password to change your own password.")
        if await _run(auth.store.check_password, username, current) is None:
            raise invalid("current_password does not match.")
    elif not caller.is_admin:
        raise TrazaException(
            "Only an admin may change another user's password.", error_code=PERMISSION_DENIED
        )
    await _run(auth.store.set_password, username, password)
    _changed(auth)
    return _reply({})


async def update_admin(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    _admin(request)
    args = await _args(request)
    username = args.required("username")
    value = args.raw("is_admin")
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if not isinstance(value, bool):
        raise invalid(f"is_admin must be true or false, got {value!r}.")
    await _run(auth.store.set_admin, username, value)
    _changed(auth)
    return _reply({})


async def delete_user(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    caller = _admin(request)
    username = (await _args(request)).required("username")
    if username == caller.username:
        raise TrazaException(
            "You cannot delete your own account: ask another admin.", error_code=BAD_REQUEST
        )
    await _run(auth.store.delete_user, username)
    _changed(auth)
    return _reply({})


# -- tokens ---------------------------------------------------------------------------------


async def create_token(ctx: Context, request: Request) -> Response:
    """A personal token, or with ``run_id`` one that may log only to that run."""
    auth = _auth(request)
    caller = _caller(request, tokens_allowed=False)
    args = await _args(request)
    name = args.string("name") or ""
    if len(name) > 255:
        raise invalid("The token name is longer than 255 characters.")
    days = args.integer("expires_in_days")
    if days is not None and not 0 < days <= 3650:
        raise invalid("expires_in_days must be between 1 and 3650.")
    run_id = args.string("run_id")
    kind = PERSONAL
    if run_id:
        kind = RUN
        await _run(_check_may_log, ctx, auth, caller, run_id)
        days = days or RUN_TOKEN_DAYS
    expires = int(time.time() * 1000) + days * _DAY_MS if days else None
    secret, token = await _run(auth.store.create_token, caller.user_id, name, kind, run_id, expires)
    return _reply({"token": secret, "info": token.to_dict()})


def _check_may_log(ctx: Context, auth: Authenticator, caller: Principal, run_id: str) -> None:
    run = ctx.store.get_run(run_id)
    if run.info.status not in ("RUNNING", "SCHEDULED"):
        raise invalid(f"Run {run_id} has ended ({run.info.status}); a run token needs a live run.")
    if caller.is_admin:
        return
    level = experiment_permission(auth.store, run.info.experiment_id, caller.user_id)
    if level is None:
        level = auth.config.default_permission
    if not level.can_update:
        raise TrazaException(
            f"You need EDIT on experiment {run.info.experiment_id} to create a token for run "
            f"{run_id} (you have {level.value}).",
            error_code=PERMISSION_DENIED,
        )


def experiment_permission(store: AuthStore, experiment_id: str, user_id: int) -> Permission | None:
    """The level granted to a user on an experiment, or ``None`` without a grant."""
    with store.db.read() as cur:
        cur.execute(
            "SELECT permission FROM auth_experiment_permissions "
            "WHERE experiment_id = ? AND user_id = ?",
            (int(experiment_id), user_id),
        )
        row = cur.fetchone()
    return None if row is None else Permission.parse(row[0])


async def list_tokens(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    caller = _caller(request, tokens_allowed=False)
    username = (await _args(request)).string("username")
    user_id = caller.user_id
    if username and username != caller.username:
        if not caller.is_admin:
            raise TrazaException(
                "Only an admin may list another user's tokens.", error_code=PERMISSION_DENIED
            )
        user_id = (await _run(auth.store.get_user, username)).id
    tokens = await _run(auth.store.list_tokens, user_id)
    return _reply({"tokens": [t.to_dict() for t in tokens]})


async def revoke_token(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    caller = _caller(request, tokens_allowed=False)
    raw = request.scope.get("path_params", {}).get("token_id", "")
    if not str(raw).isdigit():
        raise invalid(f"Invalid token id {raw!r}: give the number the token list shows.")
    token = await _run(auth.store.get_token, int(raw))
    if token.user_id != caller.user_id and not caller.is_admin:
        raise TrazaException(
            "Only an admin may revoke another user's token.", error_code=PERMISSION_DENIED
        )
    await _run(auth.store.revoke_token, token.id)
    _changed(auth)
    return _reply({})


# -- the web UI's session -------------------------------------------------------------------


async def login(ctx: Context, request: Request) -> Response:
    """Check a password and set the session cookie (HttpOnly, SameSite=Strict)."""
    auth = _auth(request)
    args = await _args(request)
    username, password = args.required("username"), args.required("password")
    headers = dict(request.scope["headers"])
    try:
        user: User = await _run(auth.sign_in, request.scope, headers, username, password)
    except AuthFailure as e:
        if e.retry_after is not None:
            return Response(
                wire.error_body(RATE_LIMITED, e.message),
                status_code=429,
                media_type=_JSON,
                headers={"Retry-After": str(max(1, math.ceil(e.retry_after)))},
            )
        raise TrazaException(e.message, error_code=UNAUTHENTICATED) from None
    days = auth.config.session_days
    expires = int(time.time() * 1000) + days * _DAY_MS
    secret, _ = await _run(auth.store.create_token, user.id, "web session", SESSION, None, expires)
    cookie = _cookie(request, auth, secret, days * 86400)
    return _reply({"user": user.to_dict()}, {"Set-Cookie": cookie})


async def logout(ctx: Context, request: Request) -> Response:
    auth = _auth(request)
    secret = read_cookie(dict(request.scope["headers"]).get(b"cookie"), SESSION_COOKIE)
    if secret:
        await _run(auth.store.revoke_secret, secret)
        _changed(auth)
    return _reply({}, {"Set-Cookie": _cookie(request, auth, "", 0)})


async def me(ctx: Context, request: Request) -> Response:
    """The signed-in user, or ``{"user": null}`` when the request carries no valid credential."""
    auth = _auth(request)
    if not isinstance(request.scope.get(SCOPE_KEY), Principal):
        return _reply({"user": None, "auth_enabled": True})
    caller = _caller(request)
    user = await _run(auth.store.get_user, caller.username)
    return _reply({"user": user.to_dict(), "run_id": caller.run_id, "auth_enabled": True})


def _cookie(request: Request, auth: Authenticator, value: str, max_age: int) -> str:
    path = f"{auth.static_prefix}/"
    parts = [f"{SESSION_COOKIE}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly",
             "SameSite=Strict"]  # fmt: skip
    if _over_https(request, auth):
        parts.append("Secure")
    return "; ".join(parts)


def _over_https(request: Request, auth: Authenticator) -> bool:
    if request.scope.get("scheme") == "https":
        return True
    if auth.from_proxy(request.scope):
        return request.headers.get("x-forwarded-proto", "").lower() == "https"
    return False
