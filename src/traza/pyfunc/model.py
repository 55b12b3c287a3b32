"""``PyFuncModel``: any flavor behind one ``predict``, with the signature enforced first."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from traza.exceptions import INVALID_PARAMETER_VALUE, TrazaException
from traza.models.model import Model

FLAVOR_NAME = "python_function"

#: Loader modules MLflow writes in the ``python_function`` flavor → the Traza module that loads
#: them. Traza writes MLflow's names, so MLflow loads Traza's models and the reverse.
LOADERS = {
    "mlflow.sklearn": "traza.sklearn",
    "traza.sklearn": "traza.sklearn",
    "mlflow.pytorch": "traza.pytorch",
    "traza.pytorch": "traza.pytorch",
    "mlflow.pyfunc.model": "traza.pyfunc.python_model",
    "mlflow.pyfunc.loaders.code_model": "traza.pyfunc.python_model",
    "mlflow.xgboost": "traza.xgboost",
    "mlflow.lightgbm": "traza.lightgbm",
}


class PyFuncModel:
    """A loaded model: ``predict`` checks input against the signature, then calls the flavor."""

    def __init__(self, model_meta: Model, model_impl: Any, predict_fn: str = "predict") -> None:
        self._model_meta = model_meta
        self._model_impl = model_impl
        self._predict_fn = getattr(model_impl, predict_fn)

    @property
    def metadata(self) -> Model:
        return self._model_meta

    @property
    def model_meta(self) -> Model:
        return self._model_meta

    @property
    def loader_module(self) -> str:
        return str(self._model_meta.flavors[FLAVOR_NAME]["loader_module"])

    @property
    def model_id(self) -> str | None:
        return self._model_meta.model_id

    def get_raw_model(self) -> Any:
        """The flavor's own model object (the fitted estimator for sklearn)."""
        return getattr(self._model_impl, "model", self._model_impl)

    def unwrap_python_model(self) -> Any:
        """The :class:`~traza.pyfunc.PythonModel` instance a custom model was loaded as."""
        python_model = getattr(self._model_impl, "python_model", None)
        if python_model is None:
            raise TrazaException(
                f"unwrap_python_model() is for custom Python models; this model is loaded by "
                f"{self.loader_module}: use get_raw_model().",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return python_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        from traza.models.enforcement import enforce_params, enforce_schema

        signature = self._model_meta.signature
        # A signature from PythonModel type hints is checked by the hints, in predict (MLflow's
        # rule): list[dict] inputs are not tables.
        from_hints = self._model_meta.extras.get("is_signature_from_type_hint", False)
        if signature is not None and signature.inputs is not None and not from_hints:
            data = enforce_schema(data, signature.inputs)
        if signature is not None and signature.params is not None:
            return self._predict_fn(data, params=enforce_params(params, signature.params))
        if params:
            enforce_params(params, None)  # warns that they are ignored
        return self._predict_fn(data)

    def predict_stream(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """An iterator of prediction chunks, for models saved with ``streamable: true`` (a
        PythonModel that implements ``predict_stream``). ``data`` is one input, passed as given;
        params are checked against the signature as for :meth:`predict`."""
        from traza.models.enforcement import enforce_params

        stream = getattr(self._model_impl, "predict_stream", None)
        if stream is None or not self._model_meta.flavors[FLAVOR_NAME].get("streamable"):
            raise TrazaException(
                "This model does not support predict_stream: save a PythonModel that "
                "implements predict_stream(context, model_input, params) to stream.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        signature = self._model_meta.signature
        schema = signature.params if signature is not None else None
        if schema is not None or params:
            params = enforce_params(params, schema)
        return stream(data, params=params)

    def __repr__(self) -> str:
        meta = self._model_meta
        lines = ["traza.pyfunc.loaded_model:"]
        if meta.artifact_path:
            lines.append(f"  artifact_path: {meta.artifact_path}")
        lines.append(f"  flavor: {self.loader_module}")
        if meta.run_id:
            lines.append(f"  run_id: {meta.run_id}")
        return "\n".join(lines)


def load_pyfunc_from_dir(
    local_dir: Path, model_config: dict[str, Any] | None = None
) -> PyFuncModel:
    """Load the ``python_function`` flavor of the model in ``local_dir``."""
    meta = Model.load(local_dir)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise TrazaException(
            f"The model at {local_dir} has no python_function flavor (it has "
            f"{', '.join(meta.flavors) or 'none'}), so it cannot be loaded as a pyfunc model; "
            "load it with its own flavor's load_model.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    loader = str(conf.get("loader_module", ""))
    module_name = LOADERS.get(loader)
    if module_name is None:
        known = ", ".join(sorted({k for k in LOADERS if k.startswith("mlflow.")}))
        raise TrazaException(
            f"The model at {local_dir} is loaded by {loader!r}, a flavor Traza does not "
            f"provide (Traza loads: {known}). Load it with MLflow (`pip install mlflow`, then "
            "mlflow.pyfunc.load_model).",
            error_code=INVALID_PARAMETER_VALUE,
        )
    data = conf.get("model_path") or conf.get("data")
    data_path = local_dir / data if data else local_dir
    config = {**(conf.get("config") or {}), **(model_config or {})}
    module = importlib.import_module(module_name)
    # Traza's flavors take the parsed MLmodel too, so it is read once; others get MLflow's call.
    if hasattr(module, "load_pyfunc_with_meta"):
        impl = module.load_pyfunc_with_meta(meta, data_path, config or None)
    else:
        impl = module._load_pyfunc(data_path, config or None)
    return PyFuncModel(meta, impl, str(conf.get("predict_fn") or "predict"))
