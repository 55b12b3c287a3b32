"""Real Slurm and Ray for the cluster backends' tests and benchmarks, started and stopped here.

Slurm: Debian's packages (``slurmctld``, ``slurmd``, ``slurm-client``, ``munge``) as a one-node
cluster on 127.0.0.1 with no cgroups and no accounting; the daemons run as root in the
foreground (through ``sudo -n`` when the tests do not run as root). Ray: ``ray start
--head`` on 127.0.0.1 with its dashboard (the Jobs API).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: object, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    detail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s. {detail}")


@dataclass(frozen=True)
class Slurm:
    conf: Path
    folder: Path
    partition: str = "debug"

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}


def _munge_ok() -> bool:
    if shutil.which("munge") is None:
        return False
    encoded = subprocess.run(["munge", "-n"], capture_output=True)
    if encoded.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True).returncode == 0


def as_root(args: list[str]) -> list[str]:
    """``args`` run as root: directly when this process is root, else through ``sudo -n``."""
    return args if os.geteuid() == 0 else ["sudo", "-n", *args]


def can_be_root() -> bool:
    if os.geteuid() == 0:
        return True
    return subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0


def _start_munge(procs: list[subprocess.Popen[bytes]], folder: Path) -> None:
    if _munge_ok():
        return  # a munged is already serving this machine
    setup = (
        "install -d -o munge -g munge -m 0755 /run/munge && "
        "if [ ! -f /etc/munge/munge.key ]; then "
        "install -d -o munge -g munge -m 0700 /etc/munge && "
        "head -c 128 /dev/urandom > /etc/munge/munge.key && "
        "chown munge:munge /etc/munge/munge.key && chmod 0600 /etc/munge/munge.key; fi"
    )
    subprocess.run(as_root(["sh", "-c", setup]), check=True)
    log = folder / "munged.log"
    with log.open("wb") as out:
        procs.append(
            subprocess.Popen(
                as_root(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "-F"]),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    _wait("munged", _munge_ok, 30, log)


def slurm_conf(folder: Path) -> str:
    host = socket.gethostname().split(".")[0]
    node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True)
    node_line = node.stdout.splitlines()[0].strip()
    return "\n".join([
        "ClusterName=traza",
        f"SlurmctldHost={host}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"SlurmctldPort={free_port()}",
        f"SlurmdPort={free_port()}",
        "AuthType=auth/munge",
        f"StateSaveLocation={folder}/state",
        f"SlurmdSpoolDir={folder}/spool",
        f"SlurmctldPidFile={folder}/slurmctld.pid",
        f"SlurmdPidFile={folder}/slurmd.pid",
        f"SlurmctldLogFile={folder}/slurmctld.log",
        f"SlurmdLogFile={folder}/slurmd.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={folder}/jobcomp.txt",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SchedulerType=sched/backfill",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "ReturnToService=2",
        "MinJobAge=300",
        "KillWait=5",
        "InactiveLimit=0",
        "SlurmctldTimeout=60",
        "SlurmdTimeout=60",
        "SchedulerParameters=sched_interval=2",
        f"{node_line} NodeAddr=127.0.0.1 State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=60 State=UP",
        "",
    ])  # fmt: skip


def _node_idle(env: dict[str, str]) -> bool:
    done = subprocess.run(
        ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env, timeout=30
    )
    return done.returncode == 0 and done.stdout.strip() in ("idle", "mix", "alloc")


@contextmanager
def slurm_cluster(folder: Path) -> Iterator[Slurm]:
    """A one-node Slurm cluster on 127.0.0.1; the daemons are stopped when the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    conf = folder / "slurm.conf"
    conf.write_text(slurm_conf(folder))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        _start_munge(procs, folder)
        for daemon in ("slurmctld", "slurmd"):
            args = [f"/usr/sbin/{daemon}", "-D", "-f", str(conf)]
            if daemon == "slurmctld":
                args.append("-i")  # ignore (absent) saved state
            with (folder / f"{daemon}.stdout").open("wb") as out:
                procs.append(
                    subprocess.Popen(as_root(args), env=env, stdout=out, stderr=subprocess.STDOUT)
                )
        _wait("the Slurm node", lambda: _node_idle(env), 90, folder / "slurmctld.log")
        yield Slurm(conf, folder)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass(frozen=True)
class Ray:
    address: str  # the dashboard's http://127.0.0.1:PORT (the Jobs API)


@contextmanager
def ray_cluster(folder: Path) -> Iterator[Ray]:
    """``ray start --head`` on 127.0.0.1 with 2 CPUs and its dashboard; ``ray stop`` after."""
    ray = str(Path(sys.executable).parent / "ray")
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    # The cluster's `python` is the one Ray is installed with, as on a real cluster's nodes.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "ray-start.log"
    args = [
        ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--num-cpus", "2",
        "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
        "--dashboard-port", str(port), "--port", str(free_port()),
        "--temp-dir", str(folder / "ray"), "--disable-usage-stats",
    ]  # fmt: skip
    with log.open("wb") as out:
        started = subprocess.run(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"ray start failed: {log.read_text()[-3000:]}")
        address = f"http://127.0.0.1:{port}"

        def jobs_api_up() -> bool:
            import urllib.request

            try:
                with urllib.request.urlopen(f"{address}/api/version", timeout=5) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        _wait("the Ray dashboard", jobs_api_up, 120, log)
        yield Ray(address)
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)  # Ray's session logs and unpacked packages
