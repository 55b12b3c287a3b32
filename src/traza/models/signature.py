"""Model signatures: the ``signature:`` block of an MLmodel file, as MLflow writes and reads it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from traza.models.params import ParamSchema, ParamSpec
from traza.models.schema import (
    AnyType,
    Array,
    ColSpec,
    DataType,
    Map,
    Object,
    Property,
    Schema,
    TensorSpec,
)

__all__ = [
    "AnyType",
    "Array",
    "ColSpec",
    "DataType",
    "Map",
    "ModelSignature",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
    "infer_signature",
]


class ModelSignature:
    """What a model accepts and returns: input and output :class:`Schema`, and the inference
    parameters it takes (:class:`ParamSchema`). At least one of the three is given."""

    def __init__(
        self,
        inputs: Schema | None = None,
        outputs: Schema | None = None,
        params: ParamSchema | None = None,
    ) -> None:
        for label, value in (("inputs", inputs), ("outputs", outputs)):
            if value is not None and not isinstance(value, Schema):
                raise TypeError(f"{label} must be None or a Schema, got '{type(value).__name__}'")
        if params is not None and not isinstance(params, ParamSchema):
            raise TypeError(f"params must be None or a ParamSchema, got '{type(params).__name__}'")
        if inputs is None and outputs is None and params is None:
            raise ValueError("At least one of inputs, outputs or params must be provided")
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def to_dict(self) -> dict[str, str | None]:
        """The MLmodel ``signature:`` mapping: each part a compact JSON string, or None."""
        return {
            "inputs": self.inputs.to_json() if self.inputs else None,
            "outputs": self.outputs.to_json() if self.outputs else None,
            "params": self.params.to_json() if self.params else None,
        }

    @classmethod
    def from_dict(cls, signature_dict: dict[str, Any]) -> ModelSignature:
        """Read the mapping :meth:`to_dict` (or MLflow) wrote; missing or empty parts are None."""
        inputs = signature_dict.get("inputs")
        outputs = signature_dict.get("outputs")
        params = signature_dict.get("params")
        return cls(
            Schema.from_json(inputs) if inputs else None,
            Schema.from_json(outputs) if outputs else None,
            ParamSchema.from_json(params) if params else None,
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ModelSignature)
            and self.inputs == other.inputs
            and self.outputs == other.outputs
            and self.params == other.params
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"inputs: \n  {self.inputs!r}\noutputs: \n  {self.outputs!r}\n"
            f"params: \n  {self.params!r}\n"
        )


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: dict[str, Any] | None = None
) -> ModelSignature:
    """Infer a signature from example input, the model's output for it, and inference params.

    Inputs and outputs may be pandas DataFrames or Series, numpy arrays (a tensor whose first
    dimension is variable, ``-1``), dicts of name → numpy array, scalars, lists of scalars, dicts
    of str → scalar/list/dict, or lists of such dicts; types follow MLflow's inference exactly.
    Unlike MLflow, which logs a warning and falls back to an ``AnyType`` column, data that cannot
    be inferred raises :class:`~traza.exceptions.TrazaException` naming what is supported.
    """
    from traza.models._infer import infer_param_schema, infer_schema

    return ModelSignature(
        infer_schema(model_input) if model_input is not None else None,
        infer_schema(model_output) if model_output is not None else None,
        infer_param_schema(params) if params else None,
    )


def signature_from_example(example: Any, predict: Callable[[Any], Any]) -> ModelSignature | None:
    """MLflow infers a missing signature from the input example and the model's output on it;
    when that fails the model still saves (the signature is a convenience), with a warning."""
    try:
        return infer_signature(example, predict(example))
    except Exception as e:
        logging.getLogger("traza.models").warning(
            "Could not infer the model signature from the input example: %s", e
        )
        return None
