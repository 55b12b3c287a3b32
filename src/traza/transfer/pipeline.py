"""Drive a source into a target store: experiments, logged models, runs, registered models.

Each part goes through ``target.ingest`` in batches, each batch one transaction: an interrupted
transfer leaves whole batches behind, and running it again writes what is missing (the ingest
is idempotent). Experiment ids the target had to change are applied to everything after them. A
batch the target rejects is retried run by run, so one bad run is skipped with its reason
instead of stopping the rest.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from traza.exceptions import TrazaException
from traza.store.base import Store
from traza.transfer.records import (
    ExperimentRecord,
    IngestBatch,
    IngestResult,
    LoggedModelRecord,
    RegisteredModelRecord,
    RunRecord,
)
from traza.transfer.source import Source

T = TypeVar("T")
_UNSERVED_SHOWN = 20
Progress = Callable[[int], None]


@dataclass
class Summary:
    """What a transfer did, per kind, and what it left behind and why."""

    source: str
    target: str
    result: IngestResult = field(default_factory=IngestResult)
    artifacts_copied: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        r = self.result
        kinds = ["experiments", "runs", "logged_models", "registered_models", "model_versions"]
        out = [f"{self.source} -> {self.target} in {self.seconds:.1f} s"]
        for kind in kinds:
            parts = [
                f"{n} {what}"
                for what, n in (
                    ("new", r.created.get(kind, 0)),
                    ("updated", r.updated.get(kind, 0)),
                    ("unchanged", r.unchanged.get(kind, 0)),
                )
                if n
            ]
            if parts:
                out.append(f"  {kind.replace('_', ' ')}: {', '.join(parts)}")
        out.append(f"  metric points written: {r.metric_points}")
        if self.artifacts_copied:
            out.append(f"  run and model artifact folders copied: {self.artifacts_copied}")
        for mapped_from, to in sorted(r.experiment_ids.items()):
            out.append(f"  experiment id {mapped_from} -> {to} in the target")
        if r.conflicts:
            out.append(f"  conflicts ({len(r.conflicts)}):")
            out += [f"    - {c}" for c in r.conflicts]
        if r.skipped:
            out.append(f"  skipped ({len(r.skipped)}):")
            out += [f"    - {s}" for s in r.skipped]
        if r.unserved:
            out.append(
                f"  artifacts the target server will not serve ({len(r.unserved)} runs: their "
                "locations lie outside its trusted artifact roots; rerun with --copy-artifacts "
                "to copy them in, or import into the server's backend store directly):"
            )
            out += [f"    - {u}" for u in r.unserved[:_UNSERVED_SHOWN]]
            if len(r.unserved) > _UNSERVED_SHOWN:
                out.append(f"    - ... and {len(r.unserved) - _UNSERVED_SHOWN} more")
        return out


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Transfer:
    def __init__(
        self,
        source: Source,
        target: Store,
        target_label: str,
        copy_artifacts: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.copy_artifacts = copy_artifacts
        self.progress = progress or (lambda n: None)
        self.summary = Summary(source.label, target_label)
        self.ids: dict[str, str] = {}
        from traza.trusted_roots import TrustedRoots

        self._recording = True
        self._recorded_by = f"transfer from {source.label}"
        self._trusted = TrustedRoots(())

    def _ingest(self, batch: IngestBatch) -> IngestResult:
        result = self.target.ingest(batch)
        self.summary.result.merge(result)
        self.ids.update(result.experiment_ids)
        return result

    def _map(self, experiment_id: str) -> str:
        return self.ids.get(experiment_id, experiment_id)

    def run(self) -> Summary:
        started = time.perf_counter()
        experiments = self.source.experiments()
        self.experiments(experiments)
        self.logged_models(self.source.logged_models())
        for batch in self.source.run_batches():
            self.runs(batch)
            self.progress(len(batch))
        unchanged = int(getattr(self.source, "unchanged_runs", 0))
        if unchanged:
            self.summary.result.count("unchanged", "runs", unchanged)
        self.registered_models(self.source.registered_models())
        self.summary.result.skipped += self.source.skipped
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def experiments(self, records: Sequence[ExperimentRecord]) -> None:
        self._source_locations = {e.experiment_id: e.artifact_location for e in records}
        if self.copy_artifacts:
            for e in records:
                e.artifact_location = ""
        try:
            self._ingest(IngestBatch(experiments=list(records)))
        except TrazaException:
            if len(records) <= 1:
                raise
            for e in records:  # find the one that fails (a refused location); keep the rest
                try:
                    self._ingest(IngestBatch(experiments=[e]))
                except TrazaException as err:
                    self.summary.result.skipped.append(
                        f"experiment {e.name!r} ({e.experiment_id}) and its runs: {err.message}"
                    )
        self._trust(e.artifact_location for e in records)

    def logged_models(self, records: Iterable[LoggedModelRecord]) -> None:
        for batch in _chunks(records, 500):
            sources = {m.model_id: m.artifact_location for m in batch}
            for m in batch:
                m.experiment_id = self._map(m.experiment_id)
                if self.copy_artifacts:
                    m.artifact_location = ""
            self._ingest(IngestBatch(logged_models=batch))
            self._trust(m.artifact_location for m in batch)
            if self.copy_artifacts:
                for m in batch:
                    self._copy(sources[m.model_id], functools.partial(self._model_uri, m.model_id))

    def runs(self, batch: list[RunRecord]) -> None:
        sources = {r.run_id: r.artifact_uri for r in batch}
        for r in batch:
            r.experiment_id = self._map(r.experiment_id)
            if self.copy_artifacts:
                r.artifact_uri = ""
        try:
            self._ingest(IngestBatch(runs=batch))
        except TrazaException:
            if len(batch) == 1:
                raise
            for r in batch:  # find the one that fails; keep the rest
                try:
                    self._ingest(IngestBatch(runs=[r]))
                except TrazaException as e:
                    self.summary.result.skipped.append(f"run {r.run_id}: {e.message}")
        self._trust(r.artifact_uri for r in batch)
        if self.copy_artifacts:
            for r in batch:
                self._copy(sources[r.run_id], functools.partial(self._run_uri, r.run_id))

    def registered_models(self, records: Iterable[RegisteredModelRecord]) -> None:
        for batch in _chunks(records, 100):
            self._ingest(IngestBatch(registered_models=batch))

    # -- artifacts ---------------------------------------------------------------------------
    def _trust(self, locations: Iterable[str]) -> None:
        """Record where the imported artifacts lie as trusted roots of the target store.

        Only a store opened directly records them (an operator's command on the backend store
        itself); a server's store cannot be told over HTTP, and says instead which runs'
        artifacts it will not serve.
        """
        if self.copy_artifacts or not self._recording:
            return
        from traza.safepath import safe_location
        from traza.trusted_roots import TrustedRoots, recordable, served_kind

        for location in locations:
            if not location or location.startswith("mlflow-artifacts:"):
                continue
            if self._trusted.contains(location):
                continue
            try:
                root = safe_location(location)
            except TrazaException:
                continue  # the ingest refused it and said why
            if not served_kind(root):
                continue  # gs://, wasbs://, ...: the server opens none of these
            if not recordable(root):
                self.summary.result.skipped.append(
                    f"artifacts at {location}: too broad a folder to record as a trusted root; "
                    "the server will not serve them (copy them with --copy-artifacts)"
                )
                continue
            try:
                self.target.record_trusted_artifact_root(root, self._recorded_by)
            except TrazaException:
                self._recording = False  # a server's store: it reports what it will not serve
                return
            self._trusted = TrustedRoots((*self._trusted.configured, root))

    def _run_uri(self, run_id: str) -> str:
        return self.target.get_run(run_id).info.artifact_uri

    def _model_uri(self, model_id: str) -> str:
        return self.target.get_logged_model(model_id).artifact_location

    def _copy(self, source_uri: str, target_uri: Callable[[], str]) -> None:
        from traza.artifacts import get_repository

        folder = _local_folder(source_uri)
        if folder is None:
            if source_uri:
                self.summary.result.skipped.append(
                    f"artifacts at {source_uri}: only local folders are copied; the target "
                    "keeps the location"
                )
            return
        if not folder.is_dir() or not any(folder.iterdir()):
            return
        try:
            tracking = self.summary.target if "://" in self.summary.target else None
            get_repository(target_uri(), tracking).log_artifacts(folder)
        except TrazaException as e:
            self.summary.result.skipped.append(f"artifacts at {source_uri}: {e.message}")
            return
        self.summary.artifacts_copied += 1


def _local_folder(uri: str) -> Path | None:
    import urllib.parse

    if uri.startswith("file:"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    if uri.startswith("/"):
        return Path(uri)
    return None
