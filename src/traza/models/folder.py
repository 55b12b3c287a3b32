"""The folder a model is saved into: new or empty, and left as it was if saving fails."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from traza.exceptions import RESOURCE_ALREADY_EXISTS, TrazaException


@contextmanager
def new_model_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield ``path`` created (or found empty); on any error remove what was written in it."""
    directory = Path(path)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise TrazaException(
            f"Path '{directory}' already exists and is not empty: choose a new folder.",
            error_code=RESOURCE_ALREADY_EXISTS,
        )
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        yield directory
    except BaseException:  # leave no half-written model behind
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            for child in directory.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
