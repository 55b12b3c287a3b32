"""The scoring server: a bare ASGI app serving one loaded model, MLflow's protocol.

Routes (all of MLflow's, plus ``/metrics``): ``GET /ping`` and ``GET /health`` (200 once the
model is loaded: it is loaded before the app exists), ``GET /version``, ``GET /metrics``
(Prometheus) and ``POST /invocations``. The app is plain ASGI rather than Starlette routing: five
fixed routes need no router, and each request then costs only its parsing, the model and the
JSON encoding.

Where a request is scored depends on its body size (:attr:`ScoringSettings.inline_limit`):
small ones inline on the event loop (no thread hop: for a 1-row request to a 200-tree forest
this served 1.9× the requests of the thread pool under 4 clients), larger ones in a thread pool,
where tree traversal and numpy release the GIL so concurrent requests use every core (1.6× the
inline throughput at 1,000 rows), ``/ping`` and ``/metrics`` keep answering meanwhile, and
``--timeout`` can answer 504.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from traza._version import __version__
from traza.exceptions import BAD_REQUEST, INTERNAL_ERROR, TrazaException
from traza.scoring.inputs import UnsupportedMediaType, parse_request
from traza.scoring.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from traza.scoring.metrics import Metrics
from traza.scoring.outputs import predictions_json

_log = logging.getLogger("traza.scoring")

#: The environment variable carrying :class:`ScoringSettings` to uvicorn worker processes.
SETTINGS_VARIABLE = "TRAZA_SCORING_SETTINGS"

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ScoringSettings:
    """How to serve: the model (a local folder once resolved), where, and how requests run."""

    model_uri: str
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    timeout: float = 60.0
    #: Bodies up to this many bytes are scored on the event loop, larger ones in a thread pool
    #: (0: always the pool; a negative value: always inline).
    inline_limit: int = 16384
    accelerate: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ScoringSettings:
        return cls(**json.loads(text))


@dataclass
class Outcome:
    """One answered ``/invocations`` request."""

    status: int
    content_type: bytes
    body: bytes
    rows: int = 0
    error_code: str | None = None


def _error(status: int, code: str, message: str) -> Outcome:
    body = orjson.dumps({"error_code": code, "message": message})
    return Outcome(status, _JSON, body, error_code=code)


class ScoringApp:
    """Serve ``model`` (a :class:`traza.pyfunc.PyFuncModel`)."""

    def __init__(self, model: Any, settings: ScoringSettings | None = None) -> None:
        self.model = model
        self.settings = settings or ScoringSettings(model_uri="")
        signature = model.metadata.signature
        self.schema = signature.inputs if signature is not None else None
        extras = getattr(model.metadata, "extras", {})
        self._hinted = bool(extras.get("is_signature_from_type_hint"))
        self.metrics = Metrics()
        self._inline_limit = self.settings.inline_limit
        self._executor: ThreadPoolExecutor | None = None
        if self._inline_limit >= 0:
            self._executor = ThreadPoolExecutor(thread_name_prefix="traza-predict")
        self._get_routes: dict[str, Callable[[], tuple[int, bytes, bytes]]] = {
            "/ping": self._ping,
            "/health": self._ping,
            "/version": self._version,
            "/metrics": self._metrics,
        }

    # -- plain GET routes ------------------------------------------------------------------------
    def _ping(self) -> tuple[int, bytes, bytes]:
        return (200 if self.model is not None else 404), _JSON, b"\n"

    def _version(self) -> tuple[int, bytes, bytes]:
        return 200, _JSON, __version__.encode()

    def _metrics(self) -> tuple[int, bytes, bytes]:
        return 200, METRICS_CONTENT_TYPE.encode(), self.metrics.exposition().encode()

    # -- scoring ---------------------------------------------------------------------------------
    def invoke(self, body: bytes, content_type: str | None) -> Outcome:
        """Parse, predict, encode: the whole of one ``/invocations`` request, errors answered."""
        try:
            parsed = parse_request(body, content_type, self.schema, self._hinted)
        except UnsupportedMediaType as e:
            return Outcome(415, _TEXT, str(e).encode(), error_code="UNSUPPORTED_MEDIA_TYPE")
        except TrazaException as e:
            return _error(e.get_http_status_code(), e.error_code, e.message)
        except Exception as e:  # a shape of input the parser did not foresee: still the input's
            _log.warning("Could not read a scoring request", exc_info=True)
            return _error(400, BAD_REQUEST, f"Could not read the request: {type(e).__name__}: {e}")
        try:
            raw = self.model.predict(parsed.data, params=parsed.params)
        except TrazaException as e:
            return _error(e.get_http_status_code(), e.error_code, e.message)
        except Exception as e:
            _log.warning("The model failed on a scoring request", exc_info=True)
            return _error(
                400,
                BAD_REQUEST,
                "Encountered an unexpected error while evaluating the model. Verify that the "
                "serialized input Dataframe is compatible with the model for inference. "
                f"Error: {type(e).__name__}: {e}",
            )
        try:
            return Outcome(200, _JSON, predictions_json(raw), rows=parsed.rows)
        except Exception as e:
            _log.error("Could not encode predictions", exc_info=True)
            return _error(
                500,
                INTERNAL_ERROR,
                f"The model's predictions ({type(raw).__name__}) could not be written as JSON: {e}",
            )

    async def _invocations(self, scope: Scope, receive: Receive) -> Outcome:
        body = await _read_body(receive)
        content_type = _header(scope, b"content-type")
        if self._executor is None or len(body) <= self._inline_limit:
            return self.invoke(body, content_type)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self.invoke, body, content_type)
        try:
            return await asyncio.wait_for(future, timeout=self.settings.timeout)
        except asyncio.TimeoutError:
            return Outcome(
                504, _JSON, b"Request processing time exceeded limit", error_code="TIMEOUT"
            )

    # -- ASGI ------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/invocations":
            if method != "POST":
                await _respond(send, 405, _JSON, b'{"detail":"Method Not Allowed"}')
                self.metrics.request(path, 405)
                return
            start = time.perf_counter()
            outcome = await self._invocations(scope, receive)
            await _respond(send, outcome.status, outcome.content_type, outcome.body)
            self.metrics.invocation(
                time.perf_counter() - start, outcome.status, outcome.rows, outcome.error_code
            )
            return
        route = self._get_routes.get(path)
        if route is None:
            status, content_type, body = 404, _JSON, b'{"detail":"Not Found"}'
        elif method not in ("GET", "HEAD"):
            status, content_type, body = 405, _JSON, b'{"detail":"Method Not Allowed"}'
        else:
            status, content_type, body = route()
        await _respond(send, status, content_type, b"" if method == "HEAD" else body)
        self.metrics.request(path if route is not None else "other", status)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._executor is not None:
                    self._executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _respond(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(model: Any, settings: ScoringSettings | None = None) -> ScoringApp:
    """The scoring app for an already loaded model (with the forest fast path when it applies
    and ``settings.accelerate``: see :mod:`traza.scoring.fastpath`)."""
    if settings is None or settings.accelerate:
        from traza.scoring.fastpath import accelerate

        model = accelerate(model)
    return ScoringApp(model, settings)


def load_app(settings: ScoringSettings) -> ScoringApp:
    """Load ``settings.model_uri`` and build its app."""
    from traza.pyfunc import load_model

    return create_app(load_model(settings.model_uri), settings)


def app_from_environment() -> ScoringApp:
    """The uvicorn factory for worker processes: settings come from :data:`SETTINGS_VARIABLE`."""
    text = os.environ.get(SETTINGS_VARIABLE)
    if not text:
        raise RuntimeError(
            f"{SETTINGS_VARIABLE} is not set: start the server with traza models serve."
        )
    return load_app(ScoringSettings.from_json(text))
