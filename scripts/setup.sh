#!/usr/bin/env bash
# Create .venv and install rl_battery with the one pin set (constraints.txt).
# torch==2.13.0 goes first: pip then takes the CPU wheel instead of downloading CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"
.venv/bin/python -m pip check
