"""EDL / OTIO / FCP XML writers, checked by two independent EDL readers and committed golden files.

Every EDL written here is parsed by pycmx and by OTIO's cmx_3600 reader, and its timecodes are converted
back to frames with ``ref_frames`` below, a textbook SMPTE formula kept independent of OTIO (which the
writer uses). Regenerate the goldens with ``VIDASM_UPDATE_GOLDEN=1 pytest tests/test_editorial.py`` and
review the diff by hand.
"""

from __future__ import annotations

import io
import itertools
import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import opentimelineio as otio
import pycmx
import pytest

from vidasm_assets.media.editorial import (
    EDL_STYLES,
    EDL_TRACK,
    is_drop_frame,
    reel_names,
    timecode_to_frames,
    to_otio,
    write_cmx3600,
    write_fcp_xml,
    write_otio,
)
from vidasm_assets.media.rates import TIMELINE_RATES, Rate
from vidasm_assets.media.timecode import SourceTimecode
from vidasm_assets.media.timeline import Timeline, TimelineClip

GOLDEN_DIR = Path(__file__).parent.parent / "golden" / "edl"
UPDATE_GOLDEN = os.environ.get("VIDASM_UPDATE_GOLDEN") == "1"
NTSC_30, NTSC_60, FILM = Rate(30000, 1001), Rate(60000, 1001), Rate(24)
STORY_PREFIXES = ("* TAKE:", "* SCENE:", "* BEAT:", "* NOTES:")


def ref_frames(tc: str, rate: Rate) -> int:
    """Frame number of a SMPTE label: drop frame skips 2 (4 at 59.94) labels a minute, except every 10th."""
    hh, mm, ss, ff = (int(x) for x in re.split(r"[:;]", tc))
    minutes = hh * 60 + mm
    frames = (minutes * 60 + ss) * rate.nominal + ff
    if ";" in tc:
        frames -= rate.nominal // 15 * (minutes - minutes // 10)
    return frames


def golden_timeline(rate: Rate) -> Timeline:
    """Seven cuts placed on the awkward labels: minute 1 (dropped labels), minute 10 (none), the hour."""
    n, sep = rate.nominal, ";" if is_drop_frame(rate) else ":"

    def at(label: str) -> int:
        return ref_frames(label.replace("|", sep), rate)

    cuts = [
        at(f"00:00:59|{n - 10:02d}"),
        at(f"00:00:59|{n - 1:02d}") + 1,  # cut on the first label of minute 1 (00:01:00;02 at 29.97)
        at(f"00:09:59|{n - 5:02d}"),
        at(f"00:09:59|{n - 1:02d}") + 1,  # cut on 00:10:00;00, which is not dropped
        at(f"00:10:59|{n - 1:02d}") + 4,  # a minute-long clip over minute 10
        at(f"00:59:59|{n - 6:02d}"),
        at("01:00:00|05"),  # an 11-frame clip across the hour
    ]
    cuts.append(cuts[-1] + 2 * n)
    frames = [b - a for a, b in itertools.pairwise(cuts)]
    one_hour = at("01:00:00|00")
    specs = [
        # shot, take, file, source start, story
        ("sh010", "v003", "/renders/sh010/sh010_v003.mp4", 0, {}),
        (
            "sh020",
            "take02",
            "/renders/sh020/sh020_take02.mov",
            at(f"00:00:59|{n - 2:02d}"),
            {"scene": "2 - INT. KITCHEN", "beat": "the reveal", "notes": "hold on the cup\r\nthen cut"},
        ),
        ("sq010_sh0040", "v012", "/renders/sq010_sh0040/sq010_sh0040_v012.mov", one_hour, {"scene": "3"}),
        ("sh-030", "v001", "/renders/sh-030/sh-030_v001.mkv", at(f"00:59:59|{n - 3:02d}"), {}),
        ("sh010", "v003", "/renders/alt/sh010_v003.mov", 0, {"notes": "same take, other file"}),
        ("sh050", "take1", "relative/sh050_take1.mp4", 12345, {"beat": "out"}),
        ("sh010", "v003", "/renders/sh010/sh010_v003.mp4", 2 * n, {}),
    ]
    clips = tuple(
        TimelineClip(
            shot=shot,
            take=take,
            clip_name=Path(path).stem,
            source_path=path,
            frames=count,
            source_start_frame=start,
            **story,
        )
        for (shot, take, path, start, story), count in zip(specs, frames, strict=True)
    )
    return Timeline(f"golden {rate}", rate, clips, record_start=f"00:00:59:{n - 10:02d}")


def simple_timeline(
    rate: Rate = FILM, frames: tuple[int, ...] = (48, 30, 71), record_start: str = "01:00:00:00"
) -> Timeline:
    clips = tuple(
        TimelineClip(
            shot=f"sh{(i + 1) * 10:03d}",
            take="v001",
            clip_name=f"sh{(i + 1) * 10:03d}_v001",
            source_path=f"/r/sh{(i + 1) * 10:03d}_v001.mp4",
            frames=f,
            scene="1",
        )
        for i, f in enumerate(frames)
    )
    return Timeline("simple", rate, clips, record_start=record_start)


# --------------------------------------------------------------------------- checks shared by all tests


def check_edl(text: str, timeline: Timeline) -> None:
    """Parse ``text`` with pycmx and with OTIO's reader; both must see exactly the timeline's cut."""
    rate, clips = timeline.rate, timeline.clips
    drop = is_drop_frame(rate)
    record_start = ref_frames(timeline.record_start.replace(":", ";") if drop else timeline.record_start, rate)
    record_ins = [record_start + sum(c.frames for c in clips[:i]) for i in range(len(clips))]
    assert text.endswith("\n") and "\r" not in text
    assert text.splitlines()[1] == ("FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME")

    # pycmx
    edl = pycmx.parse_cmx3600(io.StringIO(text))
    assert edl.title == timeline.project
    assert list(edl.unrecognized_statements) == []
    assert edl.format == "3600"
    events = list(edl.events)
    assert len(events) == len(clips)
    previous_out = None
    total = 0
    for number, (event, clip, record_in) in enumerate(zip(events, clips, record_ins, strict=True), start=1):
        assert event.number == number
        (edit,) = event.edits
        assert edit.clip_name == clip.clip_name
        assert edit.source_file == Path(clip.source_path).name
        assert edit.transition.cut
        assert edit.channels.video and edit.channels.a1 and edit.channels.a2
        assert re.fullmatch(r"[A-Z0-9_]{1,8}", edit.source)
        for tc in (edit.source_in, edit.source_out, edit.record_in, edit.record_out):
            assert (";" in tc) == drop, tc
        assert ref_frames(edit.source_in, rate) == clip.source_start_frame
        assert ref_frames(edit.source_out, rate) - ref_frames(edit.source_in, rate) == clip.frames
        assert ref_frames(edit.record_in, rate) == record_in
        assert ref_frames(edit.record_out, rate) - record_in == clip.frames
        if previous_out is not None:
            assert edit.record_in == previous_out  # contiguous
        previous_out = edit.record_out
        total += ref_frames(edit.record_out, rate) - ref_frames(edit.record_in, rate)
    assert total == timeline.total_frames

    # OpenTimelineIO's strict reader (it rejects source/record duration mismatches and overlaps)
    read = otio.adapters.read_from_string(text, "cmx_3600", rate=rate.num / rate.den)
    assert read.name == timeline.project
    assert [t.name for t in read.tracks] == ["V", "A1", "A2"]
    for track in read.tracks:
        items = list(track)
        assert all(isinstance(item, otio.schema.Clip) for item in items)  # no gaps: contiguous
        assert [c.name for c in items] == [c.clip_name for c in clips]
        assert [c.duration().value for c in items] == [c.frames for c in clips]
        assert [c.source_range.start_time.value for c in items] == [c.source_start_frame for c in clips]
        first_record = -track.source_range.start_time.value if track.source_range else 0
        assert first_record == record_start
        assert [first_record + c.range_in_parent().start_time.value for c in items] == record_ins
        assert track.duration().value == timeline.total_frames


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.exists(), f"missing golden {path}; generate it with VIDASM_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the committed golden file"


def event_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1].isdigit()]


# --------------------------------------------------------------------------- EDL


@pytest.mark.parametrize("rate", TIMELINE_RATES, ids=str)
def test_golden_edl(rate: Rate) -> None:
    timeline = golden_timeline(rate)
    text = write_cmx3600(timeline)
    check_edl(text, timeline)
    assert_golden(f"{rate}.edl", text)


@pytest.mark.parametrize("style", ["premiere", "avid"])
def test_golden_edl_styles(style: str) -> None:
    timeline = golden_timeline(NTSC_30)
    text = write_cmx3600(timeline, style=style)
    check_edl(text, timeline)
    assert_golden(f"29.97.{style}.edl", text)


@pytest.mark.parametrize("style", EDL_STYLES)
@pytest.mark.parametrize("rate", TIMELINE_RATES, ids=str)
def test_every_style_and_rate_parses(rate: Rate, style: str) -> None:
    timeline = golden_timeline(rate)
    check_edl(write_cmx3600(timeline, style=style), timeline)


@pytest.mark.parametrize(
    ("rate", "frames", "records"),
    [
        (  # frame counts worked out by hand: 29.97 drops 2 labels a minute, 59.94 drops 4
            NTSC_30,
            [10, 16177, 5, 1803, 88101, 11, 60],
            [
                "00:00:59;20 00:01:00;02",
                "00:01:00;02 00:09:59;25",
                "00:09:59;25 00:10:00;00",
                "00:10:00;00 00:11:00;05",
                "00:11:00;05 00:59:59;24",
                "00:59:59;24 01:00:00;05",
                "01:00:00;05 01:00:02;05",
            ],
        ),
        (
            NTSC_60,
            [10, 32359, 5, 3603, 176211, 11, 120],
            [
                "00:00:59;50 00:01:00;04",
                "00:01:00;04 00:09:59;55",
                "00:09:59;55 00:10:00;00",
                "00:10:00;00 00:11:00;07",
                "00:11:00;07 00:59:59;54",
                "00:59:59;54 01:00:00;05",
                "01:00:00;05 01:00:02;05",
            ],
        ),
        (
            Rate(24000, 1001),  # 23.976 counts every label, like 24
            [10, 12955, 5, 1443, 70551, 11, 48],
            [
                "00:00:59:14 00:01:00:00",
                "00:01:00:00 00:09:59:19",
                "00:09:59:19 00:10:00:00",
                "00:10:00:00 00:11:00:03",
                "00:11:00:03 00:59:59:18",
                "00:59:59:18 01:00:00:05",
                "01:00:00:05 01:00:02:05",
            ],
        ),
    ],
    ids=str,
)
def test_boundary_record_timecodes(rate: Rate, frames: list[int], records: list[str]) -> None:
    timeline = golden_timeline(rate)
    assert [c.frames for c in timeline.clips] == frames
    lines = event_lines(write_cmx3600(timeline))
    assert [line[-23:] for line in lines] == records


def test_drop_frame_source_timecode_crosses_a_dropped_minute() -> None:
    clip = TimelineClip("sh010", "v001", "sh010_v001", "/r/sh010_v001.mp4", frames=3, source_start_frame=1799)
    text = write_cmx3600(Timeline("p", NTSC_30, (clip,)))
    assert "00:00:59;29 00:01:00;04 01:00:00;00 01:00:00;03" in text


def test_default_record_start_is_one_hour_at_every_rate() -> None:
    for rate in TIMELINE_RATES:
        timeline = simple_timeline(rate)
        text = write_cmx3600(timeline)
        check_edl(text, timeline)
        sep = ";" if is_drop_frame(rate) else ":"
        assert event_lines(text)[0][-23:-12] == f"01:00:00{sep}00"


def test_fcm_and_timecode_separator_per_rate() -> None:
    drop = {str(r) for r in TIMELINE_RATES if is_drop_frame(r)}
    assert drop == {"29.97", "59.94"}
    text = write_cmx3600(simple_timeline(Rate(24000, 1001)))
    assert "FCM: NON-DROP FRAME" in text and ";" not in text


def test_event_line_layout() -> None:
    text = write_cmx3600(simple_timeline())
    assert text.splitlines()[:3] == [
        "TITLE: simple",
        "FCM: NON-DROP FRAME",
        "001  SH010_V1 AA/V  C        00:00:00:00 00:00:02:00 01:00:00:00 01:00:02:00",
    ]
    assert EDL_TRACK == "AA/V"


def test_comments_carry_clip_take_and_story_on_one_line() -> None:
    timeline = golden_timeline(Rate(25))
    text = write_cmx3600(timeline)
    block = text.split("\n002  ")[1].split("\n003  ")[0].splitlines()[1:]
    assert block == [
        "* FROM CLIP NAME: sh020_take02",
        "* SOURCE FILE: sh020_take02.mov",
        "* TAKE: take02",
        "* SCENE: 2 - INT. KITCHEN",
        "* BEAT: the reveal",
        "* NOTES: hold on the cup then cut",
    ]


def test_styles_differ_in_comments_and_reels() -> None:
    timeline = golden_timeline(NTSC_30)
    resolve = write_cmx3600(timeline)
    premiere = write_cmx3600(timeline, style="premiere")
    avid = write_cmx3600(timeline, style="avid")
    assert all(any(line.startswith(p) for line in resolve.splitlines()) for p in STORY_PREFIXES)
    assert not any(line.startswith(STORY_PREFIXES) for line in premiere.splitlines())
    assert {line.split(":")[0] for line in premiere.splitlines() if line.startswith("*")} == {
        "* FROM CLIP NAME",
        "* SOURCE FILE",
    }
    assert sum(line.startswith(STORY_PREFIXES) for line in avid.splitlines()) == sum(
        line.startswith(STORY_PREFIXES) for line in resolve.splitlines()
    )
    avid_reels = [line.split()[1] for line in event_lines(avid)]
    assert all(re.fullmatch(r"[A-Z0-9]{1,8}", r) for r in avid_reels)
    assert any("_" in line.split()[1] for line in event_lines(resolve))


@pytest.mark.parametrize("style", EDL_STYLES)
def test_reel_names_unique_per_source(style: str) -> None:
    timeline = golden_timeline(Rate(24))
    reels = reel_names(timeline, style)
    assert len(reels) == len({c.source_path for c in timeline.clips})
    assert len(set(reels.values())) == len(reels)
    pattern = r"[A-Z0-9]{1,8}" if style == "avid" else r"[A-Z0-9_]{1,8}"
    assert all(re.fullmatch(pattern, r) for r in reels.values())
    # the same source keeps its reel; the same shot/take in another file gets a counter
    assert reels == reel_names(timeline, style)
    # a long shot id keeps its end; the underscore joiner is dropped when it does not fit
    expected = {
        "resolve": ["SH010_V3", "SH020_T2", "H0040V12", "SH030_V1", "SH010_2", "SH050_T1"],
        "premiere": ["SH010_V3", "SH020_T2", "H0040V12", "SH030_V1", "SH010_2", "SH050_T1"],
        "avid": ["SH010V3", "SH020T2", "H0040V12", "SH030V1", "SH010VX2", "SH050T1"],
    }
    assert list(reels.values()) == expected[style]


def test_reel_names_avoid_reserved_sources_and_stay_short() -> None:
    def clip(shot: str, take: str, path: str) -> TimelineClip:
        return TimelineClip(shot, take, f"{shot}_{take}", path, frames=1)

    clips = (
        clip("bl", "", "/a/bl.mp4"),
        clip("ax", "", "/a/ax.mp4"),
        clip("a_very_long_shot_name_99", "v1234567", "/a/long.mp4"),
        clip("---", "???", "/a/odd.mp4"),
    )
    for style in EDL_STYLES:
        reels = list(reel_names(Timeline("p", Rate(25), clips), style).values())
        assert reels[0] not in {"BL", "AX", "BLACK", "BARS"} and reels[0].startswith("BL")
        assert reels[1].startswith("AX") and reels[1] != "AX"
        assert all(1 <= len(r) <= 8 for r in reels)
        assert len(set(reels)) == len(reels)
        assert reels[3] == "REEL"
        check_edl(write_cmx3600(Timeline("p", Rate(25), clips), style=style), Timeline("p", Rate(25), clips))


def test_many_events_still_parse() -> None:
    timeline = simple_timeline(Rate(25), frames=tuple(range(1, 1003)))
    text = write_cmx3600(timeline)
    assert event_lines(text)[-1].startswith("1002  ")
    check_edl(text, timeline)


# --------------------------------------------------------------------------- validation


def test_unknown_style_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'final_cut'.*resolve, premiere, avid"):
        write_cmx3600(simple_timeline(), style="final_cut")


@pytest.mark.parametrize("frames", [0, -3, 2.5, True])
def test_clip_without_positive_frames_is_rejected(frames: object) -> None:
    clip = TimelineClip("sh010", "v001", "sh010_v001", "/r/a.mp4", frames=frames)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=rf"sh010_v001.*frames.*{re.escape(repr(frames))}"):
        write_cmx3600(Timeline("p", Rate(24), (clip,)))
    with pytest.raises(ValueError, match="frames"):
        to_otio(Timeline("p", Rate(24), (clip,)))


def test_negative_source_start_is_rejected() -> None:
    clip = TimelineClip("sh010", "v001", "sh010_v001", "/r/a.mp4", frames=5, source_start_frame=-1)
    with pytest.raises(ValueError, match=r"source_start_frame.*-1"):
        write_cmx3600(Timeline("p", Rate(24), (clip,)))


@pytest.mark.parametrize(
    ("rate", "record_start", "reason"),
    [
        (NTSC_30, "00:01:00;00", "drop-frame"),  # a dropped label: OTIO alone would read it as 00:00:59;28
        (NTSC_30, "00:02:00:01", "drop-frame"),
        (NTSC_60, "00:01:00;03", "drop-frame"),
        (NTSC_30, "01:00:00:30", "frames beyond 29"),
        (Rate(25), "01:00:00;00", "non-drop"),
        (Rate(25), "24:00:00:00", "hours 00-23"),
        (Rate(25), "00:60:00:00", "minutes"),
        (Rate(24000, 1001), "01:00:00:24", "frames beyond 23"),
        (Rate(24), "1:00:00:00", "HH:MM:SS:FF"),
        (Rate(24), "01:00:00", "HH:MM:SS:FF"),
        (Rate(24), "tomorrow", "HH:MM:SS:FF"),
    ],
)
def test_invalid_record_start_is_rejected(rate: Rate, record_start: str, reason: str) -> None:
    timeline = simple_timeline(rate, record_start=record_start)
    with pytest.raises(ValueError, match=rf"record_start '{re.escape(record_start)}'.*{reason}"):
        write_cmx3600(timeline)
    with pytest.raises(ValueError, match="record_start"):
        to_otio(timeline)


def test_valid_drop_frame_labels_are_accepted() -> None:
    assert timecode_to_frames("00:10:00;00", NTSC_30) == 17982
    assert timecode_to_frames("00:01:00;02", NTSC_30) == 1800
    assert timecode_to_frames("00:01:00:02", NTSC_30) == 1800  # ':' accepted at drop-frame rates
    assert timecode_to_frames("01:00:00;00", NTSC_60) == 215784


def test_timeline_past_24_hours_is_rejected() -> None:
    timeline = simple_timeline(Rate(25), frames=(50,), record_start="23:59:59:00")
    with pytest.raises(ValueError, match=r"50 frames from record_start '23:59:59:00'.*past 23:59:59"):
        write_cmx3600(timeline)
    clip = TimelineClip("sh010", "v001", "sh010_v001", "/r/a.mp4", frames=50, source_start_frame=2159990)
    with pytest.raises(ValueError, match="source_start_frame 2159990"):
        write_cmx3600(Timeline("p", Rate(25), (clip,)))


def test_empty_timeline_and_unsupported_rate_are_rejected() -> None:
    with pytest.raises(ValueError, match="no clips"):
        write_cmx3600(Timeline("empty", Rate(24), ()))
    with pytest.raises(ValueError, match=r"rate.*15.*23\.976"):
        write_cmx3600(simple_timeline(Rate(15)))


# --------------------------------------------------------------------------- OTIO / FCP XML


def test_to_otio_structure() -> None:
    timeline = golden_timeline(NTSC_30)
    result = to_otio(timeline)
    assert result.name == timeline.project
    assert result.global_start_time.value == ref_frames("00:00:59;20", NTSC_30)
    assert result.global_start_time.rate == pytest.approx(30000 / 1001)
    assert list(result.metadata["vidasm"]["rate"]) == [30000, 1001]
    video, audio = result.tracks
    assert (video.kind, audio.kind) == (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio)
    for track in (video, audio):
        for item, clip in zip(track, timeline.clips, strict=True):
            assert item.name == clip.clip_name
            assert item.source_range.start_time.value == clip.source_start_frame
            assert item.source_range.duration.value == clip.frames
            available = item.media_reference.available_range
            assert available.start_time <= item.source_range.start_time
            assert available.end_time_exclusive() >= item.source_range.end_time_exclusive()
            assert dict(item.metadata["vidasm"]) == {
                "shot": clip.shot,
                "take": clip.take,
                "scene": clip.scene,
                "beat": clip.beat,
                "notes": clip.notes,
            }
        assert track.duration().value == timeline.total_frames
    # sh010_v003.mp4 is used twice (frames 0-10 and 60-120): both references span 0-120
    available = {
        (r.start_time.value, r.duration.value) for r in (video[0].available_range(), video[6].available_range())
    }
    assert available == {(0, 120)}
    assert video[0].media_reference.target_url == "file:///renders/sh010/sh010_v003.mp4"
    assert video[5].media_reference.target_url == "relative/sh050_take1.mp4"


@pytest.mark.parametrize("rate", TIMELINE_RATES, ids=str)
def test_otio_file_round_trips(tmp_path: Path, rate: Rate) -> None:
    timeline = golden_timeline(rate)
    out = tmp_path / "cut.otio"
    out.write_text("stale")  # replaced in place
    assert write_otio(timeline, out) == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.otio"]  # no temporary left behind
    read = otio.adapters.read_from_file(str(out))
    assert read.global_start_time == to_otio(timeline).global_start_time
    for track in read.tracks:
        assert [c.name for c in track] == [c.clip_name for c in timeline.clips]
        assert [c.duration().value for c in track] == [c.frames for c in timeline.clips]
        assert sum(c.duration().value for c in track) == timeline.total_frames
        assert track[1].metadata["vidasm"]["notes"] == "hold on the cup\r\nthen cut"


@pytest.mark.parametrize("rate", [Rate(24000, 1001), Rate(25), NTSC_30, NTSC_60], ids=str)
def test_fcp_xml_round_trips(tmp_path: Path, rate: Rate) -> None:
    timeline = golden_timeline(rate)
    out = tmp_path / "cut.xml"
    write_fcp_xml(timeline, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.xml"]
    xml = out.read_text()
    # audio clips are their own clipitems, not back-references to the video ones
    assert xml.count("<clipitem frameBlend") == 2 * len(timeline.clips)
    if is_drop_frame(rate):
        assert "<displayformat>NDF</displayformat>" not in xml
        assert "<string>00:00:59;" in xml
    read = otio.adapters.read_from_file(str(out), adapter_name="fcp_xml")
    assert read.global_start_time.value == to_otio(timeline).global_start_time.value
    kinds = [t.kind for t in read.tracks]
    assert kinds == [otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio]
    for track in read.tracks:
        assert len(track) == len(timeline.clips)
        assert [c.name for c in track] == [c.clip_name for c in timeline.clips]
        assert [c.duration().value for c in track] == [c.frames for c in timeline.clips]
        assert [c.source_range.start_time.value for c in track] == [c.source_start_frame for c in timeline.clips]


@pytest.mark.parametrize("writer", [write_otio, write_fcp_xml])
def test_failed_write_leaves_destination_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: Callable[[Timeline, Path], Path]
) -> None:
    def half_write(obj: object, path: str, **kwargs: object) -> None:
        Path(path).write_text("partial")
        raise OSError("disk full")

    out = tmp_path / "cut"
    out.write_text("previous")
    monkeypatch.setattr(otio.adapters, "write_to_file", half_write)
    with pytest.raises(OSError, match="disk full"):
        writer(simple_timeline(), out)
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut"]


# --------------------------------------------------------------------------- renders timecoded at another rate


def own_rate_timeline() -> Timeline:
    """A 25 fps render (own timecode 10:00:00:24) used twice, 10 record frames apart, in a 23.976 cut."""
    tc = SourceTimecode("10:00:00:24", Rate(25))
    base = tc.to_record_frame(Rate(24000, 1001))  # 10:00:00:23 at 23.976

    def clip(shot: str, start: int, frames: int) -> TimelineClip:
        return TimelineClip(shot, "v001", "a020_v001", "/r/a020_v001.mov", frames, start, source_timecode=tc)

    return Timeline("own", Rate(24000, 1001), (clip("a020", base, 12), clip("a021", base + 10, 14)))


def test_relabelled_source_timecode_in_the_edl_and_its_remark() -> None:
    timeline = own_rate_timeline()
    text = write_cmx3600(timeline)
    check_edl(text, timeline)
    assert [line[-47:-24] for line in event_lines(text)] == ["10:00:00:23 10:00:01:11", "10:00:01:09 10:00:01:23"]
    assert text.count("* SOURCE TIMECODE: 10:00:00:24 AT 25 FPS NON-DROP FRAME") == 2
    assert "SOURCE TIMECODE" not in write_cmx3600(timeline, style="premiere")
    same_rate = Timeline("p", Rate(25), (replace(timeline.clips[0], source_start_frame=900024),))
    assert "SOURCE TIMECODE" not in write_cmx3600(same_rate)  # the EDL carries the render's own label as is


def test_otio_and_fcp_xml_measure_a_reused_render_from_its_own_timecode(tmp_path: Path) -> None:
    timeline = own_rate_timeline()
    video = to_otio(timeline).tracks[0]
    starts = [(c.source_range.start_time.value, c.source_range.start_time.rate) for c in video]
    assert starts == [(900024, 25), (900024 + 10 * 25 * 1001 / 24000, 25)]  # 10 frames at 23.976 by elapsed time
    assert [c.source_range.duration for c in video] == [otio.opentime.RationalTime(f, 24000 / 1001) for f in (12, 14)]
    available = video[0].media_reference.available_range
    assert available == video[1].media_reference.available_range
    assert (available.start_time.value, available.start_time.rate, available.duration.value) == (900024, 25, 26)
    write_fcp_xml(timeline, tmp_path / "cut.xml")
    xml = (tmp_path / "cut.xml").read_text()
    assert re.findall(r"<in>(\d+)</in>\s*<out>(\d+)</out>", xml) == [("0", "12"), ("10", "24")] * 2
    assert xml.count("<string>10:00:00:24</string>") == 1 and xml.count("<frame>900024</frame>") == 1
    assert "<duration>26</duration>" in xml  # 24 record frames are 25.025 frames of the render


def test_a_source_in_before_the_render_or_two_timecodes_for_one_file_are_refused() -> None:
    timeline = own_rate_timeline()
    early = replace(timeline, clips=(replace(timeline.clips[0], source_start_frame=863998),))
    with pytest.raises(ValueError, match=r"source_start_frame 863998 is before.*10:00:00:24 \(10:00:00:23 at 23.976"):
        write_cmx3600(early)
    other = replace(timeline.clips[1], source_timecode=SourceTimecode("10:00:00:23", Rate(25)))
    with pytest.raises(ValueError, match="two start timecodes"):
        to_otio(replace(timeline, clips=(timeline.clips[0], other)))
