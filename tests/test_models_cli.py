"""``traza models predict`` and ``serve`` through CliRunner, and the model's own environment
built with uv (slow: a real PyPI install, once per session; the cached environment is reused)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import urllib3
from click.testing import CliRunner, Result
from sklearn.linear_model import LogisticRegression

import traza.sklearn
from traza.cli import main
from traza.environments.interpreters import find_python
from traza.models import infer_signature
from traza.scoring.environment import get_or_create_env, model_spec

FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "y": [1.0, 0.0, 1.0, 0.0, 1.0, 0.5]})
LABELS = [0, 0, 0, 1, 1, 1]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    estimator = LogisticRegression().fit(FRAME, LABELS)
    path = tmp_path_factory.mktemp("cli") / "model"
    traza.sklearn.save_model(
        estimator,
        path,
        signature=infer_signature(FRAME, estimator.predict(FRAME)),
        input_example=FRAME.head(2),
    )
    return path, estimator


def test_predict_csv_and_json(model_dir: tuple[Path, Any], tmp_path: Path) -> None:
    path, estimator = model_dir
    expected = {"predictions": estimator.predict(FRAME).tolist()}
    FRAME.to_csv(tmp_path / "in.csv", index=False)
    result = run("models", "predict", "-m", str(path), "-i", str(tmp_path / "in.csv"),
                 "-o", str(tmp_path / "out.json"), "-t", "csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out.json").read_text()) == expected
    for body in (
        {"dataframe_split": FRAME.to_dict(orient="split")},
        {"dataframe_records": FRAME.to_dict(orient="records")},
        {"inputs": {c: FRAME[c].tolist() for c in FRAME}},
    ):
        (tmp_path / "in.json").write_text(json.dumps(body))
        result = run("models", "predict", "-m", str(path), "-i", str(tmp_path / "in.json"))
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == expected


def test_predict_reads_stdin(model_dir: tuple[Path, Any]) -> None:
    path, estimator = model_dir
    body = json.dumps({"dataframe_split": FRAME.head(2).to_dict(orient="split")})
    result = CliRunner().invoke(main, ["models", "predict", "-m", str(path)], input=body)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"predictions": estimator.predict(FRAME.head(2)).tolist()}


def test_predict_errors_are_clean(model_dir: tuple[Path, Any], tmp_path: Path) -> None:
    path, _ = model_dir
    (tmp_path / "bad.json").write_text(json.dumps({"dataframe_records": [{"x": 1.0}]}))
    result = run("models", "predict", "-m", str(path), "-i", str(tmp_path / "bad.json"))
    assert result.exit_code == 1 and "['y']" in result.output
    assert "Traceback" not in result.output
    result = run("models", "predict", "-m", str(path), "-i", str(tmp_path / "missing.json"))
    assert result.exit_code == 1 and "No input file" in result.output
    result = run("models", "predict", "-m", str(tmp_path / "nowhere"), "-i", "x.json")
    assert result.exit_code == 1 and "nowhere" in result.output
    assert "RESOURCE_DOES_NOT_EXIST" not in result.output
    result = run("models", "serve", "-m", str(path), "--env-manager", "conda")
    assert result.exit_code == 2 and "not supported" in result.output


def test_help_lists_the_commands() -> None:
    result = run("models", "--help")
    assert "serve" in result.output and "predict" in result.output
    result = run("models", "serve", "--help")
    for flag in ("--model-uri", "--port", "--host", "--workers", "--env-manager", "--no-conda"):
        assert flag in result.output


def test_environment_spec(model_dir: tuple[Path, Any], tmp_path: Path) -> None:
    path, _ = model_dir
    spec = model_spec(path)
    assert spec.python == ".".join(map(str, sys.version_info[:3]))
    assert any(r.startswith("scikit-learn==") for r in spec.requirements)
    assert not any(r.startswith(("mlflow", "traza")) for r in spec.requirements)
    assert spec.key_text() == model_spec(path).key_text()
    assert find_python(spec.python)  # the running interpreter at least
    assert find_python(".".join(spec.python.split(".")[:2]) + ".999")  # same minor: a warning
    with pytest.raises(traza.exceptions.TrazaException, match=r"no Python 2\.5"):
        find_python("2.5.1")


# -- the real thing: uv, PyPI -------------------------------------------------------------
@pytest.fixture(scope="session")
def env_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("env-cache")


HAS_UV = shutil.which("uv") is not None or (Path(sys.executable).parent / "uv").exists()


@pytest.mark.skipif(not HAS_UV, reason="uv is not installed (pip install 'traza[envs]')")
def test_virtualenv_predict_and_serve(
    model_dir: tuple[Path, Any], env_cache: Path, tmp_path: Path
) -> None:
    path, estimator = model_dir
    expected = {"predictions": estimator.predict(FRAME).tolist()}
    started = time.monotonic()
    env = get_or_create_env(path, env_cache)
    built = time.monotonic() - started
    assert env.parent == env_cache and (env / "bin" / "python").exists()
    assert not [p for p in env_cache.iterdir() if p.name.startswith(".tmp-")]  # no leftovers
    again = time.monotonic()
    assert get_or_create_env(path, env_cache) == env
    assert time.monotonic() - again < min(2.0, built)  # the cache answers

    FRAME.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.json"
    cli = [sys.executable, "-m", "traza", "models"]
    done = subprocess.run(
        [*cli, "predict", "-m", str(path), "-i", str(tmp_path / "in.csv"), "-o", str(out),
         "-t", "csv", "--env-manager", "virtualenv", "--env-cache-dir", str(env_cache)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == expected

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [*cli, "serve", "-m", str(path), "-p", str(port), "--env-manager", "uv",
         "--env-cache-dir", str(env_cache)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    http = urllib3.PoolManager(retries=False)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read()  # type: ignore[union-attr]
            try:
                http.request("GET", f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except urllib3.exceptions.HTTPError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        response = http.request(
            "POST", f"http://127.0.0.1:{port}/invocations", body=FRAME.to_csv(index=False),
            headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        assert json.loads(response.data) == expected
        # The server runs in the model's environment (exec: the same process).
        command = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert command[0].decode() == str(env / "bin" / "python")
        listed = subprocess.run(
            [str(env / "bin" / "python"), "-c", "import traza, importlib.util as u; "
             "print(traza.__file__, u.find_spec('mlflow') is None)"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert str(env) in listed and listed.split()[-1] == "True"  # a wheel install, no mlflow
    finally:
        server.terminate()
        server.wait(10)
        if server.stderr is not None:
            server.stderr.close()
