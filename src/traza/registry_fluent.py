"""The fluent registry API: ``register_model``, ``search_registered_models``,
``search_model_versions``, each a few lines over the current client, as ``mlflow``'s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from traza.entities import ModelVersion, RegisteredModel
from traza.exceptions import RESOURCE_ALREADY_EXISTS, TrazaException

if TYPE_CHECKING:
    from traza.client import TrazaClient

_PAGE = 1000


def _client() -> TrazaClient:
    from traza.fluent import _client

    return _client()


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: Mapping[str, Any] | None = None,
    env_pack: Any = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name``.

    The registered model is created when it does not exist. ``runs:/<run_id>/<path>`` names
    the logged model called ``<path>`` that the run produced (MLflow 3), else the run's artifacts
    at ``<path>``; ``models:/m-<id>`` names a logged model; any other URI is registered as given.
    ``await_registration_for`` and ``env_pack`` are accepted for MLflow's signature (Traza
    registers synchronously; environment packing is a Databricks feature).
    """
    client = _client()
    try:
        client.create_registered_model(name)
        _say(f"Successfully registered model '{name}'.")
    except TrazaException as e:
        if e.error_code != RESOURCE_ALREADY_EXISTS:
            raise
        _say(f"Registered model '{name}' already exists. Creating a new version of this model...")
    source, run_id, model_id = _resolve(client, model_uri)
    version = client.create_model_version(name, source, run_id, tags=tags, model_id=model_id)
    _say(f"Created version '{version.version}' of model '{version.name}'.")
    return version


def _say(message: str) -> None:
    """What MLflow prints on stderr while registering (scripts and notebooks show it)."""
    import sys

    print(message, file=sys.stderr)


def _resolve(client: TrazaClient, model_uri: str) -> tuple[str, str | None, str | None]:
    """(source, run id, logged model id) for a model URI."""
    from traza.models.locate import logged_model_of_run

    if model_uri.startswith("runs:/"):
        run_id, _, path = model_uri[len("runs:/") :].partition("/")
        path = path.strip("/")
        run = client.get_run(run_id)
        logged = logged_model_of_run(client, run, path) if path else None
        if logged is not None:
            return logged.artifact_location, run_id, logged.model_id
        root = run.info.artifact_uri.rstrip("/")
        return (f"{root}/{path}" if path else root), run_id, None
    if model_uri.startswith("models:/"):
        target = model_uri[len("models:/") :].strip("/")
        if target.startswith("m-") and "/" not in target and "@" not in target:
            model = client.get_logged_model(target)
            return model.artifact_location, model.source_run_id, model.model_id
    return model_uri, None, None


def search_registered_models(
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[RegisteredModel]:
    """Every registered model matching the filter (up to ``max_results``), across pages."""
    return _all_pages(_client().search_registered_models, max_results, filter_string, order_by)


def search_model_versions(
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[ModelVersion]:
    """Every model version matching the filter (up to ``max_results``), across pages."""
    return _all_pages(_client().search_model_versions, max_results, filter_string, order_by)


def _all_pages(
    search: Any, max_results: int | None, filter_string: str | None, order_by: Any
) -> list[Any]:
    out: list[Any] = []
    token = None
    while max_results is None or len(out) < max_results:
        size = _PAGE if max_results is None else min(_PAGE, max_results - len(out))
        page = search(filter_string, size, order_by, token)
        out += page
        token = page.token
        if not token:
            break
    return out
