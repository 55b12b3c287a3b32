"""MLflow 3's logged models: a model's status, tags, params and metrics, in MLflow's shape."""

from __future__ import annotations

from enum import Enum
from typing import Any

from traza.entities._record import Record, field
from traza.entities.tracking import Metric, _from_kv, _kv


class LoggedModelStatus(str, Enum):
    """A logged model's upload state, as ``mlflow.entities.LoggedModelStatus``.

    Members are strings (``status == "READY"`` holds); the REST wire uses the proto names
    (``LOGGED_MODEL_READY``) and numbers. ``UPLOAD_FAILED`` is an alias of ``FAILED``, the proto's
    spelling.
    """

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"
    UPLOAD_FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value

    def to_int(self) -> int:
        return _MODEL_STATUS_NUMBERS[self]

    def to_proto_name(self) -> str:
        """The wire name: ``LOGGED_MODEL_PENDING``, ``LOGGED_MODEL_READY``, ..."""
        return _MODEL_STATUS_WIRE[self]

    @classmethod
    def from_int(cls, number: int) -> LoggedModelStatus:
        for status, n in _MODEL_STATUS_NUMBERS.items():
            if n == number:
                return status
        raise ValueError(f"Unknown logged model status {number!r}: use 0, 1, 2 or 3.")

    @classmethod
    def parse(cls, value: LoggedModelStatus | int | str) -> LoggedModelStatus:
        """Accept a member, its proto number, its name or its wire name (any letter case)."""
        if isinstance(value, LoggedModelStatus):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls.from_int(value)
        if isinstance(value, str):
            name = value.strip().upper().removeprefix("LOGGED_MODEL_")
            name = {"STATUS_UNSPECIFIED": "UNSPECIFIED", "UPLOAD_FAILED": "FAILED"}.get(name, name)
            if name.isdigit():
                return cls.from_int(int(name))
            if name in cls.__members__:
                return cls[name]
        raise ValueError(
            f"Unknown logged model status {value!r}: use PENDING, READY or FAILED "
            "(or LOGGED_MODEL_PENDING, LOGGED_MODEL_READY, LOGGED_MODEL_UPLOAD_FAILED)."
        )

    @staticmethod
    def is_finalized(status: LoggedModelStatus | str) -> bool:
        """True once no further status change is expected (READY or FAILED)."""
        return status in (LoggedModelStatus.READY, LoggedModelStatus.FAILED)


_MODEL_STATUS_NUMBERS = {
    LoggedModelStatus.UNSPECIFIED: 0,
    LoggedModelStatus.PENDING: 1,
    LoggedModelStatus.READY: 2,
    LoggedModelStatus.FAILED: 3,
}
_MODEL_STATUS_WIRE = {
    LoggedModelStatus.UNSPECIFIED: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}


class LoggedModelTag(Record):
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


class LoggedModelParameter(Record):
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


class LoggedModelRegistration(Record):
    """A registry model version made from a logged model (``LoggedModelRegistrationInfo``)."""

    name: str
    version: str


class LoggedModel(Record):
    """An MLflow 3 logged model: artifacts stored beside the runs, not inside one.

    Arguments follow ``mlflow.entities.LoggedModel`` in order; ``metrics`` holds the latest
    point per (key, dataset) logged with this model's id. ``creator_id`` and ``registrations``
    exist on the wire only in MLflow, and are kept here so a REST round trip loses nothing.
    """

    experiment_id: str
    model_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    model_type: str | None = None
    source_run_id: str | None = None
    status: LoggedModelStatus = LoggedModelStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    creator_id: int | None = None
    registrations: tuple[LoggedModelRegistration, ...] = ()

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"

    def to_dict(self) -> dict[str, Any]:
        """The REST shape of ``mlflow.LoggedModel``: unset fields and empty lists left out."""
        info: dict[str, Any] = {
            "model_id": self.model_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "creation_timestamp_ms": self.creation_timestamp,
            "last_updated_timestamp_ms": self.last_updated_timestamp,
            "artifact_uri": self.artifact_location,
            "status": LoggedModelStatus.parse(self.status).to_proto_name(),
        }
        optional = (
            ("creator_id", self.creator_id),
            ("model_type", self.model_type),
            ("source_run_id", self.source_run_id),
            ("status_message", self.status_message),
        )
        info.update((k, v) for k, v in optional if v is not None)
        if self.tags:
            info["tags"] = _kv(self.tags)
        if self.registrations:
            info["registrations"] = [
                {"name": r.name, "version": r.version} for r in self.registrations
            ]
        data: dict[str, Any] = {}
        if self.params:
            data["params"] = _kv(self.params)
        if self.metrics:
            data["metrics"] = [m.to_dict() for m in self.metrics]
        return {"info": info, "data": data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoggedModel:
        info = d.get("info") or {}
        data = d.get("data") or {}
        creator_id = info.get("creator_id")
        return cls(
            experiment_id=str(info.get("experiment_id", "")),
            model_id=info["model_id"],
            name=info.get("name", ""),
            artifact_location=info.get("artifact_uri", ""),
            creation_timestamp=int(info.get("creation_timestamp_ms", 0)),
            last_updated_timestamp=int(info.get("last_updated_timestamp_ms", 0)),
            model_type=info.get("model_type"),
            source_run_id=info.get("source_run_id"),
            status=LoggedModelStatus.parse(info.get("status", 0)),
            status_message=info.get("status_message"),
            tags=_from_kv(info.get("tags")),
            params=_from_kv(data.get("params")),
            metrics=[Metric.from_dict(m) for m in data.get("metrics", ())],
            creator_id=int(creator_id) if creator_id is not None else None,
            registrations=tuple(
                LoggedModelRegistration(r.get("name", ""), str(r.get("version", "")))
                for r in info.get("registrations", ())
            ),
        )
