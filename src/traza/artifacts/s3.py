"""Artifacts in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, ...) under ``s3://bucket/prefix``.

boto3 is imported only when a repository is made, so ``import traza`` stays cheap and boto3
stays optional (``pip install 'traza[s3]'``). Credentials are boto3's business (environment,
``~/.aws``, profiles, instance roles); the endpoint comes from ``TRAZA_S3_ENDPOINT_URL`` or
``MLFLOW_S3_ENDPOINT_URL``, and ``MLFLOW_S3_IGNORE_TLS=true`` turns certificate checks off.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

from traza.artifacts.base import ArtifactRepository, CompletedPart, MultipartPart, MultipartUpload
from traza.config import _env
from traza.entities import FileInfo
from traza.exceptions import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    UNAUTHENTICATED,
    TrazaException,
    invalid,
    not_found,
)
from traza.validation import validate_artifact_path

#: S3's limits: keys per ListObjectsV2 page and per DeleteObjects call, parts per upload,
#: seconds a SigV4 presigned URL may live.
LIST_PAGE_SIZE = 1000
DELETE_BATCH = 1000
MAX_PARTS = 10_000
MAX_EXPIRATION = 7 * 24 * 3600

# boto3's default session is not safe to create clients from concurrently (a server makes
# repositories in request threads); creating the client under a lock is cheap, a private
# Session per repository costs ~90 ms of model loading each time.
_client_lock = threading.Lock()

_ERROR_CODES = {
    "AccessDenied": PERMISSION_DENIED,
    "403": PERMISSION_DENIED,
    "InvalidAccessKeyId": UNAUTHENTICATED,
    "SignatureDoesNotMatch": UNAUTHENTICATED,
    "InvalidPart": INVALID_PARAMETER_VALUE,
    "InvalidPartOrder": INVALID_PARAMETER_VALUE,
    "EntityTooSmall": INVALID_PARAMETER_VALUE,
    "NoSuchUpload": RESOURCE_DOES_NOT_EXIST,
}


def endpoint_from_environment() -> tuple[str | None, bool]:
    """(endpoint URL or None for AWS, whether to skip TLS verification) as MLflow reads them."""
    ignore_tls = (_env("S3_IGNORE_TLS") or "").lower() == "true"
    return _env("S3_ENDPOINT_URL"), ignore_tls


def _split_uri(artifact_uri: str) -> tuple[str, str]:
    rest = artifact_uri[len("s3://") :] if artifact_uri.startswith("s3://") else ""
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise invalid(f"Invalid S3 artifact location {artifact_uri!r}: use s3://bucket/prefix.")
    return bucket, prefix.strip("/")


class S3ArtifactRepository(ArtifactRepository):
    """One run's (or model's) files under ``s3://bucket/prefix``; keys are prefix + path."""

    supports_multipart = True

    def __init__(
        self,
        artifact_uri: str,
        endpoint_url: str | None = None,
        ignore_tls: bool | None = None,
    ) -> None:
        """``endpoint_url``/``ignore_tls`` default to the environment (see the module doc)."""
        super().__init__(artifact_uri)
        self.bucket, self.prefix = _split_uri(artifact_uri)
        env_endpoint, env_ignore_tls = endpoint_from_environment()
        self.endpoint_url = endpoint_url or env_endpoint
        ignore = env_ignore_tls if ignore_tls is None else ignore_tls
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise TrazaException(
                f"Artifacts at {artifact_uri} need boto3: pip install 'traza[s3]'"
            ) from None
        with _client_lock:
            self._client: Any = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                verify=False if ignore else None,  # None: boto3's usual CA bundle lookup
                config=Config(signature_version="s3v4"),
            )

    # -- keys and errors -----------------------------------------------------------------------
    def _key(self, rel: str) -> str:
        return "/".join(p for p in (self.prefix, rel) if p)

    def _dir_key(self, rel: str) -> str:
        """The key prefix of everything inside ``rel`` ('' for a bucket-wide root)."""
        key = self._key(rel)
        return f"{key}/" if key else ""

    def _rel(self, key: str) -> str:
        return key[len(self._dir_key("")) :].strip("/")

    @contextmanager
    def _errors(self, rel: str) -> Iterator[None]:
        """Turn boto3's errors into TrazaExceptions naming the artifact and the bucket."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        where = f"{rel!r} under {self.artifact_uri}"
        try:
            yield
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code == "NoSuchBucket":
                raise not_found(
                    f"S3 bucket {self.bucket!r} does not exist (artifact {where}"
                    f"{', endpoint ' + self.endpoint_url if self.endpoint_url else ''})."
                ) from e
            if code in ("NoSuchKey", "404", "NotFound"):
                raise not_found(f"No artifact {where}.") from e
            raise TrazaException(
                f"S3 refused {e.operation_name} for artifact {where}: {e}",
                _ERROR_CODES.get(code, "INTERNAL_ERROR"),
            ) from e
        except NoCredentialsError as e:
            raise TrazaException(
                f"No AWS credentials for {self.artifact_uri}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or configure a profile in ~/.aws.",
                UNAUTHENTICATED,
            ) from e
        except BotoCoreError as e:
            raise TrazaException(f"S3 request for artifact {where} failed: {e}") from e

    def _objects(self, rel: str, delimiter: bool = False) -> Iterator[dict[str, Any]]:
        """Pages of ListObjectsV2 under ``rel``'s directory prefix."""
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self._dir_key(rel),
            "PaginationConfig": {"PageSize": LIST_PAGE_SIZE},
        }
        if delimiter:
            kwargs["Delimiter"] = "/"
        with self._errors(rel):
            yield from self._client.get_paginator("list_objects_v2").paginate(**kwargs)

    def _tree(self, rel: str) -> list[tuple[str, str]]:
        """(key, path relative to ``rel``) of every file inside directory ``rel``."""
        start = len(self._dir_key(rel))
        return [
            (obj["Key"], obj["Key"][start:])
            for page in self._objects(rel)
            for obj in page.get("Contents", ())
            if not obj["Key"].endswith("/")  # folder markers some tools create
        ]

    def _is_file(self, rel: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            with self._errors(rel):
                self._client.head_object(Bucket=self.bucket, Key=self._key(rel))
        except TrazaException as e:
            if e.error_code == RESOURCE_DOES_NOT_EXIST and isinstance(e.__cause__, ClientError):
                return False
            raise
        return True

    def _file(self, artifact_file: str) -> tuple[str, str]:
        rel = validate_artifact_path(artifact_file)
        if not rel:
            raise invalid("Give an artifact file name, not the root.")
        return rel, self._key(rel)

    # -- the interface -------------------------------------------------------------------------
    def log_artifact(self, local_file: Path, artifact_path: str | None = None) -> None:
        local_file = Path(local_file)
        if not local_file.is_file():
            raise invalid(f"Cannot log {str(local_file)!r}: no such file.")
        folder = validate_artifact_path(artifact_path)
        with local_file.open("rb") as f:
            self.write_stream(f"{folder}/{local_file.name}".lstrip("/"), cast(BinaryIO, f))

    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None:
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise invalid(f"Cannot log {str(local_dir)!r}: no such directory.")
        base = validate_artifact_path(artifact_path)
        for folder, _, files in os.walk(local_dir):
            inner = Path(folder).relative_to(local_dir).as_posix()
            for name in files:
                rel = "/".join(p for p in (base, inner, name) if p and p != ".")
                with (Path(folder) / name).open("rb") as f:
                    self.write_stream(rel, cast(BinaryIO, f))

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel = validate_artifact_path(path)
        out: list[FileInfo] = []
        for page in self._objects(rel, delimiter=True):
            out.extend(
                FileInfo(self._rel(p["Prefix"]), True, None) for p in page.get("CommonPrefixes", ())
            )
            out.extend(
                FileInfo(self._rel(o["Key"]), False, int(o["Size"]))
                for o in page.get("Contents", ())
                if not o["Key"].endswith("/")
            )
        return sorted(out, key=lambda f: f.path)

    def download_artifacts(self, artifact_path: str, dst_path: Path) -> Path:
        rel = validate_artifact_path(artifact_path)
        dst_path = Path(dst_path)
        dest = dst_path / (rel.rpartition("/")[2] if rel else "artifacts")
        # Listing first: it tells a missing bucket (NoSuchBucket) from a missing key, HEAD can't.
        tree = self._tree(rel)
        if rel and not tree and self._is_file(rel):
            tree = [(self._key(rel), "")]
        elif not tree:
            raise not_found(f"No artifact {rel!r} under {self.artifact_uri}.")
        for key, inner in tree:
            # A key such as "a/../../x" written by another tool must not land outside dest.
            target = dest / validate_artifact_path(inner) if inner else dest
            target.parent.mkdir(parents=True, exist_ok=True)
            with self._errors(self._rel(key)):
                self._client.download_file(self.bucket, key, str(target))
        return dest

    def read_bytes(self, artifact_path: str) -> bytes:
        with self.open_stream(artifact_path) as body:
            return body.read()

    def open_stream(self, artifact_file: str) -> BinaryIO:
        """The object's streaming HTTP body: read in chunks, never buffered whole."""
        rel, key = self._file(artifact_file)
        try:
            with self._errors(rel):
                return cast(BinaryIO, self._client.get_object(Bucket=self.bucket, Key=key)["Body"])
        except TrazaException as e:
            if e.error_code == RESOURCE_DOES_NOT_EXIST and self._tree(rel):
                raise invalid(f"Artifact {rel!r} is a directory, not a file.") from None
            raise

    def write_stream(self, artifact_file: str, stream: BinaryIO) -> None:
        """Managed upload: one PUT when small, else multipart parts of 8 MiB (at most ~80 MiB
        held at once), aborted by boto3 if the stream fails, so no half object appears.

        A stream of unknown length is limited to 10,000 parts, about 78 GiB."""
        rel, key = self._file(artifact_file)
        with self._errors(rel):
            self._client.upload_fileobj(stream, self.bucket, key)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        rel = validate_artifact_path(artifact_path)
        keys = [key for key, _ in self._tree(rel)]
        if rel and self._is_file(rel):
            keys.append(self._key(rel))
        if not keys:
            raise not_found(f"No artifact {rel!r} under {self.artifact_uri}.")
        for i in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": k} for k in keys[i : i + DELETE_BATCH]]
            with self._errors(rel):
                answer = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if answer.get("Errors"):
                failed = ", ".join(f"{e['Key']} ({e.get('Code')})" for e in answer["Errors"][:5])
                raise TrazaException(
                    f"S3 could not delete {len(answer['Errors'])} objects: {failed}"
                )

    def presigned_url(self, artifact_file: str, upload: bool, expiration: int = 900) -> str:
        rel, key = self._file(artifact_file)
        if not 1 <= expiration <= MAX_EXPIRATION:
            raise invalid(f"expiration must be between 1 and {MAX_EXPIRATION} seconds.")
        with self._errors(rel):
            url: str = self._client.generate_presigned_url(
                "put_object" if upload else "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=expiration,
            )
        return url

    # -- multipart: the client sends parts straight to S3 through presigned URLs ---------------
    def create_multipart_upload(
        self, artifact_file: str, num_parts: int, expiration: int = 3600
    ) -> MultipartUpload:
        """Start an upload; each part's URL is valid for ``expiration`` seconds."""
        rel, key = self._file(artifact_file)
        if not 1 <= num_parts <= MAX_PARTS:
            raise invalid(f"num_parts must be between 1 and {MAX_PARTS}, got {num_parts}.")
        if not 1 <= expiration <= MAX_EXPIRATION:
            raise invalid(f"expiration must be between 1 and {MAX_EXPIRATION} seconds.")
        with self._errors(rel):
            answer = self._client.create_multipart_upload(Bucket=self.bucket, Key=key)
            upload_id = answer["UploadId"]
            params = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id}
            urls = [
                self._client.generate_presigned_url(
                    "upload_part", Params={**params, "PartNumber": n}, ExpiresIn=expiration
                )
                for n in range(1, num_parts + 1)
            ]
        return MultipartUpload(upload_id, [MultipartPart(n, url) for n, url in enumerate(urls, 1)])

    def complete_multipart_upload(
        self, artifact_file: str, upload_id: str, parts: Sequence[CompletedPart]
    ) -> None:
        rel, key = self._file(artifact_file)
        # S3 answers ETags in quotes; clients often strip them. Either works once re-quoted.
        listed = [
            {"PartNumber": p.part_number, "ETag": '"' + p.etag.strip('"') + '"'}
            for p in sorted(parts, key=lambda p: p.part_number)
        ]
        with self._errors(rel):
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )

    def abort_multipart_upload(self, artifact_file: str, upload_id: str) -> None:
        rel, key = self._file(artifact_file)
        with self._errors(rel):
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
