"""Hardware encoders: the mapping, each encoder's arguments and the choice, pure (the trial encode is stubbed)."""

from __future__ import annotations

import logging

import pytest

from vidasm_assets.media import hwaccel as hw
from vidasm_assets.media.ffmpeg_tool import Capabilities, FFmpeg, Origin
from vidasm_assets.media.presets import BUILTIN_PRESETS, VideoSpec, video_args
from vidasm_assets.media.rates import Rate

R24 = Rate(24)
WEB = BUILTIN_PRESETS["web"].spec.video
HEVC = BUILTIN_PRESETS["hevc"].spec.video
REVIEW = BUILTIN_PRESETS["review"].spec.video
assert WEB is not None and HEVC is not None and REVIEW is not None


@pytest.fixture(autouse=True)
def _fresh(fresh_hwaccel: None) -> None:
    """No VIDASM_HWACCEL from the environment, no trial or warning remembered from another test."""


def _after(args: tuple[str, ...], option: str) -> str:
    return args[args.index(option) + 1]


def test_each_software_codec_maps_to_its_hardware_encoders() -> None:
    assert [hw.hardware_encoder("libx264", a) for a in hw.ACCELS] == [
        "h264_nvenc", "h264_qsv", "h264_vaapi", "h264_videotoolbox",
    ]  # fmt: skip
    assert [hw.hardware_encoder("libx265", a) for a in hw.ACCELS] == [
        "hevc_nvenc", "hevc_qsv", "hevc_vaapi", "hevc_videotoolbox",
    ]  # fmt: skip
    assert [hw.hardware_encoder("libsvtav1", a) for a in hw.ACCELS] == ["av1_nvenc", "av1_qsv", "av1_vaapi", None]
    assert [hw.hardware_encoder("libvpx-vp9", a) for a in hw.ACCELS] == [None, "vp9_qsv", "vp9_vaapi", None]
    assert hw.hardware_encoder("prores_ks", "videotoolbox") is None
    assert hw.hardware_encoder("dnxhd", "nvenc") is None


def test_auto_tries_videotoolbox_on_macos_and_nvenc_qsv_vaapi_elsewhere() -> None:
    assert hw.auto_order("darwin") == ("videotoolbox",)
    assert hw.auto_order("linux") == ("nvenc", "qsv", "vaapi")


def test_nvenc_args_quality_cap_and_a_fixed_closed_gop() -> None:
    e = hw.hardware_args("nvenc", WEB, R24, 1920, 1080)
    assert e.encoder == "h264_nvenc" and e.global_args == () and e.extra_filters == ()
    assert e.args == (
        "-c:v", "h264_nvenc", "-pix_fmt", "yuv420p", "-profile:v", "high", "-preset", "p4",
        "-rc", "vbr", "-cq", "20", "-b:v", "0", "-maxrate", "8000000", "-bufsize", "16000000",
        "-g", "12", "-bf", "2", "-forced-idr", "1", "-strict_gop", "1", "-no-scenecut", "1",
    )  # fmt: skip
    assert e.gop == video_args(WEB, R24, 1920, 1080).gop == 12


def test_qsv_uses_global_quality_and_closed_gops_with_idr_at_each() -> None:
    e = hw.hardware_args("qsv", WEB, R24, 1920, 1080)
    assert _after(e.args, "-pix_fmt") == "nv12"
    assert _after(e.args, "-global_quality") == "20"
    assert _after(e.args, "-maxrate") == "8000000" and _after(e.args, "-b:v") == "4000000"  # QVBR, not CBR
    assert e.args[-8:] == ("-g", "12", "-bf", "2", "-flags", "+cgop", "-idr_interval", "0")
    uncapped = hw.hardware_args("qsv", HEVC, R24, 1920, 1080)
    assert "-b:v" not in uncapped.args and _after(uncapped.args, "-global_quality") == "22"  # ICQ


def test_vaapi_needs_its_device_and_uploads_at_the_end_of_the_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hw.VAAPI_DEVICE_ENV, "/dev/dri/renderD129")
    e = hw.hardware_args("vaapi", WEB, R24, 1920, 1080)
    assert e.global_args == ("-vaapi_device", "/dev/dri/renderD129")
    assert e.extra_filters == ("format=nv12", "hwupload")
    assert "-pix_fmt" not in e.args  # the frames reaching the encoder are VAAPI surfaces
    assert _after(e.args, "-rc_mode") == "QVBR" and _after(e.args, "-global_quality") == "20"
    assert e.args[-8:] == ("-g", "12", "-bf", "2", "-flags", "+cgop", "-idr_interval", "0")
    cqp = hw.hardware_args("vaapi", REVIEW, R24, 1920, 1080, device="/dev/dri/renderD128")
    assert cqp.global_args == ("-vaapi_device", "/dev/dri/renderD128")
    assert _after(cqp.args, "-rc_mode") == "CQP" and _after(cqp.args, "-global_quality") == "23"
    choice = hw.Choice("h264_vaapi", e.args, e.extra_filters, "", "vaapi", e.global_args, e.gop)
    assert choice.filter_chain("fps=24,format=yuv420p") == "fps=24,format=yuv420p,format=nv12,hwupload"


def test_videotoolbox_forces_a_keyframe_every_gop_without_reordering() -> None:
    e = hw.hardware_args("videotoolbox", WEB, R24, 1920, 1080)
    assert _after(e.args, "-g") == "12" and _after(e.args, "-bf") == "0"
    assert _after(e.args, "-force_key_frames") == "expr:eq(mod(n,12),0)"
    assert 1 <= int(_after(e.args, "-q:v")) <= 100


def test_every_accelerator_keeps_the_presets_gop_and_intra_is_one_frame() -> None:
    for name in ("web", "review", "proxy", "hevc"):
        v = BUILTIN_PRESETS[name].spec.video
        assert v is not None
        for rate in (Rate(24), Rate(30000, 1001), Rate(50)):
            gop = video_args(v, rate, 1920, 1080).gop
            for accel in hw.ACCELS:
                e = hw.hardware_args(accel, v, rate, 1920, 1080)
                assert e.gop == gop and _after(e.args, "-g") == str(gop), (name, rate, accel)
    intra = hw.hardware_args("nvenc", REVIEW, R24, 1920, 1080)
    assert (_after(intra.args, "-g"), _after(intra.args, "-bf")) == ("1", "0")


def test_ten_bit_hevc_goes_as_p010_main10_with_its_tag() -> None:
    for accel in ("nvenc", "qsv", "videotoolbox"):
        e = hw.hardware_args(accel, HEVC, R24, 1920, 1080)
        assert _after(e.args, "-pix_fmt") == "p010le" and _after(e.args, "-profile:v") == "main10"
        assert e.args[-2:] == ("-tag:v", "hvc1")
    assert hw.hardware_args("vaapi", HEVC, R24, 1920, 1080).extra_filters == ("format=p010le", "hwupload")


def test_av1_and_vp9_quality_is_rescaled_to_each_encoders_range() -> None:
    av1 = VideoSpec(codec="libsvtav1", crf=63)
    assert _after(hw.hardware_args("nvenc", av1, R24, 640, 360).args, "-cq") == "63"
    assert _after(hw.hardware_args("qsv", av1, R24, 640, 360).args, "-global_quality") == "51"
    assert _after(hw.hardware_args("vaapi", av1, R24, 640, 360).args, "-global_quality") == "255"
    vp9 = VideoSpec(codec="libvpx-vp9", bitrate="4M")
    assert _after(hw.hardware_args("vaapi", vp9, R24, 640, 360).args, "-rc_mode") == "VBR"
    assert _after(hw.hardware_args("qsv", vp9, R24, 640, 360).args, "-b:v") == "4M"


@pytest.mark.parametrize(
    ("accel", "spec", "words"),
    [
        ("nvenc", VideoSpec(codec="libx264", pix_fmt="yuv422p"), "pix_fmt yuv422p"),
        ("qsv", VideoSpec(codec="libx264", pix_fmt="yuv420p10le"), "pix_fmt yuv420p10le"),
        ("videotoolbox", VideoSpec(codec="prores_ks", pix_fmt="yuv422p10le"), "no encoder for prores_ks"),
        ("nvenc", VideoSpec(codec="libvpx-vp9"), "no encoder for libvpx-vp9"),
        ("cuda", VideoSpec(codec="libx264"), "unknown accelerator"),
    ],
)
def test_what_hardware_cannot_encode_as_software_would_is_refused(accel: str, spec: VideoSpec, words: str) -> None:
    with pytest.raises(hw.Unsupported, match=words):
        hw.hardware_args(accel, spec, R24, 1920, 1080)


def test_the_variable_wins_over_the_preset_and_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = VideoSpec(codec="libx264", hardware="nvenc")
    assert hw.requested(nv) == hw.Request("nvenc", "preset video.hardware")
    monkeypatch.setenv(hw.ENV, "none")
    assert hw.requested(nv) == hw.Request("none", hw.ENV)
    monkeypatch.setenv(hw.ENV, "AUTO")
    assert hw.requested(nv).want == "auto"
    assert hw.requested(nv, {}).want == "nvenc"


def test_an_unknown_variable_value_is_said_once_and_means_software(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vidasm"):
        assert hw.requested(WEB, {hw.ENV: "cuda"}) == hw.Request("none", hw.ENV)
        hw.requested(WEB, {hw.ENV: "cuda"})
    assert [r.getMessage() for r in caplog.records] == [
        "VIDASM_HWACCEL='cuda' is not one of none, auto, nvenc, qsv, vaapi, videotoolbox; encoding in software"
    ]


NVENC_9 = """[h264_nvenc @ 0x55d5cc9b8300] Cannot load libcuda.so.1
[vost#0:0/h264_nvenc @ 0x55d5cc9b78c0] [enc:h264_nvenc @ 0x55d5cc9b81c0] Error while opening encoder - maybe incorrect \
parameters such as bit_rate, rate, width or height.
[out#0/null @ 0x55d5cc9b6e00] Nothing was written into output file, because at least one of its streams received no \
packets.
"""
VAAPI_51 = """[AVHWDeviceContext @ 0x5585a0ceea40] No VA display found for device /dev/dri/renderD128.
Device creation failed: -22.
Failed to set value '/dev/dri/renderD128' for option 'vaapi_device': Invalid argument
"""


def test_a_failed_trial_is_explained_by_ffmpegs_first_words() -> None:
    assert hw.trial_reason(NVENC_9) == "Cannot load libcuda.so.1"
    assert hw.trial_reason(VAAPI_51) == "No VA display found for device /dev/dri/renderD128."
    assert hw.trial_reason("") == "FFmpeg failed without saying why"


def test_the_trial_command_is_one_frame_at_the_timeline_size_through_the_encoders_args() -> None:
    e = hw.hardware_args("vaapi", WEB, R24, 1920, 1080, device="/dev/dri/renderD128")
    argv = hw.trial_cmd(e, 1920, 1080)
    assert argv[argv.index("-vaapi_device") + 1] == "/dev/dri/renderD128"
    assert argv.index("-vaapi_device") < argv.index("-i")
    assert argv[argv.index("-i") + 1] == "color=c=gray:s=1920x1080:r=25"
    assert argv[argv.index("-frames:v") + 1] == "1"
    assert argv[argv.index("-vf") + 1].endswith(",format=nv12,hwupload")
    assert argv[-3:] == ["-f", "null", "-"] and tuple(argv[argv.index("-c:v") : -3]) == e.args


def _tool(*encoders: str) -> FFmpeg:
    caps = Capabilities("9.0.2", (9, 0), encoders=frozenset({"libx264", "libx265", *encoders}))
    return FFmpeg("/opt/ffmpeg", Origin.ENV, "test", caps)


class Trials:
    """A stub trial encode: which encoders work, and every trial asked for."""

    def __init__(self, working: set[str], reason: str = "Cannot load libcuda.so.1") -> None:
        self.working, self.reason, self.calls = working, reason, []

    def __call__(self, tool: FFmpeg, e: hw.HardwareEncoding, width: int = 256, height: int = 144) -> str | None:
        self.calls.append(e.encoder)
        return None if e.encoder in self.working else self.reason


def test_a_working_hardware_encoder_is_chosen_with_its_args(monkeypatch: pytest.MonkeyPatch) -> None:
    trials = Trials({"h264_qsv"})
    monkeypatch.setattr(hw, "trial_encode", trials)
    monkeypatch.setattr(hw, "auto_order", lambda: ("nvenc", "qsv", "vaapi"))
    c = hw.choose_encoder(_tool("h264_nvenc", "h264_qsv"), WEB, "auto", rate=R24, width=1920, height=1080)
    assert (c.encoder, c.hardware, c.gop) == ("h264_qsv", "qsv", 12)
    assert c.args == hw.hardware_args("qsv", WEB, R24, 1920, 1080).args
    assert trials.calls == ["h264_nvenc", "h264_qsv"]  # h264_vaapi: not in this FFmpeg, never tried
    assert c.note == "h264_qsv (qsv, hardware=auto)"


def test_software_with_one_warning_naming_what_was_asked_and_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(hw, "trial_encode", Trials(set()))
    monkeypatch.setenv(hw.ENV, "nvenc")
    with caplog.at_level(logging.WARNING, logger="vidasm"):
        for _ in range(3):
            c = hw.choose_encoder(_tool("h264_nvenc"), WEB, rate=R24, width=1920, height=1080)
    assert (c.encoder, c.hardware, c.extra_filters, c.global_args) == ("libx264", "none", (), ())
    assert c.args == video_args(WEB, R24, 1920, 1080).args
    [record] = caplog.records
    text = record.getMessage()
    assert "VIDASM_HWACCEL=nvenc" in text and "h264_nvenc" in text and "Cannot load libcuda.so.1" in text
    assert text.endswith("encoding with libx264 (software)")


def test_none_asks_for_no_trial_and_a_missing_encoder_for_none_either(monkeypatch: pytest.MonkeyPatch) -> None:
    trials = Trials({"h264_nvenc"})
    monkeypatch.setattr(hw, "trial_encode", trials)
    nv = VideoSpec(codec="libx264", crf=20, hardware="nvenc")
    monkeypatch.setenv(hw.ENV, "none")
    assert hw.choose_encoder(_tool("h264_nvenc"), nv, rate=R24, width=640, height=360).encoder == "libx264"
    monkeypatch.delenv(hw.ENV)
    assert hw.choose_encoder(_tool("h264_nvenc"), nv, rate=R24, width=640, height=360).encoder == "h264_nvenc"
    c = hw.choose_encoder(_tool(), nv, rate=R24, width=640, height=360)
    assert c.encoder == "libx264" and "h264_nvenc is not in this FFmpeg" in c.note
    assert trials.calls == ["h264_nvenc"]
