"""Trims (sequence entries' ``in``/``out``) and repeated shots, built for real.

Each render's frames carry their own index in their brightness (luma ``16 + 4 n``, flat grey), so decoding any
output and reading the luma back says exactly which render frames it shows. The expectations are computed from
project.json's ``in``/``out``, never written out by hand.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import dagster as dg
import numpy as np
import opentimelineio as otio
import pycmx
import pytest

from tests.support.helpers import (
    build_workspace,
    built_instance,
    decoded_audio_samples,
    forked,
    last_storage_id,
    materialized_since,
    rebuild,
)
from tests.support.media_sources import luma_render
from tests.unit.test_editorial import check_edl
from vidasm_assets.media.assembly import build_timeline
from vidasm_assets.media.demo import write_project
from vidasm_assets.media.editorial import timecode_to_frames
from vidasm_assets.media.errors import RangeError
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import discover_projects, load_project
from vidasm_assets.media.ranges import entry_range
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.shots import shot_frames
from vidasm_assets.media.timeline import Timeline

pytestmark = pytest.mark.media

FPS = 24
FRAMES = 48
SOURCE_TC = "01:00:00:00"
STEP = 4  # luma code values per frame index


def coded_render(ffmpeg: str, dest: Path, *, frames: int = FRAMES, timecode: str | None = None) -> Path:
    """A tiny render whose frame n is flat grey of luma 16 + 4n (exactly, lossless), with a tone."""
    return luma_render(ffmpeg, dest, f"16+{STEP}*N", frames=frames, fps=FPS, timecode=timecode)


def frame_indices(path: Path) -> list[int]:
    """The render frame index each decoded picture of ``path`` shows (its mean luma, decoded)."""
    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            y = frame.to_ndarray(format="yuv420p")[: frame.height]
            out.append(round((float(y.mean()) - 16) / STEP))
    return out


def source_frame(point: int | str, tc: str | None) -> int:
    """A project.json point as a render frame (a timecode counted from the render's start timecode)."""
    if isinstance(point, int):
        return point
    return timecode_to_frames(point, Rate(FPS)) - timecode_to_frames(tc or "00:00:00:00", Rate(FPS))


SEQUENCE = [
    {"shot": "sh010", "in": 5, "out": 20, "beat": "trimmed by frames"},
    {"shot": "sh020"},
    {"shot": "sh010", "in": "01:00:01:00", "out": "01:00:01:12", "beat": "again, by timecode"},
]
TIMECODES = {"sh010": SOURCE_TC, "sh020": None}
EXPORTS = ["web", "proxy", "hevc", "webm", "master"]
"""web is the cut's picture; the others join per-shot segments: H.264 in MOV, x265 (forced keyframes must be IDR),
VP9 in Matroska, ProRes (all intra)."""


def expected_frames(sequence: list[dict]) -> list[int]:
    """The render frames the cut must show, from the entries' in/out (whole render by default)."""
    out: list[int] = []
    for e in sequence:
        tc = TIMECODES[e["shot"]]
        a = source_frame(e.get("in", 0), tc)
        b = source_frame(e.get("out", FRAMES), tc)
        out += list(range(a, b))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str):
    root = tmp_path_factory.mktemp("trims")
    folder = write_project(root, "trim", {"fps": FPS, "resolution": "64x36", "sequence": SEQUENCE,
                                          "exports": EXPORTS})  # fmt: skip
    for shot, tc in TIMECODES.items():
        coded_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mov", timecode=tc)
    home = tmp_path_factory.mktemp("home")
    with built_instance(root, home) as instance:
        yield root, folder, instance


def test_the_cut_and_deliveries_show_exactly_the_frames_asked_for(built) -> None:
    """A trimmed entry shows exactly its frames, a repeated shot appears twice with its two ranges: in the cut and
    in every delivery (web: the cut's picture; the others: per-shot segments, split by stream copy)."""
    _, folder, _ = built
    project = load_project(folder.parent, "trim")
    want = expected_frames(SEQUENCE)
    assert frame_indices(project.cut_path()) == want
    for preset in EXPORTS:
        assert frame_indices(project.delivery_path(preset)) == want, preset
    # sh010 was conformed once, over the span of its two uses (frames 5 to 36), not twice
    assert frame_indices(project.picture_path("sh010")) == list(range(5, 36))


def test_the_sound_is_sample_exact_and_each_use_has_its_own_range(built) -> None:
    _, folder, _ = built
    project = load_project(folder.parent, "trim")
    rate = Rate(FPS)
    tl = Timeline.from_json(project.timeline_path().read_text())
    assert decoded_audio_samples(project.cut_path()) == sum(rate.samples_for_frames(c.frames) for c in tl.clips)

    def pcm(path: Path) -> np.ndarray:
        """Decoded samples as (channels, samples)."""
        with av.open(str(path)) as c:
            frames = [f.to_ndarray() if f.format.is_planar else f.to_ndarray().reshape(-1, len(f.layout.channels)).T
                      for f in c.decode(audio=0)]  # fmt: skip
            return np.concatenate(frames, axis=1)

    cut, shot = pcm(project.cut_path()), pcm(project.audio_path("sh010"))
    span_start = min(c.source_in for c in tl.uses("sh010"))
    record = 0
    for clip in tl.clips:
        n = rate.samples_for_frames(clip.frames)
        if clip.shot == "sh010":  # each use is its own samples of the shot's normalized sound, bit for bit
            at = rate.samples_for_frames(clip.source_in) - rate.samples_for_frames(span_start)
            assert np.array_equal(cut[:, record : record + n], shot[:, at : at + n])
        record += n


def test_edl_and_otio_carry_each_use_with_its_source_range(built) -> None:
    _, folder, _ = built
    project = load_project(folder.parent, "trim")
    tl = Timeline.from_json(project.timeline_path().read_text())
    text = project.edl_path().read_text()
    check_edl(text, tl)  # pycmx and OTIO's cmx_3600 reader: contiguous record, source durations = record
    events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
    assert len(events) == len(SEQUENCE)
    rate = Rate(FPS)
    for event, entry in zip(events, SEQUENCE, strict=True):
        (edit,) = event.edits
        tc = TIMECODES[entry["shot"]]
        start = timecode_to_frames(tc or "00:00:00:00", rate)
        assert timecode_to_frames(edit.source_in, rate) == start + source_frame(entry.get("in", 0), tc)
        assert timecode_to_frames(edit.source_out, rate) == start + source_frame(entry.get("out", FRAMES), tc)
    timeline = otio.adapters.read_from_file(str(project.otio_path()))
    clips = list(timeline.tracks[0])
    assert [c.name for c in clips] == ["sh010_v001", "sh020_v001", "sh010_v001"]
    for clip, entry in zip(clips, SEQUENCE, strict=True):
        tc = TIMECODES[entry["shot"]]
        start = timecode_to_frames(tc or "00:00:00:00", rate)
        first = source_frame(entry.get("in", 0), tc)
        assert clip.source_range.start_time.value == (start if tc else 0) + first
        assert clip.source_range.duration.value == source_frame(entry.get("out", FRAMES), tc) - first


def test_changing_one_entry_rebuilds_that_shot_and_the_roll_ups_only(built, tmp_path: Path) -> None:
    """Make-like: a new out point of sh010's second use re-encodes sh010 (its span) and re-joins the roll-ups;
    sh020's conform, sound and segment are untouched (read from the event log). On a copy of the build: the other
    tests read it as it was made."""
    with forked(built[0], built[2], tmp_path) as (root, instance):
        _change_one_entry(root, root / "trim", instance)


def _change_one_entry(root: Path, folder: Path, instance: dg.DagsterInstance) -> None:
    sequence = [dict(e) for e in SEQUENCE]
    sequence[2]["out"] = "01:00:01:16"
    data = json.loads((folder / "project.json").read_text())
    (folder / "project.json").write_text(json.dumps({**data, "sequence": sequence}))
    assert rebuild(root, instance) == {
        "trim/picture[sh010]",
        "trim/audio[sh010]",
        *(f"trim/segments_{p}[sh010]" for p in EXPORTS if p != "web"),
        "trim/timeline",
        "trim/cut",
        "trim/edl",
        "trim/otio",
        *(f"trim/delivery_{p}" for p in EXPORTS),
    }
    project = load_project(root, "trim")
    assert frame_indices(project.cut_path()) == expected_frames(sequence)
    # and a build with nothing changed does nothing
    mark = last_storage_id(instance)
    assert build_workspace(instance, root) == []
    assert materialized_since(instance, mark) == set()


def test_entries_without_in_out_keep_their_versions(tmp_path: Path, ffmpeg: str) -> None:
    """A sequence without trims plans exactly as before: no in/out in any data version."""
    from vidasm_assets.media import versions as v
    from vidasm_assets.media.ranges import shot_uses

    folder = write_project(tmp_path, "p", {"fps": FPS, "resolution": "64x36", "sequence": [{"shot": "sh010"}]})
    project = load_project(tmp_path, "p")
    assert shot_uses(project, "sh010") is None
    facets = v.spec_facets(project)
    assert facets[v.Asset.EDIT_SPEC]["sequence"] == [["sh010", None, None, None, None]]
    assert folder.is_dir()


def test_timecode_in_out_equals_the_frame_form(tmp_path: Path, ffmpeg: str) -> None:
    """``in``/``out`` as the render's source timecode select the same frames as the frame numbers they name."""
    path = coded_render(ffmpeg, tmp_path / "sh010_v001.mov", timecode="10:00:00:00")
    from vidasm_assets.media.project import ShotRef, Take, TakeKind

    take, info, rate = Take(path, TakeKind.VERSION, 1), probe(path), Rate(FPS)
    whole = shot_frames(info, rate)
    by_tc = entry_range(ShotRef("sh010", in_="10:00:00:07", out="10:00:01:03"), take, info, rate, whole)
    by_frames = entry_range(ShotRef("sh010", in_=7, out=27), take, info, rate, whole)
    assert by_tc == by_frames and (by_frames.start, by_frames.end) == (7, 27)
    mixed = entry_range(ShotRef("sh010", in_=7, out="10:00:01:03"), take, info, rate, whole)
    assert mixed == by_frames
    assert entry_range(ShotRef("sh010"), take, info, rate, whole).frames == whole


@pytest.mark.parametrize(
    "entry",
    [
        {"shot": "sh010", "in": 10, "out": FRAMES + 12},
        {"shot": "sh010", "in": "01:00:02:05"},
        {"shot": "sh010", "in": 30, "out": "01:00:01:00"},
        {"shot": "sh010", "in": "00:59:59:00"},
    ],
    ids=["out-past-end", "in-past-end-timecode", "out-before-in-mixed", "before-start-timecode"],
)
def test_a_range_outside_the_render_fails_naming_shot_take_and_length(tmp_path: Path, ffmpeg: str, entry: dict) -> None:
    folder = write_project(tmp_path, "p", {"fps": FPS, "resolution": "64x36", "sequence": [entry]})
    coded_render(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mov", timecode=SOURCE_TC)
    project = discover_projects(tmp_path).projects["p"]
    with pytest.raises(RangeError) as info:
        build_timeline(project)
    msg = str(info.value).splitlines()[0]
    assert msg.startswith("shot sh010: take v001 (sh010_v001.mov)"), msg
    if "past the end" in msg:
        length = shot_frames(probe(folder / "03_Renders" / "sh010" / "sh010_v001.mov"), Rate(FPS))
        assert f"{length} frames" in msg and "00:00:02:00 at 24 fps" in msg, msg
        assert "source timecode 01:00:00:00-01:00:02:00" in msg, msg


def test_a_range_past_the_end_fails_the_build_by_name(tmp_path: Path, ffmpeg: str, instance) -> None:
    """Through vidasm build: the project fails with the range error, not a placeholder or a traceback."""
    folder = write_project(tmp_path, "p", {"fps": FPS, "resolution": "64x36", "placeholders": True,
                                           "sequence": [{"shot": "sh010", "out": FRAMES + 1}]})  # fmt: skip
    coded_render(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mov")
    outcomes = build_workspace(instance, tmp_path)
    failures = [o.message for o in outcomes if not o.success]
    assert any(m.startswith("shot sh010: take v001") and "past the end" in m for m in failures), outcomes
    assert all(o.run_id is None for o in outcomes), "no Dagster run that could only fail"


@pytest.mark.media
@pytest.mark.parametrize("interlaced", [False, True])
def test_trim_before_the_scale_keeps_the_same_frames(ffmpeg: str, tmp_path: Path, interlaced: bool) -> None:
    """``picture_filter`` drops the frames before ``in`` before scaling them: the frames it keeps are bit for bit
    the frames of the untrimmed chain at the same positions (decoded, hashed per frame), letterboxed and scaled,
    and deinterlaced from their real neighbours when the render is interlaced."""
    import subprocess

    from vidasm_assets.media import commands as c

    src = tmp_path / "r.mp4"
    args = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1.6", "-c:v", "libx264", "-g", "250",
            "-bf", "3", "-pix_fmt", "yuv420p"]  # fmt: skip
    if interlaced:
        args += ["-vf", "tinterlace=interleave_top,fieldorder=tff", "-flags", "+ildct+ilme", "-x264opts", "tff=1"]
    subprocess.run([ffmpeg, "-v", "error", "-y", *args, str(src)], check=True)
    source = c.PictureSource(interlaced=interlaced)

    def hashes(target: c.Target) -> list[str]:
        out = subprocess.run([ffmpeg, "-v", "error", "-i", str(src), "-vf", c.picture_filter(target, source),
                              "-f", "framemd5", "-"], check=True, capture_output=True, text=True).stdout  # fmt: skip
        return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if line and not line.startswith("#")]

    rate = Rate(24, 1)
    start, frames = 17, 12
    whole = hashes(c.Target(640, 360, rate, start + frames))
    trimmed = hashes(c.Target(640, 360, rate, frames, start=start))
    assert len(whole) == start + frames and len(trimmed) == frames
    assert trimmed == whole[start:]


def test_a_timecode_is_read_in_the_renders_own_counting_whatever_its_separator(tmp_path: Path, ffmpeg: str) -> None:
    """On a 29.97 drop-frame render, ``00:11:00:05`` (colons, as many tools write drop-frame labels) is its frame
    ``00:11:00;05``: read non-drop it would be 2 frames later here (18 at 10 minutes, 108 at an hour). A label the
    counting skips is refused naming the render; a ``;`` label on a non-drop render is read non-drop."""
    import subprocess

    from vidasm_assets.media.project import ShotRef, Take, TakeKind

    def render(name: str, tc: str) -> Path:
        dest = tmp_path / name
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x36:rate=30000/1001",
                        "-frames:v", "30", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-timecode", tc, str(dest)],
                       check=True)  # fmt: skip
        return dest

    rate = Rate(30000, 1001)
    df = render("df_v001.mov", "00:10:59;20")  # 20..29, then 00:11:00;02 (00 and 01 are skipped)
    take, info = Take(df, TakeKind.VERSION, 1), probe(df)
    whole = shot_frames(info, rate)
    for label in ("00:11:00:05", "00:11:00;05", "00;11;00;05"):
        assert entry_range(ShotRef("df", in_=label), take, info, rate, whole).start == 13, label
    with pytest.raises(RangeError, match=r"df_v001\.mov, which counts drop-frame from 00:10:59;20"):
        entry_range(ShotRef("df", in_="00:11:00:00"), take, info, rate, whole)
    ndf = render("ndf_v001.mov", "00:10:59:20")
    take, info = Take(ndf, TakeKind.VERSION, 1), probe(ndf)
    for label in ("00:11:00:05", "00:11:00;05"):
        assert entry_range(ShotRef("ndf", in_=label), take, info, rate, whole).start == 15, label
