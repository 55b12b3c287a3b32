"""A taken port said in a sentence before the server announces itself (uvicorn would print
"serving at ..." first and then a bare ``[Errno 98] Address already in use``)."""

from __future__ import annotations

import errno
import socket

import click


def check_port_free(host: str, port: int) -> None:
    """Raise a :class:`click.ClickException` saying how to choose another port when ``port``
    on ``host`` cannot be bound (bound as uvicorn binds it: the address family by the host's
    form, ``SO_REUSEADDR`` set)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except socket.gaierror as e:  # a host name that does not resolve
            raise click.ClickException(f"Cannot listen on {host!r}: {e.strerror}.") from None
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"Port {port} on {host} is already in use (another server, or an earlier "
                    f"`traza ui`, is listening there). Stop it, or choose another port with "
                    f"--port {port + 1 if port < 65535 else 5001}."
                ) from None
            if e.errno == errno.EACCES:
                raise click.ClickException(
                    f"Not allowed to listen on port {port} of {host} (ports below 1024 need "
                    "root). Choose another with --port 5000."
                ) from None
            raise click.ClickException(f"Cannot listen on {host}:{port}: {e.strerror}.") from None
