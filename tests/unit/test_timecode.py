"""Source timecodes at their own rate and their relabelling at the record rate (``media/timecode.py``).

Pure and table-driven: every expected label below was worked out by hand from the rule (``HH:MM:SS`` kept,
frames scaled down to the record count; a drop-frame gap goes to the frame before it), and the property
tests check the rule's bound with an independent label-time formula for every pair of rates.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from opentimelineio import opentime

from vidasm_assets.media.errors import InvalidMediaError, SourceTimecodeError, VidasmError
from vidasm_assets.media.probe import MediaInfo, VideoInfo
from vidasm_assets.media.rates import TIMELINE_RATES, Rate
from vidasm_assets.media.timecode import (
    SourceTimecode,
    frame_of,
    is_drop_frame,
    label_of,
    nominal_fps,
    parse_label,
    read_source_timecode,
)
from vidasm_assets.media.timeline import Timeline, TimelineClip

FILM, NTSC_FILM, NTSC_30, NTSC_60 = Rate(24), Rate(24000, 1001), Rate(30000, 1001), Rate(60000, 1001)

# (rate, drop frame) of source timecodes: standard, odd and high rates
COUNTINGS: list[tuple[Rate, bool]] = [
    (Rate(12), False),
    (Rate(15), False),
    (NTSC_FILM, False),
    (FILM, False),
    (Rate(25), False),
    (NTSC_30, True),
    (NTSC_30, False),
    (Rate(30), False),
    (Rate(48), False),
    (Rate(50), False),
    (NTSC_60, True),
    (NTSC_60, False),
    (Rate(60), False),
    (Rate(100), False),
    (Rate(120000, 1001), True),
]


def ref_frame(label: str, nominal: int) -> int:
    """Textbook SMPTE frame number (independent of the module): drop frame skips nominal/15 labels a minute,
    except every tenth minute."""
    hh, mm, ss, ff = (int(x) for x in re.split(r"[:;]", label))
    minutes = hh * 60 + mm
    frame = (minutes * 60 + ss) * nominal + ff
    if ";" in label:
        frame -= nominal // 15 * (minutes - minutes // 10)
    return frame


def label_time(label: str, nominal: int) -> Fraction:
    """The time a label names when read as a clock: HH:MM:SS plus the frames as a fraction of a second."""
    hh, mm, ss, ff = (int(x) for x in re.split(r"[:;]", label))
    return Fraction(hh * 3600 + mm * 60 + ss) + Fraction(ff, nominal)


def sample_labels(nominal: int, drop: bool) -> list[str]:
    """Boundary labels (minute 1 with its dropped labels, minute 10, the hour, the day's end) and a spread."""
    last = nominal - 1
    first_of_minute = nominal // 15 if drop else 0
    sep = ";" if drop else ":"
    labels = [
        f"00:00:00{sep}00",
        f"00:00:59{sep}{last:02d}",
        f"00:01:00{sep}{first_of_minute:02d}",
        f"00:09:59{sep}{last:02d}",
        f"00:10:00{sep}00",
        f"00:59:59{sep}{last:02d}",
        f"01:00:00{sep}00",
        f"10:00:00{sep}{last:02d}",
        f"23:59:59{sep}{last:02d}",
    ]
    day = frame_of(23, 59, 59, last, nominal, drop) + 1
    labels += [label_of(n * 7919 * 104729 % day, nominal, drop) for n in range(1, 60)]
    return labels


# --------------------------------------------------------------------------- labels at their own rate


@pytest.mark.parametrize(("rate", "drop"), COUNTINGS, ids=lambda v: str(v))
def test_frame_numbers_match_the_textbook_formula_and_round_trip(rate: Rate, drop: bool) -> None:
    nominal = nominal_fps(rate)
    for label in sample_labels(nominal, drop):
        frame = ref_frame(label, nominal)
        assert frame_of(*parse_label(label)[:4], nominal, drop) == frame
        assert label_of(frame, nominal, drop) == label
        assert SourceTimecode.parse(label, rate).frame == frame


@pytest.mark.parametrize("rate", TIMELINE_RATES, ids=str)
def test_labels_agree_with_opentimelineio_at_timeline_rates(rate: Rate) -> None:
    fps = rate.num / rate.den
    for label in sample_labels(rate.nominal, is_drop_frame(rate)):
        frame = ref_frame(label, rate.nominal)
        assert opentime.to_timecode(opentime.RationalTime(frame, fps), fps, is_drop_frame(rate)) == label


def test_nominal_rate_rounds_half_up_like_ffmpeg() -> None:
    rates = [NTSC_FILM, NTSC_30, NTSC_60, Rate(12), Rate(15), Rate(25, 2), Rate(2997, 100), Rate(120000, 1001)]
    assert [nominal_fps(r) for r in rates] == [24, 30, 60, 12, 15, 13, 30, 120]


@pytest.mark.parametrize(
    ("text", "rate", "reason"),
    [
        ("01:00:00:25", Rate(25), "frames 00-24"),
        ("01:00:00:15", Rate(15), "frames 00-14"),
        ("01:00:00;00", Rate(25), "drop frame.*does not exist at 25"),
        ("01:00:00;00", NTSC_FILM, "drop frame.*does not exist at 23.976"),
        ("00:01:00;00", NTSC_30, "drop frame skips frames 00-01"),
        ("00:01:00;03", NTSC_60, "drop frame skips frames 00-03"),
        ("24:00:00:00", Rate(24), "hours 00-23"),
        ("00:60:00:00", Rate(24), "minutes and seconds 00-59"),
        ("1:00:00:00", Rate(24), "HH:MM:SS:FF"),
        ("01:00:00", Rate(24), "HH:MM:SS:FF"),
        ("-01:00:00:00", Rate(24), "HH:MM:SS:FF"),
        ("tomorrow", Rate(24), "HH:MM:SS:FF"),
        ("", Rate(24), "HH:MM:SS:FF"),
    ],
)
def test_labels_that_do_not_exist_at_their_rate_are_refused(text: str, rate: Rate, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        SourceTimecode.parse(text, rate)


def test_drop_frame_is_the_semicolon_wherever_it_is() -> None:
    assert SourceTimecode.parse("01;00;00;00", NTSC_30) == SourceTimecode("01:00:00;00", NTSC_30, True)
    assert SourceTimecode.parse("01:00:00:00", NTSC_30) == SourceTimecode("01:00:00:00", NTSC_30, False)
    assert SourceTimecode.parse(" 10:00:00:24 ", Rate(25)).label == "10:00:00:24"


# --------------------------------------------------------------------------- relabelling at the record rate


@pytest.mark.parametrize(
    ("label", "rate", "record", "expected"),
    [
        # the case's renders (shared/cases/09): HH:MM:SS kept, frames scaled down
        ("01:00:00;00", NTSC_30, NTSC_FILM, "01:00:00:00"),
        ("10:00:00:24", Rate(25), NTSC_FILM, "10:00:00:23"),  # 24 * 24 / 25 = 23.04
        ("02:00:00:00", NTSC_FILM, NTSC_FILM, "02:00:00:00"),
        ("00:59:59:49", Rate(50), NTSC_FILM, "00:59:59:23"),  # 49 * 24 / 50 = 23.52
        ("10:00:00:24", Rate(25), NTSC_30, "10:00:00;28"),  # 24 * 30 / 25 = 28.8
        ("01:00:00:00", NTSC_30, NTSC_30, "01:00:00;00"),  # NDF 29.97 in a drop-frame timeline: same label
        # other pairs, frames worked out by hand
        ("00:00:00:29", Rate(30), FILM, "00:00:00:23"),  # 29 * 24 / 30 = 23.2
        ("00:00:00:23", FILM, Rate(30), "00:00:00:28"),  # 23 * 30 / 24 = 28.75
        ("00:00:00:23", NTSC_FILM, Rate(25), "00:00:00:23"),  # 23 * 25 / 24 = 23.96
        ("00:00:00:01", Rate(25), FILM, "00:00:00:00"),  # 24 / 25 of a frame in: still frame 0
        ("01:00:00:11", Rate(12), FILM, "01:00:00:22"),
        ("01:00:00:14", Rate(15), NTSC_FILM, "01:00:00:22"),  # 14 * 24 / 15 = 22.4
        ("01:00:00:14", Rate(15), NTSC_30, "01:00:00;28"),
        ("01:00:00:14", Rate(15), Rate(50), "01:00:00:46"),  # 14 * 50 / 15 = 46.67
        ("23:59:59:59", Rate(60), Rate(25), "23:59:59:24"),
        ("23:59:59;59", NTSC_60, NTSC_30, "23:59:59;29"),
        ("00:01:00;04", NTSC_60, NTSC_30, "00:01:00;02"),
        ("00:01:00;05", NTSC_60, NTSC_30, "00:01:00;02"),
        ("00:01:00;06", NTSC_60, NTSC_30, "00:01:00;03"),
        ("00:01:00;02", NTSC_30, NTSC_60, "00:01:00;04"),
        ("00:10:00;00", NTSC_30, Rate(25), "00:10:00:00"),
        ("10:00:00;00", NTSC_30, Rate(25), "10:00:00:00"),
        ("00:59:59:99", Rate(100), Rate(50), "00:59:59:49"),
        ("05:06:07;119", Rate(120000, 1001), NTSC_60, "05:06:07;59"),
        # a label drop frame skips: the frame before the gap (the one whose label time span holds it)
        ("00:01:00:00", Rate(25), NTSC_30, "00:00:59;29"),
        ("00:01:00:01", Rate(25), NTSC_30, "00:00:59;29"),  # 1 * 30 / 25 = 1.2: still in the gap
        ("00:01:00:02", Rate(25), NTSC_30, "00:01:00;02"),  # 2.4: the minute's first frame
        ("00:01:00:03", Rate(50), NTSC_60, "00:00:59;59"),  # 3.6 < 4 dropped at 59.94
        ("00:02:00:00", FILM, NTSC_30, "00:01:59;29"),
        ("00:10:00:00", FILM, NTSC_30, "00:10:00;00"),  # minute 10 drops nothing
        ("00:01:00:00", NTSC_30, NTSC_30, "00:00:59;29"),  # NDF 29.97 label drop frame skips
    ],
)
def test_relabel_keeps_hh_mm_ss_and_scales_the_frames(label: str, rate: Rate, record: Rate, expected: str) -> None:
    frame = SourceTimecode.parse(label, rate).to_record_frame(record)
    assert label_of(frame, record.nominal, is_drop_frame(record)) == expected
    assert frame == ref_frame(expected, record.nominal)


@pytest.mark.parametrize("record", TIMELINE_RATES, ids=str)
@pytest.mark.parametrize(("rate", "drop"), COUNTINGS, ids=lambda v: str(v))
def test_relabelled_frame_holds_the_source_label_time(rate: Rate, drop: bool, record: Rate) -> None:
    """The record frame is the one whose label-time span contains the source label's time: at or before it,
    and the next record frame after it. So the same moment within one record frame (more only across a
    drop-frame gap, where no frame has a label)."""
    n, rn, rdrop = nominal_fps(rate), record.nominal, is_drop_frame(record)
    day = frame_of(23, 59, 59, rn - 1, rn, rdrop) + 1
    for label in sample_labels(n, drop):
        source = label_time(label, n)
        frame = SourceTimecode.parse(label, rate).to_record_frame(record)
        got = label_of(frame, rn, rdrop)
        after = label_time(label_of(frame + 1, rn, rdrop), rn) if frame + 1 < day else Fraction(86400)
        assert label_time(got, rn) <= source < after, (label, got)
        if not rdrop:
            assert source - label_time(got, rn) < Fraction(1, rn)


@pytest.mark.parametrize(("rate", "drop"), COUNTINGS, ids=lambda v: str(v))
def test_same_counting_keeps_the_frame_number(rate: Rate, drop: bool) -> None:
    for record in TIMELINE_RATES:
        if record.nominal == nominal_fps(rate) and is_drop_frame(record) == drop:
            for label in sample_labels(nominal_fps(rate), drop):
                tc = SourceTimecode.parse(label, rate)
                assert tc.to_record_frame(record) == tc.frame


def test_media_frames_are_elapsed_time_at_the_own_rate() -> None:
    tc = SourceTimecode("10:00:00:24", Rate(25))
    assert tc.media_frames(24, NTSC_FILM) == Fraction(24 * 25 * 1001, 24000)  # 25.025 frames
    assert tc.media_frames(30, NTSC_30) == Fraction(30 * 25 * 1001, 30000)
    assert SourceTimecode("01:00:00;00", NTSC_30, True).media_frames(24, NTSC_FILM) == 30


# --------------------------------------------------------------------------- reading it from a probe


def _info(timecode: str | None, rate: Fraction | None, tmcd: Fraction | None = None) -> MediaInfo:
    video = VideoInfo(
        "h264", 64, 36, "yuv420p", rate, 25, Fraction(1), Fraction(1), None, "bt709", "bt709", "bt709", "tv",
        "progressive", Fraction(0),
    )  # fmt: skip
    return MediaInfo("/r/sh010/sh010_v001.mov", "mov,mp4", 1000, Fraction(1), video, [], timecode, Fraction(0), tmcd)


def test_read_uses_the_timecode_track_rate_then_the_picture_rate() -> None:
    assert read_source_timecode(_info(None, Fraction(25))) is None
    assert read_source_timecode(_info("  ", Fraction(25))) is None
    assert read_source_timecode(_info("10:00:00:24", Fraction(25))) == SourceTimecode("10:00:00:24", Rate(25))
    # a VFR picture (average 19.66 fps) with a 30 fps timecode track counts at 30
    vfr = read_source_timecode(_info("01:00:00:29", Fraction(570, 29), Fraction(30)))
    assert vfr == SourceTimecode("01:00:00:29", Rate(30))
    # an NTSC-ish average snaps to its standard rate; the label says drop frame
    assert read_source_timecode(_info("01:00:00;00", Fraction(2997, 100))) == SourceTimecode(
        "01:00:00;00", NTSC_30, True
    )
    assert read_source_timecode(_info("01:00:00:14", Fraction(15))) == SourceTimecode("01:00:00:14", Rate(15))


@pytest.mark.parametrize(
    ("tag", "rate", "reason"),
    [
        ("01:00:00:30", Fraction(25), "frames 00-24"),
        ("01:00:00;00", Fraction(25), "drop frame"),
        ("garbage", Fraction(25), "HH:MM:SS:FF"),
        ("01:00:00:00", None, "no frame rate"),
    ],
)
def test_unreadable_timecode_is_a_typed_error_naming_the_file(tag: str, rate: Fraction | None, reason: str) -> None:
    with pytest.raises(SourceTimecodeError, match=reason) as caught:
        read_source_timecode(_info(tag, rate))
    assert isinstance(caught.value, InvalidMediaError) and isinstance(caught.value, VidasmError)
    assert caught.value.path == "/r/sh010/sh010_v001.mov"
    assert "/r/sh010/sh010_v001.mov" in str(caught.value) and repr(tag) in str(caught.value)


# --------------------------------------------------------------------------- the timeline model keeps both


def test_timeline_json_keeps_the_own_timecode_and_only_when_set() -> None:
    tc = SourceTimecode("01:00:00;00", NTSC_30, True)
    start = tc.to_record_frame(NTSC_FILM)
    clips = (
        TimelineClip("a010", "v001", "a010_v001", "/r/a010_v001.mov", 24, start, source_timecode=tc),
        TimelineClip("a020", "v001", "a020_v001", "/r/a020_v001.mov", 24, source_timecode_error="unreadable"),
        TimelineClip("a030", "v001", "a030_v001", "/r/a030_v001.mov", 24),
    )  # fmt: skip
    timeline = Timeline("p", NTSC_FILM, clips)
    d = timeline.to_dict()
    assert d["clips"][0]["source_timecode"] == {"label": "01:00:00;00", "rate": [30000, 1001], "drop_frame": True}
    assert d["clips"][0]["source_start_frame"] == 86400
    assert "source_timecode" not in d["clips"][1] and d["clips"][1]["source_timecode_error"] == "unreadable"
    assert not {"source_timecode", "source_timecode_error", "placeholder"} & set(d["clips"][2])
    assert Timeline.from_json(timeline.to_json()) == timeline
