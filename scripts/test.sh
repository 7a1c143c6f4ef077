#!/usr/bin/env bash
# Set up (scripts/setup.sh), then lint and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check gainnet_rl tests scripts
.venv/bin/ruff format --check gainnet_rl tests scripts
.venv/bin/python -m pytest -n 2 --durations=15 "$@"
