#!/usr/bin/env bash
# Create .venv (if missing) and install the project into it, torch first.
# torch==2.13.0 is installed before anything that depends on torch, so pip
# takes the CPU wheel instead of downloading a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[train,plots,cluster,clients,dev]"
