"""The one tracking-store interface every backend implements (SQL on SQLite/PostgreSQL, REST).

The client, the server, the UI, the importer and the project runner all go through it, so a
behaviour checked by the contract suite holds everywhere. Methods follow MLflow's store names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from traza.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)

SEARCH_MAX_RESULTS_DEFAULT = 1000


class Store(ABC):
    """A tracking store. Every method either completes or raises ``TrazaException``."""

    # -- experiments -------------------------------------------------------------------------
    @abstractmethod
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        """Create an experiment and return its id; the name must be unused."""

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment: ...

    @abstractmethod
    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None: ...

    @abstractmethod
    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]: ...

    @abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Move the experiment and its runs to the deleted stage (recoverable)."""

    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abstractmethod
    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None: ...

    @abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # -- runs --------------------------------------------------------------------------------
    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run: ...

    @abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abstractmethod
    def update_run_info(
        self,
        run_id: str,
        run_status: int | str | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo: ...

    @abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]: ...

    # -- logging -----------------------------------------------------------------------------
    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Log all of it in one transaction, or nothing (a param conflict rejects the batch)."""

    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=(metric,))

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, params=(param,))

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, tags=(tag,))

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abstractmethod
    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Every point of one metric, ordered by step, then timestamp."""

    @abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None: ...

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
