"""The web UI's reads over a Traza server's ``/api/traza/v1`` endpoints (RestStore's half).

The server downsamples, so a long history costs one small response; several runs' series come
back from one request.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from traza.entities.ui import ExperimentKeys, ExperimentSummary, MetricSummary, SampledHistory
from traza.store.sampling import check_range, check_sampling

UI_API = "/api/traza/v1"

if TYPE_CHECKING:
    from traza.http import HttpClient


class RestUiQueries:
    if TYPE_CHECKING:  # provided by RestStore
        http: HttpClient

    def _ui_get(self, endpoint: str, fields: dict[str, Any]) -> Any:
        response = self.http.request("GET", f"{UI_API}/{endpoint}", fields=fields)
        return orjson.loads(response.data) if response.data else {}

    def get_experiment_keys(self, experiment_ids: Sequence[str]) -> ExperimentKeys:
        if isinstance(experiment_ids, str | int):
            experiment_ids = [str(experiment_ids)]
        if not experiment_ids:
            return ExperimentKeys()
        data = self._ui_get(
            "experiments/keys", {"experiment_ids": [str(e) for e in experiment_ids]}
        )
        return ExperimentKeys.from_dict(data)

    def get_experiment_summaries(self, experiment_ids: Sequence[str]) -> list[ExperimentSummary]:
        if isinstance(experiment_ids, str | int):
            experiment_ids = [str(experiment_ids)]
        if not experiment_ids:
            return []
        data = self._ui_get(
            "experiments/summaries", {"experiment_ids": [str(e) for e in experiment_ids]}
        )
        return [ExperimentSummary.from_dict(d) for d in data.get("experiments") or ()]

    def get_metric_history_sampled(
        self,
        run_id: str,
        key: str,
        max_points: int = 1000,
        x_axis: str = "step",
        x_range: tuple[int, int] | None = None,
    ) -> SampledHistory:
        return self.get_metric_histories_sampled([run_id], key, max_points, x_axis, x_range)[0]

    def get_metric_histories_sampled(
        self,
        run_ids: Sequence[str],
        key: str,
        max_points: int = 1000,
        x_axis: str = "step",
        x_range: tuple[int, int] | None = None,
    ) -> list[SampledHistory]:
        check_sampling(max_points, x_axis)
        x_range = check_range(x_range)
        if not run_ids:
            return []
        fields = {"run_ids": list(run_ids), "key": key, "max_points": max_points, "x_axis": x_axis}
        if x_range is not None:
            fields["x_min"], fields["x_max"] = x_range
        data = self._ui_get("metrics/history", fields)
        return [SampledHistory.from_dict(s) for s in data.get("series", ())]

    def get_metric_summaries(self, run_id: str) -> list[MetricSummary]:
        data = self._ui_get(f"runs/{urllib.parse.quote(run_id, safe='')}/metric-summaries", {})
        return [MetricSummary.from_dict(s) for s in data.get("summaries", ())]
