"""Renders whose start timecode counts at another rate than the timeline, end to end on generated media.

Tiny lavfi renders (64x36, 1 s) get a timecode track written by FFmpeg (``-timecode``), the project's timeline
is built from their headers, and the EDL (read back by pycmx and by OTIO's cmx_3600 reader), the OTIO file and
the FCP 7 XML are checked against the rule in ``media/timecode.py``: the EDL's source in is the render's label
with ``HH:MM:SS`` kept and frames scaled to the record rate; OTIO and the FCP XML ``<file>`` keep the render's
own rate, timecode and drop-frame flag. The examples are those of ``shared/cases/09``.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import opentimelineio as otio
import pycmx
import pytest

from vidasm_assets.media.assembly import build_timeline
from vidasm_assets.media.demo import RenderSpec, make_render, write_project
from vidasm_assets.media.editorial import to_otio, write_cmx3600, write_fcp_xml, write_otio
from vidasm_assets.media.errors import SourceTimecodeError
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import discover_projects
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.timeline import Timeline

pytestmark = pytest.mark.media


def ref_frame(label: str, nominal: int) -> int:
    """Textbook SMPTE frame number of a label: drop frame (';') skips nominal/15 labels a minute but every 10th."""
    hh, mm, ss, ff = (int(x) for x in re.split(r"[:;]", label))
    minutes = hh * 60 + mm
    return (minutes * 60 + ss) * nominal + ff - (nominal // 15 * (minutes - minutes // 10) if ";" in label else 0)


def make_timeline(ffmpeg: str, root: Path, fps: float, renders: dict[str, tuple[str, str]]) -> Timeline:
    """A project at ``fps`` with one 1 s render per shot, ``{shot: (render rate, -timecode)}``, as a timeline."""
    folder = write_project(root, "tc", {"fps": fps, "resolution": "64x36", "sequence": [{"shot": s} for s in renders]})
    for shot, (rate, timecode) in renders.items():
        spec = RenderSpec(64, 36, rate, 1.0, None, timecode=timecode)
        make_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mov", spec)
    return build_timeline(discover_projects(root).projects["tc"])


def write_all(timeline: Timeline, out: Path) -> tuple[str, otio.schema.Timeline, ElementTree.Element]:
    """The EDL text, the OTIO file read back, and the FCP XML's root."""
    write_otio(timeline, out / "cut.otio")
    write_fcp_xml(timeline, out / "cut.xml")
    return (
        write_cmx3600(timeline),
        otio.adapters.read_from_file(str(out / "cut.otio")),
        ElementTree.parse(out / "cut.xml").getroot(),
    )


def check_edl_sources(text: str, timeline: Timeline, source_ins: list[str]) -> None:
    """Both readers see each event's source in at ``source_ins`` and a source out as far on as the record out."""
    rate, n = timeline.rate, timeline.rate.nominal
    events = [event.edits[0] for event in pycmx.parse_cmx3600(io.StringIO(text)).events]
    assert [e.source_in for e in events] == source_ins
    for edit, clip in zip(events, timeline.clips, strict=True):
        assert ref_frame(edit.source_out, n) - ref_frame(edit.source_in, n) == clip.frames
        assert ref_frame(edit.record_out, n) - ref_frame(edit.record_in, n) == clip.frames
    read = otio.adapters.read_from_string(text, "cmx_3600", rate=rate.num / rate.den)  # rejects src/rec mismatch
    for track in read.tracks:
        assert [c.source_range.start_time.value for c in track] == [ref_frame(s, n) for s in source_ins]
        assert [c.source_range.duration.value for c in track] == [c.frames for c in timeline.clips]


def check_otio_media_time(read: otio.schema.Timeline, timeline: Timeline, own: list[tuple[str, Rate]]) -> None:
    """Each clip starts at its render's own timecode frame at the render's own rate, for its record frames."""
    fps = timeline.rate.num / timeline.rate.den
    for track in read.tracks:
        assert sum(c.duration().value for c in track) == timeline.total_frames
        for item, clip, (label, rate) in zip(track, timeline.clips, own, strict=True):
            start = otio.opentime.RationalTime(ref_frame(label, round(rate.num / rate.den)), rate.num / rate.den)
            assert (item.source_range.start_time.value, item.source_range.start_time.rate) == (start.value, start.rate)
            assert item.source_range.duration == otio.opentime.RationalTime(clip.frames, fps)
            available = item.media_reference.available_range
            assert (available.start_time.value, available.start_time.rate) == (start.value, start.rate)
            assert available.end_time_exclusive().to_seconds() >= item.source_range.end_time_exclusive().to_seconds()
            assert dict(item.media_reference.metadata["vidasm"]["source_timecode"])["label"] == label


def fcp_files(root: ElementTree.Element) -> dict[str, dict[str, str]]:
    """Each ``<file>`` definition's timing, by file name."""
    files = {}
    for f in root.iter("file"):
        if f.find("pathurl") is None:
            continue  # a later reference to a file already defined
        files[f.findtext("name") or ""] = {
            "rate": f"{f.findtext('rate/timebase')} {f.findtext('rate/ntsc')}",
            "duration": f.findtext("duration") or "",
            "tc_rate": f"{f.findtext('timecode/rate/timebase')} {f.findtext('timecode/rate/ntsc')}",
            "string": f.findtext("timecode/string") or "",
            "frame": f.findtext("timecode/frame") or "",
            "format": f.findtext("timecode/displayformat") or "",
        }
    return files


def clip_ins(root: ElementTree.Element) -> list[tuple[str, str, str]]:
    """``(timebase, in, out)`` of the video clip items: in record frames, from the start of the file."""
    video = root.find("project/children/sequence/media/video/track")
    assert video is not None
    return [(c.findtext("rate/timebase") or "", c.findtext("in") or "", c.findtext("out") or "") for c in video]


def test_renders_at_other_rates_in_a_23976_project(ffmpeg: str, tmp_path: Path) -> None:
    timeline = make_timeline(
        ffmpeg,
        tmp_path,
        23.976,
        {
            "a010": ("30000/1001", "01:00:00;00"),  # a 29.97 drop-frame camera
            "a020": ("25", "10:00:00:24"),
            "a030": ("24000/1001", "02:00:00:00"),  # same rate: the control
            "a040": ("50", "00:59:59:49"),
        },
    )
    assert [c.frames for c in timeline.clips] == [24, 24, 24, 24]
    text, read, xml = write_all(timeline, tmp_path)
    check_edl_sources(text, timeline, ["01:00:00:00", "10:00:00:23", "02:00:00:00", "00:59:59:23"])
    assert [line for line in text.splitlines() if line.startswith("* SOURCE TIMECODE:")] == [
        "* SOURCE TIMECODE: 01:00:00;00 AT 29.97 FPS DROP FRAME",
        "* SOURCE TIMECODE: 10:00:00:24 AT 25 FPS NON-DROP FRAME",
        "* SOURCE TIMECODE: 00:59:59:49 AT 50 FPS NON-DROP FRAME",
    ]
    own = [
        ("01:00:00;00", Rate(30000, 1001)),
        ("10:00:00:24", Rate(25)),
        ("02:00:00:00", Rate(24000, 1001)),
        ("00:59:59:49", Rate(50)),
    ]
    check_otio_media_time(read, timeline, own)
    assert fcp_files(xml) == {
        "a010_v001.mov": {
            "rate": "30 TRUE", "duration": "30", "tc_rate": "30 TRUE",
            "string": "01:00:00;00", "frame": "107892", "format": "DF",
        },
        "a020_v001.mov": {  # 24 frames at 23.976 are 25.025 at 25: 26 whole frames
            "rate": "25 FALSE", "duration": "26", "tc_rate": "25 FALSE",
            "string": "10:00:00:24", "frame": "900024", "format": "NDF",
        },
        "a030_v001.mov": {
            "rate": "24 TRUE", "duration": "24", "tc_rate": "24 TRUE",
            "string": "02:00:00:00", "frame": "172800", "format": "NDF",
        },
        "a040_v001.mov": {
            "rate": "50 FALSE", "duration": "51", "tc_rate": "50 FALSE",
            "string": "00:59:59:49", "frame": "179999", "format": "NDF",
        },
    }  # fmt: skip
    assert clip_ins(xml) == [("24", "0", "24")] * 4
    # OTIO's own FCP XML reader lands every clip on its file's first frame
    for track in otio.adapters.read_from_file(str(tmp_path / "cut.xml"), adapter_name="fcp_xml").tracks:
        for item in track:
            offset = item.source_range.start_time - item.media_reference.available_range.start_time
            assert abs(offset.to_seconds()) < 1e-9


def test_renders_at_other_rates_in_a_2997_drop_frame_project(ffmpeg: str, tmp_path: Path) -> None:
    timeline = make_timeline(
        ffmpeg, tmp_path, 29.97, {"b010": ("25", "10:00:00:24"), "b020": ("30000/1001", "01:00:00:00")}
    )
    text, read, xml = write_all(timeline, tmp_path)
    assert "FCM: DROP FRAME" in text
    check_edl_sources(text, timeline, ["10:00:00;28", "01:00:00;00"])
    check_otio_media_time(read, timeline, [("10:00:00:24", Rate(25)), ("01:00:00:00", Rate(30000, 1001))])
    files = fcp_files(xml)
    assert [(f["rate"], f["string"], f["frame"], f["format"]) for f in files.values()] == [
        ("25 FALSE", "10:00:00:24", "900024", "NDF"),
        ("30 TRUE", "01:00:00:00", "108000", "NDF"),  # the render counts non-drop: its file says so
    ]
    assert xml.findtext("project/children/sequence/timecode/displayformat") == "DF"


def test_odd_rate_and_variable_rate_renders(ffmpeg: str, tmp_path: Path) -> None:
    """15 fps (no SMPTE timecode in OTIO) and a VFR render whose timecode track counts at 30."""
    folder = write_project(
        tmp_path, "odd", {"fps": 25, "resolution": "64x36", "sequence": [{"shot": "c010"}, {"shot": "c020"}]}
    )
    make_render(
        ffmpeg, folder / "03_Renders/c010/c010_v001.mov", RenderSpec(64, 36, "15", 1.0, None, timecode="01:00:00:14")
    )
    (folder / "03_Renders/c020").mkdir()
    vfr = "testsrc2=s=64x36:r=30,setpts='(N+if(gte(N,10),0.3*N,0))/30/TB'"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", vfr, "-t", "1", "-fps_mode", "passthrough",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-timecode", "01:00:00:10",
         str(folder / "03_Renders/c020/c020_v001.mov")],
        check=True, capture_output=True,
    )  # fmt: skip
    timeline = build_timeline(discover_projects(tmp_path).projects["odd"])
    vfr_rate = Rate(30)
    assert probe(folder / "03_Renders/c020/c020_v001.mov").video.rate != 30  # type: ignore[union-attr]
    assert [c.source_timecode for c in timeline.clips][1].rate == vfr_rate  # the tmcd track's, not the average
    text, read, xml = write_all(timeline, tmp_path)
    check_edl_sources(text, timeline, ["01:00:00:23", "01:00:00:08"])  # 14 * 25 / 15 = 23.3; 10 * 25 / 30 = 8.3
    check_otio_media_time(read, timeline, [("01:00:00:14", Rate(15)), ("01:00:00:10", vfr_rate)])
    files = fcp_files(xml)
    assert [(f["rate"], f["tc_rate"], f["string"], f["frame"], f["format"]) for f in files.values()] == [
        ("15 FALSE", "15 FALSE", "01:00:00:14", "54014", "NDF"),
        ("30 FALSE", "30 FALSE", "01:00:00:10", "108010", "NDF"),
    ]


def _mkv(ffmpeg: str, dest: Path, timecode: str) -> None:
    """A 25 fps Matroska render carrying a TIMECODE tag (Matroska has no timecode track to validate it)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x36:r=25:d=1", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-metadata:s:v:0", f"timecode={timecode}", str(dest)],
        check=True, capture_output=True,
    )  # fmt: skip


def test_unreadable_timecode_is_reported_on_the_shot_and_refused_by_the_exports(ffmpeg: str, tmp_path: Path) -> None:
    folder = write_project(
        tmp_path, "bad", {"fps": 25, "resolution": "64x36", "sequence": [{"shot": "d010"}, {"shot": "d020"}]}
    )
    good, bad = folder / "03_Renders/d010/d010_v001.mkv", folder / "03_Renders/d020/d020_v001.mkv"
    _mkv(ffmpeg, good, "10:00:00:24")  # a Matroska tag is read too (its name is upper case)
    _mkv(ffmpeg, bad, "01:00:00:30")  # frame 30 does not exist at 25 fps
    timeline = build_timeline(discover_projects(tmp_path).projects["bad"])  # the timeline (and so the cut) builds
    first, second = timeline.clips
    assert first.source_timecode is not None and first.source_start_frame == ref_frame("10:00:00:24", 25)
    assert second.source_timecode is None and second.source_start_frame == 0
    assert second.source_timecode_error is not None and str(bad) in second.source_timecode_error
    assert "'01:00:00:30'" in second.source_timecode_error and "frames 00-24" in second.source_timecode_error
    for write in (write_cmx3600, to_otio, lambda tl: write_fcp_xml(tl, tmp_path / "cut.xml")):
        with pytest.raises(SourceTimecodeError, match=r"shot d020: no source timecode can be written") as caught:
            write(timeline)
        assert caught.value.path == str(bad)
    assert not (tmp_path / "cut.xml").exists()
