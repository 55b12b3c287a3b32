"""Small helpers for telling URIs from paths, shared by stores, artifacts and the server."""

from __future__ import annotations

import re

# Two or more characters, so a Windows drive letter ("C:") is not taken for a scheme.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")


def has_scheme(location: str) -> bool:
    """Whether ``location`` is a URI (``s3://b/k``, ``mlflow-artifacts:/x``), not a path."""
    return _SCHEME.match(location) is not None


PROXY_SCHEME = "mlflow-artifacts:"


def proxied_path(uri: str) -> str:
    """The destination-relative path of ``mlflow-artifacts:[//host]/path``, confined: what the
    server serves and ``traza gc`` deletes under the artifacts destination."""
    from traza.validation import validate_artifact_path

    rest = uri[len(PROXY_SCHEME) :]
    if rest.startswith("//"):  # mlflow-artifacts://host:port/path names the server too
        rest = rest[2:].partition("/")[2]
    return validate_artifact_path(rest.lstrip("/"))
