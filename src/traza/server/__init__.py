"""``traza server``: MLflow's REST API and artifact proxy over any Traza store.

``create_app(settings)`` builds the ASGI app; ``traza server`` runs it on uvicorn.
"""

from traza.server.app import create_app
from traza.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
