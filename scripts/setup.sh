#!/usr/bin/env bash
# Create .venv (if missing) and install Traza with the given extras into it.
# Usage: scripts/setup.sh [extras]   e.g. scripts/setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "Traza needs Python >= 3.10 (found $("$python" --version 2>&1))." >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
spec="."
[ -n "${1:-}" ] && spec=".[$1]"
.venv/bin/python -m pip install --quiet -e "$spec" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import traza' || { echo "Installing Traza failed." >&2; exit 1; }
