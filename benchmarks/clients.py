"""End to end through a client library, in a process of its own.

``mlflow``: the official ``mlflow.MlflowClient`` against any server (create_run, a log_metric
loop, log_batch of 1,000, search_runs over the seeded runs, get_metric_history of the seeded
history), plus the client's own floor for that history: the time its RestStore spends turning
the recorded response pages into ``Metric`` entities (decode, ``json.loads``, ``parse_dict``
into the proto, ``Metric.from_proto``), with no server involved.

``traza``: Traza's own client against traza server: a ``log_metric`` loop in one run, timed
until ``flush_async_logging()`` returns (the points are queued and sent in batches).

``clients.py traza URL PLAN_JSON`` runs Traza's loop in a fresh process and prints one JSON
object. ``clients.py serve`` imports mlflow once (3 s) and then runs each job read from stdin
(``{"url": ..., "plan": ...}``) in a forked child, so every server's run starts from the same
freshly imported state; :class:`MlflowClientWorker` drives it.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import endpoints
import seeding
from rest import API, Connection

Result = dict[str, Any]


def _timed(call: Any, count: int, budget: float, warmup: int = 1, check: bool = False) -> Result:
    result = endpoints.timed(call, count, budget, warmup)
    last = result.pop("last", None)
    if check:
        result["check"] = last
    return result


def _attempt(out: Result, name: str, work: Any) -> None:
    """Record ``work()``'s result, or its error in one line (one failing call spoils no other)."""
    try:
        out[name] = work()
    except Exception as e:
        out[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}


def mlflow_client(url: str, plan: endpoints.Plan) -> Result:
    import mlflow
    from mlflow.entities import Metric

    client = mlflow.MlflowClient(tracking_uri=url)
    search_exp = client.get_experiment_by_name(seeding.SEARCH_EXPERIMENT).experiment_id  # type: ignore[union-attr]
    history_exp = client.get_experiment_by_name(seeding.HISTORY_EXPERIMENT).experiment_id  # type: ignore[union-attr]
    history_run = client.search_runs([history_exp], max_results=1)[0].info.run_id
    exp = client.create_experiment(f"e2e-{time.time_ns()}")
    out: Result = {}
    repeats = plan.client_repeats
    _attempt(
        out, "create_run", lambda: _timed(lambda i: client.create_run(exp), repeats, plan.budget)
    )
    run_id = client.create_run(exp).info.run_id

    def log_metric_loop() -> Result:
        calls = plan.log_metric_calls
        start = time.perf_counter()
        for i in range(calls):
            client.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)
        seconds = time.perf_counter() - start
        return {"median_ms": seconds / calls * 1000, "per_s": calls / seconds, "count": calls}

    _attempt(out, "log_metric", log_metric_loop)
    batches = [
        [
            Metric(f"k{k}", 0.5, seeding.BASE_TIME + s, s)
            for k in range(10)
            for s in range(i * 100, i * 100 + 100)
        ]
        for i in range(plan.client_repeats + 1)
    ]
    _attempt(
        out,
        "log_batch",
        lambda: _timed(lambda i: client.log_batch(run_id, batches[i]), repeats, plan.budget),
    )

    def search(i: int) -> list[str]:
        found = client.search_runs(
            [search_exp], seeding.SEARCH_FILTER, order_by=[seeding.SEARCH_ORDER], max_results=100
        )
        return [r.info.run_name for r in found]

    def history(i: int) -> int:
        return len(client.get_metric_history(history_run, seeding.HISTORY_KEY))

    _attempt(out, "search_runs", lambda: _timed(search, repeats, plan.budget, check=True))
    _attempt(
        out,
        "metric_history",
        lambda: _timed(history, min(3, repeats), plan.budget * 2, 0, check=True),
    )
    _attempt(out, "parse_floor", lambda: parse_floor(url, history_run))
    return out


def _recorded_pages(url: str, run_id: str) -> list[bytes]:
    """The history as the mlflow client requests it: pages of 25,000 (its page size)."""
    from mlflow.store.tracking import GET_METRIC_HISTORY_MAX_RESULTS

    conn = Connection(url)
    query = {"run_id": run_id, "run_uuid": run_id, "metric_key": seeding.HISTORY_KEY}
    query["max_results"] = str(GET_METRIC_HISTORY_MAX_RESULTS)
    pages = []
    while True:
        pages.append(
            conn.request("GET", f"{API}/metrics/get-history?{urllib.parse.urlencode(query)}")
        )
        token = json.loads(pages[-1]).get("next_page_token")
        if not token:
            conn.close()
            return pages
        query["page_token"] = token


def parse_floor(url: str, run_id: str) -> Result:
    """What the mlflow client's RestStore does with the reply bytes, timed without a server."""
    from mlflow.entities import Metric
    from mlflow.protos.service_pb2 import GetMetricHistory
    from mlflow.store.entities.paged_list import PagedList
    from mlflow.utils.proto_json_utils import parse_dict

    parse: Any = parse_dict  # mlflow is untyped
    pages = _recorded_pages(url, run_id)
    seconds = []
    count = 0
    for _ in range(3):
        gc.collect()  # start each pass from the same heap, not with the last pass's garbage
        start = time.perf_counter()
        history: list[Any] = []
        for data in pages:
            message = GetMetricHistory.Response()
            parse(js_dict=json.loads(data.decode("utf-8")), message=message)
            page = PagedList([Metric.from_proto(m) for m in message.metrics], None)
            history.extend(page)
        seconds.append(time.perf_counter() - start)
        count = len(history)
    return {"median_ms": statistics.median(seconds) * 1000, "check": count, "pages": len(pages)}


def traza_client(url: str, plan: endpoints.Plan) -> Result:
    import traza

    traza.set_tracking_uri(url)
    calls = plan.traza_client_calls
    with traza.start_run() as run:
        start = time.perf_counter()
        for i in range(calls):
            traza.log_metric("loss", 1.0 / (i + 1), step=i)
        queued = time.perf_counter() - start
        traza.flush_async_logging()
        seconds = time.perf_counter() - start
    points = len(traza.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    return {
        "log_metric": {
            "median_ms": seconds / calls * 1000,
            "per_s": calls / seconds,
            "queued_s": queued,
            "seconds": seconds,
            "check": points,
        }
    }


def plan_from_json(text: str) -> endpoints.Plan:
    fields = json.loads(text)
    fields["scale"] = seeding.Scale(**fields["scale"])
    return endpoints.Plan(**fields)


def _forked(job: Result) -> str:
    """Run one mlflow-client job in a child process; its JSON result (or error) as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, write, leave without running the parent's cleanup
        os.close(read_end)
        try:
            payload = json.dumps(mlflow_client(job["url"], plan_from_json(job["plan"])))
        except BaseException as e:
            payload = json.dumps({"error": f"{type(e).__name__}: {e}"[:300]})
        with os.fdopen(write_end, "w") as f:
            f.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        payload = f.read()
    os.waitpid(pid, 0)
    return payload or json.dumps({"error": "the client process died"})


def serve() -> None:
    import mlflow  # noqa: F401 (imported once; every forked job starts with it loaded)

    print("READY", flush=True)
    for line in sys.stdin:
        print("RESULT " + _forked(json.loads(line)), flush=True)


def _clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}


class MlflowClientWorker:
    """The driver's side of ``clients.py serve``: started on first use, stopped by ``close``."""

    def __init__(self, timeout: float = 600.0) -> None:
        self.timeout = timeout
        self._proc: subprocess.Popen[str] | None = None

    def _line(self, prefix: str) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._proc.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError("the mlflow client worker exited")
            if line.startswith(prefix):
                return line[len(prefix) :]
        raise RuntimeError(f"the mlflow client worker gave no answer in {self.timeout:.0f} s")

    def run(self, url: str, plan: endpoints.Plan) -> Result:
        if self._proc is None:
            self._proc = subprocess.Popen(
                [sys.executable, str(Path(__file__)), "serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=_clean_environment(),
                start_new_session=True,
            )
            self._line("READY")
        assert self._proc.stdin is not None
        job = {"url": url, "plan": json.dumps(dataclasses.asdict(plan))}
        self._proc.stdin.write(json.dumps(job) + "\n")
        self._proc.stdin.flush()
        result: Result = json.loads(self._line("RESULT "))
        if set(result) == {"error"}:
            raise RuntimeError(result["error"])
        return result

    def close(self) -> None:
        if self._proc is None:
            return
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._proc = None


def traza_in_subprocess(url: str, plan: endpoints.Plan) -> Result:
    """Traza's client loop in a fresh process (a small heap, as a training script has)."""
    done = subprocess.run(
        [sys.executable, __file__, "traza", url, json.dumps(dataclasses.asdict(plan))],
        capture_output=True,
        text=True,
        timeout=600,
        env=_clean_environment(),
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit status {done.returncode}")
    result: Result = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if sys.argv[1] == "serve":
        serve()
        return
    result = traza_client(sys.argv[2], plan_from_json(sys.argv[3]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
