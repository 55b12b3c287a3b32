"""``traza.pyfunc.save_model`` and ``log_model`` for custom Python models, in MLflow 3's layout:

``MLmodel``, ``python_model.pkl`` (or the model's code file), ``artifacts/``, ``code/``, the
environment files and the input examples. Requirements are the installed versions of
cloudpickle and of the packages the pickled model (or its code file) refers to, found by
reading the pickle rather than by MLflow's load-in-a-subprocess inference.
"""

from __future__ import annotations

import logging
import os
import shutil
import types
from pathlib import Path
from typing import Any

from traza.exceptions import invalid
from traza.models.folder import new_model_folder
from traza.models.model import Model, ModelInfo
from traza.pyfunc import python_model as pm

_log = logging.getLogger(__name__)


def save_model(
    path: str | os.PathLike[str],
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: list[str] | None = None,
    infer_code_paths: bool = False,
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | str | os.PathLike[str] | None = None,
    streamable: bool | None = None,
    **kwargs: Any,
) -> None:
    """Save ``python_model`` (a :class:`PythonModel` instance, or the path of a file that calls
    :func:`traza.models.set_model`) as a model directory at ``path``.

    ``artifacts`` maps names to local paths or artifact URIs, copied into the model and given
    back as ``context.artifacts``; ``code_paths`` are files or folders put on ``sys.path`` when
    the model loads; ``model_config`` (a dict or a YAML file) is ``context.model_config``.
    """
    mlflow_model = kwargs.pop("model", mlflow_model)
    if kwargs:
        raise TypeError(f"save_model() got unexpected keyword arguments: {sorted(kwargs)}")
    if loader_module is not None or data_path is not None:
        raise invalid(
            "Traza saves custom models given as python_model= (a PythonModel, or a file "
            "calling set_model); loader_module and data_path models are not supported."
        )
    if python_model is None:
        raise invalid("Give python_model: a PythonModel instance or the path of a model file.")
    if conda_env is not None or infer_code_paths:
        raise invalid(
            "conda_env and infer_code_paths are not supported by Traza: give dependencies with "
            "pip_requirements or extra_pip_requirements, and code with code_paths."
        )
    if code_paths is not None and not isinstance(code_paths, list):
        raise TypeError(f"code_paths must be a list, not {type(code_paths).__name__}")
    with new_model_folder(path) as directory:
        _write(
            directory,
            mlflow_model or Model(),
            python_model,
            code_paths or [],
            artifacts or {},
            signature,
            input_example,
            pip_requirements,
            extra_pip_requirements,
            metadata,
            _read_config(model_config),
            streamable,
        )


def _read_config(config: dict[str, Any] | str | os.PathLike[str] | None) -> dict[str, Any] | None:
    if config is None or isinstance(config, dict):
        return config
    import yaml

    file = Path(config)
    if not file.is_file():
        raise invalid(f"model_config {file} is not a file: give a dict or a YAML file's path.")
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise invalid(f"model_config {file} does not hold a mapping.")
    return data


def _write(
    directory: Path,
    model: Model,
    python_model: Any,
    code_paths: list[str],
    artifacts: dict[str, str],
    signature: Any,
    input_example: Any,
    pip_requirements: list[str] | str | None,
    extra_pip_requirements: list[str] | str | None,
    metadata: dict[str, Any] | None,
    config: dict[str, Any] | None,
    streamable: bool | None,
) -> None:
    from traza.models.environment import pinned, resolve_requirements, write_environment
    from traza.models.examples import save_input_example
    from traza.pyfunc import _portable, _requirements
    from traza.pyfunc.model import FLAVOR_NAME

    conf: dict[str, Any] = {}
    if not isinstance(python_model, (str, os.PathLike)):
        conf[pm.CONFIG_KEY_CLOUDPICKLE_VERSION] = _portable.cloudpickle_module().__version__
    elif (version := pinned("cloudpickle")).partition("==")[2]:
        conf[pm.CONFIG_KEY_CLOUDPICKLE_VERSION] = version.partition("==")[2]
    code_file: Path | None = None
    if isinstance(python_model, (str, os.PathLike)):
        code_file = Path(python_model).resolve()
        if not code_file.is_file():
            hint = f" Perhaps you meant '{code_file}.py'?" if not code_file.suffix else ""
            raise invalid(f"The model code file '{code_file}' does not exist.{hint}")
        shutil.copy2(code_file, directory / code_file.name)
        conf[pm.MODEL_CODE_PATH] = os.fspath(code_file)
    if code_paths:
        _copy_code(directory, code_paths)
        pm.add_code_to_path(directory, {"code": "code"})
    if code_file is not None:
        from traza.models.from_code import load_code_model

        python_model = load_code_model(code_file, config)
    if _is_plain_function(python_model):
        if all(a is None for a in (input_example, pip_requirements, extra_pip_requirements)):
            raise invalid(
                "A function given as python_model needs input_example, pip_requirements or "
                "extra_pip_requirements (as in MLflow)."
            )
        python_model = pm._FunctionPythonModel(python_model)
    _check_python_model(python_model)
    # Pickled as given, before the signature inference below calls load_context: what that
    # loads (weights, connections) stays out of the pickle.
    if code_file is None:
        modules = _portable.dump(python_model, directory / pm.PYTHON_MODEL_FILE)
        conf[pm.CONFIG_KEY_PYTHON_MODEL] = pm.PYTHON_MODEL_FILE
    else:
        modules = _requirements.imports_of(code_file)
    if artifacts:
        conf[pm.CONFIG_KEY_ARTIFACTS] = _copy_artifacts(directory, artifacts)
    context = pm.PythonModelContext(
        {k: os.fspath(directory / v["path"]) for k, v in conf.get("artifacts", {}).items()},
        config,
    )
    model.signature, from_hints = _signature(python_model, context, signature, input_example)
    model.extras["is_signature_from_type_hint"] = from_hints
    if metadata is not None:
        model.metadata = metadata
    if input_example is not None:
        model.saved_input_example_info = save_input_example(directory, input_example)
    defaults = ["cloudpickle", *_requirements.distributions(modules)]
    requirements = resolve_requirements(defaults, pip_requirements, extra_pip_requirements)
    env = write_environment(directory, requirements)
    if streamable is None:
        streamable = _overrides_predict_stream(python_model)
    model.add_flavor(
        FLAVOR_NAME,
        loader_module=pm.CODE_MODEL_LOADER_MODULE if code_file else pm.LOADER_MODULE,
        python_version=_python_version(),
        env=env,
        streamable=streamable,
        code="code" if code_paths else None,
        **({"config": config} if config else {}),
        **conf,
    )
    model.save_in(directory)


def _is_plain_function(python_model: Any) -> bool:
    return (
        callable(python_model)
        and not isinstance(python_model, type)
        and not hasattr(python_model, "predict")
    )


def _overrides_predict_stream(python_model: Any) -> bool:
    """MLflow's test: the class's ``predict_stream`` is not the base class's."""
    homes = (pm.__name__, "mlflow.pyfunc.model")
    for cls in type(python_model).__mro__:
        if cls.__name__ == "PythonModel" and cls.__module__ in homes:
            base_stream = getattr(cls, "predict_stream", None)
            return getattr(type(python_model), "predict_stream", None) is not base_stream
    return callable(getattr(python_model, "predict_stream", None))


def _python_version() -> str:
    from traza.models.model import python_version

    return python_version()


def _check_python_model(python_model: Any) -> None:
    if isinstance(python_model, type):
        raise invalid(
            f"python_model is the class {python_model.__name__}: pass an instance, "
            f"{python_model.__name__}()."
        )
    if not callable(getattr(python_model, "predict", None)) or not hasattr(
        python_model, "load_context"
    ):
        raise invalid(
            f"python_model must be a traza.pyfunc.PythonModel (or mlflow.pyfunc.PythonModel) "
            f"instance, got {type(python_model).__name__}: subclass PythonModel and implement "
            "predict()."
        )


def _copy_code(directory: Path, code_paths: list[str]) -> None:
    code_dir = directory / "code"
    code_dir.mkdir()
    for entry in code_paths:
        source = Path(entry)
        if not source.exists():
            raise invalid(f"The code path {source} does not exist.")
        target = code_dir / source.name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)


def _copy_artifacts(directory: Path, artifacts: dict[str, str]) -> dict[str, dict[str, str]]:
    """Copy each artifact to ``artifacts/<its file name>`` (into ``artifacts/<n>/`` when two
    share a name, as MLflow); returns the MLmodel ``artifacts`` mapping."""
    root = directory / "artifacts"
    root.mkdir()
    sources: dict[str, Path] = {}
    for uri in dict.fromkeys(artifacts.values()):
        sources[uri] = _local_source(uri)
    names = [p.name for p in sources.values()]
    taken = set(names)
    counter = 0
    saved: dict[str, str] = {}
    for uri, source in sources.items():
        sub = Path(source.name)
        if names.count(source.name) > 1:
            while str(counter) in taken:
                counter += 1
            sub = Path(str(counter)) / source.name
            taken.add(str(counter))
            counter += 1
        target = root / sub
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        saved[uri] = (Path("artifacts") / sub).as_posix()
    return {name: {"path": saved[uri], "uri": uri} for name, uri in artifacts.items()}


def _local_source(uri: str) -> Path:
    """A local path for an artifact given as a path, ``file:`` URI or artifact URI."""
    if "://" not in uri and not uri.startswith(("runs:/", "models:/", "mlflow-artifacts:")):
        path = Path(uri.removeprefix("file:"))
        if not path.exists():
            raise invalid(f"The artifact {uri!r} does not exist: give an existing file or folder.")
        return path.absolute()
    if uri.startswith("file://"):
        return _local_source(uri[len("file://") :])
    from traza.artifacts import download_artifacts

    return Path(download_artifacts(artifact_uri=uri))


def _signature(
    python_model: Any, context: pm.PythonModelContext, signature: Any, example: Any
) -> tuple[Any, bool]:
    """MLflow 3's order: the ``predict`` type hints first (they win over a given signature,
    with a warning), then the given signature, then one inferred from the input example."""
    from traza.pyfunc._type_hints import extract, signature_from_hints

    hinted = signature_from_hints(extract(pm.hinted_function(python_model)))
    if hinted is not None:
        if signature is not None and signature != hinted:
            _log.warning(
                "The signature given differs from the one predict's type hints imply; the type "
                "hints win, as in MLflow: %s. Remove signature= or make them agree.",
                hinted,
            )
        return hinted, True
    if signature is not None or example is None:
        return signature, False
    from traza.models.signature import infer_signature

    try:
        python_model.load_context(context)
        output = pm._PythonModelWrapper(python_model, context).predict(example)
        return infer_signature(example, output), False
    except Exception as e:  # the model still saves; the signature is a convenience
        _log.warning("Could not infer the model signature from the input example: %s", e)
        return None, False


def _flavor() -> types.ModuleType:
    """A flavor for :func:`traza.models.log_model.log_model` (it calls ``save_model(model,
    path, ...)``, model first)."""
    flavor = types.ModuleType("traza.pyfunc.python_model_flavor")

    def save(model: Any, path: Path, **kwargs: Any) -> None:
        save_model(path, python_model=model, **kwargs)

    flavor.save_model = save  # type: ignore[attr-defined]
    return flavor


def log_model(
    artifact_path: str | None = None,
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: list[str] | None = None,
    infer_code_paths: bool = False,
    conda_env: Any = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | str | os.PathLike[str] | None = None,
    streamable: bool | None = None,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log ``python_model`` as a logged model (``models:/m-<id>``) of the active run; see
    :func:`save_model` for the arguments. ``registered_model_name`` also registers it."""
    from traza.models.log_model import log_model as log

    return log(
        _flavor(),
        python_model,
        name,
        artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        model_id=model_id,
        loader_module=loader_module,
        data_path=data_path,
        code_paths=code_paths,
        infer_code_paths=infer_code_paths,
        conda_env=conda_env,
        artifacts=artifacts,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        model_config=model_config,
        streamable=streamable,
        **kwargs,
    )
