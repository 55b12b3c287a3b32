"""Artifact repositories as the server sees them.

``mlflow-artifacts:/<path>`` URIs (what runs get when the server proxies artifacts) name
``<artifacts destination>/<path>``; any other URI is opened directly from the server.
"""

from __future__ import annotations

from pathlib import Path

from traza.artifacts import get_repository
from traza.artifacts.base import ArtifactRepository
from traza.exceptions import TrazaException
from traza.uris import has_scheme
from traza.validation import validate_artifact_path

PROXY_SCHEME = "mlflow-artifacts:"


def proxied_path(uri: str) -> str:
    """The destination-relative path of ``mlflow-artifacts:[//host]/path``, confined."""
    rest = uri[len(PROXY_SCHEME) :]
    if rest.startswith("//"):  # mlflow-artifacts://host:port/path names the server too
        rest = rest[2:].partition("/")[2]
    return validate_artifact_path(rest)


class ArtifactService:
    def __init__(self, destination: str, serve: bool) -> None:
        self.serve = serve
        self.destination = (
            destination.rstrip("/")
            if has_scheme(destination)
            else Path(destination).expanduser().resolve().as_uri()
        )

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
        return get_repository(artifact_uri)
