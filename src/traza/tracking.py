"""``mlflow.tracking``'s names: the client class and the tracking-URI functions."""

from traza.client import (
    MlflowClient,
    TrazaClient,
    get_tracking_uri,
    is_tracking_uri_set,
    set_tracking_uri,
)

__all__ = [
    "MlflowClient",
    "TrazaClient",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_tracking_uri",
]
