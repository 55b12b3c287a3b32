"""The Store interface over a tracking server's REST API (``traza server`` or ``mlflow server``).

Synchronous: each method is one request (or one per page) and returns once the server has
answered, so it passes the same contract suite as the SQL stores. The client puts a background
queue in front of it for logging (:mod:`traza.store.queued`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

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
from traza.exceptions import RESOURCE_DOES_NOT_EXIST, TrazaException, invalid
from traza.store.base import (
    SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_DEFAULT,
    Store,
)
from traza.store.rest_ingest import RestIngest
from traza.store.rest_registry import RestRegistry, _no_visibility
from traza.store.rest_ui import RestUiQueries
from traza.validation import validate_metrics

if TYPE_CHECKING:
    from traza.auth.visibility import Visibility

API = "/api/2.0/mlflow"


def _search_body(
    max_results: int, filter_string: str | None, order_by: Sequence[Any] | None, token: str | None
) -> dict[str, Any]:
    """The fields every search request shares; unset ones are left out."""
    body: dict[str, Any] = {"max_results": max_results, "order_by": list(order_by or ())}
    if filter_string:
        body["filter"] = filter_string
    if token:
        body["page_token"] = token
    return body


def _kv(items: Sequence[Any]) -> list[dict[str, str]]:
    return [{"key": i.key, "value": i.value} for i in items]


class RestStore(RestRegistry, RestUiQueries, RestIngest, Store):
    def __init__(self, tracking_uri: str) -> None:
        from traza.http import HttpClient

        self.tracking_uri = tracking_uri.rstrip("/")
        self.http = HttpClient(self.tracking_uri)

    # -- plumbing ----------------------------------------------------------------------------
    def _post(self, endpoint: str, body: dict[str, Any], method: str = "POST") -> Any:
        response = self.http.request(method, f"{API}/{endpoint}", json_body=orjson.dumps(body))
        return orjson.loads(response.data) if response.data else {}

    def _get(self, endpoint: str, fields: dict[str, Any]) -> Any:
        response = self.http.request("GET", f"{API}/{endpoint}", fields=fields)
        return orjson.loads(response.data) if response.data else {}

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        body: dict[str, Any] = {"name": name, "tags": _kv(tags or ())}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._post("experiments/create", body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self._get("experiments/get", {"experiment_id": str(experiment_id)})
        return Experiment.from_dict(data["experiment"])

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        try:
            data = self._get("experiments/get-by-name", {"experiment_name": experiment_name})
        except TrazaException as e:
            if e.error_code == RESOURCE_DOES_NOT_EXIST:
                return None
            raise
        return Experiment.from_dict(data["experiment"])

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        visibility: Visibility | None = None,
    ) -> PagedList[Experiment]:
        _no_visibility(visibility)
        body = _search_body(max_results, filter_string, order_by, page_token)
        body["view_type"] = ViewType.to_string(view_type)
        data = self._post("experiments/search", body)
        experiments = [Experiment.from_dict(e) for e in data.get("experiments", ())]
        return PagedList(experiments, data.get("next_page_token") or None)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._post("experiments/update", {"experiment_id": experiment_id, "new_name": new_name})

    def delete_experiment(self, experiment_id: str) -> None:
        self._post("experiments/delete", {"experiment_id": experiment_id})

    def restore_experiment(self, experiment_id: str) -> None:
        self._post("experiments/restore", {"experiment_id": experiment_id})

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        body = {"experiment_id": experiment_id, "key": tag.key, "value": tag.value}
        self._post("experiments/set-experiment-tag", body)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._post(
            "experiments/delete-experiment-tag", {"experiment_id": experiment_id, "key": key}
        )

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        body: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "user_id": user_id,
            "start_time": start_time,
            "tags": _kv(tags),
        }
        if run_name:
            body["run_name"] = run_name
        return Run.from_dict(self._post("runs/create", body)["run"])

    def get_run(self, run_id: str) -> Run:
        return Run.from_dict(self._get("runs/get", {"run_id": run_id})["run"])

    def update_run_info(
        self,
        run_id: str,
        run_status: int | str | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id}
        if run_status is not None:
            body["status"] = run_status
        if end_time is not None:
            body["end_time"] = end_time
        if run_name:
            body["run_name"] = run_name
        return RunInfo.from_dict(self._post("runs/update", body)["run_info"])

    def delete_run(self, run_id: str) -> None:
        self._post("runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._post("runs/restore", {"run_id": run_id})

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        if isinstance(experiment_ids, str | int):
            experiment_ids = [str(experiment_ids)]
        body = _search_body(max_results, filter_string, order_by, page_token)
        body["experiment_ids"] = [str(e) for e in experiment_ids]
        body["run_view_type"] = ViewType.to_string(run_view_type)
        data = self._post("runs/search", body)
        runs = [Run.from_dict(r) for r in data.get("runs", ())]
        return PagedList(runs, data.get("next_page_token") or None)

    # -- logging -----------------------------------------------------------------------------
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        validate_metrics(metrics)  # what JSON cannot tell apart ("1.0" from 1.0) is checked here
        body = {
            "run_id": run_id,
            "metrics": [m.to_dict() for m in metrics],
            "params": _kv(params),
            "tags": _kv(tags),
        }
        self._post("runs/log-batch", body)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._post("runs/delete-tag", {"run_id": run_id, "key": key})

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        fields: dict[str, Any] = {"run_id": run_id, "metric_key": metric_key}
        if max_results is not None:
            fields["max_results"] = max_results
        if page_token:
            fields["page_token"] = page_token
        data = self._get("metrics/get-history", fields)
        points = [
            Metric(
                p["key"],
                float(p["value"]),
                int(p.get("timestamp", 0)),
                int(p.get("step", 0)),
                p.get("model_id"),
                p.get("dataset_name"),
                p.get("dataset_digest"),
                run_id,
            )
            for p in data.get("metrics", ())
        ]
        return PagedList(points, data.get("next_page_token") or None)

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        models: Sequence[LoggedModelInput] = (),
    ) -> None:
        body: dict[str, Any] = {"run_id": run_id, "datasets": [d.to_dict() for d in datasets]}
        if models:
            body["models"] = [{"model_id": m.model_id} for m in models]
        self._post("runs/log-inputs", body)

    # -- logged models -----------------------------------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = (),
        params: Sequence[LoggedModelParameter] | None = (),
        model_type: str | None = None,
    ) -> LoggedModel:
        body: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "tags": _kv(tags or ()),
            "params": _kv(params or ()),
        }
        for field, value in (
            ("name", name),
            ("source_run_id", source_run_id),
            ("model_type", model_type),
        ):
            if value is not None:
                body[field] = value
        return LoggedModel.from_dict(self._post("logged-models", body)["model"])

    @staticmethod
    def _model_path(model_id: str) -> str:
        return f"logged-models/{urllib.parse.quote(model_id, safe='')}"

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return LoggedModel.from_dict(self._get(self._model_path(model_id), {})["model"])

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | int | str
    ) -> LoggedModel:
        try:
            wire_status = LoggedModelStatus.parse(status).to_proto_name()
        except ValueError as e:
            raise invalid(str(e)) from None
        body = {"model_id": model_id, "status": wire_status}
        data = self._post(self._model_path(model_id), body, method="PATCH")
        return LoggedModel.from_dict(data["model"])

    def delete_logged_model(self, model_id: str) -> None:
        self._post(self._model_path(model_id), {"model_id": model_id}, method="DELETE")

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int = SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[Mapping[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        orders = [_order_clause(o) for o in order_by or ()]
        body = _search_body(max_results, filter_string, orders, page_token)
        body["experiment_ids"] = [str(e) for e in experiment_ids]
        body["datasets"] = [dict(d) for d in datasets or ()]
        data = self._post("logged-models/search", body)
        models = [LoggedModel.from_dict(m) for m in data.get("models", ())]
        return PagedList(models, data.get("next_page_token") or None)

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        body = {"model_id": model_id, "tags": _kv(tags)}
        self._post(f"{self._model_path(model_id)}/tags", body, method="PATCH")

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        path = f"{self._model_path(model_id)}/tags/{urllib.parse.quote(key, safe='')}"
        self._post(path, {}, method="DELETE")

    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParameter]
    ) -> None:
        body = {"model_id": model_id, "params": _kv(params)}
        self._post(f"{self._model_path(model_id)}/params", body)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        body = {
            "run_id": run_id,
            "models": [{"model_id": m.model_id, "step": m.step} for m in models],
        }
        self._post("runs/outputs", body)

    def close(self) -> None:
        self.http.close()


def _order_clause(order: Mapping[str, Any] | str) -> dict[str, Any]:
    """MLflow's order_by object; a string ``"field [ASC|DESC]"`` is accepted too."""
    if not isinstance(order, str):
        return dict(order)
    field, _, direction = order.strip().partition(" ")
    direction = direction.strip().upper()
    if direction not in ("", "ASC", "DESC"):
        raise invalid(f"Invalid order_by clause {order!r}: use '<field> [ASC|DESC]'.")
    return {"field_name": field, "ascending": direction != "DESC"}
