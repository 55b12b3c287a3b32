"""The system metrics sampler: a daemon thread per run, psutil for the host, NVML for GPUs.

Keys, steps and averaging follow MLflow 3.17's ``SystemMetricsMonitor``: every sampling interval
each sampler takes a sample; after ``samples_before_logging`` samples their mean (rounded to one
decimal; network counters are the latest totals since the run started) is logged under
``system/`` (``system/<node_id>/`` with a node id) at steps 0, 1, 2 ... (continuing after the
last step when a run is resumed). The thread must never slow or break the run: it sleeps on an
event between samples, and the first error is logged once and ends sampling, not the run.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections import defaultdict
from typing import Any, Protocol

from traza import system_metrics as settings
from traza.entities import Metric, RunStatus
from traza.exceptions import TrazaException

_logger = logging.getLogger(__name__)

PREFIX = "system/"
THREAD_NAME = "traza-system-metrics"

#: How long ``end_run`` waits for a sampler caught in a slow ``log_batch`` before moving on.
STOP_TIMEOUT = 30.0


def psutil_module() -> Any:
    """psutil, imported on first use; a clear message says how to get it when missing."""
    try:
        return importlib.import_module("psutil")
    except ImportError:
        raise TrazaException(
            "System metrics need the package psutil, which is not installed. Install it with "
            "`pip install 'traza[system]'` (or `pip install psutil`), or turn system metrics "
            "off: start_run(log_system_metrics=False) or traza.disable_system_metrics_logging().",
            error_code="INVALID_PARAMETER_VALUE",
        ) from None


class Sampler(Protocol):
    def sample(self) -> None: ...

    def aggregate(self) -> dict[str, float]:
        """The values to log for the samples since the last call, which starts a new window."""
        ...


class _Averaged:
    """Keeps every sample in the window and logs their mean, rounded as MLflow rounds it."""

    def __init__(self) -> None:
        self._samples: defaultdict[str, list[float]] = defaultdict(list)

    def aggregate(self) -> dict[str, float]:
        out = {k: round(sum(v) / len(v), 1) for k, v in self._samples.items() if v}
        self._samples.clear()
        return out


class CpuSampler(_Averaged):
    """Whole-machine CPU utilization and memory in use."""

    def __init__(self, psutil: Any) -> None:
        super().__init__()
        self._psutil = psutil
        # The first cpu_percent() call only starts psutil's clock (it returns 0.0): start it
        # now so the first sample measures the first interval.
        psutil.cpu_percent()

    def sample(self) -> None:
        self._samples["cpu_utilization_percentage"].append(self._psutil.cpu_percent())
        memory = self._psutil.virtual_memory()
        self._samples["system_memory_usage_megabytes"].append(memory.used / 1e6)
        self._samples["system_memory_usage_percentage"].append(memory.used / memory.total * 100)


class DiskSampler(_Averaged):
    """Use of the file system holding the root directory."""

    def __init__(self, psutil: Any) -> None:
        super().__init__()
        self._psutil = psutil

    def sample(self) -> None:
        usage = self._psutil.disk_usage(os.sep)
        self._samples["disk_usage_percentage"].append(usage.percent)
        self._samples["disk_usage_megabytes"].append(usage.used / 1e6)
        self._samples["disk_available_megabytes"].append(usage.free / 1e6)


class NetworkSampler:
    """Megabytes received and sent since the run started (counters, so not averaged)."""

    def __init__(self, psutil: Any) -> None:
        self._psutil = psutil
        start = psutil.net_io_counters()
        self._start = (start.bytes_recv / 1e6, start.bytes_sent / 1e6)
        self._latest: dict[str, float] = {}

    def sample(self) -> None:
        now = self._psutil.net_io_counters()
        self._latest = {
            "network_receive_megabytes": now.bytes_recv / 1e6 - self._start[0],
            "network_transmit_megabytes": now.bytes_sent / 1e6 - self._start[1],
        }

    def aggregate(self) -> dict[str, float]:
        out, self._latest = self._latest, {}
        return out


class GpuSampler(_Averaged):
    """Per-GPU utilization, memory and power through NVIDIA's management library (NVML).

    A query a GPU does not support (power on some boards) is warned about once and then left
    out for that GPU; the other queries and GPUs go on.
    """

    def __init__(self, nvml: Any) -> None:
        super().__init__()
        self._nvml = nvml
        count = nvml.nvmlDeviceGetCount()
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        self._failed: set[tuple[int, str]] = set()

    def _query(self, index: int, what: str, handle: Any) -> None:
        nvml, s = self._nvml, self._samples
        if what == "memory":
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            s[f"gpu_{index}_memory_usage_percentage"].append(
                round(memory.used / memory.total * 100, 1)
            )
            s[f"gpu_{index}_memory_usage_megabytes"].append(memory.used / 1e6)
        elif what == "utilization":
            s[f"gpu_{index}_utilization_percentage"].append(
                nvml.nvmlDeviceGetUtilizationRates(handle).gpu
            )
        else:
            milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
            limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
            s[f"gpu_{index}_power_usage_watts"].append(milliwatts / 1000)
            s[f"gpu_{index}_power_usage_percentage"].append(milliwatts / limit * 100)

    def sample(self) -> None:
        for index, handle in enumerate(self._handles):
            for what in ("memory", "utilization", "power"):
                if (index, what) in self._failed:
                    continue
                try:
                    self._query(index, what, handle)
                except self._nvml.NVMLError as e:
                    self._failed.add((index, what))
                    _logger.warning("GPU %d: cannot read its %s (%s); left out.", index, what, e)


def gpu_sampler() -> GpuSampler | None:
    """A GPU sampler when NVML is installed and answers (a GPU and its driver), else None."""
    try:
        nvml = importlib.import_module("pynvml")
    except ImportError:
        _logger.debug("No GPU metrics: install nvidia-ml-py to log NVIDIA GPU metrics.")
        return None
    try:
        nvml.nvmlInit()
        return GpuSampler(nvml)
    except Exception as e:  # no GPU, no driver: the host metrics still go on
        _logger.debug("No GPU metrics: NVML did not answer (%s).", e)
        return None


def default_samplers() -> list[Sampler]:
    psutil = psutil_module()
    samplers: list[Sampler] = [CpuSampler(psutil), DiskSampler(psutil), NetworkSampler(psutil)]
    gpu = gpu_sampler()
    if gpu is not None:
        samplers.append(gpu)
    return samplers


class SystemMetricsMonitor:
    """Samples on a daemon thread and logs to one run until :meth:`stop` or the run ends."""

    def __init__(
        self,
        client: Any,
        run_id: str,
        samplers: list[Sampler],
        *,
        sampling_interval: float = settings.DEFAULT_SAMPLING_INTERVAL,
        samples_before_logging: int = settings.DEFAULT_SAMPLES_BEFORE_LOGGING,
        node_id: str | None = None,
        first_step: int = 0,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.samplers = samplers
        self.sampling_interval = sampling_interval
        self.samples_before_logging = samples_before_logging
        self.prefix = PREFIX + (f"{node_id}/" if node_id else "")
        self.step = first_step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop sampling; samples not yet logged are dropped, as MLflow drops them."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while True:
                for _ in range(self.samples_before_logging):
                    for sampler in self.samplers:
                        sampler.sample()
                    if self._stop.wait(self.sampling_interval):
                        return
                values: dict[str, float] = {}
                for sampler in self.samplers:
                    values.update(sampler.aggregate())
                if self._stop.is_set() or self._run_ended():
                    return
                self._log(values)
        except Exception as e:
            _logger.warning(
                "System metrics for run %s stopped after %d step(s): %s: %s. The run goes on.",
                self.run_id,
                self.step,
                type(e).__name__,
                e,
            )

    def _run_ended(self) -> bool:
        """Ended elsewhere (a client's set_terminated): stop, as MLflow's monitor does."""
        status = self.client.get_run(self.run_id).info.status
        return bool(status != RunStatus.to_string(RunStatus.RUNNING))

    def _log(self, values: dict[str, float]) -> None:
        timestamp = int(time.time() * 1000)
        metrics = [Metric(self.prefix + k, v, timestamp, self.step) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)
        self.step += 1


# -- one monitor per run, started by start_run and stopped by end_run --------------------------
_lock = threading.Lock()
_monitors: dict[str, SystemMetricsMonitor] = {}


def next_step(client: Any, run_id: str) -> int:
    """The step after the last system metric already logged to ``run_id`` (0 if none)."""
    steps = [m.step for m in client.get_run(run_id).data.metric_objs if m.key.startswith(PREFIX)]
    return max(steps) + 1 if steps else 0


def start(client: Any, run_id: str, *, resume: bool) -> SystemMetricsMonitor | None:
    """Start sampling for ``run_id``; a failure is logged and the run goes on without it."""
    try:
        monitor = SystemMetricsMonitor(
            client,
            run_id,
            default_samplers(),
            sampling_interval=settings.sampling_interval(),
            samples_before_logging=settings.samples_before_logging(),
            node_id=settings.node_id(),
            first_step=next_step(client, run_id) if resume else 0,
        )
        monitor.start()
    except Exception as e:
        _logger.error("System metrics for run %s could not start: %s", run_id, e)
        return None
    with _lock:
        previous = _monitors.pop(run_id, None)
        _monitors[run_id] = monitor
    if previous is not None:
        previous.stop()
    return monitor


def stop(run_id: str) -> None:
    with _lock:
        monitor = _monitors.pop(run_id, None)
    if monitor is not None:
        monitor.stop()


def check_ready() -> None:
    """Raise, with what to do, when psutil is missing or a setting cannot be read."""
    psutil_module()
    settings.sampling_interval()
    settings.samples_before_logging()
