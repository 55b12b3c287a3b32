"""``log_model`` for every flavor, as MLflow 3 does it: a logged model (``m-<id>``) is created,
linked to the active run, filled with the saved model directory, then marked READY.

The flavor only knows how to write a model directory (``save_model``); where it goes, how it
is linked and registered is decided here, once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from traza.entities import LoggedModelOutput, LoggedModelStatus
from traza.exceptions import invalid
from traza.models.model import Model, ModelInfo

#: The model id of the last ``log_model`` in this process (``traza.last_logged_model``).
last_model_id: str | None = None


def log_model(
    flavor: ModuleType,
    model: Any,
    name: str | None,
    artifact_path: str | None,
    *,
    registered_model_name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    run_id: str | None = None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Save ``model`` with ``flavor.save_model`` into a new (or the given) logged model."""
    global last_model_id
    from traza import fluent

    if name is not None and artifact_path is not None:
        raise invalid("Give name (artifact_path is its deprecated spelling), not both.")
    name = name or artifact_path
    client = fluent._client()
    if run_id is None and (active := fluent.active_run()) is not None:
        run_id = active.info.run_id
    run = client.get_run(run_id) if run_id else None
    if model_id is not None:
        logged = client.get_logged_model(model_id)
    else:
        experiment_id = run.info.experiment_id if run else fluent._resolve_experiment_id()
        merged = {**(run.data.params if run else {}), **(params or {})}
        logged = client.create_logged_model(
            experiment_id,
            name=name,
            source_run_id=run_id,
            tags=tags,
            params=merged,
            model_type=model_type,
        )
        last_model_id = logged.model_id
    try:
        if run is not None:
            client.log_outputs(run.info.run_id, [LoggedModelOutput(logged.model_id, step)])
        meta = Model(
            artifact_path=logged.artifact_location,
            run_id=run_id,
            model_uuid=logged.model_id,
            model_id=logged.model_id,
        )
        with tempfile.TemporaryDirectory(prefix="traza-model-") as tmp:
            local = Path(tmp) / "model"
            flavor.save_model(model, local, mlflow_model=meta, **save_kwargs)
            client.log_model_artifacts(logged.model_id, local)
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    version = None
    if registered_model_name is not None:
        import traza

        registered = traza.register_model(
            f"models:/{logged.model_id}", registered_model_name, tags=tags
        )
        version = int(registered.version)
    return ModelInfo(
        artifact_path=logged.artifact_location,
        flavors=meta.flavors,
        model_uri=f"models:/{logged.model_id}",
        model_uuid=logged.model_id,
        run_id=run_id,
        saved_input_example_info=meta.saved_input_example_info,
        signature=meta.signature,
        utc_time_created=meta.utc_time_created,
        mlflow_version=meta.mlflow_version,
        model_id=logged.model_id,
        name=logged.name,
        registered_model_version=version,
        metadata=meta.metadata,
    )
