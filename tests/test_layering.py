"""Layering: stores know nothing of the server, and the project runner reaches the store only
through the client. Read from the sources' imports (every ``import``, top level or inside a
function), so a lazy import that breaks the rule is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import traza

PACKAGE = Path(traza.__file__).parent


def _imported_modules(source: str, package: str) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports, relative imports absolute."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _package_of(path: Path) -> str:
    return ".".join(("traza", *path.parent.relative_to(PACKAGE).parts))


def _offenders(layer: str, forbidden: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in sorted(_imported_modules(path.read_text(encoding="utf-8"), _package_of(path))):
            if name == forbidden or name.startswith(forbidden + "."):
                found.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [("store", "traza.server"), ("projects", "traza.store")],
)
def test_layer_does_not_import(layer: str, forbidden: str) -> None:
    assert (PACKAGE / layer).is_dir()
    assert _offenders(layer, forbidden) == []


def test_the_check_sees_lazy_and_relative_imports() -> None:
    """The walker itself, on the two forms a breach could take."""
    source = (
        "def purge():\n"
        "    from traza.server.artifact_service import proxied_path\n"
        "from ...server import app\n"
        "from . import db\n"
    )
    names = _imported_modules(source, "traza.store.sql")
    assert "traza.server.artifact_service" in names
    assert "traza.server.app" in names
    assert "traza.store.sql.db" in names
