"""What ``traza.models.evaluate`` evaluates: the data resolved into features and labels, and the
model loaded (a URI, a loaded model or a function) with its predictions picked out."""

from __future__ import annotations

import os
from typing import Any

from traza.exceptions import INVALID_PARAMETER_VALUE, TrazaException

#: Flavors whose raw model MLflow calls directly (``predict_proba``, ``score``).
_RAW_MODEL_FLAVORS = ("mlflow.sklearn", "mlflow.xgboost", "mlflow.catboost", "traza.sklearn")


def _invalid(message: str) -> TrazaException:
    return TrazaException(message, INVALID_PARAMETER_VALUE)


class _EvalData:
    """The evaluation data resolved: features, labels, optional static predictions, and the
    ``traza.data`` dataset to log as the run's input."""

    def __init__(
        self, data: Any, targets: Any, predictions: str | None, feature_names: Any
    ) -> None:
        import numpy as np
        import pandas as pd

        from traza.data import NumpyDataset, PandasDataset, from_numpy, from_pandas

        self.predictions: Any = None
        self.targets_name: str | None = None
        if isinstance(data, PandasDataset):
            targets = data.targets if data.targets is not None else targets
            predictions = data.predictions if data.predictions is not None else predictions
            self.dataset: Any = data
            data = data.df
        elif isinstance(data, NumpyDataset):
            self.dataset = data
            targets = data.targets if data.targets is not None else targets
            data = data.features
        else:
            self.dataset = None

        if isinstance(data, pd.DataFrame):
            if targets is not None and not isinstance(targets, str):
                raise _invalid(
                    "With a DataFrame, targets= names the label column (a string), "
                    f"not a {type(targets).__name__}."
                )
            missing = [c for c in (targets, predictions) if c is not None and c not in data.columns]
            if missing:
                raise _invalid(
                    f"Column {missing[0]!r} is not in the evaluation data; its columns are "
                    f"{list(map(str, data.columns))}. Pass targets= (and predictions=) as one "
                    "of them."
                )
            self.targets_name = targets
            self.labels = None if targets is None else data[targets].to_numpy()
            if predictions is not None:
                self.predictions = data[predictions].to_numpy()
            drop = [c for c in (targets, predictions) if c is not None]
            features = data.drop(columns=drop)
            if feature_names is not None:
                features = features[list(feature_names)]
            self.features = features
            if self.dataset is None:
                self.dataset = from_pandas(data, targets=targets, predictions=predictions)
        else:
            array = np.asarray(data)
            if array.ndim != 2:
                raise _invalid(
                    "Evaluation data must be a pandas DataFrame, a traza.data dataset or a 2-D "
                    f"array; got {type(data).__name__} with {array.ndim} dimension(s)."
                )
            if targets is not None and isinstance(targets, str):
                raise _invalid("With an array, targets= is the label array, not a column name.")
            n = array.shape[1]
            width = math_width(n)
            names = list(feature_names or [f"feature_{str(i + 1).zfill(width)}" for i in range(n)])
            self.features = pd.DataFrame(array, columns=names)
            self.labels = None if targets is None else np.asarray(targets).reshape(-1)
            if self.dataset is None:
                self.dataset = from_numpy(array, targets=self.labels)
        if self.labels is None:
            raise _invalid(
                "The default evaluator needs labels: pass targets= (the label column of the "
                "DataFrame, or the label array), or a traza.data dataset created with targets=."
            )
        if len(self.labels) != len(self.features):
            raise _invalid(
                f"targets has {len(self.labels)} values but the data has {len(self.features)} rows."
            )


def math_width(n: int) -> int:
    """Digits in MLflow's generated feature names (``feature_01`` ... ``feature_10``)."""
    import math

    return math.ceil(math.log10(n + 1))


def _load_model(model: Any) -> tuple[Any, str | None]:
    """(model, model_id): a URI is loaded as pyfunc, a callable becomes a predict function."""
    if model is None:
        return None, None
    if isinstance(model, (str, os.PathLike)):
        from traza.pyfunc import load_model

        uri = os.fspath(model)
        loaded = load_model(uri)
        model_id = None
        if uri.startswith("models:/m-"):
            model_id = uri[len("models:/") :].split("/")[0]
        return loaded, model_id or getattr(loaded, "model_id", None)
    if hasattr(model, "predict"):
        return model, getattr(model, "model_id", None)
    if callable(model):
        return model, None
    raise _invalid(
        "model= must be a model URI, a loaded pyfunc model or a function of the features; "
        f"got {type(model).__name__}."
    )


def _raw_model(model: Any) -> Any:
    metadata = getattr(model, "metadata", None)
    flavors = getattr(metadata, "flavors", None) or {}
    loader = (flavors.get("python_function") or {}).get("loader_module")
    if loader in _RAW_MODEL_FLAVORS and hasattr(model, "get_raw_model"):
        return model.get_raw_model()
    return None


def _column(output: Any, name: str | None) -> Any:
    """The prediction column of a model's output (a frame's only column, or ``name``)."""
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        if name is not None and name in output.columns:
            return output[name].to_numpy()
        if output.shape[1] == 1:
            return output.iloc[:, 0].to_numpy()
        if "predictions" in output.columns:
            return output["predictions"].to_numpy()
        raise _invalid(
            f"The model returned {output.shape[1]} columns {list(output.columns)}: "
            "pass predictions= to name the one holding the predictions."
        )
    if isinstance(output, dict) and name in output:
        output = output[name]
    array = np.asarray(output)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    return array
