"""Artifact repositories as the server sees them.

``mlflow-artifacts:/<path>`` URIs (what runs get when the server proxies artifacts) name
``<artifacts destination>/<path>``; any other URI is opened directly from the server, except
``http(s)`` URIs naming a host other than the server's own artifact locations: a client stores
any location it likes on an experiment, and the server must not connect wherever it says
(MLflow refuses the same, GHSA-mr9f-g8qf-4w4j).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from traza.artifacts import get_repository
from traza.artifacts.base import ArtifactRepository
from traza.exceptions import TrazaException, invalid
from traza.uris import has_scheme
from traza.validation import validate_artifact_path

PROXY_SCHEME = "mlflow-artifacts:"


def proxied_path(uri: str) -> str:
    """The destination-relative path of ``mlflow-artifacts:[//host]/path``, confined."""
    rest = uri[len(PROXY_SCHEME) :]
    if rest.startswith("//"):  # mlflow-artifacts://host:port/path names the server too
        rest = rest[2:].partition("/")[2]
    return validate_artifact_path(rest.lstrip("/"))


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
    def __init__(self, destination: str, serve: bool, trusted_roots: tuple[str, ...] = ()) -> None:
        """``trusted_roots``: other locations the operator configured (the default artifact
        root), whose hosts the server may connect to besides the destination's."""
        self.serve = serve
        self.destination = (
            destination.rstrip("/")
            if has_scheme(destination)
            else Path(destination).expanduser().resolve().as_uri()
        )
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

    def proxied(self, path: str = "") -> ArtifactRepository:
        """The repository rooted at ``<destination>/<path>``."""
        self._check_serving()
        rel = validate_artifact_path(path)
        return get_repository(f"{self.destination}/{rel}" if rel else self.destination)

    def for_uri(self, artifact_uri: str) -> ArtifactRepository:
        """The repository for a run's or model's artifact URI, as seen from the server."""
        if artifact_uri.startswith(PROXY_SCHEME):
            return self.proxied(proxied_path(artifact_uri))
        self.check_host(artifact_uri)
        return get_repository(artifact_uri)

    def check_host(self, uri: str, field: str = "artifact location") -> None:
        """Refuse an ``http(s)`` URI naming a host other than the server's own artifact stores."""
        target = _http_target(uri)
        if target is not None and target not in self._trusted_hosts:
            raise invalid(
                f"The {field} {uri!r} names a host this server does not serve artifacts from; "
                "the server only connects to its own artifact locations. Read those artifacts "
                "from that host directly."
            )
