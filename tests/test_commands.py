"""Command builders: exact argv, no FFmpeg needed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from vidasm_assets.media import commands as c
from vidasm_assets.media.rates import Rate

FF = "ffmpeg"
R24 = Rate(24)
R2997 = Rate(30000, 1001)


def test_picture_filter_square_pixels_fit_and_exact_frames() -> None:
    assert c.picture_filter(1920, 1080, R24, 240) == (
        "fps=24,"
        "scale=w=1920:h=1080:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=lanczos"
        ":out_color_matrix=bt709:out_range=tv,"
        "pad=w=1920:h=1080:x=(ow-iw)/2:y=(oh-ih)/2:color=black,setsar=1,"
        "tpad=stop_mode=clone:stop=-1,trim=end_frame=240,setpts=PTS-STARTPTS,format=yuv420p,"
        "setparams=field_mode=prog:range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"
    )


def test_picture_filter_non_square_sar_is_squared_first() -> None:
    f = c.picture_filter(1280, 720, R2997, 10, Fraction(4, 3))
    assert f.startswith("scale=w='trunc(iw*sar/2)*2':h=ih,setsar=1,fps=30000/1001,")


def test_conform_picture_cmd() -> None:
    argv = c.conform_picture_cmd(FF, Path("in.mov"), Path("out.mov"), width=320, height=180, rate=R24, frames=48)
    assert argv == [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", "-stats_period", "0.5",
        "-i", "in.mov", "-map", "0:v:0", "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
        "-vf", c.picture_filter(320, 180, R24, 48),
        "-c:v", "libx264", "-profile:v", "high", "-preset", "medium", "-crf", "20", "-pix_fmt", "yuv420p",
        "-g", "48", "-keyint_min", "48", "-sc_threshold", "0", "-flags", "+cgop",
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
        "-video_track_timescale", "24000", "-f", "mov", "out.mov",
    ]  # fmt: skip


def test_gop_and_timescale_follow_the_rate() -> None:
    argv = c.conform_picture_cmd(FF, Path("a"), Path("b"), width=64, height=64, rate=R2997, frames=5)
    assert argv[argv.index("-g") + 1] == "60"
    assert argv[argv.index("-video_track_timescale") + 1] == "30000"


def test_loudness_measure_cmd() -> None:
    assert c.loudness_measure_cmd(FF, Path("a.mp4"), target_i=-16, target_tp=-1, lra=7) == [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-i", "a.mp4", "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-af", "aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
        "loudnorm=I=-16:TP=-1:LRA=7:print_format=json",
        "-f", "null", "-",
    ]  # fmt: skip


def test_normalize_audio_cmd_applies_measurement_and_exact_length() -> None:
    m = c.LoudnessMeasurement(-29.65, -26.61, 3.2, -39.65, 0.01)
    argv = c.normalize_audio_cmd(
        FF, Path("a.mp4"), Path("o.wav"), samples=96000, target_i=-16, target_tp=-1, measurement=m
    )
    af = argv[argv.index("-af") + 1]
    assert af == (
        "aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
        "loudnorm=I=-16:TP=-1:LRA=7:measured_I=-29.65:measured_TP=-26.61:measured_LRA=3.20"
        ":measured_thresh=-39.65:offset=0.01:linear=true:print_format=json,"
        "aresample=48000,apad,atrim=end_sample=96000,asetpts=PTS-STARTPTS"
    )
    assert argv[-9:] == ["-c:a", "pcm_s24le", "-ar", "48000", "-ac", "2", "-f", "wav", "o.wav"]


def test_target_lra_keeps_linear_mode_possible() -> None:
    assert c.target_lra(0.0) == 7.0
    assert c.target_lra(12.4) == 14.0
    assert c.target_lra(80) == 50.0


def test_silence_cmd_exact_samples() -> None:
    assert c.silence_cmd(FF, Path("s.wav"), samples=1601) == [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
        "-af", "atrim=end_sample=1601", "-c:a", "pcm_s24le", "-f", "wav", "s.wav",
    ]  # fmt: skip


def test_pcm_fit_cmd() -> None:
    argv = c.pcm_fit_cmd(FF, Path("a.mov"), Path("o.wav"), samples=10)
    assert argv[argv.index("-af") + 1].endswith("apad,atrim=end_sample=10,asetpts=PTS-STARTPTS")


def test_concat_list_escapes_quotes(tmp_path: Path) -> None:
    p = tmp_path / "it's.mov"
    text = c.concat_list([p])
    assert (
        text
        == f"ffconcat version 1.0\nfile '{str(p.resolve()).replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'\n"
    )
    assert "it'\\''s.mov" in text


def test_assemble_cmd_is_stream_copy() -> None:
    argv = c.assemble_cmd(FF, Path("v.txt"), Path("a.txt"), Path("cut.mov"), rate=R24)
    assert argv == [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", "-stats_period", "0.5",
        "-f", "concat", "-safe", "0", "-i", "v.txt", "-f", "concat", "-safe", "0", "-i", "a.txt",
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-video_track_timescale", "24000", "-map_metadata", "-1",
        "-f", "mov", "cut.mov",
    ]  # fmt: skip


def test_web_delivery_copies_video_and_encodes_aac_once() -> None:
    argv = c.delivery_cmd(FF, Path("cut.mov"), Path("w.mp4"), preset=c.PRESETS["web"], rate=R24, title="t")
    assert argv == [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", "-stats_period", "0.5",
        "-i", "cut.mov", "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy",
        "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2", "-video_track_timescale", "24000",
        "-map_metadata", "-1", "-metadata", "title=t", "-tag:v", "avc1", "-movflags", "+faststart",
        "-f", "mp4", "w.mp4",
    ]  # fmt: skip


def test_review_delivery_reencodes_smaller() -> None:
    argv = c.delivery_cmd(FF, Path("cut.mov"), Path("r.mp4"), preset=c.PRESETS["review"], rate=R24)
    assert argv[argv.index("-vf") + 1].startswith("scale=w=-2:h='min(540,ih)'")
    assert argv[argv.index("-crf") + 1] == "26"
    assert "copy" not in argv


def test_ebur128_cmd() -> None:
    assert c.ebur128_cmd(FF, Path("x.wav")) == [
        "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", "x.wav", "-map", "0:a:0", "-vn",
        "-af", "ebur128=peak=true", "-f", "null", "-",
    ]  # fmt: skip
