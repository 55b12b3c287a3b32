"""The logging child the crash scenarios kill: the fluent API, acknowledging as it goes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from torture._support import clean_env

# argv: tracking URI, ack file, seed, "each" (every call returns after its write: SQLite) or
# "flush" (calls are queued for a server: acknowledged once flush_async_logging or end_run
# returned). See torture/_acks.py for the ack lines.
LOGGER = r"""
import random, sys, traza
uri, ack_path, seed, mode = sys.argv[1:5]
rng = random.Random(int(seed))
ack = open(ack_path, "a", buffering=1)
traza.set_tracking_uri(uri)
traza.set_experiment("crashes")
each = mode == "each"
while True:
    rid = traza.start_run().info.run_id
    ack.write(f"run {rid}\n")
    pending = []
    for step in range(rng.randint(5, 80)):
        r = rng.random()
        if r < 0.6:
            traza.log_metric("loss", step / 2, step=step)
            pending.append(f"m {rid} {step}\n")
        elif r < 0.9:
            traza.log_metrics({k: step / 2 + "loss abc".index(k) for k in "abc"}, step=step)
            pending.append(f"b {rid} {step}\n")
        else:
            traza.log_param(f"p{step}", str(step))
            pending.append(f"p {rid} p{step} {step}\n")
        if each or rng.random() < 0.15:
            if not each:
                traza.flush_async_logging()
            ack.write("".join(pending))
            pending.clear()
    traza.end_run()
    ack.write("".join(pending) + f"end {rid}\n")
"""


def spawn_logger(uri: str, ack: Path, seed: int, mode: str) -> subprocess.Popen[bytes]:
    """Start one logging child; its stderr goes to ``<ack>.err``."""
    with open(ack.with_suffix(".err"), "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-c", LOGGER, uri, str(ack), str(seed), mode],
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def stderr_of(ack: Path, chars: int = 1500) -> str:
    try:
        return ack.with_suffix(".err").read_text(errors="replace")[-chars:]
    except OSError:
        return ""
