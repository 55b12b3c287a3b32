"""Scenario 4, faults: PostgreSQL restarted under load, a full disk, an upload cut mid-stream,
SIGTERM to a busy server.

- PostgreSQL (a private ``initdb`` cluster) is crashed (``pg_ctl stop -m immediate``) and started
  again while clients log through ``traza server``: while it is down requests get 503 with
  ``Retry-After`` (never a 500 or a dropped connection), afterwards every worker answers again,
  and nothing acknowledged is lost.
- A tmpfs of a few MB holds a SQLite store and its artifacts until it is full: the error names
  the disk, the store still opens and holds everything acknowledged, no partial artifact shows.
- An artifact upload whose connection closes half-way leaves no file behind.
- SIGTERM to a server in the middle of an upload: the upload completes, then the server exits.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from torture._acks import Acks, check_store
from torture._children import spawn_logger, stderr_of
from torture._postgres import Cluster
from torture._support import Server, scratch, sqlite_integrity
from torture.result import Result

SCALES = {
    "ci": {"restarts": 1, "workers": 2, "clients": 2, "disk_mb": 4},
    "full": {"restarts": 5, "workers": 4, "clients": 4, "disk_mb": 16},
}


def run(scale: str) -> Result:
    s = SCALES[scale]
    result = Result(
        "faults",
        f"{s['restarts']} PostgreSQL crash+restart under {s['clients']} clients and a "
        f"{s['workers']}-worker server; a {s['disk_mb']} MB disk filled; uploads cut; SIGTERM",
    )
    with scratch("faults") as tmp:
        parts: list[tuple[str, Callable[[Result], None]]] = [
            ("postgres restart", lambda r: _postgres_restart(tmp / "pg", s, r)),
            ("full disk", lambda r: _full_disk(tmp / "disk", s["disk_mb"], r)),
            ("cut upload", lambda r: _cut_upload(tmp / "cut", r)),
            ("sigterm", lambda r: _sigterm(tmp / "term", r)),
        ]
        for part, check in parts:
            sub = Result(part, "")
            try:
                check(sub)
            except Exception as e:  # one part's crash must not hide the others' figures
                sub.failures.append(f"crashed: {type(e).__name__}: {e}")
            result.merge(part, sub)
    return result


# -- PostgreSQL restarted under load ---------------------------------------------------------
class _Probe(threading.Thread):
    """One plain request every 50 ms, no retries: what a client sees at each moment."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{url}/api/2.0/mlflow/experiments/get?experiment_id=0"
        self.stop = threading.Event()
        self.seen: list[tuple[float, str]] = []  # (seconds taken, "200" / "503" / ...)

    def once(self) -> str:
        try:
            with urllib.request.urlopen(self.url, timeout=60) as response:
                return str(response.status)
        except urllib.error.HTTPError as e:
            retry_after = e.headers.get("Retry-After")
            return f"{e.code}" if retry_after else f"{e.code} without Retry-After"
        except OSError as e:
            return f"dropped ({type(e).__name__}: {e})"

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            answer = self.once()
            self.seen.append((time.monotonic() - started, answer))
            time.sleep(0.05)


def _postgres_restart(tmp: Path, s: dict[str, int], result: Result) -> None:
    rng = random.Random(4)
    cluster = Cluster(tmp / "cluster").init()
    server = Server(cluster.url, tmp / "artifacts", workers=s["workers"])
    clients: list[tuple[subprocess.Popen[bytes], Path]] = []
    probe = _Probe(server.url)
    down_for = 0.0
    try:
        server.start()
        clients = [
            (spawn_logger(server.url, tmp / f"c{c}.ack", c, "flush"), tmp / f"c{c}.ack")
            for c in range(s["clients"])
        ]
        probe.start()
        time.sleep(5)
        for _ in range(s["restarts"]):
            cluster.stop("immediate")
            down = time.monotonic()
            time.sleep(rng.uniform(2, 5))
            cluster.start()
            down_for += time.monotonic() - down
            time.sleep(rng.uniform(3, 6))
        probe.stop.set()
        probe.join()
        # Every worker answers again: fresh connections land on every worker in turn.
        after = [probe.once() for _ in range(20 * s["workers"])]
        broken = [a for a in after if a != "200"]
        result.check(
            not broken,
            f"after the restarts: {len(broken)} of {len(after)} requests "
            f"failed: {sorted(set(broken))}",
        )
        for proc, ack in clients:
            result.check(proc.poll() is None, f"a client gave up: {stderr_of(ack)}")
            proc.kill()
            proc.wait()
    finally:
        probe.stop.set()
        for proc, _ in clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.stop()
    statuses: dict[str, int] = {}
    for _, seen in probe.seen:
        statuses[seen] = statuses.get(seen, 0) + 1
    bad = {k: v for k, v in statuses.items() if k not in ("200", "503")}
    result.check(
        not bad,
        f"while PostgreSQL restarted, requests got {bad}; server log: {server.log_tail(1500)}",
    )
    result.figures["restarts"] = s["restarts"]
    result.figures["seconds down"] = round(down_for, 1)
    result.figures["probe answers"] = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    if probe.seen:
        result.figures["slowest probe answer (s)"] = round(max(t for t, _ in probe.seen), 1)
    acks = Acks()
    for _, ack in clients:
        acks.read(ack)
    from traza.store.uri import open_store

    store = open_store(cluster.url)
    try:
        experiment = store.get_experiment_by_name("crashes")
        if result.check(experiment is not None, "the clients' experiment is missing"):
            assert experiment is not None
            check_store(store, experiment.experiment_id, acks, result)
    finally:
        store.close()
        cluster.destroy()


# -- a full disk ------------------------------------------------------------------------------
def _full_disk(tmp: Path, megabytes: int, result: Result) -> None:
    from traza import MlflowClient
    from traza.entities import Metric
    from traza.exceptions import TrazaException
    from traza.store.uri import open_store

    disk = tmp / "disk"
    disk.mkdir(parents=True)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    mounted = subprocess.run(
        [*sudo, "mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if not result.check(
        mounted.returncode == 0, f"cannot mount a tmpfs (root needed): {mounted.stderr.strip()}"
    ):
        return
    try:
        store_dir = disk / "store"
        client = MlflowClient(str(store_dir))
        run_id = client.create_run("0").info.run_id
        payload = tmp / "payload.bin"
        payload.write_bytes(os.urandom(300_000))
        acked_steps: list[int] = []
        acked_files: list[str] = []
        errors: dict[str, str] = {}
        step = 0
        for i in range(100_000):
            kind = "artifact" if i % 5 == 4 else "metrics"
            if kind in errors and len(errors) == 2:
                break
            try:
                if kind == "artifact":
                    client.log_artifact(run_id, str(payload), f"f{i}")
                    acked_files.append(f"f{i}/payload.bin")
                else:
                    points = [Metric("m", float(s), 1, s) for s in range(step, step + 500)]
                    client.log_batch(run_id, metrics=points)
                    acked_steps.extend(range(step, step + 500))
                    step += 500
            except TrazaException as e:
                errors.setdefault(kind, e.message)
            except Exception as e:
                errors.setdefault(kind, f"UNCLEAR {type(e).__name__}: {e}")
        result.figures["points acknowledged before full"] = len(acked_steps)
        result.figures["artifacts acknowledged before full"] = len(acked_files)
        for kind in ("metrics", "artifact"):
            message = errors.get(kind, "no error at all")
            result.check(
                "disk" in message and str(disk) in message and "UNCLEAR" not in message,
                f"{kind} on a full disk: the error does not name the disk: {message}",
            )
        result.figures["error"] = errors.get("metrics", "-")[:160]
        integrity = sqlite_integrity(store_dir / "traza.db")
        result.check(integrity == "ok", f"integrity_check on the full disk: {integrity}")
        store = open_store(str(store_dir))  # the disk is still full
        try:
            stored = [m.step for m in store.get_metric_history(run_id, "m")]
            result.check(
                stored == acked_steps,
                f"{len(stored)} points read back of {len(acked_steps)} acknowledged",
            )
            artifacts_root = Path(store.get_run(run_id).info.artifact_uri.removeprefix("file://"))
            visible = sorted(
                str(p.relative_to(artifacts_root))
                for p in artifacts_root.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            )
            partial = [v for v in visible if v not in acked_files]
            result.check(not partial, f"partial artifacts visible after the disk filled: {partial}")
            sizes = {(artifacts_root / f).stat().st_size for f in acked_files}
            result.check(sizes <= {300_000}, f"acknowledged artifacts truncated: {sizes}")
        finally:
            store.close()
    finally:
        subprocess.run([*sudo, "umount", "-l", str(disk)], check=False)


# -- an upload cut mid-stream -----------------------------------------------------------------
def _raw_request(
    port: int,
    head: str,
    body_parts: list[bytes],
    pause: float = 0.0,
    on_half: object = None,
    read_reply: bool = False,
) -> str:
    """Send a request by hand (headers, then body parts); returns the status line or ""."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        for i, part in enumerate(body_parts):
            sock.sendall(part)
            if pause:
                time.sleep(pause)
            if callable(on_half) and i == len(body_parts) // 4:
                on_half()
        if not read_reply:
            return ""
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply.split(b"\r\n", 1)[0].decode()


def _upload_head(port: int, path: str, length: int | None) -> str:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"PUT /api/2.0/mlflow-artifacts/artifacts/{path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n{framing}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    )


def _cut_upload(tmp: Path, result: Result) -> None:
    from traza.store.rest import RestStore

    artifacts = tmp / "artifacts"
    with Server(str(tmp / "store"), artifacts) as server:
        run = RestStore(server.url).create_run("0", "", 1, [], None)
        base = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
        chunk = os.urandom(256 * 1024)
        cut = 0
        for name, length in (("sized.bin", 8 * len(chunk)), ("chunked.bin", None)):
            parts = [chunk] * 4
            if length is None:
                parts = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 4
            _raw_request(server.port, _upload_head(server.port, f"{base}/{name}", length), parts)
            cut += 1
        time.sleep(1.0)  # let the server notice the closed connections
        with urllib.request.urlopen(
            f"{server.url}/api/2.0/mlflow-artifacts/artifacts?path={base}", timeout=60
        ) as response:
            listing = response.read().decode()
        on_disk = sorted(p.name for p in artifacts.rglob("*") if p.is_file())
        result.check(
            "sized.bin" not in listing and "chunked.bin" not in listing,
            f"a cut upload is listed: {listing}",
        )
        result.check(not on_disk, f"a cut upload left files behind: {on_disk}")
        # The same name uploads whole afterwards.
        status = _raw_request(
            server.port,
            _upload_head(server.port, f"{base}/sized.bin", len(chunk)),
            [chunk],
            read_reply=True,
        )
        result.check(status.endswith("200 OK"), f"a whole upload after the cut: {status}")
        whole = [p for p in artifacts.rglob("sized.bin")]
        result.check(
            len(whole) == 1 and whole[0].read_bytes() == chunk,
            "the whole upload does not read back intact",
        )
        result.figures["uploads cut"] = cut
        result.figures["files left behind"] = len(on_disk)


# -- SIGTERM to a busy server -----------------------------------------------------------------
def _sigterm(tmp: Path, result: Result) -> None:
    from traza.store.rest import RestStore

    for workers in (1, 2):
        artifacts = tmp / f"artifacts{workers}"
        server = Server(str(tmp / f"store{workers}"), artifacts, workers=workers).start()
        assert server.process is not None
        process = server.process
        try:
            run = RestStore(server.url).create_run("0", "", 1, [], None)
            base = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
            chunk = os.urandom(128 * 1024)
            parts = [chunk] * 16  # 2 MB sent over ~2 s; SIGTERM a quarter of the way in
            status = _raw_request(
                server.port,
                _upload_head(server.port, f"{base}/slow.bin", len(chunk) * len(parts)),
                parts,
                pause=0.125,
                on_half=functools.partial(process.send_signal, signal.SIGTERM),
                read_reply=True,
            )
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            result.failures.append(f"{workers} worker(s): still running 60 s after SIGTERM")
            server.kill9()
            continue
        finally:
            if process.poll() is None:
                server.kill9()
        stored = list(artifacts.rglob("slow.bin"))
        result.check(
            status.endswith("200 OK"),
            f"{workers} worker(s): the upload in flight at "
            f"SIGTERM got {status!r}; log: {server.log_tail(800)}",
        )
        result.check(
            len(stored) == 1 and stored[0].stat().st_size == len(chunk) * 16,
            f"{workers} worker(s): the upload in flight at SIGTERM is not stored whole",
        )
        # uvicorn re-raises SIGTERM once it has shut down gracefully (one worker): death by
        # that signal is the conventional clean exit; the supervisor of several exits 0.
        result.check(
            code in (0, -signal.SIGTERM), f"{workers} worker(s): exit status {code} after SIGTERM"
        )
        result.figures[f"{workers} worker(s): exit status"] = code
        result.figures[f"{workers} worker(s): in-flight upload"] = status.partition(" ")[2]
