"""The FFmpeg runner and resource against the real binary: timeouts, cancellation, typed errors."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from vidasm_assets.media.errors import (
    FFmpegTimeoutError,
    InvalidMediaError,
    MediaNotFoundError,
    ToolNotFoundError,
)
from vidasm_assets.media.runner import find_ffmpeg, run_ffmpeg
from vidasm_assets.resources import FFmpegResource, StepMeter

pytestmark = pytest.mark.media

SLOW = [
    "-f",
    "lavfi",
    "-i",
    "testsrc2=s=1280x720:r=30:d=600",
    "-c:v",
    "libx264",
    "-preset",
    "veryslow",
    "-f",
    "null",
    "-",
]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _ffmpeg_children(marker: str) -> set[int]:
    """Live processes whose command line carries this test's unique marker."""
    pids = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker.encode() in (p / "cmdline").read_bytes() and _alive(int(p.name)):
                    pids.add(int(p.name))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass
    return pids


def _slow(marker: str) -> list[str]:
    return [*SLOW[:-3], "-metadata", f"comment={marker}", *SLOW[-3:]]


def test_timeout_kills_the_child(ffmpeg: str) -> None:
    marker = f"vidasm-test-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    with pytest.raises(FFmpegTimeoutError, match="timed out after 1 s") as info:
        run_ffmpeg([ffmpeg, "-hide_banner", "-nostdin", "-progress", "pipe:1", *_slow(marker)], path="slow", timeout=1)
    assert time.monotonic() - t0 < 15
    assert isinstance(info.value, TimeoutError)
    assert _ffmpeg_children(marker) == set()


def test_cancellation_kills_the_child(ffmpeg: str) -> None:
    """A run cancelled in Dagster raises inside our progress loop; the child must die with it."""
    marker = f"vidasm-test-{uuid.uuid4().hex}"
    seen: list[set[int]] = []

    def cancel(_done: float, _total: float | None) -> None:
        seen.append(_ffmpeg_children(marker))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ffmpeg(
            [ffmpeg, "-hide_banner", "-nostdin", "-progress", "pipe:1", "-stats_period", "0.2", *_slow(marker)],
            total_seconds=600,
            on_progress=cancel,
        )
    assert seen and seen[0], "the child was running when the run was cancelled"
    assert _ffmpeg_children(marker) == set()


def test_missing_input_is_typed_and_names_file(ffmpeg: str, tmp_path: Path) -> None:
    src = tmp_path / "nope.mp4"
    with pytest.raises(MediaNotFoundError) as info:
        run_ffmpeg([ffmpeg, "-hide_banner", "-nostdin", "-i", str(src), "-f", "null", "-"], path=src)
    assert str(src) in str(info.value) and "No such file or directory" in info.value.stderr_tail


def test_garbage_input_is_invalid_media(ffmpeg: str, tmp_path: Path) -> None:
    src = tmp_path / "notes.mp4"
    src.write_text("this is not a video\n" * 50)
    with pytest.raises(InvalidMediaError) as info:
        run_ffmpeg([ffmpeg, "-hide_banner", "-nostdin", "-i", str(src), "-f", "null", "-"], path=src)
    assert info.value.path == str(src)


def test_find_ffmpeg_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ffmpeg: str) -> None:
    monkeypatch.setenv("FFMPEG_PATH", ffmpeg)
    assert find_ffmpeg() == ffmpeg
    assert find_ffmpeg(ffmpeg) == ffmpeg
    monkeypatch.setenv("FFMPEG_PATH", str(tmp_path / "missing-ffmpeg"))
    with pytest.raises(ToolNotFoundError, match="FFMPEG_PATH"):
        find_ffmpeg()
    monkeypatch.delenv("FFMPEG_PATH")
    monkeypatch.setenv("PATH", str(tmp_path))  # no system ffmpeg: the pip binary is used
    assert "imageio_ffmpeg" in find_ffmpeg()


def test_resource_runs_and_reports_progress(ffmpeg: str, tmp_path: Path) -> None:
    res = FFmpegResource(timeout_seconds=60)
    seen: list[str] = []

    class Log:
        def info(self, msg: str, *a: object) -> None:
            seen.append(msg % a if a else msg)

        debug = info

    class Ctx:
        log = Log()
        op_def = SimpleNamespace(pool=None)  # a step in no pool: no host slots

    out = tmp_path / "x.mov"
    run = res.runner(Ctx(), "clip")  # type: ignore[arg-type]
    run(["-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-f", "lavfi", "-i",
         "testsrc2=s=64x64:r=24:d=1", "-f", "mov", str(out)], path=out, total_seconds=1.0)  # fmt: skip
    assert out.stat().st_size > 0
    assert any(m.startswith(f"$ {res.exe} ") and "testsrc2" in m for m in seen)  # the bound FFmpeg, at debug
    assert "clip: 100% done" in seen


def test_resource_meter_adds_up_each_commands_wall_time(ffmpeg: str, tmp_path: Path) -> None:
    """A step's FFmpeg seconds: every command run through a runner bound to its meter, a failed one included."""
    meter = StepMeter()
    run = FFmpegResource(timeout_seconds=60).runner(None, "clip", meter)
    out, bad = tmp_path / "x.mov", tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    t0 = time.monotonic()
    run(["-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=24:d=1", "-f", "mov", str(out)])
    first = meter.ffmpeg_s
    with pytest.raises(InvalidMediaError):
        run(["-hide_banner", "-nostdin", "-i", str(bad), "-f", "null", "-"], path=bad)
    elapsed = time.monotonic() - t0
    assert meter.ffmpeg_commands == 2
    assert 0 < first < meter.ffmpeg_s <= elapsed <= meter.wall_s
    other = StepMeter()  # each step its own meter: a runner without one counts nowhere
    FFmpegResource().runner(None, "clip")(["-hide_banner", "-nostdin", "-f", "lavfi", "-i", "anullsrc=d=0.1",
                                          "-f", "null", "-"])  # fmt: skip
    assert (other.ffmpeg_s, other.ffmpeg_commands, meter.ffmpeg_commands) == (0.0, 0, 2)
