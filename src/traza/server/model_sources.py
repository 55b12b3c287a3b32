"""Which model-version sources a client may register through the server.

A version's ``source`` is where the server later reads the model's files from (downloads, the
UI's model page, serving). Registering ``/etc`` or another run's folder would turn the registry
into a file reader, so, as MLflow's server does, a source must lie inside the run or logged model
the request names: a local path only within that resource's local artifact folder, a proxied
(``mlflow-artifacts``) URI only under its root, ``runs:/`` only for that run, and no source may
carry ``..`` (in any encoding) or name a host the server does not store artifacts on. An operator
can narrow sources further with ``MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX``.

Only requests over HTTP are checked: a script registering into its own local store is trusted
as it is with MLflow.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import PurePosixPath

from traza.exceptions import RESOURCE_DOES_NOT_EXIST, TrazaException, invalid
from traza.server.artifact_service import ArtifactService
from traza.store.base import Store

REGEX_VARIABLES = (
    "TRAZA_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX",
    "MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX",
)
_PROXY_ROUTE = ("api", "2.0", "mlflow-artifacts", "artifacts")


def check_source(
    store: Store,
    artifacts: ArtifactService,
    source: str,
    run_id: str | None,
    model_id: str | None,
) -> None:
    """Refuse ``source`` unless the run or logged model named in the request holds it."""
    pattern = _configured_regex()
    if pattern is not None and not re.search(pattern, source):
        raise invalid(
            f"Invalid model version source {source!r}: this server only registers sources that "
            f"match {pattern!r} (set by its operator in {REGEX_VARIABLES[1]})."
        )
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    if scheme in ("", "file"):
        _check_local(store, source, run_id, model_id)
        return
    _check_no_relative_parts(source)
    artifacts.check_host(source, "source")
    owner = "model_id" if model_id else "run_id"
    if scheme == "runs":
        parts = urllib.parse.urlsplit(source)
        source_run = parts.path.strip("/").partition("/")[0]
        if parts.netloc or model_id or not run_id or source_run != run_id:
            raise _not_contained(source, owner)
        _owner_root(store, source, run_id, None)  # the run must exist
    elif scheme == "models":
        parts = urllib.parse.urlsplit(source)
        target = parts.path.strip("/")
        if parts.netloc:
            raise invalid(
                f"Invalid model version source {source!r}: a models:/ source must name this "
                "server's registry (models:/<name>/<version> or models:/<logged model id>), "
                "without a host."
            )
        # ``models:/m-<id>`` is the logged model itself; a model_id, if given, must agree.
        if target.startswith("m-") and "/" not in target and model_id not in (None, target):
            raise _not_contained(source, "model_id")
    elif _is_proxied(source):
        root = _owner_root(store, source, run_id, model_id)
        if root is None or not _within(source, root):
            raise _not_contained(source, owner)


def _configured_regex() -> str | None:
    for name in REGEX_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _decoded(value: str) -> str:
    while (once := urllib.parse.unquote(value)) != value:
        value = once
    return value


def _check_no_relative_parts(source: str) -> None:
    """No ``..``, ``.``, NUL or doubled separators in the path, however it is encoded."""
    decoded = _decoded(source)
    path = urllib.parse.urlsplit(decoded).path
    segments = path.split("/")
    if (
        "\x00" in decoded
        or ".." in decoded.split("/")
        or any(s in (".", "..") for s in segments)
        or re.search(r"(?<!^)//", path.rstrip("/"))
    ):
        raise invalid(
            f"Invalid model version source {source!r}: it must be an absolute location without "
            "'.' or '..' parts (in any encoding). Give the model's own folder or URI."
        )


def _check_local(store: Store, source: str, run_id: str | None, model_id: str | None) -> None:
    from traza.artifacts.local import local_path_of

    root = _owner_root(store, source, run_id, model_id)
    owner = "model_id" if model_id else "run_id"
    if root is not None and urllib.parse.urlsplit(root).scheme.lower() in ("", "file"):
        folder = local_path_of(root).resolve()
        path = local_path_of(source).resolve()
        if path == folder or folder in path.parents:
            return
    resource = "logged model" if model_id else "run"
    raise invalid(
        f"Invalid model version source {source!r}: a local path can only be registered with the "
        f"{owner} of the {resource} whose artifact folder holds it. Register the model by its "
        "URI instead (runs:/<run id>/<path> or models:/<logged model id>)."
    )


def _owner_root(store: Store, source: str, run_id: str | None, model_id: str | None) -> str | None:
    """The artifact root of the logged model or run the request names, if any."""
    try:
        if model_id:
            return store.get_logged_model(model_id).artifact_location
        if run_id:
            return store.get_run(run_id).info.artifact_uri
    except TrazaException as e:
        if e.error_code == RESOURCE_DOES_NOT_EXIST:
            raise _not_contained(source, "model_id" if model_id else "run_id") from None
        raise
    return None


def _is_proxied(source: str) -> bool:
    parts = urllib.parse.urlsplit(source)
    scheme = parts.scheme.lower()
    if scheme == "mlflow-artifacts":
        return True
    segments = tuple(_decoded(s) for s in parts.path.split("/") if s)
    n = len(_PROXY_ROUTE)
    return scheme in ("http", "https") and any(
        segments[i : i + n] == _PROXY_ROUTE for i in range(len(segments) - n + 1)
    )


def _within(source: str, root: str) -> bool:
    """Whether ``source`` is ``root`` or below it: same scheme and host, path segment-wise."""
    a, b = urllib.parse.urlsplit(source), urllib.parse.urlsplit(root)
    parts_a = PurePosixPath(_decoded(a.path)).parts
    parts_b = PurePosixPath(_decoded(b.path)).parts
    return (
        a.scheme.lower() == b.scheme.lower()
        and a.netloc.lower() == b.netloc.lower()
        and len(parts_b) > 1
        and parts_a[: len(parts_b)] == parts_b
    )


def _not_contained(source: str, owner: str) -> TrazaException:
    return invalid(
        f"Invalid model version source {source!r}: the {owner} given with the request must "
        "name the run or logged model whose artifacts hold the source."
    )
