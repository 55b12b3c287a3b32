"""The packages a Python model needs, found without loading it in a subprocess.

MLflow infers requirements by loading the saved model in a new interpreter and listing what it
imported (seconds per model). Traza lists the modules the pickle refers to (recorded while
pickling) or the model's code file imports, keeps those installed as distributions (not the
standard library, not code shipped with the model), and pins them to the installed versions.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

#: Never listed: the loader itself (whichever of the two serves the model installs itself).
_SKIP = {"traza", "mlflow", "cloudpickle", "__main__", "builtins", "copyreg", "_codecs"}
#: Import names whose distribution is named otherwise, for the common ones (no metadata scan).
_KNOWN = {"sklearn": "scikit-learn", "yaml": "PyYAML", "PIL": "Pillow", "cv2": "opencv-python"}


def imports_of(code_file: Path) -> set[str]:
    """Top-level modules a code file imports (``import x.y`` and ``from x import y``)."""
    tree = ast.parse(code_file.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


@functools.cache
def _all_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _installed(top: str) -> bool:
    """``top`` is importable from an installed distribution (site-packages), not local code."""
    module = sys.modules.get(top)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return False
        origin = spec.origin if spec is not None else None
    return origin is not None and ("site-packages" in origin or "dist-packages" in origin)


def _distribution(top: str) -> str | None:
    from traza.models.environment import is_installed

    for name in (_KNOWN.get(top), top):
        if name and is_installed(name):
            return name
    found = _all_distributions().get(top)
    return found[0] if found else None


def distributions(modules: Iterable[str]) -> list[str]:
    """The distributions providing ``modules`` (dotted names), sorted, without duplicates."""
    tops = {m.split(".", 1)[0] for m in modules if m}
    out = set()
    for top in tops - _SKIP:
        if top in sys.stdlib_module_names or top.startswith("_") or not _installed(top):
            continue
        if (dist := _distribution(top)) is not None and dist.lower() not in _SKIP:
            out.add(dist)
    return sorted(out, key=str.lower)
