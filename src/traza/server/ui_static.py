"""The built web UI: ``index.html`` and hashed ``assets/`` from ``ui_dist/``, with a SPA fallback.

The front-end build (``ui/``, Vite with ``base: "./"``) writes the bundle into the package's
``server/ui_dist``. Hashed assets never change under their name, so they are cached for a year;
``index.html`` is revalidated on every load (``no-cache`` with an ETag), so a new build shows up
at once. ``index.html`` gets a ``<base href="<static prefix>/">``, so relative asset paths also
resolve from a deep link that the SPA fallback answered. Text files are gzipped once, in memory.
When no bundle was built, ``/`` says so and how to build it.
"""

from __future__ import annotations

import gzip
import mimetypes
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

DEFAULT_UI_DIR = Path(__file__).parent / "ui_dist"
#: Paths that belong to APIs: never answered with the SPA's page.
API_PATHS = ("/api/", "/ajax-api/", "/get-artifact", "/model-versions/", "/health", "/version")
IMMUTABLE = "public, max-age=31536000, immutable"
_COMPRESSIBLE = (".js", ".mjs", ".css", ".html", ".svg", ".json", ".map", ".txt", ".wasm")
_HEAD = re.compile(rb"<head[^>]*>", re.IGNORECASE)
#: Files smaller than this are sent as they are.
_MIN_GZIP = 1024

NOT_BUILT = (
    "Traza tracking server. The web UI is not built in this installation: install Traza from a "
    "clone with `pip install .` (the package build runs the front-end build), or build it in "
    "place with `npm --prefix ui ci && npm --prefix ui run build`, which writes "
    "src/traza/server/ui_dist/. The REST API is served under {prefix}/api/2.0/mlflow/.\n"
)


@dataclass(frozen=True)
class _Cached:
    mtime_ns: int
    body: bytes
    gzipped: bytes | None
    etag: str


class UiBundle:
    """Files of one built bundle, read on demand and kept in memory (a bundle is small)."""

    def __init__(self, root: Path, prefix: str, policy: str | None = None) -> None:
        self.root = root
        self.prefix = prefix.rstrip("/")
        #: The page's Content-Security-Policy (``server/browser.py`` ``page_policy``).
        self.policy = policy
        self._cache: dict[Path, _Cached] = {}
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return (self.root / "index.html").is_file()

    def respond(self, request: Request, local: str) -> Response | None:
        """The response for GET ``local`` (the path under the prefix); ``None``: not ours."""
        if not self.built:
            if local in ("", "/"):
                return PlainTextResponse(NOT_BUILT.format(prefix=self.prefix))
            return None
        rel = local.lstrip("/")
        if rel.startswith("static-files/"):  # MLflow's bundle location, kept as an alias
            rel = rel[len("static-files/") :]
        if rel in ("", "index.html"):
            return self._file(request, self.root / "index.html", index=True)
        target = self._confined(rel)
        if target is not None:
            return self._file(request, target, index=False)
        if local.startswith(API_PATHS) or rel.startswith("assets/"):
            return None
        if "text/html" in request.headers.get("accept", ""):
            return self._file(request, self.root / "index.html", index=True)
        return None

    def _confined(self, rel: str) -> Path | None:
        if not rel or "\\" in rel or any(p in ("", ".", "..") for p in rel.split("/")):
            return None
        target = (self.root / rel).resolve()
        root = self.root.resolve()
        if root not in target.parents or not target.is_file():
            return None
        return target

    def _load(self, path: Path, index: bool) -> _Cached:
        mtime_ns = path.stat().st_mtime_ns
        cached = self._cache.get(path)
        if cached is not None and cached.mtime_ns == mtime_ns:
            return cached
        body = path.read_bytes()
        if index and b"<base" not in body:
            base = f'<base href="{self.prefix}/">'.encode()
            match = _HEAD.search(body)
            at = match.end() if match else 0
            body = body[:at] + base + body[at:]
        gzipped = None
        if path.suffix in _COMPRESSIBLE and len(body) >= _MIN_GZIP:
            gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        cached = _Cached(mtime_ns, body, gzipped, f'"{mtime_ns:x}-{len(body):x}"')
        with self._lock:
            self._cache[path] = cached
        return cached

    def _file(self, request: Request, path: Path, index: bool) -> Response:
        cached = self._load(path, index)
        hashed = path.parent.name == "assets" and not index
        headers = {
            "Cache-Control": IMMUTABLE if hashed else "no-cache",
            "ETag": cached.etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if index and self.policy:
            headers["Content-Security-Policy"] = self.policy
        if request.headers.get("if-none-match") == cached.etag:
            return Response(status_code=304, headers=headers)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        body = cached.body
        if cached.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            body = cached.gzipped
            headers["Content-Encoding"] = "gzip"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(status_code=200, headers=headers, media_type=kind)
        return Response(body, headers=headers, media_type=kind)
