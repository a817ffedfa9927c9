#!/usr/bin/env bash
# Install if needed, lint, then run the whole test suite (real FFmpeg, real Dagster instances).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
