"""Parsers and error classification against captured FFmpeg output (tests/data: FFmpeg 9 and Debian's 5.1)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from vidasm_assets.media.errors import (
    Blame,
    CodecNotFoundError,
    FFmpegBuildError,
    FFmpegError,
    FFmpegOutOfMemoryError,
    InvalidMediaError,
    MediaNotFoundError,
    MediaPermissionError,
    OutputWriteError,
    VidasmError,
    classify_failure,
    classify_ffmpeg_failure,
)
from vidasm_assets.media.parsers import (
    ProgressSteps,
    parse_ebur128_summary,
    parse_loudness_measurement,
    parse_loudnorm_result,
    parse_progress,
    progress_seconds,
)
from vidasm_assets.media.runner import failure_error

DATA = Path(__file__).parent.parent / "data"


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_loudnorm_first_pass() -> None:
    m = parse_loudness_measurement(read("loudnorm_pass1.txt"))
    assert (m.input_i, m.input_lra, m.input_thresh) == (-29.65, 0.0, -39.65)
    assert m.input_tp < -20


def test_loudnorm_second_pass_reports_mode() -> None:
    r = parse_loudnorm_result(read("loudnorm_pass2.txt"))
    assert r.output_i == -16.0
    assert r.normalization_type == "linear"


def test_loudnorm_missing_json() -> None:
    with pytest.raises(ValueError, match="no loudnorm JSON"):
        parse_loudness_measurement("size=N/A time=00:00:02.00\n")


def test_ebur128_summary() -> None:
    s = parse_ebur128_summary(read("ebur128.txt"))
    assert s.integrated == -16.1
    assert s.lra == 4.8
    assert s.true_peak == -14.4


def test_ebur128_silence_is_minus_inf() -> None:
    s = parse_ebur128_summary(read("ebur128_silence.txt"))
    assert s.integrated == -70.0 or math.isinf(s.integrated)
    assert s.true_peak is not None and math.isinf(s.true_peak)


def test_progress_block() -> None:
    lines = read("progress.txt").splitlines()
    block = parse_progress(lines)
    assert block["progress"] == "end"
    assert block["frame"] == "288"
    assert progress_seconds(block) == 12.0
    assert progress_seconds({"out_time_us": "N/A"}) is None


def test_progress_steps_emit_each_milestone_once() -> None:
    steps = ProgressSteps(10.0)
    got = [steps.update(t) for t in (0.0, 0.5, 1.2, 1.9, 5.5, 5.6)]
    assert got == [0, None, 10, None, 50, None]
    assert steps.update(9.99, done=True) == 100
    assert ProgressSteps(None).update(3.0) is None


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("err_missing.txt", MediaNotFoundError),
        ("err_truncated.txt", InvalidMediaError),
        ("err_encoder.txt", CodecNotFoundError),
    ],
)
def test_classify_captured_failures(name: str, cls: type) -> None:
    assert issubclass(classify_ffmpeg_failure(read(name)), cls)


@pytest.mark.parametrize(
    ("name", "returncode", "cls", "blame", "line"),
    [
        # Debian 12's FFmpeg 5.1 and an option only newer builds have: the build is at fault, not the render
        ("err_option_not_found.txt", 1, FFmpegBuildError, Blame.FFMPEG_BUILD, "Option 'reset_sar' not found"),
        ("err_encoder.txt", 1, FFmpegBuildError, Blame.FFMPEG_BUILD, "Unknown encoder 'nosuchcodec'"),
        # a full disk (a 200 KB tmpfs): the output is at fault
        ("err_disk_full.txt", 228, OutputWriteError, Blame.OUTPUT, "No space left on device"),
        ("err_missing.txt", 254, MediaNotFoundError, Blame.INPUT, "No such file or directory"),
        ("err_truncated.txt", 1, InvalidMediaError, Blame.INPUT, "moov atom not found"),
    ],
)
def test_a_failure_names_its_cause_and_who_is_at_fault(
    name: str, returncode: int, cls: type, blame: Blame, line: str
) -> None:
    cause = classify_failure(read(name), returncode)
    assert cause.cls is cls and cause.blame is blame
    assert line in cause.lines[0] and not cause.lines[0].startswith("frame=")
    assert cause.summary().startswith(f"{blame.value} is at fault: ")


def test_exit_status_alone_names_a_full_disk() -> None:
    cause = classify_failure("Conversion failed!\n", 228)
    assert cause.cls is OutputWriteError and cause.blame is Blame.OUTPUT and "full" in cause.reason


def test_a_failure_message_puts_the_cause_on_its_first_line() -> None:
    err = failure_error(["/usr/bin/ffmpeg", "-i", "x"], 1, read("err_option_not_found.txt"), "/w/sh010_v001.mp4")
    first = str(err).splitlines()[0]
    assert isinstance(err, FFmpegBuildError)
    assert "the FFmpeg build is at fault" in first and "Option 'reset_sar' not found" in first
    assert "/usr/bin/ffmpeg" in first and "FFMPEG_PATH" in first


def test_classify_other_failures() -> None:
    assert classify_ffmpeg_failure("out.mov: Permission denied") is MediaPermissionError
    assert classify_ffmpeg_failure("Cannot allocate memory") is FFmpegOutOfMemoryError
    assert classify_ffmpeg_failure("something odd happened") is FFmpegError


def test_errors_are_also_builtins_and_carry_path_and_stderr() -> None:
    err = MediaNotFoundError("shot sh010: no render", path="/w/p/03_Renders/sh010", stderr=read("err_missing.txt"))
    assert isinstance(err, FileNotFoundError) and isinstance(err, VidasmError)
    assert err.path == "/w/p/03_Renders/sh010"
    assert "No such file or directory" in str(err)
    assert "/w/p/03_Renders/sh010" in str(err)
    assert isinstance(InvalidMediaError("x"), ValueError)
