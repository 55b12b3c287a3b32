"""Differential test: one XGBoost/LightGBM script under ``mlflow.<flavor>.autolog`` and under
``traza.<flavor>.autolog`` records the same.

``differential/boosting_train.py`` is written once (``import {lib} as mlflow`` in spirit: it
takes the library's name) and runs twice, each in its own process and empty directory: with
the real ``mlflow`` (``sqlite:///mlflow.db``) and with ``traza`` (its default ``./mlruns``).
Each run then reads back what it recorded through its own library. Cases cover the native
``train`` and the scikit-learn wrappers of both libraries, with and without early stopping,
and a multi-class classifier with two XGBoost importance types.

Compared per case: run status; params (keys and values); tag keys, and the values of the
tags autologging sets; every metric's (step, value) history; run artifact names, with the
feature-importance JSON contents; the datasets' names and contexts; the logged models' name,
status, flavors, signature and whether they carry an input example, and for ``train`` the
metric keys linked to the model.

Left out, with the reason: dataset digests (``traza.data`` hashes data its own way); run
names (random); the metrics MLflow's ``log_model`` links to a model after the fact (a wrapper
model's step-0 metrics), which Traza's ``log_model`` does not link.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("mlflow") is None:
    raise ImportError("the differential test needs mlflow==3.17.2: pip install -e '.[test]'")

SCRIPT = Path(__file__).parent / "differential" / "boosting_train.py"
TIMEOUT = 900
CASES = [
    "xgb-native",
    "xgb-native-es",
    "xgb-sklearn",
    "xgb-sklearn-es",
    "xgb-classifier",
    "lgb-native",
    "lgb-native-es",
    "lgb-sklearn",
    "lgb-sklearn-es",
]
AUTOLOG_TAGS = ("mlflow.autologging",)


def _record(lib: str, directory: Path) -> dict[str, Any]:
    directory.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "TRAZA_")) and k != "PYTHONPATH"
    }
    env["MPLBACKEND"] = "Agg"
    out = directory / "recorded.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), lib, str(out), *CASES],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, f"{lib} script failed:\n{result.stderr[-4000:]}"
    recorded: dict[str, Any] = json.loads(out.read_text())
    return recorded


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("boosting-differential")
    return {lib: _record(lib, root / lib) for lib in ("mlflow", "traza")}


def _pair(recorded: dict[str, dict[str, Any]], case: str) -> tuple[dict[str, Any], ...]:
    return recorded["mlflow"][case], recorded["traza"][case]


@pytest.mark.parametrize("case", CASES)
def test_params_match(recorded: dict[str, dict[str, Any]], case: str) -> None:
    theirs, ours = _pair(recorded, case)
    assert ours["status"] == theirs["status"] == "FINISHED"
    assert ours["params"] == theirs["params"]


@pytest.mark.parametrize("case", CASES)
def test_tags_match(recorded: dict[str, dict[str, Any]], case: str) -> None:
    theirs, ours = _pair(recorded, case)
    assert set(ours["tags"]) == set(theirs["tags"])
    for key in AUTOLOG_TAGS:
        assert ours["tags"][key] == theirs["tags"][key]


@pytest.mark.parametrize("case", CASES)
def test_metric_histories_match(recorded: dict[str, dict[str, Any]], case: str) -> None:
    theirs, ours = _pair(recorded, case)
    assert set(ours["history"]) == set(theirs["history"])
    for key, points in theirs["history"].items():
        mine = ours["history"][key]
        assert [step for step, _ in mine] == [step for step, _ in points], key
        for (_, value), (_, expected) in zip(mine, points, strict=True):
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("case", CASES)
def test_artifacts_match(recorded: dict[str, dict[str, Any]], case: str) -> None:
    theirs, ours = _pair(recorded, case)
    assert set(ours["artifacts"]) == set(theirs["artifacts"])
    for path, content in theirs["artifacts"].items():
        if path.startswith("feature_importance_") and path.endswith(".json"):
            assert ours["artifacts"][path] == pytest.approx(content, rel=1e-9), path
        elif content is not None:  # metric_info.json: which call each metric came from
            assert ours["artifacts"][path] == content, path


@pytest.mark.parametrize("case", CASES)
def test_datasets_match(recorded: dict[str, dict[str, Any]], case: str) -> None:
    theirs, ours = _pair(recorded, case)

    def without_digest(inputs: list[Any]) -> list[Any]:
        return sorted((name, tags) for name, _, tags in inputs)

    assert without_digest(ours["inputs"]) == without_digest(theirs["inputs"])


@pytest.mark.parametrize("case", CASES)
def test_logged_models_match(recorded: dict[str, dict[str, Any]], case: str) -> None:
    theirs, ours = _pair(recorded, case)

    def described(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in m.items() if k != "metrics"} for m in models]

    assert described(ours["models"]) == described(theirs["models"])
    if "native" in case:  # metrics logged with the model's id while training
        for mine, real in zip(ours["models"], theirs["models"], strict=True):
            assert {k for k, _ in mine["metrics"]} == {k for k, _ in real["metrics"]}


def test_cases_exercise_what_they_claim(recorded: dict[str, dict[str, Any]]) -> None:
    """The comparison is not vacuous: the script logged what each case is about."""
    ours = recorded["traza"]
    for case in CASES:
        assert any(len(points) > 3 for points in ours[case]["history"].values()), case
        assert any(a.endswith(".json") for a in ours[case]["artifacts"]), case
    for case in ("xgb-native-es", "xgb-sklearn-es", "lgb-native-es", "lgb-sklearn-es"):
        assert {"stopped_iteration", "best_iteration"} <= set(ours[case]["history"]), case
    assert "mean_squared_error_X_eval" in ours["xgb-sklearn"]["history"]
    assert "mean_squared_error_X_eval" in ours["lgb-sklearn"]["history"]
    assert "feature_importance_total_gain.png" in ours["xgb-classifier"]["artifacts"]
