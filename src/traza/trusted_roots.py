"""Where the server may read, list, write and delete artifacts: its trusted roots.

Trusted are the roots the server was started with (``--artifacts-destination``,
``--default-artifact-root``, the local store's own artifact folder) and those an operator's
``traza import``/``traza sync`` recorded in the store. A client may record any location on an
experiment or run (as MLflow allows, for clients that write artifacts themselves), but the
server touches only locations inside a trusted root: local folders by real path (symlinks
resolved), S3 by bucket and key prefix, HTTP by host. Nothing sent over HTTP adds a root.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from traza.exceptions import PERMISSION_DENIED, TrazaException
from traza.uris import has_scheme


@dataclass(frozen=True)
class _Root:
    kind: str  # "file", "s3" or "http"
    #: file: the real path; s3: "bucket/prefix"; http: "scheme://host:port"
    key: str


def _parse(location: str) -> _Root | None:
    """A location as a comparable root, or ``None`` for kinds the server never touches."""
    if not location:
        return None
    if not has_scheme(location):
        return _Root("file", os.path.realpath(os.path.expanduser(location)))
    parsed = urllib.parse.urlsplit(location)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            return None
        return _Root("file", os.path.realpath(urllib.parse.unquote(parsed.path)))
    if scheme in ("s3", "s3a"):
        key = parsed.path.strip("/")
        return _Root("s3", f"{parsed.netloc}/{key}" if key else parsed.netloc)
    if scheme in ("http", "https"):
        try:
            port = parsed.port or (443 if scheme == "https" else 80)
        except ValueError:
            return None
        return _Root("http", f"{scheme}://{(parsed.hostname or '').lower()}:{port}")
    return None


def _inside(target: _Root, root: _Root) -> bool:
    if target.kind != root.kind:
        return False
    if target.kind == "http":
        return target.key == root.key
    if target.kind == "file" and root.key == "/":
        return True
    return target.key == root.key or target.key.startswith(f"{root.key}/")


def root_depth(location: str) -> int:
    """How many segments deep a root is (``/`` is 0, ``s3://bucket`` is 1)."""
    parsed = _parse(location)
    if parsed is None:
        return 0
    if parsed.kind == "http":
        return 1
    return len([p for p in parsed.key.split("/") if p])


#: Folders this shallow (``/``, ``/home``, a whole bucket) are never recorded as trusted roots:
#: one odd location must not open the whole machine to the server.
MIN_ROOT_DEPTH = 2


def served_kind(location: str) -> bool:
    """Whether the server ever opens locations of this kind (local, S3, HTTP)."""
    return _parse(location) is not None


def recordable(location: str) -> bool:
    """Whether ``location`` may be recorded as a trusted root (a kind served, deep enough)."""
    return _parse(location) is not None and root_depth(location) >= MIN_ROOT_DEPTH


class TrustedRoots:
    """The configured roots, plus those recorded in the store (re-read when a check misses)."""

    def __init__(
        self, configured: Iterable[str], recorded: Callable[[], list[str]] | None = None
    ) -> None:
        self.configured = tuple(c for c in configured if c and _parse(c) is not None)
        self._recorded = recorded
        self._recorded_roots: tuple[str, ...] | None = None
        self._lock = threading.Lock()

    def _recorded_now(self, reload: bool) -> tuple[str, ...]:
        if self._recorded is None:
            return ()
        with self._lock:
            if self._recorded_roots is None or reload:
                self._recorded_roots = tuple(self._recorded())
            return self._recorded_roots

    def contains(self, location: str) -> bool:
        target = _parse(location)
        if target is None:
            return False
        for reload in (False, True):
            for root in (*self.configured, *self._recorded_now(reload)):
                parsed = _parse(root)
                if parsed is not None and _inside(target, parsed):
                    return True
        return False

    def check(self, location: str) -> None:
        """Refuse (403) a location outside every trusted root, saying why."""
        if self.contains(location):
            return
        raise TrazaException(
            f"This server does not serve artifacts from {location!r}: the location lies outside "
            "its trusted artifact roots (--artifacts-destination, --default-artifact-root, the "
            "store's own artifact folder, and folders an operator's `traza import`/`traza sync` "
            "recorded). A client may record such a location, but then reads and writes those "
            "artifacts itself; an operator can copy them in with `traza sync --copy-artifacts`.",
            error_code=PERMISSION_DENIED,
        )
