"""Artifact repositories as the server sees them.

``mlflow-artifacts:/<path>`` URIs (what runs get when the server proxies artifacts) name
``<artifacts destination>/<path>``; any other URI is opened directly from the server if it
lies inside a trusted root (see ``traza/trusted_roots.py``): a client stores any location it
likes on an experiment, and the server must neither read the machine's files nor connect
wherever it says (MLflow refuses foreign hosts too, GHSA-mr9f-g8qf-4w4j).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path

from traza.artifacts import get_repository
from traza.artifacts.base import ArtifactRepository
from traza.exceptions import TrazaException, invalid
from traza.safepath import safe_location
from traza.trusted_roots import TrustedRoots
from traza.uris import PROXY_SCHEME, has_scheme, proxied_path
from traza.validation import validate_artifact_path


def _http_target(uri: str) -> tuple[str, int | None] | None:
    """The ``(host, port)`` an ``http(s)`` URI makes the server connect to; else ``None``."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return None
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        port = None
    return (parsed.hostname or "").lower(), port


class ArtifactService:
    def __init__(
        self,
        destination: str,
        serve: bool,
        trusted_roots: tuple[str, ...] = (),
        recorded_roots: Callable[[], list[str]] | None = None,
    ) -> None:
        """``trusted_roots``: other locations the operator configured (the default artifact
        root, the store's own artifact folder); ``recorded_roots`` reads those an operator's
        ``traza import``/``sync`` recorded in the store."""
        self.serve = serve
        self.destination = (
            destination.rstrip("/")
            if has_scheme(destination)
            else Path(destination).expanduser().resolve().as_uri()
        )
        self.roots = TrustedRoots((self.destination, *trusted_roots), recorded_roots)
        self._trusted_hosts = {
            target
            for root in (self.destination, *trusted_roots)
            if (target := _http_target(root)) is not None and target[1] is not None
        }

    def _check_serving(self) -> None:
        if not self.serve:
            raise TrazaException(
                "This server does not proxy artifacts (it was started with "
                "--no-serve-artifacts). Start it with --serve-artifacts to use "
                "mlflow-artifacts:/ locations.",
                error_code="TEMPORARILY_UNAVAILABLE",
            )

    def _proxied_location(self, path: str) -> str:
        self._check_serving()
        rel = validate_artifact_path(path)
        location = f"{self.destination}/{rel}" if rel else self.destination
        self.roots.check(location)
        return location

    def proxied(self, path: str = "") -> ArtifactRepository:
        """The repository rooted at ``<destination>/<path>`` (inside it, symlinks resolved)."""
        return get_repository(self._proxied_location(path))

    def _location(self, artifact_uri: str) -> str:
        """The checked location the server opens for a stored artifact URI.

        Checked again here, not only when it was recorded: a row written before locations
        were checked, or by an ingest, may hold anything.
        """
        if artifact_uri.startswith(PROXY_SCHEME):
            return self._proxied_location(proxied_path(artifact_uri))
        safe_location(artifact_uri, "stored artifact location")
        self.check_host(artifact_uri)
        self.roots.check(artifact_uri)
        return artifact_uri

    def for_uri(self, artifact_uri: str) -> ArtifactRepository:
        """The repository for a run's or model's artifact URI, as seen from the server."""
        return get_repository(self._location(artifact_uri))

    def serves(self, artifact_uri: str) -> bool:
        """Whether the server reads and writes ``artifact_uri`` (a run's or model's root)."""
        try:
            self._location(artifact_uri)
        except TrazaException:
            return False
        return True

    def check_host(self, uri: str, field: str = "artifact location") -> None:
        """Refuse an ``http(s)`` URI naming a host other than the server's own artifact stores."""
        target = _http_target(uri)
        if target is not None and target not in self._trusted_hosts:
            raise invalid(
                f"The {field} {uri!r} names a host this server does not serve artifacts from; "
                "the server only connects to its own artifact locations. Read those artifacts "
                "from that host directly."
            )
