"""End to end through Dagster on generated media with a real (SQLite) instance."""

from __future__ import annotations

import io
import math
import shutil
from fractions import Fraction
from pathlib import Path

import av
import dagster as dg
import pycmx
import pytest

from vidasm_assets.media.demo import RenderSpec, make_render
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import Project, discover_projects
from vidasm_assets.media.timeline import Timeline

from ..support.helpers import (
    Built,
    build_workspace,
    decoded_audio_samples,
    forked,
    last_storage_id,
    loudness,
    materialized_since,
    set_spec,
    video_frames_and_duration,
)

pytestmark = pytest.mark.media

ALPHA = {
    "sh010_v001.mp4": RenderSpec(320, 180, "24", 2.0, -30, pattern="testsrc"),
    "sh010_v002.mp4": RenderSpec(320, 180, "24", 2.0, -28),
    "sh020_v001.mp4": RenderSpec(640, 360, "30", 1.5, -10, tone_hz=660),  # other size and rate
    "sh030_v001.mp4": RenderSpec(256, 144, "25", 2.0, None),  # 25 fps, no audio
    "sh040_v001.mov": RenderSpec(320, 240, "24", 1.0, -20, sample_rate=44100, channels=1),  # MOV, 44.1k mono
}
BETA = {
    "b010_v001.mp4": RenderSpec(320, 180, "25", 1.2, -18),
    "b020_take01.mp4": RenderSpec(320, 180, "25", 1.0, -40),
    "b020_take02.mp4": RenderSpec(320, 180, "25", 1.6, -22),
}
BETA_SPEC = {
    "fps": 25,
    "resolution": "320x180",
    "sequence": [{"shot": "b020", "take": "take01", "scene": "1"}, {"shot": "b010", "beat": "end"}],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str):
    from vidasm_assets.media.demo import write_project

    root = tmp_path_factory.mktemp("ws")
    for name, renders, spec in (
        ("alpha", ALPHA, {"fps": 24, "resolution": "320x180"}),
        ("beta", BETA, BETA_SPEC),
    ):
        folder = write_project(root, name, spec)
        for filename, rs in renders.items():
            make_render(ffmpeg, folder / "03_Renders" / filename.split("_")[0] / filename, rs)
    home = tmp_path_factory.mktemp("dagster_home")
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
        outcomes = build_workspace(instance, root)
        yield Built(root, instance, outcomes)


def test_everything_builds(built) -> None:
    root, outcomes = built.root, built.outcomes
    assert outcomes and all(o.success for o in outcomes), [o for o in outcomes if not o.success]
    for project, shots in (("alpha", 4), ("beta", 2)):
        assert (root / project / "06_Exports" / f"{project}_web.mp4").is_file()
        assert (root / project / "04_Project_Files" / "assemblies" / f"{project}.edl").is_file()
        assert len(list((root / project / "05_Cache" / "picture").glob("*.mov"))) == shots


def test_conformed_shots_meet_the_spec(built) -> None:
    root = built.root
    for project, fps in (("alpha", 24), ("beta", 25)):
        for pic in sorted((root / project / "05_Cache" / "picture").glob("*.mov")):
            v = probe(pic).video
            assert v is not None
            assert (v.width, v.height, v.pix_fmt, v.sar) == (320, 180, "yuv420p", 1), pic
            assert v.rate == fps
            assert (v.color_primaries, v.color_trc, v.colorspace, v.color_range) == ("bt709",) * 3 + ("tv",)
            assert v.codec == "h264" and v.profile == "High"
            frames, _ = video_frames_and_duration(pic)
            assert frames == v.frames


def test_normalized_audio_hits_target_and_exact_length(built, ffmpeg: str) -> None:
    root = built.root
    project = discover_projects(root).projects["alpha"]
    rate = project.spec.rate
    for shot in project.shots():
        wav = project.audio_path(shot)
        a = probe(wav).audio[0]
        assert (a.sample_rate, a.channels) == (48000, 2)
        frames = probe(project.picture_path(shot)).video.frames  # type: ignore[union-attr]
        assert decoded_audio_samples(wav) == rate.samples_for_frames(frames)
        integrated, _ = loudness(ffmpeg, wav)
        if shot == "sh030":  # no audio in the render: exact silence
            assert integrated <= -70 or math.isinf(integrated)
        else:
            assert abs(integrated - (-16)) <= 1.0, (shot, integrated)


def test_cut_duration_is_the_sum_and_streams_agree(built) -> None:
    root = built.root
    for name in ("alpha", "beta"):
        project = discover_projects(root).projects[name]
        rate = project.spec.rate
        frame = Fraction(rate.den, rate.num)
        renders = [probe(project.select_take(s).path) for s in project.shots()]
        source_total = sum(r.video.duration for r in renders)  # type: ignore[union-attr]
        for path in (project.cut_path(), project.delivery_path("web")):
            frames, vdur = video_frames_and_duration(path)
            assert abs(vdur - source_total) <= frame * len(renders), (path, float(vdur), float(source_total))
            assert frames == sum(probe(project.picture_path(s)).video.frames for s in project.shots())  # type: ignore[union-attr]
            samples = decoded_audio_samples(path)
            assert abs(Fraction(samples, 48000) - vdur) <= frame, (path, samples, float(vdur))
        # PCM in the cut: every join exact to the sample
        assert decoded_audio_samples(project.cut_path()) == rate.samples_for_frames(frames)


def _output_seconds(project: Project, asset: str, partition: str | None) -> float:
    """The duration of an output as decoded from its file (the timeline's, for what describes the cut)."""
    paths = {"picture": project.picture_path, "audio": project.audio_path}
    if asset in paths:
        return float(probe(paths[asset](partition)).duration)  # type: ignore[arg-type]
    if asset in ("cut", "delivery_web"):
        _, seconds = video_frames_and_duration(project.cut_path() if asset == "cut" else project.delivery_path("web"))
        return float(seconds)
    tl = Timeline.from_json(project.timeline_path().read_text())  # timeline, edl, otio: the cut they describe
    return float(tl.rate.frames_to_seconds(tl.total_frames))


def test_every_step_records_its_metrics(built) -> None:
    """Each materialization carries the step's wall time, its FFmpeg seconds, the seconds of media it produced and
    their ratio as float metadata (plotted over time by the UI): the media is the output's decoded duration, the
    FFmpeg time lies within the step's, and the step's within its run."""
    instance, projects = built.instance, discover_projects(built.root).projects
    checked: set[str] = set()
    for key in instance.get_asset_keys():
        project, asset = key.path
        latest: set[str | None] = set()
        for rec in instance.fetch_materializations(key, limit=1000).records:  # newest first
            mat = rec.asset_materialization
            assert mat is not None
            md = mat.metadata
            for name in ("wall_s", "ffmpeg_s", "media_s", "processing_ratio"):
                assert isinstance(md[name], dg.FloatMetadataValue), (key, name)
            wall, ffmpeg_s, media = md["wall_s"].value, md["ffmpeg_s"].value, md["media_s"].value
            assert md["processing_ratio"].value == pytest.approx(wall / media, rel=1e-9)
            run = instance.get_run_record_by_id(rec.run_id)
            assert run is not None and run.start_time and run.end_time
            assert 0 < wall <= run.end_time - run.start_time, key
            if asset in ("timeline", "edl", "otio"):
                assert ffmpeg_s == 0.0, key
            else:
                assert 0 < ffmpeg_s <= wall, key
            if mat.partition not in latest:  # the newest materialization describes the file on disk
                latest.add(mat.partition)
                assert media == pytest.approx(_output_seconds(projects[project], asset, mat.partition), abs=1e-3)
            checked.add(asset)
    assert checked == {"picture", "audio", "timeline", "cut", "edl", "otio", "delivery_web"}


def test_web_delivery_format(built) -> None:
    root = built.root
    web = root / "alpha" / "06_Exports" / "alpha_web.mp4"
    info = probe(web)
    assert info.video and info.video.codec == "h264" and info.video.profile == "High"
    assert info.audio[0].codec == "aac" and info.audio[0].sample_rate == 48000
    assert (info.video.color_primaries, info.video.color_trc, info.video.colorspace) == ("bt709",) * 3
    head = web.read_bytes()
    assert head.find(b"moov") < head.find(b"mdat"), "+faststart puts the index first"


def test_edl_parses_with_pycmx(built) -> None:
    root = built.root
    for name, shots in (("alpha", ["sh010", "sh020", "sh030", "sh040"]), ("beta", ["b020", "b010"])):
        text = (root / name / "04_Project_Files" / "assemblies" / f"{name}.edl").read_text()
        edl = pycmx.parse_cmx3600(io.StringIO(text))
        events = list(edl.events)
        assert len(events) == len(shots)
        names = [e.edits[0].clip_name for e in events]
        project = discover_projects(root).projects[name]
        assert names == [project.select_take(s).name for s in shots]


def test_nothing_rebuilds_when_nothing_changed(built) -> None:
    root, instance = built.root, built.instance
    mark = last_storage_id(instance)
    assert build_workspace(instance, root) == []
    assert materialized_since(instance, mark) == set()


@pytest.fixture
def changed(built: Built, tmp_path: Path):
    """A copy of the module's build for a test that changes it: the other tests read ``built`` as it was made."""
    with forked(built.root, built.instance, tmp_path) as (root, instance):
        yield Built(root, instance, [])


def test_rebuild_set_after_one_new_version(changed: Built, ffmpeg: str) -> None:
    """A new version of one shot rebuilds that shot and its project's roll-ups, nothing else."""
    root, instance = changed.root, changed.instance
    old_beta_cut = (root / "beta" / "05_Cache" / "cut" / "beta_cut.mov").stat().st_mtime_ns
    make_render(
        ffmpeg,
        root / "alpha" / "03_Renders" / "sh020" / "sh020_v002.mp4",
        RenderSpec(640, 360, "30", 1.0, -12),
    )
    mark = last_storage_id(instance)
    outcomes = build_workspace(instance, root)
    assert all(o.success for o in outcomes)
    assert materialized_since(instance, mark) == {
        "alpha/picture[sh020]",
        "alpha/audio[sh020]",
        "alpha/timeline",
        "alpha/cut",
        "alpha/edl",
        "alpha/otio",
        "alpha/delivery_web",
    }
    assert (root / "beta" / "05_Cache" / "cut" / "beta_cut.mov").stat().st_mtime_ns == old_beta_cut
    # the new take is in the cut: 1.0 s at 24 fps
    project = discover_projects(root).projects["alpha"]
    assert probe(project.picture_path("sh020")).video.frames == 24  # type: ignore[union-attr]
    with av.open(str(project.cut_path())) as c:
        assert c.streams.video[0].frames == 48 + 24 + 48 + 24


def test_loudness_target_change_rebuilds_only_audio(changed: Built) -> None:
    root, instance = changed.root, changed.instance
    set_spec(root / "beta", audio={"loudness_lufs": -20, "true_peak_db": -1.0})
    mark = last_storage_id(instance)
    assert all(o.success for o in build_workspace(instance, root))
    got = materialized_since(instance, mark)
    assert got == {"beta/audio[b010]", "beta/audio[b020]", "beta/cut", "beta/delivery_web"}


def test_broken_render_fails_narrowly_and_keeps_previous_outputs(changed: Built, ffmpeg: str) -> None:
    root, instance = changed.root, changed.instance
    project = discover_projects(root).projects["alpha"]
    cut_before = project.cut_path().read_bytes()
    web_before = project.delivery_path("web").read_bytes()
    good = project.select_take("sh030").path
    bad = good.with_name("sh030_v002.mp4")
    bad.write_bytes(good.read_bytes()[:2000])  # truncated: no moov atom
    try:
        mark = last_storage_id(instance)
        outcomes = build_workspace(instance, root)
        failed = [o for o in outcomes if not o.success]
        assert failed and failed[0].project == "alpha"
        assert "sh030_v002.mp4" in failed[0].message
        assert materialized_since(instance, mark) == set()
        assert project.cut_path().read_bytes() == cut_before
        assert project.delivery_path("web").read_bytes() == web_before
        leftovers = [p for p in (root / "alpha").rglob(".*partial*")]
        assert leftovers == []
    finally:
        bad.unlink()
    assert all(o.success for o in build_workspace(instance, root))


def test_invalid_project_json_does_not_stop_other_projects(tmp_path: Path, make_project, instance) -> None:
    make_project(tmp_path, "good", {"g010_v001.mp4": RenderSpec(160, 90, "24", 1.0, -20)},
                 {"fps": 24, "resolution": "160x90"})  # fmt: skip
    bad = make_project(tmp_path, "bad", {"x010_v001.mp4": RenderSpec(160, 90, "24", 1.0, -20)},
                       {"fps": 24, "resolution": "160x90"})  # fmt: skip
    (bad / "project.json").write_text('{"fps": 24, "resolutoin": "160x90"}')
    outcomes = build_workspace(instance, tmp_path)
    bad_out = [o for o in outcomes if o.project == "bad"]
    assert len(bad_out) == 1 and not bad_out[0].success
    assert "project.json" in bad_out[0].message and "resolutoin" in bad_out[0].message
    assert all(o.success for o in outcomes if o.project == "good")
    assert (tmp_path / "good" / "06_Exports" / "good_web.mp4").is_file()
    shutil.rmtree(tmp_path / "bad")


def _otio_cmx(text: str, rate: float):
    import opentimelineio as otio

    return otio.adapters.read_from_string(text, "cmx_3600", rate=rate)


def test_edl_agrees_with_the_cut_in_two_readers(built) -> None:
    import opentimelineio as otio

    root = built.root
    for name in ("alpha", "beta"):
        project = discover_projects(root).projects[name]
        rate = project.spec.rate
        text = project.edl_path().read_text()
        assert text.startswith(f"TITLE: {name}\nFCM: NON-DROP FRAME\n")
        cut_frames, _ = video_frames_and_duration(project.cut_path())
        # pycmx
        events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
        assert len(events) == len(project.shots())
        rec = otio.opentime.from_timecode("01:00:00:00", rate.fps).to_frames()
        for ev, shot in zip(events, project.shots(), strict=True):
            e = ev.edits[0]
            assert e.clip_name == project.select_take(shot).name
            r_in = otio.opentime.from_timecode(e.record_in, rate.fps).to_frames()
            r_out = otio.opentime.from_timecode(e.record_out, rate.fps).to_frames()
            assert r_in == rec  # contiguous from 01:00:00:00
            assert r_out - r_in == probe(project.picture_path(shot)).video.frames  # type: ignore[union-attr]
            rec = r_out
        assert rec - otio.opentime.from_timecode("01:00:00:00", rate.fps).to_frames() == cut_frames
        # OpenTimelineIO's own CMX3600 reader
        tl = _otio_cmx(text, rate.fps)
        clips = list(tl.video_tracks()[0].find_clips())
        assert [c.name for c in clips] == [project.select_take(s).name for s in project.shots()]
        assert sum(c.duration().to_frames() for c in clips) == cut_frames


def test_otio_and_fcp_xml_round_trip_to_the_cut(built) -> None:
    import opentimelineio as otio

    root = built.root
    project = discover_projects(root).projects["beta"]
    cut_frames, cut_duration = video_frames_and_duration(project.cut_path())
    tl = otio.adapters.read_from_file(str(project.otio_path()))
    clips = list(tl.video_tracks()[0].find_clips())
    assert [c.name for c in clips] == ["b020_take01", "b010_v001"]  # pinned take, story order
    assert sum(c.duration().to_frames() for c in clips) == cut_frames
    assert abs(sum(c.duration().to_seconds() for c in clips) - float(cut_duration)) < 1e-6
    assert clips[0].metadata["vidasm"]["scene"] == "1"
    xml = otio.adapters.read_from_file(str(project.fcp_xml_path()), adapter_name="fcp_xml")
    xclips = list(xml.video_tracks()[0].find_clips())
    assert [c.duration().to_frames() for c in xclips] == [c.duration().to_frames() for c in clips]


def test_source_timecode_style_and_record_start(tmp_path: Path, make_project, instance) -> None:
    import opentimelineio as otio

    make_project(
        tmp_path,
        "gamma",
        {
            "g010_v001.mov": RenderSpec(160, 90, "30000/1001", 1.0, -20, timecode="00:10:00;00"),
            "g020_v001.mp4": RenderSpec(160, 90, "30000/1001", 1.5, -20),
        },
        {"fps": 29.97, "resolution": "160x90", "editorial": {"edl_style": "avid", "record_start": "00:59:59;00"}},
    )
    assert all(o.success for o in build_workspace(instance, tmp_path))
    text = (tmp_path / "gamma" / "04_Project_Files" / "assemblies" / "gamma.edl").read_text()
    assert "FCM: DROP FRAME" in text
    events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
    first, second = events[0].edits[0], events[1].edits[0]
    assert first.source_in == "00:10:00;00"  # the render's own start timecode
    assert second.source_in == "00:00:00;00"
    assert first.record_in == "00:59:59;00"
    assert first.record_out == second.record_in
    assert all(len(e.edits[0].source) <= 8 and e.edits[0].source.isalnum() for e in events)  # avid reels
    frames = (
        otio.opentime.from_timecode(second.record_out, 30000 / 1001).to_frames()
        - otio.opentime.from_timecode("00:59:59;00", 30000 / 1001).to_frames()
    )
    pictures = sorted((tmp_path / "gamma" / "05_Cache" / "picture").glob("*.mov"))
    expected = sum(probe(p).video.frames for p in pictures)  # type: ignore[union-attr]
    assert frames == video_frames_and_duration(tmp_path / "gamma" / "05_Cache" / "cut" / "gamma_cut.mov")[0] == expected


def test_pixels_only_change_leaves_editorial_alone(changed: Built, ffmpeg: str) -> None:
    """Same take, same length, new pixels: the shot and cut rebuild, the EDL and timelines do not."""
    root, instance = changed.root, changed.instance
    project = discover_projects(root).projects["beta"]
    path = project.select_take("b010").path
    make_render(ffmpeg, path, RenderSpec(320, 180, "25", 1.2, -18, pattern="smptehdbars"))
    mark = last_storage_id(instance)
    assert all(o.success for o in build_workspace(instance, root))
    assert materialized_since(instance, mark) == {
        "beta/picture[b010]",
        "beta/audio[b010]",
        "beta/cut",
        "beta/delivery_web",
    }
