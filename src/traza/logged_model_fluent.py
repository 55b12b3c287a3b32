"""MLflow 3's fluent logged-model functions: ``search_logged_models``, ``get_logged_model`` ..."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from traza.entities import LoggedModel, LoggedModelStatus
from traza.exceptions import invalid


def _client() -> Any:
    from traza import fluent

    return fluent._client()


def get_logged_model(model_id: str) -> LoggedModel:
    return _client().get_logged_model(model_id)  # type: ignore[no-any-return]


def last_logged_model() -> LoggedModel | None:
    """The model this process logged last, or None."""
    from traza.models import log_model

    return get_logged_model(log_model.last_model_id) if log_model.last_model_id else None


def finalize_logged_model(model_id: str, status: LoggedModelStatus | int | str) -> LoggedModel:
    return _client().finalize_logged_model(model_id, status)  # type: ignore[no-any-return]


def set_logged_model_tags(model_id: str, tags: Mapping[str, Any]) -> None:
    _client().set_logged_model_tags(model_id, tags)


def delete_logged_model_tag(model_id: str, key: str) -> None:
    _client().delete_logged_model_tag(model_id, key)


def log_model_params(params: Mapping[str, Any], model_id: str | None = None) -> None:
    """Log params on ``model_id`` (default: the last logged model)."""
    from traza.models import log_model

    target = model_id or log_model.last_model_id
    if target is None:
        raise invalid("No model to log params to: give model_id, or log a model first.")
    _client().log_model_params(target, params)


def search_logged_models(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    datasets: Sequence[Mapping[str, Any]] | None = None,
    max_results: int | None = None,
    order_by: Sequence[Mapping[str, Any] | str] | None = None,
    output_format: str = "pandas",
) -> Any:
    """Logged models of these experiments (default: the current one), every page, as a pandas
    DataFrame or, with ``output_format="list"``, a list of ``LoggedModel``."""
    from traza import fluent

    if output_format not in ("pandas", "list"):
        raise invalid(f"Unsupported output_format {output_format!r}: use 'pandas' or 'list'.")
    ids = [str(e) for e in experiment_ids] if experiment_ids else [fluent._resolve_experiment_id()]
    client = _client()
    models: list[LoggedModel] = []
    token: str | None = None
    while max_results is None or len(models) < max_results:
        page = client.search_logged_models(
            ids,
            filter_string,
            datasets,
            None if max_results is None else max_results - len(models),
            order_by,
            token,
        )
        models.extend(page)
        token = page.token
        if not token:
            break
    if output_format == "list":
        return models
    import pandas as pd

    return pd.DataFrame([_row(m) for m in models], columns=list(_COLUMNS))


#: MLflow's DataFrame columns for logged models, in its order.
_COLUMNS = (
    "artifact_location",
    "creation_timestamp",
    "experiment_id",
    "last_updated_timestamp",
    "metrics",
    "model_id",
    "model_type",
    "name",
    "params",
    "source_run_id",
    "status",
    "status_message",
    "tags",
)


def _row(model: LoggedModel) -> dict[str, Any]:
    row = {c: getattr(model, c) for c in _COLUMNS}
    row["status"] = str(LoggedModelStatus.parse(model.status))
    return row
