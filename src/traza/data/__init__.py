"""Datasets for ``log_input``: ``from_pandas`` and ``from_numpy`` as MLflow spells them.

A dataset records its name, a content digest, where it came from, its schema and a small
profile; the data itself is not copied into the store.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from traza.entities import Dataset as DatasetEntity

_DIGEST_ROWS = 10000

_PANDAS_TYPES = {
    "b": "boolean",
    "i": "long",
    "u": "long",
    "f": "double",
    "M": "datetime",
    "O": "string",
    "U": "string",
    "S": "binary",
}


class Dataset:
    """Base of the dataset kinds; ``name`` and ``digest`` identify it within an experiment."""

    def __init__(self, source: str | None, name: str | None, digest: str | None) -> None:
        self._source = source
        self.name = name or "dataset"
        self.digest = digest or self._compute_digest()

    @property
    def source(self) -> str:
        if self._source is None:
            return json.dumps({"tags": {}})
        return json.dumps({"uri": self._source})

    def _source_type(self) -> str:
        return "code" if self._source is None else "local"

    def _compute_digest(self) -> str:
        raise NotImplementedError

    @property
    def schema(self) -> str | None:
        return None

    @property
    def profile(self) -> dict[str, Any]:
        return {}

    def _to_entity(self) -> DatasetEntity:
        return DatasetEntity(
            name=self.name,
            digest=self.digest,
            source_type=self._source_type(),
            source=self.source,
            schema=self.schema,
            profile=json.dumps(self.profile),
        )

    def to_dict(self) -> dict[str, Any]:
        return self._to_entity().to_dict()


class PandasDataset(Dataset):
    def __init__(
        self,
        df: Any,
        source: str | None = None,
        targets: str | None = None,
        name: str | None = None,
        digest: str | None = None,
        predictions: str | None = None,
    ) -> None:
        self.df = df
        self.targets = targets
        self.predictions = predictions
        super().__init__(source, name, digest)

    def _compute_digest(self) -> str:
        import pandas as pd

        h = hashlib.md5(usedforsecurity=False)
        head = self.df.head(_DIGEST_ROWS)
        try:
            h.update(pd.util.hash_pandas_object(head, index=False).values.tobytes())
        except TypeError:  # unhashable cells (lists, dicts): fall back to their text
            h.update(head.to_csv(index=False).encode())
        h.update(str(len(self.df)).encode())
        for column in self.df.columns:
            h.update(str(column).encode())
        return h.hexdigest()[:8]

    @property
    def schema(self) -> str | None:
        columns = [
            {"type": _PANDAS_TYPES.get(dtype.kind, "string"), "name": str(name), "required": True}
            for name, dtype in self.df.dtypes.items()
        ]
        return json.dumps({"mlflow_colspec": columns})

    @property
    def profile(self) -> dict[str, Any]:
        return {"num_rows": len(self.df), "num_elements": int(self.df.size)}


class NumpyDataset(Dataset):
    def __init__(
        self,
        features: Any,
        source: str | None = None,
        targets: Any = None,
        name: str | None = None,
        digest: str | None = None,
    ) -> None:
        self.features = features
        self.targets = targets
        super().__init__(source, name, digest)

    def _compute_digest(self) -> str:
        import numpy as np

        h = hashlib.md5(usedforsecurity=False)
        for array in (self.features, self.targets):
            if array is not None:
                a = np.ascontiguousarray(array)
                h.update(str((a.shape, str(a.dtype))).encode())
                h.update(a.reshape(-1)[: _DIGEST_ROWS * 100].tobytes())
        return h.hexdigest()[:8]

    @property
    def schema(self) -> str | None:
        def spec(array: Any) -> dict[str, Any]:
            return {
                "type": "tensor",
                "tensor-spec": {"dtype": str(array.dtype), "shape": [-1, *array.shape[1:]]},
            }

        out = {"features": json.dumps([spec(self.features)])}
        if self.targets is not None:
            out["targets"] = json.dumps([spec(self.targets)])
        return json.dumps({"mlflow_tensorspec": out})

    @property
    def profile(self) -> dict[str, Any]:
        profile = {
            "features_shape": list(self.features.shape),
            "features_size": int(self.features.size),
        }
        if self.targets is not None:
            profile["targets_shape"] = list(self.targets.shape)
            profile["targets_size"] = int(self.targets.size)
        return profile


def from_pandas(
    df: Any,
    source: str | None = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> PandasDataset:
    return PandasDataset(df, source, targets, name, digest, predictions)


def from_numpy(
    features: Any,
    source: str | None = None,
    targets: Any = None,
    name: str | None = None,
    digest: str | None = None,
) -> NumpyDataset:
    return NumpyDataset(features, source, targets, name, digest)


__all__ = ["Dataset", "NumpyDataset", "PandasDataset", "from_numpy", "from_pandas"]
