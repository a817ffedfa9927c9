"""Review burn-ins as text: the drawtext arguments, their escaping, the timecodes they start from, the font."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vidasm_assets.media import burnins
from vidasm_assets.media.burnins import BurnIn, Layout, burnin_filter, filter_value, font_path, timeline_burn_ins
from vidasm_assets.media.ffmpeg_tool import BURN_IN_FILTER_OPTIONS, FILTER_OPTIONS, Capabilities
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.timeline import Timeline, TimelineClip

WHITESPACE = " \n\t\r"


def get_token(buf: str, term: str) -> tuple[str, str]:
    """FFmpeg's ``av_get_token`` (libavutil/avstring.c), which both the filtergraph parser (``term`` ``[],;``) and
    the option parser (``term`` ``:``) read values with: the token and the rest of ``buf``."""
    p = 0
    while p < len(buf) and buf[p] in WHITESPACE:
        p += 1
    out: list[str] = []
    end = 0
    while p < len(buf) and buf[p] not in term:
        c = buf[p]
        p += 1
        if c == "\\" and p < len(buf):
            out.append(buf[p])
            p += 1
            end = len(out)
        elif c == "'":
            while p < len(buf) and buf[p] != "'":
                out.append(buf[p])
                p += 1
            if p < len(buf):
                p += 1
                end = len(out)
        else:
            out.append(c)
    while len(out) > end and out[-1] in WHITESPACE:
        out.pop()
    return "".join(out), buf[p:]


def read_back(value: str) -> str:
    """What a filter receives for ``value`` written in a filtergraph: graph parser, then option parser."""
    graph, rest = get_token(value, "[],;")
    assert rest == "", f"the graph parser stopped early at {rest!r}"
    option, rest = get_token(graph, ":")
    assert rest == "", f"the option parser stopped early at {rest!r}"
    return option


@pytest.mark.parametrize(
    "text",
    [
        "teaser  sh010  v003",
        "SRC ",
        " a:b'c\\d,e;f[g]h %{n} %% x ",
        "/srv/fonts/we'ird, [dir]; a:b\\c =x /font.ttf",
        "C:\\Windows\\Fonts\\mono.ttf",
        "''",
        "\\",
        "",
        "%{eif:n+1:d:4}",
    ],
)
def test_a_value_reaches_the_filter_as_written(text: str) -> None:
    assert read_back(filter_value(text)) == text


def test_plain_values_stay_readable() -> None:
    assert filter_value("black@0.55") == "black@0.55"
    assert filter_value("w-tw-5") == "w-tw-5"
    assert filter_value("SRC ") == "'SRC\\ '"
    assert filter_value("01:00:00;00") == "'01\\:00\\:00;00'"


@pytest.mark.parametrize(
    ("rate", "record_start_frame", "timecode", "timecode_rate"),
    [
        (Rate(24000, 1001), 86400, "01\\:00\\:00\\:00", "24000/1001"),  # 23.976 counts every frame
        (Rate(24), 86400, "01\\:00\\:00\\:00", "24"),
        (Rate(25), 90000 + 24, "01\\:00\\:00\\:24", "25"),
        (Rate(30000, 1001), 107892, "01\\:00\\:00;00", "30000/1001"),  # 01:00:00;00 drop frame
        (Rate(30000, 1001), 1798, "00\\:00\\:59;28", "30000/1001"),  # two frames before a dropped minute
        (Rate(30), 108000, "01\\:00\\:00\\:00", "30"),
        (Rate(50), 180000, "01\\:00\\:00\\:00", "50"),
        (Rate(60000, 1001), 215784, "01\\:00\\:00;00", "60000/1001"),  # 59.94 drops 4 labels a minute
        (Rate(60000, 1001), 3598, "00\\:00\\:59;58", "60000/1001"),
        (Rate(60), 216000, "01\\:00\\:00\\:00", "60"),
    ],
)
def test_the_record_timecode_argument_at_each_rate(
    rate: Rate, record_start_frame: int, timecode: str, timecode_rate: str
) -> None:
    chain = burnin_filter(BurnIn("p", "sh010", "v001", rate, record_start_frame), 1920, 1080, Path("/f.ttf"))
    rec = chain.split(",drawtext=")[3]
    assert f":timecode='{timecode}':timecode_rate={timecode_rate}:tc24hmax=1:" in rec
    assert rec.startswith("fontfile=/f.ttf:text='REC\\ ':")


def test_source_and_record_labels_and_drop_frame_come_from_the_rate() -> None:
    b = BurnIn("teaser", "sh010", "v003", Rate(30000, 1001), record_start_frame=1798, source_start_frame=107892)
    assert b.drop_frame and b.record_label == "00:00:59;28" and b.source_label == "01:00:00;00"
    assert b.label(1800) == "00:01:00;02"  # the labels 00:01:00;00 and ;01 do not exist
    assert not BurnIn("p", "s", "t", Rate(24000, 1001), 0).drop_frame
    assert BurnIn("p", "s", "t", Rate(24), 24 * 86400 - 1).record_label == "23:59:59:23"
    assert BurnIn("p", "s", "t", Rate(24), 24 * 86400 + 1).record_label == "00:00:00:01"  # 24 hours wrap
    with pytest.raises(ValueError, match="before 00:00:00:00"):
        BurnIn("p", "s", "t", Rate(24), -1)


def test_the_chain_draws_title_counter_source_and_record() -> None:
    b = BurnIn("teaser", "sh010", "v003", Rate(24), 86400, 12)
    chain = burnin_filter(b, 1920, 1080, Path("/fonts/mono.ttf"))
    filters = chain.split(",drawtext=")
    assert len(filters) == 4 and chain.startswith("drawtext=")
    title, counter, src, rec = filters
    assert ":text=teaser  sh010  v003:" in title and ":expansion=none:" in title
    assert ":text='%{eif\\:n+1\\:d\\:4}':" in counter and "expansion" not in counter
    assert ":text='SRC\\ ':" in src and ":timecode='00\\:00\\:00\\:12':timecode_rate=24:" in src
    assert ":text='REC\\ ':" in rec and ":timecode='01\\:00\\:00\\:00':timecode_rate=24:" in rec
    for f in filters:
        assert "fontfile=/fonts/mono.ttf:" in f and ":fontsize=40:" in f and ":box=1:boxcolor=black@0.55:" in f
    assert title.endswith(":x=30:y=30") and counter.endswith(":x=w-tw-30:y=30")
    assert src.endswith(":x=30:y=h-th-30") and rec.endswith(":x=w-tw-30:y=h-th-30")
    options = {m for f in filters for m in re.findall(r"(?:^|:)(\w+)=", f.removeprefix("drawtext="))}
    assert options <= set(BURN_IN_FILTER_OPTIONS["drawtext"])  # every option used is probed


@pytest.mark.parametrize(("height", "fontsize"), [(2160, 80), (1080, 40), (720, 27), (540, 20), (180, 8), (90, 8)])
def test_text_size_follows_the_frame_height(height: int, fontsize: int) -> None:
    layout = Layout.for_height(height)
    assert layout.fontsize == fontsize
    assert 0 < layout.border < layout.margin  # the box stays inside the frame
    chain = burnin_filter(BurnIn("p", "s", "t", Rate(25), 0), height * 16 // 9, height, Path("/f.ttf"))
    assert chain.count(f":fontsize={fontsize}:") == 4


def test_burn_ins_of_a_timeline_count_the_record_on_from_its_start() -> None:
    clips = (
        TimelineClip("sh010", "v001", "sh010_v001", "a.mov", frames=48),
        TimelineClip("sh020", "take02", "sh020_take02", "b.mov", frames=30, source_start_frame=1800),
        TimelineClip("sh030", "v003", "sh030_v003", "c.mov", frames=10),
    )
    timeline = Timeline("teaser", Rate(30000, 1001), clips, record_start="00:00:59:20")
    got = timeline_burn_ins(timeline)
    assert [(b.shot, b.take, b.record_start_frame, b.source_start_frame) for b in got] == [
        ("sh010", "v001", 1790, 0),
        ("sh020", "take02", 1838, 1800),
        ("sh030", "v003", 1868, 0),
    ]
    assert got[0].record_label == "00:00:59;20" and got[1].record_label == "00:01:01;10"
    assert {b.project for b in got} == {"teaser"} and got[1].source_label == "00:01:00;02"
    for start in ("01:00:00;00", "01:00:00:00"):  # either separator at a drop-frame rate, as project.json takes it
        assert timeline_burn_ins(Timeline("t", Rate(30000, 1001), clips, start))[0].record_start_frame == 107892


def test_the_font_is_shipped_in_the_package_with_its_license() -> None:
    font = font_path()
    assert font.is_file() and font.name == "DejaVuSansMono.ttf"
    assert font.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType font
    assert font.parent == Path(burnins.__file__).resolve().parents[1] / "fonts"
    license_text = (font.parent / burnins.FONT_LICENSE).read_text()
    assert "Bitstream Vera Fonts Copyright" in license_text and "Arev Fonts Copyright" in license_text


def test_drawtext_is_needed_only_for_burn_ins() -> None:
    assert "drawtext" not in FILTER_OPTIONS
    caps = Capabilities("7.0.2", (7, 0), filters=frozenset(FILTER_OPTIONS), options={})
    assert caps.missing_burn_ins() == ["filter drawtext"]
    have = {"filter:drawtext": frozenset(BURN_IN_FILTER_OPTIONS["drawtext"]) - {"tc24hmax"}}
    caps = Capabilities("x", (9, 0), filters=frozenset({"drawtext"}), options=have)
    assert caps.missing_burn_ins() == ["option tc24hmax of filter drawtext"]
