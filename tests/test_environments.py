"""Project and model environments (``traza.environments``) with real uv builds from PyPI (small
pure-Python packages; uv's package cache is used), shared across the module through one cache
folder so the suite builds each environment once."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from traza.cli import main
from traza.environments import EnvironmentBuildError, EnvSpec, ensure_venv, prepare_environment
from traza.environments import cache as env_cache
from traza.environments.interpreters import Finder, find_python
from traza.environments.spec import requirement_name

RUNNING = ".".join(str(x) for x in sys.version_info[:3])
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
OTHER = sorted(
    (p.name for p in PYENV.glob("3.1[0-9].*") if p.name.count(".") == 2 and p.name != RUNNING
     and p.name.split(".")[:2] != RUNNING.split(".")[:2] and (p / "bin" / "python").exists()),
    key=lambda v: tuple(int(x) for x in v.split(".")),
)  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")


def _project(folder: Path, python: str, deps: list[str], reqs: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f'python: "{python}"', "dependencies:", *(f"  - {d}" for d in deps)]
    (folder / "python_env.yaml").write_text("\n".join(lines) + "\n")
    if reqs is not None:
        (folder / "requirements.txt").write_text(reqs)
    return folder / "python_env.yaml"


def _in_env(python: str, code: str) -> str:
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


# -- specs -----------------------------------------------------------------------------------------
def test_spec_reads_includes_recursively(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("tomli>=2  # toml\n-c pins.txt\n")
    (tmp_path / "sub" / "pins.txt").write_text("tomli==2.0.1\n")
    (tmp_path / "requirements.txt").write_text("# comment\nsix\n\n-r sub/more.txt\n./localpkg\n")
    env = _project(tmp_path, "3.10", ["-r requirements.txt", "traza[sklearn]"])
    spec = EnvSpec.from_python_env(env)
    assert spec.python == "3.10"
    assert spec.requirements == (
        "six", "tomli>=2", "--constraint tomli==2.0.1", str(tmp_path / "localpkg"),
        "traza[sklearn]",
    )  # fmt: skip
    assert spec.names() == {"six", "tomli", "traza"}
    assert requirement_name("Scikit_Learn==1.3") == "scikit-learn"
    before = spec.key_text()
    (tmp_path / "sub" / "pins.txt").write_text("tomli==2.0.2\n")  # an included file's contents
    assert EnvSpec.from_python_env(env).key_text() != before
    (tmp_path / "requirements.txt").write_text("-r missing.txt\n")
    with pytest.raises(EnvironmentBuildError, match=r"missing\.txt is missing"):
        EnvSpec.from_python_env(env)


def test_conda_yaml_as_python_env(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text(
        "name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.10.8\n  - pip=23.1\n"
        "  - numpy\n  - pip:\n    - six==1.16.0\n"
    )
    spec = EnvSpec.from_conda_yaml(conda)
    assert (spec.python, spec.build_dependencies, spec.requirements, spec.conda_only) == (
        "3.10.8", ("pip==23.1",), ("six==1.16.0",), ("numpy",),
    )  # fmt: skip
    conda.write_text("dependencies:\n  - python\n")
    with pytest.raises(EnvironmentBuildError, match="must be pinned"):
        EnvSpec.from_conda_yaml(conda)


# -- interpreters ----------------------------------------------------------------------------------
def test_version_resolution_with_real_interpreters() -> None:
    assert find_python(RUNNING).version == RUNNING
    assert find_python(None).path == sys.executable
    minor = ".".join(RUNNING.split(".")[:2])
    assert find_python(minor).version.startswith(minor + ".")  # X.Y: the newest X.Y, no warning
    near = Finder.from_environ(None).resolve(minor + ".999")
    assert near.interpreter.version.startswith(minor + ".")
    assert near.warning and f"Python {minor}.999 is not on this machine" in near.warning


def test_version_resolution_error_names_what_exists(tmp_path: Path) -> None:
    fake = tmp_path / "pyenv" / "versions" / "3.9.1" / "bin"
    fake.mkdir(parents=True)
    (fake / "python").write_text("#!/bin/sh\nexit 1\n")
    (fake / "python").chmod(0o755)
    finder = Finder(tmp_path / "pyenv", tmp_path / "uv-python", tmp_path / "probes.json")
    with pytest.raises(EnvironmentBuildError, match=r"Python 2\.5\.1.*no Python 2\.5") as err:
        finder.resolve("2.5.1")
    assert "3.9.1" in str(err.value) and RUNNING in str(err.value)
    assert finder.resolve("3.9.1").interpreter.path == str(fake / "python")  # exact, by name
    with pytest.raises(EnvironmentBuildError, match="not of the form"):
        finder.resolve("three")


# -- real builds -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, list[str]]:
    """A project asking for six and (through -r) tomli, with the running Python's version."""
    project = tmp_path_factory.mktemp("project")
    env_file = _project(project, RUNNING, ["six", "-r requirements.txt"], "tomli\n")
    lines: list[str] = []
    started = time.monotonic()
    prepared = prepare_environment(project, "uv", env_file, None, progress=lines.append,
                                   env_root=root)  # fmt: skip
    took = time.monotonic() - started
    assert prepared.path is not None
    return project, took, lines


def test_build_then_cache_hit(
    built: tuple[Path, float, list[str]], root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, took, lines = built
    assert lines[0].startswith("Creating environment ") and f"(Python {RUNNING})" in lines[0]
    assert "Installing 2 requirements ..." in lines
    assert lines[-1].endswith(" s") and "ready in" in lines[-1]
    env_file = project / "python_env.yaml"

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the warm path ran a subprocess: {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    again: list[str] = []
    started = time.perf_counter()
    prepared = prepare_environment(project, "virtualenv", env_file, None, progress=again.append,
                                   env_root=root)  # fmt: skip
    warm = time.perf_counter() - started
    monkeypatch.undo()
    assert again == [] and warm < 0.05, (warm, took)
    assert prepared.manager == "virtualenv" and prepared.python_version == RUNNING
    assert prepared.path is not None and prepared.path.parent == root
    assert prepared.python == str(prepared.path / "bin" / "python")
    assert prepared.env_vars["VIRTUAL_ENV"] == str(prepared.path)
    assert prepared.env_vars["PATH"].startswith(str(prepared.path / "bin") + os.pathsep)
    out = _in_env(prepared.python, "import six, tomli, sys; print(sys.prefix)")
    assert out == str(prepared.path)
    # What runs in the environment keeps its bytecode there, even with PYTHONDONTWRITEBYTECODE.
    child = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **prepared.env_vars}
    done = subprocess.run([prepared.python, "-c", "import six"], check=True, env=child)
    assert list((prepared.path / ".pycache").rglob("six*.pyc")) and done.returncode == 0


def test_included_file_change_builds_a_new_env(
    built: tuple[Path, float, list[str]], root: Path
) -> None:
    project, _, _ = built
    env_file = project / "python_env.yaml"
    first = prepare_environment(project, "uv", env_file, None, env_root=root)
    (project / "requirements.txt").write_text("tomli\niniconfig\n")
    try:
        second = prepare_environment(project, "uv", env_file, None, env_root=root)
        assert second.path != first.path
        _in_env(second.python, "import iniconfig, tomli, six")
    finally:
        (project / "requirements.txt").write_text("tomli\n")
    assert prepare_environment(project, "uv", env_file, None, env_root=root).path == first.path


@pytest.mark.skipif(not OTHER, reason="needs a pyenv Python of another minor version")
def test_other_python_and_near_version_warning(root: Path, tmp_path: Path) -> None:
    have = OTHER[0]
    major_minor = ".".join(have.split(".")[:2])
    wanted = f"{major_minor}.0" if have != f"{major_minor}.0" else f"{major_minor}.99"
    lines: list[str] = []
    env_file = _project(tmp_path, wanted, ["six"])
    prepared = prepare_environment(tmp_path, None, env_file, None, progress=lines.append,
                                   env_root=root)  # fmt: skip
    assert prepared.manager == "virtualenv"  # MLflow's default for a python_env project
    assert lines[0].startswith(f"Warning: Python {wanted} is not on this machine")
    assert prepared.python_version.startswith(major_minor + ".")
    out = _in_env(prepared.python, "import six, sys; print('%d.%d.%d' % sys.version_info[:3])")
    assert out == prepared.python_version


def test_killed_and_concurrent_builds(root: Path, tmp_path: Path) -> None:
    spec = EnvSpec(RUNNING, source="concurrency test")  # no packages: a quick build
    own = root / "own"
    own.mkdir()
    # A killed build: its temporary folder (the pid is gone) is ignored, then cleaned.
    dead = own / ".tmp-0123456789abcdef0123-999999999-dead"
    dead.mkdir()
    (dead / "half").write_text("x")
    results: list[Path | None] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_venv(spec, env_root=own).path))
        for _ in range(3)
    ]  # concurrent builders of the same environment: one wins the rename
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and results[0] is not None
    env = results[0]
    assert sorted(p.name for p in own.iterdir() if not p.name.startswith(".")) == [env.name]
    assert not dead.exists() and not list(own.glob(".tmp-*"))
    # An environment without its completion marker is never trusted: it is rebuilt.
    (env / env_cache.MARKER).unlink()
    (env / "junk").write_text("half-built")
    again = ensure_venv(spec, env_root=own)
    assert again.path == env and (env / env_cache.MARKER).exists()
    assert not (env / "junk").exists()
    _in_env(again.python, "import sys")


def test_traza_requirement_installs_running_traza(root: Path, tmp_path: Path) -> None:
    import traza

    env_file = _project(tmp_path, RUNNING, ["traza", "six"])
    lines: list[str] = []
    prepared = prepare_environment(tmp_path, "uv", env_file, None, progress=lines.append,
                                   env_root=root)  # fmt: skip
    code = "import traza, six; print(traza.__version__, traza.__file__)"
    version, location = _in_env(prepared.python, code).split()
    assert version == traza.__version__
    assert location.startswith(str(prepared.path))  # from the wheel, not this source tree
    meta = json.loads((Path(str(prepared.path)) / env_cache.MARKER).read_text())
    assert meta["traza_source"] and meta["manager"] == "uv"


# -- managers and errors ---------------------------------------------------------------------------
def test_local_and_manager_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = prepare_environment(tmp_path, "local", None, None)
    assert (local.python, local.python_version, local.path, local.env_vars) == (
        sys.executable, RUNNING, None, {},
    )  # fmt: skip
    env_file = _project(tmp_path, RUNNING, [])
    with pytest.raises(EnvironmentBuildError, match="cannot be run with --env-manager conda"):
        prepare_environment(tmp_path, "conda", env_file, None, env_root=tmp_path / "r")
    with pytest.raises(EnvironmentBuildError, match="Unknown environment manager 'pip'"):
        prepare_environment(tmp_path, "pip", None, None)
    conda = tmp_path / "conda.yaml"
    conda.write_text(f"dependencies:\n  - python={RUNNING}\n  - pip:\n    - six\n")
    with pytest.raises(EnvironmentBuildError, match="not both"):
        prepare_environment(tmp_path, None, env_file, conda)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.delenv("TRAZA_CONDA_EXE", raising=False)
    with pytest.raises(EnvironmentBuildError, match=r"none was found.*virtualenv or uv"):
        prepare_environment(tmp_path, "conda", None, conda, env_root=tmp_path / "r")


def test_conda_yaml_without_conda_falls_back_to_uv(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text(f"dependencies:\n  - python={RUNNING}\n  - libfoo\n  - pip:\n    - six\n")
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if not (Path(p) / "conda").exists()))  # fmt: skip
    monkeypatch.delenv("CONDA_EXE", raising=False)
    lines: list[str] = []
    prepared = prepare_environment(tmp_path, None, None, conda, progress=lines.append,
                                   env_root=root)  # fmt: skip
    assert prepared.manager == "virtualenv"
    assert any("No conda executable found" in x for x in lines)
    assert any("libfoo" in x for x in lines)
    _in_env(prepared.python, "import six")


def test_conda_manager_with_a_conda_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring around ``conda env create`` (a stand-in conda: none is installed here)."""
    fake = tmp_path / "bin" / "conda"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\nimport os, sys, pathlib\n"
        "prefix = pathlib.Path(sys.argv[sys.argv.index('--prefix') + 1])\n"
        "(prefix / 'bin').mkdir(parents=True)\n(prefix / 'conda-meta').mkdir()\n"
        f"(prefix / 'conda-meta' / 'python-{RUNNING}-h1_0.json').write_text('{{}}')\n"
        f"os.symlink({sys.executable!r}, prefix / 'bin' / 'python')\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("TRAZA_CONDA_EXE", str(fake))
    conda = tmp_path / "conda.yaml"
    conda.write_text(f"dependencies:\n  - python={RUNNING}\n")
    prepared = prepare_environment(tmp_path, None, None, conda, env_root=tmp_path / "r")
    assert prepared.manager == "conda" and prepared.python_version == RUNNING
    assert prepared.env_vars["CONDA_PREFIX"] == str(prepared.path)
    assert prepare_environment(tmp_path, "conda", None, conda, env_root=tmp_path / "r") == prepared


# -- traza envs ------------------------------------------------------------------------------------
def test_envs_list_and_prune(tmp_path: Path) -> None:
    own = tmp_path / "envs"
    ensure_venv(EnvSpec(RUNNING, source="listing test"), "uv", env_root=own)
    (own / "deadbeefdeadbeefdead").mkdir()  # incomplete: no marker
    runner = CliRunner()
    listed = runner.invoke(main, ["envs", "list", "--env-root", str(own)])
    assert listed.exit_code == 0, listed.output
    assert "uv" in listed.output and RUNNING in listed.output and "listing test" in listed.output
    assert "(incomplete)" in listed.output
    as_json = json.loads(runner.invoke(main, ["envs", "list", "--env-root", str(own),
                                              "--json"]).output)  # fmt: skip
    assert {e["complete"] for e in as_json} == {True, False}
    dry = runner.invoke(main, ["envs", "prune", "--env-root", str(own), "--all", "--dry-run"])
    assert "Would remove 2 item(s)" in dry.output and len(env_cache.list_envs(own)) == 2
    kept = runner.invoke(main, ["envs", "prune", "--env-root", str(own), "--older-than", "1"])
    assert "Removed 1 item(s)" in kept.output  # only the incomplete one
    assert [e.complete for e in env_cache.list_envs(own)] == [True]
    gone = runner.invoke(main, ["envs", "prune", "--env-root", str(own), "--older-than", "0"])
    assert "Removed 1 item(s)" in gone.output and env_cache.list_envs(own) == []
    empty = runner.invoke(main, ["envs", "list"], env={"TRAZA_ENV_ROOT": str(own)})
    assert "No environments" in empty.output
