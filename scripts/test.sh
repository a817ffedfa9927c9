#!/usr/bin/env bash
# Install if needed, lint, then the whole test suite (real FFmpeg, real Dagster instances, PostgreSQL).
#
# The suite runs with the bundled FFmpeg (imageio-ffmpeg's 9.0.2); then every media test whose result depends on
# FFmpeg's output (tests/unit and tests/integration) runs again with the system FFmpeg on PATH (Debian 12's 5.1 on
# this machine kind) when there is one (the tests about Dagster's own behaviour, marked "orchestration", and the
# end-to-end CLI, crash and hostile-input tests of tests/e2e run once). Under CI (CI set, as .ci/run
# does) a missing system FFmpeg is an error, never a silent skip. Two pytest workers (pytest-xdist, one test file
# each): most of a test's time is Dagster's Python, one core each. Extra pytest arguments go to both passes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/ffmpeg-builds.sh
# The end-to-end test needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth): start it if it is down.
if ! (echo > /dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== pass 1: bundled FFmpeg, every test"
VIDASM_TEST_FFMPEG=bundled .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile "$@"
if command -v ffmpeg >/dev/null 2>&1; then
  echo "== pass 2: system FFmpeg ($(command -v ffmpeg)), the media tests of tests/unit and tests/integration"
  VIDASM_TEST_FFMPEG=system .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile \
    -m "media and not orchestration" tests/unit tests/integration "$@"
elif [ -n "${CI:-}" ]; then
  echo "CI: no system ffmpeg on PATH for the second pass (.ci/run installs Debian's ffmpeg)" >&2
  exit 1
else
  echo "== pass 2 skipped: no ffmpeg on PATH (apt-get install ffmpeg to test with the distribution's build)"
fi
