"""Artifacts in an S3-compatible bucket, against a real S3 server (moto's, on localhost)."""

from __future__ import annotations

import hashlib
import io
import random
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import traza
from conftest import Bucket
from traza.artifacts import get_repository, s3
from traza.artifacts.base import CompletedPart
from traza.artifacts.local import LocalArtifactRepository
from traza.artifacts.s3 import S3ArtifactRepository, endpoint_from_environment
from traza.exceptions import TrazaException

MiB = 1024 * 1024


@pytest.fixture
def repo(bucket: Bucket) -> S3ArtifactRepository:
    return S3ArtifactRepository(f"s3://{bucket.name}/exp/run1")


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _fill(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "model.bin").write_bytes(b"\x00\x01")
    folder = tmp_path / "plots"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("bb")
    (folder / "sub" / "deeper" / "c.txt").write_text("ccc")
    return tmp_path / "model.bin", folder


def _log_sample(repo: Any, model: Path, folder: Path) -> None:
    repo.log_artifact(model)
    repo.log_artifact(model, "models/v1")
    repo.log_artifacts(folder, "figs")


def test_log_list_download_read(repo: S3ArtifactRepository, bucket: Bucket, tmp_path: Path) -> None:
    _log_sample(repo, *_fill(tmp_path))
    assert bucket.object_keys() == [
        "exp/run1/figs/a.txt",
        "exp/run1/figs/sub/b.txt",
        "exp/run1/figs/sub/deeper/c.txt",
        "exp/run1/model.bin",
        "exp/run1/models/v1/model.bin",
    ]
    listed = [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts()]
    assert listed == [("figs", True, None), ("model.bin", False, 2), ("models", True, None)]
    assert [(f.path, f.file_size) for f in repo.list_artifacts("figs/sub")] == [
        ("figs/sub/b.txt", 2),
        ("figs/sub/deeper", None),
    ]
    assert repo.list_artifacts("missing") == []
    assert repo.list_artifacts("model.bin") == []
    assert repo.read_bytes("figs/sub/deeper/c.txt") == b"ccc"

    one = repo.download_artifacts("models/v1/model.bin", tmp_path / "dl1")
    assert one == tmp_path / "dl1" / "model.bin"
    assert one.read_bytes() == b"\x00\x01"
    tree = repo.download_artifacts("figs/sub", tmp_path / "dl2")
    assert tree == tmp_path / "dl2" / "sub"
    assert _tree(tree) == {"b.txt": b"bb", "deeper/c.txt": b"ccc"}
    everything = repo.download_artifacts("", tmp_path / "dl3")
    assert everything == tmp_path / "dl3" / "artifacts"
    assert len(_tree(everything)) == 5


def test_behaves_like_the_local_repository(repo: S3ArtifactRepository, tmp_path: Path) -> None:
    local = LocalArtifactRepository(str(tmp_path / "local-root"))
    model, folder = _fill(tmp_path)
    _log_sample(local, model, folder)
    _log_sample(repo, model, folder)
    for path in (None, "figs", "figs/sub", "models/v1", "nothing", "model.bin"):
        assert repo.list_artifacts(path) == local.list_artifacts(path)
    for path in ("", "figs", "models/v1/model.bin"):
        s3_copy = repo.download_artifacts(path, tmp_path / "s3-dl" / path)
        local_copy = local.download_artifacts(path, tmp_path / "local-dl" / path)
        assert s3_copy.relative_to(tmp_path / "s3-dl") == local_copy.relative_to(
            tmp_path / "local-dl"
        )
        if local_copy.is_dir():
            assert _tree(s3_copy) == _tree(local_copy)
        else:
            assert s3_copy.read_bytes() == local_copy.read_bytes()


def test_listing_paginates_stays_inside_its_prefix_and_deletes_in_batches(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3 pages at 1000 keys; smaller pages and batches keep this quick (moto takes ~10 ms a PUT).
    monkeypatch.setattr(s3, "LIST_PAGE_SIZE", 4)
    monkeypatch.setattr(s3, "DELETE_BATCH", 3)
    for key in [f"run1/many/f{i:02d}" for i in range(10)] + ["run1/a/x", "run1/b", "run10/o"]:
        bucket.client.put_object(Bucket=bucket.name, Key=key, Body=b"x")
    repo = S3ArtifactRepository(f"s3://{bucket.name}/run1/")
    assert [(f.path, f.is_dir) for f in repo.list_artifacts()] == [
        ("a", True),
        ("b", False),
        ("many", True),
    ]
    listed = repo.list_artifacts("many")
    assert [(f.path, f.file_size) for f in listed] == [(f"many/f{i:02d}", 1) for i in range(10)]
    bare = S3ArtifactRepository(f"s3://{bucket.name}")
    assert [f.path for f in bare.list_artifacts()] == ["run1", "run10"]
    repo.delete_artifacts()
    assert bucket.object_keys() == ["run10/o"]


class GeneratedStream(io.RawIOBase):
    """``total`` pseudo-random bytes made on demand, recording the most it ever held at once."""

    def __init__(self, total: int, block: int = 256 * 1024, fail_after: int | None = None) -> None:
        self.total, self.block, self.fail_after = total, block, fail_after
        self.produced = 0
        self.peak = 0
        self.digest = hashlib.sha256()
        self._random = random.Random(7)
        self._buffer = bytearray()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = self.total if size is None or size < 0 else size
        while len(self._buffer) < want and self.produced < self.total:
            if self.fail_after is not None and self.produced >= self.fail_after:
                raise OSError("the client went away")
            chunk = self._random.randbytes(min(self.block, self.total - self.produced))
            self.digest.update(chunk)
            self.produced += len(chunk)
            self._buffer += chunk
            self.peak = max(self.peak, len(self._buffer))
        out = bytes(self._buffer[:want])
        del self._buffer[:want]
        return out


def test_write_stream_and_open_stream_never_hold_the_whole_file(
    repo: S3ArtifactRepository,
) -> None:
    total = 20 * MiB
    source = GeneratedStream(total)
    repo.write_stream("big/blob.bin", source)  # type: ignore[arg-type]
    assert source.produced == total
    # The upload asked for the stream a part at a time (8 MiB parts), not all of it.
    assert source.peak <= 8 * MiB + source.block
    assert [(f.path, f.file_size) for f in repo.list_artifacts("big")] == [("big/blob.bin", total)]

    digest, biggest = hashlib.sha256(), 0
    with repo.open_stream("big/blob.bin") as body:
        while chunk := body.read(MiB):
            digest.update(chunk)
            biggest = max(biggest, len(chunk))
    assert digest.hexdigest() == source.digest.hexdigest()
    assert biggest == MiB


def test_a_failed_stream_leaves_nothing(repo: S3ArtifactRepository, bucket: Bucket) -> None:
    source = GeneratedStream(20 * MiB, fail_after=12 * MiB)
    with pytest.raises(OSError, match="went away"):
        repo.write_stream("big/broken.bin", source)  # type: ignore[arg-type]
    assert bucket.object_keys() == []
    uploads = bucket.client.list_multipart_uploads(Bucket=bucket.name)
    assert uploads.get("Uploads", []) == []


def test_delete_a_file_a_tree_and_the_root(
    repo: S3ArtifactRepository, bucket: Bucket, tmp_path: Path
) -> None:
    _log_sample(repo, *_fill(tmp_path))
    repo.delete_artifacts("model.bin")
    repo.delete_artifacts("figs/sub")
    assert bucket.object_keys() == ["exp/run1/figs/a.txt", "exp/run1/models/v1/model.bin"]
    with pytest.raises(TrazaException) as missing:
        repo.delete_artifacts("figs/sub")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    repo.delete_artifacts()
    assert bucket.object_keys() == []


def _put(url: str, data: bytes) -> str:
    # urllib sends a form Content-Type by default, which moto's server chokes on (HTTP 500).
    request = urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request) as response:
        return str(response.headers["ETag"])


def test_multipart_upload_through_presigned_urls(
    repo: S3ArtifactRepository, s3_endpoint: str
) -> None:
    upload = repo.create_multipart_upload("model/weights.bin", num_parts=2, expiration=600)
    assert [p.part_number for p in upload.parts] == [1, 2]
    assert all(p.url.startswith(s3_endpoint) for p in upload.parts)
    first, second = random.Random(1).randbytes(5 * MiB), b"the tail"  # parts but the last >= 5 MiB
    etags = [_put(upload.parts[0].url, first), _put(upload.parts[1].url, second)]
    assert all(e.startswith('"') for e in etags)  # S3 quotes ETags; unquoted ones work too
    completed = [CompletedPart(2, etags[1].strip('"')), CompletedPart(1, etags[0])]
    repo.complete_multipart_upload("model/weights.bin", upload.upload_id, completed)
    assert repo.read_bytes("model/weights.bin") == first + second


def test_aborted_multipart_upload_leaves_nothing(
    repo: S3ArtifactRepository, bucket: Bucket
) -> None:
    upload = repo.create_multipart_upload("part.bin", num_parts=2)
    _put(upload.parts[0].url, b"x" * MiB)
    repo.abort_multipart_upload("part.bin", upload.upload_id)
    assert bucket.client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", []) == []
    # (Completing it now should also say NoSuchUpload, but moto's server answers HTTP 500.)
    with pytest.raises(TrazaException) as gone:
        repo.abort_multipart_upload("part.bin", upload.upload_id)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert bucket.object_keys() == []
    with pytest.raises(TrazaException, match="num_parts"):
        repo.create_multipart_upload("part.bin", num_parts=0)
    with pytest.raises(TrazaException, match="expiration"):
        repo.create_multipart_upload("part.bin", num_parts=1, expiration=0)


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", "/etc/passwd"])
def test_paths_outside_the_root_are_refused(
    repo: S3ArtifactRepository, tmp_path: Path, path: str
) -> None:
    (tmp_path / "f.txt").write_text("x")
    calls = [
        lambda: repo.log_artifact(tmp_path / "f.txt", path),
        lambda: repo.log_artifacts(tmp_path, path),
        lambda: repo.list_artifacts(path),
        lambda: repo.download_artifacts(path, tmp_path / "dl"),
        lambda: repo.read_bytes(path),
        lambda: repo.open_stream(path),
        lambda: repo.write_stream(path, io.BytesIO(b"x")),
        lambda: repo.delete_artifacts(path),
        lambda: repo.create_multipart_upload(path, 1),
    ]
    for call in calls:
        with pytest.raises(TrazaException) as refused:
            call()
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_keys_escaping_the_download_folder_are_refused(bucket: Bucket, tmp_path: Path) -> None:
    bucket.client.put_object(Bucket=bucket.name, Key="r/d/../../../evil.txt", Body=b"x")
    repo = S3ArtifactRepository(f"s3://{bucket.name}/r")
    with pytest.raises(TrazaException, match=r"'\.\.'"):
        repo.download_artifacts("d", tmp_path / "dl")
    assert not any(tmp_path.rglob("evil.txt"))


def test_missing_objects_are_not_found(repo: S3ArtifactRepository, tmp_path: Path) -> None:
    repo.write_stream("dir/present.txt", io.BytesIO(b"here"))
    calls = [
        lambda: repo.read_bytes("dir/absent.txt"),
        lambda: repo.open_stream("dir/absent.txt"),
        lambda: repo.download_artifacts("dir/absent.txt", tmp_path / "dl"),
        lambda: repo.delete_artifacts("dir/absent.txt"),
    ]
    for call in calls:
        with pytest.raises(TrazaException, match=r"dir/absent\.txt") as missing:
            call()
        assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(TrazaException, match="is a directory") as directory:
        repo.read_bytes("dir")
    assert directory.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_missing_bucket_is_named(bucket: Bucket, tmp_path: Path) -> None:
    repo = S3ArtifactRepository("s3://no-such-bucket-here/run")
    calls = [
        lambda: repo.list_artifacts(),
        lambda: repo.read_bytes("a.txt"),
        lambda: repo.write_stream("a.txt", io.BytesIO(b"x")),
        lambda: repo.download_artifacts("a.txt", tmp_path),
        lambda: repo.delete_artifacts("a.txt"),
    ]
    for call in calls:
        with pytest.raises(TrazaException, match="S3 bucket 'no-such-bucket-here' does not exist"):
            call()


def test_endpoint_and_tls_settings(
    bucket: Bucket, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("TRAZA_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "true")
    assert endpoint_from_environment() == (s3_endpoint, True)
    repo = get_repository(f"s3://{bucket.name}/x")
    assert isinstance(repo, S3ArtifactRepository)
    repo.write_stream("f", io.BytesIO(b"ok"))
    assert repo.read_bytes("f") == b"ok"
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "false")
    assert endpoint_from_environment() == (s3_endpoint, False)


def test_unreachable_endpoint_is_a_traza_error(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    repo = S3ArtifactRepository(f"s3://{bucket.name}/x")
    with pytest.raises(TrazaException, match="S3 request for artifact 'f'"):
        repo.read_bytes("f")


def test_missing_boto3_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(TrazaException, match=r"pip install 'traza\[s3\]'"):
        get_repository("s3://bucket/prefix")


def test_bad_locations() -> None:
    with pytest.raises(TrazaException, match="s3://bucket/prefix"):
        get_repository("s3:///prefix-without-bucket")
    with pytest.raises(TrazaException, match="S3-compatible buckets"):
        get_repository("gs://bucket/prefix")


def test_importing_traza_does_not_load_boto3() -> None:
    code = "import sys, traza, traza.artifacts.s3; print('boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_runs_log_into_the_bucket_through_the_fluent_api(bucket: Bucket, tmp_path: Path) -> None:
    traza.set_tracking_uri(str(tmp_path / "store"))
    experiment_id = traza.create_experiment("e", artifact_location=f"s3://{bucket.name}/prefix")
    (tmp_path / "weights.bin").write_bytes(b"\x01\x02\x03")
    with traza.start_run(experiment_id=experiment_id) as run:
        traza.log_text("hello", "notes/hello.txt")
        traza.log_artifact(str(tmp_path / "weights.bin"), artifact_path="model")
    run_id = run.info.run_id
    assert (
        traza.get_run(run_id).info.artifact_uri == f"s3://{bucket.name}/prefix/{run_id}/artifacts"
    )
    assert bucket.object_keys() == [
        f"prefix/{run_id}/artifacts/model/weights.bin",
        f"prefix/{run_id}/artifacts/notes/hello.txt",
    ]
    local = traza.artifacts.download_artifacts(
        run_id=run_id, artifact_path="notes/hello.txt", dst_path=str(tmp_path / "dl")
    )
    assert Path(local).read_text() == "hello"
    folder = traza.artifacts.download_artifacts(run_id=run_id, artifact_path="model")
    assert (Path(folder) / "weights.bin").read_bytes() == b"\x01\x02\x03"
    assert traza.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == "hello"
    listed = traza.MlflowClient().list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in listed] == [("model", True), ("notes", True)]
