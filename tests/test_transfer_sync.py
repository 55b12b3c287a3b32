"""``traza sync``: push one Traza store into another (or a Traza server), incrementally.

Runs are logged the way users log them (Traza's fluent API and client on a local store, as on a
machine without the server), then synced; everything is read back through Traza's client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.transfer.dump import dump

import traza
from traza.cli import main
from traza.entities import Metric, Param, RunTag


def sync(source: Path | str, target: Path | str) -> str:
    result = CliRunner().invoke(main, ["sync", str(source), str(target)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def state(uri: Path | str) -> dict[str, Any]:
    """What the store holds, without its own Default experiment's times and location."""
    d = json.loads(json.dumps(dump(traza, str(uri))))
    for key in ("creation_time", "last_update_time", "artifact_location"):
        d["experiments"]["Default"].pop(key, None)
    return d


def log_offline(uri: Path, name: str = "offline") -> str:
    """A run logged with the fluent API into a local store, as on a cluster node."""
    traza.set_tracking_uri(str(uri))
    traza.set_experiment(name)
    with traza.start_run(run_name="train") as run:
        traza.log_params({"lr": "0.01", "epochs": 3})
        for step in range(3):
            traza.log_metric("loss", 1.0 / (step + 1), step=step)
        traza.set_tag("host", "node-7")
        traza.log_text("weights", "model/weights.txt")
    traza.set_tracking_uri(None)  # type: ignore[arg-type]
    return run.info.run_id


def test_offline_run_syncs_with_ids_and_timestamps_intact(tmp_path: Path) -> None:
    cluster, home = tmp_path / "cluster-mlruns", tmp_path / "home"
    run_id = log_offline(cluster)
    output = sync(cluster, home)
    assert "runs: 1 new" in output and "metric points written: 3" in output
    assert state(home) == state(cluster)
    run = traza.MlflowClient(str(home)).get_run(run_id)
    original = traza.MlflowClient(str(cluster)).get_run(run_id)
    assert run.info == original.info  # same id, times, status, artifact location
    again = sync(cluster, home)
    assert "runs: 1 unchanged" in again and "metric points written: 0" in again


def test_incremental_sync_carries_new_runs_points_tags_and_statuses(tmp_path: Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    client = traza.MlflowClient(str(source))
    eid = client.create_experiment("exp", tags={"team": "x"})
    runs = [client.create_run(eid, run_name=f"r{i}").info.run_id for i in range(3)]
    for i, rid in enumerate(runs):
        client.log_batch(
            rid,
            metrics=[Metric("m", float(s), 1000 + s, s) for s in range(5)],
            params=[Param("i", str(i))],
        )
    sync(source, target)
    # Changes since: a new run, new points on an old run, a changed tag, a finished run.
    fresh = client.create_run(eid, run_name="fresh").info.run_id
    client.log_metric(fresh, "m", 1.0, step=0)
    client.log_batch(runs[0], metrics=[Metric("m", 9.0, 2000, 5), Metric("n", 1.0, 2000, 0)])
    client.set_tag(runs[1], "stage", "prod")
    client.set_terminated(runs[2], "FAILED")
    client.set_experiment_tag(eid, "team", "y")
    output = sync(source, target)
    assert "runs: 1 new, 3 updated" in output
    assert "metric points written: 3" in output  # 1 (fresh) + 2 (runs[0]); nothing twice
    assert state(target) == state(source)
    summaries = traza.MlflowClient(str(target)).store.get_metric_summaries(runs[0])
    assert {s.key: s.count for s in summaries} == {"m": 6, "n": 1}


def test_conflicts_are_reported_and_the_target_kept(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ca, cb = traza.MlflowClient(str(a)), traza.MlflowClient(str(b))
    ea = ca.create_experiment("shared")
    rid = ca.create_run(ea, run_name="r").info.run_id
    ca.log_param(rid, "lr", "0.1")
    sync(a, b)
    # The same run gets another value for its param on the target side.
    store_b: Any = cb.store
    with store_b.db.write() as cur:
        cur.execute("UPDATE params SET value = '0.2' WHERE key = 'lr'")
    # And an experiment name both stores created on their own, with different ids.
    ca.create_experiment("twice")
    eb = cb.create_experiment("twice")
    output = sync(a, b)
    assert "conflicts (2)" in output
    assert "param 'lr' is '0.2' in the target and '0.1' in the source" in output
    assert "experiment 'twice' is bound to id" in output and f"to id {eb} in the target" in output
    assert cb.get_run(rid).data.params["lr"] == "0.2"


def test_merge_two_stores_both_ways(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ra = log_offline(a, "from-a")
    rb = log_offline(b, "from-b")
    sync(a, b)
    sync(b, a)
    assert state(a) == state(b)
    client = traza.MlflowClient(str(a))
    assert {client.get_run(ra).info.run_id, client.get_run(rb).info.run_id} == {ra, rb}


def test_interrupted_sync_is_completed_by_rerunning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from traza.store.uri import open_store
    from traza.transfer import source as source_module
    from traza.transfer.pipeline import Transfer
    from traza.transfer.traza_source import TrazaSource

    a, b = tmp_path / "a", tmp_path / "b"
    client = traza.MlflowClient(str(a))
    eid = client.create_experiment("many")
    for i in range(5):
        rid = client.create_run(eid, run_name=f"r{i}").info.run_id
        client.log_batch(rid, metrics=[Metric("m", 1.0, 1, 0)], tags=[RunTag("i", str(i))])
    monkeypatch.setattr(source_module, "BATCH_RUNS", 2)

    def stop(n: int) -> None:
        raise KeyboardInterrupt

    src, dst = open_store(str(a)), open_store(str(b))
    with pytest.raises(KeyboardInterrupt):
        Transfer(TrazaSource(src, "a", dst), dst, "b", progress=stop).run()
    src.close(), dst.close()
    output = sync(a, b)
    assert "runs: 3 new, 2 unchanged" in output
    assert state(a) == state(b)


def test_sync_into_a_traza_server_keeps_ids_and_copies_artifacts(tmp_path: Path) -> None:
    from tests.conftest import served_store

    from traza.store.uri import open_store

    cluster, home = tmp_path / "cluster-mlruns", tmp_path / "server-store"
    run_id = log_offline(cluster)
    backend = open_store(str(home))
    with served_store(backend, tmp_path / "served-artifacts") as url:
        result = CliRunner().invoke(
            main, ["sync", str(cluster), url, "--copy-artifacts"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert "runs: 1 new" in result.output and "artifact folders copied: 1" in result.output
        served = state(url)
        local = state(cluster)
        for d in (served, local):
            for run in d["runs"].values():
                run.pop("artifact_uri")
            for e in d["experiments"].values():
                e.pop("artifact_location", None)
        assert served == local
        client = traza.MlflowClient(url)
        assert client.get_run(run_id).info.start_time == (
            traza.MlflowClient(str(cluster)).get_run(run_id).info.start_time
        )
        local_path = client.download_artifacts(run_id, "model/weights.txt", str(tmp_path))
        assert Path(local_path).read_text() == "weights"
        again = CliRunner().invoke(main, ["sync", str(cluster), url], catch_exceptions=False)
        assert "runs: 1 unchanged" in again.output
    backend.close()
