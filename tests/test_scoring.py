"""The scoring server over a real socket: every input format, errors, health and metrics, the
CLI as a subprocess, and MLflow's own scoring server answering the same requests the same way."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import urllib3
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

import traza.pyfunc
import traza.sklearn
from traza.models import infer_signature
from traza.scoring.app import ScoringSettings, create_app
from traza.scoring.outputs import predictions_json
from traza.server.background import BackgroundServer

HTTP = urllib3.PoolManager(retries=False, timeout=30)
FEATURES = pd.DataFrame(
    {
        "a": [1.0, 2.5, 3.0, 4.5, 5.0, 0.5, 2.0, 3.5],
        "b": [0.5, 1.0, 2.0, 3.0, 0.1, 4.0, 2.2, 1.1],
        "c": [1, 2, 3, 4, 5, 6, 7, 8],
    }
)
TARGET = [0, 1, 0, 1, 1, 0, 1, 0]


@pytest.fixture(scope="module")
def classifier() -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(FEATURES, TARGET)


@pytest.fixture(scope="module")
def traza_model(tmp_path_factory: pytest.TempPathFactory, classifier: Any) -> Path:
    path = tmp_path_factory.mktemp("models") / "traza-rf"
    traza.sklearn.save_model(
        classifier,
        path,
        signature=infer_signature(FEATURES, classifier.predict(FEATURES)),
        input_example=FEATURES.head(2),
    )
    return path


@pytest.fixture(scope="module")
def regressor() -> LinearRegression:
    return LinearRegression().fit(FEATURES, np.arange(len(FEATURES)) * 0.37)


@pytest.fixture(scope="module")
def mlflow_model(tmp_path_factory: pytest.TempPathFactory, regressor: Any) -> Path:
    """Saved by the real MLflow (skops, its default format)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature as mlflow_infer_signature

    path = tmp_path_factory.mktemp("models") / "mlflow-linear"
    mlflow.sklearn.save_model(
        regressor,
        str(path),
        signature=mlflow_infer_signature(FEATURES, regressor.predict(FEATURES)),
        input_example=FEATURES.head(2),
    )
    return path


@pytest.fixture(scope="module")
def server(traza_model: Path) -> Iterator[str]:
    with BackgroundServer(create_app(traza.pyfunc.load_model(traza_model))) as s:
        yield s.url


def post(url: str, body: str | bytes, content_type: str | None = "application/json") -> Any:
    headers = {"Content-Type": content_type} if content_type else {}
    data = body.encode() if isinstance(body, str) else body
    return HTTP.request("POST", url + "/invocations", body=data, headers=headers)


def split_body(frame: pd.DataFrame) -> str:
    return json.dumps({"dataframe_split": frame.to_dict(orient="split")})


def bodies(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """One request per format, all of ``frame``: name → (content type, body)."""
    records = frame.to_dict(orient="records")
    columns = {c: frame[c].tolist() for c in frame.columns}
    return {
        "split": ("application/json", split_body(frame)),
        "records": ("application/json", json.dumps({"dataframe_records": records})),
        "instances": ("application/json", json.dumps({"instances": records})),
        "inputs-columns": ("application/json", json.dumps({"inputs": columns})),
        "inputs-records": ("application/json", json.dumps({"inputs": records})),
        "csv": ("text/csv", frame.to_csv(index=False)),
        "csv-utf8": ("text/csv; charset=utf-8", frame.to_csv(index=False)),
        "params": (
            "application/json",
            json.dumps({"dataframe_split": frame.to_dict(orient="split"), "params": {}}),
        ),
    }


@pytest.mark.parametrize("name", list(bodies(FEATURES)))
def test_every_format_scores_like_predict(server: str, classifier: Any, name: str) -> None:
    content_type, body = bodies(FEATURES)[name]
    response = post(server, body, content_type)
    assert response.status == 200, response.data
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.data) == {"predictions": classifier.predict(FEATURES).tolist()}


def test_one_row_and_many_rows(server: str, classifier: Any) -> None:
    many = pd.concat([FEATURES] * 200, ignore_index=True)
    for frame in (FEATURES.head(1), many):
        response = post(server, split_body(frame))
        assert json.loads(response.data)["predictions"] == classifier.predict(frame).tolist()


def test_mlflow_saved_model(mlflow_model: Path, regressor: Any) -> None:
    with BackgroundServer(create_app(traza.pyfunc.load_model(mlflow_model))) as s:
        for content_type, body in bodies(FEATURES).values():
            response = post(s.url, body, content_type)
            assert response.status == 200, (content_type, response.data)
            got = json.loads(response.data)["predictions"]
            assert got == pytest.approx(regressor.predict(FEATURES).tolist(), rel=0, abs=0)


def error_of(response: Any, status: int = 400) -> str:
    assert response.status == status, response.data
    payload = json.loads(response.data)
    assert set(payload) == {"error_code", "message"} and "Traceback" not in payload["message"]
    assert payload["error_code"] == "BAD_REQUEST"
    return str(payload["message"])


def test_schema_mismatch_names_the_column(server: str) -> None:
    message = error_of(post(server, split_body(FEATURES[["a", "b"]])))
    assert "missing inputs ['c']" in message
    bad = FEATURES.head(2).astype({"a": object})
    bad.loc[0, "a"] = "not a number"
    message = error_of(post(server, split_body(bad)))
    assert "column a" in message and "not a number" in message
    message = error_of(post(server, "a,b\n1,2\n", "text/csv"))
    assert "missing inputs ['c']" in message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('{"dataframe_split": ', "valid JSON"),
        ("[1, 2]", "Received a list"),
        ('{"columns": ["a"], "data": [[1]]}', "exactly one of the input fields"),
        ('{"inputs": [1], "instances": [1]}', "exactly one of the input fields"),
        ('{"dataframe_split": [[1, 2]]}', "must be a dictionary"),
        ('{"dataframe_split": {"cols": ["a"], "data": [[1]]}}', "'data' field"),
        ('{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2]]}}', "split"),
        ('{"dataframe_records": {"a": 1}}', "list of records"),
        ('{"instances": [{"a": 1, "b": 2, "c": 3}, {"a": 1}]}', "length of values"),
        ('{"inputs": {"a": ["x"], "b": [1], "c": [1]}}', "'a'"),
        ('{"dataframe_split": {"data": [[1, 2, 3]]}, "params": [1]}', "params"),
        (b"\xff\xfe", "valid JSON"),
    ],
)
def test_malformed_json_is_a_bad_request(server: str, body: str | bytes, needle: str) -> None:
    assert needle in error_of(post(server, body))


def test_bad_csv_and_media_types(server: str) -> None:
    assert "UTF-8" in error_of(post(server, b"a,b,c\n1,2,3\n\xff,1,2\n", "text/csv"))
    assert "CSV" in error_of(post(server, "a,b,c\nx,2,3\n", "text/csv"))
    assert "CSV" in error_of(post(server, 'a,b,c\n"1,2,3\n', "text/csv"))
    for content_type in ("text/plain", "application/xml", None, "text/csv; charset=latin-1"):
        response = post(server, "a,b,c\n1,2,3\n", content_type)
        assert response.status == 415, (content_type, response.data)
        assert response.data  # plain text saying what is supported


def test_unexpected_model_errors_are_400_without_a_traceback(tmp_path: Path) -> None:
    class Broken:
        metadata = traza.models.Model()

        def predict(self, data: Any, params: Any = None) -> Any:
            raise ValueError("the model does not like this")

    with BackgroundServer(create_app(Broken())) as s:
        message = error_of(post(s.url, split_body(FEATURES)))
        assert "unexpected error while evaluating the model" in message
        assert "the model does not like this" in message


def test_health_version_routes(server: str) -> None:
    for path in ("/ping", "/health"):
        response = HTTP.request("GET", server + path)
        assert response.status == 200
    assert HTTP.request("GET", server + "/version").data.decode() == traza.__version__
    assert HTTP.request("GET", server + "/nowhere").status == 404
    assert HTTP.request("GET", server + "/invocations").status == 405
    assert HTTP.request("POST", server + "/ping").status == 405


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests(traza_model: Path) -> None:
    with BackgroundServer(create_app(traza.pyfunc.load_model(traza_model))) as s:

        def scrape() -> str:
            response = HTTP.request("GET", s.url + "/metrics")
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return str(response.data.decode())

        before = scrape()
        assert metric(before, "traza_scoring_rows_total") == 0
        post(s.url, split_body(FEATURES))
        post(s.url, split_body(FEATURES.head(1)))
        post(s.url, split_body(FEATURES[["a"]]))
        post(s.url, "x", "text/plain")
        after = scrape()
    ok = 'traza_scoring_requests_total{endpoint="/invocations",status="200"}'
    bad = 'traza_scoring_requests_total{endpoint="/invocations",status="400"}'
    assert metric(after, ok) == 2 and metric(after, bad) == 1
    assert metric(after, "traza_scoring_rows_total") == len(FEATURES) + 1
    assert metric(after, 'traza_scoring_errors_total{error_code="BAD_REQUEST"}') == 1
    assert metric(after, 'traza_scoring_errors_total{error_code="UNSUPPORTED_MEDIA_TYPE"}') == 1
    assert metric(after, "traza_scoring_request_duration_seconds_count") == 4
    assert metric(after, 'traza_scoring_request_duration_seconds_bucket{le="+Inf"}') == 4
    assert 'traza_scoring_request_duration_seconds_bucket{le="0.001"}' in after
    assert "# TYPE traza_scoring_request_duration_seconds histogram" in after


def test_predictions_in_a_thread_keep_ping_answering_and_time_out(traza_model: Path) -> None:
    release = threading.Event()

    class Slow:
        metadata = traza.models.Model()

        def predict(self, data: Any, params: Any = None) -> Any:
            release.wait(5)
            return np.zeros(len(data))

    settings = ScoringSettings(model_uri="", timeout=0.5, inline_limit=0)
    with BackgroundServer(create_app(Slow(), settings)) as s:
        result: list[Any] = []
        worker = threading.Thread(target=lambda: result.append(post(s.url, split_body(FEATURES))))
        worker.start()
        time.sleep(0.1)
        assert HTTP.request("GET", s.url + "/ping").status == 200  # the loop is free
        worker.join()
        release.set()
        assert result[0].status == 504
    model = traza.pyfunc.load_model(traza_model)
    with BackgroundServer(create_app(model, settings)) as s:
        assert json.loads(post(s.url, split_body(FEATURES)).data)["predictions"] == (
            model.predict(FEATURES).tolist()
        )


# -- the output encoding, against MLflow's own -----------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        np.array([1.5, 2.25, 1e-5, 1e16]),
        np.array([0.1, 0.7], dtype=np.float32),
        np.array([[1, 2], [3, 4]], dtype=np.int32),
        np.array([True, False]),
        np.array(["a", "b"]),
        np.array(["x", 1, 2.5, None], dtype=object),
        np.array([1.0, math.nan, math.inf]),
        pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}),
        pd.Series([0.25, 0.5], name="p"),
        pd.DataFrame({"x": [1.0, math.nan]}),
        [1, 2, 3],
        {"probabilities": np.array([[0.1, 0.9]]), "label": np.int64(1)},
        np.float32(0.1),
    ],
)
def test_predictions_are_encoded_as_mlflow_encodes_them(raw: Any) -> None:
    import io

    from mlflow.pyfunc.scoring_server import predictions_to_json

    theirs = io.StringIO()
    predictions_to_json(raw, theirs)

    def canonical(text: str | bytes) -> str:  # NaN != NaN, so compare re-encoded text
        return json.dumps(json.loads(text), sort_keys=True)

    assert canonical(predictions_json(raw)) == canonical(theirs.getvalue())


# -- real processes ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stderr.read()!r}")  # type: ignore[union-attr]
        try:
            if HTTP.request("GET", url + "/ping", timeout=1).status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer /ping in {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.stderr is not None:
        process.stderr.close()


def spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


@pytest.fixture
def traza_process(traza_model: Path) -> Iterator[str]:
    port = free_port()
    process = spawn(
        [sys.executable, "-m", "traza", "models", "serve", "-m", str(traza_model),
         "-p", str(port), "-w", "2"]
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        stop(process)


def test_cli_server_with_two_workers(traza_process: str, classifier: Any) -> None:
    for content_type, body in bodies(FEATURES).values():
        response = post(traza_process, body, content_type)
        assert json.loads(response.data) == {"predictions": classifier.predict(FEATURES).tolist()}


PARITY_BODIES = {
    **bodies(FEATURES),
    "one-row": ("application/json", split_body(FEATURES.head(1))),
    "float-for-long": (
        "application/json",
        '{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3.7]]}}',
    ),
    "nulls": ("application/json", '{"dataframe_records": [{"a": 1, "b": null, "c": 3}]}'),
    "missing-column": ("application/json", split_body(FEATURES[["a", "b"]])),
    "malformed": ("application/json", '{"dataframe_split": '),
    "no-format-key": ("application/json", '{"data": [[1, 2, 3]]}'),
    "list": ("application/json", "[1, 2, 3]"),
    "unknown-type": ("text/plain", "a,b,c\n1,2,3\n"),
    "latin-1": ("text/csv; charset=latin-1", "a,b,c\n1,2,3\n"),
}


def test_same_answers_as_mlflow_models_serve(mlflow_model: Path) -> None:
    """Both servers on the same MLflow-saved model: identical predictions, identical statuses
    (error messages are Traza's own; the error code can differ, see the README)."""
    mlflow_port, traza_port = free_port(), free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    # mlflow runs `uvicorn` from PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": "", "PATH": path}
    theirs = subprocess.Popen(
        [str(mlflow_bin), "models", "serve", "-m", str(mlflow_model), "-p", str(mlflow_port),
         "--env-manager", "local"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env,
    )  # fmt: skip
    ours = spawn(
        [sys.executable, "-m", "traza", "models", "serve", "-m", str(mlflow_model),
         "-p", str(traza_port)]
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{mlflow_port}", theirs, timeout=120)
        wait_ready(f"http://127.0.0.1:{traza_port}", ours)
        for name, (content_type, body) in PARITY_BODIES.items():
            a = post(f"http://127.0.0.1:{mlflow_port}", body, content_type)
            b = post(f"http://127.0.0.1:{traza_port}", body, content_type)
            assert a.status == b.status, (name, a.data, b.data)
            if a.status == 200:
                assert json.loads(a.data) == json.loads(b.data), name
            elif a.status == 400:
                assert json.loads(b.data)["error_code"] == "BAD_REQUEST", name
                assert set(json.loads(a.data)) >= {"error_code", "message"}, name
    finally:
        stop(theirs)
        stop(ours)


# -- the forest fast path --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["forest", "extra-trees", "two-outputs", "n_jobs", "classifier"])
def test_forest_fast_path_is_identical_or_not_used(tmp_path: Path, kind: str) -> None:
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

    from traza.scoring.fastpath import ForestRegressorPredict, accelerate

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("wxyz"))
    target: Any = frame.sum(axis=1).to_numpy()
    if kind == "two-outputs":
        target = np.column_stack([target, -target])
    estimator: Any = {
        "extra-trees": ExtraTreesRegressor(n_estimators=20, random_state=0),
        "n_jobs": RandomForestRegressor(n_estimators=20, n_jobs=2, random_state=0),
        "classifier": RandomForestClassifier(n_estimators=20, random_state=0),
    }.get(kind, RandomForestRegressor(n_estimators=20, random_state=0))
    estimator.fit(frame, target > 0 if kind == "classifier" else target)
    traza.sklearn.save_model(estimator, tmp_path / "m", input_example=frame.head(2))
    model = traza.pyfunc.load_model(tmp_path / "m")
    fast = accelerate(model)
    expected_fast = kind in ("forest", "extra-trees", "two-outputs")
    assert isinstance(fast._model_impl, ForestRegressorPredict) == expected_fast
    # With n_jobs=2 sklearn sums trees in completion order: its own results vary in the last bit.
    same = np.allclose if kind == "n_jobs" else np.array_equal
    rows = pd.DataFrame(rng.normal(size=(500, 4)) * 2, columns=list("wxyz"))
    for n in (1, 17, 500):
        assert same(fast.predict(rows.head(n)), estimator.predict(rows.head(n)))
    with BackgroundServer(create_app(model)) as s:
        got = json.loads(post(s.url, split_body(rows)).data)["predictions"]
    assert same(got, estimator.predict(rows).tolist())
