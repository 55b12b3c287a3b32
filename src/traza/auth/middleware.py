"""The authentication layer of ``traza server --app-name basic-auth`` (an ASGI middleware).

Every request authenticates, from any address (loopback and reverse proxies included), except
``/health``, ``/version``, the web UI's static bundle (its login page among them) and the login
and logout endpoints. Credentials, in order: the trusted SSO header (``--auth-header``, only from
``--trusted-proxies``), ``Authorization: Bearer <token>``, ``Authorization: Basic`` (the password
may be a token), and the web UI's session cookie. The request's :class:`Principal` goes into the
ASGI scope under :data:`SCOPE_KEY`, the :class:`Authenticator` under :data:`AUTHENTICATOR_KEY`.

A verified credential is cached per worker, keyed by the sha256 of what was presented (never the
secret itself), so a request costs a dict lookup. Each worker asks the store for the
``auth_version`` row at most every ``poll_seconds`` (2 s) and drops every cache when it changed:
a revoked token, changed password or changed grant takes effect everywhere within that bound.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from traza.auth.config import MAX_STALENESS_SECONDS, AuthConfig
from traza.auth.passwords import TOKEN_PREFIX
from traza.auth.principal import AUTHENTICATOR_KEY, SCOPE_KEY, Principal
from traza.auth.store import PERSONAL, RUN, SESSION, AuthStore, User
from traza.exceptions import TEMPORARILY_UNAVAILABLE, UNAUTHENTICATED
from traza.server import wire

logger = logging.getLogger("traza.auth")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "traza_session"
REALM = 'Basic realm="traza"'
#: Error code and status of a locked-out login (MLflow's code for a rate limit).
RATE_LIMITED = "REQUEST_LIMIT_EXCEEDED"
#: Paths that are never answered with the SPA's page (``server/ui_static.py``): everything
#: else a GET asks for is the UI's static bundle, which holds no data.
_API_PATHS = ("/api/", "/ajax-api/", "/get-artifact", "/model-versions/")
_OPEN_POSTS = ("/auth/login", "/auth/logout")
_UI_API_PREFIXES = ("/api/traza/v1", "/ajax-api/traza/v1")
_TERMINAL = ("FINISHED", "FAILED", "KILLED")
_UNAVAILABLE = "Cannot check credentials now (the users database did not answer); try again."


class Networks:
    """Addresses and networks (``10.0.0.1``, ``10.0.0.0/8``) trusted as reverse proxies."""

    def __init__(self, spec: str) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for part in spec.replace(" ", ",").split(","):
            if not part:
                continue
            try:
                self.networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                from traza.exceptions import invalid

                raise invalid(
                    f"Invalid --trusted-proxies entry {part!r}: give IP addresses or networks "
                    "such as 10.0.0.5 or 10.0.0.0/8, separated by commas."
                ) from None

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: object) -> bool:
        if not self.networks or not isinstance(address, str):
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)


@dataclass
class _Entry:
    principal: Principal
    #: ``time.monotonic()`` after which the credential is verified again.
    until: float


class AuthFailure(Exception):
    """Authentication refused: 401, or 429 with ``retry_after`` when locked out."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Authenticator:
    """Verifies credentials against an :class:`AuthStore`, with a per-worker cache."""

    def __init__(
        self,
        store: AuthStore,
        config: AuthConfig,
        trusted_proxies: str = "",
        auth_header: str | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.proxies = Networks(trusted_proxies)
        self.auth_header = auth_header.lower().encode("latin-1") if auth_header else None
        self.auth_header_name = auth_header
        self._cache: dict[bytes, _Entry] = {}
        self._lock = threading.Lock()
        self._version: int | None = None
        self._checked = 0.0
        self._poll = min(config.poll_seconds, MAX_STALENESS_SECONDS)
        self._listeners: list[Callable[[], None]] = []
        #: The server's path prefix (the session cookie's path); set by the middleware.
        self.static_prefix = ""

    # -- cache -------------------------------------------------------------------------------

    def add_invalidation_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever users, tokens or grants changed (drop derived caches)."""
        self._listeners.append(listener)

    def invalidate(self) -> None:
        """Forget every cached credential now (this worker changed something)."""
        with self._lock:
            self._cache.clear()
            self._version = None
            self._checked = 0.0
        for listener in self._listeners:
            listener()

    async def refresh(self) -> None:
        """Drop the caches when the store's version moved (asked at most every poll interval)."""
        now = time.monotonic()
        if now - self._checked < self._poll:
            return
        self._checked = now
        version = await anyio.to_thread.run_sync(self.store.version)
        if version != self._version:
            with self._lock:
                self._cache.clear()
            known, self._version = self._version, version
            if known is not None:
                for listener in self._listeners:
                    listener()

    def _cached(self, key: bytes) -> Principal | None:
        entry = self._cache.get(key)
        if entry is None or entry.until < time.monotonic():
            return None
        return entry.principal

    def _remember(self, key: bytes, principal: Principal, expires_ms: int | None) -> None:
        until = time.monotonic() + self.config.cache_ttl_seconds
        if expires_ms is not None:
            until = min(until, time.monotonic() + (expires_ms / 1000 - time.time()))
        with self._lock:
            if len(self._cache) >= self.config.cache_max_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = _Entry(principal, until)

    # -- addresses ---------------------------------------------------------------------------

    def client_address(self, scope: Scope, headers: dict[bytes, bytes]) -> str:
        """The caller's address: the peer, or what a trusted proxy says in X-Forwarded-For."""
        client = scope.get("client")
        peer = client[0] if client else ""
        if peer not in self.proxies:
            return str(peer)
        forwarded = headers.get(b"x-forwarded-for")
        if not forwarded:
            return str(peer)
        hops = [h.strip() for h in forwarded.decode("latin-1").split(",") if h.strip()]
        # The rightmost hop a trusted proxy did not add is the client; the ones to its left
        # were written by the client itself and prove nothing.
        for hop in reversed(hops):
            if hop not in self.proxies:
                return hop
        return hops[0] if hops else str(peer)

    def from_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        return client is not None and client[0] in self.proxies

    # -- verification ------------------------------------------------------------------------

    async def authenticate(self, scope: Scope, headers: dict[bytes, bytes]) -> Principal:
        """The caller's principal; raises :class:`AuthFailure`."""
        await self.refresh()
        if self.auth_header is not None:
            name = headers.get(self.auth_header)
            if name is not None:
                if self.from_proxy(scope):
                    return await self._by_header(name.decode("utf-8", "replace").strip())
                client = scope.get("client")
                logger.warning(
                    "Ignored %s from %s: it is accepted only from --trusted-proxies.",
                    self.auth_header_name,
                    client[0] if client else "?",
                )
        authorization = headers.get(b"authorization")
        if authorization is not None:
            return await self._by_authorization(scope, headers, authorization)
        session = read_cookie(headers.get(b"cookie"), SESSION_COOKIE)
        if session:
            return await self._by_token(scope, headers, session, (SESSION,))
        raise AuthFailure(
            "You are not authenticated: send a username and password (HTTP Basic), or a token "
            "as 'Authorization: Bearer <token>' (MLFLOW_TRACKING_TOKEN), or sign in to the UI."
        )

    async def _by_header(self, username: str) -> Principal:
        if not username:
            raise AuthFailure(f"The {self.auth_header_name} header is empty.")
        key = _key(b"header", username)
        principal = self._cached(key)
        if principal is None:
            user = await anyio.to_thread.run_sync(self.store.user_for_header, username)
            principal = _principal(user, None)
            self._remember(key, principal, None)
        return principal

    async def _by_authorization(
        self, scope: Scope, headers: dict[bytes, bytes], value: bytes
    ) -> Principal:
        scheme, _, rest = value.decode("latin-1").strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return await self._by_token(scope, headers, rest.strip(), (PERSONAL, RUN))
        if scheme != "basic":
            raise AuthFailure(f"Unsupported Authorization scheme {scheme!r}: use Basic or Bearer.")
        try:
            pair = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthFailure(
                "The Basic credentials are not valid base64 of user:password."
            ) from None
        username, sep, password = pair.partition(":")
        if not sep:
            raise AuthFailure("The Basic credentials have no ':' between user and password.")
        if password.startswith(TOKEN_PREFIX):
            return await self._by_token(scope, headers, password, (PERSONAL, RUN))
        key = _key(b"basic", username, password)
        principal = self._cached(key)
        if principal is not None:
            return principal
        address = self.client_address(scope, headers)
        keys = [f"user:{username}", address_key(address)]
        user = await anyio.to_thread.run_sync(self._check_password, keys, username, password)
        principal = _principal(user, None)
        self._remember(key, principal, None)
        return principal

    def _check_password(self, keys: list[str], username: str, password: str) -> User:
        self._check_lockout(keys)
        user = self.store.check_password(username, password)
        if user is None:
            self.store.record_failure(keys, self.config.lockout_window_seconds * 1000)
            raise AuthFailure("Invalid username or password.")
        self.store.clear_failures(keys[:1])
        return user

    def _check_lockout(self, keys: list[str]) -> None:
        wait = self.store.locked_for(
            keys, self.config.max_failed_logins, self.config.lockout_window_seconds * 1000
        )
        if wait is not None:
            raise AuthFailure(
                f"Too many failed sign-ins: try again in {math.ceil(wait)} s.", retry_after=wait
            )

    async def _by_token(
        self, scope: Scope, headers: dict[bytes, bytes], secret: str, kinds: tuple[str, ...]
    ) -> Principal:
        if not secret:
            raise AuthFailure("The token is empty.")
        key = _key(b"token", secret, ",".join(kinds))
        principal = self._cached(key)
        if principal is not None:
            return principal
        # Not rate-limited: a token has 256 random bits, so failures guess nothing, and counting
        # them would let a stale cookie or a revoked CI token lock its address out of sign-in.
        found = await anyio.to_thread.run_sync(self._check_token, secret, kinds)
        token_run, user, expires = found
        principal = _principal(user, token_run)
        self._remember(key, principal, expires)
        return principal

    def _check_token(
        self, secret: str, kinds: tuple[str, ...]
    ) -> tuple[str | None, User, int | None]:
        found = self.store.lookup_token(secret)
        if found is None or found[0].kind not in kinds:
            what = "session has ended" if SESSION in kinds else "token is invalid or revoked"
            raise AuthFailure(f"The {what}; sign in again or create a new token.")
        token, user = found
        return token.run_id if token.kind == RUN else None, user, token.expires_time

    def sign_in(
        self, scope: Scope, headers: dict[bytes, bytes], username: str, password: str
    ) -> User:
        """Check a password for the login endpoint (rate-limited); returns the user."""
        address = self.client_address(scope, headers)
        return self._check_password([f"user:{username}", address_key(address)], username, password)


#: Requests after which a run's scoped tokens are revoked (when they succeed).
_ENDING = ("/mlflow/runs/update", "/mlflow/runs/delete")


def _ended_run(body: bytes, deleting: bool = False) -> tuple[str | None, bool]:
    """The run a ``runs/update`` or ``runs/delete`` body names, and whether the request ends
    it (a terminal status, or deleting it)."""
    try:
        fields = wire.parse_json(body)
    except Exception:
        return None, False
    run_id = fields.get("run_id") or fields.get("run_uuid")
    if not isinstance(run_id, str):
        return None, False
    return run_id, deleting or fields.get("status") in _TERMINAL


def address_key(address: str) -> str:
    """The failed-login counter of an address; IPv6 counts per /64, what one host can hold."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"addr:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


def _principal(user: User, run_id: str | None) -> Principal:
    return Principal(user.id, user.username, user.is_admin, run_id)


def _key(kind: bytes, *parts: str) -> bytes:
    digest = hashlib.sha256(kind)
    for part in parts:
        digest.update(b"\0")
        digest.update(part.encode("utf-8", "surrogatepass"))
    return digest.digest()


def read_cookie(header: bytes | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip().strip('"')
    return None


def is_public(method: str, local: str) -> bool:
    """Whether a request to ``local`` (the path under the static prefix) needs no credentials."""
    if local in ("/health", "/version"):
        return True
    if method in ("GET", "HEAD") and not local.startswith(_API_PATHS):
        return True
    return method == "POST" and is_open_post(local)


def is_open_post(local: str) -> bool:
    """Sign-in and sign-out, which need no credentials."""
    for prefix in _UI_API_PREFIXES:
        if local.startswith(prefix) and local[len(prefix) :] in _OPEN_POSTS:
            return True
    return False


def _asks_who(method: str, local: str) -> bool:
    return method == "GET" and any(local == f"{p}/auth/me" for p in _UI_API_PREFIXES)


class AuthMiddleware:
    """Authenticate every non-public request before ``app`` sees it."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, static_prefix: str) -> None:
        self.app = app
        self.auth = authenticator
        self.prefix = static_prefix.rstrip("/")
        authenticator.static_prefix = self.prefix
        # The app's route table (TrazaApp's exact paths and templates): a path it routes is
        # never public, even one a new prefix would otherwise let through (fail closed).
        self.exact: dict[str, Any] = getattr(app, "exact", {})
        self.templated: list[tuple[Any, Any]] = getattr(app, "templated", [])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[AUTHENTICATOR_KEY] = self.auth
        path: str = scope["path"]
        local = path[len(self.prefix) :] if self.prefix and path.startswith(self.prefix) else path
        if is_public(scope["method"], local) and not self._routed(path, local):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            scope[SCOPE_KEY] = await self.auth.authenticate(scope, headers)
        except AuthFailure as e:
            # "Who am I?" is answered for the signed-out too (no user), so the web UI learns
            # it should show its sign-in page without a failed request in the browser's console.
            if not (e.retry_after is None and _asks_who(scope["method"], local)):
                await _refuse(e, local, send)
                return
        except Exception:
            # The users database did not answer (or worse): refuse rather than let anyone in.
            logger.exception("Authentication failed for %s %s", scope["method"], path)
            await _refuse(AuthFailure(_UNAVAILABLE), local, send, status=503)
            return
        if scope["method"] == "POST" and local.endswith(_ENDING):
            await self._update_run(scope, receive, send, local.endswith(_ENDING[1]))
            return
        await self.app(scope, receive, send)

    def _routed(self, path: str, local: str) -> bool:
        """Whether the app answers ``path`` from its route table (login and logout aside)."""
        if is_open_post(local):
            return False
        if path in self.exact:
            return True
        return any(regex.match(path) for regex, _ in self.templated)

    async def _update_run(self, scope: Scope, receive: Receive, send: Send, deleting: bool) -> None:
        """Pass ``runs/update`` or ``runs/delete`` on; when it ended or deleted the run, revoke
        the run's scoped tokens (a deleted run's job must not go on writing to it)."""
        body = bytearray()
        messages: list[MutableMapping[str, Any]] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > 1 << 20:
                break
        run_id, ended = _ended_run(bytes(body), deleting)
        held: list[MutableMapping[str, Any]] = []

        async def replay() -> MutableMapping[str, Any]:
            return messages.pop(0) if messages else await receive()

        async def watch(message: MutableMapping[str, Any]) -> None:
            # The reply waits until the tokens are gone, so the client's next call cannot race.
            if not ended:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                if held[0].get("status") == 200 and run_id is not None:
                    count = await anyio.to_thread.run_sync(
                        self.auth.store.revoke_run_tokens, run_id
                    )
                    if count:
                        self.auth.invalidate()
                for m in held:
                    await send(m)
                held.clear()

        await self.app(scope, replay, watch)


async def _refuse(failure: AuthFailure, local: str, send: Send, status: int = 401) -> None:
    headers = [(b"content-type", b"application/json")]
    if status == 503:
        code = TEMPORARILY_UNAVAILABLE
    elif failure.retry_after is not None:
        status, code = 429, RATE_LIMITED
        headers.append((b"retry-after", str(max(1, math.ceil(failure.retry_after))).encode()))
    else:
        status, code = 401, UNAUTHENTICATED
        # The web UI's own calls get no challenge, so the browser shows the login page rather
        # than its Basic dialog.
        if not local.startswith("/ajax-api/"):
            headers.append((b"www-authenticate", REALM.encode()))
    body = wire.error_body(code, failure.message)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
