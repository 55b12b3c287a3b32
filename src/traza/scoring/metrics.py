"""Prometheus metrics of the scoring server, written by hand in the text exposition format.

Four families are enough to watch a model in production (request count by endpoint and status,
latency histogram, errors by MLflow error code, rows scored) and cost a few dict updates per
request; ``prometheus_client`` would add a dependency for no more than that. Counters are
updated only from the event loop's thread, so they need no lock. Each uvicorn worker process
keeps its own counts: with ``--workers N`` a scrape sees the worker that answered it.
"""

from __future__ import annotations

import bisect
import time

#: Latency bucket upper bounds, in seconds: sub-millisecond to the request timeout's range.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class Metrics:
    """Counts for one server process."""

    def __init__(self) -> None:
        self.started = time.time()
        self.requests: dict[tuple[str, int], int] = {}
        self.errors: dict[str, int] = {}
        self.rows = 0
        self.predictions = 0
        self._bucket_counts = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self._latency_sum = 0.0

    def request(self, endpoint: str, status: int) -> None:
        key = (endpoint, status)
        self.requests[key] = self.requests.get(key, 0) + 1

    def invocation(self, seconds: float, status: int, rows: int, error_code: str | None) -> None:
        """One ``/invocations`` request: its latency, outcome and rows scored (if any)."""
        self.request("/invocations", status)
        self._bucket_counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._latency_sum += seconds
        if error_code is None:
            self.rows += rows
            self.predictions += 1
        else:
            self.errors[error_code] = self.errors.get(error_code, 0) + 1

    def exposition(self) -> str:
        """The text format Prometheus scrapes."""
        out = [
            "# HELP traza_scoring_requests_total HTTP requests by endpoint and status code.",
            "# TYPE traza_scoring_requests_total counter",
        ]
        for (endpoint, status), n in sorted(self.requests.items()):
            out.append(
                f'traza_scoring_requests_total{{endpoint="{_label(endpoint)}",'
                f'status="{status}"}} {n}'
            )
        out += [
            "# HELP traza_scoring_request_duration_seconds Time to answer /invocations.",
            "# TYPE traza_scoring_request_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, n in zip(BUCKETS, self._bucket_counts, strict=False):
            cumulative += n
            out.append(
                f'traza_scoring_request_duration_seconds_bucket{{le="{bound}"}} {cumulative}'
            )
        cumulative += self._bucket_counts[-1]
        out += [
            f'traza_scoring_request_duration_seconds_bucket{{le="+Inf"}} {cumulative}',
            f"traza_scoring_request_duration_seconds_sum {_number(self._latency_sum)}",
            f"traza_scoring_request_duration_seconds_count {cumulative}",
            "# HELP traza_scoring_errors_total Failed /invocations requests by error code.",
            "# TYPE traza_scoring_errors_total counter",
        ]
        for code, n in sorted(self.errors.items()):
            out.append(f'traza_scoring_errors_total{{error_code="{_label(code)}"}} {n}')
        out += [
            "# HELP traza_scoring_rows_total Input rows scored by successful predictions.",
            "# TYPE traza_scoring_rows_total counter",
            f"traza_scoring_rows_total {self.rows}",
            "# HELP traza_scoring_predictions_total Successful /invocations requests.",
            "# TYPE traza_scoring_predictions_total counter",
            f"traza_scoring_predictions_total {self.predictions}",
            "# HELP traza_scoring_start_time_seconds When this server process started.",
            "# TYPE traza_scoring_start_time_seconds gauge",
            f"traza_scoring_start_time_seconds {_number(self.started)}",
        ]
        return "\n".join(out) + "\n"
