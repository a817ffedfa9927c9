"""Deliveries from presets (issue 11): every built-in preset measured on its output, custom presets, per-shot
segments joined by stream copy, the rebuild set after one shot or one preset changes, the segment check."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import av
import dagster as dg
import numpy as np
import opentimelineio as otio
import pytest

from vidasm_assets.media.assembly import delivery_segments
from vidasm_assets.media.checks import segment_mismatches
from vidasm_assets.media.demo import RenderSpec, make_render, write_project
from vidasm_assets.media.errors import InvalidMediaError
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import load_project
from vidasm_assets.media.runner import bind
from vidasm_assets.media.timeline import Timeline

from ..support.helpers import Built, build_workspace, forked, last_storage_id, loudness, materialized_since

pytestmark = pytest.mark.media

RENDERS = {
    "sh010_v001.mp4": RenderSpec(320, 180, "24", 1.0, -24, pattern="testsrc"),
    "sh020_v001.mp4": RenderSpec(640, 360, "30", 1.25, -18, tone_hz=660),  # other size and rate: conformed
    "sh030_v001.mp4": RenderSpec(320, 180, "24", 0.75, -20, timecode="10:00:00:00"),
}
FRAMES = {"sh010": 24, "sh020": 30, "sh030": 18}  # at 24 fps
TOTAL = sum(FRAMES.values())
BUILTINS = ["web", "master", "dnxhr", "hevc", "webm", "review", "proxy", "stems"]
CUSTOM = {
    # a project's own preset: small H.264 with Opus in Matroska, scaled down to 90 lines
    "tiny": {"container": "mkv", "video": {"codec": "libx264", "crf": 30, "max_height": 90, "gop_seconds": 0.5},
             "audio": {"codec": "libopus", "bitrate": "64k"}},
    # AV1 with Opus in WebM (the webm preset's alternative) and DNxHR HQX 10-bit in MXF, for Avid
    "av1": {"container": "webm", "video": {"codec": "libsvtav1", "crf": 35, "gop_seconds": 1.0},
            "audio": {"codec": "libopus", "bitrate": "96k"}},
    "avid": {"container": "mxf", "video": {"codec": "dnxhd", "profile": "dnxhr_hqx", "pix_fmt": "yuv422p10le",
                                           "intra": True}, "audio": {"codec": "pcm_s24le", "bitrate": None}},
    # the review preset without its burn-ins, to compare the burn-in regions with
    "clean": {"container": "mp4", "video": {"codec": "libx264", "profile": "high", "crf": 23, "intra": True,
                                            "max_height": 1080, "preset": "veryfast"},
              "audio": {"codec": "aac", "bitrate": "128k"}},
}  # fmt: skip
WORKSPACE_PRESETS = {"shared": {"container": "mov", "video": {"codec": "prores_ks", "profile": "0",
                                                             "pix_fmt": "yuv422p10le", "intra": True},
                                "audio": {"codec": "pcm_s16le", "bitrate": None}}}  # fmt: skip
EXPECTED = {
    # preset -> (extension, video codec, profile, pix_fmt, codec tag, size), from the table
    "web": ("mp4", "h264", "High", "yuv420p", "avc1", (320, 180)),
    "master": ("mov", "prores", "HQ", "yuv422p10le", "apch", (320, 180)),
    "dnxhr": ("mov", "dnxhd", "DNXHR HQ", "yuv422p", "AVdh", (320, 180)),
    "hevc": ("mp4", "hevc", "Main 10", "yuv420p10le", "hvc1", (320, 180)),
    "webm": ("webm", "vp9", "Profile 0", "yuv420p", None, (320, 180)),
    "review": ("mp4", "h264", "High", "yuv420p", "avc1", (320, 180)),
    "proxy": ("mov", "h264", "High", "yuv420p", "avc1", (320, 180)),
    "tiny": ("mkv", "h264", "High", "yuv420p", None, (160, 90)),
    "shared": ("mov", "prores", "Proxy", "yuv422p10le", "apco", (320, 180)),
    "av1": ("webm", "av1", "Main", "yuv420p", None, (320, 180)),
    "avid": ("mxf", "dnxhd", "DNXHR HQX", "yuv422p10le", None, (320, 180)),
}
AUDIO = {"web": "aac", "master": "pcm_s24le", "dnxhr": "pcm_s24le", "hevc": "aac", "webm": "opus",
         "review": "aac", "proxy": "aac", "tiny": "opus", "shared": "pcm_s16le", "stems": "pcm_s24le", "av1": "opus",
         "avid": "pcm_s24le"}  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str):
    root = tmp_path_factory.mktemp("ws")
    (root / "presets.json").write_text(json.dumps(WORKSPACE_PRESETS))
    exports = [*BUILTINS, "tiny", "clean", "shared", "av1", "avid"]
    spec = {"fps": 24, "resolution": "320x180", "exports": exports, "presets": CUSTOM}
    folder = write_project(root, "p", spec)
    for filename, rs in RENDERS.items():
        make_render(ffmpeg, folder / "03_Renders" / filename.split("_")[0] / filename, rs)
    home = tmp_path_factory.mktemp("dagster_home")
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
        yield Built(root, instance, build_workspace(instance, root))


@pytest.fixture
def changed(built: Built, tmp_path: Path):
    """A copy of the module's build for a test that changes it (the other tests read ``built`` as it was made)."""
    with forked(built.root, built.instance, tmp_path) as (root, instance):
        yield Built(root, instance, [])


def _video(path: Path) -> dict:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        tag = cc.codec_tag if isinstance(cc.codec_tag, str) else None
        decoders = {"libdav1d": "av1", "libaom-av1": "av1"}  # PyAV's AV1 decoder is named after its library
        return {"codec": decoders.get(cc.name, cc.name), "profile": cc.profile, "pix_fmt": cc.pix_fmt, "tag": tag,
                "size": (cc.width, cc.height), "rate": s.average_rate}  # fmt: skip


def _audio_codec(path: Path) -> str:
    with av.open(str(path)) as c:
        return c.streams.audio[0].codec_context.name


def _decoded(path: Path) -> tuple[int, int]:
    """(video frames, audio samples) by decoding everything, as a player would."""
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0)) if c.streams.video else 0
    with av.open(str(path)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    return frames, samples


def _top_level_boxes(path: Path) -> list[str]:
    data, out, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.append(kind.decode("latin-1"))
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        if size < 8:
            break
        pos += size
    return out


def _edit_media_times(path: Path) -> list[list[int]]:
    """Each track's edit list media times (elst, version 0 and 1), read from the file's bytes."""
    data, out, pos = path.read_bytes(), [], 0
    while (pos := data.find(b"elst", pos + 1)) > 0:
        version, count = data[pos + 4], struct.unpack(">I", data[pos + 8 : pos + 12])[0]
        step, fmt = (20, ">Qq") if version else (12, ">Ii")
        times = [struct.unpack(fmt, data[pos + 12 + i * step : pos + 12 + i * step + (16 if version else 8)])[1]
                 for i in range(count)]  # fmt: skip
        out.append(times)
    return out


def test_every_preset_builds(built: Built) -> None:
    assert built.outcomes and all(o.success for o in built.outcomes), [o for o in built.outcomes if not o.success]


@pytest.mark.parametrize("preset", [p for p in EXPECTED])
def test_each_preset_is_what_it_promises(built: Built, ffmpeg: str, preset: str) -> None:
    project = load_project(built.root, "p")
    path = project.delivery_path(preset)
    ext, codec, profile, pix_fmt, tag, size = EXPECTED[preset]
    assert path.suffix == f".{ext}" and path.is_file()
    v = _video(path)
    assert (v["codec"], v["profile"], v["pix_fmt"], v["size"]) == (codec, profile, pix_fmt, size)
    if tag:
        assert v["tag"] == tag
    assert v["rate"] == 24
    info = probe(path).video
    assert info is not None and (info.color_primaries, info.color_trc, info.colorspace) == ("bt709",) * 3
    # limited range: MOV's colour box for ProRes (nclc) has no range flag, and ProRes frames carry none (ProRes is
    # limited range by definition); everything else says "tv"
    assert info.color_range == ("unknown" if codec == "prores" else "tv")
    frames, samples = _decoded(path)
    assert frames == TOTAL
    want = TOTAL * 2000  # 48000 / 24 samples a frame
    assert _audio_codec(path) == AUDIO[preset]
    if AUDIO[preset].startswith("pcm"):
        assert samples == want  # PCM: sample-exact
    else:  # a lossy codec ends on its own frame size (AAC 1024, Opus 960): never short, at most one frame over
        assert want <= samples < want + 1024, samples
    integrated, _ = loudness(ffmpeg, path)
    assert abs(integrated - project.spec.audio.loudness_lufs) <= 1.0


def test_stems_are_the_programme_sound_sample_exact(built: Built, ffmpeg: str) -> None:
    project = load_project(built.root, "p")
    path = project.delivery_path("stems")
    assert path.suffix == ".wav" and _audio_codec(path) == "pcm_s24le"
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        assert (a.sample_rate, a.channels, len(c.streams.video)) == (48000, 2, 0)
        assert sum(f.samples for f in c.decode(audio=0)) == TOTAL * 2000
    integrated, _ = loudness(ffmpeg, path)
    assert abs(integrated - project.spec.audio.loudness_lufs) <= 1.0


def test_mp4_deliveries_start_with_their_index_and_no_picture_edit(built: Built) -> None:
    """faststart (moov before mdat) and no edit list shifting the picture (negative composition offsets put the
    first frame at 0): the sound keeps the one edit that hides AAC's 1024 priming samples."""
    project = load_project(built.root, "p")
    for preset in ("web", "hevc", "review"):
        path = project.delivery_path(preset)
        boxes = _top_level_boxes(path)
        assert boxes.index("moov") < boxes.index("mdat"), (preset, boxes)
        edits = _edit_media_times(path)
        assert [0] in edits and all(t in ([0], [1024]) for t in edits), (preset, edits)
        with av.open(str(path)) as c:
            first = next(c.demux(c.streams.video[0]))
            assert first.pts == 0


def test_web_is_the_cuts_picture_capped_for_streaming(built: Built) -> None:
    project = load_project(built.root, "p")
    web, cut = project.delivery_path("web"), project.cut_path()
    with av.open(str(web)) as a, av.open(str(cut)) as b:
        pa = [bytes(p) for p in a.demux(a.streams.video[0]) if p.size]
        pb = [bytes(p) for p in b.demux(b.streams.video[0]) if p.size]
    assert pa == pb  # one encode serves the cut and the web file
    assert not (project.cache_dir / "segments" / "web").exists()
    # the conform's settings are web's: closed GOP of half a second, so a keyframe every 12 frames
    with av.open(str(web)) as c:
        keys = [i for i, p in enumerate(p for p in c.demux(c.streams.video[0]) if p.size) if p.is_keyframe]
    assert keys[:3] == [0, 12, 24]


def _framemd5(ffmpeg: str, path: Path) -> list[str]:
    out = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("preset", ["master", "hevc", "webm", "review", "avid", "av1"])
def test_deliveries_are_their_segments_joined_exactly(built: Built, ffmpeg: str, preset: str) -> None:
    """Frame-exact joins: the delivery decodes to exactly its segments' frames, in story order."""
    project = load_project(built.root, "p")
    segments = [project.segment_path(preset, s) for s in ("sh010", "sh020", "sh030")]
    expected = [h for seg in segments for h in _framemd5(ffmpeg, seg)]
    assert [len(_framemd5(ffmpeg, s)) for s in segments] == list(FRAMES.values())
    assert _framemd5(ffmpeg, project.delivery_path(preset)) == expected


def _region(path: Path, frame: int, box: tuple[int, int, int, int]) -> np.ndarray:
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == frame:
                x0, y0, x1, y1 = box
                return f.to_ndarray(format="gray").astype(np.int32)[y0:y1, x0:x1]
    raise AssertionError(f"{path} has no frame {frame}")


def test_review_burn_ins_are_drawn_where_promised(built: Built) -> None:
    project = load_project(built.root, "p")
    review, clean = project.delivery_path("review"), project.delivery_path("clean")
    for frame in (0, 30, 60):
        corners = [(0, 0, 140, 16), (270, 0, 320, 16), (0, 164, 140, 180), (180, 164, 320, 180)]
        for box in corners:  # top left title, top right counter, SRC, REC: text on a box
            diff = np.abs(_region(review, frame, box) - _region(clean, frame, box)).mean()
            assert diff > 12, (frame, box, diff)
        middle = np.abs(_region(review, frame, (60, 40, 260, 140)) - _region(clean, frame, (60, 40, 260, 140)))
        assert middle.mean() < 1.0  # the picture itself untouched (same encoder, same settings)


def test_rebuild_after_one_shot_changes(changed: Built, ffmpeg: str) -> None:
    """A new take of the middle shot (same length): that shot's picture, audio and segment of every preset are
    re-encoded, then each delivery re-joined; every other segment file untouched (same inode and mtime)."""
    project = load_project(changed.root, "p")
    presets = [p.name for p in project.exports()]
    seg_presets = sorted({p.parent.name for p in (project.cache_dir / "segments").glob("*/*")})
    untouched = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (project.cache_dir / "segments").glob("*/*")
                 if p.stem != "sh020"}  # fmt: skip
    after = last_storage_id(changed.instance)
    make_render(ffmpeg, project.shot_dir("sh020") / "sh020_v002.mp4", RenderSpec(320, 180, "24", 1.25, -16))
    outcomes = build_workspace(changed.instance, changed.root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    got = materialized_since(changed.instance, after)
    want = {"p/picture[sh020]", "p/audio[sh020]", *(f"p/segments_{s}[sh020]" for s in seg_presets),
            "p/timeline", "p/cut", "p/edl", "p/otio", *(f"p/delivery_{s}" for s in presets)}  # fmt: skip
    assert got == want
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in untouched} == untouched
    # a no-op build after it writes nothing
    after = last_storage_id(changed.instance)
    assert build_workspace(changed.instance, changed.root) == []
    assert materialized_since(changed.instance, after) == set()


def test_changing_one_preset_rebuilds_that_preset_only(changed: Built) -> None:
    project = load_project(changed.root, "p")
    other = {p: p.stat().st_mtime_ns for p in project.exports_dir.iterdir() if "tiny" not in p.name}
    pj = project.root / "project.json"
    data = json.loads(pj.read_text())
    data["presets"]["tiny"]["video"]["crf"] = 35
    pj.write_text(json.dumps(data))
    after = last_storage_id(changed.instance)
    outcomes = build_workspace(changed.instance, changed.root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    got = materialized_since(changed.instance, after)
    assert got == {"p/segments_tiny[sh010]", "p/segments_tiny[sh020]", "p/segments_tiny[sh030]", "p/delivery_tiny"}
    assert {p: p.stat().st_mtime_ns for p in other} == other


def test_burn_in_segments_follow_the_record_timecode(changed: Built, ffmpeg: str) -> None:
    """The first shot gets longer: every later shot's record timecode moves, so their review segments are
    re-encoded; the other presets' segments of those shots are not."""
    project = load_project(changed.root, "p")
    make_render(ffmpeg, project.shot_dir("sh010") / "sh010_v002.mp4", RenderSpec(320, 180, "24", 1.5, -24))
    after = last_storage_id(changed.instance)
    outcomes = build_workspace(changed.instance, changed.root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    got = materialized_since(changed.instance, after)
    assert {"p/segments_review[sh020]", "p/segments_review[sh030]"} <= got
    assert "p/segments_master[sh020]" not in got and "p/segments_hevc[sh030]" not in got


def test_a_moved_workspace_rewrites_only_what_names_its_renders(built: Built, changed: Built) -> None:
    """The workspace copied to another path (as a shared volume mounted elsewhere): ``changed``'s fixture checked
    that its first build rewrote the timeline and the OTIO/FCP XML only; here, that they name the renders at the
    new path, and that no picture or sound file was written again."""
    before, after = load_project(built.root, "p"), load_project(changed.root, "p")
    renders = after.root / "03_Renders"
    timeline = json.loads(after.timeline_path().read_text())
    assert all(Path(c["source_path"]).is_relative_to(renders) for c in timeline["clips"])
    refs = [c.media_reference.target_url for c in otio.adapters.read_from_file(str(after.otio_path())).find_clips()]
    assert {url.rsplit("/", 1)[1] for url in refs} == set(RENDERS), refs  # picture and sound tracks
    assert all(url.startswith(renders.as_uri() + "/") for url in refs), refs
    urls = [e.text for e in ElementTree.parse(after.fcp_xml_path()).iter("pathurl")]
    assert urls and all(str(renders) in (url or "") for url in urls), urls
    assert str(before.root) not in after.otio_path().read_text() + after.fcp_xml_path().read_text()
    for old in [*before.exports_dir.iterdir(), before.cut_path(), *(before.cache_dir / "segments").glob("*/*")]:
        new = after.root / old.relative_to(before.root)
        assert new.stat().st_mtime_ns == old.stat().st_mtime_ns, new  # copied, never written again


def test_mismatched_segments_are_refused_before_the_join(tmp_path: Path, ffmpeg: str, make_project) -> None:
    """Two VP9 segments in different pixel formats: FFmpeg's concat demuxer joins them without a word (and the
    result decodes wrong); the check names the odd segment, and the delivery refuses to join."""
    run = bind(ffmpeg)
    segs = []
    for name, pix in (("a", "yuv420p"), ("b", "yuv420p10le")):
        dest = tmp_path / f"{name}.mkv"
        run(["-hide_banner", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=24:d=0.5", "-c:v", "libvpx-vp9",
             "-pix_fmt", pix, "-crf", "32", "-b:v", "0", "-g", "12", "-auto-alt-ref", "0", "-deadline", "realtime",
             "-f", "matroska", str(dest)])  # fmt: skip
        segs.append(dest)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"file '{s}'\n" for s in segs))
    joined = tmp_path / "joined.mkv"
    run(["-hide_banner", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(joined)])
    assert joined.is_file()  # FFmpeg did not refuse it: the check is the only guard
    problem = segment_mismatches(segs)
    assert "b.mkv differs from a.mkv" in problem and "pix_fmt yuv420p10le" in problem
    assert segment_mismatches([segs[0], segs[0]]) == ""

    # through a delivery: a segment replaced by one in another pixel format is refused, naming it
    folder = make_project(tmp_path / "ws", "q", {"sh010_v001.mp4": RenderSpec(160, 90, "24", 0.5, -20),
                                                 "sh020_v001.mp4": RenderSpec(160, 90, "24", 0.5, -20)},
                          {"fps": 24, "resolution": "160x90", "exports": ["webm"]})  # fmt: skip
    project = load_project(tmp_path / "ws", "q")
    for shot, src in (("sh010", segs[0]), ("sh020", segs[1])):
        project.segment_path("webm", shot).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, project.segment_path("webm", shot))
    tl = Timeline.from_dict({"project": "q", "rate": [24, 1], "clips": [
        {"shot": s, "take": "v001", "clip_name": f"{s}_v001", "source_path": str(folder), "frames": 12}
        for s in ("sh010", "sh020")]})  # fmt: skip
    with pytest.raises(InvalidMediaError, match=r"sh020\.mkv differs from sh010\.mkv in .*pix_fmt yuv420p10le"):
        delivery_segments(run, project, tl, project.preset("webm"))


def test_posters_and_contact_sheet_are_shown_in_the_ui(built: Built) -> None:
    """Each shot's picture carries its poster, the cut its contact sheet, embedded as small images in the event
    log (under 60 KB each); the files sit in 05_Cache."""
    project = load_project(built.root, "p")
    for key, partition, name in (("picture", "sh010", "poster"), ("cut", None, "contact_sheet")):
        records = built.instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(["p", key]), asset_partitions=[partition] if partition else None
            ),
            limit=1,
        ).records
        md = records[0].asset_materialization.metadata[name]  # type: ignore[union-attr]
        assert isinstance(md, dg.MarkdownMetadataValue)
        assert md.md_str.startswith("![") and "data:image/jpeg;base64," in md.md_str and len(md.md_str) < 60_000
    assert project.poster_path("sh010").is_file() and project.contact_sheet_path().is_file()
    with av.open(str(project.contact_sheet_path())) as c:
        sheet = next(c.decode(video=0))
        assert sheet.width >= 3 * 100  # one cell per shot, side by side
