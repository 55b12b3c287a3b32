"""System metrics (``start_run(log_system_metrics=True)``): MLflow's keys, steps and settings.

The real ``mlflow`` 3.17.2 is the peer for key names. These machines have no GPU: GPU sampling
runs against a stand-in for NVIDIA's library (``tests/system_metrics_standin/pynvml.py``), which
both Traza and MLflow import in its place. Sampling intervals are 0.1-0.2 s to keep this fast.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import traza
from traza.exceptions import TrazaException
from traza.system_metrics import monitor

STANDIN = Path(__file__).parent / "system_metrics_standin"
SETTINGS = [
    "ENABLE_SYSTEM_METRICS_LOGGING",
    "SYSTEM_METRICS_SAMPLING_INTERVAL",
    "SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING",
    "SYSTEM_METRICS_NODE_ID",
]


@pytest.fixture(autouse=True)
def clean_settings() -> Iterator[None]:
    """The setters write os.environ (as MLflow's do): leave none of it to the next test."""
    yield
    for name in SETTINGS:
        os.environ.pop(f"TRAZA_{name}", None)
        os.environ.pop(f"MLFLOW_{name}", None)


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The NVML stand-in, importable as ``pynvml`` for this test only."""
    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    import pynvml

    yield pynvml
    sys.modules.pop("pynvml", None)


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == monitor.THREAD_NAME]


def history(run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = traza.TrazaClient()
    keys = [k for k in client.get_run(run_id).data.metrics if k.startswith("system/")]
    return {k: [(m.step, m.value) for m in client.get_metric_history(run_id, k)] for k in keys}


def traza_run(seconds: float, **start_run: object) -> dict[str, list[tuple[int, float]]]:
    with traza.start_run(**start_run) as run:  # type: ignore[arg-type]
        time.sleep(seconds)
    assert sampler_threads() == []
    return history(run.info.run_id)


MLFLOW_SCRIPT = """
import json, os, sys, time, mlflow
mlflow.set_tracking_uri(sys.argv[1])
out = {}
for label, node in [("plain", None), ("node", "node_0")]:
    mlflow.set_system_metrics_node_id(node)
    with mlflow.start_run(log_system_metrics=True) as run:
        time.sleep(0.75)
    data = mlflow.MlflowClient().get_run(run.info.run_id).data
    out[label] = sorted(k for k in data.metrics if k.startswith("system/"))
print(json.dumps(out))
"""


@pytest.mark.parametrize("with_gpu", [False, True], ids=["host", "gpu-standin"])
def test_keys_are_mlflows(with_gpu: bool, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = dict(
        os.environ, MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL="0.2", MLFLOW_ALLOW_FILE_STORE="true"
    )
    if with_gpu:
        env["PYTHONPATH"] = str(STANDIN)
        request.getfixturevalue("gpu")
    uri = (tmp_path / "mlruns").as_uri()
    out = subprocess.run(
        [sys.executable, "-c", MLFLOW_SCRIPT, uri], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    mlflow_keys = json.loads(out.stdout.strip().splitlines()[-1])

    traza.set_system_metrics_sampling_interval(0.2)
    plain = traza_run(0.75, log_system_metrics=True)
    traza.set_system_metrics_node_id("node_0")
    node = traza_run(0.75, log_system_metrics=True)

    assert sorted(plain) == mlflow_keys["plain"]
    assert sorted(node) == mlflow_keys["node"]
    assert all(k.startswith("system/node_0/") for k in node)
    assert ("system/gpu_0_power_usage_watts" in plain) is with_gpu
    assert "system/cpu_utilization_percentage" in plain


def test_values_are_sane_and_steps_increase() -> None:
    traza.set_system_metrics_sampling_interval(0.1)
    metrics = traza_run(0.75, log_system_metrics=True)
    steps = [s for s, _ in metrics["system/cpu_utilization_percentage"]]
    assert len(steps) >= 3 and steps == list(range(len(steps)))
    for key, points in metrics.items():
        assert [s for s, _ in points] == steps, key
    for _, value in metrics["system/cpu_utilization_percentage"]:
        assert 0 <= value <= 100
    for name in ["system_memory_usage_percentage", "disk_usage_percentage"]:
        assert all(0 < v <= 100 for _, v in metrics[f"system/{name}"]), name
    for name in ["system_memory_usage_megabytes", "disk_usage_megabytes"]:
        assert all(v > 0 for _, v in metrics[f"system/{name}"]), name
    for name in ["network_receive_megabytes", "network_transmit_megabytes"]:
        assert all(v >= 0 for _, v in metrics[f"system/{name}"]), name
    # MLflow's rounding of averaged values: one decimal.
    assert all(v == round(v, 1) for _, v in metrics["system/system_memory_usage_megabytes"])


def test_the_thread_runs_with_the_run_and_is_gone_after_end_run() -> None:
    traza.set_system_metrics_sampling_interval(0.1)
    run = traza.start_run(log_system_metrics=True)
    try:
        [thread] = sampler_threads()
        assert thread.daemon
    finally:
        traza.end_run()
    assert sampler_threads() == []
    assert not thread.is_alive()
    assert traza.get_run(run.info.run_id).info.status == "FINISHED"
    # A nested run samples on its own thread; ending it leaves the parent's.
    with traza.start_run(log_system_metrics=True):
        with traza.start_run(nested=True, log_system_metrics=True):
            assert len(sampler_threads()) == 2
        assert len(sampler_threads()) == 1
    assert sampler_threads() == []


def test_end_run_does_not_wait_for_the_interval() -> None:
    """At MLflow's default 10 s interval, ending a run still returns at once."""
    run = traza.start_run(log_system_metrics=True)
    started = time.perf_counter()
    traza.end_run()
    assert time.perf_counter() - started < 2
    assert sampler_threads() == []
    assert history(run.info.run_id) == {}  # nothing sampled long enough to be logged


@pytest.mark.parametrize("prefix", ["MLFLOW_", "TRAZA_"])
def test_environment_variable_turns_it_on(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{prefix}ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv(f"{prefix}SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")
    monkeypatch.setenv(f"{prefix}SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "2")
    monkeypatch.setenv(f"{prefix}SYSTEM_METRICS_NODE_ID", "worker-1")
    with traza.start_run():
        assert len(sampler_threads()) == 1
    with traza.start_run(log_system_metrics=False):  # a run can opt out
        assert sampler_threads() == []
    metrics = traza_run(0.75)
    steps = [s for s, _ in metrics["system/worker-1/cpu_utilization_percentage"]]
    # Two samples of 0.1 s a step: about 3 steps in 0.75 s, not the 7 of one sample a step.
    assert 1 <= len(steps) <= 4 and steps == list(range(len(steps)))


def test_traza_variable_wins_over_mlflows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv("TRAZA_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    with traza.start_run():
        assert sampler_threads() == []


def test_enable_and_disable_functions() -> None:
    traza.enable_system_metrics_logging()
    assert os.environ["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] == "true"
    with traza.start_run():
        assert len(sampler_threads()) == 1
    traza.disable_system_metrics_logging()
    with traza.start_run():
        assert sampler_threads() == []
    with traza.start_run(log_system_metrics=True):  # a run can still opt in
        assert len(sampler_threads()) == 1
    assert sampler_threads() == []


def test_setters_check_their_values_and_none_restores_the_default() -> None:
    traza.set_system_metrics_sampling_interval(0.5)
    traza.set_system_metrics_samples_before_logging(3)
    assert os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"] == "0.5"
    assert os.environ["TRAZA_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING"] == "3"
    traza.set_system_metrics_sampling_interval(None)
    traza.set_system_metrics_samples_before_logging(None)
    assert "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL" not in os.environ
    assert "TRAZA_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING" not in os.environ
    with pytest.raises(TrazaException, match="interval must be > 0"):
        traza.set_system_metrics_sampling_interval(0)
    with pytest.raises(TrazaException, match="whole number >= 1"):
        traza.set_system_metrics_samples_before_logging(0)


def test_a_bad_setting_fails_before_the_run_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "often")
    with pytest.raises(TrazaException, match="MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL='often'"):
        traza.start_run(log_system_metrics=True)
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "yes please")
    with pytest.raises(TrazaException, match="true, false, 1 or 0"):
        traza.start_run()
    assert traza.active_run() is None
    assert len(traza.search_runs(search_all_experiments=True, output_format="list")) == 0


def test_missing_psutil_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)  # ``import psutil`` raises ImportError
    with pytest.raises(TrazaException, match=r"pip install 'traza\[system\]'"):
        traza.start_run(log_system_metrics=True)
    assert traza.active_run() is None
    with traza.start_run():  # runs without system metrics do not need it
        pass


def test_resumed_run_continues_the_steps() -> None:
    traza.set_system_metrics_sampling_interval(0.1)
    with traza.start_run(log_system_metrics=True) as run:
        time.sleep(0.45)
    first = history(run.info.run_id)["system/cpu_utilization_percentage"]
    with traza.start_run(run_id=run.info.run_id, log_system_metrics=True):
        time.sleep(0.45)
    steps = [s for s, _ in history(run.info.run_id)["system/cpu_utilization_percentage"]]
    assert len(steps) > len(first) and steps == list(range(len(steps)))


def test_gpu_metrics_from_the_standin(gpu: object, caplog: pytest.LogCaptureFixture) -> None:
    """GPU sampling against the NVML stand-in (no GPU here): per-GPU keys, averaged values."""
    traza.set_system_metrics_sampling_interval(0.1)
    traza.set_system_metrics_samples_before_logging(3)
    with caplog.at_level(logging.WARNING, logger="traza.system_metrics"):
        metrics = traza_run(1.0, log_system_metrics=True)
    last = {k.removeprefix("system/"): points[-1][1] for k, points in metrics.items()}
    for i in (0, 1):
        # Utilization cycles 10, 20, 30 %: each step averages three samples.
        assert all(v == 20.0 for _, v in metrics[f"system/gpu_{i}_utilization_percentage"])
        assert last[f"gpu_{i}_memory_usage_megabytes"] == 4000.0
        assert last[f"gpu_{i}_memory_usage_percentage"] == 25.0
    assert last["gpu_0_power_usage_watts"] == 150.0
    assert last["gpu_0_power_usage_percentage"] == 50.0
    # GPU 1 has no power readings: left out after one warning, and the rest goes on.
    assert "gpu_1_power_usage_watts" not in last
    warnings = [r.getMessage() for r in caplog.records]
    assert len([w for w in warnings if "GPU 1: cannot read its power" in w]) == 1


def test_a_broken_sampler_stops_sampling_not_the_run(
    gpu: object, caplog: pytest.LogCaptureFixture
) -> None:
    gpu.BROKEN = True  # type: ignore[attr-defined]
    traza.set_system_metrics_sampling_interval(0.1)
    level = caplog.at_level(logging.WARNING, logger="traza.system_metrics")
    with level, traza.start_run(log_system_metrics=True) as run:
        time.sleep(0.4)
        assert sampler_threads() == []  # it stopped at the first sample
        traza.log_metric("loss", 0.5)
    assert traza.get_run(run.info.run_id).info.status == "FINISHED"
    assert traza.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
    [warning] = [r.getMessage() for r in caplog.records]
    assert "the stand-in driver went away" in warning and "The run goes on" in warning


def test_no_system_metrics_loads_no_sampler() -> None:
    code = (
        "import sys, traza; traza.set_tracking_uri('sqlite:///t.db'); "
        "traza.start_run(); traza.end_run(); "
        "print([m for m in ('psutil', 'pynvml', 'traza.system_metrics.monitor') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_a_run_ended_elsewhere_stops_sampling() -> None:
    """As MLflow's monitor: a run terminated by another client is not written to any more."""
    traza.set_system_metrics_sampling_interval(0.1)
    with traza.start_run(log_system_metrics=True) as run:
        traza.TrazaClient().set_terminated(run.info.run_id, "KILLED")
        deadline = time.monotonic() + 5
        while sampler_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sampler_threads() == []


def test_over_a_tracking_server(tmp_path: Path) -> None:
    """The sampler logs through the REST client, from its own thread, to a live traza server."""
    from server.live import live_server

    with live_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path) as live:
        traza.set_tracking_uri(live.url)
        traza.set_system_metrics_sampling_interval(0.1)
        metrics = traza_run(0.6, log_system_metrics=True)
    steps = [s for s, _ in metrics["system/disk_usage_percentage"]]
    assert len(steps) >= 2 and steps == list(range(len(steps)))
