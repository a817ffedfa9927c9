"""Text overlays, pure: project.json's shape and its errors, their place in record frames, the plan of bodies and
sections that draws them, the drawtext arguments (hostile text read back as FFmpeg's parsers read it), the EDL
and OTIO that carry them (read back by pycmx and OTIO), and the data versions they enter."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import opentimelineio as otio
import pycmx
import pytest

from tests.unit.test_burnins import read_back
from vidasm_assets.media import commands as cmd
from vidasm_assets.media import versions as v
from vidasm_assets.media.burnins import BOX_COLOUR, filter_value, font_path
from vidasm_assets.media.editorial import to_otio, write_cmx3600
from vidasm_assets.media.errors import FFmpegBuildError, ProjectConfigError, RangeError
from vidasm_assets.media.ffmpeg_tool import BURN_IN_FILTER_OPTIONS, Capabilities, FFmpeg, Origin
from vidasm_assets.media.overlays import drawtext_overlay, font_size, placement, require_overlays, resolve_overlays
from vidasm_assets.media.presets import CUT_VIDEO
from vidasm_assets.media.project import Project, ProjectSpec, load_spec
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.timeline import Overlay, Timeline, TimelineClip
from vidasm_assets.media.transitions import Draw, Part, Section, Source, add_overlays, plan_cut, section_graph

RATE = Rate(24)
HOSTILE = [
    "it's 100% done: a\\b, c;d [e] {f} %{pts} %{eif:n:d}",
    "  leading and trailing  ",
    "two\nlines: 'quoted'",
    "\\",
    "''",
    ":::",
    "C:\\path\\to\\file",
    "ünïcødé — “quotes” ✓",
]


def clip(shot: str, frames: int = 48, **kw: object) -> TimelineClip:
    return TimelineClip(shot, "v001", f"{shot}_v001", f"/r/{shot}/{shot}_v001.mov", frames, **kw)  # type: ignore[arg-type]


def project(tmp_path: Path, spec: dict) -> Project:
    (tmp_path / "p").mkdir(exist_ok=True)
    return Project("p", tmp_path / "p", ProjectSpec.model_validate(spec))


# --------------------------------------------------------------------------- project.json


def entry(**overlay: object) -> dict:
    return {"sequence": [{"shot": "a", "overlays": [{"text": "x", **overlay}]}]}


def cut(**overlay: object) -> dict:
    return {"sequence": [{"shot": "a"}], "overlays": [{"text": "x", **overlay}]}


E0 = "field 'sequence[0].overlays[0]"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (entry(text=""), f"{E0}.text': an overlay's text is empty"),
        (entry(text=" \n "), f"{E0}.text': an overlay's text is empty"),
        (entry(position="left"), f"{E0}.position': Input should be 'lower_third', 'top', 'bottom' or 'center'"),
        (entry(start=-1), f"{E0}.start': Input should be greater than or equal to 0"),
        (entry(frames=0), f"{E0}.frames': Input should be greater than 0"),
        (entry(colour="white"), f"{E0}.colour': colour 'white' must be '#RRGGBB'"),
        (entry(size=2), f"{E0}.size': size 2 px must be from 6 to 1000"),
        (entry(size=0.001), f"{E0}.size': size 0.001 must be a share of the frame height"),
        (entry(size="big"), f"{E0}.size': size 'big' must be pixels"),
        (entry(at=3), f"{E0}.at': unknown field"),
        (entry(text="a\tb"), "holds a control character"),
        (entry(text="a\u0085b"), "holds a control character"),
        (entry(text="Take 🎬\nÀ bientôt"), "shipped font (DejaVu Sans Mono) has no glyph for: '🎬' (U+1F3AC)"),
        (entry(text="x" * 201), "201 characters; at most 200"),
        (entry(text="1\n2\n3\n4\n5"), "5 lines; at most 4"),
        ({"overlays": [{"text": "x"}]}, "field 'overlays[0].at': Field required"),
        (cut(at="1:00"), "field 'overlays[0].at': at '1:00' is neither a record frame"),
        (cut(at=-1), "field 'overlays[0].at': at -1 is neither a record frame"),
        (cut(at=0, box="yes"), "field 'overlays[0].box': Input should be a valid boolean"),
        (cut(at="00:59:59:00"), "overlays[0].at 00:59:59:00 is before editorial.record_start 01:00:00:00"),
        (cut(at="01:00:00:30"), "overlays[0].at '01:00:00:30' is not a valid non-drop"),
    ],
)
def test_project_json_refuses_overlays_naming_the_field(tmp_path: Path, spec: dict, message: str) -> None:
    pj = tmp_path / "project.json"
    pj.write_text(json.dumps(spec))
    with pytest.raises(ProjectConfigError) as info:
        load_spec(pj)
    assert str(pj) in info.value.message
    assert message in info.value.message, info.value.message


def test_overlays_are_placed_in_record_frames(tmp_path: Path) -> None:
    """An entry's overlay counts from the entry's first record frame (a dissolve starts it earlier), defaulting to
    its end; the cut's counts from the cut's first frame or the record start's timecode, defaulting to the end."""
    p = project(tmp_path, {
        "sequence": [{"shot": "a"},
                     {"shot": "b", "transition_in": {"type": "dissolve", "frames": 12},
                      "overlays": [{"text": "Jane Doe\nDirector", "start": 2, "frames": 20, "size": 40},
                                   {"text": "tail", "start": 30}]}],
        "overlays": [{"text": "DRAFT", "at": 0, "position": "top"}, {"text": "end", "at": "01:00:03:00", "frames": 4}],
    })  # fmt: skip
    clips = [clip("a"), clip("b", 40, transition_in=("dissolve", 12))]
    got = resolve_overlays(p, clips)
    assert [(o.text, o.start, o.frames, o.field, o.clip) for o in got] == [
        ("Jane Doe\nDirector", 36 + 2, 20, "sequence[1].overlays[0]", 1),
        ("tail", 36 + 30, 10, "sequence[1].overlays[1]", 1),
        ("DRAFT", 0, 76, "overlays[0]", None),
        ("end", 72, 4, "overlays[1]", None),
    ]
    assert got[0].size == 40 and got[2].position == "top"


def test_an_overlay_past_its_entry_or_the_cut_fails_naming_it(tmp_path: Path) -> None:
    p = project(
        tmp_path, {"sequence": [{"shot": "a"}, {"shot": "b", "overlays": [{"text": "x", "start": 30, "frames": 20}]}]}
    )
    with pytest.raises(RangeError) as info:
        resolve_overlays(p, [clip("a"), clip("b", 40)])
    msg = info.value.message
    assert msg.startswith("shot b: ") and "sequence[1].overlays[0] (start 30, 20 frames)" in msg, msg
    assert "runs past the end of entry 1 (b, take v001), which has 40 frames" in msg
    p = project(tmp_path, {"sequence": [{"shot": "a", "overlays": [{"text": "x", "start": 48}]}]})
    with pytest.raises(RangeError, match=r"sequence\[0\]\.overlays\[0\] \(start 48, to the end frames\)"):
        resolve_overlays(p, [clip("a")])
    p = project(tmp_path, {"sequence": [{"shot": "a"}], "overlays": [{"text": "x", "at": "01:00:01:12", "frames": 20}]})
    with pytest.raises(RangeError, match=r"overlays\[0\] \(at '01:00:01:12', 20 frames\) runs past the end of the cut, "
                                         "which has 48 frames"):  # fmt: skip
        resolve_overlays(p, [clip("a")])


# --------------------------------------------------------------------------- drawtext


def _options(drawtext: str) -> dict[str, str]:
    """The options of one drawtext filter as the filter receives them (FFmpeg's two parsers, ``read_back``)."""
    body = drawtext.removeprefix("drawtext=")
    out: dict[str, str] = {}
    # split at the option separators the graph parser leaves (outside quotes, not escaped)
    parts, cur, quoted, i = [], "", False, 0
    while i < len(body):
        c = body[i]
        if c == "\\" and not quoted:
            cur += body[i : i + 2]
            i += 2
            continue
        if c == "'":
            quoted = not quoted
        if c == ":" and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    for part in parts:
        key, _, value = part.partition("=")
        out[key] = read_back(value)
    return out


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_reaches_drawtext_as_written(text: str) -> None:
    o = Overlay(text, 0, 10, position="bottom", colour="#FFCC00")
    f = drawtext_overlay(o, 3, 7, width=1920, height=1080, timeline_height=1080, font=Path("/f/Mono's font.ttf"))
    assert f"text={filter_value(text)}:" in f
    assert read_back(filter_value(text)) == text
    opts = _options(f)
    assert opts["text"] == text
    assert opts["expansion"] == "none"  # a % is a percent sign
    assert opts["fontfile"] == "/f/Mono's font.ttf"
    assert opts["enable"] == "between(n,3,7)"
    assert opts["fontcolor"] == "0xFFCC00"
    assert (opts["box"], opts["boxcolor"]) == ("1", BOX_COLOUR)


def test_placement_and_size_follow_the_safe_area_and_the_picture() -> None:
    assert placement("lower_third", 1920, 1080) == ("96", "864-th")
    assert placement("bottom", 1920, 1080) == ("(w-tw)/2", "h-th-54")
    assert placement("top", 1280, 720) == ("(w-tw)/2", "36")
    assert placement("center", 64, 36) == ("(w-tw)/2", "(h-th)/2")
    # pixels are at the timeline's height (a downscaling preset scales them), a share is of the picture's height
    assert font_size(Overlay("x", 0, 1, size=40), 1080, 1080) == 40
    assert font_size(Overlay("x", 0, 1, size=40), 540, 1080) == 20
    assert font_size(Overlay("x", 0, 1, size=0.1), 720, 1080) == 72
    assert font_size(Overlay("x", 0, 1), 1080, 1080) == 54
    no_box = _options(drawtext_overlay(Overlay("x", 0, 1, box=False), 0, 0, width=64, height=36, timeline_height=36,
                                       font=font_path()))  # fmt: skip
    assert no_box["box"] == "0" and "boxcolor" not in no_box


def test_every_drawtext_option_is_probed_and_a_build_without_drawtext_is_refused_by_name() -> None:
    f = drawtext_overlay(Overlay("x", 0, 1), 0, 0, width=64, height=36, timeline_height=36, font=font_path())
    # enable is the timeline option every filter with timeline support has (not listed by ffmpeg -h filter=...)
    assert set(_options(f)) - {"enable"} <= set(BURN_IN_FILTER_OPTIONS["drawtext"])
    caps = Capabilities("7.0.2", (7, 0), filters=frozenset({"scale"}))
    tool = FFmpeg("/opt/ffmpeg-7.0.2", Origin.ENV, "FFMPEG_PATH", caps)
    with pytest.raises(FFmpegBuildError) as info:
        require_overlays(tool)
    msg = info.value.message
    assert "/opt/ffmpeg-7.0.2 (FFmpeg 7.0.2)" in msg and "lacks filter drawtext" in msg and "FFMPEG_PATH" in msg


# --------------------------------------------------------------------------- plan and graphs

PLAIN = Timeline("p", RATE, (clip("a"), clip("b")))


def test_a_body_is_rendered_only_around_its_overlay_on_keyframes() -> None:
    """GOP 12: an overlay over record frames 15-29 of a renders a's frames 12-36, the rest of a and all of b stay
    stream-copied bodies; the draws count from the section's first frame."""
    o = Overlay("x", 15, 15, clip=0, field="sequence[0].overlays[0]")
    gop = [list(range(0, 48, 12))] * 2
    plan = add_overlays(plan_cut(PLAIN, gop), [o], gop)
    assert plan.items == [
        Part(0, 0, 12),
        Section("overlay", 0, Part(0, 12, 36), draws=(Draw(o, 3, 17),)),
        Part(0, 36, 48),
        Part(1, 0, 48),
    ]
    # all intra: exactly the overlay's frames
    intra = [list(range(48))] * 2
    assert add_overlays(plan_cut(PLAIN, intra), [o], intra).items[1] == Section("overlay", 0, Part(0, 15, 30),
                                                                                draws=(Draw(o, 0, 14),))  # fmt: skip
    # over a cut: one section in each body, each drawing its part of the overlay; overlapping overlays merge
    wide = Overlay("y", 40, 16)
    near = Overlay("z", 44, 2)
    items = add_overlays(plan_cut(PLAIN, gop), [wide, near], gop).items
    assert items == [
        Part(0, 0, 36),
        Section("overlay", 0, Part(0, 36, 48), draws=(Draw(wide, 4, 11), Draw(near, 8, 9))),
        Section("overlay", 0, Part(1, 0, 12), draws=(Draw(wide, 0, 7),)),
        Part(1, 12, 48),
    ]
    assert sum(i.length if isinstance(i, Section) else i.frames for i in items) == PLAIN.total_frames
    assert add_overlays(plan_cut(PLAIN, gop), [], gop).items == plan_cut(PLAIN, gop).items


def test_an_overlay_over_a_transition_is_drawn_in_its_section() -> None:
    cut = Timeline("p", RATE, (clip("a"), clip("b", 40, transition_in=("dissolve", 12))))
    o = Overlay("x", 30, 20)  # record 30-49: a's body from its keyframe at 24, the dissolve's section (36-48 + ...)
    gop = [list(range(0, 48, 12)), list(range(0, 40, 12))]
    items = add_overlays(plan_cut(cut, gop), [o], gop).items
    assert items == [
        Part(0, 0, 24),
        Section("overlay", 0, Part(0, 24, 36), draws=(Draw(o, 6, 11),)),
        Section("dissolve", 12, Part(0, 36, 48), Part(1, 0, 12), draws=(Draw(o, 0, 11),)),
        Section("overlay", 0, Part(1, 12, 24), draws=(Draw(o, 0, 1),)),
        Part(1, 24, 40),
    ]


def test_a_section_graph_draws_its_overlays_after_the_conform_chain_or_the_transition() -> None:
    target = cmd.Target(64, 36, RATE, 0, CUT_VIDEO)
    a = Source(Path("/r/a.mov"), cmd.PictureSource(), 12, 24)
    b = Source(Path("/r/b.mov"), cmd.PictureSource(), 0, 12)
    o = Overlay("Jane: it's", 15, 15, position="bottom", size=0.25)
    chain_a = cmd.picture_filter(cmd.Target(64, 36, RATE, 24, CUT_VIDEO, start=12), cmd.PictureSource())
    draw = drawtext_overlay(o, 3, 17, width=64, height=36, timeline_height=36, font=font_path())
    graph = section_graph(Section("overlay", 0, Part(0, 12, 36), draws=(Draw(o, 3, 17),)), [a], target)
    assert graph == f"[0:V:0]{chain_a}[s0];[s0]{draw}[v]"
    chain_b = cmd.picture_filter(cmd.Target(64, 36, RATE, 12, CUT_VIDEO), cmd.PictureSource())
    dissolve = Section("dissolve", 12, Part(0, 24, 36), Part(1, 0, 12), draws=(Draw(o, 0, 5),))
    draw2 = drawtext_overlay(o, 0, 5, width=64, height=36, timeline_height=36, font=font_path())
    assert section_graph(dissolve, [a, b], target) == (
        f"[0:V:0]{chain_a}[s0];[1:V:0]{chain_b}[s1];"
        f"[s0][s1]xfade=transition=fade:duration=0.500000:offset=0.000000,{draw2}[v]"
    )


# --------------------------------------------------------------------------- interchange


@pytest.mark.parametrize("style", ["resolve", "avid", "premiere"])
def test_the_edl_carries_each_overlay_on_its_event_and_reads_back(style: str) -> None:
    entry = Overlay("Jane Doe\nDirector: 'ok'", 50, 20, clip=1, field="sequence[1].overlays[0]")
    cut_wide = Overlay("DRAFT", 30, 10, position="top")
    for tl in (
        Timeline("p", RATE, (clip("a"), clip("b")), overlays=(entry, cut_wide)),
        Timeline("p", RATE, (clip("a"), clip("b", transition_in=("dissolve", 12))), overlays=(entry, cut_wide)),
    ):
        text = write_cmx3600(tl, style=style)
        events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
        remarks = [[s.text for s in ev.statements if type(s).__name__ == "StmtRemark" and "OVERLAY" in s.text]
                   for ev in events]  # fmt: skip
        if style == "premiere":  # only the remarks Premiere accepts
            assert not any(remarks)
        else:  # each on its own event: DRAFT's on a's (it starts there), Jane's on b's; record in and out (exclusive)
            assert [r for r in remarks if r] == [["OVERLAY: DRAFT (REC 01:00:01:06 01:00:01:16, TOP)"],
                                                 ["OVERLAY: Jane Doe Director: 'ok' (REC 01:00:02:02 01:00:02:22, "
                                                  "LOWER_THIRD)"]]  # fmt: skip
            owners = [i for i, r in enumerate(remarks) if r]
            assert [events[i].edits[-1].source[:1] for i in owners] == ["A", "B"]
        read = otio.adapters.read_from_string(text, "cmx_3600", rate=24)
        assert read.tracks[0].duration().value == tl.total_frames


def test_otio_marks_each_overlay_on_the_picture_track() -> None:
    entry = Overlay("Jane Doe\nDirector", 50, 20, clip=1, field="sequence[1].overlays[0]", size=40)
    tl = Timeline("p", RATE, (clip("a"), clip("b")), overlays=(entry,))
    result = to_otio(tl)
    video, audio = result.tracks
    assert not list(audio.markers)
    (marker,) = video.markers
    assert marker.name == "Jane Doe"
    assert (marker.marked_range.start_time.value, marker.marked_range.duration.value) == (50, 20)
    meta = marker.metadata["vidasm"]["overlay"]
    assert (meta["text"], meta["shot"], meta["field"], meta["size"]) == (
        "Jane Doe\nDirector",
        "b",
        "sequence[1].overlays[0]",
        40,
    )
    again = otio.adapters.read_from_string(otio.adapters.write_to_string(result, "otio_json"), "otio_json")
    assert again.tracks[0].markers[0].metadata["vidasm"]["overlay"]["text"] == "Jane Doe\nDirector"


# --------------------------------------------------------------------------- versions


def test_overlays_enter_the_edit_spec_and_the_timeline_only_when_there_are_any(tmp_path: Path) -> None:
    """No overlay: the edit spec and the timeline keep their versions (nothing rebuilds on upgrade); an overlay is
    an input of the timeline (and so of the cut, EDL, OTIO and deliveries), never of a shot's picture, audio or
    segments."""
    plain = project(tmp_path, {"sequence": [{"shot": "a"}, {"shot": "b"}]})
    with_text = project(tmp_path, {"sequence": [{"shot": "a"}, {"shot": "b", "overlays": [{"text": "Jane"}]}],
                                   "overlays": [{"text": "DRAFT", "at": 0}]})  # fmt: skip
    f0, f1 = v.spec_facets(plain), v.spec_facets(with_text)
    assert "overlays" not in f0[v.Asset.EDIT_SPEC] and "overlays per entry" not in f0[v.Asset.EDIT_SPEC]
    assert f1[v.Asset.EDIT_SPEC]["overlays per entry"][0][0] == 1
    assert f1[v.Asset.EDIT_SPEC]["overlays"][0]["text"] == "DRAFT"
    assert {k: x for k, x in f1[v.Asset.EDIT_SPEC].items() if not k.startswith("overlays")} == f0[v.Asset.EDIT_SPEC]
    assert f1[v.Asset.PICTURE_SPEC] == f0[v.Asset.PICTURE_SPEC] and f1[v.Asset.AUDIO_SPEC] == f0[v.Asset.AUDIO_SPEC]
    assert "overlays" not in PLAIN.to_dict()
    tl = Timeline("p", RATE, PLAIN.clips, overlays=(Overlay("Jane", 50, 20, clip=1),))
    assert Timeline.from_json(tl.to_json()) == tl
    assert v.timeline_inputs(tl, Path("/p")).version != v.timeline_inputs(PLAIN, Path("/p")).version
    changed = Timeline("p", RATE, PLAIN.clips, overlays=(Overlay("Jane!", 50, 20, clip=1),))
    was = v.cut_inputs(v.timeline_inputs(tl, Path("/p")).version, {}).to_record()
    assert "the timeline changed" in v.explain(v.cut_inputs(v.timeline_inputs(changed, Path("/p")).version, {}), was)
    assert re.fullmatch(r"[0-9a-f]+", v.timeline_inputs(tl, Path("/p")).version)


def test_burn_ins_of_a_section_start_at_its_first_frame_of_the_shot() -> None:
    """A review section from frame 5 of a shot: the counter shows 6 on its first frame, both timecodes are 5 frames
    on; from frame 0 the chain is the segment's own."""
    from vidasm_assets.media.burnins import BurnIn, burnin_filter

    b = BurnIn("p", "sh010", "v001", RATE, 86400, 86400 + 24)
    assert burnin_filter(b, 640, 360, font_path(), first=0) == burnin_filter(b, 640, 360, font_path())
    chain = burnin_filter(b, 640, 360, font_path(), first=5)
    filters = chain.removeprefix("drawtext=").split(",drawtext=")
    counters = [_options("drawtext=" + f)["text"] for f in filters if "eif" in f]
    assert counters == ["%{eif:n+6:d:4}"]
    assert "timecode='01\\:00\\:01\\:05'" in chain  # SRC: 01:00:01:00 + 5
    assert "timecode='01\\:00\\:00\\:05'" in chain  # REC: 01:00:00:00 + 5


def test_cards_and_overlays_refuse_the_same_control_characters() -> None:
    """One rule for text drawn on the picture (``project.check_text``): a C1 control (NEL) is refused in a card's
    text too, as a tab is; a line break is fine."""
    from pydantic import ValidationError

    for text in ("a\u0085b", "a\tb", "a\x7fb"):
        with pytest.raises(ValidationError, match="a card's text holds a control character"):
            ProjectSpec.model_validate({"sequence": [{"card": text, "seconds": 1}]})
    ProjectSpec.model_validate({"sequence": [{"card": "a\nb", "seconds": 1}]})
