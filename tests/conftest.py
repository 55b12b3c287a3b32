"""Shared fixtures: isolated working directories, fresh fluent state, and the store matrix.

Every store fixture yields a real store on real files; the contract suite in ``contract/``
runs against each, so a backend joins by adding a parameter here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from traza.store.base import Store
from traza.store.uri import open_store

STORE_KINDS = ["folder", "sqlite-uri"]


def make_store(kind: str, tmp_path: Path) -> Store:
    if kind == "folder":
        return open_store(str(tmp_path / "mlruns"))
    if kind == "sqlite-uri":
        return open_store(f"sqlite:///{tmp_path / 'db' / 'tracking.db'}")
    raise ValueError(kind)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run each test in its own folder with no tracking variables and no active runs."""
    for name in list(os.environ):
        if name.startswith(("TRAZA_", "MLFLOW_")):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work
    import traza
    from traza import client, fluent
    from traza.store import uri

    while traza.active_run() is not None:
        traza.end_run()
    client.set_tracking_uri(None)  # type: ignore[arg-type]
    fluent._active_experiment_id = None
    fluent._last_active_run_id = None
    fluent._client_cache = None
    with fluent._lock:
        fluent._open_frames.clear()
    for s in uri._open_stores.values():
        s.close()
    uri._open_stores.clear()
