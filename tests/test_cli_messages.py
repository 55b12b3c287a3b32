"""What the ``traza`` command says when something is wrong or done: sentences a first-time user
can act on, as MLflow's CLI says them (issue 15, item 12)."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from traza.cli import main


def test_a_taken_port_is_said_before_serving(isolated) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["ui", "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"Port {port} on 127.0.0.1 is already in use" in result.output
    assert f"--port {port + 1}" in result.output
    # Nothing announced, no bare "[Errno 98]", and no store created for a server never started.
    assert "serving" not in result.output and "Errno" not in result.output
    assert not (isolated / "mlruns").exists()
