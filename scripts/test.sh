#!/usr/bin/env bash
# Set up Traza with its test dependencies (including mlflow==3.17.2 as a peer) and run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/python -m pytest "$@"
