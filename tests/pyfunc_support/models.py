"""Custom Python models as users write them: one class per feature under test."""

from __future__ import annotations

from typing import Any

import pandas as pd

import traza.pyfunc


class Scaler(traza.pyfunc.PythonModel):
    """Reads a factor from an artifact and an offset from model_config."""

    def load_context(self, context: traza.pyfunc.PythonModelContext) -> None:
        with open(context.artifacts["factor"]) as f:
            self.factor = float(f.read())
        self.offset = (context.model_config or {}).get("offset", 0.0)
        self.artifact_names = sorted(context.artifacts)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        scale = (params or {}).get("scale", 1.0)
        return pd.DataFrame(model_input) * self.factor * scale + self.offset


class Shout(traza.pyfunc.PythonModel):
    """No context argument, list[str] hints: a signature inferred from them."""

    def predict(self, model_input: list[str], params: dict[str, Any] | None = None) -> list[str]:
        return [s.upper() + "!" for s in model_input]


class Totals(traza.pyfunc.PythonModel):
    """list[dict[str, float]] in, list[float] out."""

    def predict(self, context: Any, model_input: list[dict[str, float]]) -> list[float]:
        return [sum(row.values()) for row in model_input]


class UsesCode(traza.pyfunc.PythonModel):
    """Calls a helper module shipped with the model through code_paths."""

    def predict(self, context: Any, model_input: list[float]) -> list[float]:
        import pyfunc_helper  # found on sys.path only through the model's code/ folder

        return [pyfunc_helper.triple(v) for v in model_input]


def halve(model_input: list[float]) -> list[float]:
    """A plain function as the model."""
    return [v / 2 for v in model_input]


class Streamer(traza.pyfunc.PythonModel):
    """Streams one chunk per word (no hints on the input: no signature, no warning)."""

    def predict(self, context, model_input):  # type: ignore[no-untyped-def]
        return model_input

    def predict_stream(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        yield from model_input.split()
