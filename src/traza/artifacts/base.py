"""The artifact-repository interface; implementations are chosen by URI scheme."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from traza.entities import FileInfo


class ArtifactRepository(ABC):
    """Files of one run (or model) under a root URI. Paths are relative, '/'-separated."""

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
