"""The model-registry half of the store interface, a mixin that :class:`Store` inherits.

Methods and arguments follow MLflow's registry store (``AbstractStore``), so the server, the
client and the REST store map one to one. Versions are passed as strings or integers and
returned as strings. Every method either completes or raises ``TrazaException`` with MLflow's
error code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

from traza.entities import (
    ModelVersion,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)

if TYPE_CHECKING:
    from traza.auth.visibility import Visibility

#: MLflow's defaults and ceilings for the two registry searches.
SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT = 100
SEARCH_REGISTERED_MODELS_MAX_RESULTS_LIMIT = 1000
SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT = 10_000
SEARCH_MODEL_VERSIONS_MAX_RESULTS_LIMIT = 200_000


class RegistryStore(ABC):
    """Registered models, their versions, tags, aliases and (deprecated) stages."""

    # -- registered models -------------------------------------------------------------------
    @abstractmethod
    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create an empty model; a taken name is RESOURCE_ALREADY_EXISTS."""

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """The model with its tags, aliases and latest version per stage."""

    @abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename the model; its versions, tags and aliases follow it."""

    @abstractmethod
    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel: ...

    @abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Delete the model and all its versions (for good, as MLflow does)."""

    @abstractmethod
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        visibility: Visibility | None = None,
    ) -> PagedList[RegisteredModel]:
        """Models matching ``name``/``tags.<key>`` comparisons; ordered by name by default."""

    @abstractmethod
    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The highest version in each of ``stages`` (every stage when none are given)."""

    @abstractmethod
    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None: ...

    @abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag; a tag that is not there is no error (as in MLflow)."""

    # -- aliases -----------------------------------------------------------------------------
    @abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at ``version``, moving it if it named another version."""

    @abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` names; ``latest`` is the highest live version."""

    # -- model versions ----------------------------------------------------------------------
    @abstractmethod
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Add the next version (numbers are never reused, even after a delete)."""

    @abstractmethod
    def get_model_version(self, name: str, version: str | int) -> ModelVersion: ...

    @abstractmethod
    def update_model_version(
        self, name: str, version: str | int, description: str | None
    ) -> ModelVersion: ...

    @abstractmethod
    def delete_model_version(self, name: str, version: str | int) -> None:
        """Delete the version and the aliases naming it; its number stays used."""

    @abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        visibility: Visibility | None = None,
    ) -> PagedList[ModelVersion]:
        """Versions matching the filter; newest updates first by default, as MLflow."""

    @abstractmethod
    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Where the version's artifacts are (a logged model's location for ``models:/m-``)."""

    @abstractmethod
    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """Move a version to a stage; optionally archive the others in that stage."""

    @abstractmethod
    def set_model_version_tag(
        self, name: str, version: str | int, tag: ModelVersionTag
    ) -> None: ...

    @abstractmethod
    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        """Remove a tag; a tag that is not there is no error (as in MLflow)."""
