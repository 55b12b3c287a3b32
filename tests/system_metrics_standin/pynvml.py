"""A stand-in for NVIDIA's management library (``pynvml`` from nvidia-ml-py): these machines
have no GPU, so GPU sampling is tested against this module instead.

It answers the calls Traza's (and MLflow's) GPU sampler makes with known values: two GPUs of
16 GB with 4 GB in use; utilization cycling 10, 20, 30 % (so three samples average to 20); GPU 0
drawing 150 W of a 300 W limit, while GPU 1 does not support power readings, as some boards do
not. ``BROKEN = True`` makes every memory reading raise a plain ``RuntimeError``: a driver gone
wrong, which must stop sampling without touching the run.
"""

from __future__ import annotations

from types import SimpleNamespace

BROKEN = False
_calls = {0: 0, 1: 0}


class NVMLError(Exception):
    pass


def nvmlInit() -> None:
    pass


def nvmlDeviceGetCount() -> int:
    return 2


def nvmlDeviceGetHandleByIndex(index: int) -> int:
    return index


def nvmlDeviceGetMemoryInfo(handle: int) -> SimpleNamespace:
    if BROKEN:
        raise RuntimeError("the stand-in driver went away")
    return SimpleNamespace(total=16e9, used=4e9, free=12e9)


def nvmlDeviceGetUtilizationRates(handle: int) -> SimpleNamespace:
    _calls[handle] += 1
    return SimpleNamespace(gpu=(10, 20, 30)[(_calls[handle] - 1) % 3], memory=25)


def nvmlDeviceGetPowerUsage(handle: int) -> int:
    if handle == 1:
        raise NVMLError("Not Supported")
    return 150_000


def nvmlDeviceGetEnforcedPowerLimit(handle: int) -> int:
    return 300_000
