"""``traza export``, the model half: logged models, then registered models with their
versions, tags and aliases, written through the ``mlflow`` client (see :mod:`.export`)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from traza.entities import Experiment, LoggedModel
from traza.entities.registry import ModelVersion, RegisteredModel
from traza.transfer.export_support import (
    MODEL_VERSIONS_TAG,
    SOURCE_MODEL_TAG,
    ExportSummary,
    error_code,
    own_tags,
    pages,
    status_text,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from traza.store.base import Store


class ModelExport:
    """The part of :class:`~traza.transfer.export.MlflowExporter` that exports models."""

    if TYPE_CHECKING:  # provided by MlflowExporter
        client: Any
        source: Store
        summary: ExportSummary
        progress: Callable[[str], None]
        partial: bool
        run_ids: dict[str, str]
        model_ids: dict[str, str]
        run_roots: dict[str, str]
        _source_model_tags: dict[str, dict[str, str]]

        def _writable(self, target_id: str) -> None: ...

        def _upload_artifacts(
            self, artifact_uri: str, target_id: str, model: bool = False
        ) -> bool: ...

    # -- logged models -------------------------------------------------------------------------
    def _logged_models(self, experiment: Experiment, target_id: str) -> None:
        models: list[LoggedModel] = list(
            pages(
                lambda token: self.source.search_logged_models(
                    [experiment.experiment_id], max_results=1000, page_token=token
                )
            )
        )
        if not models:
            return
        existing: dict[str, Any] = {}
        for m in pages(
            lambda token: self.client.search_logged_models(
                [target_id], max_results=1000, page_token=token
            )
        ):
            source_id = (m.tags or {}).get(SOURCE_MODEL_TAG)
            if source_id:
                existing[source_id] = m
        for model in models:
            self._source_model_tags[model.model_id] = dict(model.tags)
            found = existing.get(model.model_id)
            if found is not None:
                self.model_ids[model.model_id] = found.model_id
                self.summary.counts["logged models matched"] += 1
                missing = {k: v for k, v in own_tags(model.tags).items() if found.tags.get(k) != v}
                if missing:
                    self._writable(target_id)
                    self.client.set_logged_model_tags(found.model_id, missing)
                if status_text(found.status) == "PENDING":  # an export stopped before it finished
                    self._writable(target_id)
                    self._finish_model(model, found.model_id)
                continue
            source_run = (
                self.run_ids.get(model.source_run_id or "") if model.source_run_id else None
            )
            self._writable(target_id)
            created = self.client.create_logged_model(
                target_id,
                name=model.name,
                source_run_id=source_run,
                tags={**own_tags(model.tags), SOURCE_MODEL_TAG: model.model_id},
                params=dict(model.params) or None,
                model_type=model.model_type,
            )
            self.model_ids[model.model_id] = created.model_id
            self._finish_model(model, created.model_id)
            self.summary.counts["logged models created"] += 1

    def _finish_model(self, model: LoggedModel, target_model_id: str) -> None:
        """Upload a logged model's artifacts, then finalize it as the source's is (a model still
        pending in the source stays pending, and gets its files again next time)."""
        self._upload_artifacts(model.artifact_location, target_model_id, model=True)
        status = status_text(model.status)
        if status in ("READY", "FAILED"):
            self.client.finalize_logged_model(target_model_id, status)

    def _model_version_links(self) -> None:
        """Give exported logged models the ``mlflow.modelVersions`` tag of the source.

        An MLflow server sets it on every version it creates from a logged model; MLflow's
        stores used directly do not, so it is copied where the target still lacks it.
        """
        for source_id, target_id in self.model_ids.items():
            links = self._source_model_tags.get(source_id, {}).get(MODEL_VERSIONS_TAG)
            if links and MODEL_VERSIONS_TAG not in (
                self.client.get_logged_model(target_id).tags or {}
            ):
                self.client.set_logged_model_tags(target_id, {MODEL_VERSIONS_TAG: links})

    # -- the model registry --------------------------------------------------------------------
    def _registered_models(self) -> None:
        models: list[RegisteredModel] = list(
            pages(lambda token: self.source.search_registered_models(None, 1000, None, token))
        )
        for n, model in enumerate(models, 1):
            self.progress(f"[{n}/{len(models)}] registered model {model.name!r}")
            # The full model (search results may leave out aliases).
            self._registered_model(self.source.get_registered_model(model.name))

    def _registered_model(self, model: RegisteredModel) -> None:
        client = self.client
        quoted = model.name.replace("'", "\\'")
        versions: list[ModelVersion] = sorted(
            pages(
                lambda token: self.source.search_model_versions(
                    f"name = '{quoted}'", 10_000, None, token
                )
            ),
            key=lambda v: int(v.version),
        )
        if self.partial and versions and all(self._version_source(v) is None for v in versions):
            self.summary.skip(
                "registered model",
                model.name,
                "none of its versions comes from the experiments exported",
            )
            return
        try:
            target = client.get_registered_model(model.name)
        except Exception as e:
            if error_code(e) != "RESOURCE_DOES_NOT_EXIST":
                raise
            target = client.create_registered_model(
                model.name, tags=model.tags or None, description=model.description
            )
            self.summary.counts["registered models created"] += 1
        else:
            self.summary.counts["registered models matched"] += 1
            if (target.description or "") != (model.description or ""):
                client.update_registered_model(model.name, description=model.description or "")
            for key, value in model.tags.items():
                if target.tags.get(key) != value:
                    client.set_registered_model_tag(model.name, key, value)
        have = {int(v.version): v for v in client.search_model_versions(f"name = '{quoted}'")}
        mapped: dict[str, str] = {}
        for version in versions:
            number = self._model_version(model.name, version, have)
            if number is not None:
                mapped[version.version] = number
        target_aliases = dict(getattr(target, "aliases", None) or {})
        for alias, version_number in model.aliases.items():
            number = mapped.get(str(version_number))
            if number is None:
                self.summary.skip(
                    "alias", f"{model.name}@{alias}", "the version it names was not exported"
                )
            elif str(target_aliases.get(alias)) != number:
                client.set_registered_model_alias(model.name, alias, number)
                self.summary.counts["aliases"] += 1

    def _version_source(self, version: ModelVersion) -> tuple[str, str | None, str | None] | None:
        """(source, run id, logged model id) of a version in the target, or None if unmappable."""
        run_id = self.run_ids.get(version.run_id) if version.run_id else None
        if version.run_id and run_id is None:
            return None
        model_id = None
        if version.model_id:
            model_id = self.model_ids.get(version.model_id)
            if model_id is None:
                return None
        source = version.source or ""
        if model_id is not None:
            source = f"models:/{model_id}"
        elif source.startswith("runs:/") and version.run_id:
            rest = source[len("runs:/") :].partition("/")[2]
            source = f"runs:/{run_id}/{rest}" if rest else f"runs:/{run_id}"
        else:
            for root, target_run in self.run_roots.items():
                if source == root or source.startswith(root + "/"):
                    rest = source[len(root) :].lstrip("/")
                    source = f"runs:/{target_run}/{rest}" if rest else f"runs:/{target_run}"
                    break
        return source, run_id, model_id

    def _model_version(self, name: str, version: ModelVersion, have: dict[int, Any]) -> str | None:
        client = self.client
        number = int(version.version)
        found = have.get(number)
        if found is None:
            where = self._version_source(version)
            if where is None:
                self.summary.skip(
                    "model version",
                    f"{name}/{version.version}",
                    "its run or logged model was not exported (export its experiment too)",
                )
                return None
            source, run_id, model_id = where
            while True:
                created = client.create_model_version(
                    name,
                    source,
                    run_id=run_id,
                    tags=version.tags or None,
                    run_link=version.run_link,
                    description=version.description,
                    await_creation_for=0,
                    model_id=model_id,
                )
                got = int(created.version)
                if got < number:  # a number the source deleted: keep the numbering
                    client.delete_model_version(name, str(got))
                    continue
                break
            if got != number:
                self.summary.skip(
                    "model version number",
                    f"{name}/{version.version}",
                    f"MLflow had already used that number; exported as version {got}",
                )
            self.summary.counts["model versions created"] += 1
            found = created
        else:
            self.summary.counts["model versions matched"] += 1
            wanted_run = self.run_ids.get(version.run_id) if version.run_id else None
            if wanted_run is not None and found.run_id not in (None, wanted_run):
                self.summary.skip(
                    "model version",
                    f"{name}/{version.version}",
                    f"MLflow already has this version from another run ({found.run_id}); "
                    "left as it is",
                )
            for key, value in version.tags.items():
                if found.tags.get(key) != value:
                    client.set_model_version_tag(name, found.version, key, value)
            if (found.description or "") != (version.description or ""):
                client.update_model_version(name, found.version, version.description or "")
        stage = version.current_stage
        if stage and stage != "None" and found.current_stage != stage:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client.transition_model_version_stage(name, found.version, stage)
        return str(found.version)
