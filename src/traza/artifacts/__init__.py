"""Artifact repositories by URI scheme, and ``mlflow.artifacts``' functions.

``download_artifacts``, ``list_artifacts``, ``load_text`` and ``load_dict`` accept a
``runs:/<run_id>/<path>`` URI, a run id with a path, or a plain artifact URI.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from traza.artifacts.base import ArtifactRepository
from traza.entities import FileInfo
from traza.exceptions import invalid


def get_repository(artifact_uri: str, tracking_uri: str | None = None) -> ArtifactRepository:
    """The repository serving ``artifact_uri``: local folders, S3-compatible buckets, or a
    tracking server's proxy (``mlflow-artifacts:/``, resolved against ``tracking_uri``)."""
    if artifact_uri.startswith("mlflow-artifacts:"):
        from traza.artifacts.http import HttpArtifactRepository, proxy_url

        return HttpArtifactRepository(proxy_url(artifact_uri, tracking_uri))
    scheme = artifact_uri.split("://", 1)[0] if "://" in artifact_uri else "file"
    if scheme in ("http", "https") and "/mlflow-artifacts/artifacts" in artifact_uri:
        from traza.artifacts.http import HttpArtifactRepository

        return HttpArtifactRepository(artifact_uri)
    if scheme == "file" or artifact_uri.startswith("file:"):
        from traza.artifacts.local import LocalArtifactRepository

        return LocalArtifactRepository(artifact_uri)
    if scheme == "s3":
        from traza.artifacts.s3 import S3ArtifactRepository

        return S3ArtifactRepository(artifact_uri)
    raise invalid(
        f"Unsupported artifact location {artifact_uri!r}: this Traza stores artifacts in local "
        "folders (file: URIs or paths), S3-compatible buckets (s3://bucket/prefix) and a "
        "tracking server's proxy (mlflow-artifacts:/)."
    )


def _locate(
    artifact_uri: str | None,
    run_id: str | None,
    artifact_path: str | None,
    tracking_uri: str | None,
) -> tuple[ArtifactRepository, str]:
    """(repository, path inside it) for the three ways MLflow lets callers name artifacts."""
    from traza.client import TrazaClient, get_tracking_uri

    if artifact_uri is not None and run_id is not None:
        raise invalid("Give either artifact_uri or run_id (with artifact_path), not both.")
    if artifact_uri is not None and artifact_uri.startswith("runs:/"):
        run_id, _, artifact_path = artifact_uri[len("runs:/") :].partition("/")
        artifact_uri = None
    if run_id is not None:
        client = TrazaClient(tracking_uri)
        root = client.get_run(run_id).info.artifact_uri
        return get_repository(root, client.tracking_uri), artifact_path or ""
    if artifact_uri is None:
        raise invalid("Give an artifact_uri, or a run_id and an artifact_path.")
    tracking_uri = tracking_uri or get_tracking_uri()
    if artifact_path:
        return get_repository(artifact_uri, tracking_uri), artifact_path
    parent, _, name = artifact_uri.rstrip("/").rpartition("/")
    return get_repository(parent or ".", tracking_uri), name


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Copy artifacts to ``dst_path`` (a new temporary folder by default); returns the path."""
    repo, path = _locate(artifact_uri, run_id, artifact_path, tracking_uri)
    dst = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="traza-artifacts-"))
    return str(repo.download_artifacts(path, dst))


def list_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    tracking_uri: str | None = None,
) -> list[FileInfo]:
    repo, path = _locate(artifact_uri, run_id, artifact_path, tracking_uri)
    return repo.list_artifacts(path or None)


def load_text(artifact_uri: str) -> str:
    repo, path = _locate(artifact_uri, None, None, None)
    return repo.read_bytes(path).decode("utf-8")


def load_dict(artifact_uri: str) -> Any:
    from traza.artifacts.writers import parse_dict

    repo, path = _locate(artifact_uri, None, None, None)
    return parse_dict(path, repo.read_bytes(path).decode("utf-8"))


def load_image(artifact_uri: str) -> Any:
    """A PIL image (requires Pillow, as MLflow's does)."""
    import io

    try:
        from PIL import Image
    except ImportError:
        raise invalid("load_image needs Pillow: pip install pillow") from None
    repo, path = _locate(artifact_uri, None, None, None)
    return Image.open(io.BytesIO(repo.read_bytes(path)))


__all__ = [
    "ArtifactRepository",
    "download_artifacts",
    "get_repository",
    "list_artifacts",
    "load_dict",
    "load_image",
    "load_text",
]
