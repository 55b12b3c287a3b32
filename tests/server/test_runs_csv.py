"""The runs table's CSV download (``runs/csv``) against the real ``mlflow`` client's
``search_runs`` on the same filter and order."""

from __future__ import annotations

import csv
import io
import json
import math
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from traza.server import runs_csv

from .live import Live, live_server

HTTP = urllib3.PoolManager()
CSV = "/ajax-api/traza/v1/runs/csv"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("csv")
    with live_server(f"sqlite:///{root / 'csv.db'}", root) as s:
        yield s


@pytest.fixture(scope="module")
def experiment(live: Live) -> str:
    import mlflow

    mlflow.set_tracking_uri(live.url)
    client = mlflow.MlflowClient()
    exp = client.create_experiment("csv")
    for i in range(25):
        run = client.create_run(exp, run_name=f'run, "{i}"', tags={"team": "a" if i % 2 else "b"})
        client.log_param(run.info.run_id, "model", "rf" if i % 3 else "linear")
        client.log_metric(run.info.run_id, "rmse", 1 / (i + 1))
        if i % 5 == 0:
            client.log_metric(run.info.run_id, "r2", math.nan if i == 10 else i / 30)
        client.set_terminated(run.info.run_id)
    return exp


def _download(live: Live, **query: object) -> urllib3.BaseHTTPResponse:
    return HTTP.request("GET", f"{live.url}{CSV}?{urllib.parse.urlencode(query, doseq=True)}")


def test_csv_equals_search_runs(
    live: Live, experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setattr(runs_csv, "PAGE", 4)  # several pages streamed from 19 runs
    where = "params.model = 'rf'"
    order = ["metrics.rmse DESC"]
    columns = ["name", "start", "metrics.rmse", "metrics.r2", "params.model", "tags.team"]
    response = _download(
        live, experiment_ids=experiment, filter=where, order_by=order, columns=columns
    )
    assert response.status == 200, response.data
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode())))
    frame = mlflow.search_runs([experiment], filter_string=where, order_by=order)
    assert len(rows) == len(frame) == 16
    assert list(rows[0]) == [
        "run_id", "run_name", "start_time", "metrics.rmse", "metrics.r2", "params.model",
        "tags.team",
    ]  # fmt: skip
    assert [r["run_id"] for r in rows] == list(frame["run_id"])
    for row, (_, want) in zip(rows, frame.iterrows(), strict=True):
        assert row["run_name"] == want["tags.mlflow.runName"]
        assert float(row["metrics.rmse"]) == want["metrics.rmse"]
        r2 = want["metrics.r2"]
        if math.isnan(r2):  # pandas' NaN: no r2 logged, or NaN logged (run 10)
            assert row["metrics.r2"] in ("", "NaN")
        else:
            assert float(row["metrics.r2"]) == r2
        assert row["params.model"] == want["params.model"] == "rf"
        assert row["tags.team"] == want["tags.team"]
        assert row["start_time"].startswith(want["start_time"].isoformat()[:19])


def test_csv_writes_nan_and_default_columns(live: Live, experiment: str) -> None:
    response = _download(live, experiment_ids=experiment, filter="metrics.r2 >= 0")
    text = response.data.decode()
    header = text.splitlines()[0].split(",")
    assert header == list(runs_csv.DEFAULT_COLUMNS)
    response = _download(
        live, experiment_ids=experiment, filter="params.model = 'rf'", columns="metrics.r2"
    )
    values = [r["metrics.r2"] for r in csv.DictReader(io.StringIO(response.data.decode()))]
    assert "NaN" in values and "" in values


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ({"filter": "metrics.rmse = 'x'"}, "rmse"),
        ({"columns": "color"}, "Unknown CSV column 'color'"),
        ({"experiment_ids": "", "filter": "metrics.rmse < 1"}, "experiment id"),
    ],
)
def test_csv_refusals(live: Live, experiment: str, query: dict[str, str], needle: str) -> None:
    response = _download(live, **{"experiment_ids": experiment, **query})
    assert response.status == 400, response.data
    body = json.loads(response.data)
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert needle in body["message"]


def test_csv_route_has_a_permission_rule(tmp_path: Path) -> None:
    from traza.server.routes import all_routes

    route = next(r for r in all_routes() if r.path == "/runs/csv")
    assert route.permission is not None and route.raw
