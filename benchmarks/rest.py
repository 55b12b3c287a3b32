"""A raw HTTP/1.1 client for MLflow's REST API: one kept-alive connection, bytes in, bytes out.

The benchmark times servers, so the client does as little as possible: bodies are serialised
before the clock starts, and a request is one ``send`` of headers and body together (a file
body streams in 1 MiB blocks).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import IO, Any

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
JSON_HEADERS = {"Content-Type": "application/json"}
BLOCK = 1 << 20


class HttpError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        endpoint = path.split("?", 1)[0]
        if endpoint.startswith(ARTIFACTS):
            endpoint = ARTIFACTS + "/..."
        self.status = status
        self.text = body[:120].decode(errors="replace").strip()
        super().__init__(f"{method} {endpoint} answered {status}: {self.text}")


class Connection:
    """One kept-alive connection to ``url`` (``http://host:port``)."""

    def __init__(self, url: str, timeout: float = 600.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.timeout = timeout
        self._conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(
            self.host, self.port, timeout=self.timeout, blocksize=BLOCK
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | IO[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        """Send one request and read the whole reply; a non-2xx status raises ``HttpError``.

        A kept-alive connection the server closed while idle (uvicorn does after 5 s) is
        reopened once, as any HTTP client library would.
        """
        try:
            self._conn.request(method, path, body=body, headers=headers or JSON_HEADERS)
            response = self._conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self._conn.close()
            self._conn = self._connect()
            rewind = getattr(body, "seek", None)
            if rewind is not None:
                rewind(0)
            self._conn.request(method, path, body=body, headers=headers or JSON_HEADERS)
            response = self._conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise HttpError(method, path, response.status, data)
        return data

    def download(self, path: str, buffer: bytearray) -> int:
        """GET ``path`` into a reused buffer, block by block; returns the bytes received."""
        self._conn.request("GET", path)
        response = self._conn.getresponse()
        if response.status >= 300:
            raise HttpError("GET", path, response.status, response.read())
        view = memoryview(buffer)
        total = 0
        while n := response.readinto(view):
            total += n
        return total

    def post(self, endpoint: str, payload: dict[str, Any]) -> Any:
        """POST a JSON body to ``/api/2.0/mlflow/<endpoint>`` and decode the reply."""
        return json.loads(self.request("POST", f"{API}/{endpoint}", json.dumps(payload).encode()))

    def get(self, endpoint: str, **query: Any) -> Any:
        return json.loads(self.request("GET", f"{API}/{endpoint}?{urllib.parse.urlencode(query)}"))

    def close(self) -> None:
        self._conn.close()


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
