"""``traza artifacts``, ``traza experiments csv`` and ``traza runs list --columns`` (issue 15,
item 13): MLflow's commands, compared with the real ``mlflow`` CLI on the same runs through a
live ``traza server``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.conftest import served_store

from traza.cli import main
from traza.client import TrazaClient
from traza.entities import Metric, Param
from traza.store.uri import open_store


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    store = open_store(str(tmp_path / "store"))
    try:
        with served_store(store, tmp_path / "mlartifacts") as served:
            yield served
    finally:
        store.close()


def traza(url: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--tracking-uri", url, *args])
    assert result.exit_code == 0, result.output
    return result


def mlflow_cli(url: str, group: str, *args: str) -> Result:
    import mlflow.experiments
    import mlflow.store.artifact.cli

    commands = {"artifacts": mlflow.store.artifact.cli.commands,
                "experiments": mlflow.experiments.commands}  # fmt: skip
    result = CliRunner().invoke(commands[group], list(args), env={"MLFLOW_TRACKING_URI": url})
    assert result.exit_code == 0, result.output
    return result


def test_artifacts_commands_match_mlflow(url: str, tmp_path: Path) -> None:
    run_id = TrazaClient(url).create_run("0").info.run_id
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "dir" / "deep").mkdir(parents=True)
    (tmp_path / "dir" / "b.txt").write_text("beta")
    (tmp_path / "dir" / "deep" / "c.txt").write_text("gamma")
    traza(url, "artifacts", "log-artifact", "-l", str(tmp_path / "a.txt"), "-r", run_id)
    logged = traza(url, "artifacts", "log-artifacts", "-l", str(tmp_path / "dir"), "-r", run_id,
                   "-a", "sub")  # fmt: skip
    assert "Logged artifact from local dir" in logged.stderr
    for extra in ([], ["-a", "sub"], ["-a", "sub/deep"]):
        ours = json.loads(traza(url, "artifacts", "list", "-r", run_id, *extra).stdout)
        theirs = json.loads(mlflow_cli(url, "artifacts", "list", "-r", run_id, *extra).stdout)
        assert ours == theirs and ours, extra
    assert {f["path"] for f in ours} == {"sub/deep/c.txt"}
    got = traza(url, "artifacts", "download", "-r", run_id, "-a", "sub", "-d",
                str(tmp_path / "ours")).stdout.strip()  # fmt: skip
    theirs_path = mlflow_cli(url, "artifacts", "download", "-r", run_id, "-a", "sub", "-d",
                             str(tmp_path / "theirs")).stdout.strip()  # fmt: skip
    assert Path(got).name == Path(theirs_path).name == "sub"
    assert (Path(got) / "deep" / "c.txt").read_text() == "gamma"
    assert (Path(got) / "b.txt").read_text() == (Path(theirs_path) / "b.txt").read_text()
    uri = TrazaClient(url).get_run(run_id).info.artifact_uri + "/a.txt"
    by_uri = traza(url, "artifacts", "download", "-u", uri, "-d", str(tmp_path / "u")).stdout
    assert Path(by_uri.strip()).read_text() == "alpha"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.strip() + "\n")))


def test_experiments_csv_matches_mlflow(url: str, tmp_path: Path) -> None:
    client = TrazaClient(url)
    experiment_id = client.create_experiment("csv")
    for i in range(2):
        run_id = client.create_run(experiment_id, run_name=f"r{i}").info.run_id
        client.log_batch(run_id, metrics=[Metric("rmse", 0.5 + i, 0, 0)],
                         params=[Param("alpha", str(i))])  # fmt: skip
        client.set_terminated(run_id)
    ours = traza(url, "experiments", "csv", "-x", experiment_id).stdout
    theirs = mlflow_cli(url, "experiments", "csv", "-x", experiment_id).stdout
    assert _rows(ours) == _rows(theirs) and len(_rows(ours)) == 2
    written = traza(url, "experiments", "csv", "-x", experiment_id, "-o", str(tmp_path / "o.csv"))
    assert "has been exported as a CSV to file" in written.stdout
    assert _rows((tmp_path / "o.csv").read_text()) == _rows(theirs)


def test_runs_list_shows_a_few_columns_and_says_how_to_see_more(url: str) -> None:
    client = TrazaClient(url)
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, metrics=[Metric(f"m{i}", i, 0, 0) for i in range(6)],
                     params=[Param(f"p{i}", f"v{i}") for i in range(6)])  # fmt: skip
    shown = traza(url, "runs", "list")
    header = shown.stdout.splitlines()[0].split()
    assert header[6:] == ["metrics.m0", "metrics.m1", "metrics.m2", "metrics.m3",
                          "params.p0", "params.p1", "params.p2", "params.p3"]  # fmt: skip
    assert "4 more metric and param columns not shown: --columns all" in shown.stderr
    chosen = traza(url, "runs", "list", "--columns", "metrics.m5,p4,tags.mlflow.runName")
    header = chosen.stdout.splitlines()[0].split()
    assert header[6:] == ["metrics.m5", "params.p4", "tags.mlflow.runName"]
    name = client.get_run(run_id).info.run_name
    assert chosen.stdout.splitlines()[2].split()[-3:] == ["5", "v4", name]
    assert "not shown" not in chosen.stderr
    every = traza(url, "runs", "list", "--columns", "all").stdout.splitlines()[0].split()
    assert len(every) == 6 + 12
