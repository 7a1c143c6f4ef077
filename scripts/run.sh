#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the main job: evaluate every baseline on
# the default scenario and print the table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/gainnet-baselines "$@"
