#!/usr/bin/env bash
# Other FFmpeg builds for the portability tests, taken from older imageio-ffmpeg wheels on PyPI (the same
# static builds people get with an older pip install): 0.4.9 ships FFmpeg 4.2.2 (older than vidasm supports:
# it must be refused or passed over), 0.6.0 ships 7.0.2. Extracted into .venv/ffmpeg-builds/<version>/ffmpeg.
# Idempotent; Linux x86_64 only (elsewhere the tests that need them say so and are skipped outside CI).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.venv/ffmpeg-builds
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "ffmpeg-builds: only for Linux x86_64"; exit 0; }
for pair in "0.4.9=4.2.2" "0.6.0=7.0.2"; do
  wheel=${pair%%=*}; version=${pair##*=}
  [ -x "$dest/$version/ffmpeg" ] && continue
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download --quiet --no-deps --only-binary :all: --python-version 3.11 \
    --platform manylinux2010_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    "imageio-ffmpeg==$wheel" -d "$tmp" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python - "$tmp" "$dest/$version" <<'EOF'
import pathlib, stat, sys, zipfile
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(src.glob("*.whl"))
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if "/binaries/ffmpeg-" in n)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".ffmpeg.partial"
    tmp.write_bytes(z.read(name))
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    tmp.rename(out / "ffmpeg")
print(f"ffmpeg-builds: {out / 'ffmpeg'} from {wheel.name}")
EOF
  rm -rf "$tmp"
done
