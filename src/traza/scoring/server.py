"""Running the scoring server, and one-off predictions from a file: what the CLI calls."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import IO, Any

from traza.scoring.app import SETTINGS_VARIABLE, ScoringSettings, create_app


def resolve_model(model_uri: str) -> str:
    """A local folder holding the model (downloaded once, here, not by every worker)."""
    from traza.models.locate import local_model_dir

    return str(local_model_dir(model_uri))


def serve(settings: ScoringSettings, announce: Any = None) -> None:
    """Serve until interrupted: one process (the model loaded before the port opens), or
    ``settings.workers`` uvicorn worker processes that each load the model."""
    import uvicorn

    from traza.pyfunc import load_model

    settings = dataclasses.replace(settings, model_uri=resolve_model(settings.model_uri))
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    if settings.workers <= 1:
        app = create_app(load_model(settings.model_uri), settings)
        if announce:
            announce(settings)
        uvicorn.run(app, **common)
        return
    os.environ[SETTINGS_VARIABLE] = settings.to_json()
    if announce:
        announce(settings)
    uvicorn.run(
        "traza.scoring.app:app_from_environment",
        factory=True,
        workers=settings.workers,
        **common,
    )


def predict_file(
    model_uri: str,
    input_path: str | None,
    output_path: str | None,
    content_type: str = "json",
    stdin: IO[str] | None = None,
    stdout: IO[bytes] | None = None,
) -> None:
    """Score ``input_path`` (or stdin) and write ``{"predictions": ...}`` to ``output_path``
    (or stdout): the scoring server's parsing and output, without a server."""
    from traza.exceptions import invalid
    from traza.pyfunc import load_model
    from traza.scoring.inputs import parse_csv, parse_json
    from traza.scoring.outputs import predictions_json

    if content_type not in ("json", "csv"):
        raise invalid(f"Unknown content type {content_type!r}: use 'json' or 'csv'.")
    model = load_model(model_uri)
    signature = model.metadata.signature
    schema = signature.inputs if signature is not None else None
    if input_path is None:
        text = (stdin or sys.stdin).read()
    else:
        path = Path(input_path)
        if not path.exists() or path.is_dir():
            raise invalid(f"No input file at {input_path}.")
        text = path.read_text(encoding="utf-8")
    if content_type == "csv":
        data, params = parse_csv(text, schema), None
    else:
        parsed = parse_json(text, schema)
        data, params = parsed.data, parsed.params
    body = predictions_json(model.predict(data, params=params))
    if output_path is None:
        out = stdout or sys.stdout.buffer
        out.write(body)
        out.flush()
    else:
        Path(output_path).write_bytes(body)
