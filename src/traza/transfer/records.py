"""The portable record model: what an experiment, a run, a logged model and a registered model
are, whole, independent of where they were read from.

Ids and timestamps are the source's own, so the writer can keep them. Each record has a
``to_wire``/``from_wire`` JSON form (what a Traza server's ingest endpoint takes); metric values
that are not finite travel as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from traza.entities.tracking import json_double

#: One metric point: (key, value, timestamp, step, model_id, dataset_name, dataset_digest).
Point = tuple[str, float, int, int, "str | None", "str | None", "str | None"]


@dataclass
class ExperimentRecord:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = "active"
    creation_time: int | None = None
    last_update_time: int | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> ExperimentRecord:
        return cls(**d)


@dataclass
class DatasetRecord:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None
    #: The run's input tags for this dataset (``mlflow.data.context`` ...).
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RunRecord:
    run_id: str
    experiment_id: str
    name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str
    deleted_time: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[Point] = field(default_factory=list)
    inputs: list[DatasetRecord] = field(default_factory=list)
    #: (model_id, step) of the logged models the run produced.
    outputs: list[tuple[str, int]] = field(default_factory=list)
    #: Ids of the logged models the run used (``run.inputs.model_inputs``).
    model_inputs: list[str] = field(default_factory=list)
    #: True when ``metrics`` holds only some keys' histories (an incremental sync): the writer
    #: then recomputes those keys' summaries from what the target holds.
    partial_metrics: bool = False

    def to_wire(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["metrics"] = [[p[0], json_double(p[1]), *p[2:]] for p in self.metrics]
        d["inputs"] = [dict(i.__dict__) for i in self.inputs]
        d["outputs"] = [list(o) for o in self.outputs]
        if not self.model_inputs:  # a server from before model inputs takes the record still
            del d["model_inputs"]
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> RunRecord:
        d = dict(d)
        d["metrics"] = [
            (str(p[0]), float(p[1]), int(p[2]), int(p[3]), p[4], p[5], p[6])
            for p in d.get("metrics", ())
        ]
        d["inputs"] = [DatasetRecord(**i) for i in d.get("inputs", ())]
        d["outputs"] = [(str(o[0]), int(o[1])) for o in d.get("outputs", ())]
        d["model_inputs"] = [str(m) for m in d.get("model_inputs", ())]
        return cls(**d)


@dataclass
class LoggedModelRecord:
    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_time: int
    last_update_time: int
    source_run_id: str | None = None
    model_type: str | None = None
    status: str = "READY"
    status_message: str | None = None
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> LoggedModelRecord:
        return cls(**d)


@dataclass
class ModelVersionRecord:
    version: int
    creation_time: int
    last_update_time: int
    source: str
    description: str | None = None
    user_id: str | None = None
    current_stage: str = "None"
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    status: str = "READY"
    status_message: str | None = None
    storage_location: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RegisteredModelRecord:
    name: str
    creation_time: int
    last_update_time: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    versions: list[ModelVersionRecord] = field(default_factory=list)
    #: alias → version number.
    aliases: dict[str, int] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["versions"] = [dict(v.__dict__) for v in self.versions]
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> RegisteredModelRecord:
        d = dict(d)
        d["versions"] = [ModelVersionRecord(**v) for v in d.get("versions", ())]
        d["aliases"] = {str(k): int(v) for k, v in (d.get("aliases") or {}).items()}
        return cls(**d)


@dataclass
class IngestBatch:
    """What one ``Store.ingest`` call writes, in one transaction per part."""

    experiments: list[ExperimentRecord] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    logged_models: list[LoggedModelRecord] = field(default_factory=list)
    registered_models: list[RegisteredModelRecord] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {
            "experiments": [e.to_wire() for e in self.experiments],
            "runs": [r.to_wire() for r in self.runs],
            "logged_models": [m.to_wire() for m in self.logged_models],
            "registered_models": [m.to_wire() for m in self.registered_models],
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> IngestBatch:
        return cls(
            experiments=[ExperimentRecord.from_wire(e) for e in d.get("experiments", ())],
            runs=[RunRecord.from_wire(r) for r in d.get("runs", ())],
            logged_models=[LoggedModelRecord.from_wire(m) for m in d.get("logged_models", ())],
            registered_models=[
                RegisteredModelRecord.from_wire(m) for m in d.get("registered_models", ())
            ],
        )


@dataclass
class IngestResult:
    """What one ``Store.ingest`` call did; ``conflicts`` and ``skipped`` carry the reasons.

    ``experiment_ids`` maps a source experiment id to the target's where they differ (the
    source's id was taken by another experiment, or the name was already bound to another id).
    """

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    metric_points: int = 0
    experiment_ids: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: Runs whose artifacts the target server will not serve (outside its trusted roots).
    unserved: list[str] = field(default_factory=list)

    def count(self, what: str, kind: str, n: int = 1) -> None:
        table = getattr(self, what)
        table[kind] = table.get(kind, 0) + n

    def merge(self, other: IngestResult) -> None:
        for what in ("created", "updated", "unchanged"):
            for kind, n in getattr(other, what).items():
                self.count(what, kind, n)
        self.metric_points += other.metric_points
        self.experiment_ids.update(other.experiment_ids)
        self.conflicts += other.conflicts
        self.skipped += other.skipped
        self.unserved += other.unserved

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> IngestResult:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})
