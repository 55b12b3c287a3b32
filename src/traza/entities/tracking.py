"""Experiments, runs and their data: plain frozen data in MLflow's shape, with ``to_dict`` in its
JSON wire form.

Attribute names follow ``mlflow.entities`` so user code that reads ``run.info.run_id`` or
``run.data.metrics["rmse"]`` works unchanged; ``to_dict``/``from_dict`` give the REST shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from traza.entities._record import Record, field

T = TypeVar("T")


class PagedList(list[T], Generic[T]):
    """A page of results; ``token`` fetches the next page (``None`` on the last one)."""

    def __init__(self, items: Iterable[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token


class ViewType:
    """Which lifecycle stages a search returns."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    _NAMES: ClassVar[dict[str, int]] = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}

    @classmethod
    def from_string(cls, view_str: str) -> int:
        try:
            return cls._NAMES[view_str.upper()]
        except KeyError:
            raise ValueError(
                f"Could not get run view type for {view_str!r}: use one of {list(cls._NAMES)}"
            ) from None

    @classmethod
    def to_string(cls, view_type: int) -> str:
        for name, value in cls._NAMES.items():
            if value == view_type:
                return name
        raise ValueError(f"Could not get run view type string for {view_type!r}")


class RunStatus:
    """Run states with MLflow's numeric codes; ``RunInfo.status`` holds the name."""

    RUNNING = 1
    SCHEDULED = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5

    _NAMES: ClassVar[dict[str, int]] = {
        "RUNNING": 1,
        "SCHEDULED": 2,
        "FINISHED": 3,
        "FAILED": 4,
        "KILLED": 5,
    }
    _TERMINATED = frozenset({"FINISHED", "FAILED", "KILLED"})

    @classmethod
    def from_string(cls, status_str: str) -> int:
        try:
            return cls._NAMES[status_str]
        except KeyError:
            raise ValueError(
                f"Invalid run status {status_str!r}: use one of {list(cls._NAMES)}"
            ) from None

    @classmethod
    def to_string(cls, status: int) -> str:
        for name, value in cls._NAMES.items():
            if value == status:
                return name
        raise ValueError(f"Invalid run status code {status!r}")

    @classmethod
    def is_terminated(cls, status: int | str) -> bool:
        name = status if isinstance(status, str) else cls.to_string(status)
        return name in cls._TERMINATED

    @classmethod
    def all_status(cls) -> list[int]:
        return list(cls._NAMES.values())


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"

    @classmethod
    def view_type_to_stages(cls, view_type: int) -> list[str]:
        if view_type == ViewType.ACTIVE_ONLY:
            return [cls.ACTIVE]
        if view_type == ViewType.DELETED_ONLY:
            return [cls.DELETED]
        return [cls.ACTIVE, cls.DELETED]


class SourceType:
    NOTEBOOK = "NOTEBOOK"
    JOB = "JOB"
    PROJECT = "PROJECT"
    LOCAL = "LOCAL"
    UNKNOWN = "UNKNOWN"


def _kv(items: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in items.items()]


def _from_kv(items: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {str(i["key"]): str(i.get("value", "")) for i in items or ()}


def json_double(value: float) -> float | str:
    """Protobuf's JSON for a double: NaN and ±inf are the strings MLflow's client reads."""
    if value - value == 0:  # finite (NaN - NaN and inf - inf are NaN)
        return value
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


class Metric(NamedTuple):
    """One metric point. A named tuple: histories hold many of these, and tuples build fast."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Unpacked once: a page of runs serialises thousands of these.
        key, value, timestamp, step, model_id, dataset_name, dataset_digest, run_id = self
        out: dict[str, Any] = {
            "key": key,
            "value": value if value - value == 0 else json_double(value),
            "timestamp": timestamp,
            "step": step,
        }
        if model_id is not None:
            out["model_id"] = model_id
        if dataset_name is not None:
            out["dataset_name"] = dataset_name
        if dataset_digest is not None:
            out["dataset_digest"] = dataset_digest
        if run_id is not None:
            out["run_id"] = run_id
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metric:
        return cls(
            key=d["key"],
            value=float(d["value"]),
            timestamp=int(d.get("timestamp", 0)),
            step=int(d.get("step", 0)),
            model_id=d.get("model_id"),
            dataset_name=d.get("dataset_name"),
            dataset_digest=d.get("dataset_digest"),
            run_id=d.get("run_id"),
        )


class Param(Record):
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


class RunTag(Record):
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


class ExperimentTag(Record):
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


class Experiment(Record):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
        }
        if self.last_update_time is not None:
            out["last_update_time"] = self.last_update_time
        if self.creation_time is not None:
            out["creation_time"] = self.creation_time
        if self.tags:
            out["tags"] = _kv(self.tags)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Experiment:
        return cls(
            experiment_id=str(d["experiment_id"]),
            name=d["name"],
            artifact_location=d.get("artifact_location", ""),
            lifecycle_stage=d.get("lifecycle_stage", LifecycleStage.ACTIVE),
            tags=_from_kv(d.get("tags")),
            creation_time=d.get("creation_time"),
            last_update_time=d.get("last_update_time"),
        )


class RunInfo(Record):
    run_id: str
    experiment_id: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str
    run_name: str

    @property
    def run_uuid(self) -> str:
        return self.run_id

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "run_uuid": self.run_id,
            "run_name": self.run_name,
            "experiment_id": self.experiment_id,
            "user_id": self.user_id,
            "status": self.status,
            "start_time": self.start_time,
            "artifact_uri": self.artifact_uri,
            "lifecycle_stage": self.lifecycle_stage,
        }
        if self.end_time is not None:
            out["end_time"] = self.end_time
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunInfo:
        return cls(
            run_id=d.get("run_id") or d["run_uuid"],
            experiment_id=str(d["experiment_id"]),
            user_id=d.get("user_id", ""),
            status=d.get("status", "RUNNING"),
            start_time=int(d.get("start_time", 0)),
            end_time=int(d["end_time"]) if d.get("end_time") is not None else None,
            lifecycle_stage=d.get("lifecycle_stage", LifecycleStage.ACTIVE),
            artifact_uri=d.get("artifact_uri", ""),
            run_name=d.get("run_name", ""),
        )


class RunData(Record):
    """Latest metric values, params and tags; ``metrics`` maps key to latest value as MLflow's."""

    metric_objs: tuple[Metric, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return {m.key: m.value for m in self.metric_objs}

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": [m.to_dict() for m in self.metric_objs],
            "params": _kv(self.params),
            "tags": _kv(self.tags),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunData:
        return cls(
            metric_objs=tuple(Metric.from_dict(m) for m in d.get("metrics", ())),
            params=_from_kv(d.get("params")),
            tags=_from_kv(d.get("tags")),
        )


class Dataset(Record):
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "digest": self.digest,
            "source_type": self.source_type,
            "source": self.source,
        }
        if self.schema is not None:
            out["schema"] = self.schema
        if self.profile is not None:
            out["profile"] = self.profile
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Dataset:
        return cls(
            name=d["name"],
            digest=d["digest"],
            source_type=d.get("source_type", ""),
            source=d.get("source", ""),
            schema=d.get("schema"),
            profile=d.get("profile"),
        )


class InputTag(Record):
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


class DatasetInput(Record):
    dataset: Dataset
    tags: tuple[InputTag, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"tags": [t.to_dict() for t in self.tags], "dataset": self.dataset.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetInput:
        return cls(
            dataset=Dataset.from_dict(d["dataset"]),
            tags=tuple(InputTag(t["key"], t["value"]) for t in d.get("tags", ())),
        )


class LoggedModelInput(Record):
    model_id: str


class LoggedModelOutput(Record):
    model_id: str
    step: int = 0


class RunInputs(Record):
    dataset_inputs: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[LoggedModelInput, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_inputs": [d.to_dict() for d in self.dataset_inputs],
            "model_inputs": [{"model_id": m.model_id} for m in self.model_inputs],
        }


class RunOutputs(Record):
    model_outputs: tuple[LoggedModelOutput, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_outputs": [{"model_id": m.model_id, "step": m.step} for m in self.model_outputs]
        }


class Run(Record):
    info: RunInfo
    data: RunData = field(default_factory=RunData)
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)

    def to_dict(self) -> dict[str, Any]:
        """The REST wire shape (``GetRun`` response's ``run``)."""
        return {
            "info": self.info.to_dict(),
            "data": self.data.to_dict(),
            "inputs": self.inputs.to_dict(),
            "outputs": self.outputs.to_dict(),
        }

    def to_dictionary(self) -> dict[str, Any]:
        """MLflow's ``Run.to_dictionary()``: data as plain key → value mappings."""
        out: dict[str, Any] = {
            "info": self.info.to_dict(),
            "data": {
                "metrics": self.data.metrics,
                "params": dict(self.data.params),
                "tags": dict(self.data.tags),
            },
        }
        if self.inputs.dataset_inputs:
            out["inputs"] = self.inputs.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        inputs = d.get("inputs") or {}
        outputs = d.get("outputs") or {}
        return cls(
            info=RunInfo.from_dict(d["info"]),
            data=RunData.from_dict(d.get("data") or {}),
            inputs=RunInputs(
                dataset_inputs=tuple(
                    DatasetInput.from_dict(i) for i in inputs.get("dataset_inputs", ())
                ),
                model_inputs=tuple(
                    LoggedModelInput(m["model_id"]) for m in inputs.get("model_inputs", ())
                ),
            ),
            outputs=RunOutputs(
                model_outputs=tuple(
                    LoggedModelOutput(m["model_id"], int(m.get("step", 0)))
                    for m in outputs.get("model_outputs", ())
                )
            ),
        )


class FileInfo(Record):
    path: str
    is_dir: bool
    file_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "is_dir": self.is_dir}
        if self.file_size is not None:
            out["file_size"] = self.file_size
        return out
