"""Read an MLflow file store (``mlruns/``): experiments, runs, logged models, datasets, registry.

Layout (MLflow 2.x-3.x): ``<experiment id>/meta.yaml`` with ``tags/``, ``datasets/<id>/`` and
``models/<model id>/``; runs in ``<experiment id>/<run id>/`` with ``meta.yaml``, ``params/``,
``tags/``, ``metrics/<key>`` (lines ``timestamp value step``), ``inputs/<id>/meta.yaml`` and
``outputs/<id>/meta.yaml``; deleted experiments under ``.trash/``; the registry under
``models/<name>/`` with ``version-<n>/``. Keys with ``/`` are nested folders. Only read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from traza.exceptions import TrazaException
from traza.transfer.mlflow_schema import LOGGED_MODEL_STATUS
from traza.transfer.records import (
    DatasetRecord,
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    Point,
    RegisteredModelRecord,
    RunRecord,
)
from traza.transfer.source import batched

_RUN_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def looks_like_file_store(folder: Path) -> bool:
    return (
        any(child.name.isdigit() and (child / "meta.yaml").is_file() for child in folder.iterdir())
        or (folder / ".trash").is_dir()
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise TrazaException(
            f"{path}: cannot read this MLflow metadata file ({e}).",
            error_code="INVALID_PARAMETER_VALUE",
        ) from None
    if not isinstance(data, dict):
        raise TrazaException(
            f"{path}: not an MLflow metadata file (expected a YAML mapping).",
            error_code="INVALID_PARAMETER_VALUE",
        )
    return data


def _key_files(folder: Path | str, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key, file path) under a params/tags/metrics folder; keys with ``/`` are nested folders."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.is_dir():
            yield from _key_files(entry.path, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}", entry.path


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _values(folder: Path | str) -> dict[str, str]:
    return {key: _read(path) for key, path in _key_files(folder)}


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz_")


def _flat_meta(path: Path) -> dict[str, Any]:
    """A run's ``meta.yaml``, which MLflow writes as flat ``key: scalar`` lines, read without a
    YAML parser (10,000 of them are a large part of an import); anything else goes to YAML."""
    try:
        text = _read(str(path))
    except OSError:
        return _read_yaml(path)
    out: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
        if (
            not sep
            or not key
            or not set(key) <= _PLAIN
            or value.startswith((" ", '"', "{", "&", "*", "!", "|", ">"))
        ):
            return _read_yaml(path)
        if value.startswith("'"):
            if len(value) < 2 or not value.endswith("'") or "'" in value[1:-1].replace("''", ""):
                return _read_yaml(path)
            out[key] = value[1:-1].replace("''", "'")
        elif value in ("", "null", "~"):
            out[key] = None
        elif value == "[]":
            out[key] = []
        elif value.lstrip("-").isdigit():
            out[key] = int(value)
        elif any(c in value for c in "#[]:") or value.lower() in ("true", "false", "yes", "no"):
            return _read_yaml(path)
        else:
            out[key] = value
    return out


def _int(value: Any) -> int | None:
    return int(value) if value is not None and value != "" else None


class MlflowFileSource:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.label = str(root)
        self.skipped: list[str] = []
        self._experiment_dirs: list[Path] = []
        for parent in (self.root, self.root / ".trash"):
            if parent.is_dir():
                self._experiment_dirs += sorted(
                    c for c in parent.iterdir() if c.name.isdigit() and (c / "meta.yaml").is_file()
                )

    def experiments(self) -> list[ExperimentRecord]:
        out = []
        for folder in self._experiment_dirs:
            meta = _read_yaml(folder / "meta.yaml")
            out.append(
                ExperimentRecord(
                    experiment_id=str(meta.get("experiment_id", folder.name)),
                    name=str(meta["name"]),
                    artifact_location=str(meta.get("artifact_location") or ""),
                    lifecycle_stage=str(meta.get("lifecycle_stage") or "active"),
                    creation_time=_int(meta.get("creation_time")),
                    last_update_time=_int(meta.get("last_update_time")),
                    tags=_values(folder / "tags"),
                )
            )
        return out

    # -- logged models -----------------------------------------------------------------------
    def logged_models(self) -> Iterator[LoggedModelRecord]:
        for folder in self._experiment_dirs:
            models = folder / "models"
            if not models.is_dir():
                continue
            for model_dir in sorted(models.iterdir()):
                if not (model_dir / "meta.yaml").is_file():
                    continue
                meta = _read_yaml(model_dir / "meta.yaml")
                status = meta.get("status", 2)
                yield LoggedModelRecord(
                    model_id=str(meta["model_id"]),
                    experiment_id=str(meta.get("experiment_id", folder.name)),
                    name=str(meta.get("name") or ""),
                    artifact_location=str(meta.get("artifact_location") or ""),
                    creation_time=int(meta.get("creation_timestamp") or 0),
                    last_update_time=int(meta.get("last_updated_timestamp") or 0),
                    source_run_id=meta.get("source_run_id"),
                    model_type=meta.get("model_type"),
                    status=LOGGED_MODEL_STATUS.get(status, str(status))
                    if isinstance(status, int)
                    else str(status).removeprefix("LOGGED_MODEL_"),
                    status_message=meta.get("status_message"),
                    lifecycle_stage=str(meta.get("lifecycle_stage") or "active"),
                    tags=_values(model_dir / "tags"),
                    params=_values(model_dir / "params"),
                )

    def _model_links(self, folder: Path) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        """(run id, key, timestamp, step, value) → (model id, dataset name, dataset digest)."""
        links: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        models = folder / "models"
        if not models.is_dir():
            return links
        for model_dir in models.iterdir():
            for key, path in _key_files(model_dir / "metrics"):
                for line in _read(path).splitlines():
                    parts = line.split()
                    if len(parts) < 4:
                        continue
                    ts, value, step, run_id = (
                        int(parts[0]),
                        float(parts[1]),
                        int(parts[2]),
                        parts[3],
                    )
                    dataset = (parts[4], parts[5]) if len(parts) >= 6 else (None, None)
                    links[(run_id, key, ts, step, value)] = (model_dir.name, *dataset)
        return links

    # -- runs --------------------------------------------------------------------------------
    def _run_dirs(self, folder: Path) -> list[Path]:
        return sorted(
            Path(e.path)
            for e in os.scandir(folder)
            if len(e.name) >= 32 and os.path.isfile(os.path.join(e.path, "meta.yaml"))
        )

    def run_count(self) -> int:
        return sum(len(self._run_dirs(f)) for f in self._experiment_dirs)

    def run_batches(self) -> Iterator[list[RunRecord]]:
        return batched(self._runs())

    def _runs(self) -> Iterator[RunRecord]:
        for folder in self._experiment_dirs:
            datasets = self._datasets(folder)
            links: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {}
            for (run_id, *point), link in self._model_links(folder).items():
                links.setdefault(run_id, {})[tuple(point)] = link
            for run_dir in self._run_dirs(folder):
                yield self._run(run_dir, folder.name, datasets, links)

    def _datasets(self, folder: Path) -> dict[str, dict[str, Any]]:
        out = {}
        base = folder / "datasets"
        if base.is_dir():
            for d in base.iterdir():
                if (d / "meta.yaml").is_file():
                    out[d.name] = _read_yaml(d / "meta.yaml")
        return out

    def _run(
        self,
        run_dir: Path,
        experiment_id: str,
        datasets: dict[str, dict[str, Any]],
        links: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]],
    ) -> RunRecord:
        meta = _flat_meta(run_dir / "meta.yaml")
        run_id = str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name)
        points: list[Point] = []
        run_links = dict(links.get(run_id, {}))
        for key, path in _key_files(run_dir / "metrics"):
            for n, line in enumerate(_read(path).splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                try:
                    ts, value = int(parts[0]), float(parts[1])
                    step = int(parts[2]) if len(parts) > 2 else 0
                except (ValueError, IndexError):
                    raise TrazaException(
                        f"{path}, line {n}: not a metric point ({line!r}); expected "
                        "'timestamp value step'.",
                        error_code="INVALID_PARAMETER_VALUE",
                    ) from None
                link = run_links.pop((key, ts, step, value), None)
                points.append((key, value, ts, step, *(link or (None, None, None))))
        # A logged model's point with no twin among the run's (logged for the model alone).
        points += [(k, v, ts, step, *link) for (k, ts, step, v), link in run_links.items()]
        tags = _values(run_dir / "tags")
        inputs = []
        outputs = []
        model_inputs = []
        for kind in ("inputs", "outputs"):
            base = run_dir / kind
            if not base.is_dir():
                continue
            for item in sorted(base.iterdir()):
                if not (item / "meta.yaml").is_file():
                    continue
                item_meta = _read_yaml(item / "meta.yaml")
                source_type = item_meta.get("source_type")
                if kind == "inputs" and source_type == "DATASET":
                    d = datasets.get(str(item_meta.get("source_id")))
                    if d is None:
                        self.skipped.append(
                            f"run {run_id}: input {item.name} names a missing dataset"
                        )
                        continue
                    inputs.append(
                        DatasetRecord(
                            name=str(d["name"]),
                            digest=str(d["digest"]),
                            source_type=str(d.get("source_type") or ""),
                            source=str(d.get("source") or ""),
                            schema=d.get("schema"),
                            profile=d.get("profile"),
                            tags={str(k): str(v) for k, v in (item_meta.get("tags") or {}).items()},
                        )
                    )
                elif kind == "inputs" and source_type == "MODEL":
                    model_inputs.append(str(item_meta.get("source_id")))
                elif kind == "outputs":
                    outputs.append(
                        (str(item_meta.get("destination_id")), int(item_meta.get("step") or 0))
                    )
        status = meta.get("status", 1)
        return RunRecord(
            run_id=run_id,
            experiment_id=str(meta.get("experiment_id", experiment_id)),
            name=str(meta.get("run_name") or tags.get("mlflow.runName", "")),
            user_id=str(meta.get("user_id") or ""),
            status=_RUN_STATUS.get(status, str(status)) if isinstance(status, int) else str(status),
            start_time=int(meta.get("start_time") or 0),
            end_time=_int(meta.get("end_time")),
            lifecycle_stage=str(meta.get("lifecycle_stage") or "active"),
            artifact_uri=str(meta.get("artifact_uri") or ""),
            deleted_time=_int(meta.get("deleted_time")),
            params=_values(run_dir / "params"),
            tags=tags,
            metrics=points,
            inputs=inputs,
            outputs=outputs,
            model_inputs=model_inputs,
        )

    # -- registry ----------------------------------------------------------------------------
    def registered_models(self) -> Iterator[RegisteredModelRecord]:
        base = self.root / "models"
        if not base.is_dir():
            return
        for model_dir in sorted(base.iterdir()):
            if not (model_dir / "meta.yaml").is_file():
                continue
            meta = _read_yaml(model_dir / "meta.yaml")
            aliases = {str(k): int(v) for k, v in (meta.get("aliases") or {}).items()}
            for alias, path in _key_files(model_dir / "aliases"):
                aliases.setdefault(alias, int(_read(path).strip()))
            versions = []
            for version_dir in sorted(model_dir.glob("version-*")):
                if not (version_dir / "meta.yaml").is_file():
                    continue
                v = _read_yaml(version_dir / "meta.yaml")
                source = str(v.get("source") or "")
                location = v.get("storage_location")
                if location == source or str(location or "").startswith("runs:/"):
                    location = None
                versions.append(
                    ModelVersionRecord(
                        version=int(v["version"]),
                        creation_time=int(v.get("creation_timestamp") or 0),
                        last_update_time=int(
                            v.get("last_updated_timestamp") or v.get("creation_timestamp") or 0
                        ),
                        source=source,
                        description=v.get("description"),
                        user_id=v.get("user_id"),
                        current_stage=str(v.get("current_stage") or "None"),
                        run_id=v.get("run_id") or None,
                        run_link=v.get("run_link") or None,
                        model_id=v.get("model_id") or None,
                        status=str(v.get("status") or "READY"),
                        status_message=v.get("status_message"),
                        storage_location=location,
                        tags=_values(version_dir / "tags"),
                    )
                )
            yield RegisteredModelRecord(
                name=str(meta.get("name") or model_dir.name),
                creation_time=int(meta.get("creation_timestamp") or 0),
                last_update_time=int(
                    meta.get("last_updated_timestamp") or meta.get("creation_timestamp") or 0
                ),
                description=meta.get("description"),
                tags=_values(model_dir / "tags"),
                versions=sorted(versions, key=lambda v: v.version),
                aliases=aliases,
            )

    def close(self) -> None:
        pass
