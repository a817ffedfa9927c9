"""Transitions, pure: the project.json shape, the checks, the plan of bodies and sections, the commands they compile
to, and the EDL/OTIO they write (read back by pycmx and OTIO)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import opentimelineio as otio
import pycmx
import pytest
from pydantic import ValidationError

from vidasm_assets.media import commands as cmd
from vidasm_assets.media.editorial import dip_parts, timecode_to_frames, to_otio, write_cmx3600, write_fcp_xml
from vidasm_assets.media.errors import RangeError, UnsupportedMediaError
from vidasm_assets.media.ffmpeg_tool import FILTER_OPTIONS
from vidasm_assets.media.presets import CUT_VIDEO
from vidasm_assets.media.project import ProjectSpec
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.timeline import Timeline, TimelineClip
from vidasm_assets.media.transitions import (
    Part,
    Section,
    Source,
    audio_cmd,
    check_transitions,
    plan_cut,
    section_cmd,
    section_graph,
)

RATE = Rate(24)


def clip(shot: str, frames: int = 48, **kw: object) -> TimelineClip:
    return TimelineClip(shot, "v001", f"{shot}_v001", f"/r/{shot}/{shot}_v001.mov", frames, **kw)  # type: ignore[arg-type]


def timeline(*clips: TimelineClip) -> Timeline:
    return Timeline("p", RATE, clips)


CUT = timeline(
    clip("a", transition_in=("fade_in", 6)),
    clip("b", 40, transition_in=("dissolve", 12)),
    clip("c", transition_in=("dip", 8), transition_out=("fade_out", 10)),
)


def test_record_length_is_the_sum_minus_the_overlaps() -> None:
    assert CUT.total_frames == 48 + 40 + 48 - 12 - 8
    assert CUT.record_starts() == [0, 36, 68]
    assert CUT.total_samples() == CUT.total_frames * 2000  # 24 fps: 2000 samples a frame
    # without transitions nothing new is written, so timelines keep their data versions
    plain = timeline(clip("a"), clip("b"))
    assert not plain.has_transitions
    assert all("transition_in" not in c and "transition_out" not in c for c in plain.to_dict()["clips"])
    assert Timeline.from_json(CUT.to_json()) == CUT


@pytest.mark.parametrize(
    ("entry", "first", "message"),
    [
        ({"transition_in": {"type": "fade_out", "frames": 6}}, False, "fade_out is a transition_out"),
        ({"transition_out": {"type": "dissolve", "frames": 6}}, False, "a transition_out can only be fade_out"),
        ({"transition_in": {"type": "dissolve", "frames": 0}}, False, "from 1 to 10,368,000; got 0"),
        ({"transition_in": {"type": "dip", "frames": 1}}, False, "a dip needs at least 2 frames"),
        ({"transition_in": {"type": "dissolve", "frames": 1}}, False, "a dissolve needs at least 2 frames"),
        ({"transition_in": {"type": "wipe", "frames": 6}}, False, "dissolve"),
        ({"transition_in": {"type": "dissolve", "frames": 6}}, True, "needs a previous entry"),
    ],
)
def test_project_json_refuses_transitions_that_cannot_be(entry: dict, first: bool, message: str) -> None:
    sequence = (
        [{"shot": "sh010", **entry}, {"shot": "sh020"}] if first else [{"shot": "sh010"}, {"shot": "sh020", **entry}]
    )
    with pytest.raises(ValidationError) as info:
        ProjectSpec.model_validate({"sequence": sequence})
    assert message in str(info.value)


def test_too_long_transitions_fail_naming_shot_take_and_frames() -> None:
    with pytest.raises(RangeError) as info:
        check_transitions([clip("a", 10), clip("b", transition_in=("dissolve", 12))])
    msg = info.value.message
    assert msg.startswith("shot a: take v001 (a_v001.mov): the dissolve into b needs its last 12 frames"), msg
    assert "but the entry has 10 frames" in msg
    with pytest.raises(RangeError, match=r"shot b: .*fade_in needs its first 30 frames.*fade_out needs its last 21"):
        check_transitions([clip("b", 50, transition_in=("fade_in", 30), transition_out=("fade_out", 20))])
    with pytest.raises(UnsupportedMediaError, match="shot a: fades out and the next entry"):
        check_transitions([clip("a", transition_out=("fade_out", 4)), clip("b", transition_in=("dissolve", 4))])
    with pytest.raises(UnsupportedMediaError, match="placeholder"):
        check_transitions([clip("a", placeholder="missing render"), clip("b", transition_in=("dissolve", 4))])
    check_transitions(list(CUT.clips))  # fits


def test_bodies_start_and_end_on_keyframes_and_sections_take_the_rest() -> None:
    """A GOP of 12: the dissolve's section runs from the last keyframe at or before its start to the first at or
    after its end; the fade_out's from the last keyframe leaving it one frame more (its last frame black)."""
    gop = [list(range(0, 48, 12)), list(range(0, 40, 12)), list(range(0, 48, 12))]
    plan = plan_cut(CUT, gop)
    assert plan.items == [
        Section("fade_in", 6, Part(0, 0, 12)),
        Part(0, 12, 36),
        Section("dissolve", 12, Part(0, 36, 48), Part(1, 0, 12)),
        Part(1, 12, 24),  # b's dip starts at 32: its section from the keyframe at 24
        Section("dip", 8, Part(1, 24, 40), Part(2, 0, 12)),
        Part(2, 12, 36),  # the fade_out needs frames 37-47 and the frame before: from 36
        Section("fade_out", 10, Part(2, 36, 48)),
    ]
    assert [s.length for s in plan.items if isinstance(s, Section)] == [12, 12 + 12 - 12, 16 + 12 - 8, 12]
    # all intra (every frame a keyframe): the sections are exactly the transitions' frames
    intra = plan_cut(CUT, [list(range(48)), list(range(40)), list(range(48))])
    assert [s.length for s in intra.items if isinstance(s, Section)] == [6, 12, 8, 11]
    # no keyframe between two transitions of a clip: their sections meet, nothing of it is copied
    tight = timeline(clip("a"), clip("b", 20, transition_in=("dissolve", 6)), clip("c", transition_in=("dissolve", 6)))
    items = plan_cut(tight, [[0, 24], [0], [0, 24]]).items
    assert items[1:3] == [Section("dissolve", 6, Part(0, 24, 48), Part(1, 0, 6)),
                          Section("dissolve", 6, Part(1, 6, 20), Part(2, 0, 24))]  # fmt: skip


def test_the_sound_graph_compiles_to_crossfades_fades_and_joins() -> None:
    pcms = [Path("a.wav"), Path("b.wav"), Path("c.wav")]
    three = timeline(clip("a", transition_in=("fade_in", 6)), clip("b", 40, transition_in=("dissolve", 12)),
                     clip("c", transition_out=("fade_out", 10)))  # fmt: skip
    assert audio_cmd(three, pcms, Path("out.wav")) == [
        "-hide_banner", "-nostdin", "-y", "-i", "a.wav", "-i", "b.wav", "-i", "c.wav",
        "-filter_complex",
        "[0:a]afade=nb_samples=12000:start_sample=0:type=in[s0];"
        "[s0][1:a]acrossfade=curve1=qsin:curve2=qsin:nb_samples=24000[s1];"  # constant power
        "[2:a]afade=nb_samples=20000:start_sample=75999:type=out[s2];"
        "[s1][s2]concat=a=1:n=2:v=0[s3];"
        "[s3]atrim=end_sample=248000[s4];[s4]asetpts=PTS-STARTPTS[s5]",
        "-map", "[s5]", "-f", "wav", "-ac", "2", "-acodec", "pcm_s24le", "-ar", "48000", "-map_metadata", "-1",
        "out.wav",
    ]  # fmt: skip


def test_a_section_is_the_conform_chain_per_input_then_the_transition() -> None:
    target = cmd.Target(64, 36, RATE, 0, CUT_VIDEO)
    a = Source(Path("/r/a.mov"), cmd.PictureSource(), 36, 12)
    b = Source(Path("/r/b.mov"), cmd.PictureSource(), 0, 12)
    dissolve = Section("dissolve", 12, Part(0, 36, 48), Part(1, 0, 12))
    graph = section_graph(dissolve, [a, b], target)
    chain_a = cmd.picture_filter(cmd.Target(64, 36, RATE, 12, CUT_VIDEO, start=36), cmd.PictureSource())
    chain_b = cmd.picture_filter(cmd.Target(64, 36, RATE, 12, CUT_VIDEO), cmd.PictureSource())
    assert graph == (f"[0:V:0]{chain_a}[s0];[1:V:0]{chain_b}[s1];"
                     "[s0][s1]xfade=transition=fade:duration=0.500000:offset=0.000000[v]")  # fmt: skip
    dip = section_graph(Section("dip", 8, Part(0, 28, 48), Part(1, 0, 12)), [a, b], target)
    assert dip.endswith(
        "[s0]trim=end_frame=16,fade=type=out:start_frame=12:nb_frames=4[d0];"
        "[s1]trim=start_frame=4,setpts=PTS-STARTPTS,fade=type=in:start_frame=0:nb_frames=4[d1];"
        "[d0][d1]concat=n=2:v=1:a=0[v]"
    )
    fade_out = section_graph(Section("fade_out", 10, Part(0, 36, 48)), [a], target)
    assert fade_out.endswith("[s0]fade=type=out:start_frame=1:nb_frames=10[v]")
    argv = section_cmd(dissolve, [a, b], Path("/c/t.mov"), target)
    assert argv[argv.index("-filter_complex") + 1] == graph
    # the encoder arguments are the cut's own (so the section joins the conforms by stream copy)
    enc = cmd.segment_cmd(Path("/r/a.mov"), Path("/c/a.mov"), cmd.Target(64, 36, RATE, 48))
    assert argv[argv.index("-c:v") : argv.index("-f")] == enc[enc.index("-c:v") : enc.index("-f")]


def _edl_events(text: str) -> list[tuple[str, str, int, int]]:
    """(source, transition, source frames, record in) of every edit, read by pycmx."""
    out = []
    for event in pycmx.parse_cmx3600(io.StringIO(text)).events:
        for e in event.edits:
            length = timecode_to_frames(e.source_out, RATE) - timecode_to_frames(e.source_in, RATE)
            assert length == timecode_to_frames(e.record_out, RATE) - timecode_to_frames(e.record_in, RATE)
            out.append((e.source, e.transition.kind, length, timecode_to_frames(e.record_in, RATE)))
    return out


@pytest.mark.parametrize("style", ["resolve", "premiere", "avid"])
def test_edl_dissolves_dips_and_fades_read_back(style: str) -> None:
    """After a cut: D events read by pycmx and by OTIO's reader, record contiguous, the length of the cut."""
    tl = timeline(clip("x"), *CUT.clips)
    text = write_cmx3600(tl, style=style)
    start = timecode_to_frames(tl.record_start, RATE)
    events = _edl_events(text)
    assert [(s[:1], t, n) for s, t, n, _ in events] == [
        ("X", "C", 48), ("B", "C", 0), ("A", "D", 36), ("A", "C", 0), ("B", "D", 32), ("B", "C", 0), ("B", "D", 4),
        ("B", "C", 0), ("C", "D", 34), ("C", "C", 0), ("B", "D", 10)]  # fmt: skip
    assert sorted({r for *_, r in events}) == [start + r for r in (0, 48, 84, 116, 120, 154)]
    assert sum(n for _, _, n, _ in events) == tl.total_frames
    read = otio.adapters.read_from_string(text, "cmx_3600", rate=24)
    assert read.tracks[0].duration().value == tl.total_frames
    assert len([t for t in read.tracks[0] if isinstance(t, otio.schema.Transition)]) == 5


def test_a_fade_in_at_the_head_is_written_as_cmx_and_otio_write_it() -> None:
    """The head fade from black is ``BL`` C + ``D`` (what OTIO's own writer writes); pycmx reads it, OTIO's reader
    refuses a transition at the very beginning of a track (its limitation: when this starts passing, say so)."""
    text = write_cmx3600(CUT)
    events = _edl_events(text)
    assert events[:2] == [("BL", "C", 0, 86400), ("A_V1", "D", 36, 86400)]
    with pytest.raises(Exception, match="Transitions can't be at the very beginning of a track"):
        otio.adapters.read_from_string(text, "cmx_3600", rate=24)
    track = to_otio(CUT).tracks[0]
    assert track.duration().value == CUT.total_frames
    assert [type(i).__name__ for i in track] == ["Gap", "Transition", "Clip", "Transition", "Clip", "Transition",
                                                 "Gap", "Transition", "Clip", "Transition", "Gap"]  # fmt: skip


def test_fcp_xml_places_each_transition_as_fcp7_does_and_reads_back(tmp_path: Path) -> None:
    """FCP 7 XML: a dissolve ``start``-aligned at its cut point, fades from and to black ``start-black`` and
    ``end-black`` (a dip is both, as in the EDL), audio with FCP 7's own crossfades; OTIO's reader finds every
    transition with the EDL's ``D`` lengths and each track the record length (with the adapter's own alignment
    it lost the black: 112 of 116 frames)."""
    tl = timeline(clip("x"), *CUT.clips)
    text = write_fcp_xml(tl, tmp_path / "cut.xml").read_text()
    video, audio = text.split("<audio>")
    order = ["start-black", "start", "end-black", "start-black", "end-black"]
    assert re.findall(r"<alignment>([\w-]+)</alignment>", video) == order
    assert re.findall(r"<alignment>([\w-]+)</alignment>", audio) == order
    assert re.findall(r"<effectid>([^<]+)</effectid>", audio) == [
        "KGAudioTransCrossFade0dB", "KGAudioTransCrossFade3dB", *["KGAudioTransCrossFade0dB"] * 3]  # fmt: skip
    edl = pycmx.parse_cmx3600(io.StringIO(write_cmx3600(tl))).events
    dissolves = [e.transition.effect_duration for ev in edl for e in ev.edits if e.transition.kind == "D"]
    assert dissolves == [6, 12, *dip_parts(8), 10]
    read = otio.adapters.read_from_file(str(tmp_path / "cut.xml"), adapter_name="fcp_xml")
    assert len(read.tracks) == 2
    for track in read.tracks:
        assert track.duration().value == tl.total_frames
        assert [t.duration().value for t in track if isinstance(t, otio.schema.Transition)] == dissolves


def test_every_filter_and_option_the_transitions_use_is_probed() -> None:
    """What the section and sound graphs use is in ``FILTER_OPTIONS``, so an FFmpeg lacking any of it is passed
    over or refused up front (``ffmpeg_tool``), never discovered mid-build."""
    target = cmd.Target(64, 36, RATE, 0, CUT_VIDEO)
    a = Source(Path("/r/a.mov"), cmd.PictureSource(), 36, 12)
    graphs = [
        section_graph(Section("dissolve", 12, Part(0, 36, 48), Part(1, 0, 12)), [a, a], target),
        section_graph(Section("dip", 8, Part(0, 28, 48), Part(1, 0, 12)), [a, a], target),
        section_graph(Section("fade_in", 6, Part(0, 0, 12)), [a], target),
        section_graph(Section("fade_out", 6, Part(0, 36, 48)), [a], target),
    ]
    sound = audio_cmd(CUT, [Path("a.wav"), Path("b.wav"), Path("c.wav")], Path("o.wav"))
    graphs.append(sound[sound.index("-filter_complex") + 1])
    used: dict[str, set[str]] = {}
    for graph in graphs:
        for node in re.split(r"[;,](?![^']*'[^']*$)", re.sub(r"\[[^\]]*\]", ";", graph)):
            name, _, opts = node.strip().partition("=")
            if name and name in ("xfade", "fade", "afade", "acrossfade", "concat", "trim", "atrim"):
                used.setdefault(name, set()).update(o.split("=")[0] for o in opts.split(":") if "=" in o)
    assert set(used) >= {"xfade", "fade", "afade", "acrossfade", "concat", "trim", "atrim"}
    for name, options in used.items():
        assert options <= set(FILTER_OPTIONS[name]), (name, options - set(FILTER_OPTIONS[name]))


def test_a_sequence_without_transitions_keeps_its_edit_spec_version(tmp_path: Path) -> None:
    """Transitions enter the edit spec's data version only when there are any (so every existing project keeps its
    versions: nothing rebuilds on upgrade); with them, the timeline and the roll-ups change, no shot's inputs."""
    from vidasm_assets.media import versions as v
    from vidasm_assets.media.demo import write_project
    from vidasm_assets.media.project import load_project

    write_project(tmp_path, "p", {"sequence": [{"shot": "sh010"}, {"shot": "sh020"}]})
    plain = v.spec_facets(load_project(tmp_path, "p"))[v.Asset.EDIT_SPEC]
    assert "transitions" not in plain
    dissolve = {"type": "dissolve", "frames": 12}
    write_project(tmp_path, "q", {"sequence": [{"shot": "sh010"}, {"shot": "sh020", "transition_in": dissolve}]})
    project = load_project(tmp_path, "q")
    facets = v.spec_facets(project)
    assert facets[v.Asset.EDIT_SPEC]["transitions"] == [[None, None], [["dissolve", 12], None]]
    assert {k: x for k, x in facets[v.Asset.EDIT_SPEC].items() if k != "transitions"} == plain
    assert facets[v.Asset.PICTURE_SPEC] == v.spec_facets(load_project(tmp_path, "p"))[v.Asset.PICTURE_SPEC]


@pytest.mark.parametrize("dip", [2, 3, 8, 9])
def test_the_otio_agrees_with_the_edl_on_a_dip(dip: int) -> None:
    """A dip of N frames is, in the EDL, a dissolve of ceil(N/2) frames to ``BL`` and one of floor(N/2) from it
    (README "Transitions"). The .otio, read back by OpenTimelineIO, has the same: its transitions' durations in order
    are the ``D`` events' lengths pycmx reads, its black Gap the ``BL`` event's, its track as long as the EDL's
    record; both parts of the dip say the dip's whole length and which part they are (issue 12: each said half)."""
    tl = timeline(clip("x"), clip("a", transition_in=("dip", dip)), clip("b", transition_in=("dissolve", 6)),
                  clip("c", transition_in=("fade_in", 4), transition_out=("fade_out", 5)))  # fmt: skip
    edl = pycmx.parse_cmx3600(io.StringIO(write_cmx3600(tl)))
    edits = [e for event in edl.events for e in event.edits]
    record = sum(timecode_to_frames(e.record_out, RATE) - timecode_to_frames(e.record_in, RATE) for e in edits)
    d_lengths = [int(e.transition.effect_duration) for e in edits if e.transition.kind == "D"]
    track = otio.adapters.read_from_string(otio.adapters.write_to_string(to_otio(tl), "otio_json"), "otio_json")
    track = track.tracks[0]
    transitions = [t for t in track if isinstance(t, otio.schema.Transition)]
    assert track.duration().value == record == tl.total_frames == 4 * 48 - dip - 6
    assert [t.duration().value for t in transitions] == d_lengths == [(dip + 1) // 2, dip // 2, 6, 4, 5]
    parts = [t.metadata["vidasm"] for t in transitions if t.metadata["vidasm"]["type"] == "dip"]
    assert [(p["frames"], p["part"]) for p in parts] == [(dip, "to_black"), (dip, "from_black")]
    assert sum(p["part_frames"] for p in parts) == dip
    black = next(e for e in edits if e.source == "BL" and e.transition.kind == "D")  # the dip's way to black
    gap = track[track.index(transitions[0]) + 1]
    assert isinstance(gap, otio.schema.Gap)
    rec_in, rec_out = (timecode_to_frames(t, RATE) for t in (black.record_in, black.record_out))
    assert gap.duration().value == rec_out - rec_in == track.range_of_child(gap).duration.value
    assert track.range_of_child(gap).start_time.value == rec_in - timecode_to_frames(tl.record_start, RATE)
