"""Input limits and checks shared by the client, the stores and the server.

The limits are MLflow's, so a batch MLflow accepts Traza accepts, and the reverse.
"""

from __future__ import annotations

import math
import numbers
import posixpath
import re
from collections.abc import Sequence
from typing import Any

from traza.exceptions import invalid
from traza.safepath import safe_location, safe_relative_path

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_ENTITY_KEY_LENGTH = 250
#: Widths of MLflow's name columns (runs.name, registered_models.name, logged_models.name).
MAX_RUN_NAME_LENGTH = 250
MAX_REGISTERED_MODEL_NAME_LENGTH = 256
MAX_LOGGED_MODEL_NAME_LENGTH = 500
MAX_RESULTS_SEARCH_RUNS = 50000
MAX_RESULTS_SEARCH_EXPERIMENTS = 50000
MAX_INT64 = 2**63 - 1

_KEY_CHARS = re.compile(r"^[/\w.\- :]*$")
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID = re.compile(r"^[0-9]{1,19}$")

# Keys repeat on every step of a training loop; remember the ones already checked.
_checked_keys: set[str] = set()


def validate_key(key: Any, kind: str = "key") -> str:
    """Check a metric, param or tag name; the message says which rule it broke."""
    if key in _checked_keys:
        return key  # type: ignore[no-any-return]
    if key is None or not isinstance(key, str):
        raise invalid(f"The {kind} must be a string, got {key!r}.")
    if key == "":
        raise invalid(f"The {kind} must not be empty.")
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise invalid(
            f"The {kind} {key[:40]!r}... is {len(key)} characters long; "
            f"the limit is {MAX_ENTITY_KEY_LENGTH}."
        )
    if not _KEY_CHARS.match(key):
        raise invalid(
            f"Invalid {kind} {key!r}: names may only contain alphanumerics, underscores (_), "
            "dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    normalised = posixpath.normpath(key)
    if normalised != key or normalised.startswith(("/", "..")) or normalised == ".":
        raise invalid(
            f"Invalid {kind} {key!r}: names are used as file names and must not resolve to "
            f"another name ({posixpath.normpath(key)!r}); remove leading, doubled or trailing "
            "slashes and '.'/'..' parts."
        )
    if len(_checked_keys) < 100_000:
        _checked_keys.add(key)
    return key


def validate_metric_value(key: str, value: Any) -> float:
    """Return the metric value as a float; NaN and ±inf are valid values."""
    if type(value) is float:  # the common case, without the ABC checks below
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise invalid(
            f"Got invalid value {value!r} for metric {key!r}: "
            "give a number (int or float; NaN and ±inf are allowed)."
        )
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise invalid(
            f"Got invalid value {value!r} for metric {key!r}: not a real number."
        ) from None


def validate_timestamp(key: str, timestamp: Any) -> int:
    if type(timestamp) is int and 0 <= timestamp <= MAX_INT64:
        return timestamp
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Integral | float):
        raise invalid(
            f"Invalid timestamp {timestamp!r} for metric {key!r}: "
            "give milliseconds since the epoch."
        )
    if isinstance(timestamp, float) and not math.isfinite(timestamp):
        raise invalid(f"Invalid timestamp {timestamp!r} for metric {key!r}: must be finite.")
    ts = int(timestamp)
    if ts < 0 or ts > MAX_INT64:
        raise invalid(f"Invalid timestamp {timestamp!r} for metric {key!r}: must be >= 0.")
    return ts


def validate_step(key: str, step: Any) -> int:
    if type(step) is int and -MAX_INT64 <= step <= MAX_INT64:
        return step
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        if isinstance(step, float) and step.is_integer():
            return int(step)
        raise invalid(f"Invalid step {step!r} for metric {key!r}: the step must be an integer.")
    step = int(step)
    if abs(step) > MAX_INT64:
        raise invalid(f"Invalid step {step!r} for metric {key!r}: it must fit in 64 bits.")
    return step  # type: ignore[no-any-return]


def validate_metrics(metrics: Sequence[Any]) -> None:
    """Check a whole list of metrics up front (one cheap pass when they are plain numbers)."""
    known = _checked_keys
    for m in metrics:
        key, value, timestamp, step = m.key, m.value, m.timestamp, m.step
        if (
            key in known
            and type(value) is float
            and type(step) is int
            and type(timestamp) is int
            and 0 <= timestamp <= MAX_INT64
            and -MAX_INT64 <= step <= MAX_INT64
        ):
            continue
        validate_key(key, "metric name")
        validate_metric_value(key, value)
        validate_step(key, step)
        validate_timestamp(key, timestamp)


def validate_entities(metrics: Sequence[Any], params: Sequence[Any], tags: Sequence[Any]) -> None:
    """Check what a client is about to log, so bad input fails at the call that made it."""
    validate_metrics(metrics)
    for p in params:
        validate_param_value(validate_key(p.key, "param name"), p.value)
    for t in tags:
        validate_tag_value(validate_key(t.key, "tag key"), t.value)


def validate_param_value(key: str, value: Any) -> str:
    text = str(value)
    if len(text) > MAX_PARAM_VAL_LENGTH:
        raise invalid(
            f"The value of param {key!r} is {len(text)} characters long; the limit is "
            f"{MAX_PARAM_VAL_LENGTH}. Log long values as an artifact (log_text) instead."
        )
    return text


def validate_tag_value(key: str, value: Any, limit: int = MAX_TAG_VAL_LENGTH) -> str:
    text = str(value)
    if len(text) > limit:
        raise invalid(
            f"The value of tag {key!r} is {len(text)} characters long; the limit is {limit}. "
            "Log long values as an artifact (log_text) instead."
        )
    return text


def validate_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise invalid(f"Invalid experiment name {name!r}: give a non-empty string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise invalid(
            f"The experiment name is {len(name)} characters long; "
            f"the limit is {MAX_EXPERIMENT_NAME_LENGTH}."
        )
    return name


def validate_artifact_location(location: Any) -> str:
    """An experiment's artifact root, checked and normalised (see :func:`safe_location`).

    A path or a storage URI, never a URI naming a run or model, within MLflow's length limit.
    """
    if isinstance(location, str) and location.startswith(("runs:", "models:")):
        raise invalid(
            f"Artifact location cannot be a {location.split(':', 1)[0]}:/ URI ({location!r}): "
            "those name a run's or model's artifacts. Give a folder or a storage URI "
            "(s3://bucket/prefix, mlflow-artifacts:/...)."
        )
    return safe_location(location)


def validate_name_length(kind: str, name: Any, limit: int) -> Any:
    """Refuse a name longer than MLflow's limit for it (its database column's width)."""
    if isinstance(name, str) and len(name) > limit:
        raise invalid(
            f"The {kind} is {len(name)} characters long; the limit is {limit}. "
            "Choose a shorter name."
        )
    return name


def validate_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise invalid(f"Invalid run id {run_id!r}: run ids are 32 hexadecimal characters.")
    return run_id


def validate_experiment_id(experiment_id: Any) -> str:
    text = str(experiment_id) if isinstance(experiment_id, int | str) else None
    if text is None or not _EXPERIMENT_ID.match(text) or int(text) > MAX_INT64:
        raise invalid(
            f"Invalid experiment id {experiment_id!r}: experiment ids are decimal numbers."
        )
    return text


def validate_batch_limits(n_metrics: int, n_params: int, n_tags: int) -> None:
    total = n_metrics + n_params + n_tags
    if n_metrics > MAX_METRICS_PER_BATCH:
        raise invalid(
            f"A batch may hold at most {MAX_METRICS_PER_BATCH} metrics; got {n_metrics}. "
            "Split it into several log_batch calls."
        )
    if n_params > MAX_PARAMS_TAGS_PER_BATCH:
        raise invalid(
            f"A batch may hold at most {MAX_PARAMS_TAGS_PER_BATCH} params; got {n_params}."
        )
    if n_tags > MAX_PARAMS_TAGS_PER_BATCH:
        raise invalid(f"A batch may hold at most {MAX_PARAMS_TAGS_PER_BATCH} tags; got {n_tags}.")
    if total > MAX_ENTITIES_PER_BATCH:
        raise invalid(
            f"A batch may hold at most {MAX_ENTITIES_PER_BATCH} metrics, params and tags in "
            f"total; got {total}."
        )


def validate_max_results(max_results: Any, limit: int) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise invalid(f"Invalid max_results {max_results!r}: give a positive integer.")
    if max_results > limit:
        raise invalid(f"Invalid max_results {max_results}: the largest page is {limit} items.")
    return max_results


def validate_artifact_path(path: str | None) -> str:
    """Normalise a path inside a run's artifact root, refusing anything that could leave it.

    Returns ``""`` for the root itself; the rule is :func:`traza.safepath.safe_relative_path`'s
    (symlinks are checked where files are touched).
    """
    return safe_relative_path(path)
