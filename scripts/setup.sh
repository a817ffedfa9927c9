#!/usr/bin/env bash
# Create .venv and install vidasm with its test tools. Idempotent: re-running only fixes what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.vidasm-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
# FFmpeg: a system ffmpeg is preferred when present; otherwise the binary shipped in imageio-ffmpeg.
.venv/bin/vidasm doctor
