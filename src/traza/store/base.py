"""The one tracking-store interface every backend implements (SQL on SQLite/PostgreSQL, REST).

The client, the server, the UI, the importer and the project runner all go through it, so a
behaviour checked by the contract suite holds everywhere. Methods follow MLflow's store names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from traza.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from traza.entities.ui import (
    ExperimentKeys,
    ExperimentSummary,
    MetricSummary,
    SampledHistory,
)
from traza.exceptions import TrazaException
from traza.store.registry_base import RegistryStore

if TYPE_CHECKING:
    from traza.auth.visibility import Visibility
    from traza.store.purge import PurgeReport
    from traza.store.run_groups import RunGroups
    from traza.transfer.records import IngestBatch, IngestResult

SEARCH_MAX_RESULTS_DEFAULT = 1000
#: MLflow's store default for search_logged_models (the REST request's own default is 50).
SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT = 100


class Store(RegistryStore, ABC):
    """A tracking store. Every method either completes or raises ``TrazaException``.

    The model registry's methods come from :class:`RegistryStore`.
    """

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
        visibility: Visibility | None = None,
    ) -> PagedList[Experiment]:
        """``visibility``: the server's permission filter (SQL stores only; ``None``: all)."""

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
    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        models: Sequence[LoggedModelInput] = (),
    ) -> None:
        """Record the datasets and logged models the run used (``run.inputs``)."""

    # -- logged models (MLflow 3) ------------------------------------------------------------
    @abstractmethod
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = (),
        params: Sequence[LoggedModelParameter] | None = (),
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING model ``m-<32 hex>``, artifacts in ``<exp>/models/<id>/artifacts``."""

    @abstractmethod
    def get_logged_model(self, model_id: str) -> LoggedModel:
        """The model with its tags, params and latest metrics; missing or deleted raises."""

    @abstractmethod
    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | int | str
    ) -> LoggedModel:
        """Set the model's status (READY or FAILED once its artifacts are uploaded)."""

    @abstractmethod
    def delete_logged_model(self, model_id: str) -> None:
        """Soft-delete the model: get and search no longer return it."""

    @abstractmethod
    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int = SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[Mapping[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Models of these experiments matching the filter; order_by holds MLflow's dicts."""

    @abstractmethod
    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        """Add or overwrite tags on the model."""

    @abstractmethod
    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove one tag; a missing tag raises RESOURCE_DOES_NOT_EXIST."""

    @abstractmethod
    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParameter]
    ) -> None:
        """Add params to the model; like run params, a logged value cannot change."""

    @abstractmethod
    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record that the run produced these models (``run.outputs.model_outputs``)."""

    # -- what the web UI reads (``/api/traza/v1``) -------------------------------------------
    @abstractmethod
    def get_experiment_keys(self, experiment_ids: Sequence[str]) -> ExperimentKeys:
        """Distinct param, metric and tag keys of the experiments' active runs (columns)."""

    @abstractmethod
    def get_experiment_summaries(self, experiment_ids: Sequence[str]) -> list[ExperimentSummary]:
        """Active run count and latest run start of each experiment, in the order given."""

    @abstractmethod
    def get_metric_history_sampled(
        self,
        run_id: str,
        key: str,
        max_points: int = 1000,
        x_axis: str = "step",
        x_range: tuple[int, int] | None = None,
    ) -> SampledHistory:
        """At most ``max_points`` points of a history, each bucket's min and max kept.

        ``x_axis``: ``step``, ``timestamp`` (ms), or ``relative`` (ms since the series' first
        point, its first by step). ``x_range``: only the points whose x is within these bounds
        (inclusive, in the axis' unit), so a zoomed chart gets its detail back; ``total``,
        ``min`` and ``max`` stay the whole history's. Downsampled where the data lives, so a
        long history never crosses the wire.
        """

    def get_metric_histories_sampled(
        self,
        run_ids: Sequence[str],
        key: str,
        max_points: int = 1000,
        x_axis: str = "step",
        x_range: tuple[int, int] | None = None,
    ) -> list[SampledHistory]:
        """One sampled series per run, in the order given (a chart overlaying runs)."""
        return [
            self.get_metric_history_sampled(r, key, max_points, x_axis, x_range) for r in run_ids
        ]

    def get_metric_histories_batch(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str],
        max_points: int = 1000,
        x_axis: str = "step",
    ) -> list[list[SampledHistory]]:
        """For each key, in the order given, one sampled series per run (a chart workspace:
        many panels over the same runs, asked at once)."""
        return [self.get_metric_histories_sampled(run_ids, k, max_points, x_axis) for k in keys]

    def group_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: int,
        by: str,
        metrics: Sequence[str],
    ) -> RunGroups:
        """The runs a search matches grouped by ``by`` (``params.<key>`` or ``tags.<key>``):
        each group's run count and each of ``metrics``' count, mean, min and max. Here read a
        page of runs at a time; SQL stores group in the database."""
        from traza.store import run_groups

        run_groups.parse_by(by)
        run_groups.check_metrics(metrics)

        def every_run() -> Iterator[Run]:
            token = None
            while True:
                page = self.search_runs(
                    experiment_ids, filter_string, run_view_type, 1000, None, token
                )
                yield from page
                token = page.token
                if not token:
                    return

        return run_groups.aggregate(every_run(), by, metrics)

    @abstractmethod
    def get_metric_summaries(self, run_id: str) -> list[MetricSummary]:
        """Per metric key of the run, sorted by key: latest, min, max, count."""

    # -- garbage collection (``traza gc``) -------------------------------------------------------
    def purge_deleted(
        self,
        older_than_ms: int = 0,
        experiment_ids: Sequence[str] | None = None,
        run_ids: Sequence[str] | None = None,
        dry_run: bool = True,
        artifacts_destination: str | None = None,
        logged_model_ids: Sequence[str] | None = None,
    ) -> PurgeReport:
        """Remove for good, rows and artifacts, what has been deleted for ``older_than_ms``.

        Deleted experiments go with all their runs and logged models. ``experiment_ids``,
        ``run_ids`` and ``logged_model_ids`` restrict it to those, each of which must be
        deleted and old enough.
        ``dry_run`` (the default) only reports what would go. Stores that reach their data
        through a server do not purge: garbage collection runs against the database itself.
        """
        raise TrazaException(
            f"{type(self).__name__} cannot purge deleted runs: garbage collection works on the "
            "backend store itself, as `mlflow gc` does. Run `traza gc --backend-store-uri "
            "<the server's --backend-store-uri>` where the database is reachable.",
            error_code="NOT_IMPLEMENTED",
        )

    # -- moving data between stores (``traza import`` / ``traza sync``) ------------------------
    def ingest(self, batch: IngestBatch) -> IngestResult:
        """Write records with their own ids and timestamps, idempotently (see ``transfer``).

        Experiments first, then logged models, runs and registered models, each part in one
        transaction; what is already there is kept, conflicts are reported in the result.
        """
        from traza.exceptions import TrazaException

        raise TrazaException(
            f"{type(self).__name__} cannot ingest records.", error_code="NOT_IMPLEMENTED"
        )

    def trusted_artifact_roots(self) -> list[str]:
        """Artifact roots an operator's ``traza import``/``sync`` recorded in this store."""
        return []

    def record_trusted_artifact_root(self, root: str, recorded_by: str) -> None:
        """Trust ``root`` for serving artifacts; only stores opened directly can record one."""
        from traza.exceptions import TrazaException

        raise TrazaException(
            f"{type(self).__name__} cannot record trusted artifact roots: only an operator "
            "working on the backend store itself can (traza import/sync into its URI).",
            error_code="NOT_IMPLEMENTED",
        )

    def flush(self) -> None:
        """Wait until queued writes have landed, raising any that were rejected.

        Stores that write before returning have nothing queued.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
