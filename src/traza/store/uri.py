"""Choose a store by tracking URI, once, at the edge.

No URI means ``./mlruns`` (created on first use). A folder path or ``file:`` URI means Traza's
folder layout there (``traza.db`` plus ``artifacts/``); ``sqlite:///path.db`` a database file
with artifacts beside it. Databases and folders written by MLflow are refused, never migrated.
"""

from __future__ import annotations

import sqlite3
import threading
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from traza.exceptions import TrazaException
from traza.store.base import Store

if TYPE_CHECKING:
    from traza.store.sql.db import Database

DB_FILENAME = "traza.db"
ARTIFACTS_DIRNAME = "artifacts"


def _shown(path: Path | str) -> str:
    """``path`` as the user would type it here: relative to the working directory when inside."""
    import os
    import shlex

    text = str(path)
    if "://" not in text and os.path.isabs(text):
        try:
            relative = os.path.relpath(text)
        except ValueError:  # another drive
            relative = text
        if not relative.startswith(".."):
            text = relative if relative.startswith(".") else f"./{relative}"
    return shlex.quote(text)


def _refuse(what: str, location: str, source: str | None = None) -> TrazaException:
    """Refuse an MLflow store with the two commands that move its data into a Traza store and
    show it (``source``: what to import, when it is not ``location`` itself)."""
    target = "./traza-store"
    return TrazaException(
        f"{_shown(location)} is {what}. Traza never writes into MLflow's stores; copy its data "
        f"into a Traza store and open that:\n"
        f"    traza import {_shown(source or location)} --to {target}\n"
        f"    traza ui --backend-store-uri {target}\n"
        f"(or point the tracking URI at a Traza store: TRAZA_TRACKING_URI={target}).",
        error_code="INVALID_PARAMETER_VALUE",
    )


def _table_names(path: Path) -> set[str]:
    """The tables of an SQLite file, opened read-only (``sqlite3.DatabaseError`` if it is not
    one)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def _is_mlflow_database(path: Path) -> bool:
    """An SQLite file with MLflow's ``alembic_version`` table and not Traza's migrations."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        names = _table_names(path)
    except sqlite3.DatabaseError:
        return False
    return "alembic_version" in names and "traza_migrations" not in names


def _looks_like_mlflow_artifacts(folder: Path) -> bool:
    """MLflow's artifact layout: ``<experiment id>/<32-hex run id>/artifacts`` (or MLflow 3's
    ``<experiment id>/models/m-<id>``)."""
    for child in folder.iterdir():
        if not (child.name.isdigit() and child.is_dir()):
            continue
        for run in child.iterdir():
            if (len(run.name) == 32 and (run / "artifacts").is_dir()) or run.name == "models":
                return True
    return False


def _check_not_mlflow_folder(folder: Path) -> None:
    """Refuse MLflow's file store, and MLflow 3's ``mlruns/`` artifact folder beside its
    ``mlflow.db`` (a Traza store there would start empty, inside MLflow's folder). A Traza
    database named ``mlflow.db`` is no reason to refuse."""
    if (folder / DB_FILENAME).exists():
        return
    sibling = folder.parent / "mlflow.db"
    mlflow_artifacts = folder.is_dir() and _looks_like_mlflow_artifacts(folder)
    if (folder.name == "mlruns" or mlflow_artifacts) and _is_mlflow_database(sibling):
        raise _refuse(
            f"where MLflow keeps the artifacts of the runs in {_shown(sibling)} (an MLflow "
            "database beside it)",
            str(folder),
            source=str(sibling),
        )
    if not folder.is_dir():
        return
    for child in folder.iterdir():
        if child.name.isdigit() and (child / "meta.yaml").is_file():
            raise _refuse("an MLflow file store", str(folder))


def _check_not_mlflow_database(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        names = _table_names(path)
    except sqlite3.DatabaseError as e:
        raise TrazaException(
            f"{path} is not a SQLite database ({e}). Point the tracking URI at a Traza store.",
            error_code="INVALID_PARAMETER_VALUE",
        ) from None
    if "traza_migrations" in names:
        return
    if "alembic_version" in names:
        raise _refuse("an MLflow database", str(path))
    if names:
        raise TrazaException(
            f"{path} is a SQLite database that Traza did not create (tables: "
            f"{', '.join(sorted(names)[:5])}...). Traza only opens its own databases.",
            error_code="INVALID_PARAMETER_VALUE",
        )


def local_folder(uri: str) -> Path | None:
    """The folder of a folder-layout URI (plain path or ``file:``), else ``None``."""
    if uri.startswith("file:"):
        parsed = urllib.parse.urlparse(uri)
        return Path(urllib.parse.unquote(parsed.path))
    if "://" in uri or uri.startswith(("sqlite:", "postgresql:", "postgres:")):
        return None
    return Path(uri)


def _check_not_mlflow_tables(db: Database, location: str) -> None:
    names = db.table_names()
    if "alembic_version" in names and "traza_migrations" not in names:
        db.close()
        raise _refuse("an MLflow database", location)


def open_store(uri: str, artifact_root: str | None = None) -> Store:
    """Open (creating when missing) the store a tracking URI names.

    ``artifact_root`` is where new experiments keep artifacts (a URI or absolute path). By
    default folder and SQLite stores keep them beside the database, and database servers in
    ``./mlartifacts``.
    """
    from traza.store.sql.db import SqliteDatabase
    from traza.store.sql.store import SqlStore

    folder = local_folder(uri)
    if folder is not None:
        folder = folder.expanduser().resolve()
        _check_not_mlflow_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        db_path = folder / DB_FILENAME
        _check_not_mlflow_database(db_path)
        return SqlStore(
            SqliteDatabase(db_path), artifact_root or ARTIFACTS_DIRNAME, base_dir=folder
        )
    if uri.startswith("sqlite:"):
        # SQLAlchemy's form: sqlite:///rel.db is relative to the working directory,
        # sqlite:////abs/file.db is absolute.
        rest = uri[len("sqlite:///") :].split("?", 1)[0] if uri.startswith("sqlite:///") else ""
        if rest in ("", ":memory:"):
            raise TrazaException(
                f"Unsupported SQLite URI {uri!r}: name a database file, e.g. sqlite:///mlflow.db.",
                error_code="INVALID_PARAMETER_VALUE",
            )
        db_path = Path(rest).expanduser().resolve()
        _check_not_mlflow_database(db_path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        return SqlStore(
            SqliteDatabase(db_path), artifact_root or ARTIFACTS_DIRNAME, base_dir=db_path.parent
        )
    if uri.startswith(("postgresql:", "postgresql+", "postgres:")):
        from traza.store.sql.postgres import PostgresDatabase

        db = PostgresDatabase(uri)
        _check_not_mlflow_tables(db, uri)
        return SqlStore(db, artifact_root or Path("mlartifacts").resolve().as_uri())
    if uri.startswith(("http://", "https://")):
        from traza.store.rest import RestStore

        return RestStore(uri)
    scheme = uri.split(":", 1)[0]
    raise TrazaException(
        f"Unsupported tracking URI {uri!r} (scheme {scheme!r}). Use a folder path, file:, "
        "sqlite:///path.db, postgresql://... or http(s):// (a tracking server).",
        error_code="INVALID_PARAMETER_VALUE",
    )


_open_stores: dict[str, Store] = {}
_open_lock = threading.Lock()


def cached_store(uri: str) -> Store:
    """The process's one open store for ``uri`` (SQLite wants one connection per process).

    A tracking server gets a background logging queue in front (one per process, shared by the
    fluent API and every client).
    """
    key = _normalise(uri)
    with _open_lock:
        store = _open_stores.get(key)
        if store is None:
            store = open_store(uri)
            if uri.startswith(("http://", "https://")):
                from traza.store.queued import QueuedStore

                # Its pass-through methods are generated from Store's, which mypy cannot see.
                store = QueuedStore(store)  # type: ignore[abstract]
            _open_stores[key] = store
        return store


def _normalise(uri: str) -> str:
    folder = local_folder(uri)
    if folder is not None:
        return str(folder.expanduser().resolve())
    return uri
