"""The ``MLmodel`` file: what a model directory holds and how to load it, as MLflow 3 writes it.

A model directory is portable between Traza and MLflow: both read and write the same YAML
keys, so a model saved by one loads in the other.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traza._version import __version__
from traza.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, TrazaException
from traza.models.signature import ModelSignature

MLMODEL_FILE_NAME = "MLmodel"

#: The MLflow release whose model format Traza writes; MLflow reads ``mlflow_version`` to warn
#: about version skew, so it names the format, not the library that wrote it.
MLFLOW_FORMAT_VERSION = "3.17.2"


class Model:
    """An ``MLmodel`` file: flavors, signature, input example and where the model came from."""

    def __init__(
        self,
        artifact_path: str | None = None,
        run_id: str | None = None,
        utc_time_created: str | None = None,
        flavors: dict[str, dict[str, Any]] | None = None,
        signature: ModelSignature | None = None,
        saved_input_example_info: dict[str, Any] | None = None,
        model_uuid: str | None = None,
        model_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        mlflow_version: str | None = MLFLOW_FORMAT_VERSION,
        model_size_bytes: int | None = None,
        **extras: Any,
    ) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created or str(dt.datetime.now(dt.timezone.utc))[:26]
        self.flavors: dict[str, dict[str, Any]] = dict(flavors or {})
        self.signature = signature
        self.saved_input_example_info = saved_input_example_info
        self.model_uuid = model_uuid or model_id
        self.model_id = model_id
        self.metadata = metadata
        self.mlflow_version = mlflow_version
        self.model_size_bytes = model_size_bytes
        self.extras = extras

    # -- flavors -----------------------------------------------------------------------------
    def add_flavor(self, name: str, **params: Any) -> Model:
        self.flavors[name] = params
        return self

    def get_input_schema(self) -> Any:
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self) -> Any:
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self) -> Any:
        return self.signature.params if self.signature is not None else None

    def load_input_example(self, path: str | os.PathLike[str]) -> Any:
        """The saved input example, as the object it was logged from (None if there is none)."""
        from traza.models.examples import load_input_example

        return load_input_example(Path(path), self.saved_input_example_info)

    # -- YAML --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "artifact_path": self.artifact_path,
            "flavors": self.flavors,
            "is_signature_from_type_hint": False,
            "mlflow_version": self.mlflow_version,
            "model_id": self.model_id,
            "model_size_bytes": self.model_size_bytes,
            "model_uuid": self.model_uuid,
            "prompts": None,
            "run_id": self.run_id,
            "saved_input_example_info": self.saved_input_example_info,
            "signature": self.signature.to_dict() if self.signature is not None else None,
            "type_hint_from_example": False,
            "utc_time_created": self.utc_time_created,
            "metadata": self.metadata,
            **self.extras,
        }
        # MLflow omits empty optional keys; "prompts" and "run_id" it always writes.
        keep = {"flavors", "prompts", "run_id", "utc_time_created", "mlflow_version"}
        return {k: v for k, v in out.items() if v is not None or k in keep}

    def to_yaml(self) -> str:
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when the wheel has it
        return yaml.dump(self.to_dict(), Dumper=dumper, default_flow_style=False, sort_keys=True)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    def save_in(self, directory: Path) -> None:
        """Write ``directory/MLmodel`` last, once the folder holds everything it sizes."""
        self.model_size_bytes = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
        self.save(directory / "MLmodel")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        data = dict(data)
        signature = data.pop("signature", None)
        from_hint = bool(data.pop("is_signature_from_type_hint", False))
        data.pop("type_hint_from_example", None)
        data.pop("prompts", None)
        model = cls(
            signature=ModelSignature.from_dict(signature) if signature else None,
            **data,
        )
        if from_hint:
            model.extras["is_signature_from_type_hint"] = True
        return model

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read a model directory's ``MLmodel`` (``path`` is the directory or the file)."""
        import yaml

        file = Path(path)
        if file.is_dir():
            file = file / MLMODEL_FILE_NAME
        if not file.is_file():
            raise TrazaException(
                f"No MLmodel file at {file}: {file.parent} is not a model directory. Give the "
                "folder save_model wrote, or a model URI (runs:/<run_id>/<name>, models:/...).",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        try:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ten times faster
            data = yaml.load(file.read_text(encoding="utf-8"), Loader=loader)
            if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
                raise ValueError("it has no 'flavors' mapping")
            return cls.from_dict(data)
        except (ValueError, TypeError, yaml.YAMLError) as e:
            raise TrazaException(
                f"The MLmodel file {file} is corrupted ({e}); it cannot be loaded. Save or log "
                "the model again.",
                error_code=INVALID_PARAMETER_VALUE,
            ) from None


def python_version() -> str:
    return platform.python_version()


@dataclass
class ModelInfo:
    """What ``log_model`` returns: where the model went and what it is (MLflow's ModelInfo)."""

    artifact_path: str
    flavors: dict[str, Any]
    model_uri: str
    model_uuid: str | None
    run_id: str | None
    saved_input_example_info: dict[str, Any] | None
    signature: ModelSignature | None
    utc_time_created: str
    mlflow_version: str | None
    model_id: str | None = None
    name: str | None = None
    registered_model_version: int | None = None
    metadata: dict[str, Any] | None = None

    @property
    def signature_dict(self) -> dict[str, Any] | None:
        return self.signature.to_dict() if self.signature is not None else None

    @property
    def traza_version(self) -> str:
        return __version__
