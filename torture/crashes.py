"""Scenario 1, crashes: ``kill -9`` of logging processes at random moments, on SQLite and through
a server, then ``kill -9`` of the server (every worker) while clients log. Nothing acknowledged
may be lost or stored twice; the SQLite file passes ``integrity_check``; every run reads back."""

from __future__ import annotations

import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from torture._acks import Acks, check_store
from torture._children import spawn_logger, stderr_of
from torture._support import Server, scratch, sqlite_integrity
from torture.result import Result

SCALES = {
    # kills of logging children (each part), children alive at once, server kills, clients
    "ci": {"kills": 20, "server_kills": 4, "parallel": 3, "clients": 3},
    "full": {"kills": 1000, "server_kills": 50, "parallel": 4, "clients": 4},
}
# Most children are killed uniformly within LOGGING_WINDOW seconds of their first ack (while
# they log, however long start-up took on a loaded machine); one in EARLY uniformly within
# EARLY_WINDOW seconds of their start, to land in imports, store creation and start_run.
LOGGING_WINDOW = 2.5
EARLY, EARLY_WINDOW = 5, 3.0


def run(scale: str) -> Result:
    s = SCALES[scale]
    result = Result(
        "crashes",
        f"{s['kills']} kill -9 of fluent loggers on SQLite, {s['kills']} through a 2-worker "
        f"server, {s['server_kills']} kill -9 of the server under {s['clients']} clients",
    )
    rng = random.Random(19)
    with scratch("crashes") as tmp:
        result.merge("sqlite", _kill_loggers(tmp / "sqlite", None, s["kills"], s["parallel"], rng))
        result.merge("server", _kill_loggers(tmp / "server", 2, s["kills"], s["parallel"], rng))
        result.merge("server kill", _kill_server(tmp / "kill-server", s, rng))
    return result


def _kill_loggers(
    tmp: Path, workers: int | None, kills: int, parallel: int, rng: random.Random
) -> Result:
    """Keep ``parallel`` loggers alive, each killed at a random moment, until ``kills``."""
    result = Result("loggers", "")
    tmp.mkdir(parents=True)
    store_dir = tmp / "store"
    server = Server(str(store_dir), tmp / "artifacts", workers=workers) if workers else None
    if server:
        server.start()
    uri = server.url if server else str(store_dir)
    mode = "flush" if server else "each"
    acks = Acks()
    alive: list[_Child] = []
    started = done = before_first_ack = 0
    t0 = time.monotonic()
    try:
        while done < kills:
            while len(alive) < parallel and started < kills:
                ack = tmp / f"child{started}.ack"
                child = _Child(spawn_logger(uri, ack, started, mode), ack)
                if started % EARLY == 0:
                    child.deadline = time.monotonic() + rng.uniform(0, EARLY_WINDOW)
                alive.append(child)
                started += 1
            time.sleep(0.01)
            for child in list(alive):
                now = time.monotonic()
                if child.deadline is None and child.ack.exists() and child.ack.stat().st_size:
                    child.deadline = now + rng.uniform(0, LOGGING_WINDOW)
                if child.proc.poll() is not None:
                    result.failures.append(
                        f"a logger exited by itself ({child.proc.returncode}): "
                        f"{stderr_of(child.ack)}"
                    )
                elif (child.deadline is not None and now >= child.deadline) or (
                    now - child.started > 300  # never acknowledged: killed all the same
                ):
                    child.proc.kill()
                    child.proc.wait()
                else:
                    continue
                alive.remove(child)
                done += 1
                if acks.read(child.ack) == 0:
                    before_first_ack += 1
    finally:
        for child in alive:
            child.proc.kill()
            child.proc.wait()
        if server:
            server.stop()
    result.figures["kill -9"] = done
    result.figures["killed before their first ack"] = before_first_ack
    result.figures["seconds"] = round(time.monotonic() - t0, 1)
    _verify(store_dir, acks, result)
    return result


@dataclass
class _Child:
    proc: subprocess.Popen[bytes]
    ack: Path
    deadline: float | None = None  # when to kill it; set at its first ack unless early
    started: float = field(default_factory=time.monotonic)


def _kill_server(tmp: Path, s: dict[str, int], rng: random.Random) -> Result:
    """Clients log through a 2-worker server on SQLite that is killed and restarted."""
    result = Result("server kill", "")
    tmp.mkdir(parents=True)
    store_dir = tmp / "store"
    server = Server(str(store_dir), tmp / "artifacts", workers=2).start()
    clients = [
        (
            spawn_logger(server.url, tmp / f"client{c}.ack", 1000 + c, "flush"),
            tmp / f"client{c}.ack",
        )
        for c in range(s["clients"])
    ]
    acks = Acks()
    downtime = 0.0
    try:
        for _ in range(s["server_kills"]):
            # Kill only once every client got something through since the last restart: a
            # server down most of the time would only measure how long clients keep retrying
            # (7 retries over about 4 minutes, then they report what was not logged).
            if not _progress(clients, result):
                break
            time.sleep(rng.uniform(0.0, 2.0))
            server.kill9()
            down = time.monotonic()
            time.sleep(rng.uniform(0.0, 1.0))
            server.start()
            downtime += time.monotonic() - down
        time.sleep(3.0)  # let the clients' retries land after the last restart
        for proc, ack in clients:
            if not result.check(proc.poll() is None, f"a client gave up: {stderr_of(ack)}"):
                continue
            proc.kill()
            proc.wait()
    finally:
        for proc, _ in clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.stop()
    for _, ack in clients:
        acks.read(ack)
    result.figures["times killed (every worker)"] = s["server_kills"]
    result.figures["seconds down"] = round(downtime, 1)
    _verify(store_dir, acks, result)
    return result


def _progress(
    clients: list[tuple[subprocess.Popen[bytes], Path]], result: Result, timeout: float = 300
) -> bool:
    """Wait until every client's ack file grew; a client that stopped or stalled is a failure."""
    sizes = {ack: _size(ack) for _, ack in clients}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, ack in clients:
            if proc.poll() is not None:
                result.failures.append(f"a client gave up: {stderr_of(ack)}")
                return False
        if all(_size(ack) > sizes[ack] for _, ack in clients):
            return True
        time.sleep(0.05)
    result.failures.append(f"a client acknowledged nothing for {timeout:.0f} s after a restart")
    return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _verify(store_dir: Path, acks: Acks, result: Result) -> None:
    from traza.store.uri import open_store

    db = store_dir / "traza.db"
    if not result.check(db.exists(), "no store was created"):
        return
    integrity = sqlite_integrity(db)
    result.check(integrity == "ok", f"integrity_check: {integrity}")
    store = open_store(str(store_dir))
    try:
        experiment = store.get_experiment_by_name("crashes")
        result.check(experiment is not None or not acks.runs, "the experiment is missing")
        if experiment is not None:
            check_store(store, experiment.experiment_id, acks, result)
    finally:
        store.close()
