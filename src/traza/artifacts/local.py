"""Artifacts in a local folder, every path confined to the root (no '..', absolute or symlink
escapes)."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from traza.artifacts.base import CHUNK_SIZE, ArtifactRepository
from traza.disk_full import disk_full_reported
from traza.entities import FileInfo
from traza.exceptions import invalid, not_found
from traza.validation import validate_artifact_path

#: The longest file or folder name local filesystems take (ext4, XFS, APFS: 255 bytes); a longer
#: one fails in the OS with ENAMETOOLONG, which is the client's mistake, not the server's.
_NAME_MAX = 255


def _in_flight(name: str) -> bool:
    """A copy still being written beside its target (``.<name>.<random>.part``, see below)."""
    return name.startswith(".") and name.endswith(".part")


def _copy_whole(source: str | Path, dest: str | Path) -> None:
    """Copy beside ``dest`` and rename into place: a failed copy (a full disk) leaves nothing
    half-written where readers look."""
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def local_path_of(uri: str) -> Path:
    if uri.startswith("file:"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    return Path(uri)


class LocalArtifactRepository(ArtifactRepository):
    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        self.root = local_path_of(artifact_uri)

    def _real_root(self) -> Path:
        return self.root.resolve()

    def _confined(self, target: Path, original: str) -> Path:
        real = target.resolve()
        root = self._real_root()
        if real != root and root not in real.parents:
            raise invalid(
                f"Invalid artifact path {original!r}: it resolves outside the run's artifact "
                "root (through a symbolic link)."
            )
        return real

    def _target(self, path: str | None) -> tuple[str, Path]:
        rel = validate_artifact_path(path)
        for name in rel.split("/") if rel else ():
            if len(os.fsencode(name)) > _NAME_MAX:
                raise invalid(
                    f"The artifact path {rel[:80]!r}... holds a name of "
                    f"{len(os.fsencode(name))} bytes; a local artifact store allows at most "
                    f"{_NAME_MAX} bytes a name. Use shorter file and folder names."
                )
        return rel, (self.root / rel) if rel else self.root

    def _dest_dir(self, artifact_path: str | None) -> Path:
        rel, target = self._target(artifact_path)
        self.root.mkdir(parents=True, exist_ok=True)
        self._confined(target, rel)
        target.mkdir(parents=True, exist_ok=True)
        return self._confined(target, rel)

    def log_artifact(self, local_file: Path, artifact_path: str | None = None) -> None:
        local_file = Path(local_file)
        if not local_file.is_file():
            raise invalid(f"Cannot log {str(local_file)!r}: no such file.")
        with disk_full_reported(self.root, f"artifact {local_file.name!r}"):
            dest = self._dest_dir(artifact_path) / local_file.name
            if dest.is_symlink():
                dest.unlink()
            _copy_whole(local_file, dest)

    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None:
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise invalid(f"Cannot log {str(local_dir)!r}: no such directory.")
        dest = self._dest_dir(artifact_path)
        # Folders the copy will write into must not lead out of the root through a symlink.
        for folder, _, _ in os.walk(local_dir):
            target = dest / Path(folder).relative_to(local_dir)
            if target.exists() or target.is_symlink():
                self._confined(target, str(target.relative_to(dest)))
        with disk_full_reported(self.root, f"the folder {local_dir.name!r}"):
            shutil.copytree(local_dir, dest, dirs_exist_ok=True, copy_function=_copy_whole)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel, target = self._target(path)
        if not target.exists():
            return []
        real = self._confined(target, rel)
        if not real.is_dir():
            return []
        try:
            entries = sorted(os.scandir(real), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):  # removed since the checks above
            return []
        out = []
        for entry in entries:
            if _in_flight(entry.name):
                continue
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir():
                    out.append(FileInfo(child, True, None))
                else:
                    out.append(FileInfo(child, False, entry.stat().st_size))
            except FileNotFoundError:  # removed (or renamed into place) since the scan
                continue
        return out

    def _existing(self, artifact_path: str) -> Path:
        rel, target = self._target(artifact_path)
        if not target.exists() and not target.is_symlink():
            raise not_found(f"No artifact {rel!r} under {self.artifact_uri}.")
        return self._confined(target, rel)

    def download_artifacts(self, artifact_path: str, dst_path: Path) -> Path:
        source = self._existing(artifact_path)
        dst_path = Path(dst_path)
        dst_path.mkdir(parents=True, exist_ok=True)
        dest = dst_path / (source.name if validate_artifact_path(artifact_path) else "artifacts")
        if source.is_dir():
            for inner in source.rglob("*"):
                if inner.is_symlink():
                    self._confined(inner, str(inner.relative_to(self._real_root())))
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, dest)
        return dest

    def _existing_file(self, artifact_path: str) -> Path:
        source = self._existing(artifact_path)
        if source.is_dir():
            raise invalid(f"Artifact {artifact_path!r} is a directory, not a file.")
        return source

    def read_bytes(self, artifact_path: str) -> bytes:
        return self._existing_file(artifact_path).read_bytes()

    def local_file(self, artifact_file: str) -> Path:
        """The confined path of an existing file, for servers that send files themselves."""
        return self._existing_file(artifact_file)

    def open_stream(self, artifact_file: str) -> BinaryIO:
        return self._existing_file(artifact_file).open("rb")

    def write_stream(self, artifact_file: str, stream: BinaryIO) -> None:
        with self.open_writer(artifact_file) as out:
            while chunk := stream.read(CHUNK_SIZE):
                out.write(chunk)

    @contextmanager
    def open_writer(self, artifact_file: str) -> Iterator[BinaryIO]:
        """A file to write ``artifact_file`` into; it appears whole when the block ends well.

        Written beside the target and renamed into place, so readers never see half a file and
        a failed write leaves nothing behind.
        """
        rel = validate_artifact_path(artifact_file)
        if not rel:
            raise invalid("Give a file name to write the artifact to, not the root.")
        folder, _, name = rel.rpartition("/")
        dest_dir = self._dest_dir(folder or None)
        dest = dest_dir / name
        if dest.is_dir() and not dest.is_symlink():
            raise invalid(f"Cannot write artifact {rel!r}: a directory of that name exists.")
        with disk_full_reported(self.root, f"artifact {rel!r}"):
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest_dir)
            try:
                with os.fdopen(fd, "wb") as out:
                    yield out
                os.replace(tmp, dest)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        rel, target = self._target(artifact_path)
        if not target.exists() and not target.is_symlink():
            raise not_found(f"No artifact {rel!r} under {self.artifact_uri}.")
        if target.is_symlink() or not target.is_dir():
            self._confined(target.parent, rel)
            target.unlink()
        else:
            shutil.rmtree(self._confined(target, rel))
