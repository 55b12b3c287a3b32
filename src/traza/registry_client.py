"""The model registry on the client: ``MlflowClient``'s registry methods, names and signatures.

A mixin of :class:`traza.client.TrazaClient`; the registry lives in the same store as the runs.
Model loaders resolve ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
``models:/<name>/latest`` and ``models:/<name>/<stage>`` through
:meth:`RegistryClient.get_model_version_download_uri`,
:meth:`RegistryClient.get_model_version_by_alias` and :meth:`RegistryClient.get_latest_versions`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from traza.entities import (
    ModelVersion,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)
from traza.exceptions import invalid, not_found
from traza.store.registry_base import (
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
)

if TYPE_CHECKING:
    from traza.store.base import Store

_STAGES_DEPRECATED = (
    "Model registry stages are deprecated (as in MLflow since 2.9): use aliases instead "
    "(set_registered_model_alias, models:/<name>@<alias>)."
)


def _registered_tags(tags: Mapping[str, Any] | None) -> list[RegisteredModelTag]:
    return [RegisteredModelTag(str(k), str(v)) for k, v in (tags or {}).items()]


class RegistryClient:
    """``create_registered_model`` ... ``get_model_version_by_alias`` over ``self.store``."""

    store: Store

    # -- registered models -------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create an empty registered model; the name must be unused."""
        return self.store.create_registered_model(
            name, _registered_tags(tags), description, deployment_job_id
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.store.rename_registered_model(name, new_name)

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        return self.store.update_registered_model(name, description, deployment_job_id)

    def delete_registered_model(self, name: str) -> None:
        """Delete the model with all its versions."""
        self.store.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """One page of models matching ``name``/``tags.<key>`` comparisons."""
        return self.store.search_registered_models(
            filter_string or None, max_results, order_by, page_token
        )

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The highest version in each stage (of ``stages``, or of every stage)."""
        return self.store.get_latest_versions(name, list(stages) if stages else None)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.store.set_registered_model_tag(name, RegisteredModelTag(key, str(value)))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.store.delete_registered_model_tag(name, key)

    # -- aliases -----------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at ``version`` (moving it from the version it named before)."""
        self.store.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.store.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.store.get_model_version_by_alias(name, alias)

    # -- model versions ----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Register ``source`` as the model's next version.

        ``await_creation_for`` is accepted for MLflow's signature: Traza registers
        synchronously, so the version is READY on return.
        """
        return self.store.create_model_version(
            name,
            source,
            run_id,
            [ModelVersionTag(str(k), str(v)) for k, v in (tags or {}).items()],
            run_link,
            description,
            model_id,
        )

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self.store.get_model_version(name, str(version))

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        return self.store.update_model_version(name, str(version), description)

    def delete_model_version(self, name: str, version: str | int) -> None:
        self.store.delete_model_version(name, str(version))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """One page of versions matching ``name``, ``run_id``, ``version_number``, ... ."""
        return self.store.search_model_versions(
            filter_string or None, max_results, order_by, page_token
        )

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Where the version's artifacts are (what ``models:/<name>/<version>`` resolves to)."""
        return self.store.get_model_version_download_uri(name, str(version))

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        warnings.warn(_STAGES_DEPRECATED, FutureWarning, stacklevel=2)
        return self.store.transition_model_version_stage(
            name, str(version), stage, archive_existing_versions
        )

    def set_model_version_tag(
        self,
        name: str,
        version: str | int | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        """Tag a version, named by number or (deprecated) by the latest version in ``stage``."""
        number = self._version_or_stage(name, version, stage)
        if key is None:
            raise invalid("set_model_version_tag needs a key.")
        self.store.set_model_version_tag(name, number, ModelVersionTag(key, str(value)))

    def delete_model_version_tag(
        self,
        name: str,
        version: str | int | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        number = self._version_or_stage(name, version, stage)
        if key is None:
            raise invalid("delete_model_version_tag needs a key.")
        self.store.delete_model_version_tag(name, number, key)

    def _version_or_stage(self, name: str, version: str | int | None, stage: str | None) -> str:
        if (version is None) == (stage is None):
            raise invalid("Give either a version or a stage (not both) to name a model version.")
        if version is not None:
            return str(version)
        assert stage is not None
        warnings.warn(_STAGES_DEPRECATED, FutureWarning, stacklevel=3)
        latest = self.store.get_latest_versions(name, [stage])
        if not latest:
            raise not_found(f"Could not find any model version for {stage} stage")
        return latest[0].version
