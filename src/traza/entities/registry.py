"""The model registry: registered models, their versions, tags, aliases and stages.

Attribute names follow ``mlflow.entities.model_registry``; ``to_dict``/``from_dict`` give the
REST shape of ``model_registry.proto`` (unset fields left out, as protobuf's JSON does). Versions
are strings, as the proto and MLflow's REST client have them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from traza.entities._record import Record, field
from traza.entities.tracking import _from_kv, _kv

STAGE_NONE = "None"
STAGE_STAGING = "Staging"
STAGE_PRODUCTION = "Production"
STAGE_ARCHIVED = "Archived"
#: Every stage, in MLflow's order; ``get_latest_versions`` without stages covers them all.
ALL_STAGES = (STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED)
#: The stages ``archive_existing_versions`` may be used with.
ACTIVE_STAGES = (STAGE_STAGING, STAGE_PRODUCTION)
_CANONICAL_STAGES = {s.lower(): s for s in ALL_STAGES}


def canonical_stage(stage: str) -> str:
    """``"production"`` → ``"Production"``; raises ``ValueError`` for an unknown stage."""
    if isinstance(stage, str) and stage.lower() in _CANONICAL_STAGES:
        return _CANONICAL_STAGES[stage.lower()]
    raise ValueError(
        f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(ALL_STAGES)}."
    )


class ModelVersionStatus:
    """A version's registration state; Traza registers synchronously, so versions are READY."""

    PENDING_REGISTRATION = 1
    FAILED_REGISTRATION = 2
    READY = 3

    _NAMES: ClassVar[dict[str, int]] = {
        "PENDING_REGISTRATION": 1,
        "FAILED_REGISTRATION": 2,
        "READY": 3,
    }

    @classmethod
    def from_string(cls, status: str) -> int:
        try:
            return cls._NAMES[status]
        except KeyError:
            raise ValueError(
                f"Invalid model version status {status!r}: use one of {list(cls._NAMES)}"
            ) from None

    @classmethod
    def to_string(cls, status: int) -> str:
        for name, value in cls._NAMES.items():
            if value == status:
                return name
        raise ValueError(f"Invalid model version status {status!r}: use 1, 2 or 3.")

    @classmethod
    def all_status(cls) -> list[int]:
        return list(cls._NAMES.values())


class RegisteredModelTag(Record):
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


class ModelVersionTag(Record):
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


class RegisteredModelAlias(Record):
    """An alias (``champion``) naming one version of a registered model."""

    alias: str
    version: str

    def to_dict(self) -> dict[str, str]:
        return {"alias": self.alias, "version": self.version}


class ModelVersion(Record):
    """One numbered version of a registered model, pointing at the model's artifacts.

    ``source`` is the URI it was registered from; ``model_id`` the MLflow 3 logged model it was
    made from, if any. ``aliases`` lists the aliases that name this version.
    """

    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str = STAGE_NONE
    source: str | None = None
    run_id: str | None = None
    status: str = "READY"
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_link: str | None = None
    aliases: tuple[str, ...] = ()
    model_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "version": str(self.version),
            "creation_timestamp": self.creation_timestamp,
        }
        optional = (
            ("last_updated_timestamp", self.last_updated_timestamp),
            ("user_id", self.user_id),
            ("current_stage", self.current_stage),
            ("description", self.description),
            ("source", self.source),
            ("run_id", self.run_id),
            ("status", self.status),
            ("status_message", self.status_message or None),
            ("run_link", self.run_link),
            ("model_id", self.model_id),
        )
        out.update((k, v) for k, v in optional if v is not None)
        if self.tags:
            out["tags"] = _kv(self.tags)
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelVersion:
        status = d.get("status", "READY")
        if isinstance(status, int):
            status = ModelVersionStatus.to_string(status)
        return cls(
            name=d["name"],
            version=str(d["version"]),
            creation_timestamp=int(d.get("creation_timestamp", 0)),
            last_updated_timestamp=_int_or_none(d.get("last_updated_timestamp")),
            description=d.get("description"),
            user_id=d.get("user_id") or None,
            current_stage=d.get("current_stage", STAGE_NONE),
            source=d.get("source"),
            run_id=d.get("run_id") or None,
            status=status,
            status_message=d.get("status_message") or None,
            tags=_from_kv(d.get("tags")),
            run_link=d.get("run_link") or None,
            aliases=tuple(d.get("aliases", ())),
            model_id=d.get("model_id") or None,
        )


class RegisteredModel(Record):
    """A named model in the registry, with its tags, aliases and latest version per stage."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: tuple[ModelVersion, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    #: alias → version, as ``mlflow.entities.model_registry.RegisteredModel.aliases``.
    aliases: dict[str, str] = field(default_factory=dict)
    user_id: str | None = None
    deployment_job_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "creation_timestamp": self.creation_timestamp}
        optional = (
            ("last_updated_timestamp", self.last_updated_timestamp),
            ("user_id", self.user_id),
            ("description", self.description or None),
            ("deployment_job_id", self.deployment_job_id or None),
        )
        out.update((k, v) for k, v in optional if v is not None)
        if self.latest_versions:
            out["latest_versions"] = [v.to_dict() for v in self.latest_versions]
        if self.tags:
            out["tags"] = _kv(self.tags)
        if self.aliases:
            out["aliases"] = [RegisteredModelAlias(a, v).to_dict() for a, v in self.aliases.items()]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegisteredModel:
        return cls(
            name=d["name"],
            creation_timestamp=int(d.get("creation_timestamp", 0)),
            last_updated_timestamp=_int_or_none(d.get("last_updated_timestamp")),
            description=d.get("description") or None,
            latest_versions=tuple(ModelVersion.from_dict(v) for v in d.get("latest_versions", ())),
            tags=_from_kv(d.get("tags")),
            aliases={str(a["alias"]): str(a["version"]) for a in d.get("aliases", ())},
            user_id=d.get("user_id") or None,
            deployment_job_id=d.get("deployment_job_id") or None,
        )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
