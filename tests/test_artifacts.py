"""Artifacts on the local filesystem: logging helpers, listing, downloads, path confinement."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import traza as mlflow
from traza.exceptions import TrazaException


@pytest.fixture
def run_id() -> str:
    with mlflow.start_run() as run:
        return run.info.run_id


def artifact_root(run_id: str) -> Path:
    return Path(mlflow.get_run(run_id).info.artifact_uri.removeprefix("file://"))


def test_layout_is_relative_to_the_store(run_id: str, isolated: Path) -> None:
    run = mlflow.get_run(run_id)
    expected = isolated / "mlruns" / "artifacts" / run.info.experiment_id / run_id
    assert artifact_root(run_id) == expected


def test_store_folder_can_be_moved(run_id: str, isolated: Path, tmp_path: Path) -> None:
    mlflow.log_text("kept", "note.txt", run_id=run_id)
    from traza.store import uri

    for s in uri._open_stores.values():
        s.close()
    uri._open_stores.clear()
    (isolated / "mlruns").rename(tmp_path / "moved")
    mlflow.set_tracking_uri(str(tmp_path / "moved"))
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/note.txt") == "kept"


def test_log_artifact_and_artifacts(run_id: str, isolated: Path) -> None:
    (isolated / "model.bin").write_bytes(b"\x00\x01")
    folder = isolated / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    mlflow.log_artifact(str(isolated / "model.bin"), run_id=run_id)
    mlflow.log_artifact(str(isolated / "model.bin"), artifact_path="models/v1", run_id=run_id)
    mlflow.log_artifacts(str(folder), artifact_path="figs", run_id=run_id)
    client = mlflow.MlflowClient()
    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir, f.file_size) for f in top] == [
        ("figs", True, None),
        ("model.bin", False, 2),
        ("models", True, None),
    ]
    assert [f.path for f in client.list_artifacts(run_id, "figs")] == ["figs/a.txt", "figs/sub"]
    assert client.list_artifacts(run_id, "missing") == []
    local = client.download_artifacts(run_id, "figs", str(isolated / "dl"))
    assert Path(local, "sub", "b.txt").read_text() == "b"
    single = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="models/v1/model.bin", dst_path=str(isolated / "one")
    )
    assert Path(single).read_bytes() == b"\x00\x01"


def test_log_text_dict_and_load(run_id: str) -> None:
    mlflow.log_text("hello\n", "notes/readme.md", run_id=run_id)
    mlflow.log_dict({"a": [1, 2], "b": {"c": "d"}}, "cfg/config.json", run_id=run_id)
    mlflow.log_dict({"a": [1, 2]}, "cfg/config.yaml", run_id=run_id)
    root = artifact_root(run_id)
    assert json.loads((root / "cfg" / "config.json").read_text()) == {"a": [1, 2], "b": {"c": "d"}}
    assert (root / "cfg" / "config.yaml").read_text().startswith("a:\n- 1\n")
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/cfg/config.yaml") == {"a": [1, 2]}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.md") == "hello\n"
    assert mlflow.artifacts.load_text((root / "notes" / "readme.md").as_uri()) == "hello\n"


def test_log_figure_matplotlib(run_id: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    mlflow.log_figure(fig, "plots/line.png", run_id=run_id)
    plt.close(fig)
    assert (artifact_root(run_id) / "plots" / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_log_image_numpy_round_trips(run_id: str) -> None:
    import matplotlib.image
    import numpy as np

    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[1, 2] = [255, 10, 20]
    mlflow.log_image(rgb, "img/rgb.png", run_id=run_id)
    back = matplotlib.image.imread(artifact_root(run_id) / "img" / "rgb.png")
    assert back.shape == (4, 6, 3)
    assert (np.round(back * 255).astype(np.uint8) == rgb).all()
    grey = np.linspace(0, 1, 12).reshape(3, 4)
    mlflow.log_image(grey, key="progress", step=2, run_id=run_id)
    files = mlflow.MlflowClient().list_artifacts(run_id, "images/progress")
    assert len(files) == 1 and files[0].path.startswith("images/progress/step_2_")
    assert mlflow.get_run(run_id).data.tags["mlflow.loggedImages"] == "true"
    with pytest.raises(TrazaException):
        mlflow.log_image(np.full((2, 2), 2.0), "bad.png", run_id=run_id)


@pytest.mark.parametrize(
    "path", ["../escape", "a/../../escape", "/abs/path", "a\\..\\b", "C:/x", "..", "a/./../.."]
)
def test_paths_cannot_leave_the_root(run_id: str, isolated: Path, path: str) -> None:
    (isolated / "f.txt").write_text("x")
    with pytest.raises(TrazaException) as e:
        mlflow.log_artifact(str(isolated / "f.txt"), artifact_path=path, run_id=run_id)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(TrazaException):
        mlflow.MlflowClient().download_artifacts(run_id, path, str(isolated / "dl"))
    with pytest.raises(TrazaException):
        mlflow.log_text("x", f"{path}/t.txt", run_id=run_id)
    assert not (isolated / "escape").exists()


def test_symlinks_cannot_escape(run_id: str, isolated: Path) -> None:
    outside = isolated / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = artifact_root(run_id)
    root.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, root / "link")
    (isolated / "f.txt").write_text("x")
    with pytest.raises(TrazaException, match="outside"):
        mlflow.log_artifact(str(isolated / "f.txt"), artifact_path="link", run_id=run_id)
    assert not (outside / "f.txt").exists()
    source = isolated / "tree"
    (source / "link").mkdir(parents=True)
    (source / "link" / "planted.txt").write_text("x")
    with pytest.raises(TrazaException, match="outside"):
        mlflow.log_artifacts(str(source), run_id=run_id)
    assert not (outside / "planted.txt").exists()
    client = mlflow.MlflowClient()
    with pytest.raises(TrazaException, match="outside"):
        client.download_artifacts(run_id, "link/secret.txt", str(isolated / "dl"))
    with pytest.raises(TrazaException, match="outside"):
        client.list_artifacts(run_id, "link")
    with pytest.raises(TrazaException, match="outside"):
        client.download_artifacts(run_id, "", str(isolated / "dl2"))


def test_missing_local_file(run_id: str) -> None:
    with pytest.raises(TrazaException, match="no such file"):
        mlflow.log_artifact("does-not-exist.txt", run_id=run_id)


def test_get_artifact_uri() -> None:
    with mlflow.start_run() as run:
        assert mlflow.get_artifact_uri() == run.info.artifact_uri
        assert mlflow.get_artifact_uri("a/b.txt") == run.info.artifact_uri + "/a/b.txt"


def test_a_listing_skips_copies_in_flight_and_files_gone_since_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upload is written beside its target and renamed in: a listing never shows the
    half-written copy, and a file renamed or deleted between the scan and its stat is left out
    instead of failing the whole listing (the REST fuzzer met a 500 there)."""
    from traza.artifacts import local

    root = tmp_path / "artifacts"
    root.mkdir()
    (root / "kept.txt").write_text("kept")
    (root / ".model.pkl.k3j2h1.part").write_text("half")
    (root / "gone.txt").write_text("gone")
    real_scandir = os.scandir

    def scan_then_remove(path: object) -> object:
        entries = list(real_scandir(path))  # type: ignore[arg-type]
        (root / "gone.txt").unlink(missing_ok=True)
        return iter(entries)

    monkeypatch.setattr(local.os, "scandir", scan_then_remove)
    listed = local.LocalArtifactRepository(str(root)).list_artifacts()
    assert [(f.path, f.is_dir, f.file_size) for f in listed] == [("kept.txt", False, 4)]


def test_a_name_too_long_for_the_filesystem_is_a_clear_error(tmp_path: Path) -> None:
    """A name over 255 bytes (the REST fuzzer's long Unicode path) is the caller's mistake:
    INVALID_PARAMETER_VALUE naming the limit, for a listing, a download and an upload alike."""
    from traza.artifacts import local

    repo = local.LocalArtifactRepository(str(tmp_path / "artifacts"))
    name = "ṱ̺̺o͞ " * 40  # 40 x 11 bytes
    (tmp_path / "x").write_text("x")
    for call in (
        lambda: repo.list_artifacts(name),
        lambda: repo.download_artifacts(f"dir/{name}", tmp_path / "out"),
        lambda: repo.log_artifact(tmp_path / "x", name),
    ):
        with pytest.raises(TrazaException, match="at most 255 bytes a name") as err:
            call()
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert repo.list_artifacts("short") == []
