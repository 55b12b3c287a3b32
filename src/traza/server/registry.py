"""The model registry's endpoints, routed now and answered once the registry lands.

They answer ``NOT_IMPLEMENTED`` (HTTP 501) with a message saying so, rather than a bare 404,
so a client learns the server knows the endpoint and why it cannot serve it yet.
"""

from __future__ import annotations

from typing import Any

from traza.exceptions import NOT_IMPLEMENTED, TrazaException
from traza.server.wire import Args

ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("POST", "/mlflow/registered-models/create"),
    ("GET", "/mlflow/registered-models/get"),
    ("POST", "/mlflow/registered-models/rename"),
    ("PATCH", "/mlflow/registered-models/update"),
    ("DELETE", "/mlflow/registered-models/delete"),
    ("GET", "/mlflow/registered-models/search"),
    ("POST", "/mlflow/registered-models/get-latest-versions"),
    ("GET", "/mlflow/registered-models/get-latest-versions"),
    ("POST", "/mlflow/registered-models/set-tag"),
    ("DELETE", "/mlflow/registered-models/delete-tag"),
    ("POST", "/mlflow/registered-models/alias"),
    ("DELETE", "/mlflow/registered-models/alias"),
    ("GET", "/mlflow/registered-models/alias"),
    ("POST", "/mlflow/model-versions/create"),
    ("GET", "/mlflow/model-versions/get"),
    ("PATCH", "/mlflow/model-versions/update"),
    ("DELETE", "/mlflow/model-versions/delete"),
    ("GET", "/mlflow/model-versions/search"),
    ("GET", "/mlflow/model-versions/get-download-uri"),
    ("POST", "/mlflow/model-versions/transition-stage"),
    ("POST", "/mlflow/model-versions/set-tag"),
    ("DELETE", "/mlflow/model-versions/delete-tag"),
)


def not_yet(ctx: Any, args: Args) -> dict[str, Any]:
    raise TrazaException(
        "The model registry is not available on this Traza server yet (it arrives with "
        "Traza's Models milestone). Tracking, logged models and artifacts are served.",
        error_code=NOT_IMPLEMENTED,
    )
