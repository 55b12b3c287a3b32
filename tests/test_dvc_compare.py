"""``traza reproduce``'s verdict on metrics (equal, within the tolerance, different, missing),
and what it does to the disk around the work tree."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from traza import reproduce
from traza.reproduce import Reproduction, compare_metrics, format_report


def test_each_metric_gets_a_verdict() -> None:
    original = {"r2": 0.9, "mae": 100.0, "zero": 0.0, "nan": math.nan, "gone": 1.0, "far": 1.0}
    again = {"r2": 0.9, "mae": 100.0 + 1e-7, "zero": 1e-12, "nan": math.nan, "far": 1.1, "x": 2.0}
    verdicts = {c.key: c.result for c in compare_metrics(original, again, tolerance=1e-6)}
    assert verdicts == {
        "r2": "equal",
        "mae": "within tolerance",  # relative: 1e-9 of the value
        "zero": "within tolerance",  # absolute near zero
        "nan": "equal",
        "gone": "missing",
        "far": "different",
        "x": "new",
    }
    strict = {c.key: c.result for c in compare_metrics(original, again, tolerance=0.0)}
    assert strict["mae"] == strict["zero"] == "different"


def test_the_report_counts_the_original_metrics() -> None:
    comparisons = compare_metrics({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0, "c": 3.0}, 1e-9)
    result = Reproduction("old", "new", comparisons)
    assert result.matches  # a metric only the reproduction logged does not fail it
    report = format_report(result)
    assert report.splitlines()[0].split() == ["metric", "original", "reproduced", "result"]
    assert "c       -         3.0         new" in report
    assert report.splitlines()[-1] == (
        "Run new reproduced run old: 2 of 2 metrics match (equal or within the tolerance)."
    )
    assert not Reproduction("old", "new", compare_metrics({"a": 1.0}, {"a": 2.0}, 0.1)).matches


def test_data_recorded_outside_the_repository_is_never_written(tmp_path: Path) -> None:
    """A run's record (imported, or made by hand) may name a path outside the repository: the
    reproduction notes it and leaves that path alone, even when the cache has its md5."""
    md5 = "ab" + "c" * 30
    cache = tmp_path / "cache"
    (cache / "files" / "md5" / "ab").mkdir(parents=True)
    (cache / "files" / "md5" / "ab" / ("c" * 30)).write_text("cached bytes")
    tree = tmp_path / "tree"
    tree.mkdir()
    precious = tmp_path / "precious.csv"
    precious.write_text("the user's own file")
    inputs = [
        reproduce._Input("abs.csv", str(precious), md5, "data"),
        reproduce._Input("up.csv", "../precious.csv", md5, "data"),
    ]
    notes = reproduce._restore_data(inputs, tree, tree, cache, "r1", lambda _m: None)
    assert precious.read_text() == "the user's own file"
    assert notes == [
        "abs.csv is outside the repository and was not restored",
        "up.csv is outside the repository and was not restored",
    ]


def test_a_failed_worktree_leaves_no_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, timeout=60)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    with (
        pytest.raises(reproduce.ReproduceError, match="worktree add"),
        reproduce._worktree(repo, "0" * 40, False, lambda _m: None),
    ):
        pass
    assert list(temp.iterdir()) == []


def test_a_params_file_missing_at_the_commit_stops_with_a_message(tmp_path: Path) -> None:
    """An uncommitted params.yaml at the run: the commit lacks it, said plainly (not a
    FileNotFoundError traceback)."""
    from traza.lineage import dvc

    stage = dvc.Stage(
        "train", tmp_path / "dvc.yaml", tmp_path, ("python train.py",), (),
        {"params.yaml": ("train",)}, (), tmp_path,
    )  # fmt: skip
    assert dvc.stage_params(stage) == {} and dvc.missing_params_files(stage) == ["params.yaml"]
    with pytest.raises(reproduce.ReproduceError, match=r"params\.yaml is not in commit"):
        reproduce._restore_params(stage, {"train.lr": "0.1"}, "a" * 40, "r1", lambda _m: None)
