"""Media correctness on messy renders, built through Dagster on a real instance and measured on the outputs.

Three projects are generated and built once: ``sound`` (loudness edge cases), ``mixed`` (heterogeneous
pictures: sizes, pixel aspect, rotation, rates, VFR, interlace, codecs, containers, start times) and
``colour`` (BT.601/untagged/full-range sources and HDR tone-mapping). Every assertion measures the output:
PyAV stream values and decoded pixels, sample counts, ebur128 loudness.
"""

from __future__ import annotations

import io
import itertools
from fractions import Fraction
from pathlib import Path

import av
import dagster as dg
import numpy as np
import pycmx
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.media import assembly, checks, loudness, shots
from vidasm_assets.media.demo import write_project
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import discover_projects
from vidasm_assets.media.runner import bind

from ..support import media_sources as ms
from ..support.helpers import Built, build_workspace, decoded_audio_samples, video_frames_and_duration

pytestmark = pytest.mark.media

X = ms.X264
TARGET, CEILING = -16.0, -1.0

SOUND = {  # shot: (file, ffmpeg args)
    "s010": ("mp4", ms.with_av(ms.video(seconds=2), ms.speech_like(2, -30))),
    "s020": ("mp4", ms.with_av(ms.video(seconds=2), ms.tone(2, -6, hz=660))),
    "s030": ("mp4", ms.with_av(ms.video(), ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo:d=1"])),
    "s040": ("mp4", ms.with_av(ms.video(), ms.tone(1, -95))),  # near-silent: below the -70 LUFS gate
    "s050": ("mp4", ms.with_av(ms.video(seconds=0.25), ms.tone(0.25, -30))),  # 6 frames: shorter than a block
    "s060": ("mp4", ms.with_av(ms.video(), ["-f", "lavfi", "-i",
                                             "aevalsrc='clip(3*sin(2*PI*440*t),-1,1)':s=48000:c=stereo:d=1"])),
    "s070": ("mp4", ms.with_av(ms.video(), ms.tone(1, -20, rate=44100, layout="mono"))),
    "s080": ("mov", ms.with_av(ms.video(), ms.tone(1, -24, rate=96000, layout="5.1"), acodec=ms.PCM)),
    "s090": ("mov", ms.with_av(ms.video(), ms.tone(1, -24, layout="7.1"), acodec=ms.PCM)),
    "s100": ("mp4", ms.with_av(ms.video(), None)),  # no audio stream
    "s110": ("mp4", ms.with_av(ms.video(seconds=2), ms.crest(2, -36))),  # quiet with loud transients
    "s120": ("mp4", ms.with_av(ms.video(seconds=2), ms.speech_like(2, -45))),
}  # fmt: skip
PROGRAMME = ["s010", "s020", "s050", "s060", "s070", "s080", "s090", "s110", "s120"]


def _mixed(ffmpeg: str, root: Path, work: Path) -> None:
    renders = root / "mixed" / "03_Renders"
    cases = {
        "m010": ("mp4", [*ms.flat(size="200x150"), *X]),  # 4:3 -> pillarbox
        "m020": ("mp4", [*ms.flat(size="180x120"), "-vf", "setsar=8/9", *X]),  # non-square pixels: DAR 4:3
        "m030": ("mkv", [*ms.video("161x91", pattern="testsrc"), "-c:v", "libx264", "-preset", "ultrafast",
                         "-pix_fmt", "yuv444p"]),  # odd dimensions
        "m050": ("mp4", ms.with_av(ms.video(rate="30000/1001"), ms.tone(1, -20))),
        "m060": ("mp4", ms.with_av(ms.video(rate="60000/1001"), ms.tone(1, -20))),
        "m070": ("mkv", [*ms.video(rate="48"), "-vf", r"select='not(mod(n\,3))+not(mod(n\,5))'", "-fps_mode",
                         "vfr", *X]),  # variable frame rate
        "m080": ("mp4", [*ms.video("320x240", "25"), *ms.tone(1, -20), "-vf", "setfield=tff", "-flags",
                         "+ilme+ildct", "-field_order", "tt", "-c:v", "libx264", "-preset", "ultrafast",
                         "-x264opts", "tff=1", "-pix_fmt", "yuv420p", *ms.AAC]),  # interlaced 25i
        "m090": ("mov", ms.with_av(ms.video(), ms.tone(1, -20), ["-c:v", "prores_ks", "-profile:v", "0"], ms.PCM)),
        "m100": ("mov", [*ms.video("256x144"), "-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"]),
        "m110": ("mp4", ms.with_av(ms.video(), ms.tone(1, -20), ["-c:v", "libx265", "-preset", "ultrafast",
                                                                   "-x265-params", "log-level=error",
                                                                   "-tag:v", "hvc1"])),
        "m120": ("mkv", ms.with_av(ms.video(), ms.tone(1, -20), ["-c:v", "libvpx-vp9", "-deadline", "realtime",
                                                                   "-cpu-used", "8", "-b:v", "200k"],
                                   ["-c:a", "libopus"])),
        "m150": ("mov", [*ms.with_av(ms.video(), ms.tone(1, -20), acodec=ms.PCM), "-timecode", "01:00:10:00"]),
    }  # fmt: skip
    for shot, (ext, args) in cases.items():
        ms.run(ffmpeg, renders / shot / f"{shot}_v001.{ext}", args)
    ms.rotated(ffmpeg, renders / "m040" / "m040_v001.mp4", work)
    ms.sync_pair(ffmpeg, renders / "m130" / "m130_v001.mkv", work, audio_late=0.25, picture_late=0, fmt="matroska")
    ms.sync_pair(ffmpeg, renders / "m140" / "m140_v001.mkv", work, audio_late=0, picture_late=0.25, fmt="matroska")


# RGB patch -> (source matrix, size, tags): the conform must land on the BT.709 coding of the same RGB
PATCH = "0xC83232"
COLOUR = {
    "c010": ("bt601", "320x240", ("smpte170m", "smpte170m", "smpte170m")),  # SD BT.601, tagged
    "c020": ("bt601", "320x240", None),  # SD, untagged: assumed BT.601
    "c030": ("bt709", "1280x720", None),  # HD, untagged: assumed BT.709
    "c050": ("bt709", "640x360", ("bt709", "bt709", "bt709")),
}


def _colour(ffmpeg: str, root: Path) -> None:
    renders = root / "colour" / "03_Renders"
    for shot, (matrix, size, tags) in COLOUR.items():
        ms.run(ffmpeg, renders / shot / f"{shot}_v001.mp4", ms.colour_patch(PATCH, size, matrix=matrix, tags=tags,
                                                                           seconds=0.5))  # fmt: skip
    # full range (JPEG levels) BT.601: black must come out at 16, white at 235
    ms.run(ffmpeg, renders / "c040" / "c040_v001.mp4", [
        "-f", "lavfi", "-i", "color=c=black:s=160x90:r=24:d=0.5,drawbox=x=80:w=80:c=white:t=fill",
        "-vf", "scale=out_color_matrix=bt601:out_range=pc,format=yuvj420p,setparams=range=pc:colorspace=smpte170m",
        "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"])  # fmt: skip
    ms.run(ffmpeg, renders / "c060" / "c060_v001.mp4", ms.hdr_patches("smpte2084", seconds=0.5))
    ms.run(ffmpeg, renders / "c070" / "c070_v001.mp4", ms.hdr_patches("arib-std-b67", seconds=0.5))
    ms.run(ffmpeg, renders / "c080" / "c080_v001.mp4", ms.hdr_patches("bt2020-10", seconds=0.5))  # SDR BT.2020


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str):
    root = tmp_path_factory.mktemp("cases")
    work = tmp_path_factory.mktemp("work")
    write_project(root, "sound", {"fps": 24, "resolution": "160x90"})
    for shot, (ext, args) in SOUND.items():
        ms.run(ffmpeg, root / "sound" / "03_Renders" / shot / f"{shot}_v001.{ext}", args)
    write_project(root, "mixed", {"fps": 24, "resolution": "160x90"})
    _mixed(ffmpeg, root, work)
    write_project(root, "colour", {"fps": 24, "resolution": "160x90", "colour": {"hdr": "tonemap"}})
    _colour(ffmpeg, root)
    home = tmp_path_factory.mktemp("dagster_home")
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
        outcomes = build_workspace(instance, root)
        yield Built(root, instance, outcomes)


def _project(root: Path, name: str):
    return discover_projects(root).projects[name]


def _lufs(ffmpeg: str, path: Path) -> tuple[float, float | None]:
    info = probe(path)
    samples = info.audio[0].samples if info.audio else None
    return loudness.measure_loudness(bind(ffmpeg), path, samples=samples)


def _planes(path: Path, index: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, Cb, Cr of one decoded frame, as stored (no conversion)."""
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                out = []
                for p in f.planes:
                    a = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
                    out.append(a.astype(int))
                return out[0], out[1], out[2]
    raise AssertionError(f"{path} has no frame {index}")


def _ycbcr(rgb: str, matrix: str) -> tuple[float, float, float]:
    """Limited-range 8-bit Y'CbCr of an sRGB-coded 8-bit colour under the BT.601 or BT.709 matrix."""
    r, g, b = (int(rgb[i : i + 2], 16) / 255 for i in (2, 4, 6))
    kr, kb = (0.299, 0.114) if matrix == "bt601" else (0.2126, 0.0722)
    y = kr * r + (1 - kr - kb) * g + kb * b
    return 16 + 219 * y, 128 + 224 * (b - y) / (2 * (1 - kb)), 128 + 224 * (r - y) / (2 * (1 - kr))


def _checks(instance: dg.DagsterInstance, project: str, asset: str, partition: str | None = None) -> dict[str, bool]:
    """The latest evaluation of every check on an asset (partition), as recorded by the instance."""
    out = {}
    specs = {"picture": checks.PICTURE_CHECKS, "audio": checks.AUDIO_CHECKS, "cut": checks.CUT_CHECKS}[asset]
    for name in specs:
        key = dg.AssetCheckKey(n.key(project, asset), name)
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=200)
        for r in records:  # newest first; a shot's evaluation is in the run of that shot's partition
            run = instance.get_run_by_id(r.run_id)
            if run is not None and run.tags.get("dagster/partition") == partition and r.event is not None:
                evaluation = r.event.dagster_event.event_specific_data  # type: ignore[union-attr]
                out[name] = bool(evaluation.passed)
                break
    return out


# ---------------------------------------------------------------- everything builds


def test_every_case_builds_and_every_check_passes(built) -> None:
    root, instance, outcomes = built.root, built.instance, built.outcomes
    assert outcomes and all(o.success for o in outcomes), [o for o in outcomes if not o.success]
    for name in ("sound", "mixed", "colour"):
        project = _project(root, name)
        assert project.delivery_path("web").is_file()
        for shot in project.shots():
            assert _checks(instance, name, "picture", shot) == dict.fromkeys(checks.PICTURE_CHECKS, True), shot
            assert _checks(instance, name, "audio", shot) == dict.fromkeys(checks.AUDIO_CHECKS, True), shot
        assert _checks(instance, name, "cut") == dict.fromkeys(checks.CUT_CHECKS, True), name


# ---------------------------------------------------------------- loudness


def _audio_md(instance: dg.DagsterInstance, project: str, shot: str) -> dict:
    mat = instance.get_latest_materialization_event(n.key(project, "audio"))
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=n.key(project, "audio"), asset_partitions=[shot]), limit=1
    ).records
    assert mat is not None and records
    md = records[0].asset_materialization.metadata  # type: ignore[union-attr]
    return {k: getattr(v, "value", v) for k, v in md.items()}


def test_programme_audio_on_target_and_even_across_shots(built, ffmpeg: str) -> None:
    root = built.root
    project = _project(root, "sound")
    got = {}
    for shot in PROGRAMME:
        integrated, peak = _lufs(ffmpeg, project.audio_path(shot))
        assert abs(integrated - TARGET) <= 1.0, (shot, integrated)
        assert peak is not None and peak <= CEILING, (shot, peak)
        got[shot] = integrated
    sources = [probe(project.select_take(s).path) for s in PROGRAMME]
    assert all(s.has_audio for s in sources)
    assert max(got.values()) - min(got.values()) <= 1.5, got


def test_sources_spread_over_20_lu_are_reported(built) -> None:
    instance = built.instance
    measured = {s: _audio_md(instance, "sound", s)["source_lufs"] for s in PROGRAMME}
    assert max(measured.values()) - min(measured.values()) >= 20, measured
    for shot in PROGRAMME:
        md = _audio_md(instance, "sound", shot)
        assert md["normalization_type"] in ("linear", "linear+limiter"), (shot, md)
        assert abs(md["loudness_lufs"] - TARGET) <= 1.0 and md["true_peak_dbtp"] <= CEILING


def test_quiet_shot_with_loud_transients_is_limited_not_left_quiet(built, ffmpeg: str) -> None:
    root, instance = built.root, built.instance
    md = _audio_md(instance, "sound", "s110")
    assert md["mode"] == "limited" and md["normalization_type"] == "linear+limiter"
    assert md["limiter_peak_reduction_db"] > 10  # linear gain alone would have put the peaks 10+ dB over
    assert md["source_true_peak_dbtp"] + md["gain_db"] > CEILING
    integrated, peak = _lufs(ffmpeg, _project(root, "sound").audio_path("s110"))
    assert abs(integrated - TARGET) <= 1.0 and peak is not None and peak <= CEILING


def test_clipping_source_louder_than_0_lufs_is_brought_down_linearly(built) -> None:
    instance = built.instance
    md = _audio_md(instance, "sound", "s060")
    assert md["source_lufs"] > 0 and md["source_true_peak_dbtp"] >= 0  # clipped square-ish wave
    assert md["mode"] == "normalized" and md["normalization_type"] == "linear" and md["gain_db"] < -15


def test_silent_and_near_silent_sources_are_kept_as_is_and_reported(built, ffmpeg: str) -> None:
    root, instance = built.root, built.instance
    project = _project(root, "sound")
    for shot in ("s030", "s040"):
        md = _audio_md(instance, "sound", shot)
        assert md["mode"] == "silent-source", md
        assert md["source_lufs"] in ("-inf", float("-inf")) or md["source_lufs"] <= -70
        assert "kept as is" in md["notes"]
        integrated, _ = _lufs(ffmpeg, project.audio_path(shot))
        assert integrated <= -70
    # near-silent stays near-silent (not boosted by 80 dB): its peak is where the source had it
    _, peak = _lufs(ffmpeg, project.audio_path("s040"))
    assert peak is not None and peak < -90


def test_audio_is_48k_stereo_of_exact_length_whatever_the_source(built) -> None:
    root = built.root
    project = _project(root, "sound")
    rate = project.spec.rate
    src = {s: probe(project.select_take(s).path) for s in project.shots()}
    assert (src["s070"].audio[0].sample_rate, src["s070"].audio[0].channels) == (44100, 1)
    assert (src["s080"].audio[0].sample_rate, src["s080"].audio[0].channels) == (96000, 6)
    assert src["s090"].audio[0].channels == 8 and not src["s100"].has_audio
    for shot in project.shots():
        wav = project.audio_path(shot)
        a = probe(wav).audio[0]
        assert (a.sample_rate, a.channels) == (48000, 2), shot
        frames = probe(project.picture_path(shot)).video.frames  # type: ignore[union-attr]
        assert decoded_audio_samples(wav) == rate.samples_for_frames(frames), shot
    assert probe(project.picture_path("s050")).video.frames == 6  # type: ignore[union-attr]


def test_render_without_audio_gets_exact_digital_silence(built) -> None:
    root, instance = built.root, built.instance
    wav = _project(root, "sound").audio_path("s100")
    with av.open(str(wav)) as c:
        samples = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
    assert samples.size == 2 * 48000 and not samples.any()
    assert _audio_md(instance, "sound", "s100")["mode"] == "silence"


def test_cut_loudness_on_target_and_peaks_under_the_ceiling(built, ffmpeg: str) -> None:
    root = built.root
    project = _project(root, "sound")
    for path in (project.cut_path(), project.delivery_path("web")):
        integrated, peak = _lufs(ffmpeg, path)
        assert abs(integrated - TARGET) <= 1.0, (path, integrated)
        assert peak is not None and peak <= CEILING, (path, peak)
    frames, _ = video_frames_and_duration(project.cut_path())
    rate = project.spec.rate
    want = sum(rate.samples_for_frames(probe(project.picture_path(s)).video.frames) for s in project.shots())  # type: ignore[union-attr]
    assert decoded_audio_samples(project.cut_path()) == want
    assert frames == sum(probe(project.picture_path(s)).video.frames for s in project.shots())  # type: ignore[union-attr]


# ---------------------------------------------------------------- heterogeneous pictures


def _active_box(path: Path) -> tuple[int, int]:
    """Width and height of the picture inside the black bars (luma above black)."""
    y, _, _ = _planes(path)
    rows, cols = np.where(y > 40)
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


def test_every_source_lands_at_timeline_size_rate_and_length(built) -> None:
    root = built.root
    project = _project(root, "mixed")
    rate = project.spec.rate
    for shot in project.shots():
        src = probe(project.select_take(shot).path)
        pic = project.picture_path(shot)
        v = probe(pic).video
        assert v is not None
        assert (v.width, v.height, v.sar, v.rate, v.pix_fmt) == (160, 90, 1, 24, "yuv420p"), shot
        assert (v.color_primaries, v.color_trc, v.colorspace, v.color_range) == checks.BT709, shot
        frames, duration = video_frames_and_duration(pic)
        assert frames == v.frames == shots.shot_frames(src, rate), shot
        assert abs(duration - src.video.duration) <= Fraction(1, 24), (shot, duration, src.video.duration)  # type: ignore[union-attr]
    cut_frames, _ = video_frames_and_duration(project.cut_path())
    assert cut_frames == sum(probe(project.picture_path(s)).video.frames for s in project.shots())  # type: ignore[union-attr]


def test_sources_cover_the_cases(built) -> None:
    """The generated sources really are what the cases claim (so the other tests prove something)."""
    root = built.root
    project = _project(root, "mixed")
    src = {s: probe(project.select_take(s).path, first_frame=True) for s in project.shots()}
    v = {s: i.video for s, i in src.items()}
    assert v["m020"].sar == Fraction(8, 9)  # type: ignore[union-attr]
    assert (v["m030"].width, v["m030"].height) == (161, 91)  # type: ignore[union-attr]
    assert v["m040"].rotation in (90, 270) and v["m040"].display_size == (90, 160)  # type: ignore[union-attr]
    assert v["m050"].rate == Fraction(30000, 1001) and v["m060"].rate == Fraction(60000, 1001)  # type: ignore[union-attr]
    assert v["m080"].interlaced and v["m080"].field_order in ("tt", "tb")  # type: ignore[union-attr]
    codecs = {s: (x.codec, src[s].format_name.split(",")[0]) for s, x in v.items()}  # type: ignore[union-attr]
    assert codecs["m090"] == ("prores", "mov") and codecs["m100"] == ("dnxhd", "mov")
    assert codecs["m110"] == ("hevc", "mov") and codecs["m120"] == ("vp9", "matroska")
    assert src["m120"].audio[0].codec == "opus"
    assert src["m130"].start_time == 10 and src["m140"].video_offset == Fraction(1, 4)
    with av.open(str(project.select_take("m070").path)) as c:  # VFR: uneven frame spacing
        pts = [f.pts for f in c.decode(video=0)]
    assert len({b - a for a, b in itertools.pairwise(pts)}) > 1


def test_aspect_is_kept_with_pillarbox_for_other_shapes_sar_and_rotation(built) -> None:
    root = built.root
    project = _project(root, "mixed")
    assert _active_box(project.picture_path("m010")) == (120, 90)  # 4:3 square pixels
    assert _active_box(project.picture_path("m020")) == (120, 90)  # 180x120 at SAR 8:9 shows as 4:3
    w, h = _active_box(project.picture_path("m040"))  # 160x90 turned 90 degrees: 90x160 shown
    assert h == 90 and 50 <= w <= 52


def test_interlaced_source_is_deinterlaced_to_progressive(built) -> None:
    root, instance = built.root, built.instance
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=n.key("mixed", "picture"), asset_partitions=["m080"]), limit=1
    ).records
    md = records[0].asset_materialization.metadata  # type: ignore[union-attr]
    assert md["deinterlaced"].value is True and md["source_field_order"].value in ("tt", "tb")
    out = _project(root, "mixed").picture_path("m080")
    conformed = probe(out, first_frame=True).video
    assert conformed is not None and conformed.field_order in ("progressive", "unknown") and not conformed.interlaced
    with av.open(str(out)) as c:
        assert not any(f.interlaced_frame for f in c.decode(c.streams.video[0]))


def _flash_frame(path: Path, start: int = 0) -> int:
    """The first frame from ``start`` on that is mostly white, counted from ``start``."""
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= start and f.to_ndarray(format="gray").mean() > 200:
                return i - start
    raise AssertionError(f"no flash in {path}")


def _beep_sample(path: Path, start: int = 0) -> int:
    """The first sample from ``start`` on that is loud (the beep's onset), counted from ``start``."""
    with av.open(str(path)) as c:
        x = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])  # interleaved stereo
    x = np.abs(x[2 * start :])
    return int(np.argmax(x > 0.05 * x.max())) // 2


@pytest.mark.parametrize("shot", ["m130", "m140"])
def test_non_zero_start_times_keep_picture_and_sound_in_sync(built, shot: str) -> None:
    """The flash and the beep happen at the same instant in the render; they must in the shot and the cut."""
    root = built.root
    project = _project(root, "mixed")
    flash = _flash_frame(project.picture_path(shot))
    beep = _beep_sample(project.audio_path(shot))
    assert flash == 24  # one second into the shot
    assert abs(beep / 48000 - flash / 24) <= 0.005, (shot, flash, beep)
    shots = project.shots()
    before = sum(probe(project.picture_path(s)).video.frames for s in shots[: shots.index(shot)])  # type: ignore[union-attr]
    cut = project.cut_path()
    assert _flash_frame(cut, before) == 24
    assert abs(_beep_sample(cut, before * 2000) - beep) <= 1


def test_source_timecode_reaches_the_edl(built) -> None:
    root = built.root
    text = _project(root, "mixed").edl_path().read_text()
    events = {e.edits[0].clip_name: e.edits[0] for e in pycmx.parse_cmx3600(io.StringIO(text)).events}
    assert events["m150_v001"].source_in == "01:00:10:00"


# ---------------------------------------------------------------- colour


def test_bt601_and_untagged_sources_are_converted_not_retagged(built) -> None:
    root = built.root
    project = _project(root, "colour")
    want = _ycbcr(PATCH, "bt709")
    as601 = _ycbcr(PATCH, "bt601")
    assert abs(want[0] - as601[0]) > 10  # the test can tell a conversion from a re-tag
    for shot in COLOUR:
        y, cb, cr = _planes(project.picture_path(shot))
        got = (y[45, 80], cb[22, 40], cr[22, 40])
        assert all(abs(g - w) <= 3 for g, w in zip(got, want, strict=True)), (shot, got, want)


def test_full_range_source_is_brought_to_limited_range(built) -> None:
    root = built.root
    y, _, _ = _planes(_project(root, "colour").picture_path("c040"))
    assert abs(y[45, 20] - 16) <= 1 and abs(y[45, 140] - 235) <= 1


def test_hdr_is_tone_mapped_when_the_project_asks(built) -> None:
    root, instance = built.root, built.instance
    project = _project(root, "colour")
    for shot, transfer in (("c060", "smpte2084"), ("c070", "arib-std-b67")):
        assert probe(project.select_take(shot).path).video.color_trc == transfer  # type: ignore[union-attr]
        y, cb, _ = _planes(project.picture_path(shot))
        dark, mid, bright = (int(y[45, x]) for x in (26, 80, 133))
        naive = [16 + (v - 64) * 219 // 876 for v in ms.PQ_PATCHES]  # PQ/HLG code values merely re-tagged
        assert dark < mid < bright <= 235, (shot, dark, mid, bright)
        assert abs(int(cb[22, 40]) - 128) <= 2  # grey stays grey
        assert abs(mid - naive[1]) > 20, (shot, mid, naive)
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=n.key("colour", "picture"), asset_partitions=[shot]), limit=1
        ).records
        md = records[0].asset_materialization.metadata  # type: ignore[union-attr]
        assert md["colour_conversion"].value.startswith("tone-mapped")


def test_wide_gamut_sdr_is_gamut_converted_and_greys_stay_put(built) -> None:
    root, instance = built.root, built.instance
    y, cb, cr = _planes(_project(root, "colour").picture_path("c080"))
    for x, code in zip((26, 80, 133), ms.PQ_PATCHES, strict=True):
        assert abs(int(y[45, x]) - (16 + (code - 64) * 219 / 876)) <= 3  # same SDR transfer: same grey levels
    assert abs(int(cb[22, 40]) - 128) <= 2 and abs(int(cr[22, 40]) - 128) <= 2
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=n.key("colour", "picture"), asset_partitions=["c080"]), limit=1
    ).records
    md = records[0].asset_materialization.metadata  # type: ignore[union-attr]
    assert md["colour_conversion"].value == "BT.2020 gamut-converted to BT.709"


def test_bt709_tags_survive_stream_copy_into_cut_and_web(built) -> None:
    root = built.root
    for name in ("colour", "mixed"):
        project = _project(root, name)
        for path in (project.cut_path(), project.delivery_path("web")):
            v = probe(path).video
            assert v is not None and (v.color_primaries, v.color_trc, v.colorspace, v.color_range) == checks.BT709
            with av.open(str(path)) as c:  # and on the decoded frames, not only the container
                f = next(c.decode(video=0))
                assert (int(f.color_primaries), int(f.color_trc), int(f.colorspace), int(f.color_range)) == (
                    1, 1, 1, 1,
                )  # fmt: skip


def test_cut_joins_are_gapless(built, ffmpeg: str) -> None:
    root = built.root
    project = _project(root, "mixed")
    tl = assembly.build_timeline(project)
    with av.open(str(project.cut_path())) as c:
        vpts = sorted(p.pts for p in c.demux(c.streams.video[0]) if p.pts is not None)
    assert len(vpts) == tl.total_frames and {b - a for a, b in itertools.pairwise(vpts)} == {1000}
    outcomes = {c.name: c for c in checks.cut_checks(bind(ffmpeg), project, tl, project.cut_path())}
    assert outcomes["no_gap_at_joins"].passed and outcomes["duration_is_sum"].passed
    assert outcomes["no_gap_at_joins"].metadata["joins_at_frames"].count(",") == len(tl.clips) - 2
