"""The artifact-repository interface; implementations are chosen by URI scheme.

Besides whole-file copies, every repository streams in both directions (``open_stream`` /
``write_stream``), so the tracking server's proxy never holds a large file in memory, and may
support multipart uploads (parts sent to URLs the repository hands out).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from traza.entities import FileInfo
from traza.exceptions import TrazaException

#: How much a streamed copy reads at a time.
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class MultipartPart:
    """Where to send one part of a multipart upload (``url``, with ``headers``)."""

    part_number: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MultipartUpload:
    upload_id: str
    parts: Sequence[MultipartPart]


@dataclass(frozen=True)
class CompletedPart:
    part_number: int
    etag: str
    url: str | None = None


class MultipartUnsupported(TrazaException):
    """This repository takes whole-file uploads only; callers fall back to one PUT."""

    def __init__(self, what: str) -> None:
        # MLflow's client falls back to a single upload on exactly this message's start.
        super().__init__(
            f"Multipart upload is not supported for the current artifact repository ({what}).",
            "NOT_IMPLEMENTED",
        )


class ArtifactRepository(ABC):
    """Files of one run (or model) under a root URI. Paths are relative, '/'-separated."""

    #: Whether the ``*_multipart_upload`` methods work (parts go straight to the store).
    supports_multipart = False

    def __init__(self, artifact_uri: str) -> None:
        self.artifact_uri = artifact_uri

    @abstractmethod
    def log_artifact(self, local_file: Path, artifact_path: str | None = None) -> None:
        """Copy one file into ``artifact_path`` (a directory inside the root)."""

    @abstractmethod
    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None:
        """Copy a directory's contents into ``artifact_path``."""

    @abstractmethod
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """Direct children of ``path``, sorted by path."""

    @abstractmethod
    def download_artifacts(self, artifact_path: str, dst_path: Path) -> Path:
        """Copy a file or directory into ``dst_path``; returns the local copy."""

    @abstractmethod
    def read_bytes(self, artifact_path: str) -> bytes: ...

    @abstractmethod
    def open_stream(self, artifact_file: str) -> BinaryIO:
        """A readable binary stream of one file (the caller closes it)."""

    @abstractmethod
    def write_stream(self, artifact_file: str, stream: BinaryIO) -> None:
        """Store everything ``stream`` yields as ``artifact_file``, read a chunk at a time.

        The file appears whole or not at all: a stream that fails midway leaves nothing.
        """

    @abstractmethod
    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a directory tree (the whole root when ``artifact_path`` is empty)."""

    def presigned_url(self, artifact_file: str, upload: bool, expiration: int = 900) -> str:
        """A URL that lets its holder GET (or PUT, when ``upload``) one file without credentials."""
        raise TrazaException(
            f"Presigned URLs are not supported by the current artifact repository "
            f"({type(self).__name__}); download and upload through the server instead.",
            "NOT_IMPLEMENTED",
        )

    def create_multipart_upload(
        self, artifact_file: str, num_parts: int, expiration: int = 3600
    ) -> MultipartUpload:
        raise MultipartUnsupported(type(self).__name__)

    def complete_multipart_upload(
        self, artifact_file: str, upload_id: str, parts: Sequence[CompletedPart]
    ) -> None:
        raise MultipartUnsupported(type(self).__name__)

    def abort_multipart_upload(self, artifact_file: str, upload_id: str) -> None:
        raise MultipartUnsupported(type(self).__name__)
