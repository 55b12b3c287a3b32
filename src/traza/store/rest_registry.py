"""The model-registry half of :class:`~traza.store.rest.RestStore`: one request per call.

Requests follow ``model_registry.proto`` as MLflow's client sends them (searches and reads as
GET with query fields, the rest as JSON bodies), so the same code talks to ``traza server`` and
``mlflow server``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from traza.entities import (
    ModelVersion,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)
from traza.store.registry_base import (
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
)

_MODELS = "registered-models"
_VERSIONS = "model-versions"


if TYPE_CHECKING:
    from traza.auth.visibility import Visibility


def _no_visibility(visibility: Visibility | None) -> None:
    """A permission filter is the server's business: a REST store's server applies its own."""
    if visibility is not None:
        raise TypeError("A REST store searches as its credentials allow; pass no visibility.")


def _tags(tags: Sequence[Any] | None) -> list[dict[str, str]]:
    return [{"key": t.key, "value": str(t.value)} for t in tags or ()]


def _search_fields(
    filter_string: str | None, max_results: int, order_by: Sequence[str] | None, token: str | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"max_results": max_results, "order_by": list(order_by or ())}
    if filter_string:
        fields["filter"] = filter_string
    if token:
        fields["page_token"] = token
    return fields


class RestRegistry:
    """Registry calls over MLflow's REST API."""

    if TYPE_CHECKING:  # provided by RestStore

        def _post(self, endpoint: str, body: dict[str, Any], method: str = "POST") -> Any: ...

        def _get(self, endpoint: str, fields: dict[str, Any]) -> Any: ...

    # -- registered models -------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name, "tags": _tags(tags)}
        if description is not None:
            body["description"] = description
        if deployment_job_id:
            body["deployment_job_id"] = deployment_job_id
        data = self._post(f"{_MODELS}/create", body)
        return RegisteredModel.from_dict(data["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        data = self._get(f"{_MODELS}/get", {"name": name})
        return RegisteredModel.from_dict(data["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        data = self._post(f"{_MODELS}/rename", {"name": name, "new_name": new_name})
        return RegisteredModel.from_dict(data["registered_model"])

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name, "description": description}
        if deployment_job_id:
            body["deployment_job_id"] = deployment_job_id
        data = self._post(f"{_MODELS}/update", body, method="PATCH")
        return RegisteredModel.from_dict(data["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._post(f"{_MODELS}/delete", {"name": name}, method="DELETE")

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        visibility: Visibility | None = None,
    ) -> PagedList[RegisteredModel]:
        _no_visibility(visibility)
        fields = _search_fields(filter_string, max_results, order_by, page_token)
        data = self._get(f"{_MODELS}/search", fields)
        models = [RegisteredModel.from_dict(m) for m in data.get("registered_models", ())]
        return PagedList(models, data.get("next_page_token") or None)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        body = {"name": name, "stages": list(stages or ())}
        data = self._post(f"{_MODELS}/get-latest-versions", body)
        return [ModelVersion.from_dict(v) for v in data.get("model_versions", ())]

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        body = {"name": name, "key": tag.key, "value": str(tag.value)}
        self._post(f"{_MODELS}/set-tag", body)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._post(f"{_MODELS}/delete-tag", {"name": name, "key": key}, method="DELETE")

    # -- aliases -----------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        body = {"name": name, "alias": alias, "version": str(version)}
        self._post(f"{_MODELS}/alias", body)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._post(f"{_MODELS}/alias", {"name": name, "alias": alias}, method="DELETE")

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        data = self._get(f"{_MODELS}/alias", {"name": name, "alias": alias})
        return ModelVersion.from_dict(data["model_version"])

    # -- model versions ----------------------------------------------------------------------
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
        body: dict[str, Any] = {"name": name, "source": source, "tags": _tags(tags)}
        for field, value in (
            ("run_id", run_id),
            ("run_link", run_link),
            ("description", description),
            ("model_id", model_id),
        ):
            if value is not None:
                body[field] = value
        data = self._post(f"{_VERSIONS}/create", body)
        return ModelVersion.from_dict(data["model_version"])

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        data = self._get(f"{_VERSIONS}/get", {"name": name, "version": str(version)})
        return ModelVersion.from_dict(data["model_version"])

    def update_model_version(
        self, name: str, version: str | int, description: str | None
    ) -> ModelVersion:
        body = {"name": name, "version": str(version), "description": description}
        data = self._post(f"{_VERSIONS}/update", body, method="PATCH")
        return ModelVersion.from_dict(data["model_version"])

    def delete_model_version(self, name: str, version: str | int) -> None:
        body = {"name": name, "version": str(version)}
        self._post(f"{_VERSIONS}/delete", body, method="DELETE")

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        visibility: Visibility | None = None,
    ) -> PagedList[ModelVersion]:
        _no_visibility(visibility)
        fields = _search_fields(filter_string, max_results, order_by, page_token)
        data = self._get(f"{_VERSIONS}/search", fields)
        versions = [ModelVersion.from_dict(v) for v in data.get("model_versions", ())]
        return PagedList(versions, data.get("next_page_token") or None)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        fields = {"name": name, "version": str(version)}
        return str(self._get(f"{_VERSIONS}/get-download-uri", fields)["artifact_uri"])

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": bool(archive_existing_versions),
        }
        data = self._post(f"{_VERSIONS}/transition-stage", body)
        return ModelVersion.from_dict(data["model_version"])

    def set_model_version_tag(self, name: str, version: str | int, tag: ModelVersionTag) -> None:
        body = {"name": name, "version": str(version), "key": tag.key, "value": str(tag.value)}
        self._post(f"{_VERSIONS}/set-tag", body)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        body = {"name": name, "version": str(version), "key": key}
        self._post(f"{_VERSIONS}/delete-tag", body, method="DELETE")
