"""Browser safety: what keeps a web page the user visits from driving or reading a Traza server.

A server on a laptop or a private network is reachable from any page the user's browser opens.
Three rules close that door, with MLflow 3.17's flags and defaults:

- **Host allow-list** (DNS rebinding): a page on ``evil.example`` that re-points its name at
  127.0.0.1 sends ``Host: evil.example``; only loopback names, private-network addresses (any
  port) and the names given with ``--allowed-hosts`` are answered. The default is checked on the
  parsed address, so ``10.evil.example`` is not mistaken for a private address.
- **Cross-origin writes**: a POST, PUT, PATCH or DELETE whose ``Origin`` is neither this server
  (the Host it was sent to) nor one of ``--cors-allowed-origins`` is refused. CORS headers are
  sent only to those listed origins (none by default), so other pages cannot read answers.
- **Framing and sniffing**: every response says ``X-Content-Type-Options: nosniff`` and carries
  ``X-Frame-Options`` (``DENY`` unless ``--x-frame-options`` says otherwise); the UI's page gets
  :func:`page_policy` as its Content-Security-Policy.

``--disable-security-middleware`` turns these off, as MLflow's does. JSON bodies must be
``application/json`` (:func:`require_json`) and artifacts are served as downloads
(``server/downloads.py``) whatever the flags say: those are not optional in MLflow either.
:class:`BrowserGuard` is the outermost layer of the app, so a refused request reaches neither
authentication nor a handler.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from traza.exceptions import INVALID_PARAMETER_VALUE, PERMISSION_DENIED, TrazaException
from traza.server import wire
from traza.server.settings import ServerSettings

logger = logging.getLogger("traza.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Loopback and private networks (RFC 1918, RFC 4193) and 0.0.0.0, as MLflow's default allows.
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "0.0.0.0/32",
        "::1/128", "fc00::/7",
    )
)  # fmt: skip
_LOOPBACK_NAMES = frozenset({"localhost"})
#: Answered whatever the Host (load balancers' health checks), as in MLflow.
HEALTH_PATHS = ("/health", "/version")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CORS_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
_HEADER_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")

HOST_REFUSED = (
    "This server does not answer requests addressed to that host name: that is how a web page "
    "reaches a local server through DNS rebinding. If it is a name of this server, start the "
    "server with --allowed-hosts <name>[,<name>...] (or MLFLOW_SERVER_ALLOWED_HOSTS); behind a "
    "reverse proxy, also have the proxy pass the original Host header on."
)
ORIGIN_REFUSED = (
    "Cross-origin requests that change data are refused: the request came from a page that is "
    "not served by this server. To let a web application on another origin call this server, "
    "start it with --cors-allowed-origins <origin> (or MLFLOW_SERVER_CORS_ALLOWED_ORIGINS); "
    "behind a reverse proxy, have the proxy pass the original Host header on."
)
JSON_REQUIRED = (
    "Bad Request. Content-Type must be application/json: this endpoint takes a JSON body, and "
    "refuses other types so that a web page cannot send one through a form or a simple request."
)


def _names(text: str) -> list[str]:
    return [n.strip().lower() for n in text.split(",") if n.strip()]


def _glob(pattern: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; nothing else is special (``[::1]`` is literal)."""
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")


def split_host(host: str) -> tuple[str, str]:
    """``(name, port)`` of a Host header: ``[::1]:5000`` is ``("::1", "5000")``."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return host, ""
        rest = host[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return host, ""  # not an address literal: "[::1].evil.example"
        return host[1:end], rest[1:]
    name, colon, port = host.rpartition(":")
    if colon and ":" not in name and port.isdigit():
        return name, port
    return host, ""


def is_private_name(name: str) -> bool:
    """``localhost``, or an address literal on loopback or a private network."""
    name = name.rstrip(".")
    if name in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return any(address in network for network in _PRIVATE_NETWORKS)


class HostPolicy:
    """Which Host headers are answered: the private default plus the operator's patterns."""

    def __init__(self, allowed_hosts: str) -> None:
        names = _names(allowed_hosts)
        self.any = "*" in names
        self.patterns = [_glob(n) for n in names if n != "*"]

    def allows(self, host: str) -> bool:
        if self.any:
            return True
        name, port = split_host(host)
        name = name.rstrip(".")
        if not name:
            return False
        if is_private_name(name):
            return True
        full = f"[{name}]" if ":" in name else name
        full = f"{full}:{port}" if port else full
        # A pattern with a port matches that port only; one without matches the name on any port.
        return any(p.match(full) or p.match(name) for p in self.patterns)


class OriginPolicy:
    """Which origins get CORS access: only those listed (``*``: any, without credentials)."""

    def __init__(self, allowed_origins: str) -> None:
        names = [n.rstrip("/") for n in _names(allowed_origins)]
        self.any = "*" in names
        self.patterns = [_glob(n) for n in names if n != "*"]

    @property
    def enabled(self) -> bool:
        return self.any or bool(self.patterns)

    def allows(self, origin: str) -> bool:
        origin = origin.lower()
        return self.any or any(p.match(origin) for p in self.patterns)


def same_origin(origin: str, host: str) -> bool:
    """Whether ``origin`` (``scheme://host[:port]``) names the Host the request was sent to.

    A missing port is the scheme's default on both sides (a proxy may send ``Host: x:443``).
    """
    scheme, sep, authority = origin.strip().lower().partition("://")
    if not sep or not host.strip():
        return False
    default = {"http": "80", "https": "443"}.get(scheme, "")
    origin_name, origin_port = split_host(authority)
    host_name, host_port = split_host(host)
    return origin_name == host_name and (origin_port or default) == (host_port or default)


def page_policy(settings: ServerSettings) -> str:
    """The UI page's Content-Security-Policy: its own scripts only, no framing by other sites.

    Styles may be inline (the components set ``style`` attributes, and an HTML artifact's
    preview, a ``srcdoc`` frame, inherits this policy); images may be ``data:`` and ``blob:``
    URLs; no frame may load a URL (the sandboxed ``srcdoc`` preview loads none); nothing may be
    loaded from another origin.
    """
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
    ancestors = frame_ancestors(settings)
    if ancestors:
        directives.append(f"frame-ancestors {ancestors}")
    return "; ".join(directives)


def frame_options(settings: ServerSettings) -> str | None:
    """The ``X-Frame-Options`` value: ``None`` for ``NONE``; anything unknown is ``DENY``."""
    option = settings.x_frame_options.strip().upper()
    if option == "NONE":
        return None
    return option if option == "SAMEORIGIN" else "DENY"


def frame_ancestors(settings: ServerSettings) -> str | None:
    if settings.disable_security_middleware:
        return None
    option = frame_options(settings)
    return None if option is None else {"DENY": "'none'", "SAMEORIGIN": "'self'"}[option]


def require_json(content_type: str | None) -> None:
    """Refuse a request body that is not JSON (MLflow's answer to CVE-2023-43472), with 415."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise UnsupportedMediaType(JSON_REQUIRED, error_code=INVALID_PARAMETER_VALUE)


class UnsupportedMediaType(TrazaException):
    """A body of the wrong type: MLflow's error code, with HTTP's own status for it."""

    http_status = 415


def _refusal(message: str) -> tuple[Message, Message]:
    body = wire.error_body(PERMISSION_DENIED, message)
    start = {
        "type": "http.response.start",
        "status": 403,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BrowserGuard:
    """ASGI middleware enforcing the Host list, cross-origin rules and response headers."""

    def __init__(self, app: App, settings: ServerSettings) -> None:
        self.app = app
        self.hosts = HostPolicy(settings.allowed_hosts)
        self.origins = OriginPolicy(settings.cors_allowed_origins)
        prefix = settings.static_prefix.rstrip("/")
        self.health = frozenset(f"{prefix}{p}" for p in HEALTH_PATHS)
        option = frame_options(settings)
        self.frame_options = option.encode() if option is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        if scope["path"] not in self.health and not self.hosts.allows(host):
            logger.warning("Refused a request for an unlisted Host header %.100r", host)
            await self._refuse(send, HOST_REFUSED)
            return
        origin = headers.get("origin")
        method = scope["method"]
        listed = origin is not None and self.origins.allows(origin)
        preflight = method == "OPTIONS" and "access-control-request-method" in headers
        if preflight and origin is not None:
            if not listed:
                await self._refuse(send, ORIGIN_REFUSED)
                return
            await self._preflight(send, origin, headers.get("access-control-request-headers"))
            return
        cross_write = method in _WRITES and origin is not None and not same_origin(origin, host)
        if cross_write and not listed:
            await self._refuse(send, ORIGIN_REFUSED)
            return
        cors = self._cors_headers(origin) if listed and origin is not None else []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._add_headers(list(message.get("headers", [])), cors)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add_headers(
        self, headers: list[tuple[bytes, bytes]], cors: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        if b"x-content-type-options" not in present:
            headers.append((b"x-content-type-options", b"nosniff"))
        if self.frame_options is not None and b"x-frame-options" not in present:
            headers.append((b"x-frame-options", self.frame_options))
        if self.origins.enabled:
            headers.append((b"vary", b"Origin"))
        headers.extend(cors)
        return headers

    def _cors_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        if self.origins.any:
            return [(b"access-control-allow-origin", b"*")]
        return [
            (b"access-control-allow-origin", origin.encode("latin-1", "replace")),
            (b"access-control-allow-credentials", b"true"),
        ]

    async def _preflight(self, send: Send, origin: str, requested: str | None) -> None:
        headers = [
            *self._cors_headers(origin),
            (b"access-control-allow-methods", _CORS_METHODS),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        if requested and _HEADER_LIST.match(requested):
            headers.append((b"access-control-allow-headers", requested.encode()))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _refuse(self, send: Send, message: str) -> None:
        start, body = _refusal(message)
        if self.frame_options is not None:
            start["headers"].append((b"x-frame-options", self.frame_options))
        await send(start)
        await send(body)


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the first of repeated ones, as Starlette's)."""
    found: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found


def guard(app: App, settings: ServerSettings) -> App:
    """``app`` behind the browser rules, unless ``--disable-security-middleware``."""
    if settings.disable_security_middleware:
        return app
    return BrowserGuard(app, settings)
