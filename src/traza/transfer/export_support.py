"""What the parts of ``traza export`` share: the tags that map a Traza store into MLflow, the
summary, and small helpers around the ``mlflow`` client (loaded only when an export runs)."""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from traza.entities import PagedList
from traza.exceptions import TrazaException

SOURCE_RUN_TAG = "traza.source_run_id"
DIGEST_TAG = "traza.export_digest"
SOURCE_MODEL_TAG = "traza.source_model_id"
PARENT_TAG = "mlflow.parentRunId"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"

T = TypeVar("T")


def load_mlflow() -> Any:
    """The ``mlflow`` package, or a clear error saying how to get it."""
    try:
        return importlib.import_module("mlflow")
    except ImportError:
        raise TrazaException(
            "Exporting to MLflow needs the mlflow package, which Traza does not install: "
            "pip install mlflow (in this environment), then run the export again.",
            error_code="INVALID_STATE",
        ) from None


@dataclass
class ExportSummary:
    """What an export wrote, per kind, and what it left out and why."""

    counts: Counter[str] = field(default_factory=Counter)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def skip(self, kind: str, ident: str, reason: str) -> None:
        self.skipped.append((kind, ident, reason))

    def lines(self) -> list[str]:
        order = [
            "experiments created",
            "experiments matched",
            "runs created",
            "runs updated",
            "runs unchanged",
            "params",
            "tags",
            "metric points",
            "dataset inputs",
            "model outputs",
            "model inputs",
            "artifact roots uploaded",
            "logged models created",
            "logged models matched",
            "registered models created",
            "registered models matched",
            "model versions created",
            "model versions matched",
            "aliases",
        ]
        keys = order + sorted(k for k in self.counts if k not in order)
        out = [f"{k}: {self.counts[k]}" for k in keys if self.counts.get(k)]
        out += [f"skipped {kind} {ident}: {reason}" for kind, ident, reason in self.skipped]
        return out


def pages(fetch: Callable[[str | None], PagedList[T]]) -> Iterator[T]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def error_code(error: Exception) -> str:
    """The MLflow error code of an exception (``RESOURCE_DOES_NOT_EXIST``...), or ``""``."""
    return str(getattr(error, "error_code", "") or "")


def point_key(key: str, value: float, timestamp: int, step: int) -> tuple[Any, ...]:
    """A metric point as a comparable tuple (NaN equal to NaN; +-inf as MLflow's SQL stores
    keep them, +-max float)."""
    if math.isnan(value):
        number: Any = "nan"
    elif math.isinf(value):
        number = math.copysign(sys.float_info.max, value)
    else:
        number = float(value)
    return (key, number, int(timestamp), int(step))


@contextmanager
def mlflow_errors(target_uri: str) -> Iterator[None]:
    """MLflow's own errors as Traza's (a clean CLI message naming the target)."""
    try:
        yield
    except TrazaException:
        raise
    except Exception as e:
        if not any(c.__name__ == "MlflowException" for c in type(e).__mro__):
            raise
        message = " ".join(str(getattr(e, "message", e)).split())
        raise TrazaException(
            f"MLflow at {target_uri} refused the export: {message}",
            error_code=error_code(e) or "INTERNAL_ERROR",
        ) from e


def status_text(status: Any) -> str:
    """A logged model's status as text, from Traza's or MLflow's enum (or a string)."""
    return str(getattr(status, "value", status))


def sha256_json(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def own_tags(tags: dict[str, str]) -> dict[str, str]:
    """A logged model's tags but those MLflow keeps itself (the versions registered from it)."""
    return {k: v for k, v in tags.items() if k != MODEL_VERSIONS_TAG}
