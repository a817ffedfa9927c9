"""The one versions table: make's decision and its reasons as pure functions, and the recorded versions of a real
build equal to what the table computes, for every asset kind."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.assets.records import DATA_VERSION_TAG, recorded_version
from vidasm_assets.media import assembly, fingerprints
from vidasm_assets.media import versions as v
from vidasm_assets.media.demo import RenderSpec
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import load_project

from ..support.helpers import build_workspace

PIC = v.Inputs(v.Asset.PICTURE, {"render": "fp2", "resolution": "1920x1080"}, {"take": "v002"})


def _rec(inputs: v.Inputs, **changes: object) -> dict:
    rec = inputs.to_record()
    for key, value in changes.items():
        if key in ("code", "context"):
            rec[key] = value
        else:
            rec["values"] = {**rec["values"], key: value}
    return rec


@pytest.mark.parametrize(
    ("recorded", "recorded_inputs", "on_disk", "failed", "last_failed", "force", "state", "reason"),
    [
        (None, None, None, [], False, False, "missing", "never built"),
        (PIC.version, _rec(PIC), PIC.version, [], False, False, "fresh", ""),
        ("old", _rec(PIC, render="fp1", context={"take": "v001"}), PIC.version, [], False, False, "stale",
         "take v001 -> v002"),
        ("old", _rec(PIC, render="fp1"), None, [], False, False, "stale", "render v002 re-rendered"),
        ("old", _rec(PIC, resolution="1280x720"), None, [], False, False, "stale",
         "project.json resolution: 1280x720 -> 1920x1080"),
        ("old", _rec(PIC, code="picture-1"), None, [], False, False, "stale", f"code version picture-1 -> {PIC.code}"),
        ("old", None, None, [], False, False, "stale", "inputs or code changed"),
        (PIC.version, _rec(PIC), None, [], False, False, "missing",
         "output missing, unstamped or changed since it was built"),
        (PIC.version, _rec(PIC), "other", [], False, False, "stale",
         "the output on disk is not the one recorded (an interrupted build)"),
        (PIC.version, _rec(PIC), PIC.version, ["bt709_tagged"], False, False, "failed", "failed check(s) bt709_tagged"),
        (None, None, None, [], True, False, "failed", "last build failed (never built)"),
        (None, None, None, [], "interrupted", False, "failed",
         "last build was interrupted: its process was killed (never built)"),
        (PIC.version, _rec(PIC), PIC.version, [], False, True, "stale", "forced (--all)"),
    ],
)  # fmt: skip
def test_decide(recorded, recorded_inputs, on_disk, failed, last_failed, force, state, reason) -> None:
    got = v.decide(PIC, recorded=recorded, recorded_inputs=recorded_inputs, on_disk=on_disk, failed_checks=failed,
                   last_run_failed=last_failed, force=force)  # fmt: skip
    assert got == (state, reason)


def test_a_moved_output_is_stale_only_once_it_is_fresh_otherwise() -> None:
    def decide(on_disk: str | None, moved: bool) -> tuple[str, str]:
        return v.decide(PIC, recorded=PIC.version, recorded_inputs=_rec(PIC), on_disk=on_disk, failed_checks=[],
                        last_run_failed=False, moved=moved)  # fmt: skip

    assert decide(PIC.version, moved=True) == ("stale", "it names its renders at their old path (the workspace moved)")
    assert decide(None, moved=True)[0] == "missing" and decide(PIC.version, moved=False) == ("fresh", "")


def test_the_timeline_version_does_not_depend_on_where_the_workspace_is() -> None:
    """Its files are relative to the project folder: the same project mounted at two paths has one timeline (and
    so one cut and one set of deliveries); the OTIO/FCP XML name the files by absolute URL, so they follow the
    location, and the reason says so."""
    from vidasm_assets.media.rates import Rate
    from vidasm_assets.media.timeline import Timeline, TimelineClip

    def timeline(root: str) -> Timeline:
        clip = TimelineClip(shot="sh010", take="v001", clip_name="sh010_v001", frames=48,
                            source_path=f"{root}/03_Renders/sh010/sh010_v001.mp4")  # fmt: skip
        return Timeline("p", Rate(24), (clip,))

    here, there = Path("/mnt/a/p"), Path("/Volumes/b/p")
    tv = v.timeline_inputs(timeline(str(here)), here)
    assert tv == v.timeline_inputs(timeline(str(there)), there)
    assert tv.values["timeline"]["clips"][0]["source_path"] == "03_Renders/sh010/sh010_v001.mp4"
    assert tv != v.timeline_inputs(timeline(str(there)), here)  # files outside the project stay absolute
    otio_here, otio_there = v.otio_inputs(tv.version, here), v.otio_inputs(tv.version, there)
    assert otio_here.version != otio_there.version
    assert v.explain(otio_there, otio_here.to_record()) == "the workspace moved: /mnt/a/p -> /Volumes/b/p"


def test_a_cut_says_which_shots_changed() -> None:
    before = v.cut_inputs("tl", {"sh010": ("p1", "a1"), "sh020": ("p2", "a2")})
    after = v.cut_inputs("tl", {"sh010": ("p1", "a1"), "sh020": ("p2b", "a2")})
    assert v.explain(after, before.to_record()) == "shot(s) rebuilt or changed: sh020"
    assert before.version != after.version


def test_the_take_label_explains_but_is_not_an_input() -> None:
    a = v.shot_inputs("fp", "v001", {f: {} for f in v.SPEC_FACETS})
    b = v.shot_inputs("fp", "v002", {f: {} for f in v.SPEC_FACETS})
    assert a[v.Asset.PICTURE].version == b[v.Asset.PICTURE].version  # same content, same version


@pytest.mark.media
def test_every_recorded_version_is_what_the_table_computes(
    tmp_path: Path, make_project, instance: dg.DagsterInstance
) -> None:
    spec = {"fps": 25, "resolution": "160x90", "exports": ["web", "review"], "audio": {"tracks": "first"}}
    make_project(tmp_path, "p", {"a010_v001.mp4": RenderSpec(160, 90, "25", 1.0, -20),
                                 "a020_take02.mp4": RenderSpec(160, 90, "25", 1.0, None)}, spec)  # fmt: skip
    assert all(o.success for o in build_workspace(instance, tmp_path))
    project = load_project(tmp_path, "p")
    facets = v.spec_facets(project)
    cache = fingerprints.load_fingerprints(project)
    shots: dict[str, tuple[str, str]] = {}
    for shot in project.shots():
        take = project.select_take(shot)
        inputs = v.shot_inputs(cache.fingerprint(take.path), take.label, facets)
        for asset, expected in inputs.items():
            assert recorded_version(instance, n.key("p", asset.value), shot) == expected.version, (asset, shot)
            assert project.built_version(asset.value, shot) == expected.version
        shots[shot] = (inputs[v.Asset.PICTURE].version, inputs[v.Asset.AUDIO].version)
    tl = assembly.build_timeline(project, {s: probe(project.select_take(s).path) for s in project.shots()})
    review = project.preset("review")
    segments = {"review": {c.shot: assembly.expected_segment_inputs(project, tl, c, cache, review).version
                           for c in tl.clips}}  # fmt: skip
    for shot, version in segments["review"].items():
        assert recorded_version(instance, n.key("p", "segments_review"), shot) == version, shot
        assert project.built_version("segments_review", shot) == version, shot
    rollups = v.rollup_inputs(project, tl, shots, segments)
    assert set(rollups) == {"timeline", "cut", "edl", "otio", "delivery_web", "delivery_review"}
    for asset, expected in rollups.items():
        assert recorded_version(instance, n.key("p", asset)) == expected.version, asset
        assert project.built_version(asset) == expected.version, asset
    for facet, values in facets.items():
        rec = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=n.key("p", facet.value)), limit=1).records
        obs = rec[0].event_log_entry.asset_observation
        assert obs is not None and obs.tags[DATA_VERSION_TAG] == v.facet_version(facet, values), facet


@pytest.mark.media
def test_with_a_music_bed_the_recorded_versions_are_what_the_table_computes(
    tmp_path: Path, make_project, instance: dg.DagsterInstance, ffmpeg: str
) -> None:
    import subprocess

    from vidasm_assets.media.music import music_values

    spec = {"fps": 24, "resolution": "160x90", "exports": ["web", "proxy"]}
    folder = make_project(tmp_path, "p", {"a010_v001.mp4": RenderSpec(160, 90, "24", 1.0, -20)}, spec)
    (folder / "music").mkdir()
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=f=200:d=0.7", str(folder / "music/a.wav")],
                   check=True)  # fmt: skip
    assert all(o.success for o in build_workspace(instance, tmp_path))
    project = load_project(tmp_path, "p")
    cache = fingerprints.load_fingerprints(project)
    take = project.select_take("a010")
    shot = v.shot_inputs(cache.fingerprint(take.path), take.label, v.spec_facets(project))
    tl = assembly.build_timeline(project, {"a010": probe(take.path)})
    proxy = project.preset("proxy")
    segments = {"proxy": {"a010": assembly.expected_segment_inputs(project, tl, tl.clips[0], cache, proxy).version}}
    values = music_values(project, cache)
    assert values is not None and values["music.tracks"][0][0] == "music/a.wav"
    music_v = v.music_version(values)
    shots = {"a010": (shot[v.Asset.PICTURE].version, shot[v.Asset.AUDIO].version)}
    rollups = v.rollup_inputs(project, tl, shots, segments, music_v)
    assert set(rollups) == {"timeline", "cut", "edl", "otio", "mix", "delivery_web", "delivery_proxy"}
    for asset, expected in rollups.items():
        assert recorded_version(instance, n.key("p", asset)) == expected.version, asset
        assert project.built_version(asset) == expected.version, asset
    rec = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=n.key("p", "music")), limit=1).records
    obs = rec[0].event_log_entry.asset_observation
    assert obs is not None and obs.tags[DATA_VERSION_TAG] == music_v
