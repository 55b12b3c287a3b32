"""Large artifacts stream through the proxy: neither the server nor the client holds the file.

A 256 MiB file goes up and comes back down through a ``traza server`` process; the peak resident
memory of the server and of the client process (both read from the kernel) must stay far below
the file's size.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from test_server import _free_port, _ready, _start, _stop

SIZE = 256 * 1024 * 1024
HEADROOM = 96 * 1024 * 1024  # far below SIZE: a buffered copy would blow through it

# The client reports its own VmHWM: ru_maxrss would carry over the forking parent's peak.
CLIENT = """
import sys, traza
url, path, out = sys.argv[1:4]
traza.set_tracking_uri(url)
with traza.start_run() as run:
    traza.log_artifact(path, "big")
back = traza.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="big", dst_path=out)
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(int(status.split()[0]) * 1024)
"""


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_a_large_file_streams_both_ways(tmp_path: Path) -> None:
    big = tmp_path / "weights.bin"
    with big.open("wb") as f:
        for _ in range(SIZE // (1 << 20)):
            f.write(os.urandom(1 << 20))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    args = ["server", "--backend-store-uri", str(tmp_path / "store")]
    args += ["--artifacts-destination", str(tmp_path / "dest"), "--port", str(port)]
    process, started = _start(args, env, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        _ready(url, process, started)
        server_before = _peak_rss(process.pid)
        client = tmp_path / "client.py"
        client.write_text(CLIENT)
        done = subprocess.run(
            [sys.executable, str(client), url, str(big), str(tmp_path / "down")],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        server_peak = _peak_rss(process.pid)
    finally:
        _stop(process)
    client_peak = int(done.stdout.strip().splitlines()[-1])
    (stored,) = (tmp_path / "dest").rglob("weights.bin")
    assert _sha256(stored) == _sha256(tmp_path / "down" / "big" / "weights.bin") == _sha256(big)
    assert server_peak - server_before < HEADROOM, (server_before, server_peak)
    assert client_peak < SIZE // 2, client_peak
