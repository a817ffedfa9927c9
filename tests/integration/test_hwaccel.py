"""Hardware encoders on the real FFmpeg: the fallback where the hardware is missing (the usual CI machine: FFmpeg
lists ``h264_nvenc`` but no driver is there), and the hardware encode's output contract where a trial succeeds.

The contract is the software one: timeline size and rate, 4:2:0, BT.709 tags, the exact frame count, keyframes
exactly every GOP, and segments that join by stream copy into exactly the sum of their frames.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import pytest

from vidasm_assets.media import hwaccel as hw
from vidasm_assets.media.commands import BASE, BT709_TAGS, Target, concat_list, picture_filter, timescale_args
from vidasm_assets.media.ffmpeg_tool import FFmpeg, select_ffmpeg
from vidasm_assets.media.presets import BUILTIN_PRESETS, VideoSpec, video_args
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.runner import bind

pytestmark = pytest.mark.media

R24 = Rate(24)
W, H = 320, 180
FRAMES = 30
WEB = BUILTIN_PRESETS["web"].spec.video
assert WEB is not None


@pytest.fixture(autouse=True)
def _fresh(fresh_hwaccel: None) -> None:
    """No VIDASM_HWACCEL from the environment, no trial or warning remembered from another test."""


@pytest.fixture
def tool(ffmpeg: str) -> FFmpeg:
    return select_ffmpeg()


def encode(tool: FFmpeg, choice: hw.Choice, dst: Path, frames: int = FRAMES) -> Path:
    """A conform-like segment: lavfi through the conform's chain (plus the encoder's extra filters) into MOV."""
    argv = [
        *BASE, *choice.global_args, "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=24:d=2",
        "-vf", choice.filter_chain(picture_filter(Target(W, H, R24, frames))), *choice.args, *BT709_TAGS,
        *timescale_args(R24), "-f", "mov", str(dst),
    ]  # fmt: skip
    bind(tool)(argv, path=dst)
    return dst


def join(tool: FFmpeg, parts: list[Path], dst: Path) -> Path:
    """The cut's join: the concat demuxer and a stream copy."""
    listing = dst.with_suffix(".txt")
    listing.write_text(concat_list(parts, dst.parent))
    bind(tool)([*BASE, "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", *timescale_args(R24),
                "-f", "mov", str(dst)])  # fmt: skip
    return dst


def keyframes(path: Path) -> tuple[int, list[int]]:
    """Frames (decoded) and the display-order indices of the keyframes (from the packets)."""
    with av.open(str(path)) as c:
        pts = sorted((p.pts, p.is_keyframe) for p in c.demux(video=0) if p.pts is not None)
    with av.open(str(path)) as c:
        decoded = sum(1 for _ in c.decode(video=0))
    return decoded, [i for i, (_, key) in enumerate(pts) if key]


def assert_contract(tool: FFmpeg, choice: hw.Choice, work: Path, pix_fmt: str = "yuv420p") -> None:
    a = encode(tool, choice, work / "a.mov")
    b = encode(tool, choice, work / "b.mov")
    with av.open(str(a)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        assert (cc.width, cc.height, s.average_rate, cc.pix_fmt) == (W, H, 24, pix_fmt)
        assert (int(cc.color_primaries), int(cc.color_trc), int(cc.colorspace), int(cc.color_range)) == (1, 1, 1, 1)
    frames, keys = keyframes(a)
    assert frames == FRAMES
    assert keys == list(range(0, FRAMES, choice.gop)), f"{choice.encoder}: keyframes at {keys}, GOP {choice.gop}"
    cut_frames, cut_keys = keyframes(join(tool, [a, b], work / "cut.mov"))
    assert cut_frames == 2 * FRAMES
    assert cut_keys == keys + [FRAMES + k for k in keys]


def _failing_accel(tool: FFmpeg, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """An accelerator this FFmpeg lists whose trial really fails here: NVENC or QSV without their driver, else VAAPI
    pointed at a file that is no render node."""
    for accel in ("nvenc", "qsv"):
        e = hw.hardware_args(accel, WEB, R24, W, H)
        if e.encoder in tool.capabilities.encoders and hw.trial_encode(tool, e, W, H):
            return accel
    not_a_device = tmp_path / "renderD999"
    not_a_device.write_bytes(b"")
    monkeypatch.setenv(hw.VAAPI_DEVICE_ENV, str(not_a_device))
    return "vaapi"


def test_asked_for_hardware_that_fails_its_trial_gives_software_and_one_warning(
    tool: FFmpeg, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    accel = _failing_accel(tool, monkeypatch, tmp_path)
    encoder = hw.hardware_encoder("libx264", accel)
    assert encoder in tool.capabilities.encoders, f"{tool.describe()} lists no {encoder}"
    hw.reset()
    monkeypatch.setenv(hw.ENV, accel)  # read at call time
    with caplog.at_level(logging.WARNING, logger="vidasm"):
        choices = [hw.choose_encoder(tool, WEB, rate=R24, width=W, height=H) for _ in range(3)]
    assert hw._trial.cache_info().misses == 1  # one real trial encode, then the cached verdict
    [record] = [r for r in caplog.records if r.name == "vidasm"]
    text = record.getMessage()
    assert f"VIDASM_HWACCEL={accel}" in text and f"{encoder}: a one-frame trial encode failed: " in text
    assert tool.version in text and text.endswith("encoding with libx264 (software)")
    reason = text.split("trial encode failed: ", 1)[1].split("; encoding with", 1)[0]
    assert reason.strip(), "the warning carries FFmpeg's own reason"
    choice = choices[-1]
    assert (choice.encoder, choice.hardware, choice.extra_filters, choice.global_args) == ("libx264", "none", (), ())
    assert choice.args == video_args(WEB, R24, W, H).args and reason in choice.note
    assert_contract(tool, choice, tmp_path)


def test_auto_takes_the_first_working_accelerator_or_says_why_none_works(
    tool: FFmpeg, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(hw.ENV, "auto")
    with caplog.at_level(logging.WARNING, logger="vidasm"):
        choice = hw.choose_encoder(tool, WEB, rate=R24, width=W, height=H)
        hw.choose_encoder(tool, WEB, rate=R24, width=W, height=H)
    warnings = [r.getMessage() for r in caplog.records if r.name == "vidasm"]
    if choice.hardware != "none":
        assert not warnings and hw.trial_encode(tool, hw.hardware_args(choice.hardware, WEB, R24, W, H), W, H) is None
        return
    [text] = warnings
    assert text.startswith("hardware encoding not used: VIDASM_HWACCEL=auto for libx264")
    for accel in hw.auto_order():
        assert f"{hw.hardware_encoder('libx264', accel)}" in text


def test_none_overrides_a_preset_asking_for_hardware(
    tool: FFmpeg, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spec = WEB.model_copy(update={"hardware": "auto"})
    monkeypatch.setenv(hw.ENV, "none")
    with caplog.at_level(logging.WARNING, logger="vidasm"):
        choice = hw.choose_encoder(tool, spec, rate=R24, width=W, height=H)
    assert choice.encoder == "libx264" and not caplog.records
    assert hw._trial.cache_info().misses == 0


HARDWARE_CASES = [(accel, preset) for preset in ("web", "hevc") for accel in hw.ACCELS]


@pytest.mark.parametrize(("accel", "preset"), HARDWARE_CASES, ids=[f"{a}-{p}" for a, p in HARDWARE_CASES])
def test_hardware_encode_keeps_the_output_contract(tool: FFmpeg, accel: str, preset: str, tmp_path: Path) -> None:
    spec = BUILTIN_PRESETS[preset].spec.video
    assert isinstance(spec, VideoSpec)
    e = hw.hardware_args(accel, spec, R24, W, H)
    if e.encoder not in tool.capabilities.encoders:
        pytest.skip(f"no {accel} hardware path to test: FFmpeg {tool.version} ({tool.exe}) has no {e.encoder}")
    failed = hw.trial_encode(tool, e, W, H)
    if failed:
        pytest.skip(f"no {accel} hardware on this machine: the one-frame trial encode of {e.encoder} failed: {failed}")
    choice = hw.choose_encoder(tool, spec, accel, rate=R24, width=W, height=H)
    assert (choice.encoder, choice.hardware) == (e.encoder, accel)
    assert_contract(tool, choice, tmp_path, pix_fmt="yuv420p10le" if spec.pix_fmt == "yuv420p10le" else "yuv420p")
