"""``traza import``: stores the real ``mlflow==3.17.2`` writes, read back through both clients.

The MLflow side runs in child processes (``tests/transfer/mlflow_writer.py`` writes a store,
``tests/transfer/dump.py`` reads one with MLflow's client); the Traza side is read with Traza's
client and, through a live ``traza server``, with MLflow's client again.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.conftest import postgres_schema, served_store
from tests.transfer.dump import dump

import traza
from traza.cli import main
from traza.store.uri import open_store

HELPERS = Path(__file__).parent / "transfer"


def mlflow_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def mlflow_write(*uris: str) -> dict[str, dict[str, str]]:
    out = subprocess.run(
        [sys.executable, str(HELPERS / "mlflow_writer.py"), *uris],
        check=True,
        capture_output=True,
        text=True,
        env=mlflow_env(),
        timeout=120,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def mlflow_dump(*uris: str) -> dict[str, Any]:
    """What MLflow's client reads from each store: URI -> dump."""
    out = subprocess.run(
        [sys.executable, str(HELPERS / "dump.py"), "mlflow", *uris],
        check=True,
        capture_output=True,
        text=True,
        env=mlflow_env(),
        timeout=120,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def traza_dump(uri: str) -> dict[str, Any]:
    return json.loads(json.dumps(dump(traza, uri)))


def comparable(d: dict[str, Any]) -> dict[str, Any]:
    """Both stores have their own Default experiment: its times and location are their own."""
    d = json.loads(json.dumps(d))
    for key in ("creation_time", "last_update_time", "artifact_location"):
        d["experiments"].get("Default", {}).pop(key, None)
    return d


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two dumps differ, as paths (for readable failures)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}/{key}: only in {'right' if key not in a else 'left'}")
            else:
                out += differences(a[key], b[key], f"{path}/{key}")
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def run_import(*args: str) -> str:
    result = CliRunner().invoke(main, ["import", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


class Written:
    """An MLflow SQLite database, file store and PostgreSQL schema written once per module
    (one MLflow process writes all three, another reads them back), and the ids made."""

    def __init__(self, folder: Path, postgres_url: str) -> None:
        self.db = folder / "mlflow.db"
        self.files = folder / "mlruns"
        self.postgres_url = postgres_url
        mlflow_pg = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
        uris = [f"sqlite:///{self.db}", str(self.files), mlflow_pg]
        self.ids = mlflow_write(*uris)[uris[0]]
        dumps = mlflow_dump(*uris)
        self.expected = comparable(dumps[uris[0]])
        self.expected_files = comparable(dumps[uris[1]])
        self.expected_postgres = comparable(dumps[uris[2]])

    def copy(self, tmp_path: Path) -> Path:
        db = tmp_path / "mlflow.db"
        shutil.copy(self.db, db)
        return db


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Written]:
    with postgres_schema() as url:
        yield Written(tmp_path_factory.mktemp("mlflow-stores"), url)


def test_import_sqlite_keeps_everything_and_reimport_adds_nothing(
    tmp_path: Path, written: Written
) -> None:
    db, expected = written.copy(tmp_path), written.expected
    assert len(expected["runs"]) == 4 and expected["logged_models"] and expected["models"]

    target = tmp_path / "traza-store"
    output = run_import(str(db), "--to", str(target))
    assert "runs: 4 new" in output and "registered models: 1 new" in output
    assert comparable(traza_dump(str(target))) == expected

    # MLflow's own client reads the imported store through a Traza server the same way.
    backend = open_store(str(target))
    with served_store(backend) as url:
        assert comparable(mlflow_dump(url)[url]) == expected
    backend.close()

    again = run_import(f"sqlite:///{db}", "--to", str(target))
    assert "runs: 4 unchanged" in again and "metric points written: 0" in again
    assert "new" not in again.split("\n", 1)[1]
    assert comparable(traza_dump(str(target))) == expected


def test_import_file_store_with_trash_and_logged_models(tmp_path: Path, written: Written) -> None:
    expected = written.expected_files
    assert expected["experiments"]["gone"]["lifecycle_stage"] == "deleted"
    target = tmp_path / "from-files"
    output = run_import(str(written.files), "--to", str(target))
    assert "runs: 4 new" in output and "logged models: 1 new" in output
    assert comparable(traza_dump(str(target))) == expected
    assert "runs: 4 unchanged" in run_import(str(written.files), "--to", str(target))


def test_import_postgresql_into_postgresql(written: Written) -> None:
    expected = written.expected_postgres
    assert len(expected["runs"]) == 4
    with postgres_schema() as target_url:
        output = run_import(written.postgres_url, "--to", target_url)
        assert "runs: 4 new" in output
        try:
            assert comparable(traza_dump(target_url)) == expected
        finally:
            close_cached_stores()


def close_cached_stores() -> None:
    from traza.store import uri as uri_module

    for store in uri_module._open_stores.values():
        store.close()
    uri_module._open_stores.clear()


def test_interrupted_import_resumes(
    tmp_path: Path, written: Written, monkeypatch: pytest.MonkeyPatch
) -> None:
    from traza.transfer import source as source_module
    from traza.transfer.mlflow_sql import MlflowSqlSource
    from traza.transfer.pipeline import Transfer

    db, expected = written.copy(tmp_path), written.expected
    monkeypatch.setattr(source_module, "BATCH_RUNS", 1)
    target_dir = tmp_path / "target"

    class Interrupted(Exception):
        pass

    def stop_after_two(done: list[int]) -> Any:
        def progress(n: int) -> None:
            done.append(n)
            if len(done) == 2:
                raise Interrupted

        return progress

    reader = MlflowSqlSource(str(db))
    target = open_store(str(target_dir))
    with pytest.raises(Interrupted):
        Transfer(reader, target, "t", progress=stop_after_two([])).run()
    reader.close()
    landed = target.search_runs(["0", "1", "2"], run_view_type=3)
    assert len(landed) == 2  # two whole batches, one run each
    target.close()

    output = run_import(str(db), "--to", str(target_dir))
    assert "runs: 2 new, 2 unchanged" in output
    assert comparable(traza_dump(str(target_dir))) == expected


def test_import_copies_artifacts_when_asked(tmp_path: Path, written: Written) -> None:
    db, ids = written.copy(tmp_path), written.ids
    target = tmp_path / "copy"
    output = run_import(str(db), "--to", str(target), "--copy-artifacts")
    assert "artifact folders copied" in output
    client = traza.MlflowClient(str(target))
    run = client.get_run(ids["run_id"])
    assert run.info.artifact_uri.startswith(target.resolve().as_uri())
    assert traza.artifacts.load_text(f"{run.info.artifact_uri}/notes/readme.txt") == "hello"


def test_experiment_id_taken_by_another_experiment_is_mapped(
    tmp_path: Path, written: Written
) -> None:
    db = written.copy(tmp_path)
    target = tmp_path / "target"
    store = open_store(str(target))
    with store.db.write() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "INSERT INTO experiments (experiment_id, name, artifact_location, creation_time, "
            "last_update_time) VALUES (1, 'mine', 'x', 0, 0)"
        )
    store.close()
    output = run_import(str(db), "--to", str(target))
    assert "experiment id 1 ->" in output and "taken by 'mine'" in output
    client = traza.MlflowClient(str(target))
    moved = client.get_experiment_by_name("exp-a")
    assert moved is not None and moved.experiment_id != "1"
    assert len(client.search_runs([moved.experiment_id])) == 2
    assert "runs: 4 unchanged" in run_import(str(db), "--to", str(target))


def test_bad_sources_are_refused_naming_what_is_wrong(tmp_path: Path, written: Written) -> None:
    runner = CliRunner()

    def fails(source: str) -> str:
        result = runner.invoke(main, ["import", source, "--to", str(tmp_path / "t")])
        assert result.exit_code != 0
        return result.output

    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "notes.txt").write_text("hi")
    assert "is not an MLflow store" in fails(str(folder))
    assert "not a database" in fails(str(folder / "notes.txt"))
    assert "no such file" in fails(str(tmp_path / "missing.db"))

    db = written.copy(tmp_path)
    newer = tmp_path / "newer.db"
    shutil.copy(db, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff00001111'")
    message = fails(str(newer))
    assert "'ffff00001111'" in message and "alembic_version" in message and "3.17.2" in message

    truncated = tmp_path / "truncated.db"
    data = db.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    message = fails(str(truncated))
    assert str(truncated) in message

    files = tmp_path / "mlruns"
    shutil.copytree(written.files, files)
    meta = next(p for p in files.glob("*/*/meta.yaml") if p.parent.name != "models")
    meta.write_text("run_id: [unclosed\n")
    message = fails(str(files))
    assert str(meta) in message and "cannot read this MLflow metadata file" in message

    traza_store = tmp_path / "tz"
    open_store(str(traza_store)).close()
    assert "traza sync" in fails(str(traza_store))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_import_from_a_live_mlflow_server(tmp_path: Path, written: Written) -> None:
    import time
    import urllib.request

    db = written.copy(tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=mlflow_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start"
            assert server.poll() is None, "mlflow server exited"
            time.sleep(0.3)
        target = tmp_path / "from-server"
        output = run_import(url, "--to", str(target))
        assert "runs: 4 new" in output and "registered models: 1 new" in output
        assert differences(comparable(traza_dump(str(target))), written.expected) == []
        again = run_import(url, "--to", str(target))
        assert "runs: 4 unchanged" in again and "metric points written: 0" in again
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_older_mlflow_schema_reads_without_the_tables_it_lacked(
    tmp_path: Path, written: Written
) -> None:
    """A database at MLflow 2.0's revision (no datasets, aliases or logged models yet)."""
    db = written.copy(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        for table in (
            "logged_model_metrics", "logged_model_params", "logged_model_tags", "logged_models",
            "input_tags", "inputs", "datasets", "registered_model_aliases",
        ):  # fmt: skip
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE alembic_version SET version_num = 'cc1f77228345'")
    output = run_import(str(db), "--to", str(tmp_path / "t"))
    assert "runs: 4 new" in output and "registered models: 1 new" in output
    got = traza_dump(str(tmp_path / "t"))
    first = got["runs"][written.ids["run_id"]]
    expected = written.expected["runs"][written.ids["run_id"]]
    assert first["params"] == expected["params"] and first["histories"] == expected["histories"]
    assert first["inputs"] == [] and got["logged_models"] == {}
    assert got["models"]["reg"]["aliases"] == {}
