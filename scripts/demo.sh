#!/usr/bin/env bash
# Fresh machine to built demo: install, write the demo workspace, build every cut, EDL and web delivery.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VIDASM_WORKSPACE=${VIDASM_WORKSPACE:-$PWD/workspace}
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.dagster_home}
# A new workspace, or the demo's own (its marker): `vidasm demo` is idempotent, it finishes an interrupted demo.
# Any other workspace with projects is left alone.
if [ -e "$VIDASM_WORKSPACE/.vidasm-demo" ] || ! ls "$VIDASM_WORKSPACE"/*/project.json >/dev/null 2>&1; then
  .venv/bin/vidasm demo "$VIDASM_WORKSPACE"
fi
.venv/bin/vidasm build
.venv/bin/vidasm status
echo
echo "Deliveries:"; ls -1 "$VIDASM_WORKSPACE"/*/06_Exports/*
echo "EDLs:";       ls -1 "$VIDASM_WORKSPACE"/*/04_Project_Files/assemblies/*
echo
echo "Open the UI on the same instance:  .venv/bin/vidasm ui   (then http://127.0.0.1:3000)"
