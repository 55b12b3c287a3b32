"""``traza export``: copy a Traza store into MLflow (an MLflow server or MLflow's own database).

Reads through Traza's :class:`~traza.store.base.Store` and writes through the real ``mlflow``
client (installed separately: it is not a dependency of Traza), so whatever MLflow accepts is
what lands. MLflow chooses its own run, experiment and logged-model ids, so the export keeps a
mapping in the target itself, which makes a second export of the same store idempotent:

- experiments are matched by name (``Default`` is MLflow's experiment ``0``);
- each exported run carries the tag ``traza.source_run_id`` and, once every part of it has
  landed, ``traza.export_digest`` (a hash of the source run's state, then one of its artifact
  listing). A run whose digest still matches is left alone; one whose source changed since (or
  whose export was interrupted) gets only what it lacks: new params, tags, metric points,
  inputs, outputs, and the artifacts when its files changed;
- logged models carry ``traza.source_model_id``; one still pending in MLflow (its export was
  interrupted) gets its artifacts and status again;
- registered models are matched by name and versions by number. Version numbers are kept:
  a number the source no longer has (a deleted version) becomes a placeholder version in MLflow
  that is deleted at once, as MLflow never reuses a number.

Kept as in the source: start and end times, status, lifecycle (deleted runs and experiments
are exported, then deleted), metric histories with their steps, timestamps and model/dataset
links, parent runs (``mlflow.parentRunId`` mapped to the new ids), dataset inputs with their
tags, model outputs, artifacts, logged models with their params, tags and artifacts, and
registered models with descriptions, tags, versions (source, run, tags, description, stage) and
aliases. Not exported: logged models in the deleted stage (the store interface hides them).
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from traza.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    Run,
    ViewType,
)
from traza.exceptions import invalid
from traza.store.base import Store
from traza.transfer.export_models import ModelExport
from traza.transfer.export_support import (
    DIGEST_TAG,
    PARENT_TAG,
    SOURCE_RUN_TAG,
    ExportSummary,
    chunks,
    load_mlflow,
    mlflow_errors,
    pages,
    point_key,
    sha256_json,
)

_QUIET_URLS = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
#: MLflow's log_batch limits.
METRICS_PER_BATCH = 1000
PARAMS_PER_BATCH = 100
TAGS_PER_BATCH = 100
_TERMINAL = ("FINISHED", "FAILED", "KILLED")
_TARGET_SCHEMES = ("http", "https", "sqlite", "postgresql", "postgres", "mysql", "mssql", "file")


class MlflowExporter(ModelExport):
    """Exports a Traza store into the MLflow tracking URI ``target_uri``."""

    def __init__(
        self,
        source: Store,
        target_uri: str,
        progress: Callable[[str], None] | None = None,
        source_tracking_uri: str | None = None,
    ) -> None:
        self.mlflow = load_mlflow()
        self.entities = importlib.import_module("mlflow.entities")
        self.source = source
        self.source_tracking_uri = source_tracking_uri
        self.target_uri = target_uri
        with mlflow_errors(target_uri):
            self.client = self.mlflow.MlflowClient(tracking_uri=target_uri, registry_uri=target_uri)
        self.progress = progress or (lambda _message: None)
        self.summary = ExportSummary()
        self.run_ids: dict[str, str] = {}  # source run id -> target run id
        self.model_ids: dict[str, str] = {}  # source logged model id -> target id
        self.run_roots: dict[str, str] = {}  # source run's artifact root -> target run id
        self._source_model_tags: dict[str, dict[str, str]] = {}
        self._target_experiment_id = ""
        #: Only some experiments are exported: registered models none of whose versions come
        #: from them are left out.
        self.partial = False
        self._experiment_deleted = False

    # -- the whole export ----------------------------------------------------------------------
    def export(self, experiment_ids: Sequence[str] | None = None) -> ExportSummary:
        # MLflow resolves models:/ sources of new versions through its global tracking URI.
        previous = self.mlflow.get_tracking_uri() if self.mlflow.is_tracking_uri_set() else None
        self.mlflow.set_tracking_uri(self.target_uri)
        # Not a "View run at" line (and a request) for every run ended.
        quiet = os.environ.get(_QUIET_URLS)
        os.environ[_QUIET_URLS] = "true"
        try:
            with mlflow_errors(self.target_uri):
                return self._export(experiment_ids)
        finally:
            self.mlflow.set_tracking_uri(previous)
            if quiet is None:
                os.environ.pop(_QUIET_URLS, None)
            else:
                os.environ[_QUIET_URLS] = quiet

    def _export(self, experiment_ids: Sequence[str] | None) -> ExportSummary:
        started = time.monotonic()
        self.partial = bool(experiment_ids)
        if experiment_ids:
            experiments = [self.source.get_experiment(str(e)) for e in experiment_ids]
        else:
            experiments = list(
                pages(
                    lambda token: self.source.search_experiments(
                        ViewType.ALL, 1000, None, None, token
                    )
                )
            )
        for n, experiment in enumerate(experiments, 1):
            self.progress(
                f"[{n}/{len(experiments)}] experiment {experiment.name!r} "
                f"({experiment.experiment_id})"
            )
            self._experiment(experiment)
        self._registered_models()
        self._model_version_links()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    # -- experiments ---------------------------------------------------------------------------
    def _experiment(self, experiment: Experiment) -> None:
        client = self.client
        target = client.get_experiment_by_name(experiment.name)
        self._experiment_deleted = False
        if target is None:
            target_id = str(client.create_experiment(experiment.name, tags=experiment.tags))
            self.summary.counts["experiments created"] += 1
        else:
            target_id = str(target.experiment_id)
            self.summary.counts["experiments matched"] += 1
            self._experiment_deleted = target.lifecycle_stage == LifecycleStage.DELETED
            changed = {k: v for k, v in experiment.tags.items() if target.tags.get(k) != v}
            if changed:
                self._writable(target_id)
            for key, value in changed.items():
                client.set_experiment_tag(target_id, key, value)
        self._target_experiment_id = target_id
        if experiment.lifecycle_stage == LifecycleStage.ACTIVE:
            self._writable(target_id)
        self._runs(experiment, target_id)
        if experiment.lifecycle_stage == LifecycleStage.DELETED and not self._experiment_deleted:
            client.delete_experiment(target_id)

    def _writable(self, target_id: str) -> None:
        """MLflow writes only into active experiments: restore a deleted one once, when needed
        (a deleted experiment with nothing new stays as it is)."""
        if self._experiment_deleted:
            self.client.restore_experiment(target_id)
            self._experiment_deleted = False

    # -- runs ----------------------------------------------------------------------------------
    def _runs(self, experiment: Experiment, target_id: str) -> None:
        source_runs = list(
            pages(
                lambda token: self.source.search_runs(
                    [experiment.experiment_id], None, ViewType.ALL, 1000, None, token
                )
            )
        )
        if not source_runs:
            self._logged_models(experiment, target_id)
            return
        existing: dict[str, Any] = {}
        for run in pages(
            lambda token: self.client.search_runs([target_id], "", ViewType.ALL, 1000, None, token)
        ):
            source_id = run.data.tags.get(SOURCE_RUN_TAG)
            if source_id:
                existing[source_id] = run
        # Every run first exists (so parents, logged models and outputs can name it)...
        fresh: set[str] = set()
        for run in source_runs:
            found = existing.get(run.info.run_id)
            if found is None:
                self._writable(target_id)
                found = existing[run.info.run_id] = self._create_run(run, target_id)
                fresh.add(run.info.run_id)
            self.run_ids[run.info.run_id] = found.info.run_id
            self.run_roots[run.info.artifact_uri.rstrip("/")] = found.info.run_id
        self._logged_models(experiment, target_id)
        # ...then gets its data.
        for n, run in enumerate(source_runs, 1):
            self._sync_run(run, existing.get(run.info.run_id), run.info.run_id in fresh)
            if n % 100 == 0 or n == len(source_runs):
                self.progress(f"  runs {n}/{len(source_runs)}")

    def _create_run(self, run: Run, target_experiment_id: str) -> Any:
        tags = {SOURCE_RUN_TAG: run.info.run_id}
        if run.info.user_id and "mlflow.user" not in run.data.tags:
            tags["mlflow.user"] = run.info.user_id
        elif "mlflow.user" in run.data.tags:
            tags["mlflow.user"] = run.data.tags["mlflow.user"]
        created = self.client.create_run(
            target_experiment_id,
            start_time=run.info.start_time,
            tags=tags,
            run_name=run.info.run_name or None,
        )
        self.summary.counts["runs created"] += 1
        return created

    def _digest(self, run: Run) -> str:
        """A hash of everything an export writes for ``run`` (and the ids it maps to), ``/``, a
        hash of its artifact listing alone: a run whose metrics or tags moved on but whose files
        did not is not uploaded again."""
        listing = self._artifact_listing(run.info.artifact_uri)
        summaries = [
            (s.key, s.count, s.last_step, s.last_timestamp, repr(s.latest))
            for s in self.source.get_metric_summaries(run.info.run_id)
        ]
        state = {
            "info": [
                run.info.status,
                run.info.start_time,
                run.info.end_time,
                run.info.lifecycle_stage,
                run.info.run_name,
            ],
            "params": sorted(run.data.params.items()),
            "tags": sorted(self._target_tags(run).items()),
            "metrics": sorted(summaries),
            "inputs": [d.to_dict() for d in run.inputs.dataset_inputs],
            "outputs": [
                [self.model_ids.get(o.model_id), o.step] for o in run.outputs.model_outputs
            ],
            "model_inputs": [self.model_ids.get(m.model_id) for m in run.inputs.model_inputs],
            "artifacts": listing,
        }
        return f"{sha256_json(state)}/{sha256_json(listing)}"

    def _target_tags(self, run: Run) -> dict[str, str]:
        tags = dict(run.data.tags)
        parent = tags.get(PARENT_TAG)
        if parent:
            tags[PARENT_TAG] = self.run_ids.get(parent, parent)
        return tags

    def _sync_run(self, run: Run, target: Any, fresh: bool) -> None:
        assert target is not None
        client = self.client
        source_id = run.info.run_id
        target_id = self.run_ids[source_id]
        digest = self._digest(run)
        previous = str(target.data.tags.get(DIGEST_TAG) or "")
        if not fresh and previous == digest:
            self.summary.counts["runs unchanged"] += 1
            if target.info.lifecycle_stage != run.info.lifecycle_stage:
                self._writable(self._target_experiment_id)
                self._sync_lifecycle(run, target)
            return
        self._writable(self._target_experiment_id)
        if target.info.lifecycle_stage == LifecycleStage.DELETED:
            client.restore_run(target_id)
        if not fresh:
            self.summary.counts["runs updated"] += 1
        self._sync_params(run, target, target_id)
        self._sync_metrics(run, target, target_id, fresh)
        self._sync_inputs_outputs(run, target, target_id)
        same_files = previous.partition("/")[2] == digest.partition("/")[2]
        if not same_files and self._upload_artifacts(run.info.artifact_uri, target_id):
            self.summary.counts["artifact roots uploaded"] += 1
        status = run.info.status
        if status in _TERMINAL:
            client.set_terminated(target_id, status, run.info.end_time)
        elif status != target.info.status:
            client.update_run(target_id, status=status)
        # The digest goes last, with the tags: a run without it is completed next time.
        self._sync_tags(run, target, target_id, digest)
        if run.info.lifecycle_stage == LifecycleStage.DELETED:
            client.delete_run(target_id)

    def _sync_lifecycle(self, run: Run, target: Any) -> None:
        wanted = run.info.lifecycle_stage
        if target.info.lifecycle_stage == wanted:
            return
        if wanted == LifecycleStage.DELETED:
            self.client.delete_run(target.info.run_id)
        else:
            self.client.restore_run(target.info.run_id)

    def _sync_params(self, run: Run, target: Any, target_id: str) -> None:
        e = self.entities
        have = target.data.params
        params = []
        for key, value in run.data.params.items():
            if key not in have:
                params.append(e.Param(key, value))
            elif have[key] != value:
                self.summary.skip(
                    "param",
                    f"{run.info.run_id}/{key}",
                    f"the MLflow run already has {key}={have[key]!r} (a param cannot change)",
                )
        for chunk in chunks(params, PARAMS_PER_BATCH):
            self.client.log_batch(target_id, params=chunk)
        self.summary.counts["params"] += len(params)

    def _sync_tags(self, run: Run, target: Any, target_id: str, digest: str) -> None:
        e = self.entities
        tags = [
            e.RunTag(k, v)
            for k, v in self._target_tags(run).items()
            if target.data.tags.get(k) != v and k != "mlflow.user"
        ]
        self.summary.counts["tags"] += len(tags)
        tags.append(e.RunTag(DIGEST_TAG, digest))
        for chunk in chunks(tags, TAGS_PER_BATCH):
            self.client.log_batch(target_id, tags=chunk)

    def _sync_metrics(self, run: Run, target: Any, target_id: str, fresh: bool) -> None:
        e = self.entities
        keys = sorted({m.key for m in run.data.metric_objs})
        pending: list[Any] = []
        for key in keys:
            history: list[Metric] = list(self.source.get_metric_history(run.info.run_id, key))
            if not fresh and key in target.data.metrics:
                present = Counter(
                    point_key(m.key, m.value, m.timestamp, m.step)
                    for m in self.client.get_metric_history(target_id, key)
                )
                missing = []
                for m in history:
                    point = point_key(m.key, m.value, m.timestamp, m.step)
                    if present[point] > 0:
                        present[point] -= 1
                    else:
                        missing.append(m)
                history = missing
            for m in history:
                model_id = self.model_ids.get(m.model_id) if m.model_id else None
                pending.append(
                    e.Metric(
                        m.key,
                        m.value,
                        m.timestamp,
                        m.step,
                        model_id=model_id,
                        dataset_name=m.dataset_name,
                        dataset_digest=m.dataset_digest,
                    )
                )
                if len(pending) >= METRICS_PER_BATCH:
                    self.client.log_batch(target_id, metrics=pending)
                    self.summary.counts["metric points"] += len(pending)
                    pending = []
        if pending:
            self.client.log_batch(target_id, metrics=pending)
            self.summary.counts["metric points"] += len(pending)

    def _sync_inputs_outputs(self, run: Run, target: Any, target_id: str) -> None:
        e = self.entities
        have = {
            (d.dataset.name, d.dataset.digest)
            for d in getattr(target.inputs, "dataset_inputs", None) or ()
        }
        datasets = [
            e.DatasetInput(
                e.Dataset(
                    d.dataset.name,
                    d.dataset.digest,
                    d.dataset.source_type,
                    d.dataset.source,
                    d.dataset.schema,
                    d.dataset.profile,
                ),
                [e.InputTag(t.key, t.value) for t in d.tags],
            )
            for d in run.inputs.dataset_inputs
            if (d.dataset.name, d.dataset.digest) not in have
        ]
        if datasets:
            self.client.log_inputs(target_id, datasets=datasets)
            self.summary.counts["dataset inputs"] += len(datasets)
        outputs_have = {o.model_id for o in getattr(target.outputs, "model_outputs", None) or ()}
        outputs = []
        for o in run.outputs.model_outputs:
            mapped = self.model_ids.get(o.model_id)
            if mapped is None:
                self.summary.skip(
                    "model output",
                    f"{run.info.run_id}/{o.model_id}",
                    "the logged model was not exported (it is deleted or in another experiment)",
                )
            elif mapped not in outputs_have:
                outputs.append(e.LoggedModelOutput(mapped, o.step))
        if outputs:
            self.client.log_outputs(target_id, outputs)
            self.summary.counts["model outputs"] += len(outputs)
        models_have = {m.model_id for m in getattr(target.inputs, "model_inputs", None) or ()}
        used = []
        for m in run.inputs.model_inputs:
            mapped = self.model_ids.get(m.model_id)
            if mapped is None:
                self.summary.skip(
                    "model input",
                    f"{run.info.run_id}/{m.model_id}",
                    "the logged model was not exported (it is deleted or in another experiment)",
                )
            elif mapped not in models_have:
                used.append(e.LoggedModelInput(mapped))
        if used:
            self.client.log_inputs(target_id, models=used)
            self.summary.counts["model inputs"] += len(used)

    # -- artifacts -----------------------------------------------------------------------------
    def _local_root(self, artifact_uri: str) -> Path | None:
        from traza.artifacts import get_repository
        from traza.artifacts.local import LocalArtifactRepository

        repo = get_repository(artifact_uri, self.source_tracking_uri)
        return repo.root if isinstance(repo, LocalArtifactRepository) else None

    def _artifact_listing(self, artifact_uri: str) -> list[tuple[str, int | None]]:
        """Every file under an artifact root with its size (empty when there is none)."""
        local = self._local_root(artifact_uri)
        if local is not None:
            if not local.is_dir():
                return []
            return sorted(
                (str(p.relative_to(local)), p.stat().st_size)
                for p in local.rglob("*")
                if p.is_file()
            )
        from traza.artifacts import get_repository

        repo = get_repository(artifact_uri, self.source_tracking_uri)
        found: list[tuple[str, int | None]] = []
        folders: list[str | None] = [None]
        while folders:
            for info in repo.list_artifacts(folders.pop()):
                if info.is_dir:
                    folders.append(info.path)
                else:
                    found.append((info.path, info.file_size))
        return sorted(found)

    def _upload_artifacts(self, artifact_uri: str, target_id: str, model: bool = False) -> bool:
        """Copy an artifact root into the target run (or logged model); False if it is empty."""
        upload = self.client.log_model_artifacts if model else self.client.log_artifacts
        local = self._local_root(artifact_uri)
        if local is not None:
            if not local.is_dir() or not any(local.iterdir()):
                return False
            upload(target_id, str(local))
            return True
        if not self._artifact_listing(artifact_uri):
            return False
        from traza.artifacts import get_repository

        repo = get_repository(artifact_uri, self.source_tracking_uri)
        with tempfile.TemporaryDirectory(prefix="traza-export-") as tmp:
            for info in repo.list_artifacts(None):
                repo.download_artifacts(info.path, Path(tmp))
            upload(target_id, tmp)
        return True


def export_to_mlflow(
    source: Store,
    target_uri: str,
    experiment_ids: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    source_tracking_uri: str | None = None,
) -> ExportSummary:
    """Export ``source`` (all of it, or these experiments) to the MLflow URI ``target_uri``."""
    scheme = target_uri.split(":", 1)[0].split("+", 1)[0] if ":" in target_uri else ""
    if scheme not in _TARGET_SCHEMES:
        raise invalid(
            f"Cannot export to {target_uri!r}: give an MLflow tracking URI, an MLflow server "
            "(http://host:5000) or a database for MLflow (sqlite:///mlflow.db, "
            "postgresql://user@host/db, mysql://...)."
        )
    _refuse_traza_store(target_uri)
    exporter = MlflowExporter(source, target_uri, progress, source_tracking_uri)
    return exporter.export(experiment_ids)


def _target_tables(target_uri: str) -> set[str]:
    """The tables of a database target, or of the ``traza.db`` in a ``file:`` target's folder
    (empty when there is none yet, or it cannot be reached: MLflow then says why)."""
    from traza.store.uri import DB_FILENAME, local_folder

    path: Path | None = None
    if target_uri.startswith("sqlite:///"):
        path = Path(target_uri[len("sqlite:///") :].split("?", 1)[0]).expanduser()
    elif target_uri.startswith("file:"):
        folder = local_folder(target_uri)
        path = folder / DB_FILENAME if folder is not None else None
    elif target_uri.startswith(("postgresql", "postgres:")):
        from traza.store.sql.postgres import PostgresDatabase

        db = PostgresDatabase(target_uri, max_connections=1)
        try:
            return db.table_names()
        except Exception:
            return set()
        finally:
            db.close()
    if path is None or not path.is_file():
        return set()
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return set()


def _refuse_traza_store(target_uri: str) -> None:
    """A Traza store is no MLflow target: MLflow would add its own tables to it and run its
    migrations over Traza's tables of the same names (failing half way, the store altered)."""
    if "traza_migrations" in _target_tables(target_uri):
        raise invalid(
            f"{target_uri} is a Traza store, not an MLflow one; exporting into it would let "
            "MLflow alter it. Copy between Traza stores with `traza sync SOURCE TARGET`, or "
            "export to a database or server of MLflow's."
        )
