"""Model URIs to local model directories.

``runs:/<run_id>/<path>``, ``models:/m-<id>``, ``models:/<name>/<version|latest|stage>``,
``models:/<name>@<alias>``, local paths and any artifact URI (``s3://``, ``mlflow-artifacts:/``).
Models in local folders are read in place; remote ones are downloaded once to a temporary
folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from traza.exceptions import RESOURCE_DOES_NOT_EXIST, TrazaException, invalid

if TYPE_CHECKING:
    from traza.client import TrazaClient
    from traza.entities import LoggedModel, Run

_STAGES = {"none", "staging", "production", "archived"}


def _missing(message: str) -> TrazaException:
    return TrazaException(message, error_code=RESOURCE_DOES_NOT_EXIST)


def _client() -> TrazaClient:
    from traza.client import TrazaClient

    return TrazaClient()


def artifact_uri_of(model_uri: str) -> str:
    """The artifact URI (folder) ``model_uri`` names; registry and run URIs are resolved."""
    if model_uri.startswith("models:/"):
        return _registry_source(model_uri)
    if model_uri.startswith("runs:/"):
        return _run_model_uri(model_uri)
    return model_uri


def _registry_source(model_uri: str) -> str:
    rest = model_uri[len("models:/") :].strip("/")
    if not rest:
        raise invalid(f"Invalid model URI {model_uri!r}: expected models:/<name>/<version>.")
    if rest.startswith("m-") and "/" not in rest.split("@", 1)[0]:
        return _client().get_logged_model(rest).artifact_location
    client = _client()
    if "@" in rest and "/" not in rest:
        name, alias = rest.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
        number = str(version.version)
    else:
        name, _, selector = rest.rpartition("/")
        if not name:
            raise invalid(
                f"Invalid model URI {model_uri!r}: give models:/<name>/<version>, "
                "models:/<name>@<alias>, models:/<name>/latest or models:/m-<model id>."
            )
        if selector.isdigit():
            number = selector
        elif selector.lower() == "latest" or selector.lower() in _STAGES:
            stages = None if selector.lower() == "latest" else [selector]
            latest = client.get_latest_versions(name, stages)
            if not latest:
                raise _missing(f"Registered model {name!r} has no version in stage {selector!r}.")
            number = str(max(int(v.version) for v in latest))
        else:
            raise invalid(
                f"Invalid model URI {model_uri!r}: {selector!r} is not a version number, "
                "'latest' or a stage (None, Staging, Production, Archived)."
            )
    source: str = client.get_model_version_download_uri(name, number)
    return artifact_uri_of(source) if source.startswith(("models:/", "runs:/")) else source


def _run_model_uri(model_uri: str) -> str:
    """``runs:/<id>/<path>``: the run's artifact folder, or (MLflow 3) the logged model named
    ``<path>`` that the run produced, whose artifacts live outside the run's folder."""
    run_id, _, path = model_uri[len("runs:/") :].partition("/")
    path = path.strip("/")
    client = _client()
    run = client.get_run(run_id)
    if path:
        name, _, rest = path.partition("/")
        if (model := logged_model_of_run(client, run, name)) is not None:
            return f"{model.artifact_location}/{rest}".rstrip("/")
    root = run.info.artifact_uri.rstrip("/")
    return f"{root}/{path}" if path else root


def logged_model_of_run(client: TrazaClient, run: Run, name: str) -> LoggedModel | None:
    """The logged model ``name`` that ``run`` produced; the one at the largest step if several."""
    steps = {o.model_id: o.step for o in run.outputs.model_outputs}
    quoted = name.replace("\\", "\\\\").replace("'", "\\'")
    found = []
    token = None
    while True:
        page = client.search_logged_models(
            [run.info.experiment_id], filter_string=f"name = '{quoted}'", page_token=token
        )
        found += [m for m in page if m.source_run_id == run.info.run_id or m.model_id in steps]
        token = page.token
        if not token:
            break
    if not found:
        return None
    return max(found, key=lambda m: steps.get(m.model_id, -1))


def local_model_dir(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Path:
    """A local directory holding the model; downloads only what is not on this machine."""
    from traza.artifacts import get_repository
    from traza.artifacts.local import LocalArtifactRepository
    from traza.models.model import MLMODEL_FILE_NAME

    uri = os.fspath(model_uri)
    resolved = artifact_uri_of(uri)
    repo_uri, _, name = resolved.rstrip("/").rpartition("/")
    if "://" not in resolved and not resolved.startswith(("file:", "mlflow-artifacts:")):
        path = Path(resolved)
        if not path.exists():
            raise _missing(f"No model at {path}: the folder does not exist.")
        return path
    repo = get_repository(repo_uri or resolved, _client().tracking_uri)
    if isinstance(repo, LocalArtifactRepository) and dst_path is None:
        path = repo.root / name
        if not (path / MLMODEL_FILE_NAME).exists() and not path.exists():
            raise _missing(f"No model at {model_uri}: {path} does not exist.")
        return path
    dst = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="traza-model-"))
    try:
        return Path(repo.download_artifacts(name, dst))
    except TrazaException as e:
        raise _missing(f"Could not download the model at {model_uri}: {e.message}") from None
