"""HTTP to a tracking server: one pooled connection set, auth headers, retries and timeouts.

Retries (with exponential backoff and jitter) cover connection errors and the transient
statuses 408, 429, 500, 502, 503 and 504; any other error status is the server's answer and
becomes a :class:`~traza.exceptions.RestException` at once. A ``Retry-After`` (what a busy
``traza server`` sends with 503) is the least wait: the backoff still grows, so a client does not
spend its retries within seconds of a long overload, and jitter keeps the clients a server shed
together from all coming back at the same instant.
"""

from __future__ import annotations

import base64
import functools
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from traza.config import HttpSettings, http_settings
from traza.exceptions import RestException, TrazaException

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class HttpClient:
    """Requests to one server (``base_url``), reused across threads."""

    def __init__(self, base_url: str, settings: HttpSettings | None = None) -> None:
        import urllib3

        self.base_url = base_url.rstrip("/")
        self.settings = settings or http_settings()
        s = self.settings
        self.headers: dict[str, str] = {"User-Agent": "traza"}
        if s.token:
            self.headers["Authorization"] = f"Bearer {s.token}"
        elif s.username is not None and s.password is not None:
            pair = base64.b64encode(f"{s.username}:{s.password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {pair}"
        self.retries = _retry_class()(
            total=s.max_retries,
            connect=s.max_retries,
            read=s.max_retries,
            status=s.max_retries,
            backoff_factor=s.backoff_factor,
            backoff_jitter=s.backoff_jitter,
            backoff_max=120,
            status_forcelist=TRANSIENT_STATUSES,
            allowed_methods=None,  # every method: logging calls are idempotent on the server
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        pool_args: dict[str, Any] = {"maxsize": 16, "retries": self.retries}
        if s.insecure_tls:
            pool_args["cert_reqs"] = "CERT_NONE"
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        elif s.server_cert_path:
            pool_args["ca_certs"] = s.server_cert_path
        if s.client_cert_path:
            pool_args["cert_file"] = s.client_cert_path
        self.pool = urllib3.PoolManager(**pool_args)
        self.timeout = urllib3.Timeout(connect=min(s.timeout, 30.0), read=s.timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: bytes | None = None,
        fields: Mapping[str, Any] | None = None,
        body: bytes | BinaryIO | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> Any:
        """Send one request; returns urllib3's response (unread when ``stream``)."""
        import urllib3

        url = f"{self.base_url}{path}"
        all_headers = dict(self.headers)
        if json_body is not None:
            all_headers["Content-Type"] = "application/json"
            body = json_body
        if headers:
            all_headers.update(headers)
        if fields:
            from urllib.parse import urlencode

            url = f"{url}?{urlencode(_query(fields), doseq=True)}"
        # A stream cannot be rewound to resend it: only whole bodies are retried.
        retries = self.retries if body is None or isinstance(body, bytes) else False
        try:
            response = self.pool.request(
                method,
                url,
                body=body,
                headers=all_headers,
                timeout=self.timeout,
                retries=retries,
                preload_content=not stream,
                chunked=body is not None
                and not isinstance(body, bytes)
                and not hasattr(body, "read"),
            )
        except urllib3.exceptions.MaxRetryError as e:
            raise TrazaException(
                f"Cannot reach the tracking server at {self.base_url} ({method} {path}) after "
                f"{self.settings.max_retries} retries: {e.reason}",
                error_code="TEMPORARILY_UNAVAILABLE",
            ) from None
        except urllib3.exceptions.HTTPError as e:
            raise TrazaException(
                f"Request to the tracking server at {self.base_url} failed ({method} {path}): {e}",
                error_code="TEMPORARILY_UNAVAILABLE",
            ) from None
        if response.status >= 400:
            raise _error_from(response, method, path)
        return response

    def close(self) -> None:
        self.pool.clear()


@functools.cache
def _retry_class() -> Any:
    """urllib3's ``Retry`` that waits ``max(Retry-After + jitter, backoff)``, at most 2 min."""
    import urllib3

    class Retry(urllib3.Retry):
        def sleep_for_retry(self, response: Any) -> bool:
            retry_after = self.get_retry_after(response)
            if retry_after is None:
                return False
            jitter = random.random() * self.backoff_jitter
            delay = max(retry_after + jitter, self.get_backoff_time())
            time.sleep(min(delay, self.backoff_max))
            return True

    return Retry


def _is_iterator(body: object) -> bool:
    """Bodies of unknown length (generators) go chunked; bytes and files carry a length."""
    return body is not None and not isinstance(body, bytes) and not hasattr(body, "read")


def _query(fields: Mapping[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            out.extend((key, v) for v in value)
        elif isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        else:
            out.append((key, value))
    return out


def _error_from(response: Any, method: str, path: str) -> TrazaException:
    import json

    data = response.data if response.data is not None else response.read()
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_code" in body:
        return RestException(body)
    text = data[:300].decode("utf-8", "replace").strip()
    code = "RESOURCE_DOES_NOT_EXIST" if response.status == 404 else "INTERNAL_ERROR"
    if response.status in (401, 403):
        code = "PERMISSION_DENIED" if response.status == 403 else "UNAUTHENTICATED"
    return TrazaException(
        f"{method} {path} answered HTTP {response.status}: {text or '(empty body)'}",
        error_code=code,
    )
