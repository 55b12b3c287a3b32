#!/usr/bin/env bash
# The main job: set up Traza, log a few runs into ./mlruns, and show them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/quickstart.py
