"""Read a running MLflow server through its REST API (urllib3, via Traza's ``RestStore``).

The API hands out whole experiments, runs (with their latest metrics, params, tags, inputs and
outputs), metric histories, logged models and the registry, which is all an import needs; it does
not tell when a run was deleted, and only the default workspace is visible. Like a sync, only
what the target lacks is read in full (histories of new runs, or of keys whose latest point
differs), so importing again from the same server is cheap.
"""

from __future__ import annotations

from traza.entities import Run
from traza.store.base import Store
from traza.transfer.traza_source import TrazaSource


class MlflowRestSource(TrazaSource):
    def __init__(self, url: str, target: Store) -> None:
        from traza.store.rest import RestStore

        super().__init__(RestStore(url), url.rstrip("/"), target)

    def _summaries(self, run: Run) -> dict[str, tuple[int | None, int, int]]:
        # MLflow's API has no per-key point count: a key is read again when its latest point
        # (step, timestamp) differs from the target's (points added before it are not seen).
        return {m.key: (None, m.step, m.timestamp) for m in run.data.metric_objs}

    def _model_inputs(self, run: Run) -> list[str]:
        # MLflow's runs/search leaves model inputs out (runs/get has them): read the run again,
        # only for the runs whose record is written (new or changed ones).
        return [m.model_id for m in self.store.get_run(run.info.run_id).inputs.model_inputs]

    def close(self) -> None:
        self.store.close()
