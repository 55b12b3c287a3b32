"""Model signatures agree with MLflow 3.17's, both ways, on the inputs users commonly pass."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from traza.exceptions import TrazaException
from traza.models import ModelSignature, infer_signature
from traza.models.signature import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

mlflow_models = pytest.importorskip("mlflow.models")


def _salary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experience": [1, 5, 10],
            "age": [22, 30, 41],
            "interview_score": [6.5, 8.0, 7.25],
        }
    )


CASES: dict[str, tuple[Any, Any, Any]] = {
    "salary_frame_series": (_salary(), pd.Series([40.0, 60.5, 90.1], name="prediction"), None),
    "unnamed_series": (pd.Series([1, 2, 3]), pd.Series(["a", "b", "c"]), None),
    "numpy_float_vector": (np.array([0.5, 1.5, 2.5]), np.array([1.0, 2.0, 3.0]), None),
    "numpy_int_matrix": (np.arange(12).reshape(3, 4), np.array([0, 1, 0], dtype=np.int32), None),
    "numpy_float32_3d": (np.zeros((2, 3, 4), dtype=np.float32), None, None),
    "numpy_strings": (np.array(["a", "bcd"]), np.array([b"x", b"yz"]), None),
    "dict_of_arrays": ({"x": np.ones((2, 3)), "mask": np.array([True, False])}, None, None),
    "dict_of_lists": ({"a": [1, 2], "b": ["x", "y"], "c": [1.5, None]}, None, None),
    "dict_of_scalars": ({"text": "hi", "n": 3, "p": 0.5, "flag": True, "none": None}, None, None),
    "nested_dict": ({"q": {"text": "hi", "ids": [1, 2], "meta": {"k": "v"}}}, None, None),
    "list_of_strings": (["a sentence", "another"], ["out"], None),
    "list_of_floats": ([1.0, 2.5], None, None),
    "list_of_dicts": (
        [{"text": "a", "ids": ["1"], "d": {"k": "v"}}, {"text": "b", "d": {"k2": 1}}],
        None,
        None,
    ),
    "bool_string_datetime_frame": (
        pd.DataFrame(
            {
                "flag": [True, False],
                "name": ["x", "y"],
                "when": pd.to_datetime(["2024-01-01", "2024-06-30 12:00:00"], format="ISO8601"),
            }
        ),
        None,
        None,
    ),
    "frame_with_missing_and_narrow_ints": (
        pd.DataFrame(
            {
                "s": ["x", None],
                "f": [1.0, float("nan")],
                "i8": np.array([1, 2], dtype=np.int8),
                "u32": np.array([1, 2], dtype=np.uint32),
                "f32": np.array([1, 2], dtype=np.float32),
                "b": [b"a", b"b"],
            }
        ),
        None,
        None,
    ),
    "params_only_with_output": (
        None,
        pd.DataFrame({"y": [0.1]}),
        {
            "temperature": 0.5,
            "max_tokens": 10,
            "do_sample": True,
            "prompt": "hello",
            "stop": ["a", "b"],
            "weights": [1, 2.5],
            "when": dt.datetime(2024, 1, 2, 3, 4, 5),
            "day": dt.date(2024, 1, 2),
            "days": [dt.date(2024, 1, 2)],
            "np_float": np.float32(0.25),
            "config": {"depth": 3, "name": "x"},
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_mlflow_both_ways(case: str) -> None:
    model_input, model_output, params = CASES[case]
    ours = infer_signature(model_input, model_output, params)
    theirs = mlflow_models.infer_signature(model_input, model_output, params)

    assert ours.to_dict() == theirs.to_dict()
    assert mlflow_models.ModelSignature.from_dict(ours.to_dict()) == theirs
    assert ModelSignature.from_dict(theirs.to_dict()) == ours
    assert ModelSignature.from_dict(ours.to_dict()).to_dict() == ours.to_dict()


def test_to_dict_is_the_mlmodel_signature_block() -> None:
    sig = infer_signature(_salary(), pd.Series([1.0, 2.0, 3.0], name="prediction"))
    assert sig.to_dict() == {
        "inputs": '[{"type": "long", "name": "experience", "required": true}, '
        '{"type": "long", "name": "age", "required": true}, '
        '{"type": "double", "name": "interview_score", "required": true}]',
        "outputs": '[{"type": "double", "name": "prediction", "required": true}]',
        "params": None,
    }
    tensor = infer_signature(np.zeros((5, 3), dtype=np.float32))
    assert json.loads(str(tensor.to_dict()["inputs"])) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}
    ]


def test_schema_accessors() -> None:
    inputs = infer_signature(_salary()).inputs
    assert inputs is not None
    assert inputs.input_names() == ["experience", "age", "interview_score"]
    assert [t.name for t in inputs.input_types()] == ["long", "long", "double"]
    assert inputs.has_input_names() and not inputs.is_tensor_spec()
    assert Schema.from_json(inputs.to_json()) == inputs
    assert inputs.to_dict() == json.loads(inputs.to_json())
    unnamed = Schema([ColSpec("string")])
    assert unnamed.input_names() == [0] and not unnamed.has_input_names()
    tensors = Schema([TensorSpec(np.dtype("float64"), (-1, 2), "x")])
    assert tensors.is_tensor_spec() and tensors.inputs[0].type == np.dtype("float64")
    assert tensors == Schema([TensorSpec("float64", [-1, 2], "x")])


def test_hand_built_signature_reads_in_mlflow() -> None:
    sig = ModelSignature(
        Schema([ColSpec("double", "x"), ColSpec("string", "tag", required=False)]),
        Schema([TensorSpec("float32", (-1,))]),
        ParamSchema([ParamSpec("k", "long", 3), ParamSpec("names", "string", ["a"], (-1,))]),
    )
    theirs = mlflow_models.ModelSignature.from_dict(sig.to_dict())
    assert theirs.to_dict() == sig.to_dict()


@pytest.mark.parametrize(
    ("model_input", "params", "message"),
    [
        (object(), None, "Cannot infer a schema from object"),
        ({1, 2}, None, "Cannot infer a schema from set"),
        ([1, "a"], None, "same type"),
        ({1: [1]}, None, "keys are not all strings"),
        (np.array(3.0), None, "out of bounds"),
        (None, {"p": None}, "'p'"),
        (None, {"p": [[1, 2]]}, "2D array"),
        (None, {"p": b"raw"}, "Binary type is not supported"),
    ],
)
def test_unsupported_inputs_raise_clearly(model_input: Any, params: Any, message: str) -> None:
    with pytest.raises(TrazaException, match=message):
        infer_signature(model_input, None, params)


def test_invalid_schemas_are_refused() -> None:
    with pytest.raises(TrazaException, match="empty inputs"):
        Schema([])
    with pytest.raises(TrazaException, match="named and unnamed"):
        Schema([ColSpec("long", "a"), ColSpec("long")])
    with pytest.raises(TrazaException, match="Unsupported type 'int'"):
        ColSpec("int")
    with pytest.raises(TrazaException, match="size information"):
        TensorSpec("<U5", (-1,))
    with pytest.raises(TrazaException, match="Duplicated parameters"):
        ParamSchema([ParamSpec("a", "long", 1), ParamSpec("a", "long", 2)])
    with pytest.raises(TrazaException, match="Can't convert"):
        ParamSpec("a", "long", "three")
    with pytest.raises(ValueError, match="At least one"):
        ModelSignature()
