"""A full disk said in a sentence that names the disk, not a bare ``ENOSPC`` or SQLite's
"database or disk is full": the user must know which disk to free, and that nothing written
before was lost."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from traza.exceptions import INTERNAL_ERROR, TrazaException

_SQLITE_FULL = 13


class DiskFull(TrazaException):
    """Answered 507 (Insufficient Storage) by the server: clients do not retry it blindly."""

    http_status = 507

    def __init__(self, path: Path, what: str) -> None:
        mount = _mount_point(path)
        try:
            free = f"{shutil.disk_usage(mount).free:,} bytes free"
        except OSError:
            free = "free space unknown"
        super().__init__(
            f"No space left on the disk mounted at {mount} ({free}), which holds {path}: "
            f"{what} was not written. Free space on that disk, then retry; everything written "
            "before is kept.",
            error_code=INTERNAL_ERROR,
        )


def is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(error, shutil.Error):  # copytree gathers its errors as text
        entries = error.args[0] if error.args and isinstance(error.args[0], list) else []
        return any(f"[Errno {errno.ENOSPC}]" in str(entry) for entry in entries)
    # sqlite3.OperationalError, recognised without importing sqlite3 (its code: Python 3.11+).
    return type(error).__name__ == "OperationalError" and (
        getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL
        or "database or disk is full" in str(error)
    )


@contextmanager
def disk_full_reported(path: Path, what: str) -> Iterator[None]:
    """Turn a full-disk error raised inside the block into :class:`DiskFull` naming ``path``."""
    try:
        yield
    except Exception as e:
        if is_disk_full(e):
            raise DiskFull(path, what) from e
        raise


def _mount_point(path: Path) -> Path:
    current = Path(os.path.abspath(path))
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current
