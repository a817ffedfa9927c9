"""Declarative automation over a sequence of changes: roll-ups follow rebuilt shots, each exactly once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.assets.records import DATA_VERSION_TAG, recorded_observation
from vidasm_assets.definitions import build_definitions
from vidasm_assets.media.demo import RenderSpec, make_render
from vidasm_assets.media.project import discover_projects
from vidasm_assets.planner import plan_project

from ..support.helpers import QUIET, build_workspace
from ..support.sensor import Ticker, age, runs, through_to_delivery

pytestmark = [pytest.mark.media, pytest.mark.orchestration]
TINY = RenderSpec(64, 36, "24", 0.5, -20)
ROLLUPS = [n.TIMELINE, n.CUT, n.EDL, n.OTIO, n.delivery("web")]


def requested(result, project: str) -> dict[str, int]:
    return {
        a: result.get_num_requested(n.key(project, a)) for a in ROLLUPS if result.get_num_requested(n.key(project, a))
    }


def rebuild_shots(root: Path, instance: dg.DagsterInstance, project: str) -> list[str]:
    """What the sensor would launch: observe the new renders and run the stale shots only."""
    defs = build_definitions(root)
    plan = plan_project(instance, discover_projects(root).projects[project])
    shots = plan.shot_builds()
    job = defs.resolve_job_def(n.shots_job_name(project))
    for shot, assets in shots.items():
        r = job.execute_in_process(
            instance=instance, partition_key=shot, asset_selection=[n.key(project, a) for a in assets], run_config=QUIET
        )
        assert r.success
    return sorted(shots)


def test_rollups_follow_shots_once(tmp_path: Path, make_project, instance, ffmpeg: str) -> None:
    renders = {f"sh0{i}0_v001.mp4": TINY for i in range(1, 4)}
    make_project(tmp_path, "alpha", renders, {"fps": 24, "resolution": "64x36"})
    make_project(tmp_path, "beta", {"b010_v001.mp4": TINY}, {"fps": 24, "resolution": "64x36"})
    assert all(o.success for o in build_workspace(instance, tmp_path))
    defs = build_definitions(tmp_path)

    # 1. everything built: automation asks for nothing
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert result.total_requested == 0
    cursor = result.cursor

    # 2. one shot re-rendered and rebuilt: every roll-up of that project once, nothing of the other project
    make_render(ffmpeg, tmp_path / "alpha" / "03_Renders" / "sh020" / "sh020_v002.mp4", RenderSpec(64, 36, "24", 1, -9))
    assert rebuild_shots(tmp_path, instance, "alpha") == ["sh020"]
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert requested(result, "alpha") == dict.fromkeys(ROLLUPS, 1)
    assert requested(result, "beta") == {}
    assert result.total_requested == len(ROLLUPS)
    cursor = result.cursor
    # the roll-ups are then built (what the launched run does); nothing more is asked for
    assert all(o.success for o in build_workspace(instance, tmp_path))
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert result.total_requested == 0
    cursor = result.cursor

    # 3. two shots change together: still one cut, one EDL, one delivery
    for shot in ("sh010", "sh030"):
        make_render(
            ffmpeg, tmp_path / "alpha" / "03_Renders" / shot / f"{shot}_v002.mp4", RenderSpec(64, 36, "24", 1, -12)
        )
    assert rebuild_shots(tmp_path, instance, "alpha") == ["sh010", "sh030"]
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert requested(result, "alpha") == dict.fromkeys(ROLLUPS, 1)
    assert result.total_requested == len(ROLLUPS)


def test_code_version_bump_marks_stale_without_rebuilding(tmp_path: Path, make_project, instance, monkeypatch) -> None:
    """A conform code change shows as stale in vidasm status (and the UI); eager automation does not fire."""
    from vidasm_assets.media import versions

    make_project(tmp_path, "alpha", {"sh010_v001.mp4": TINY}, {"fps": 24, "resolution": "64x36"})
    assert all(o.success for o in build_workspace(instance, tmp_path))
    cursor = dg.evaluate_automation_conditions(defs=build_definitions(tmp_path), instance=instance).cursor
    before = versions.CODE_VERSIONS[versions.Asset.PICTURE]
    monkeypatch.setitem(versions.CODE_VERSIONS, versions.Asset.PICTURE, "picture-999")
    defs = build_definitions(tmp_path)
    project = discover_projects(tmp_path).projects["alpha"]
    plan = plan_project(instance, project, record=False)
    states = {it.label: it.state for it in plan.items}
    assert states["picture[sh010]"] == "stale" and states["audio[sh010]"] == "fresh"
    reasons = {it.label: it.reason for it in plan.items}
    assert reasons["picture[sh010]"] == f"code version {before} -> picture-999"  # says what changed
    assert reasons["cut"] == "shot(s) rebuilt or changed: sh010"
    assert states["cut"] == "stale" and states["delivery_web"] == "stale" and states["edl"] == "fresh"
    assert defs.resolve_asset_graph().get(n.key("alpha", n.PICTURE)).code_version == "picture-999"
    assert dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor).total_requested == 0


@dataclass
class Built:
    """Project alpha (3 shots, web and proxy) built, automation evaluated once, then a new version of sh020."""

    root: Path
    defs: dg.Definitions
    cursor: str


@pytest.fixture
def sh020_changed(tmp_path: Path, make_project, instance, ffmpeg) -> Built:
    renders = {f"sh0{i}0_v001.mp4": TINY for i in range(1, 4)}
    make_project(tmp_path, "alpha", renders, {"fps": 24, "resolution": "64x36", "exports": ["web", "proxy"]})
    assert all(o.success for o in build_workspace(instance, tmp_path))
    defs = build_definitions(tmp_path)
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    age(tmp_path / "alpha" / "03_Renders")  # settled: the sensor counts them at once
    age(
        make_render(
            ffmpeg, tmp_path / "alpha" / "03_Renders" / "sh020" / "sh020_v002.mp4", RenderSpec(64, 36, "24", 1, -9)
        )
    )
    return Built(tmp_path, defs, cursor)


def test_a_presets_segments_follow_their_shot_by_automation(sh020_changed: Built, instance) -> None:
    """When the sensor runs a changed shot's picture and audio alone (several shots changed, or its project was
    busy), automation then asks for that shot's segment of each preset (only that partition) and the roll-ups,
    each once."""
    defs = sh020_changed.defs
    project = discover_projects(sh020_changed.root).projects["alpha"]
    plan = plan_project(instance, project)  # observes the new render, as the sensor does
    job = defs.resolve_job_def(n.shots_job_name("alpha"))
    r = job.execute_in_process(instance=instance, partition_key="sh020", run_config=QUIET,
                               asset_selection=[n.key("alpha", "picture"), n.key("alpha", "audio")])  # fmt: skip
    assert r.success and "segments_proxy" in plan.shot_builds()["sh020"]
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=sh020_changed.cursor)
    segs = result.get_requested_partitions(n.key("alpha", "segments_proxy"))
    assert segs == {"sh020"}
    assert result.get_num_requested(n.key("alpha", "delivery_proxy")) == 1
    assert requested(result, "alpha") == dict.fromkeys(ROLLUPS, 1)


def test_the_sensors_one_run_per_change_leaves_automation_nothing(sh020_changed: Built, instance) -> None:
    """One changed shot of an idle project: the sensor asks for one run, the shot and every roll-up (its segment
    of each preset included); it builds everything, and automation then asks for nothing."""
    t = Ticker(sh020_changed.root, instance)
    render = n.key("alpha", n.RENDER)
    was = recorded_observation(instance, render, "sh020")
    data = t.tick()  # the Ticker records the tick's observations, as the daemon does before it creates the run
    assert runs(data) == {through_to_delivery("alpha", "sh020", ("web", "proxy"), segments=("proxy",))}
    # An automation tick between the sensor's tick and its run's creation: the render's new version is not
    # observed yet (the run observes it), so nothing looks updated and nothing is asked for twice.
    assert recorded_observation(instance, render, "sh020") == was
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=sh020_changed.cursor)
    assert result.total_requested == 0, requested(result, "alpha")
    (req,) = data.run_requests
    r = t.run(req)
    built = {(e.asset_key.path[1], e.partition) for e in r.get_asset_materialization_events()}
    assert (n.segments("proxy"), "sh020") in built and ("cut", None) in built
    now = recorded_observation(instance, render, "sh020")  # the run's picture step observed what it built from
    assert now not in (None, was) and now == json.loads(data.cursor)["shots"]["alpha"]["sh020"][3]
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=result.cursor)
    assert result.total_requested == 0, requested(result, "alpha")
    project = discover_projects(sh020_changed.root).projects["alpha"]
    assert [it.label for it in plan_project(instance, project, record=False).items if it.needs_build] == []


def two_shot_sequence(root: Path, make_project, instance, renders: dict, extra: dict) -> tuple[Path, dict, Ticker, str]:
    """Project alpha with an explicit sequence of sh010 and sh020, built, seen by the sensor and by automation:
    its project.json, its spec, the Ticker and automation's cursor."""
    make_project(root, "alpha", renders, {"fps": 24, "resolution": "64x36", **extra})
    pj = root / "alpha" / "project.json"
    spec = json.loads(pj.read_text())
    spec["sequence"] = [{"shot": "sh010"}, {"shot": "sh020"}]
    pj.write_text(json.dumps(spec))
    age(root / "alpha")
    assert all(o.success for o in build_workspace(instance, root))
    t = Ticker(root, instance)
    assert runs(t.tick()) == set()
    return pj, spec, t, dg.evaluate_automation_conditions(defs=t.defs, instance=instance).cursor


def test_a_one_shot_trim_change_leaves_automation_nothing_either(tmp_path: Path, make_project, instance) -> None:
    """The same race with a project.json facet: one shot's trim changes the edit spec, which the timeline reads.
    The sensor hands the edit spec's new version to its one run with the render's, so an automation tick before
    that run exists sees nothing updated; after it, nothing is left to do, and the run recorded the new version."""
    renders = {f"sh0{i}0_v001.mp4": TINY for i in range(1, 3)}
    pj, spec, t, cursor = two_shot_sequence(tmp_path, make_project, instance, renders, {})
    edit = n.key("alpha", n.EDIT_SPEC)
    was = recorded_observation(instance, edit)
    spec["sequence"] = [{"shot": "sh010", "in": 2, "out": 9}, {"shot": "sh020"}]
    pj.write_text(json.dumps(spec))
    data = t.tick()
    assert runs(data) == {through_to_delivery("alpha", "sh010")} and not data.asset_events
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=cursor)
    assert result.total_requested == 0, requested(result, "alpha")
    (req,) = data.run_requests
    t.run(req)
    assert recorded_observation(instance, edit) not in (None, was)
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=result.cursor)
    assert result.total_requested == 0, requested(result, "alpha")
    project = discover_projects(tmp_path).projects["alpha"]
    assert [it.label for it in plan_project(instance, project, record=False).items if it.needs_build] == []


def test_with_several_shot_runs_under_way_the_delivery_waits_for_its_cut(
    tmp_path: Path, make_project, instance, ffmpeg: str
) -> None:
    """Two shots changed: two ``__shots`` runs under way, the tick's observations recorded. Automation may build the
    timeline, EDL and OTIO from the renders, but neither the cut (its pictures are in progress) nor the delivery,
    whose cut is waiting on them: before, the delivery was asked for with the timeline and failed over the old
    cut. Once the shot runs are done, the cut and the delivery follow, once each."""
    renders = {f"sh0{i}0_v001.mp4": TINY for i in range(1, 4)}
    age(make_project(tmp_path, "alpha", renders, {"fps": 24, "resolution": "64x36"}))  # settled long ago
    assert all(o.success for o in build_workspace(instance, tmp_path))
    t = Ticker(tmp_path, instance)
    t.tick()
    cursor = dg.evaluate_automation_conditions(defs=t.defs, instance=instance).cursor
    for shot, level in (("sh010", -9), ("sh020", -12)):
        folder = tmp_path / "alpha" / "03_Renders" / shot
        age(make_render(ffmpeg, folder / f"{shot}_v002.mp4", RenderSpec(64, 36, "24", 1, level)))
    data = t.tick()
    assert {(r.job_name, r.partition_key) for r in data.run_requests} == {
        ("alpha__shots", "sh010"),
        ("alpha__shots", "sh020"),
    }
    job = t.defs.resolve_job_def(n.shots_job_name("alpha"))
    under_way = [
        instance.create_run_for_job(
            job,
            asset_selection=frozenset(r.asset_selection or []),
            tags=dict(r.tags),
            status=dg.DagsterRunStatus.STARTED,
        )
        for r in data.run_requests
    ]
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=cursor)
    asked = requested(result, "alpha")
    assert "cut" not in asked and n.delivery("web") not in asked, asked
    for fake, r in zip(under_way, data.run_requests, strict=True):
        t.run(r)
        instance.report_run_canceled(fake)
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=result.cursor)
    after = requested(result, "alpha")
    assert after.get("cut") == 1 and after.get(n.delivery("web")) == 1, after


def test_a_presets_json_edit_is_recorded_at_once_and_the_next_render_is_still_one_run(
    tmp_path: Path, make_project, instance, ffmpeg
) -> None:
    """A workspace presets.json that gives web its own segments, then edited (crf 23 -> 24): the sensor's next tick
    records web's new settings itself (no run of its own), automation rebuilds the segments and the delivery,
    and a new render afterwards is one run and nothing else. The edit was recorded only by that later render's
    run, which made every other shot's segment and the delivery look updated again: 6 runs for one render."""
    renders = {f"sh0{i}0_v001.mp4": TINY for i in range(1, 4)}
    age(make_project(tmp_path, "alpha", renders, {"fps": 24, "resolution": "64x36"}))  # settled long ago

    def web(crf: int) -> None:
        preset = {"container": "mp4", "video": {"codec": "libx264", "crf": crf}, "audio": {"codec": "aac"}}
        (tmp_path / "presets.json").write_text(json.dumps({"web": preset}))
        age(tmp_path / "presets.json")

    web(23)
    assert all(o.success for o in build_workspace(instance, tmp_path))
    t = Ticker(tmp_path, instance)
    assert runs(t.tick()) == set()
    cursor = dg.evaluate_automation_conditions(defs=t.defs, instance=instance).cursor
    preset = n.key("alpha", n.preset_source("web"))
    was = recorded_observation(instance, preset)
    web(24)
    data = t.tick()
    assert runs(data) == set()
    assert [(e.asset_key, e.tags[DATA_VERSION_TAG]) for e in data.asset_events] == [
        (preset, recorded_observation(instance, preset))
    ] and recorded_observation(instance, preset) != was
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=cursor)
    assert result.get_requested_partitions(n.key("alpha", "segments_web")) == {"sh010", "sh020", "sh030"}
    assert all(o.success for o in build_workspace(instance, tmp_path))  # what automation's runs build
    cursor = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=result.cursor).cursor
    age(make_render(ffmpeg, tmp_path / "alpha" / "03_Renders" / "sh020" / "sh020_v002.mp4",
                    RenderSpec(64, 36, "24", 1, -9)))  # fmt: skip
    data = t.tick()
    (req,) = data.run_requests
    assert runs(data) == {through_to_delivery("alpha", "sh020", segments=("web",))}
    t.run(req)
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=cursor)
    assert result.total_requested == 0, requested(result, "alpha")


def test_two_shots_trimmed_by_one_edit_rebuild_their_segments_too(tmp_path: Path, make_project, instance) -> None:
    """One project.json edit trimming two shots: a run per shot, each with the shot's segment of every preset (a
    segment does not follow the edit spec by automation: before, the segments stayed stale for good and the
    proxy delivery failed, "its segment was not built ... build the segment first"); after those runs, automation
    asks for the roll-ups only, and once they are built everything is fresh."""
    renders = {f"sh0{i}0_v001.mp4": RenderSpec(64, 36, "24", 1, -20) for i in range(1, 3)}
    pj, spec, t, cursor = two_shot_sequence(tmp_path, make_project, instance, renders, {"exports": ["web", "proxy"]})
    spec["sequence"] = [{"shot": "sh010", "in": 2}, {"shot": "sh020", "in": 3}]
    pj.write_text(json.dumps(spec))
    data = t.tick()
    shot_assets = ("alpha/audio", "alpha/picture", "alpha/segments_proxy")
    assert runs(data) == {("alpha__shots", s, shot_assets) for s in ("sh010", "sh020")}
    for req in data.run_requests:
        assert t.run(req).success
    project = discover_projects(tmp_path).projects["alpha"]
    stale = {it.label for it in plan_project(instance, project, record=False).items if it.needs_build}
    assert not any(label.startswith("segments") for label in stale), stale
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=cursor)
    assert {k for k, v in requested(result, "alpha").items() if v} <= set(ROLLUPS) | {"timeline"}
    assert all(o.success for o in build_workspace(instance, tmp_path))  # what automation's runs build
    assert [it.label for it in plan_project(instance, project, record=False).items if it.needs_build] == []
