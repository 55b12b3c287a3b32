"""Datasets for log_input: digests, schemas and profiles, recorded on the run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import traza as mlflow
from traza.data import from_numpy, from_pandas


def test_pandas_dataset_logged_as_input() -> None:
    df = pd.DataFrame({"experience": [1, 2, 3], "salary": [10.0, 20.5, 30.0], "name": list("abc")})
    dataset = from_pandas(df, source="data/salary.csv", targets="salary", name="salary")
    assert dataset.digest == from_pandas(df.copy()).digest  # content, not identity
    assert dataset.digest != from_pandas(df.head(2)).digest
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training", tags={"version": "v1"})
    (item,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert (item.dataset.name, item.dataset.digest) == ("salary", dataset.digest)
    assert json.loads(item.dataset.source) == {"uri": "data/salary.csv"}
    assert item.dataset.source_type == "local"
    assert json.loads(item.dataset.schema or "")["mlflow_colspec"] == [
        {"type": "long", "name": "experience", "required": True},
        {"type": "double", "name": "salary", "required": True},
        {"type": "string", "name": "name", "required": True},
    ]
    assert json.loads(item.dataset.profile or "") == {"num_rows": 3, "num_elements": 9}
    assert {(t.key, t.value) for t in item.tags} == {
        ("mlflow.data.context", "training"),
        ("version", "v1"),
    }
    found = mlflow.search_runs(filter_string="datasets.name = 'salary'", output_format="list")
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_numpy_dataset() -> None:
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    targets = np.array([0, 1, 0, 1])
    dataset = from_numpy(features, targets=targets, name="arrays")
    assert len(dataset.digest) == 8
    assert dataset.profile == {
        "features_shape": [4, 3],
        "features_size": 12,
        "targets_shape": [4],
        "targets_size": 4,
    }
    schema = json.loads(dataset.schema or "")["mlflow_tensorspec"]
    assert json.loads(schema["features"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}
    ]
    with mlflow.start_run() as run:
        mlflow.log_input(dataset)
    assert mlflow.get_run(run.info.run_id).inputs.dataset_inputs[0].dataset.name == "arrays"
