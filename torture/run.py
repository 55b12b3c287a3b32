"""``python torture/run.py [--scale ci|full] [--only NAME ...]``: run the torture scenarios."""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts torture/ itself on the path; the package needs the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from torture.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
