"""What ``traza.models.evaluate`` returns: MLflow's ``EvaluationResult`` and its artifacts."""

from __future__ import annotations

from typing import Any


class EvaluationArtifact:
    """An artifact the evaluation logged: its ``uri`` and its ``content`` (decoded on demand
    from the bytes read at logging time, so it outlives the temporary file)."""

    def __init__(self, uri: str, local_path: str | None = None) -> None:
        self._uri = uri
        self._data: bytes | None = None
        if local_path is not None:
            with open(local_path, "rb") as f:
                self._data = f.read()
        self._content: Any = None

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def content(self) -> Any:
        if self._content is None and self._data is not None:
            self._content = self._decode(self._data)
        return self._content

    def _decode(self, data: bytes) -> Any:
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri='{self._uri}')"


class ImageEvaluationArtifact(EvaluationArtifact):
    def _decode(self, data: bytes) -> Any:
        import io

        from PIL import Image

        image = Image.open(io.BytesIO(data))
        image.load()
        return image


class JsonEvaluationArtifact(EvaluationArtifact):
    def _decode(self, data: bytes) -> Any:
        import json

        return json.loads(data)


class CsvEvaluationArtifact(EvaluationArtifact):
    def _decode(self, data: bytes) -> Any:
        import io

        import pandas as pd

        return pd.read_csv(io.BytesIO(data))


class EvaluationResult:
    """What ``evaluate`` returns: the logged ``metrics``, the ``artifacts`` and the ``run_id``."""

    def __init__(
        self,
        metrics: dict[str, Any],
        artifacts: dict[str, EvaluationArtifact],
        run_id: str | None = None,
    ) -> None:
        self._metrics, self._artifacts, self._run_id = metrics, artifacts, run_id

    @property
    def metrics(self) -> dict[str, Any]:
        return self._metrics

    @property
    def artifacts(self) -> dict[str, EvaluationArtifact]:
        return self._artifacts

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def __repr__(self) -> str:
        return f"EvaluationResult(run_id={self._run_id!r}, metrics={self._metrics!r})"
