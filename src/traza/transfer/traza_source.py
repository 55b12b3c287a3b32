"""Read a Traza store through the Store interface, for ``traza sync``: only what the target lacks.

Incremental by comparison, with no state kept anywhere: a run the target does not have is sent
whole; a run it has is compared (status, end time, stage, name, params, tags, and per metric key
the point count and last step/timestamp from ``get_metric_summaries``) and only what differs is
sent, with the full history of just the metric keys that differ (the writer skips the points it
already holds). A run that matches is not sent at all. Because the comparison is against what
the target holds now, an interrupted sync is resumed by running it again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from traza.entities import Run, ViewType
from traza.store.base import Store
from traza.transfer.records import (
    DatasetRecord,
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    Point,
    RegisteredModelRecord,
    RunRecord,
)
from traza.transfer.source import batched

_PAGE = 1000
_LOOKUP = 200


def _all_runs(
    store: Store, experiment_ids: Sequence[str], filter_string: str | None = None
) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = store.search_runs(
            experiment_ids,
            filter_string=filter_string,
            run_view_type=ViewType.ALL,
            max_results=_PAGE,
            page_token=token,
        )
        runs += page
        token = page.token
        if not token:
            return runs


class TrazaSource:
    def __init__(self, source: Store, label: str, target: Store) -> None:
        self.store = source
        self.target = target
        self.label = label
        self.skipped: list[str] = []
        #: Runs found identical in the target (never sent).
        self.unchanged_runs = 0
        self._experiments: list[ExperimentRecord] | None = None
        self._runs: list[Run] | None = None
        #: (run id, key, timestamp, step, value) -> (model id, dataset name, dataset digest), from
        #: the logged models' metrics, for sources whose histories do not carry the link (an
        #: MLflow server's get-history).
        self._links: dict[tuple[object, ...], tuple[str | None, ...]] = {}

    def experiments(self) -> list[ExperimentRecord]:
        if self._experiments is None:
            out = []
            token = None
            while True:
                page = self.store.search_experiments(
                    view_type=ViewType.ALL, max_results=_PAGE, page_token=token
                )
                out += [
                    ExperimentRecord(
                        experiment_id=e.experiment_id,
                        name=e.name,
                        artifact_location=e.artifact_location,
                        lifecycle_stage=e.lifecycle_stage,
                        creation_time=e.creation_time,
                        last_update_time=e.last_update_time,
                        tags=dict(e.tags),
                    )
                    for e in page
                ]
                token = page.token
                if not token:
                    break
            self._experiments = out
        return self._experiments

    def _experiment_ids(self) -> list[str]:
        return [e.experiment_id for e in self.experiments()]

    def _source_runs(self) -> list[Run]:
        if self._runs is None:
            self._runs = _all_runs(self.store, self._experiment_ids())
        return self._runs

    def run_count(self) -> int:
        return len(self._source_runs())

    # -- logged models -----------------------------------------------------------------------
    def logged_models(self) -> Iterator[LoggedModelRecord]:
        token = None
        while True:
            page = self.store.search_logged_models(
                self._experiment_ids(), max_results=_PAGE, page_token=token
            )
            for m in page:
                for x in m.metrics or ():
                    point = (x.run_id, x.key, x.timestamp, x.step, x.value)
                    self._links[point] = (m.model_id, x.dataset_name, x.dataset_digest)
                yield LoggedModelRecord(
                    model_id=m.model_id,
                    experiment_id=m.experiment_id,
                    name=m.name,
                    artifact_location=m.artifact_location,
                    creation_time=m.creation_timestamp,
                    last_update_time=m.last_updated_timestamp,
                    source_run_id=m.source_run_id,
                    model_type=m.model_type,
                    status=str(m.status),
                    status_message=m.status_message,
                    tags=dict(m.tags),
                    params=dict(m.params),
                )
            token = page.token
            if not token:
                return

    # -- runs --------------------------------------------------------------------------------
    def run_batches(self) -> Iterator[list[RunRecord]]:
        return batched(self._changed_runs())

    def _target_runs(self, run_ids: list[str]) -> dict[str, Run]:
        target_experiments: list[str] = []
        token = None
        while True:
            page = self.target.search_experiments(
                view_type=ViewType.ALL, max_results=_PAGE, page_token=token
            )
            target_experiments += [e.experiment_id for e in page]
            token = page.token
            if not token:
                break
        found: dict[str, Run] = {}
        for i in range(0, len(run_ids), _LOOKUP):
            chunk = run_ids[i : i + _LOOKUP]
            quoted = ", ".join(f"'{r}'" for r in chunk)
            for run in _all_runs(
                self.target, target_experiments, f"attributes.run_id IN ({quoted})"
            ):
                found[run.info.run_id] = run
        return found

    def _changed_runs(self) -> Iterator[RunRecord]:
        runs = self._source_runs()
        for start in range(0, len(runs), _PAGE):
            page = runs[start : start + _PAGE]
            have = self._target_runs([r.info.run_id for r in page])
            theirs = self._target_summaries(sorted(have))
            for run in page:
                old = have.get(run.info.run_id)
                record = self._record(run, old, theirs.get(run.info.run_id, {}))
                if record is None:
                    self.unchanged_runs += 1
                else:
                    yield record

    def _target_summaries(
        self, run_ids: list[str]
    ) -> dict[str, dict[str, tuple[int | None, int, int]]]:
        """The target's metric summaries of these runs, fetched a few at a time (a server's
        round trips overlap; a local store serialises them anyway)."""
        from concurrent.futures import ThreadPoolExecutor

        def one(run_id: str) -> tuple[str, dict[str, tuple[int | None, int, int]]]:
            summaries = self.target.get_metric_summaries(run_id)
            return run_id, {s.key: (s.count, s.last_step, s.last_timestamp) for s in summaries}

        if not run_ids:
            return {}
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(pool.map(one, run_ids))

    def _summaries(self, run: Run) -> dict[str, tuple[int | None, int, int]]:
        """Per metric key of a source run: (point count, last step, last timestamp)."""
        return {
            s.key: (s.count, s.last_step, s.last_timestamp)
            for s in self.store.get_metric_summaries(run.info.run_id)
        }

    def _model_inputs(self, run: Run) -> list[str]:
        """Ids of the logged models a run (as searched) used."""
        return [m.model_id for m in run.inputs.model_inputs]

    def _record(
        self, run: Run, old: Run | None, theirs: dict[str, tuple[int | None, int, int]]
    ) -> RunRecord | None:
        info = run.info
        keys = [m.key for m in run.data.metric_objs]
        partial = False
        if old is not None:
            mine = self._summaries(run)
            keys = [
                k
                for k, (n, step, ts) in mine.items()
                if k not in theirs or (n if n is not None else theirs[k][0], step, ts) != theirs[k]
            ]
            partial = True
            same_info = (
                old.info.status,
                old.info.end_time,
                old.info.lifecycle_stage,
                old.info.run_name,
            ) == (info.status, info.end_time, info.lifecycle_stage, info.run_name)
            same_data = old.data.params == run.data.params and all(
                old.data.tags.get(k) == v for k, v in run.data.tags.items()
            )
            have_inputs = {(d.dataset.name, d.dataset.digest) for d in old.inputs.dataset_inputs}
            have_outputs = {o.model_id for o in old.outputs.model_outputs}
            have_models = {m.model_id for m in old.inputs.model_inputs}
            same_links = (
                all(
                    (d.dataset.name, d.dataset.digest) in have_inputs
                    for d in run.inputs.dataset_inputs
                )
                and all(o.model_id in have_outputs for o in run.outputs.model_outputs)
                and all(m.model_id in have_models for m in run.inputs.model_inputs)
            )
            if same_info and same_data and same_links and not keys:
                return None
        points: list[Point] = []
        links = self._links
        for key in keys:
            for m in self.store.get_metric_history(info.run_id, key):
                model_id, dname, ddigest = m.model_id, m.dataset_name, m.dataset_digest
                if model_id is None and links:
                    link = links.get((info.run_id, m.key, m.timestamp, m.step, m.value))
                    if link is not None:
                        model_id, dname, ddigest = link
                points.append((m.key, m.value, m.timestamp, m.step, model_id, dname, ddigest))
        return RunRecord(
            run_id=info.run_id,
            experiment_id=info.experiment_id,
            name=info.run_name,
            user_id=info.user_id,
            status=info.status,
            start_time=info.start_time,
            end_time=info.end_time,
            lifecycle_stage=info.lifecycle_stage,
            artifact_uri=info.artifact_uri,
            params=dict(run.data.params),
            tags=dict(run.data.tags),
            metrics=points,
            inputs=[
                DatasetRecord(
                    name=d.dataset.name,
                    digest=d.dataset.digest,
                    source_type=d.dataset.source_type,
                    source=d.dataset.source,
                    schema=d.dataset.schema,
                    profile=d.dataset.profile,
                    tags={t.key: t.value for t in d.tags},
                )
                for d in run.inputs.dataset_inputs
            ],
            outputs=[(o.model_id, o.step) for o in run.outputs.model_outputs],
            model_inputs=self._model_inputs(run),
            partial_metrics=partial,
        )

    # -- registry ----------------------------------------------------------------------------
    def registered_models(self) -> Iterator[RegisteredModelRecord]:
        token = None
        while True:
            page = self.store.search_registered_models(max_results=1000, page_token=token)
            for rm in page:
                versions = []
                vtoken = None
                while True:
                    vpage = self.store.search_model_versions(
                        f"name = '{rm.name.replace(chr(39), chr(39) * 2)}'",
                        max_results=1000,
                        page_token=vtoken,
                    )
                    for v in vpage:
                        versions.append(
                            ModelVersionRecord(
                                version=int(v.version),
                                creation_time=v.creation_timestamp,
                                last_update_time=v.last_updated_timestamp or v.creation_timestamp,
                                source=v.source or "",
                                description=v.description,
                                user_id=v.user_id,
                                current_stage=v.current_stage,
                                run_id=v.run_id,
                                run_link=v.run_link,
                                model_id=v.model_id,
                                status=v.status,
                                status_message=v.status_message,
                                tags=dict(v.tags),
                            )
                        )
                    vtoken = vpage.token
                    if not vtoken:
                        break
                yield RegisteredModelRecord(
                    name=rm.name,
                    creation_time=rm.creation_timestamp,
                    last_update_time=rm.last_updated_timestamp or rm.creation_timestamp,
                    description=rm.description,
                    tags=dict(rm.tags),
                    versions=sorted(versions, key=lambda v: v.version),
                    aliases={a: int(v) for a, v in rm.aliases.items()},
                )
            token = page.token
            if not token:
                return

    def close(self) -> None:
        pass
