"""What every handler is given: the store, the artifact service, and the server's settings."""

from __future__ import annotations

from dataclasses import dataclass

from traza.server.artifact_service import ArtifactService
from traza.server.settings import ServerSettings
from traza.store.base import Store


@dataclass(frozen=True)
class Context:
    store: Store
    artifacts: ArtifactService
    settings: ServerSettings
