"""Trims and repeats as pure arithmetic and argument lists: spans, cuts, pieces, the trimmed conform's filters."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from vidasm_assets.media import commands as c
from vidasm_assets.media.editorial import write_cmx3600
from vidasm_assets.media.ranges import FrameRange, ShotSpan, span_of
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.timeline import Timeline, TimelineClip

from .test_editorial import check_edl

FILM = Rate(24)


def test_one_use_is_its_own_span_without_cuts() -> None:
    assert span_of([FrameRange(5, 20)]) == ShotSpan(FrameRange(5, 20), ())
    assert span_of([FrameRange(0, 48), FrameRange(0, 48)]) == ShotSpan(FrameRange(0, 48), ())


def test_repeated_uses_share_a_span_cut_at_every_other_boundary() -> None:
    uses = [FrameRange(5, 20), FrameRange(24, 36), FrameRange(10, 30)]
    s = span_of(uses)
    assert s.span == FrameRange(5, 36)
    assert s.cuts == (5, 15, 19, 25)  # 10, 20, 24, 30 from the span's start
    pieces = s.pieces()
    assert pieces[0].start == 0 and pieces[-1].end == s.span.frames
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    for use in uses:  # each use is a run of whole pieces, exactly its frames
        got = [pieces[i] for i in s.piece_indices(use)]
        assert got[0].start + s.span.start == use.start and got[-1].end + s.span.start == use.end
    with pytest.raises(ValueError, match="do not fall on the shot's cuts"):
        s.piece_indices(FrameRange(6, 20))


def test_untrimmed_conform_arguments_are_unchanged() -> None:
    """A whole render: no start in the trim, no forced keyframes (byte-identical builds without in/out)."""
    target = c.Target(1920, 1080, FILM, 48)
    chain = c.picture_filter(target)
    assert "trim=end_frame=48," in chain and "start_frame" not in chain
    argv = c.segment_cmd(Path("in.mp4"), Path("out.mov"), target)
    assert "-force_key_frames" not in argv


def test_trimmed_conform_starts_at_in_and_forces_keyframes_at_cuts() -> None:
    target = c.Target(1920, 1080, FILM, 31, start=5, keyframes=(15, 19))
    chain = c.picture_filter(target).split(",")
    # the frames before in are dropped right after the rate conversion, before the scale; the end cut after the pad
    assert chain[1:3] == ["trim=start_frame=5", "setpts=PTS-STARTPTS"] and chain[0].startswith("fps=")
    assert chain.index("trim=start_frame=5") < next(i for i, f in enumerate(chain) if f.startswith("scale="))
    assert "trim=end_frame=31" in chain and chain.index("trim=end_frame=31") > chain.index("setsar=1")
    argv = c.segment_cmd(Path("in.mp4"), Path("out.mov"), target)
    assert argv[argv.index("-force_key_frames") + 1] == "expr:eq(n,15)+eq(n,19)"


def test_split_and_pcm_piece_commands() -> None:
    argv = c.split_cmd(Path("p.mov"), Path("x/p_%d.mov"), (15, 19), rate=FILM)
    assert argv[argv.index("-segment_frames") + 1] == "15,19"
    assert argv[argv.index("-c") + 1] == "copy"
    assert argv[argv.index("-segment_format_options") + 1] == "movie_timescale=24000:video_track_timescale=24000"
    assert argv[-1] == "x/p_%d.mov"
    argv = c.pcm_piece_cmd(Path("a.wav"), Path("b.wav"), start_sample=38000, samples=24000)
    chain = argv[argv.index("-af") + 1]
    assert chain.startswith("atrim=start_sample=38000,asetpts=PTS-STARTPTS,") and "atrim=end_sample=24000" in chain
    source = c.AudioSource(start=10000)
    graph = c.audio_graph(source, [], 62000)
    assert "atrim=start_sample=10000:end_sample=72000,asetpts=PTS-STARTPTS" in graph[1]


def test_edl_of_trims_and_repeats_parses_with_contiguous_record() -> None:
    """Repeated shots are separate events with their own source in/out; pycmx and OTIO read it back."""

    def clip(shot: str, source_in: int, frames: int) -> TimelineClip:
        return TimelineClip(shot=shot, take="v001", clip_name=f"{shot}_v001", source_path=f"/r/{shot}_v001.mov",
                            frames=frames, source_start_frame=86400 + source_in, source_in=source_in)  # fmt: skip

    tl = Timeline("trims", FILM, (clip("sh010", 5, 15), clip("sh020", 0, 48), clip("sh010", 24, 12)))
    text = write_cmx3600(tl)
    check_edl(text, tl)
    assert Timeline.from_json(tl.to_json()) == tl
    assert "source_in" not in Timeline("t", FILM, (clip("sh020", 0, 48),)).to_dict()["clips"][0]


def test_x265_forced_keyframes_are_idr_frames() -> None:
    """x265 makes a forced keyframe a non-IDR I frame unless told: no split point (measured: a 24-frame piece)."""
    from vidasm_assets.media.presets import BUILTIN_PRESETS

    hevc = BUILTIN_PRESETS["hevc"].spec.video
    assert hevc is not None
    trimmed = c.segment_cmd(Path("in.mp4"), Path("out.mov"), c.Target(1920, 1080, FILM, 31, hevc, keyframes=(15,)))
    assert trimmed[trimmed.index("-forced-idr") + 1] == "1"
    whole = c.segment_cmd(Path("in.mp4"), Path("out.mov"), c.Target(1920, 1080, FILM, 31, hevc))
    assert "-forced-idr" not in whole and "-force_key_frames" not in whole
