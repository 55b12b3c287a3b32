"""``python -m torture``: the same as ``python torture/run.py``."""

from torture.runner import main

raise SystemExit(main())
