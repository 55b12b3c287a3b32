"""Artifact endpoints: a run's artifact listing, and the ``mlflow-artifacts`` proxy.

Uploads and downloads stream: a request body is handed to the repository a chunk at a time
from a worker thread (:class:`BodyReader`), and a download is sent as the file is read, so a
large file never sits in the server's memory.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from traza.artifacts.base import CHUNK_SIZE, CompletedPart
from traza.artifacts.local import LocalArtifactRepository
from traza.server.context import Context
from traza.server.downloads import download_headers
from traza.server.wire import Args, bad_field, missing
from traza.validation import validate_artifact_path

Reply = dict[str, Any]


def list_run_artifacts(ctx: Context, args: Args) -> Reply:
    """``GET /mlflow/artifacts/list``: children of ``path`` in a run's artifacts."""
    run = ctx.store.get_run(args.run_id())
    path = validate_artifact_path(args.string("path"))
    files = ctx.artifacts.for_uri(run.info.artifact_uri).list_artifacts(path or None)
    reply: Reply = {"root_uri": run.info.artifact_uri}
    if files:
        reply["files"] = [f.to_dict() for f in files]
    return reply


def presigned_run_url(ctx: Context, args: Args, upload: bool) -> Reply:
    """``/mlflow/artifacts/presigned-{upload,download}-url`` for a run's (or model's) file."""
    path = validate_artifact_path(args.required("path"))
    model_id = args.string("model_id") if upload else None
    if model_id:
        root = ctx.store.get_logged_model(model_id).artifact_location
    else:
        root = ctx.store.get_run(args.run_id()).info.artifact_uri
    expiration = args.integer("expiration", 900) or 900
    url = ctx.artifacts.for_uri(root).presigned_url(path, upload, expiration)
    return {"presigned_url": url}


def presigned_upload_url(ctx: Context, args: Args) -> Reply:
    return presigned_run_url(ctx, args, upload=True)


def presigned_download_url(ctx: Context, args: Args) -> Reply:
    return presigned_run_url(ctx, args, upload=False)


def presigned_proxied_url(ctx: Context, args: Args, path: str) -> Reply:
    """``GET /mlflow-artifacts/presigned/<path>``: a download URL straight from the store."""
    url = ctx.artifacts.proxied().presigned_url(validate_artifact_path(path), upload=False)
    return {"url": url}


def list_proxied(ctx: Context, args: Args) -> Reply:
    """``GET /mlflow-artifacts/artifacts?path=``: children of ``path``, by base name."""
    path = validate_artifact_path(args.string("path"))
    files = ctx.artifacts.proxied().list_artifacts(path or None)
    out = []
    for f in files:
        item = f.to_dict()
        item["path"] = posixpath.basename(f.path)
        out.append(item)
    return {"files": out} if out else {}


class BodyReader(io.RawIOBase):
    """A blocking, readable view of a request body, for use from any other thread.

    Built on the event loop's thread; ``read`` hops back to the loop for each chunk (a
    repository may read from threads of its own, as boto3's transfer manager does).
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._done = False
        self._token = anyio.lowlevel.current_token()

    def readable(self) -> bool:
        return True

    async def _next(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return b""

    def readinto(self, buffer: Any) -> int:
        while not self._buffer and not self._done:
            chunk = anyio.from_thread.run(self._next, token=self._token)
            if not chunk:
                self._done = True
            self._buffer = chunk
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def _file_path(request: Request) -> str:
    path = validate_artifact_path(request.path_params.get("path", ""))
    if not path:
        raise missing("path")
    return path


async def download(ctx: Context, request: Request) -> Response:
    path = _file_path(request)
    root = ctx.artifacts.proxied()
    kind, headers = download_headers(path)
    if isinstance(root, LocalArtifactRepository):
        local = await anyio.to_thread.run_sync(root.local_file, path)
        return _LocalFile(local, media_type=kind, headers=headers)
    stream = await anyio.to_thread.run_sync(root.open_stream, path)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk

    return StreamingResponse(chunks(), media_type=kind, headers=headers)


class _LocalFile(FileResponse):
    """A file sent in large chunks: each chunk costs a hop to a worker thread to read."""

    chunk_size = CHUNK_SIZE


async def upload(ctx: Context, request: Request) -> Response:
    path = _file_path(request)
    root = ctx.artifacts.proxied()
    if isinstance(root, LocalArtifactRepository):
        # Writing a received chunk to a local file is quick (the page cache takes it), so it is
        # done right here rather than paying a thread hop per chunk.
        with root.open_writer(path) as out:
            async for chunk in request.stream():
                out.write(chunk)
    else:
        reader = io.BufferedReader(BodyReader(request.stream()), CHUNK_SIZE)
        await anyio.to_thread.run_sync(root.write_stream, path, reader)
    return Response(b"{}", media_type="application/json")


def delete(ctx: Context, args: Args, path: str) -> Reply:
    ctx.artifacts.proxied().delete_artifacts(validate_artifact_path(path))
    return {}


def create_multipart(ctx: Context, args: Args, path: str) -> Reply:
    name = posixpath.basename(args.required("path"))
    num_parts = args.integer("num_parts", required=True) or 0
    if num_parts < 1:
        raise bad_field("num_parts", num_parts, "a positive integer")
    upload = ctx.artifacts.proxied().create_multipart_upload(
        _join(path, name), num_parts, expiration=3600
    )
    return {
        "upload_id": upload.upload_id,
        "credentials": [
            {
                "part_number": p.part_number,
                "url": p.url,
                "headers": dict(p.headers),
            }
            for p in upload.parts
        ],
    }


def complete_multipart(ctx: Context, args: Args, path: str) -> Reply:
    name = posixpath.basename(args.required("path"))
    parts = [
        CompletedPart(int(p.get("part_number", 0)), str(p.get("etag", "")), p.get("url"))
        for p in args.objects("parts")
    ]
    if not parts:
        raise missing("parts")
    ctx.artifacts.proxied().complete_multipart_upload(
        _join(path, name), args.required("upload_id"), parts
    )
    return {}


def abort_multipart(ctx: Context, args: Args, path: str) -> Reply:
    name = posixpath.basename(args.required("path"))
    ctx.artifacts.proxied().abort_multipart_upload(_join(path, name), args.required("upload_id"))
    return {}


def _join(folder: str, name: str) -> str:
    return validate_artifact_path(f"{folder}/{name}" if folder else name)
