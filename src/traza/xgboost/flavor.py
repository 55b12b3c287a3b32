"""The ``xgboost`` flavor: save, log and load XGBoost models in MLflow's model format.

Models are written with XGBoost's own ``save_model`` (``model.ubj`` by default, or ``json`` /
``deprecated`` via ``model_format``), both native ``Booster`` objects and the scikit-learn
wrappers (``XGBRegressor``, ``XGBClassifier`` ...): the flavor's ``model_class`` names which
class loads the file back, as MLflow does. No pickle: loading runs no code from the model.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

from traza.exceptions import TrazaException, invalid
from traza.models.folder import new_model_folder
from traza.models.model import Model, ModelInfo

FLAVOR_NAME = "xgboost"
#: What the pyfunc flavor names as its loader: MLflow's module, so MLflow loads Traza's models.
LOADER_MODULE = "mlflow.xgboost"
_BOOSTER_CLASS = "xgboost.core.Booster"

_log = logging.getLogger(__name__)


def _distribution() -> str:
    """The distribution that provides ``import xgboost`` here: ``xgboost-cpu`` (no NVIDIA
    libraries) when that is what users installed, else ``xgboost``. MLflow 3.17 writes both
    names in that case, and pip would then install the full package over the CPU one."""
    from traza.models.environment import is_installed

    return "xgboost-cpu" if is_installed("xgboost-cpu") else "xgboost"


def get_default_pip_requirements() -> list[str]:
    """The pinned requirements a model gets when none are given."""
    from traza.models.environment import pinned

    return [pinned(_distribution())]


def save_model(
    xgb_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    model_format: str = "ubj",
    metadata: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Write ``xgb_model`` (a ``Booster`` or an XGBoost scikit-learn model) at ``path``
    (which must not exist, or be empty); ``kwargs`` go to the model's ``save_model``."""
    from traza.models.environment import resolve_requirements

    if not callable(getattr(xgb_model, "save_model", None)):
        raise invalid(
            f"{type(xgb_model).__name__} is not an XGBoost model: give an xgboost.Booster or "
            "an XGBoost scikit-learn model (XGBRegressor, XGBClassifier ...)."
        )
    if conda_env is not None or code_paths:
        raise invalid(
            "conda_env and code_paths are not supported by Traza's xgboost flavor: give the "
            "model's dependencies with pip_requirements or extra_pip_requirements."
        )
    if not model_format or "/" in model_format or "\\" in model_format:
        raise invalid(f"model_format {model_format!r} is not a file format: use ubj or json.")
    requirements = resolve_requirements([_distribution()], pip_requirements, extra_pip_requirements)
    with new_model_folder(path) as directory:
        _write_model(
            xgb_model,
            directory,
            mlflow_model or Model(),
            signature,
            input_example,
            requirements,
            model_format,
            metadata,
            kwargs,
        )


def _write_model(
    xgb_model: Any,
    directory: Path,
    model: Model,
    signature: Any,
    input_example: Any,
    requirements: list[str],
    model_format: str,
    metadata: dict[str, Any] | None,
    save_kwargs: dict[str, Any],
) -> None:
    import xgboost

    from traza.models.environment import write_environment
    from traza.models.examples import save_input_example
    from traza.models.signature import signature_from_example
    from traza.pyfunc import add_to_model

    file = f"model.{model_format}"
    xgb_model.save_model(os.fspath(directory / file), **save_kwargs)
    if metadata is not None:
        model.metadata = metadata
    if input_example is not None:
        model.saved_input_example_info = save_input_example(directory, input_example)
        if signature is None:
            signature = signature_from_example(input_example, _XGBModelWrapper(xgb_model).predict)
    if signature is not False:
        model.signature = signature
    env = write_environment(directory, requirements)
    add_to_model(model, loader_module=LOADER_MODULE, data=file, env=env)
    cls = type(xgb_model)
    model.add_flavor(
        FLAVOR_NAME,
        xgb_version=xgboost.__version__,
        data=file,
        model_class=f"{cls.__module__}.{cls.__qualname__}",
        model_format=model_format,
        code=None,
    )
    model.save_in(directory)


def _model_class(name: str) -> type:
    """The class ``model_class`` names; only XGBoost's own, so an MLmodel cannot make Traza
    import and instantiate anything else."""
    module, _, attr = name.rpartition(".")
    if not module.startswith("xgboost.") and module != "xgboost":
        raise invalid(
            f"The model's model_class {name!r} is not an XGBoost class: Traza loads only "
            "xgboost.* classes."
        )
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise invalid(
            f"Loading this XGBoost model needs xgboost installed (pip install "
            f"'traza[xgboost]'): {e}"
        ) from None
    except AttributeError:
        raise invalid(f"The installed xgboost has no class {name!r}.") from None
    if not isinstance(cls, type):
        raise invalid(f"The model's model_class {name!r} is not a class.")
    return cls


def _load_from_dir(directory: Path) -> Any:
    meta = Model.load(directory)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise invalid(
            f"The model at {directory} has no xgboost flavor (it has {', '.join(meta.flavors)}); "
            "load it with traza.pyfunc.load_model."
        )
    return _load_file(directory, conf)


def _load_file(directory: Path, conf: dict[str, Any]) -> Any:
    file = directory / str(conf.get("data", "model.xgb"))
    if not file.is_file():
        raise TrazaException(
            f"The model file {file} is missing: the model directory is incomplete.",
            error_code="RESOURCE_DOES_NOT_EXIST",
        )
    model = _model_class(str(conf.get("model_class") or _BOOSTER_CLASS))()
    model.load_model(os.fspath(file))
    return model


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Any:
    """The ``Booster`` or XGBoost scikit-learn model saved at ``model_uri``."""
    from traza.models.locate import local_model_dir

    return _load_from_dir(local_model_dir(model_uri, dst_path))


def _load_pyfunc(path: str | os.PathLike[str], model_config: dict[str, Any] | None = None) -> Any:
    """The pyfunc loader (MLflow's protocol): ``path`` is the model file or its directory."""
    target = Path(path)
    directory = target if target.is_dir() else target.parent
    return load_pyfunc_with_meta(Model.load(directory), target, model_config)


def load_pyfunc_with_meta(
    meta: Model, path: Path, model_config: dict[str, Any] | None = None
) -> Any:
    """``_load_pyfunc`` given the MLmodel already read."""
    directory = path if path.is_dir() else path.parent
    return _XGBModelWrapper(_load_file(directory, meta.flavors.get(FLAVOR_NAME, {})))


class _XGBModelWrapper:
    """What pyfunc calls: a Booster gets its input as a ``DMatrix``; params the model's
    ``predict`` does not take are dropped with a warning, as MLflow does."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import xgboost

        if isinstance(self.model, xgboost.Booster):
            kwargs = _accepted(self.model.predict, params)
            return self.model.predict(xgboost.DMatrix(data), validate_features=True, **kwargs)
        return self.model.predict(data, **_accepted(self.model.predict, params))


def _accepted(fn: Any, params: dict[str, Any] | None) -> dict[str, Any]:
    import inspect

    if not params:
        return {}
    names = inspect.signature(fn).parameters
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in names.values()):
        return dict(params)
    if dropped := sorted(set(params) - set(names)):
        _log.warning("Params %s are not accepted by the xgboost model; ignoring them.", dropped)
    return {k: v for k, v in params.items() if k in names}


def log_model(
    xgb_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    model_format: str = "ubj",
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log ``xgb_model`` as a logged model of the active run (MLflow 3's ``log_model``)."""
    import sys

    from traza.models.log_model import log_model as log

    return log(
        sys.modules[__name__],
        xgb_model,
        name,
        artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        model_id=model_id,
        conda_env=conda_env,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        model_format=model_format,
        metadata=metadata,
        **kwargs,
    )


__all__ = [
    "FLAVOR_NAME",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "save_model",
]
