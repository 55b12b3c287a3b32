"""MLflow 3 logged models on the client: ``MlflowClient``'s ``*_logged_model*`` methods.

A mixin of :class:`traza.client.TrazaClient`, kept apart so the run/experiment client stays small.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traza.entities import (
    LoggedModel,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    PagedList,
)

if TYPE_CHECKING:
    from traza.artifacts.base import ArtifactRepository
    from traza.store.base import Store


class LoggedModelClient:
    """``create_logged_model`` ... ``log_model_artifacts`` over ``self.store``."""

    store: Store

    @property
    def tracking_uri(self) -> str:
        raise NotImplementedError  # TrazaClient knows its URI

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        return self.store.create_logged_model(
            str(experiment_id),
            name=name,
            source_run_id=source_run_id,
            tags=[LoggedModelTag(str(k), str(v)) for k, v in (tags or {}).items()],
            params=[LoggedModelParameter(str(k), str(v)) for k, v in (params or {}).items()],
            model_type=model_type,
        )

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self.store.get_logged_model(model_id)

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | int | str
    ) -> LoggedModel:
        return self.store.finalize_logged_model(model_id, status)

    def delete_logged_model(self, model_id: str) -> None:
        self.store.delete_logged_model(model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[Mapping[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        kwargs: dict[str, Any] = {} if max_results is None else {"max_results": max_results}
        return self.store.search_logged_models(
            [str(e) for e in experiment_ids],
            filter_string,
            datasets,
            order_by=order_by,
            page_token=page_token,
            **kwargs,
        )

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, Any]) -> None:
        self.store.set_logged_model_tags(
            model_id, [LoggedModelTag(str(k), str(v)) for k, v in tags.items()]
        )

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.store.delete_logged_model_tag(model_id, key)

    def log_model_params(self, model_id: str, params: Mapping[str, Any]) -> None:
        self.store.log_logged_model_params(
            model_id, [LoggedModelParameter(str(k), str(v)) for k, v in params.items()]
        )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        self.store.log_outputs(run_id, models)

    # -- artifacts ---------------------------------------------------------------------------
    def _model_repo(self, model_id: str) -> ArtifactRepository:
        from traza.artifacts import get_repository

        location = self.get_logged_model(model_id).artifact_location
        return get_repository(location, self.tracking_uri)

    def log_model_artifacts(self, model_id: str, local_dir: str | os.PathLike[str]) -> None:
        self._model_repo(model_id).log_artifacts(Path(local_dir), None)

    def list_logged_model_artifacts(self, model_id: str, path: str | None = None) -> list[Any]:
        return self._model_repo(model_id).list_artifacts(path)
