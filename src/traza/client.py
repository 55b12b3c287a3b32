"""``TrazaClient`` (exported as ``MlflowClient`` too): explicit, run-id based tracking calls.

It validates and shapes arguments the way MLflow's client does, then calls one Store; artifacts
go to the repository named by the run's artifact URI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from traza import config
from traza.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    FileInfo,
    LoggedModelInput,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from traza.exceptions import invalid
from traza.logged_model_client import LoggedModelClient
from traza.registry_client import RegistryClient
from traza.store.base import SEARCH_MAX_RESULTS_DEFAULT, Store
from traza.validation import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
    validate_key,
    validate_metrics,
)

_tracking_uri: str | None = None


def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Where this process tracks to, until changed (overrides the environment)."""
    global _tracking_uri
    _tracking_uri = os.fspath(uri) if uri else None


def get_tracking_uri() -> str:
    uri = _tracking_uri or config.tracking_uri_from_environment() or config.DEFAULT_TRACKING_URI
    from traza.store.uri import local_folder

    folder = local_folder(uri)
    return folder.expanduser().resolve().as_uri() if folder is not None else uri


def is_tracking_uri_set() -> bool:
    return bool(_tracking_uri or config.tracking_uri_from_environment())


def _now() -> int:
    return int(time.time() * 1000)


class TrazaClient(LoggedModelClient, RegistryClient):
    """A client over the store at ``tracking_uri`` (default: the current tracking URI)."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        from traza.store.uri import cached_store

        self._tracking_uri = tracking_uri or get_tracking_uri()
        self.store: Store = cached_store(self._tracking_uri)

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> str:
        experiment_id = self.store.create_experiment(
            name, artifact_location, [ExperimentTag(k, str(v)) for k, v in (tags or {}).items()]
        )
        if artifact_location and getattr(self.store, "db", None) is not None:
            # Code on the store itself (not a request over HTTP) chose this folder: a server
            # or `traza ui` over this store may serve its artifacts (see traza/trusted_roots.py).
            from traza.trusted_roots import recordable

            location = self.store.get_experiment(experiment_id).artifact_location
            if recordable(location):
                self.store.record_trusted_artifact_root(location, "create_experiment on the store")
        return experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        return self.store.search_experiments(
            view_type,
            max_results or SEARCH_MAX_RESULTS_DEFAULT,
            filter_string,
            order_by,
            page_token,
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(str(experiment_id), new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(str(experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(str(experiment_id), ExperimentTag(key, str(value)))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.store.delete_experiment_tag(str(experiment_id), key)

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        tags = dict(tags or {})
        user = str(tags.get("mlflow.user") or config.current_user())
        return self.store.create_run(
            str(experiment_id),
            user,
            start_time if start_time is not None else _now(),
            [RunTag(k, str(v)) for k, v in tags.items()],
            run_name,
        )

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        parent_id = self.get_run(run_id).data.tags.get("mlflow.parentRunId")
        return self.get_run(parent_id) if parent_id else None

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self.store.update_run_info(run_id, status, None, name)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> RunInfo:
        status = status or RunStatus.to_string(RunStatus.FINISHED)
        return self.store.update_run_info(
            run_id, status, end_time if end_time is not None else _now(), None
        )

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        if isinstance(experiment_ids, str | int):
            experiment_ids = [str(experiment_ids)]
        return self.store.search_runs(
            [str(e) for e in experiment_ids],
            filter_string,
            run_view_type,
            max_results,
            order_by,
            page_token,
        )

    # -- logging -----------------------------------------------------------------------------
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        model_id: str | None = None,
    ) -> RunOperations:
        metric = Metric(
            key,
            value,
            timestamp if timestamp is not None else _now(),
            step or 0,
            model_id,
            dataset_name,
            dataset_digest,
        )
        self.store.log_metric(run_id, metric)
        return self._operation(synchronous)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        self.store.log_param(run_id, Param(key, str(value)))
        self._operation(synchronous)
        return value

    def set_tag(
        self, run_id: str, key: str, value: Any, synchronous: bool | None = None
    ) -> RunOperations:
        self.store.set_tag(run_id, RunTag(key, str(value)))
        return self._operation(synchronous)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations:
        """Log any number of entities; split into batches within MLflow's limits."""
        metrics, params, tags = list(metrics), list(params), list(tags)
        if not (metrics or params or tags):
            return self._operation(synchronous)
        if len(metrics) > MAX_METRICS_PER_BATCH:
            # Check everything before the first chunk is written: all of it lands, or none.
            validate_metrics(metrics)
        # Params and tags first, so a rejected param leaves no half-logged metrics behind.
        for p_chunk, t_chunk in _zip_chunks(params, tags, MAX_PARAMS_TAGS_PER_BATCH):
            self.store.log_batch(run_id, (), p_chunk, t_chunk)
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.store.log_batch(run_id, metrics[i : i + MAX_METRICS_PER_BATCH], (), ())
        return self._operation(synchronous)

    def _operation(self, synchronous: bool | None) -> RunOperations:
        """What a logging call returns; ``synchronous=True`` waits for queued writes first."""
        if synchronous:
            self.store.flush()
        return RunOperations(self.store)

    def flush(self) -> None:
        """Wait until everything logged through this client's store has landed.

        Against a tracking server, logging is queued and sent in the background; this raises
        what the server rejected. Embedded stores write before returning.
        """
        self.store.flush()

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[Any] | None = None,
    ) -> None:
        """``models``: the logged models the run used (``LoggedModelInput``, or anything with a
        ``model_id``, such as MLflow's own entity)."""
        used = [LoggedModelInput(str(m.model_id)) for m in models or ()]
        self.store.log_inputs(run_id, list(datasets or ()), used)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return list(self.store.get_metric_history(run_id, key))

    # -- artifacts ---------------------------------------------------------------------------
    def _repo(self, run_id: str) -> Any:
        from traza.artifacts import get_repository

        return get_repository(self.get_run(run_id).info.artifact_uri, self._tracking_uri)

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        from pathlib import Path

        path = Path(local_path)
        if path.is_dir():
            self._repo(run_id).log_artifacts(path, f"{artifact_path or ''}/{path.name}".lstrip("/"))
        else:
            self._repo(run_id).log_artifact(path, artifact_path)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        from pathlib import Path

        self._repo(run_id).log_artifacts(Path(local_dir), artifact_path)

    def _log_written(self, run_id: str, artifact_file: str, write: Any) -> None:
        import tempfile
        from pathlib import Path

        from traza.artifacts.writers import split_artifact_file

        folder, name = split_artifact_file(artifact_file)
        with tempfile.TemporaryDirectory(prefix="traza-") as tmp:
            path = write(Path(tmp), name)
            self._repo(run_id).log_artifact(path, folder)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        from traza.artifacts.writers import write_text

        self._log_written(run_id, artifact_file, lambda d, n: write_text(d, n, text))

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        from traza.artifacts.writers import write_dict

        self._log_written(run_id, artifact_file, lambda d, n: write_dict(d, n, dictionary))

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        from traza.artifacts.writers import write_figure

        self._log_written(
            run_id, artifact_file, lambda d, n: write_figure(d, n, figure, save_kwargs)
        )

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Log an image as ``artifact_file``, or as step ``step`` of the image series ``key``."""
        from traza.artifacts.writers import write_image

        if (artifact_file is None) == (key is None):
            raise invalid("log_image takes either artifact_file, or key (with step), not both.")
        if key is not None:
            validate_key(key, "image key")
            ts = timestamp if timestamp is not None else _now()
            artifact_file = f"images/{key}/step_{step or 0}_{ts}.png"
            self.set_tag(run_id, "mlflow.loggedImages", "true")
        assert artifact_file is not None
        self._log_written(run_id, artifact_file, lambda d, n: write_image(d, n, image))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        result: list[FileInfo] = self._repo(run_id).list_artifacts(path)
        return result

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        import tempfile
        from pathlib import Path

        dst = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="traza-artifacts-"))
        return str(self._repo(run_id).download_artifacts(path, dst))


class RunOperations:
    """What a logging call returns; ``wait()`` returns once the data is stored."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def wait(self) -> None:
        self._store.flush()


def _zip_chunks(
    params: list[Param], tags: list[RunTag], size: int
) -> Iterable[tuple[list[Param], list[RunTag]]]:
    for i in range(0, max(len(params), len(tags)), size):
        yield params[i : i + size], tags[i : i + size]


MlflowClient = TrazaClient
