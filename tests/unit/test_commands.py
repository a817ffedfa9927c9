"""Command builders: exact argv, no FFmpeg needed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from vidasm_assets.media import colour
from vidasm_assets.media import commands as c
from vidasm_assets.media.presets import BUILTIN_PRESETS, from_cut
from vidasm_assets.media.rates import Rate

R24 = Rate(24)
R2997 = Rate(30000, 1001)


def test_picture_filter_square_pixels_fit_and_exact_frames() -> None:
    assert c.picture_filter(c.Target(1920, 1080, R24, 240)) == (
        "fps=24,"
        "scale=w='if(gt(dar,1920/1080),1920,max(2,2*round(1080*dar/2)))':h='if(gt(dar,1920/1080),max(2,2*round(1920/dar/2)),1080)'"
        ":flags=lanczos+accurate_rnd+full_chroma_int:in_color_matrix=bt709:in_range=tv:out_color_matrix=bt709:out_range=tv,"
        "pad=w=1920:h=1080:x=(ow-iw)/2:y=(oh-ih)/2:color=black,setsar=1,"
        "tpad=stop_mode=clone:stop=3,trim=end_frame=240,setpts=PTS-STARTPTS,format=yuv420p,"
        "setparams=field_mode=prog:range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"
    )


def test_pad_limit_is_a_tenth_of_a_second_at_least_two_frames() -> None:
    assert [c.pad_limit(r) for r in (Rate(24), R2997, Rate(60000, 1001), Rate(25))] == [3, 3, 6, 3]
    assert "tpad=stop_mode=clone:stop=0," in c.picture_filter(c.Target(64, 64, R24, 5), pad=0)


def test_picture_filter_converts_the_source_matrix_and_range() -> None:
    sd = c.PictureSource(colour.SourceColour("bt601", "pc", "smpte170m", "smpte170m"))
    f = c.picture_filter(c.Target(320, 180, R24, 10), sd)
    assert ":in_color_matrix=bt601:in_range=pc:out_color_matrix=bt709:out_range=tv," in f
    rgb = c.PictureSource(colour.SourceColour("rgb", "pc", "bt709", "bt709"))
    f = c.picture_filter(c.Target(320, 180, R24, 10), rgb)
    assert ":flags=lanczos+accurate_rnd+full_chroma_int:out_color_matrix=bt709:out_range=tv," in f


def test_picture_filter_deinterlaces_first() -> None:
    f = c.picture_filter(c.Target(320, 180, R2997, 10), c.PictureSource(interlaced=True))
    assert f.startswith("bwdif=mode=send_frame:parity=auto:deint=all,fps=30000/1001,scale=")


def test_picture_filter_tone_maps_hdr_in_linear_light() -> None:
    pq = colour.SourceColour("bt2020", "tv", "bt2020", "smpte2084")
    assert c.picture_filter(c.Target(320, 180, R24, 10), c.PictureSource(pq)).startswith(
        "fps=24,"
        "zscale=tin=smpte2084:pin=bt2020:min=bt2020nc:rin=tv:t=linear:npl=100,format=gbrpf32le,"
        "colorchannelmixer=rr=1.660491:rg=-0.587641:rb=-0.072850:gr=-0.124550:gg=1.132900:gb=-0.008349"
        ":br=-0.018151:bg=-0.100579:bb=1.118730,setparams=color_primaries=bt709,"
        "tonemap=tonemap=mobius:desat=0,format=gbrp16le,zscale=t=bt709:m=bt709:r=tv,format=yuv420p,"
        "scale=w='if(gt(dar,320/180),320,max(2,2*round(180*dar/2)))':h='if(gt(dar,320/180),max(2,2*round(320/dar/2)),180)'"
        ":flags=lanczos+accurate_rnd+full_chroma_int:in_color_matrix=bt709:in_range=tv:out_color_matrix=bt709:out_range=tv,"
    )
    wide = colour.SourceColour("bt2020", "tv", "bt2020", "bt2020-10")
    f = c.picture_filter(c.Target(320, 180, R24, 10), c.PictureSource(wide))
    assert "setparams=color_primaries=bt709,format=gbrp16le,zscale=t=bt709:m=bt709:r=tv," in f and "tonemap" not in f


def test_conform_is_the_segment_command_at_the_cuts_settings() -> None:
    argv = c.segment_cmd(Path("in.mov"), Path("out.mov"), c.Target(320, 180, R24, 48))
    assert argv == [
        "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", "-stats_period", "0.5",
        "-i", "in.mov", "-map", "0:V:0", "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
        "-vf", c.picture_filter(c.Target(320, 180, R24, 48)),
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-profile:v", "high", "-preset", "medium", "-crf", "20",
        "-maxrate", "1000000", "-bufsize", "2000000",  # web: 8 Mb/s at 1080p scaled by size, at least 1 Mb/s
        "-g", "12", "-keyint_min", "12", "-sc_threshold", "0", "-flags", "+cgop", "-bf", "2",  # closed GOP of 0.5 s
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
        "-video_track_timescale", "24000", "-movie_timescale", "24000", "-f", "mov", "out.mov",
    ]  # fmt: skip


def test_gop_and_timescale_follow_the_rate() -> None:
    argv = c.segment_cmd(Path("a"), Path("b"), c.Target(64, 64, R2997, 5))
    assert argv[argv.index("-g") + 1] == "15"  # half a second at 29.97
    assert argv[argv.index("-video_track_timescale") + 1] == "30000"
    assert argv[argv.index("-movie_timescale") + 1] == "30000"  # edit lists exact, not in milliseconds


def test_loudness_measure_cmd() -> None:
    assert c.loudness_measure_cmd(Path("a.mp4"), target_i=-16, target_tp=-1, lra=7) == [
        "-hide_banner", "-nostdin", "-y", "-i", "a.mp4",
        "-filter_complex", "[0:a:0]aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
        "loudnorm=I=-16:TP=-1:LRA=7:print_format=json[aout]", "-map", "[aout]", "-vn", "-sn", "-dn",
        "-f", "null", "-",
    ]  # fmt: skip


def test_loudness_measure_cmd_measures_the_fitted_shot_and_loops_short_ones() -> None:
    argv = c.loudness_measure_cmd(Path("a.mkv"), target_i=-16, target_tp=-1, lra=7, samples=12000,
        source=c.AudioSource((0,), Fraction(1, 4)),
    )  # fmt: skip
    assert argv[argv.index("-filter_complex") + 1] == (
        "[0:a:0]aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
        "asetpts=PTS-0.250000/TB,aresample=48000:async=1:first_pts=0,atrim=end_sample=12000,"
        "aloop=loop=-1:size=12000,atrim=end_sample=144000,"
        "loudnorm=I=-16:TP=-1:LRA=7:print_format=json[aout]"
    )
    long = c.loudness_measure_cmd(Path("a.mp4"), target_i=-16, target_tp=-1, lra=7, samples=144000)
    graph = long[long.index("-filter_complex") + 1]
    assert "aloop" not in graph and "asetpts" not in graph


def test_several_audio_tracks_are_aligned_then_mixed() -> None:
    argv = c.pcm_fit_cmd(c.PcmJob(Path("a.mp4"), Path("o.wav"), 48000, c.AudioSource((0, 2))))
    prep = "aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo"
    assert argv[argv.index("-filter_complex") + 1] == (
        f"[0:a:0]{prep},aresample=48000:async=1:first_pts=0[t0];"
        f"[0:a:2]{prep},aresample=48000:async=1:first_pts=0[t1];"
        "[t0][t1]amix=inputs=2:duration=longest:normalize=0,atrim=end_sample=48000,"
        "aresample=48000,apad,atrim=end_sample=48000,asetpts=PTS-STARTPTS[aout]"
    )
    assert argv[argv.index("-map") + 1] == "[aout]"


def test_normalize_audio_cmd_applies_measurement_and_exact_length() -> None:
    m = c.LoudnessMeasurement(-29.65, -26.61, 3.2, -39.65, 0.01)
    argv = c.normalize_audio_cmd(
        c.PcmJob(Path("a.mp4"), Path("o.wav"), 96000), target_i=-16, target_tp=-1, measurement=m
    )
    af = argv[argv.index("-filter_complex") + 1]
    assert af == (
        "[0:a:0]aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
        "aresample=48000:async=1:first_pts=0,atrim=end_sample=96000,"
        "loudnorm=I=-16:TP=-1:LRA=7:measured_I=-29.65:measured_TP=-26.61:measured_LRA=3.20"
        ":measured_thresh=-39.65:offset=0.01:linear=true:print_format=json,"
        "aresample=48000,apad,atrim=end_sample=96000,asetpts=PTS-STARTPTS[aout]"
    )
    assert argv[-9:] == ["-c:a", "pcm_s24le", "-ar", "48000", "-ac", "2", "-f", "wav", "o.wav"]


def test_static_signal_keeps_loudnorm_linear() -> None:
    m = c.LoudnessMeasurement(-30, -27, 0.0, -40, 0.0)
    assert ":measured_LRA=0.01:" in c.loudnorm_apply_filter(-16, -1, 7, m)


def test_limited_audio_cmd_gain_then_true_peak_limiter() -> None:
    argv = c.limited_audio_cmd(c.PcmJob(Path("a.mp4"), Path("o.wav"), 48000), gain_db=14.25, ceiling_db=-1.5)
    assert argv == [
        "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", "-stats_period", "0.5",
        "-i", "a.mp4",
        "-filter_complex", "[0:a:0]aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
        "aresample=48000:async=1:first_pts=0,atrim=end_sample=48000,volume=14.25dB,"
        "aresample=192000,alimiter=limit=0.8414:attack=1:release=50:level=0:latency=1,"
        "aresample=48000,apad,atrim=end_sample=48000,asetpts=PTS-STARTPTS[aout]",
        "-map", "[aout]", "-vn", "-sn", "-dn", "-map_metadata", "-1",
        "-c:a", "pcm_s24le", "-ar", "48000", "-ac", "2", "-f", "wav", "o.wav",
    ]  # fmt: skip


def test_slate_uses_the_conform_settings() -> None:
    argv = c.slate_picture_cmd(Path("card.png"), Path("s.mov"), c.Target(320, 180, R24, 48))
    conform = c.segment_cmd(Path("x"), Path("s.mov"), c.Target(320, 180, R24, 48))
    assert argv[argv.index("-i") - 4 : argv.index("-i") + 2] == ["-loop", "1", "-framerate", "24", "-i", "card.png"]
    vf = argv[argv.index("-vf") + 1]
    assert vf.startswith(f"fps=24,scale={c.fit_expr(320, 180)}:") and ":in_color_matrix" not in vf
    after = argv[argv.index("-vf") + 2 :]
    assert after == conform[conform.index("-vf") + 2 :]  # identical encoder settings, tags and time scale


def test_target_lra_keeps_linear_mode_possible() -> None:
    assert c.target_lra(0.0) == 7.0
    assert c.target_lra(12.4) == 14.0
    assert c.target_lra(80) == 50.0


def test_silence_cmd_exact_samples() -> None:
    assert c.silence_cmd(Path("s.wav"), samples=1601) == [
        "-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
        "-af", "atrim=end_sample=1601", "-c:a", "pcm_s24le", "-f", "wav", "s.wav",
    ]  # fmt: skip


def test_pcm_fit_cmd() -> None:
    argv = c.pcm_fit_cmd(c.PcmJob(Path("a.mov"), Path("o.wav"), 10))
    assert argv[argv.index("-filter_complex") + 1].endswith("apad,atrim=end_sample=10,asetpts=PTS-STARTPTS[aout]")


def test_concat_list_escapes_quotes(tmp_path: Path) -> None:
    p = tmp_path / "it's.mov"
    text = c.concat_list([p])
    assert (
        text
        == f"ffconcat version 1.0\nfile '{str(p.resolve()).replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'\n"
    )
    assert "it'\\''s.mov" in text


def test_assemble_cmd_is_stream_copy() -> None:
    argv = c.assemble_cmd(Path("v.txt"), Path("a.txt"), Path("cut.mov"), rate=R24)
    assert argv == [
        "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", "-stats_period", "0.5",
        "-f", "concat", "-safe", "0", "-i", "v.txt", "-f", "concat", "-safe", "0", "-i", "a.txt",
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-video_track_timescale", "24000", "-movie_timescale", "24000",
        "-map_metadata", "-1",
        "-f", "mov", "cut.mov",
    ]  # fmt: skip


def test_web_delivery_copies_the_cuts_picture_and_encodes_aac_once() -> None:
    web = BUILTIN_PRESETS["web"]
    assert from_cut(web)  # the conform encodes at web's settings: the web file is the cut's picture, copied
    argv = c.join_cmd(None, Path("cut.mov"), Path("w.mp4"), preset=web, rate=R24, title="t")
    assert argv == [
        "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", "-stats_period", "0.5",
        "-i", "cut.mov", "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy",
        "-c:a", "aac", "-ar", "48000", "-ac", "2", "-b:a", "192k",
        "-map_metadata", "-1", "-metadata", "title=t", "-video_track_timescale", "24000", "-movie_timescale", "24000",
        "-movflags", "+faststart+negative_cts_offsets", "-tag:v", "avc1",
        "-f", "mp4", "w.mp4",
    ]  # fmt: skip


def test_segment_delivery_joins_segments_and_takes_the_cuts_sound() -> None:
    argv = c.join_cmd(Path("segs.txt"), Path("cut.mov"), Path("m.mov"), preset=BUILTIN_PRESETS["master"], rate=R24)
    start = argv.index("concat") - 1
    assert argv[start : start + 8] == ["-f", "concat", "-safe", "0", "-i", "segs.txt", "-i", "cut.mov"]
    start = argv.index("-map")
    assert argv[start : start + 8] == ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "pcm_s24le"]
    assert "-b:a" not in argv  # PCM has no bitrate


def test_review_segment_is_scaled_intra_with_burn_ins_drawn_last() -> None:
    review = BUILTIN_PRESETS["review"].spec.video
    assert review is not None
    argv = c.segment_cmd(
        Path("in.mov"), Path("r.mov"), c.Target(3840, 2160, R24, 48, review), burn_in="drawtext=text=x"
    )
    vf = argv[argv.index("-vf") + 1]
    assert vf.index("scale=w=1920:h=1080") < vf.index("drawtext=text=x") < vf.index("format=yuv420p")
    assert argv[argv.index("-g") + 1] == "1"  # all-intra: every frame a keyframe for scrubbing
    assert argv[argv.index("-crf") + 1] == "23"


def test_ebur128_cmd() -> None:
    assert c.ebur128_cmd(Path("x.wav")) == [
        "-hide_banner", "-nostdin", "-nostats", "-i", "x.wav", "-map", "0:a:0", "-vn",
        "-af", "ebur128=peak=true", "-f", "null", "-",
    ]  # fmt: skip
