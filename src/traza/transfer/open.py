"""Tell what a SOURCE argument names and open the reader for it, with a clear refusal otherwise."""

from __future__ import annotations

from pathlib import Path

from traza.exceptions import TrazaException
from traza.store.base import Store
from traza.transfer.source import Source


def _bad(message: str) -> TrazaException:
    return TrazaException(message, error_code="INVALID_PARAMETER_VALUE")


def open_mlflow_source(location: str, target: Store) -> Source:
    """An MLflow store: ``mlruns/`` folder, SQLite file or ``sqlite:///``, ``postgresql://``,
    or a server's ``http(s)://`` URL."""
    if location.startswith(("http://", "https://")):
        from traza.transfer.mlflow_rest import MlflowRestSource

        return MlflowRestSource(location, target)
    if location.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:")):
        from traza.transfer.mlflow_sql import MlflowSqlSource

        return MlflowSqlSource(location)
    if location.startswith("file:"):
        from traza.store.uri import local_folder

        folder = local_folder(location)
        assert folder is not None
        location = str(folder)
    path = Path(location).expanduser()
    if path.is_file():
        from traza.transfer.mlflow_sql import MlflowSqlSource

        return MlflowSqlSource(str(path))
    if path.is_dir():
        if (path / "traza.db").is_file():
            raise _bad(
                f"{location} is a Traza store, not an MLflow one: copy it into another store "
                f"with `traza sync {location} TARGET`."
            )
        from traza.transfer.mlflow_files import MlflowFileSource, looks_like_file_store

        if looks_like_file_store(path):
            return MlflowFileSource(path)
        raise _bad(
            f"{location} is not an MLflow store: an MLflow file store has experiment folders "
            "with a meta.yaml (`<digits>/meta.yaml`). Give an mlruns/ folder, an MLflow "
            "database (mlflow.db, sqlite:///..., postgresql://...) or a server's URL."
        )
    raise _bad(f"{location}: no such file or folder.")
