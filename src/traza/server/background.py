"""A server on a thread of this process, on a free loopback port: for tests, and for the project
runner's loopback server that lets child processes using ``mlflow`` log into a local store."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


class BackgroundServer:
    """Serve ``app`` on ``host`` (a free port) until :meth:`stop`; ``url`` says where."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self.url = f"http://{host}:{self._socket.getsockname()[1]}"
        # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 and rewrite
        # the client address; the app decides which proxies to trust (--trusted-proxies).
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", proxy_headers=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The background server at {self.url} did not start.")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
