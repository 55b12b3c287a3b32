"""Artifacts through a tracking server's proxy (``mlflow-artifacts:/`` URIs).

``mlflow-artifacts:/<path>`` means ``<tracking server>/api/2.0/mlflow-artifacts/artifacts/<path>``
(``mlflow-artifacts://host:port/<path>`` names the server itself). Files stream both ways; files
of at least ``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`` go up in parts when
``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`` is on and the server's store can take them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import posixpath
import shutil
import urllib.parse
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from traza.artifacts.base import CHUNK_SIZE, ArtifactRepository
from traza.entities import FileInfo
from traza.exceptions import NOT_IMPLEMENTED, TrazaException, invalid
from traza.http import HttpClient
from traza.validation import validate_artifact_path

PROXY_SCHEME = "mlflow-artifacts:"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts"


@functools.lru_cache(maxsize=16)
def _client(base_url: str) -> HttpClient:
    """One connection pool per server, shared by every repository on it."""
    return HttpClient(base_url)


def proxy_url(artifact_uri: str, tracking_uri: str | None) -> str:
    """The HTTP URL behind an ``mlflow-artifacts:`` URI."""
    rest = artifact_uri[len(PROXY_SCHEME) :]
    if rest.startswith("//"):
        host, _, rest = rest[2:].partition("/")
        scheme = urllib.parse.urlparse(tracking_uri or "").scheme or "http"
        base = f"{scheme}://{host}"
    elif tracking_uri and tracking_uri.startswith(("http://", "https://")):
        base = tracking_uri.rstrip("/")
    else:
        raise invalid(
            f"The artifact location {artifact_uri!r} is proxied by a tracking server, but the "
            f"tracking URI {tracking_uri!r} is not one. Set the tracking URI to the server "
            "(e.g. http://localhost:5000)."
        )
    path = validate_artifact_path(rest.lstrip("/"))
    return f"{base}{ARTIFACTS_API}/artifacts/{urllib.parse.quote(path)}".rstrip("/")


def _setting(name: str, default: str) -> str:
    return os.environ.get(f"TRAZA_{name}") or os.environ.get(f"MLFLOW_{name}") or default


class HttpArtifactRepository(ArtifactRepository):
    """The files under ``<server>/api/2.0/mlflow-artifacts/artifacts/<root>``."""

    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        parsed = urllib.parse.urlparse(artifact_uri)
        marker = f"{ARTIFACTS_API}/artifacts"
        prefix, found, root = parsed.path.partition(marker)
        if not found:
            raise invalid(f"{artifact_uri!r} is not an mlflow-artifacts proxy URL.")
        self.http = _client(f"{parsed.scheme}://{parsed.netloc}{prefix}")
        self.root = validate_artifact_path(urllib.parse.unquote(root).lstrip("/"))

    def _path(self, rel: str | None) -> str:
        rel = validate_artifact_path(rel)
        return "/".join(p for p in (self.root, rel) if p)

    def _url(self, rel: str | None) -> str:
        return f"{ARTIFACTS_API}/artifacts/{urllib.parse.quote(self._path(rel))}"

    # -- writing -----------------------------------------------------------------------------
    def log_artifact(self, local_file: Path, artifact_path: str | None = None) -> None:
        local_file = Path(local_file)
        if not local_file.is_file():
            raise invalid(f"Cannot log {str(local_file)!r}: no such file.")
        folder = validate_artifact_path(artifact_path)
        target = posixpath.join(folder, local_file.name) if folder else local_file.name
        size = local_file.stat().st_size
        if self._multipart_wanted(size) and self._try_multipart(local_file, folder, size):
            return
        with local_file.open("rb") as f:
            self.http.request(
                "PUT", self._url(target), body=f, headers={"Content-Length": str(size)}
            )

    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None:
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise invalid(f"Cannot log {str(local_dir)!r}: no such directory.")
        base = validate_artifact_path(artifact_path)
        for folder, _, files in os.walk(local_dir):
            rel = Path(folder).relative_to(local_dir).as_posix()
            dest = "/".join(p for p in (base, "" if rel == "." else rel) if p)
            for name in sorted(files):
                self.log_artifact(Path(folder) / name, dest or None)

    def write_stream(self, artifact_file: str, stream: BinaryIO) -> None:
        def chunks() -> Any:
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk

        self.http.request("PUT", self._url(artifact_file), body=chunks())

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        self.http.request("DELETE", self._url(artifact_path))

    # -- multipart ---------------------------------------------------------------------------
    def _multipart_wanted(self, size: int) -> bool:
        if _setting("ENABLE_PROXY_MULTIPART_UPLOAD", "false").lower() not in ("true", "1"):
            return False
        return size >= int(_setting("MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(500 * 1024**2)))

    def _try_multipart(self, local_file: Path, folder: str, size: int) -> bool:
        """Upload in parts; ``False`` when the server cannot, so the caller sends one PUT."""
        chunk = int(_setting("MULTIPART_UPLOAD_CHUNK_SIZE", str(10 * 1024**2)))
        num_parts = max(1, math.ceil(size / chunk))
        mpu = f"{ARTIFACTS_API}/mpu/{{}}/{urllib.parse.quote(self._path(folder))}".rstrip("/")
        body = {"path": local_file.name, "num_parts": num_parts}
        try:
            response = self.http.request("POST", mpu.format("create"), json_body=orjson.dumps(body))
        except TrazaException as e:
            if e.error_code == NOT_IMPLEMENTED:
                return False
            raise
        created = orjson.loads(response.data)
        upload_id = created["upload_id"]
        try:
            parts = []
            with local_file.open("rb") as f:
                for credential in created["credentials"]:
                    number = int(credential["part_number"])
                    f.seek((number - 1) * chunk)
                    data = f.read(chunk)
                    part = self.http.pool.request(
                        "PUT",
                        credential["url"],
                        body=data,
                        headers={"Content-Type": "application/octet-stream"}
                        | dict(credential.get("headers") or {}),
                        retries=self.http.retries,
                        timeout=self.http.timeout,
                    )
                    if part.status >= 400:
                        raise TrazaException(
                            f"Uploading part {number} of {local_file.name} failed: HTTP "
                            f"{part.status}.",
                            error_code="INTERNAL_ERROR",
                        )
                    parts.append(
                        {"part_number": number, "etag": part.headers.get("ETag", "")}
                        | {"url": credential["url"]}
                    )
            done = {"path": local_file.name, "upload_id": upload_id, "parts": parts}
            self.http.request("POST", mpu.format("complete"), json_body=orjson.dumps(done))
        except BaseException:
            abort = {"path": local_file.name, "upload_id": upload_id}
            with contextlib.suppress(TrazaException):  # the first failure is the one to report
                self.http.request("POST", mpu.format("abort"), json_body=orjson.dumps(abort))
            raise
        return True

    # -- reading -----------------------------------------------------------------------------
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel = validate_artifact_path(path)
        response = self.http.request(
            "GET", f"{ARTIFACTS_API}/artifacts", fields={"path": self._path(rel)}
        )
        data = orjson.loads(response.data) if response.data else {}
        out = []
        for item in data.get("files", ()):
            child = posixpath.join(rel, item["path"]) if rel else item["path"]
            size = item.get("file_size")
            out.append(FileInfo(child, bool(item.get("is_dir")), int(size) if size else None))
        return sorted(out, key=lambda f: f.path)

    def open_stream(self, artifact_file: str) -> BinaryIO:
        response = self.http.request("GET", self._url(artifact_file), stream=True)
        response.auto_close = False
        return response  # type: ignore[no-any-return]

    def read_bytes(self, artifact_path: str) -> bytes:
        return bytes(self.http.request("GET", self._url(artifact_path)).data)

    def download_artifacts(self, artifact_path: str, dst_path: Path) -> Path:
        rel = validate_artifact_path(artifact_path)
        dst_path = Path(dst_path)
        dst_path.mkdir(parents=True, exist_ok=True)
        dest = dst_path / (posixpath.basename(rel) if rel else "artifacts")
        children = self.list_artifacts(rel or None)
        if not children and rel:
            self._download_file(rel, dest)
            return dest
        dest.mkdir(parents=True, exist_ok=True)
        for child in children:
            if child.is_dir:
                self.download_artifacts(child.path, dest)
            else:
                self._download_file(child.path, dest / posixpath.basename(child.path))
        return dest

    def _download_file(self, rel: str, dest: Path) -> None:
        part = dest.with_name(f".{dest.name}.part")
        with self.open_stream(rel) as stream, part.open("wb") as out:
            shutil.copyfileobj(stream, out, CHUNK_SIZE)
        os.replace(part, dest)
