"""Environments that need Traza itself, with Traza installed as users install it (issue 15,
item 8): from a wheel into a virtualenv (``pip install ./traza``, the team deployment), and as a
tool (``uv tool install``, ``pipx``). The environment's Traza is packed from the installed
distribution, so no source tree is needed. (The editable clone is
``test_environments.py::test_traza_requirement_installs_running_traza``.)

The wheel is built once per session with ``uv build`` (without the web UI: not needed here)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import uv

from traza.client import TrazaClient

REPO = Path(__file__).resolve().parents[1]
RUNNING = ".".join(str(v) for v in sys.version_info[:3])


def _uv(*args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        [uv.find_uv_bin(), *args], capture_output=True, text=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", **(env or {})},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _uv("build", "--quiet", "--wheel", "--out-dir", str(out), str(REPO),
        env={"TRAZA_SKIP_UI_BUILD": "1"})  # fmt: skip
    (wheel,) = out.glob("traza-*.whl")
    return wheel


@pytest.fixture(scope="session")
def wheel_venv(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m venv venv && venv/bin/pip install ./traza``: the ``traza`` of that venv."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    _uv("venv", "--quiet", "--python", sys.executable, str(venv))
    _uv("pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(built_wheel))
    return venv / "bin" / "traza"


@pytest.fixture(scope="session")
def tool_install(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``uv tool install ./traza``: the ``traza`` on the tool's bin folder."""
    root = tmp_path_factory.mktemp("tool")
    _uv("tool", "install", "--quiet", "--python", sys.executable, str(built_wheel),
        env={"UV_TOOL_DIR": str(root / "tools"), "UV_TOOL_BIN_DIR": str(root / "bin")})  # fmt: skip
    return root / "bin" / "traza"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "MLproject").write_text(textwrap.dedent("""\
        name: needs-traza
        python_env: python_env.yaml
        entry_points:
          main:
            command: "python main.py"
        """))  # fmt: skip
    (folder / "python_env.yaml").write_text(f'python: "{RUNNING}"\ndependencies:\n  - traza\n')
    (folder / "main.py").write_text(
        "import traza\nwith open('where.txt', 'w') as f:\n    f.write(traza.__file__)\n"
    )
    yield folder


def _run_with(traza: Path, project: Path, tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    done = subprocess.run(
        [str(traza), "run", str(project), "--env-manager", "virtualenv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TRAZA_ENV_ROOT": str(envs)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "not running from its source tree" not in done.stderr
    assert "Packing the running Traza" in done.stderr  # from the installed files
    # The command imported the Traza installed into the environment, from that wheel.
    assert (project / "where.txt").read_text().startswith(str(envs))
    (run,) = TrazaClient(str(tmp_path / "mlruns")).search_runs(["0"])
    assert run.info.status == "FINISHED"


def test_an_environment_from_a_wheel_install(
    wheel_venv: Path, project: Path, tmp_path: Path
) -> None:
    _run_with(wheel_venv, project, tmp_path)


def test_an_environment_from_a_tool_install(
    tool_install: Path, project: Path, tmp_path: Path
) -> None:
    _run_with(tool_install, project, tmp_path)
