"""Custom Python models: ``PythonModel``, its ``PythonModelContext`` and their pyfunc loader.

Subclass :class:`PythonModel`, implement ``predict`` (and ``load_context`` to read artifacts
once), then ``traza.pyfunc.log_model(name=..., python_model=MyModel())``. The model is stored
in MLflow's layout (``python_model.pkl``, ``artifacts/``, ``code/``), so MLflow loads it too.

This module imports only the standard library: ``class M(traza.pyfunc.PythonModel)`` is cheap.
MLflow names this loader ``mlflow.pyfunc.model`` (and ``mlflow.pyfunc.loaders.code_model``
for models from code); :data:`traza.pyfunc.model.LOADERS` maps both here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traza.models.model import Model
    from traza.pyfunc._type_hints import TypeHints

#: MLmodel keys of the ``python_function`` flavor for a Python model, as MLflow writes them.
CONFIG_KEY_ARTIFACTS = "artifacts"
CONFIG_KEY_ARTIFACT_RELATIVE_PATH = "path"
CONFIG_KEY_ARTIFACT_URI = "uri"
CONFIG_KEY_PYTHON_MODEL = "python_model"
CONFIG_KEY_CLOUDPICKLE_VERSION = "cloudpickle_version"
CONFIG_KEY_COMPRESSION = "python_model_compression"
MODEL_CODE_PATH = "model_code_path"
PYTHON_MODEL_FILE = "python_model.pkl"
LOADER_MODULE = "mlflow.pyfunc.model"
CODE_MODEL_LOADER_MODULE = "mlflow.pyfunc.loaders.code_model"


class PythonModelContext:
    """What a model gets at load time: its artifacts as local paths, and its ``model_config``."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any] | None) -> None:
        self._artifacts = artifacts
        self._model_config = model_config

    @property
    def artifacts(self) -> dict[str, str]:
        """Artifact name → absolute path of its copy inside the loaded model."""
        return self._artifacts

    @property
    def model_config(self) -> dict[str, Any] | None:
        """The ``model_config`` given when saving, updated by the one given when loading."""
        return self._model_config


class PythonModel:
    """A model defined in Python: subclass it and implement :meth:`predict`.

    Annotating ``predict``'s input as ``list[...]`` (``list[str]``, ``list[dict[str, float]]``,
    a pydantic model ...) gives the model its signature when it is saved, as in MLflow 3.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded: read ``context.artifacts`` here, not per call."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        """The predictions for ``model_input`` (``context`` may be left out of the signature)."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict().")

    def predict_stream(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        """An iterator of prediction chunks, for models that stream."""
        raise NotImplementedError(f"{type(self).__name__} does not implement predict_stream().")

    @property
    def predict_type_hints(self) -> TypeHints:
        """The input and output hints of :meth:`predict` (MLflow's name for them)."""
        from traza.pyfunc._type_hints import extract

        hints = self.__dict__.get("_traza_type_hints")
        if hints is None:
            hints = extract(self.predict)
            self.__dict__["_traza_type_hints"] = hints
        return hints

    def __getstate__(self) -> dict[str, Any]:
        # The cached hints hold classes of the saving process; they are recomputed on load.
        return {k: v for k, v in self.__dict__.items() if k != "_traza_type_hints"}


class _FunctionPythonModel(PythonModel):
    """A plain function given as ``python_model``: MLflow's class of the same name and state,
    so the pickle loads in either library."""

    def __init__(self, func: Any, signature: Any = None) -> None:
        self.func = func
        self.signature = signature

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:  # type: ignore[override]
        return self.func(model_input)


def hinted_function(python_model: Any) -> Any:
    """What carries the type hints: the function of a function model, else ``predict``."""
    if type(python_model).__name__ == "_FunctionPythonModel" and callable(
        getattr(python_model, "func", None)
    ):
        return python_model.func
    return python_model.predict


class _PythonModelWrapper:
    """What pyfunc calls: converts the input as the hints ask, then calls ``predict``."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        from traza.pyfunc._type_hints import extract, takes_context

        self.python_model = python_model
        self.context = context
        self._hint = extract(hinted_function(python_model)).input
        self._with_context = takes_context(python_model.predict)
        import inspect

        self._with_params = "params" in inspect.signature(python_model.predict).parameters

    def _call(self, method: Any, model_input: Any, params: dict[str, Any] | None) -> Any:
        from traza.pyfunc._type_hints import convert_input, validate_input

        if self._hint is not None:
            model_input = validate_input(convert_input(model_input, self._hint), self._hint)
        kwargs = {"params": params} if self._with_params else {}
        if self._with_context:
            return method(self.context, model_input, **kwargs)
        return method(model_input, **kwargs)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return self._call(self.python_model.predict, model_input, params)

    def predict_stream(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return self._call(self.python_model.predict_stream, model_input, params)


def add_code_to_path(directory: Path, conf: dict[str, Any]) -> None:
    """Put the model's ``code/`` folder first on ``sys.path``, as MLflow does."""
    if code := conf.get("code"):
        path = os.fspath(directory / code)
        if path not in sys.path:
            sys.path.insert(0, path)


def load_python_model(
    directory: Path, conf: dict[str, Any], model_config: dict[str, Any] | None
) -> tuple[Any, PythonModelContext]:
    """The model object (unpickled, or built by its code file) and its loaded context."""
    add_code_to_path(directory, conf)
    if MODEL_CODE_PATH in conf:
        from traza.models.from_code import load_code_model

        code_file = directory / os.path.basename(str(conf[MODEL_CODE_PATH]))
        python_model = load_code_model(code_file, model_config)
        if callable(python_model) and not hasattr(python_model, "predict"):
            python_model = _FunctionPythonModel(python_model)  # set_model(a function)
    else:
        from traza.pyfunc import _portable

        subpath = conf.get(CONFIG_KEY_PYTHON_MODEL)
        if not subpath:
            from traza.exceptions import invalid

            raise invalid(
                f"The MLmodel file in {directory} names no python_model file: the model "
                "directory is incomplete. Save or log the model again."
            )
        python_model = _portable.load(directory / subpath, conf.get(CONFIG_KEY_COMPRESSION))
    artifacts = {
        name: os.fspath(directory / info[CONFIG_KEY_ARTIFACT_RELATIVE_PATH])
        for name, info in (conf.get(CONFIG_KEY_ARTIFACTS) or {}).items()
    }
    context = PythonModelContext(artifacts, model_config)
    python_model.load_context(context)
    return python_model, context


def load_pyfunc_with_meta(
    meta: Model, path: Path, model_config: dict[str, Any] | None = None
) -> _PythonModelWrapper:
    """The pyfunc loader given the MLmodel already read; ``path`` is the model directory."""
    from traza.pyfunc.model import FLAVOR_NAME

    directory = path if path.is_dir() else path.parent
    python_model, context = load_python_model(directory, meta.flavors[FLAVOR_NAME], model_config)
    return _PythonModelWrapper(python_model, context)


def _load_pyfunc(
    path: str | os.PathLike[str], model_config: dict[str, Any] | None = None
) -> _PythonModelWrapper:
    """MLflow's loader protocol: ``path`` is the model directory."""
    from traza.models.model import Model

    return load_pyfunc_with_meta(Model.load(path), Path(path), model_config)
