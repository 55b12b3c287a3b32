"""The ``sklearn`` flavor: save, log and load scikit-learn estimators in MLflow's model format.

Serializations are MLflow's three: ``cloudpickle`` (Traza's default: ten times faster than skops
on a 200-tree forest), ``pickle``, and ``skops`` (safe to load from untrusted sources; MLflow
3.17's default). Loading a pickle runs code from the file, so load only models you trust or save
with ``serialization_format="skops"``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from traza.exceptions import TrazaException, invalid
from traza.models.folder import new_model_folder
from traza.models.model import Model, ModelInfo

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SERIALIZATION_FORMAT_SKOPS = "skops"
SUPPORTED_SERIALIZATION_FORMATS = (
    SERIALIZATION_FORMAT_SKOPS,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_CLOUDPICKLE,
)
_FILES = {
    SERIALIZATION_FORMAT_PICKLE: "model.pkl",
    SERIALIZATION_FORMAT_CLOUDPICKLE: "model.pkl",
    SERIALIZATION_FORMAT_SKOPS: "model.skops",
}
#: What the pyfunc flavor names as its loader: MLflow's module, so MLflow loads Traza's models.
LOADER_MODULE = "mlflow.sklearn"


def _default_requirements(serialization_format: str) -> list[str]:
    deps = ["scikit-learn", "numpy", "scipy", "pandas"]
    if serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE:
        deps.append("cloudpickle")
    elif serialization_format == SERIALIZATION_FORMAT_SKOPS:
        deps.append("skops")
    return deps


def get_default_pip_requirements(
    include_cloudpickle: bool = False, include_skops: bool = False
) -> list[str]:
    """The pinned requirements a model gets when none are given."""
    from traza.models.environment import pinned

    fmt = (
        SERIALIZATION_FORMAT_SKOPS
        if include_skops
        else SERIALIZATION_FORMAT_CLOUDPICKLE
        if include_cloudpickle
        else SERIALIZATION_FORMAT_PICKLE
    )
    return [pinned(d) for d in _default_requirements(fmt)]


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    skops_trusted_types: list[str] | None = None,
) -> None:
    """Write ``sk_model`` as a model directory at ``path`` (which must not exist, or be empty)."""
    from traza.models.environment import resolve_requirements

    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise invalid(
            f"Unrecognized serialization format {serialization_format!r}: use one of "
            f"{', '.join(SUPPORTED_SERIALIZATION_FORMATS)}."
        )
    if pyfunc_predict_fn not in ("predict", "predict_proba", "predict_log_proba", "transform"):
        raise invalid(
            f"pyfunc_predict_fn {pyfunc_predict_fn!r} is not supported: use predict, "
            "predict_proba, predict_log_proba or transform."
        )
    if not callable(getattr(sk_model, pyfunc_predict_fn, None)):
        raise invalid(f"{type(sk_model).__name__} has no {pyfunc_predict_fn}() to serve.")
    if conda_env is not None or code_paths:
        raise invalid(
            "conda_env and code_paths are not supported by Traza's sklearn flavor: give the "
            "model's dependencies with pip_requirements or extra_pip_requirements."
        )
    with new_model_folder(path) as directory:
        _write_model(
            sk_model,
            directory,
            mlflow_model or Model(),
            serialization_format,
            signature,
            input_example,
            resolve_requirements(
                _default_requirements(serialization_format),
                pip_requirements,
                extra_pip_requirements,
            ),
            pyfunc_predict_fn,
            metadata,
            skops_trusted_types,
        )


def _write_model(
    sk_model: Any,
    directory: Path,
    model: Model,
    serialization_format: str,
    signature: Any,
    input_example: Any,
    requirements: list[str],
    predict_fn: str,
    metadata: dict[str, Any] | None,
    skops_trusted_types: list[str] | None,
) -> None:
    from traza.models.environment import write_environment
    from traza.models.examples import save_input_example
    from traza.models.signature import signature_from_example
    from traza.pyfunc import add_to_model

    file = _FILES[serialization_format]
    _serialize(sk_model, directory / file, serialization_format, skops_trusted_types)
    if metadata is not None:
        model.metadata = metadata
    if input_example is not None:
        model.saved_input_example_info = save_input_example(directory, input_example)
        if signature is None:
            signature = signature_from_example(input_example, getattr(sk_model, predict_fn))
    model.signature = signature
    env = write_environment(directory, requirements)
    add_to_model(
        model, loader_module=LOADER_MODULE, model_path=file, env=env, predict_fn=predict_fn
    )
    import sklearn

    model.add_flavor(
        FLAVOR_NAME,
        pickled_model=file,
        sklearn_version=sklearn.__version__,
        serialization_format=serialization_format,
        code=None,
        skops_trusted_types=skops_trusted_types,
    )
    model.save_in(directory)


def _serialize(
    sk_model: Any, file: Path, serialization_format: str, trusted: list[str] | None
) -> None:
    with file.open("wb") as out:
        if serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE:
            try:
                import cloudpickle
            except ImportError:
                raise invalid(
                    "Saving with cloudpickle (the default) needs it installed: "
                    "pip install 'traza[sklearn]', or pass serialization_format='pickle'."
                ) from None
            cloudpickle.dump(sk_model, out)
        elif serialization_format == SERIALIZATION_FORMAT_PICKLE:
            pickle.dump(sk_model, out, protocol=pickle.DEFAULT_PROTOCOL)
        else:
            import skops.io

            data = skops.io.dumps(sk_model)
            _check_trusted(data, trusted, f"This {type(sk_model).__name__}")
            out.write(data)


def _deserialize(file: Path, serialization_format: str, trusted: list[str] | None) -> Any:
    if not file.is_file():
        raise TrazaException(
            f"The model file {file} is missing: the model directory is incomplete.",
            error_code="RESOURCE_DOES_NOT_EXIST",
        )
    if serialization_format == SERIALIZATION_FORMAT_SKOPS:
        try:
            import skops.io
        except ImportError:
            raise invalid(
                f"The model at {file} is saved with skops: install it (pip install skops)."
            ) from None
        from skops.io.exceptions import UntrustedTypesFoundException

        try:
            return skops.io.load(file, trusted=trusted)
        except UntrustedTypesFoundException as e:
            raise invalid(
                f"The skops model {file} holds types skops does not trust: {e.args[0]}. If you "
                "trust the model's source, list them in skops_trusted_types when saving it."
            ) from None
    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise invalid(f"Unknown serialization format {serialization_format!r} in {file}.")
    with file.open("rb") as f:
        return pickle.load(f)  # cloudpickle output loads with pickle


def _check_trusted(data: bytes, trusted: list[str] | None, what: str) -> None:
    """skops loads only types it (or the model's ``skops_trusted_types``) trusts, as MLflow;
    say which are missing rather than let skops fail deep inside."""
    import skops.io

    if missing := [t for t in skops.io.get_untrusted_types(data=data) if t not in (trusted or ())]:
        raise invalid(
            f"{what} holds types skops does not trust: {missing}. If you trust the model's "
            "source, list them in skops_trusted_types when saving it."
        )


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Any:
    """The fitted estimator saved at ``model_uri``."""
    from traza.models.locate import local_model_dir

    directory = local_model_dir(model_uri, dst_path)
    return _load_from_dir(directory)


def _load_from_dir(directory: Path) -> Any:
    meta = Model.load(directory)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise invalid(
            f"The model at {directory} has no sklearn flavor (it has {', '.join(meta.flavors)}); "
            "load it with traza.pyfunc.load_model."
        )
    fmt = conf.get("serialization_format", SERIALIZATION_FORMAT_PICKLE)
    return _deserialize(directory / conf["pickled_model"], fmt, conf.get("skops_trusted_types"))


def _load_pyfunc(path: str | os.PathLike[str], model_config: dict[str, Any] | None = None) -> Any:
    """The pyfunc loader (MLflow's protocol): ``path`` is the model file or its directory."""
    target = Path(path)
    directory = target if target.is_dir() else target.parent
    return load_pyfunc_with_meta(Model.load(directory), target, model_config)


def load_pyfunc_with_meta(
    meta: Model, path: Path, model_config: dict[str, Any] | None = None
) -> Any:
    """``_load_pyfunc`` given the MLmodel pyfunc already read."""
    conf = meta.flavors.get(FLAVOR_NAME, {})
    file = path / conf.get("pickled_model", "model.pkl") if path.is_dir() else path
    fmt = conf.get("serialization_format", SERIALIZATION_FORMAT_PICKLE)
    return _SklearnModelWrapper(_deserialize(file, fmt, conf.get("skops_trusted_types")))


class _SklearnModelWrapper:
    """What pyfunc calls: the estimator's predict functions, taking (and ignoring) params."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.predict(data)

    def predict_proba(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.predict_proba(data)

    def predict_log_proba(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.predict_log_proba(data)

    def transform(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.transform(data)


def log_model(
    sk_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    name: str | None = None,
    skops_trusted_types: list[str] | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log ``sk_model`` as a logged model of the active run (MLflow 3's ``log_model``)."""
    import sys

    from traza.models.log_model import log_model as log

    return log(
        sys.modules[__name__],
        sk_model,
        name,
        artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        model_id=model_id,
        serialization_format=serialization_format,
        conda_env=conda_env,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        pyfunc_predict_fn=pyfunc_predict_fn,
        metadata=metadata,
        skops_trusted_types=skops_trusted_types,
        **kwargs,
    )


__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_CLOUDPICKLE",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_SKOPS",
    "SUPPORTED_SERIALIZATION_FORMATS",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "save_model",
]
