"""The ``pytorch`` flavor: save, log and load ``torch.nn.Module`` models in MLflow's format.

The layout is MLflow 3.17's: ``data/model.pth`` (the whole module, ``torch.save`` with a
cloudpickle pickler) and ``data/pickle_module_info.txt`` naming ``mlflow.pytorch.pickle_module``,
or ``data/model.pt2`` (``torch.export``) for ``serialization_format="pt2"``. Traza's default is
``pickle``: MLflow 3.17 defaults to ``pt2``, which needs a tensor input example, traces the model
(seconds) and cannot hold models with data-dependent control flow. Loading a pickle runs code
from the file, so load only models you trust, or save with ``pt2``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from traza.exceptions import RESOURCE_DOES_NOT_EXIST, TrazaException, invalid
from traza.models.folder import new_model_folder
from traza.models.model import Model, ModelInfo

FLAVOR_NAME = "pytorch"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_PT2 = "pt2"
#: What the pyfunc flavor names as its loader: MLflow's module, so MLflow loads Traza's models.
LOADER_MODULE = "mlflow.pytorch"
#: The pickle module a saved model names: MLflow's, importable wherever MLflow is installed.
PICKLE_MODULE_NAME = "mlflow.pytorch.pickle_module"
_PICKLE_MODULES = {
    PICKLE_MODULE_NAME: "traza.pytorch.pickle_module",
    "traza.pytorch.pickle_module": "traza.pytorch.pickle_module",
}
DATA_SUBPATH = "data"
MODEL_FILE = "model.pth"
EXPORTED_MODEL_FILE = "model.pt2"
PICKLE_MODULE_INFO_FILE = "pickle_module_info.txt"
STATE_DICT_FILE = "state_dict.pth"

_log = logging.getLogger(__name__)


def get_default_pip_requirements() -> list[str]:
    """The pinned requirements a model gets when none are given (``+cpu`` labels dropped)."""
    from traza.models.environment import pinned

    return [pinned("torch"), pinned("cloudpickle")]


def save_model(
    pytorch_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    code_paths: list[str] | None = None,
    pickle_module: Any = None,
    signature: Any = None,
    input_example: Any = None,
    extra_files: Any = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    metadata: dict[str, Any] | None = None,
    export_model: bool = False,
    serialization_format: str | None = None,
    **kwargs: Any,
) -> None:
    """Write ``pytorch_model`` as a model directory at ``path`` (new, or empty)."""
    import torch

    from traza.models.environment import resolve_requirements

    if conda_env is not None or extra_files is not None:
        raise invalid(
            "conda_env and extra_files are not supported by Traza's pytorch flavor: give the "
            "model's dependencies with pip_requirements or extra_pip_requirements."
        )
    if code_paths is not None and not isinstance(code_paths, list):
        raise TypeError(f"code_paths must be a list, not {type(code_paths).__name__}")
    fmt = serialization_format or (
        SERIALIZATION_FORMAT_PT2 if export_model else SERIALIZATION_FORMAT_PICKLE
    )
    if export_model and fmt == SERIALIZATION_FORMAT_PICKLE:
        raise invalid(
            "Cannot set both export_model=True and serialization_format='pickle': "
            "give serialization_format only."
        )
    if fmt not in (SERIALIZATION_FORMAT_PICKLE, SERIALIZATION_FORMAT_PT2):
        raise invalid(f"serialization_format must be 'pickle' or 'pt2', not {fmt!r}.")
    if not isinstance(pytorch_model, torch.nn.Module):
        raise TypeError(
            f"pytorch_model should be a torch.nn.Module, not {type(pytorch_model).__name__}"
        )
    requirements = resolve_requirements(
        ["torch", "cloudpickle"], pip_requirements, extra_pip_requirements
    )
    with new_model_folder(path) as directory:
        _write_model(
            pytorch_model,
            directory,
            mlflow_model or Model(),
            fmt,
            pickle_module,
            signature,
            input_example,
            requirements,
            code_paths or [],
            metadata,
            kwargs,
        )


def _write_model(
    model_obj: Any,
    directory: Path,
    model: Model,
    fmt: str,
    pickle_module: Any,
    signature: Any,
    input_example: Any,
    requirements: list[str],
    code_paths: list[str],
    metadata: dict[str, Any] | None,
    save_kwargs: dict[str, Any],
) -> None:
    import torch

    from traza.models.environment import write_environment
    from traza.models.examples import save_input_example
    from traza.pyfunc import add_to_model

    example = _as_numpy(input_example)
    if example is not None:
        model.saved_input_example_info = save_input_example(directory, example)
        if signature is None:
            signature = _signature_from_example(model_obj, example)
    if signature is False:
        signature = None
    model.signature = signature
    if metadata is not None:
        model.metadata = metadata
    code = None
    if code_paths:
        from traza.pyfunc.save import _copy_code

        _copy_code(directory, code_paths)
        code = "code"
    data = directory / DATA_SUBPATH
    data.mkdir()
    pyfunc_extra: dict[str, str] = {}
    if fmt == SERIALIZATION_FORMAT_PT2:
        _export(model_obj, data / EXPORTED_MODEL_FILE, example, signature)
    else:
        pickler = pickle_module or importlib.import_module("traza.pytorch.pickle_module")
        name = getattr(pickler, "__name__", "")
        name = PICKLE_MODULE_NAME if name in _PICKLE_MODULES else name
        (data / PICKLE_MODULE_INFO_FILE).write_text(name, encoding="utf-8")
        pyfunc_extra["pickle_module_name"] = name
        if isinstance(model_obj, torch.jit.ScriptModule):
            model_obj.save(os.fspath(data / MODEL_FILE))
        else:
            torch.save(model_obj, data / MODEL_FILE, pickle_module=pickler, **save_kwargs)
    model.add_flavor(
        FLAVOR_NAME, model_data=DATA_SUBPATH, pytorch_version=str(torch.__version__), code=code
    )
    env = write_environment(directory, requirements)
    add_to_model(
        model,
        loader_module=LOADER_MODULE,
        data=DATA_SUBPATH,
        code=code,
        conda_env=env["conda"],
        python_env=env["virtualenv"],
        model_config={"device": None},
        **pyfunc_extra,
    )
    model.save_in(directory)


def _as_numpy(example: Any) -> Any:
    """Tensors are saved as the arrays they hold (MLflow skips tensor examples)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(example, torch.Tensor):
        return example.detach().cpu().numpy()
    return example


def _signature_from_example(model_obj: Any, example: Any) -> Any:
    """MLflow infers a missing signature from the input example and the model's output on it."""
    from traza.models.signature import infer_signature

    try:
        return infer_signature(example, _PyTorchWrapper(model_obj, "cpu").predict(example))
    except Exception as e:  # the model still saves; the signature is a convenience
        _log.warning("Could not infer the model signature from the input example: %s", e)
        return None


def _export(model_obj: Any, file: Path, example: Any, signature: Any) -> None:
    """``torch.export`` the model, traced on the example, with the signature's -1 dimensions
    dynamic (as MLflow does)."""
    import numpy as np
    import torch

    if isinstance(model_obj, torch.jit.ScriptModule):
        raise invalid(
            "pt2 cannot hold a torch.jit.ScriptModule: use serialization_format='pickle'."
        )
    examples = (example,) if isinstance(example, np.ndarray) else example
    if not isinstance(examples, (tuple, list)) or not all(
        isinstance(e, np.ndarray) for e in examples
    ):
        raise invalid(
            "serialization_format='pt2' needs input_example: a numpy array or tensor (or a tuple "
            "of them), since torch.export traces the model on it."
        )
    inputs = getattr(signature, "inputs", None)
    if inputs is None or not inputs.is_tensor_spec():
        raise invalid(
            "serialization_format='pt2' needs a tensor signature (TensorSpec inputs): give one, "
            "or an input example to infer it from, or use serialization_format='pickle'."
        )
    tensors = tuple(torch.from_numpy(e) for e in examples)
    dims = [
        {i: torch.export.Dim.AUTO for i, size in enumerate(spec.shape) if size == -1} or None
        for spec in inputs.inputs
    ]
    torch.export.save(torch.export.export(model_obj, tensors, dynamic_shapes=dims), file)


def load_model(
    model_uri: str | os.PathLike[str], dst_path: str | None = None, **kwargs: Any
) -> Any:
    """The ``torch.nn.Module`` saved at ``model_uri``; ``kwargs`` go to ``torch.load``."""
    from traza.models.locate import local_model_dir

    directory = local_model_dir(model_uri, dst_path)
    meta = Model.load(directory)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise invalid(
            f"The model at {directory} has no pytorch flavor (it has {', '.join(meta.flavors)}); "
            "load it with traza.pyfunc.load_model."
        )
    _add_code_to_path(directory, conf)
    import torch

    if torch.__version__ != conf.get("pytorch_version"):
        _log.warning(
            "The model was saved with torch %s; torch %s is installed.",
            conf.get("pytorch_version"),
            torch.__version__,
        )
    return _load_torch(directory / conf.get("model_data", DATA_SUBPATH), None, kwargs)


def _add_code_to_path(directory: Path, conf: dict[str, Any]) -> None:
    if code := conf.get("code"):
        path = os.fspath(directory / code)
        if path not in sys.path:
            sys.path.insert(0, path)


def _load_torch(path: Path, device: str | None, kwargs: dict[str, Any]) -> Any:
    import torch

    file = path / MODEL_FILE if path.is_dir() else path
    exported = path.is_dir() and not file.is_file()
    if exported:
        file = path / EXPORTED_MODEL_FILE
    if not file.is_file():
        raise TrazaException(
            f"The model file {path / MODEL_FILE} is missing: the model directory is incomplete.",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    if exported:
        model = torch.export.load(file).module()
    else:
        if path.is_dir() and "pickle_module" not in kwargs:
            kwargs = {**kwargs, "pickle_module": _pickle_module(path / PICKLE_MODULE_INFO_FILE)}
        model = torch.load(file, **kwargs)  # a TorchScript archive is handed to torch.jit.load
        model.eval()
    if device and not exported:
        model.to(device=device)
    return model


def _pickle_module(info: Path) -> Any:
    name = info.read_text(encoding="utf-8").strip() if info.is_file() else PICKLE_MODULE_NAME
    try:
        return importlib.import_module(_PICKLE_MODULES.get(name, name))
    except ImportError:
        raise TrazaException(
            f"The model was saved with the pickle module {name!r}, which cannot be imported: "
            "install the package that provides it.",
            error_code=RESOURCE_DOES_NOT_EXIST,
        ) from None


def _load_pyfunc(path: str | os.PathLike[str], model_config: dict[str, Any] | None = None) -> Any:
    """The pyfunc loader (MLflow's protocol): ``path`` is the model's ``data`` folder."""
    target = Path(path)
    directory = target.parent if target.name == DATA_SUBPATH else target
    return load_pyfunc_with_meta(Model.load(directory), target, model_config)


def load_pyfunc_with_meta(
    meta: Model, path: Path, model_config: dict[str, Any] | None = None
) -> Any:
    """``_load_pyfunc`` given the MLmodel already read: the model on ``model_config["device"]``
    (``MLFLOW_DEFAULT_PREDICTION_DEVICE``, else CUDA when present, else the CPU)."""
    import torch

    conf = meta.flavors.get(FLAVOR_NAME, {})
    directory = path.parent if path.name == DATA_SUBPATH else path
    _add_code_to_path(directory, conf)
    device = (model_config or {}).get("device") or os.environ.get(
        "MLFLOW_DEFAULT_PREDICTION_DEVICE"
    )
    if not device:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return _PyTorchWrapper(_load_torch(path, device, {"weights_only": False}), device)


class _PyTorchWrapper:
    """What pyfunc calls: a DataFrame (as float32), an array or a tensor in, one tensor's values
    out (a DataFrame for a DataFrame, with its index; an array otherwise)."""

    def __init__(self, model: Any, device: str) -> None:
        self.model = model
        self.device = device

    def get_raw_model(self) -> Any:
        return self.model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd
        import torch

        if params and "device" in params:
            raise invalid(
                "device is chosen when the model is loaded, not per prediction: "
                "traza.pyfunc.load_model(uri, model_config={'device': 'cuda'})."
            )
        if isinstance(data, (pd.DataFrame, np.ndarray)):
            array = data.to_numpy(dtype=np.float32) if isinstance(data, pd.DataFrame) else data
            # torch warns on read-only arrays (a frame's values may be a view); copy those
            tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
        elif isinstance(data, torch.Tensor):
            tensor = data
        else:
            raise TypeError(
                "The PyTorch flavor predicts on a pandas DataFrame, a numpy array or a tensor, "
                f"not {type(data).__name__}."
            )
        with torch.no_grad():
            out = self.model(tensor.to(self.device), **(params or {}))
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"The PyTorch model should return one tensor, but returned {type(out).__name__}."
            )
        values = out.cpu().numpy()
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(values, index=data.index)
        return values


def log_model(
    pytorch_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    pickle_module: Any = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    extra_files: Any = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    export_model: bool = False,
    serialization_format: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log ``pytorch_model`` as a logged model of the active run (MLflow 3's ``log_model``)."""
    from traza.models.log_model import log_model as log

    return log(
        sys.modules[__name__],
        pytorch_model,
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
        pickle_module=pickle_module,
        signature=signature,
        input_example=input_example,
        extra_files=extra_files,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        export_model=export_model,
        serialization_format=serialization_format,
        **kwargs,
    )


def save_state_dict(
    state_dict: dict[str, Any], path: str | os.PathLike[str], **kwargs: Any
) -> None:
    """Write ``state_dict`` to ``path/state_dict.pth`` (a plain artifact, not a model)."""
    import torch

    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict must be a dict, not {type(state_dict).__name__}")
    Path(path).mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, Path(path) / STATE_DICT_FILE, **kwargs)


def log_state_dict(state_dict: dict[str, Any], artifact_path: str, **kwargs: Any) -> None:
    """Log ``state_dict`` as ``<artifact_path>/state_dict.pth`` of the active run."""
    import tempfile

    import traza

    with tempfile.TemporaryDirectory(prefix="traza-state-dict-") as tmp:
        save_state_dict(state_dict, tmp, **kwargs)
        traza.log_artifacts(tmp, artifact_path)


def load_state_dict(state_dict_uri: str, **kwargs: Any) -> Any:
    """The state dict logged at ``state_dict_uri`` (a folder holding ``state_dict.pth``)."""
    import torch

    from traza.artifacts import download_artifacts

    local = Path(download_artifacts(state_dict_uri))
    return torch.load(local / STATE_DICT_FILE, **kwargs)


__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_PT2",
    "get_default_pip_requirements",
    "load_model",
    "load_state_dict",
    "log_model",
    "log_state_dict",
    "save_model",
    "save_state_dict",
]
