"""Text overlays built for real: drawn only where they are, kept off the stream-copied bodies, what rebuilds.

One project is built without overlays, then with an entry's overlay (top, over sh020's body) and a cut overlay in
record timecode (bottom, hostile text, running into the dissolve's section), then with the entry overlay's text
changed. Each state's pictures are decoded and compared frame by frame with the state before: inside an overlay's
frames its region differs and the rest of the picture does not; outside its frames the pictures are the same
(byte-identical packets in the stream-copied bodies); the length and the sound's sample count never change.
"""

from __future__ import annotations

import io
import json
import shutil
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
    ffmpeg_build,
    forked_project,
    rebuild,
)
from tests.support.media_sources import luma_render
from vidasm_assets.media.assembly import build_timeline
from vidasm_assets.media.demo import write_project
from vidasm_assets.media.errors import RangeError
from vidasm_assets.media.presets import CUT_VIDEO
from vidasm_assets.media.project import discover_projects, load_project

pytestmark = pytest.mark.media

FPS = 24
FRAMES = 48
RAMPS = {"sh010": "40+2*N", "sh020": "200-2*N", "sh030": "100+N"}
SEQUENCE = [
    {"shot": "sh010"},
    {"shot": "sh020", "transition_in": {"type": "dissolve", "frames": 12}},
    {"shot": "sh030"},
]
TOTAL = 3 * FRAMES - 12  # sh010 0-48, sh020 36-84 (the dissolve 36-48), sh030 84-132
EXPORTS = ["web", "proxy"]
"""web is the cut's picture; proxy joins its own segments and renders its own sections."""
HOSTILE = "it's 100%: a\\b, [c]; {d} %{pts}\n'line two'"
ENTRY = {"text": "Jane Doe", "start": 20, "frames": 10, "position": "top", "size": 14}  # record 56-66
CUT_WIDE = {"text": HOSTILE, "at": "01:00:01:06", "frames": 12, "position": "bottom", "size": 0.15}  # record 30-42
TOP, BOTTOM = slice(0, 28), slice(44, 72)  # rows of the 128x72 picture each overlay's box stays within
ROLL_UPS = {"ov/timeline", "ov/cut", "ov/edl", "ov/otio", *(f"ov/delivery_{p}" for p in EXPORTS)}


def pictures(path: Path) -> np.ndarray:
    """Every decoded picture's luma plane, as int (frames, rows, columns)."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)])


def packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def sections(folder: Path) -> dict[str, int]:
    """The cached sections of a cut or delivery: file name -> modification time (ns)."""
    return {f.name: f.stat().st_mtime_ns for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")}


def set_sequence(folder: Path, **changes: object) -> None:
    data = json.loads((folder / "project.json").read_text())
    (folder / "project.json").write_text(json.dumps({**data, **changes}))


OVERLAID = {"sequence": [SEQUENCE[0], {**SEQUENCE[1], "overlays": [ENTRY]}, SEQUENCE[2]], "overlays": [CUT_WIDE]}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str):
    """The project built without overlays, what it made kept (decoded) for the tests to compare with; then the
    overlays added and built again: (root, folder, instance, before, what the second build materialized)."""
    root = tmp_path_factory.mktemp("overlays")
    folder = write_project(root, "ov", {"fps": FPS, "resolution": "128x72", "sequence": SEQUENCE,
                                        "exports": EXPORTS})  # fmt: skip
    for i, (shot, ramp) in enumerate(RAMPS.items()):
        luma_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mov", ramp, frames=FRAMES, fps=FPS,
                    tone_hz=440 + 220 * i)  # fmt: skip
    home = tmp_path_factory.mktemp("home")
    with built_instance(root, home) as instance:
        project = load_project(root, "ov")
        before = {p: (pictures(p), packets(p), decoded_audio_samples(p)) for p in
                  (project.cut_path(), *(project.delivery_path(e) for e in EXPORTS))}  # fmt: skip
        set_sequence(folder, **OVERLAID)
        yield root, folder, instance, before, rebuild(root, instance)


@pytest.fixture
def changed(built, tmp_path: Path):
    """A copy of the overlaid build for a test that changes it: the other tests read ``built`` as it was made."""
    root, folder, instance, _, _ = built
    with forked_project((root, folder, instance), tmp_path) as copy:
        yield copy


def _compare(before: np.ndarray, after: np.ndarray, overlays: list[tuple[range, slice]]) -> None:
    """Inside each overlay's frames its rows differ and the others do not; every other frame is the same picture
    (a frame of a re-rendered section within x264's rounding of a flat picture, a copied body exactly)."""
    assert after.shape == before.shape
    covered: set[int] = set()
    for frames, rows in overlays:
        other = np.ones(before.shape[1], dtype=bool)
        other[rows] = False
        for f in frames:
            diff = np.abs(after[f] - before[f])
            assert diff[rows].mean() > 8, (f, diff[rows].mean())  # the text and its box
            assert diff[other].mean() < 1.5, (f, diff[other].mean())
        covered |= set(frames)
    for f in set(range(len(before))) - covered:
        assert np.abs(after[f] - before[f]).max() <= 3, f


def test_overlays_are_drawn_where_they_are_and_nowhere_else(built) -> None:
    """Adding overlays rebuilds the roll-ups only (no shot's picture, sound or segment, from the event log); the
    cut and both deliveries show them in their frames and regions, hostile text included, the rest is unchanged
    (the bodies' packets byte for byte), the length and the sound's samples too."""
    root, _, instance, before, rebuilt = built
    assert rebuilt == ROLL_UPS
    project = load_project(root, "ov")
    gop = round(FPS * CUT_VIDEO.gop_seconds)
    for path, (pics, pkts, samples) in before.items():
        after = pictures(path)
        assert len(after) == TOTAL, path
        assert decoded_audio_samples(path) == samples, path  # AAC's decoded samples include its padding: as before
        _compare(pics, after, [(range(56, 66), TOP), (range(30, 42), BOTTOM)])
        if path == project.cut_path():
            assert samples == TOTAL * 2000  # the PCM: exactly the record's samples
            # smart rendering: the frames the overlays cover, a GOP either side at most, and the dissolve's section
            # (drawn in) are encoded; every other packet is a packet of the cut without overlays
            new = [p for p in packets(path) if p not in set(pkts)]
            assert 10 + 12 <= len(new) <= 10 + 2 * gop + 12 + 2 * gop + 12 + gop, len(new)
    meta = _cut_metadata(instance)
    assert set(meta["transitions_rendered"].split("; ")) == {
        "sh010 overlay overlays[0]", "sh010>sh020 dissolve 12 + overlay overlays[0]",
        "sh020 overlay sequence[1].overlays[0]"}  # fmt: skip


def _cut_metadata(instance: dg.DagsterInstance) -> dict[str, str]:
    records = instance.fetch_materializations(dg.AssetKey(["ov", "cut"]), limit=1, ascending=False).records
    mat = records[0].asset_materialization
    assert mat is not None
    return {k: str(m.value) for k, m in mat.metadata.items()}


def test_the_edl_and_otio_carry_the_overlays(built) -> None:
    root = built[0]
    project = load_project(root, "ov")
    text = project.edl_path().read_text()
    events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
    reels = [e.edits[-1].source for e in events]  # sh010's event, the dissolve into sh020, sh030's
    remarks = [(e.edits[-1].source, s.text) for e in events for s in e.statements
               if type(s).__name__ == "StmtRemark" and s.text.startswith("OVERLAY")]  # fmt: skip
    assert remarks == [
        (reels[0], "OVERLAY: it's 100%: a\\b, [c]; {d} %{pts} 'line two' (REC 01:00:01:06 01:00:01:18, BOTTOM)"),
        (reels[1], "OVERLAY: Jane Doe (REC 01:00:02:08 01:00:02:18, TOP)"),
    ], remarks
    assert otio.adapters.read_from_string(text, "cmx_3600", rate=FPS).tracks[0].duration().value == TOTAL
    markers = otio.adapters.read_from_file(str(project.otio_path())).tracks[0].markers
    got = [(m.metadata["vidasm"]["overlay"]["text"], m.marked_range.start_time.value, m.marked_range.duration.value)
           for m in markers]  # fmt: skip
    assert got == [("Jane Doe", 56, 10), (HOSTILE, 30, 12)]


def test_changing_one_overlays_text_renders_that_overlay_only(changed) -> None:
    """Make-like: the roll-ups re-join, only the sections drawing that overlay are rendered (the old ones removed),
    every other cached section is the same file; the picture changes only in that overlay's frames."""
    root, folder, instance = changed
    project = load_project(root, "ov")
    cache = {w: project.cache_dir / "transitions" / w for w in ("cut", "proxy")}
    was = {w: sections(f) for w, f in cache.items()}
    old = {p: pictures(p) for p in (project.cut_path(), project.delivery_path("proxy"))}
    set_sequence(folder, sequence=[SEQUENCE[0], {**SEQUENCE[1], "overlays": [{**ENTRY, "text": "John Roe"}]},
                                   SEQUENCE[2]])  # fmt: skip
    assert rebuild(root, instance) == ROLL_UPS
    meta = _cut_metadata(instance)
    assert meta["transitions_rendered"] == "sh020 overlay sequence[1].overlays[0]"
    assert set(meta["transitions_reused"].split("; ")) == {"sh010 overlay overlays[0]",
                                                           "sh010>sh020 dissolve 12 + overlay overlays[0]"}  # fmt: skip
    # the cut (GOP 12): the overlay's own section; the proxy (GOP 24): its body's section and the dissolve's, whose
    # section (sh010 from frame 24 to sh020's keyframe at 24: record 24-60) the overlay (record 56-66) runs into
    for where, folder_ in cache.items():
        now = sections(folder_)
        gone, added = set(was[where]) - set(now), set(now) - set(was[where])
        assert len(gone) == len(added) == {"cut": 1, "proxy": 2}[where], (where, gone, added)
        assert {n: t for n, t in now.items() if n not in added} == {n: t for n, t in was[where].items()
                                                                     if n not in gone}, where  # fmt: skip
    for path, pics in old.items():
        after = pictures(path)
        diff = np.abs(after - pics)
        changed = {f for f in range(TOTAL) if diff[f].mean() > 0.5}
        assert changed == set(range(56, 66)), (path.name, sorted(changed))
        # the rest of a re-rendered section: x264 at CRF 26 (proxy) rounds a few pixels of the frames after the
        # text differently (Debian's 5.1 measured: mean 0.007, at most 5 code values); the rest is the same
        rest = [f for f in range(TOTAL) if f not in changed]
        assert diff[rest].mean(axis=(1, 2)).max() < 0.05 and diff[rest].max() <= 8, path.name
        assert all(np.abs(after[f] - pics[f])[BOTTOM].mean() < 1.5 for f in range(56, 66))


def test_a_transition_change_renders_only_the_sections_whose_drawing_changed(changed) -> None:
    """A section's key holds what it draws (text, look, its own frames of it), not where the overlay sits in the
    record: with a watermark over the whole cut and an entry overlay after the dissolve, changing the dissolve's
    length moves every later frame in the record, yet the later entries' sections draw the same and are reused."""
    root, folder, instance = changed
    watermark = {"text": "DRAFT", "at": 0, "position": "top", "size": 10}  # to the cut's end
    overlays = [CUT_WIDE, watermark]
    set_sequence(folder, overlays=overlays)
    rebuild(root, instance)
    set_sequence(folder, overlays=overlays, sequence=[
        SEQUENCE[0], {**SEQUENCE[1], "transition_in": {"type": "dissolve", "frames": 8}, "overlays": [ENTRY]},
        SEQUENCE[2]])  # fmt: skip
    assert rebuild(root, instance) == ROLL_UPS
    meta = _cut_metadata(instance)
    rendered, reused = (set(meta[k].split("; ")) - {"none"} for k in ("transitions_rendered", "transitions_reused"))
    assert {r for r in rendered if not r.startswith(("sh010 ", "sh010>"))} == set(), rendered
    assert {r.split(" ")[0] for r in reused} >= {"sh020", "sh030"}, reused
    assert any("sequence[1].overlays[0]" in r for r in reused), reused


def test_an_overlay_past_its_entry_fails_naming_it(built, tmp_path: Path) -> None:
    folder = built[1]
    spec = {
        "fps": FPS,
        "resolution": "128x72",
        "sequence": [{"shot": "sh010", "in": 10, "out": 40, "overlays": [{"text": "x", "start": 25, "frames": 6}]}],
    }
    other = write_project(tmp_path, "p", spec)  # fmt: skip
    shutil.copytree(folder / "03_Renders" / "sh010", other / "03_Renders" / "sh010")
    with pytest.raises(RangeError) as info:
        build_timeline(discover_projects(tmp_path).projects["p"])
    msg = str(info.value).splitlines()[0]
    assert msg.startswith("shot sh010: ") and "sequence[0].overlays[0] (start 25, 6 frames)" in msg, msg
    assert "past the end of entry 0 (sh010, take v001), which has 30 frames" in msg, msg


def test_a_review_delivery_draws_the_overlay_under_its_burn_ins(tmp_path: Path, ffmpeg: str) -> None:
    """The review preset (burn-ins, all intra): an overlay renders exactly its own frames from the renders with the
    burn-ins drawn over them from that frame on (the frame counter and both timecodes carry on); no review segment
    is rebuilt and every other frame, and every row outside the overlay's, is as before."""
    root, home = tmp_path / "ws", tmp_path / "home"
    home.mkdir()
    sequence = [{"shot": "sh010"}, {"shot": "sh020"}]
    folder = write_project(root, "rv", {"fps": FPS, "resolution": "256x144", "sequence": sequence,
                                        "exports": ["review"]})  # fmt: skip
    for shot in ("sh010", "sh020"):
        luma_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mov", RAMPS[shot], frames=FRAMES, fps=FPS)
    with built_instance(root, home) as instance:
        project = load_project(root, "rv")
        review = project.delivery_path("review")
        before = pictures(review)
        overlay = {"text": "Jane Doe", "start": 5, "frames": 7, "position": "center", "size": 20}  # record 53-60
        set_sequence(folder, sequence=[sequence[0], {**sequence[1], "overlays": [overlay]}])
        assert rebuild(root, instance) == {"rv/timeline", "rv/cut", "rv/edl", "rv/otio", "rv/delivery_review"}
        after = pictures(review)
        (section,) = [f for f in (project.cache_dir / "transitions" / "review").iterdir() if f.is_file()]
        assert pictures(section).shape[0] == 7  # all intra: exactly the overlay's frames
    assert after.shape == before.shape == (2 * FRAMES, 144, 256)
    diff = np.abs(after - before)
    middle = slice(50, 95)  # the overlay's rows; the burn-ins are in the top and bottom rows
    for f in range(2 * FRAMES):
        if f in range(53, 60):
            assert diff[f][middle].mean() > 8, f
            # the burn-ins read as before: another digit moves glyph pixels by 100 code values or more (white on the
            # dark box), while x264 under the review preset's VBV quantizes a frame encoded beside other neighbours
            # a little differently (measured: at most 31, a mean of about 1)
            for rows in (slice(0, 20), slice(124, 144)):
                assert (diff[f][rows] > 64).sum() == 0, (f, rows, diff[f][rows].max())
        else:
            assert diff[f].max() <= 3, f


def test_a_build_whose_ffmpeg_lacks_drawtext_fails_naming_it(tmp_path: Path, ffmpeg: str, monkeypatch) -> None:
    """FFMPEG_PATH naming a build without drawtext (the 7.0.2 static build: libfreetype, no libharfbuzz) is still
    chosen, as it can do everything else; once the project has overlays its cut fails up front with a typed error
    naming the binary, its version, what it lacks and FFMPEG_PATH."""
    exe = ffmpeg_build("7.0.2")
    root, home = tmp_path / "ws", tmp_path / "home"
    home.mkdir()
    folder = write_project(root, "nd", {"fps": FPS, "resolution": "128x72", "sequence": [{"shot": "sh010"}]})
    luma_render(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mov", RAMPS["sh010"], frames=FRAMES, fps=FPS)
    with built_instance(root, home) as instance:  # the shots, with the session's FFmpeg
        set_sequence(folder, overlays=[{"text": "DRAFT", "at": 0}])
        monkeypatch.setenv("FFMPEG_PATH", exe)
        outcomes = build_workspace(instance, root)
    assert [o.success for o in outcomes] == [False], [(o.label, o.message) for o in outcomes]
    message = outcomes[0].message
    assert f"cannot draw text overlays with {exe} (FFmpeg 7.0.2" in message, message
    assert "lacks filter drawtext" in message and "FFMPEG_PATH" in message, message
