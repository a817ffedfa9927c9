"""The render sensor, tick by tick, on a real instance: exact run requests and partition changes."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.assets.records import DATA_VERSION_TAG, HANDED_TAG, handed_observations, recorded_observation
from vidasm_assets.definitions import build_definitions
from vidasm_assets.media.demo import RenderSpec, make_placeholder_workspace, make_render
from vidasm_assets.media.watch import (
    HOLD_SECONDS,
    INDEX_WAIT_SECONDS,
    WatchCursor,
    scan_workspace,
    watch_signature,
)
from vidasm_assets.sensors.renders import (
    DAEMON_LOOP_SECONDS,
    FACETS,
    SENSOR_NAME,
    WATCH_MARGIN_SECONDS,
    default_watch_seconds,
)

from ..support.helpers import build_workspace

pytestmark = [pytest.mark.media, pytest.mark.orchestration]


from ..support.sensor import TINY, Ticker, age, partition_changes, runs, through_to_delivery  # noqa: E402


@pytest.fixture
def ws(tmp_path: Path, make_project) -> Path:
    root = tmp_path / "ws"
    make_project(root, "alpha", {"sh010_v001.mp4": TINY, "sh020_v001.mp4": TINY}, {"fps": 24, "resolution": "64x36"})
    make_project(root, "beta", {"b010_v001.mp4": TINY}, {"fps": 25, "resolution": "64x36"})
    age(root)
    return root


def test_first_tick_adds_every_shot_and_launches_its_build(ws: Path, instance) -> None:
    t = Ticker(ws, instance)
    data = t.tick()
    assert partition_changes(data) == {
        ("add", "alpha__shots", ("sh010", "sh020")),
        ("add", "beta__shots", ("b010",)),
    }
    assert runs(data) == {
        ("alpha__shots", "sh010", ("alpha/audio", "alpha/picture")),
        ("alpha__shots", "sh020", ("alpha/audio", "alpha/picture")),
        through_to_delivery("beta", "b010"),  # beta's only shot: it goes on to the roll-ups in the same run
    }
    observed = {(e.asset_key.to_user_string(), e.partition) for e in data.asset_events}
    assert ("alpha/render", "sh010") in observed and ("alpha/edit_spec", None) in observed
    # alpha: 2 renders + 3 facets + its web preset; beta: none (its one run records its render, facets and preset)
    assert len(observed) == 2 + 3 + 1 and ("alpha/preset_web", None) in observed
    assert not [o for o in observed if o[0].startswith("beta/")]
    (beta,) = [r for r in data.run_requests if r.job_name == n.shot_to_delivery_job_name("beta")]
    assert {(o.asset_key.to_user_string(), o.partition) for o in handed_observations(beta.tags[HANDED_TAG])} == {
        ("beta/render", "b010"), ("beta/edit_spec", None), ("beta/picture_spec", None), ("beta/audio_spec", None),
        ("beta/preset_web", None),
    }  # fmt: skip
    # nothing changed: nothing to do
    again = t.tick()
    assert runs(again) == set() and partition_changes(again) == set() and not again.asset_events


def test_renders_built_by_the_cli_are_not_rebuilt(ws: Path, instance) -> None:
    assert all(o.success for o in build_workspace(instance, ws))
    data = Ticker(ws, instance).tick()
    assert runs(data) == set() and partition_changes(data) == set()


def test_new_version_rebuilds_that_shot_only(ws: Path, instance, ffmpeg: str) -> None:
    t = Ticker(ws, instance)
    t.tick()
    new = make_render(
        ffmpeg, ws / "alpha" / "03_Renders" / "sh020" / "sh020_v002.mp4", RenderSpec(64, 36, "24", 0.5, -12)
    )
    age(new)
    data = t.tick()
    assert runs(data) == {through_to_delivery("alpha", "sh020")}
    assert partition_changes(data) == set()
    # its one run observes the render it builds from (assets/shots.record_observations), not the tick
    assert data.asset_events == []


def test_a_render_left_to_a_run_that_never_observed_it_is_observed_once_the_run_is_over(
    ws: Path, instance, ffmpeg: str, monkeypatch
) -> None:
    """The tick leaves a one-run change's render observation to that run's shot step. If the run ends without
    recording it (canceled while queued, or failed before its first step), or never appears, a later tick records
    it, so Dagster still sees the new render; while the run is queued, the observation stays the run's."""
    import uuid

    import dagster as dg

    from vidasm_assets.sensors import renders

    t = Ticker(ws, instance)
    t.tick()
    for n_, shot in enumerate(("sh020", "sh010")):
        new = ws / "alpha" / "03_Renders" / shot / f"{shot}_v002.mp4"
        age(make_render(ffmpeg, new, RenderSpec(64, 36, "24", 0.5, -12 - n_)))
        data = t.tick()
        assert runs(data) == {through_to_delivery("alpha", shot)} and data.asset_events == []
        (req,) = data.run_requests
        tag = json.loads(data.cursor)["owed"][f"alpha/{shot}"][0]
        assert req.tags[HANDED_TAG] == tag
        (handed,) = handed_observations(tag)  # only the render changed
        version = handed.tags[DATA_VERSION_TAG]
        if shot == "sh020":  # its run is starting, then canceled before it ran a step
            queued = dg.DagsterRun(job_name=req.job_name, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTING,
                                   tags=dict(req.tags))  # fmt: skip
            instance.add_run(queued)
            data = t.tick()
            assert not data.asset_events and f"alpha/{shot}" in json.loads(data.cursor)["owed"]
            instance.report_run_canceled(queued)
        else:  # its run never appeared (the daemon failed to create it)
            data = t.tick()
            assert not data.asset_events  # not yet: the daemon creates it right after the tick
            monkeypatch.setattr(renders, "OWED_SECONDS", 0)
        data = t.tick()
        late = [(e.asset_key.to_user_string(), e.partition, e.tags[DATA_VERSION_TAG]) for e in data.asset_events]
        assert [e for e in late if e[0] == "alpha/render"] == [("alpha/render", shot, version)]
        assert f"alpha/{shot}" not in json.loads(data.cursor).get("owed", {})
        assert not [e for e in t.tick().asset_events if e.asset_key.path[0] == "alpha"]


def test_a_handed_observation_the_workspace_moved_past_is_never_recorded_over_a_newer_one(
    ws: Path, instance, ffmpeg: str
) -> None:
    """v002 lands: its one run is handed the observation. v003 lands while that run is under way (its own
    ``__shots`` run; the tick records v003). The first run is then canceled: v002's observation is no longer
    the shot's render, so it is dropped, not recorded over v003's (the UI would show the shot stale)."""
    import uuid

    import dagster as dg

    t = Ticker(ws, instance)
    t.tick()
    folder = ws / "alpha" / "03_Renders" / "sh020"
    age(make_render(ffmpeg, folder / "sh020_v002.mp4", RenderSpec(64, 36, "24", 0.5, -12)))
    (req,) = t.tick().run_requests
    first = dg.DagsterRun(job_name=req.job_name, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED,
                          tags=dict(req.tags))  # fmt: skip
    instance.add_run(first)
    age(make_render(ffmpeg, folder / "sh020_v003.mp4", RenderSpec(64, 36, "24", 0.5, -9)))
    data = t.tick()
    assert runs(data) == {("alpha__shots", "sh020", ("alpha/audio", "alpha/picture"))}  # the project is busy
    v003 = json.loads(data.cursor)["shots"]["alpha"]["sh020"][3]
    assert [(e.partition, e.tags[DATA_VERSION_TAG]) for e in data.asset_events] == [("sh020", v003)]
    instance.report_run_canceled(first)
    data = t.tick()
    assert not [e for e in data.asset_events if e.asset_key.path[0] == "alpha"]
    assert "alpha/sh020" not in json.loads(data.cursor).get("owed", {})
    assert recorded_observation(instance, n.key("alpha", n.RENDER), "sh020") == v003


def test_a_take_unpublished_is_built_again(ws: Path, instance, ffmpeg: str) -> None:
    """v002 then v003 are built by the sensor's runs; v003 is deleted, so v002 is the shot's render again. Its run
    key must differ from v002's first one: Dagster launches a run key once per sensor, and the shot would stay
    built from the deleted v003 for good."""
    assert all(o.success for o in build_workspace(instance, ws))
    t = Ticker(ws, instance)
    t.tick()
    folder = ws / "alpha" / "03_Renders" / "sh020"
    keys = []
    for take, level in (("v002", -12), ("v003", -9)):
        age(make_render(ffmpeg, folder / f"sh020_{take}.mp4", RenderSpec(64, 36, "24", 0.5, level)))
        (req,) = t.tick().run_requests
        keys.append(req.run_key)
        t.run(req)
    (folder / "sh020_v003.mp4").unlink()
    data = t.tick()
    assert runs(data) == {through_to_delivery("alpha", "sh020")}
    (again,) = data.run_requests
    assert again.run_key.split("@")[0] == keys[0].split("@")[0]  # the same versions as v002's first run ...
    assert again.run_key not in keys  # ... under a key Dagster has not launched yet


def test_a_change_while_its_project_builds_leaves_the_rollups_to_automation(ws: Path, instance, ffmpeg: str) -> None:
    """A run of the same project under way (its roll-ups may be about to rebuild): the changed shot gets its own
    run and automation the roll-ups, once both are done. Another project's run changes nothing."""
    import uuid

    import dagster as dg

    t = Ticker(ws, instance)
    t.tick()
    other = dg.DagsterRun(
        job_name=n.shots_job_name("beta"), run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED
    )
    instance.add_run(other)
    age(
        make_render(
            ffmpeg, ws / "alpha" / "03_Renders" / "sh020" / "sh020_v002.mp4", RenderSpec(64, 36, "24", 0.5, -12)
        )
    )
    assert runs(t.tick()) == {through_to_delivery("alpha", "sh020")}
    busy = dg.DagsterRun(
        job_name="__ASSET_JOB", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED,
        asset_selection=frozenset({n.key("alpha", n.CUT)}),
    )  # fmt: skip
    instance.add_run(busy)
    age(
        make_render(ffmpeg, ws / "alpha" / "03_Renders" / "sh010" / "sh010_v002.mp4", RenderSpec(64, 36, "24", 0.5, -9))
    )
    assert runs(t.tick()) == {("alpha__shots", "sh010", ("alpha/audio", "alpha/picture"))}


def test_half_written_render_waits_for_the_settle_time(ws: Path, instance, ffmpeg: str) -> None:
    t = Ticker(ws, instance, settle=30)
    t.tick()
    growing = make_render(ffmpeg, ws / "alpha" / "03_Renders" / "sh010" / "sh010_v002.mp4", TINY)
    assert runs(t.tick()) == set()  # written just now: not settled
    with open(growing, "ab") as fh:  # still being written
        fh.write(b"\0" * 10)
    assert runs(t.tick()) == set()
    age(growing, time.time() - 31)  # still for longer than the settle time
    assert runs(t.tick()) == {through_to_delivery("alpha", "sh010")}


def test_a_change_waits_while_another_render_of_its_project_is_still_being_written(
    ws: Path, instance, ffmpeg: str
) -> None:
    """sh010's new render has settled while sh020's is still being copied in: sh010's run would go on to the
    timeline, which reads sh020's newest take, the half-written one, and fail (and automation after it). The
    project's changes wait together and go out once sh020's render has settled, one run per shot; another
    project is not held; and a hold ends after ``HOLD_SECONDS`` (a trickle of renders never starves the rest)."""
    t = Ticker(ws, instance, settle=30)
    t.tick()
    renders = ws / "alpha" / "03_Renders"
    age(make_render(ffmpeg, renders / "sh010" / "sh010_v002.mp4", RenderSpec(64, 36, "24", 0.5, -12)))
    copying = make_render(ffmpeg, renders / "sh020" / "sh020_v002.mp4", RenderSpec(64, 36, "24", 0.5, -9))
    assert runs(t.tick()) == set()
    assert runs(t.tick()) == set()  # held, not forgotten
    age(make_render(ffmpeg, ws / "beta" / "03_Renders" / "b010" / "b010_v002.mp4", RenderSpec(64, 36, "25", 0.5, -9)))
    assert runs(t.tick()) == {through_to_delivery("beta", "b010")}
    age(copying, time.time() - 31)
    assert runs(t.tick()) == {("alpha__shots", s, ("alpha/audio", "alpha/picture")) for s in ("sh010", "sh020")}

    age(make_render(ffmpeg, renders / "sh010" / "sh010_v003.mp4", TINY))
    make_render(ffmpeg, renders / "sh020" / "sh020_v003.mp4", TINY)  # the next one still arriving
    assert runs(t.tick()) == set()
    cursor = json.loads(t.cursor or "{}")
    cursor["held"]["alpha"] -= HOLD_SECONDS  # held since two minutes ago
    t.cursor = json.dumps(cursor)
    assert runs(t.tick()) == {through_to_delivery("alpha", "sh010")}


def test_an_mp4_without_its_index_yet_waits_while_its_writer_may_be_paused(ws: Path, instance, ffmpeg: str) -> None:
    """A writer that goes quiet for longer than the settle time (a generator between frames, an export finalizing)
    leaves an MP4 whose moov atom, written last, is not there yet: the sensor keeps waiting instead of launching a
    run that fails on a truncated file; once the index is written it counts. One still for longer than
    ``INDEX_WAIT_SECONDS`` counts as it is (its writer died): its run fails naming the truncated file."""
    t = Ticker(ws, instance, settle=30)
    t.tick()
    dest = ws / "alpha" / "03_Renders" / "sh010" / "sh010_v002.mp4"
    whole = make_render(ffmpeg, dest, RenderSpec(64, 36, "24", 0.5, -9)).read_bytes()
    assert whole.index(b"moov") > whole.index(b"mdat")  # the muxer's default: the index after the media
    dest.write_bytes(whole[: whole.index(b"mdat") + 64])  # header and the start of the media only
    age(dest, time.time() - 60)  # still for a minute: past the settle time, inside INDEX_WAIT_SECONDS
    data = t.tick()
    assert runs(data) == set() and not data.asset_events
    dest.write_bytes(whole)
    age(dest)
    assert runs(t.tick()) == {through_to_delivery("alpha", "sh010")}
    other = ws / "beta" / "03_Renders" / "b010" / "b010_v002.mp4"
    other.write_bytes(whole[: whole.index(b"mdat") + 64])
    age(other, time.time() - INDEX_WAIT_SECONDS - 1)  # its writer died long ago
    assert runs(t.tick()) == {through_to_delivery("beta", "b010")}


def test_temp_and_hidden_files_are_never_picked_up(ws: Path, instance) -> None:
    t = Ticker(ws, instance)
    t.tick()
    shot = ws / "alpha" / "03_Renders" / "sh020"
    for name in ("sh020_v009.mp4.part", ".sh020_v010.mp4", "sh020_v011.tmp", "sh020_v012.png"):
        (shot / name).write_bytes(b"partial")
    new_shot = ws / "alpha" / "03_Renders" / "sh030"
    new_shot.mkdir()
    (new_shot / "sh030_v001.mp4.part").write_bytes(b"partial")
    age(ws)
    data = t.tick()
    assert runs(data) == set() and partition_changes(data) == set() and not data.asset_events


def test_new_shot_folder(ws: Path, instance, ffmpeg: str) -> None:
    t = Ticker(ws, instance)
    t.tick()
    age(make_render(ffmpeg, ws / "beta" / "03_Renders" / "b020" / "b020_v001.mp4", TINY))
    data = t.tick()
    assert partition_changes(data) == {("add", "beta__shots", ("b020",))}
    assert runs(data) == {through_to_delivery("beta", "b020")}


def test_deleted_shot_reassembles_without_it(ws: Path, instance) -> None:
    t = Ticker(ws, instance)
    t.tick()
    shutil.rmtree(ws / "alpha" / "03_Renders" / "sh020")
    data = t.tick()
    assert partition_changes(data) == {("delete", "alpha__shots", ("sh020",))}
    assert runs(data) == {
        ("alpha__assemble", None, ("alpha/cut", "alpha/delivery_web", "alpha/edl", "alpha/otio", "alpha/timeline"))
    }
    assert instance.get_dynamic_partitions("alpha__shots") == ["sh010"]


def test_project_json_edits_rebuild_what_they_affect(ws: Path, instance) -> None:
    assert all(o.success for o in build_workspace(instance, ws))
    t = Ticker(ws, instance)
    assert runs(t.tick()) == set()
    pj = ws / "alpha" / "project.json"
    spec = json.loads(pj.read_text())
    spec["audio"] = {"loudness_lufs": -23, "true_peak_db": -2}
    pj.write_text(json.dumps(spec))
    data = t.tick()
    assert runs(data) == {
        ("alpha__shots", "sh010", ("alpha/audio",)),
        ("alpha__shots", "sh020", ("alpha/audio",)),
    }
    assert [e.asset_key.to_user_string() for e in data.asset_events] == ["alpha/audio_spec"]
    # order only: no shot work; the edit_spec observation lets automation rebuild the roll-ups
    spec["sequence"] = [{"shot": "sh020"}, {"shot": "sh010", "notes": "moved"}]
    pj.write_text(json.dumps(spec))
    data = t.tick()
    assert runs(data) == set()
    assert [e.asset_key.to_user_string() for e in data.asset_events] == ["alpha/edit_spec"]
    # dropping a shot from the sequence removes its partition and reassembles
    spec["sequence"] = [{"shot": "sh020"}]
    pj.write_text(json.dumps(spec))
    data = t.tick()
    assert partition_changes(data) == {("delete", "alpha__shots", ("sh010",))}
    assert {r[0] for r in runs(data)} == {"alpha__assemble"}


def test_broken_project_json_and_new_project_do_not_crash(ws: Path, instance, make_project) -> None:
    t = Ticker(ws, instance)
    t.tick()
    (ws / "beta" / "project.json").write_text("{broken")
    make_project(ws, "gamma", {"g010_v001.mp4": TINY}, {"fps": 24, "resolution": "64x36"})
    age(ws)
    data = t.tick()
    # gamma is not in this code location yet (needs a reload); beta keeps its state until fixed
    assert runs(data) == set() and partition_changes(data) == set()
    assert "beta" in json.loads(data.cursor)["shots"]
    assert "gamma" not in json.loads(data.cursor)["shots"]
    t.reload()
    data = t.tick()
    assert partition_changes(data) == {("add", "gamma__shots", ("g010",))}
    assert runs(data) == {through_to_delivery("gamma", "g010")}


def test_scan_of_a_big_workspace_is_cheap(tmp_path: Path) -> None:
    """50 projects x 100 shots of placeholder files: a no-change tick only stats files."""
    root = tmp_path / "big"
    known = make_placeholder_workspace(root, 50, 100)
    first = scan_workspace(root, WatchCursor(), known_projects=known, spec_versions=FACETS)
    assert sum(len(c.changed) for c in first.changes) == 5000
    cursor = WatchCursor.from_json(first.cursor.to_json())
    second = scan_workspace(root, cursor, known_projects=known, spec_versions=FACETS)
    assert all(c.empty for c in second.changes)
    assert len(first.cursor.to_json()) < 2_000_000


def test_sensor_targets_every_job(ws: Path) -> None:
    defs = build_definitions(ws)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert {j.name for j in sensor.jobs} == {
        *(f(p) for p in ("alpha", "beta") for f in (n.shots_job_name, n.assemble_job_name)),
        *(n.shot_to_delivery_job_name(p) for p in ("alpha", "beta")),
    }


def test_a_trim_change_asks_for_that_shot_only(ws: Path, instance) -> None:
    """Sequence entries' in/out are in the edit spec: the sensor asks for the trimmed shot's run (picture and
    audio cover its uses), not the others'; removing the trim asks for it again (its last build was trimmed)."""
    pj = ws / "alpha" / "project.json"
    spec = json.loads(pj.read_text())
    spec["sequence"] = [{"shot": "sh010"}, {"shot": "sh020"}]
    pj.write_text(json.dumps(spec))
    assert all(o.success for o in build_workspace(instance, ws))
    t = Ticker(ws, instance)
    assert runs(t.tick()) == set()
    spec["sequence"] = [{"shot": "sh010", "in": 3, "out": 9}, {"shot": "sh020"}]
    pj.write_text(json.dumps(spec))
    assert runs(t.tick()) == {through_to_delivery("alpha", "sh010")}
    assert all(o.success for o in build_workspace(instance, ws))
    spec["sequence"] = [{"shot": "sh010"}, {"shot": "sh020"}]
    pj.write_text(json.dumps(spec))
    assert runs(t.tick()) == {through_to_delivery("alpha", "sh010")}


def test_a_music_change_is_observed_and_automation_rebuilds_the_mix_otio_and_deliveries_only(
    ws: Path, instance, ffmpeg: str
) -> None:
    import subprocess

    import dagster as dg

    def track(hz: int) -> None:
        dest = ws / "alpha" / "music" / "bed.wav"
        dest.parent.mkdir(exist_ok=True)
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f={hz}:d=0.4", str(dest)], check=True)
        age(dest.parent, time.time() - 3600 + hz)  # settled, each version with its own mtime

    track(200)
    assert all(o.success for o in build_workspace(instance, ws))
    t = Ticker(ws, instance)
    first = t.tick()
    assert runs(first) == set()
    evaluated = dg.evaluate_automation_conditions(defs=t.defs, instance=instance)
    assert evaluated.total_requested == 0
    track(300)  # a new mix of the track under the same name
    data = t.tick()
    assert runs(data) == set(), "no shot run: the music touches no shot"
    assert {e.asset_key.to_user_string() for e in data.asset_events} == {"alpha/music"}
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=evaluated.cursor)
    rollups = [n.TIMELINE, n.CUT, n.EDL, n.OTIO, n.MIX, n.delivery("web")]
    asked = {a for a in rollups if result.get_num_requested(n.key("alpha", a))}
    assert asked == {n.MIX, n.OTIO, n.delivery("web")}  # requested together: no picture step among them
    assert not any(result.get_num_requested(n.key("beta", a)) for a in rollups if a != n.MIX)


def test_a_music_track_still_being_copied_waits_for_the_settle_time(ws: Path, instance, ffmpeg: str) -> None:
    """A track copied into music/ under its own name is seen part-written: its new version counts only once it
    has been still for the settle time, like a render's (before, the half-copied file was observed and mixed)."""
    import subprocess

    dest = ws / "alpha" / "music" / "bed.wav"
    dest.parent.mkdir()

    def track(hz: int) -> None:
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f={hz}:d=0.4", str(dest)], check=True)

    track(200)
    age(dest.parent)
    t = Ticker(ws, instance, settle=30)
    t.tick()
    track(300)  # written just now
    data = t.tick()
    assert not [e for e in data.asset_events if e.asset_key.path[-1] == n.MUSIC]
    assert str(dest) in json.loads(data.cursor)["pending"]
    age(dest, time.time() - 31)  # still for longer than the settle time
    data = t.tick()
    assert {e.asset_key.to_user_string() for e in data.asset_events} == {"alpha/music"}


def _land_later(seconds: float, make) -> threading.Thread:
    """``make()`` a render ``seconds`` from now, from another thread (an artist publishing during the tick)."""
    th = threading.Thread(target=lambda: (time.sleep(seconds), make()), daemon=True)
    th.start()
    return th


def test_a_watching_tick_sees_a_render_that_lands_during_it(ws: Path, instance, ffmpeg: str, tmp_path: Path,
                                                           monkeypatch) -> None:  # fmt: skip
    """With a watch window (the default at sensor intervals under the daemon's 5-s loop), a tick that found nothing
    keeps watching the folders and answers as soon as a render lands and settles, with that shot's run: without
    the watch it would have ended empty and the render waited for the next loop."""
    monkeypatch.setenv("VIDASM_SENSOR_WATCH_SECONDS", "30")
    t = Ticker(ws, instance, settle=1)
    t.tick()  # first look: builds everything
    part = tmp_path / "sh010_v002.mp4"
    make_render(ffmpeg, part, RenderSpec(64, 36, "24", 0.5, -9))
    age(part, time.time() - 5)  # finished writing a while ago: settled as soon as it is renamed in
    th = _land_later(0.5, lambda: part.rename(ws / "alpha" / "03_Renders" / "sh010" / part.name))
    t0 = time.monotonic()
    data = t.tick()
    took = time.monotonic() - t0
    th.join()
    assert runs(data) == {through_to_delivery("alpha", "sh010")}
    assert took < 30, "the tick watched its whole window instead of answering when the render landed"


def test_a_watching_tick_waits_for_a_fresh_render_to_settle(ws: Path, instance, ffmpeg: str, tmp_path: Path,
                                                           monkeypatch) -> None:  # fmt: skip
    """A render written into the shot folder during the watch counts only once it has been still for the settle
    time, still inside the same tick."""
    monkeypatch.setenv("VIDASM_SENSOR_WATCH_SECONDS", "30")
    t = Ticker(ws, instance, settle=1)
    t.tick()
    dest = ws / "beta" / "03_Renders" / "b010" / "b010_v002.mp4"
    th = _land_later(0.3, lambda: make_render(ffmpeg, dest, RenderSpec(64, 36, "25", 0.5, -9)))
    t0 = time.monotonic()
    data = t.tick()
    took = time.monotonic() - t0
    th.join()
    assert runs(data) == {through_to_delivery("beta", "b010")}
    assert dest.stat().st_mtime + 1 <= time.time(), "picked up before it had been still for the settle time"
    assert took < 30


def test_a_tick_with_nothing_to_see_watches_its_window_and_ends_empty(ws: Path, instance, monkeypatch) -> None:
    monkeypatch.setenv("VIDASM_SENSOR_WATCH_SECONDS", "0.6")
    t = Ticker(ws, instance)
    t.tick()
    t0 = time.monotonic()
    data = t.tick()
    assert time.monotonic() - t0 >= 0.6
    assert runs(data) == set() and not data.asset_events


def test_the_watch_window_fills_the_daemons_loop_only_at_short_intervals() -> None:
    assert default_watch_seconds(1) == DAEMON_LOOP_SECONDS - WATCH_MARGIN_SECONDS
    assert default_watch_seconds(DAEMON_LOOP_SECONDS) == 0 and default_watch_seconds(30) == 0


def test_the_watch_signature_moves_on_what_the_sensor_acts_on(ws: Path) -> None:
    """A new render, a new shot folder, a project.json edit, a new project and a presets.json edit move the stat
    signature; reading a render does not (it is what a full look is for)."""
    known = {"alpha", "beta"}
    cursor = scan_workspace(ws, WatchCursor(), known_projects=known, spec_versions=FACETS).cursor
    sig = watch_signature(ws, cursor)
    assert watch_signature(ws, cursor) == sig
    (ws / "alpha" / "03_Renders" / "sh010" / "sh010_v001.mp4").read_bytes()
    assert watch_signature(ws, cursor) == sig
    steps = [
        lambda: (ws / "alpha" / "03_Renders" / "sh010" / "sh010_v002.mp4").write_bytes(b"x"),
        lambda: (ws / "alpha" / "03_Renders" / "sh030").mkdir(),
        lambda: (ws / "beta" / "project.json").write_text((ws / "beta" / "project.json").read_text() + "\n "),
        lambda: (ws / "gamma").mkdir(),
        lambda: (ws / "presets.json").write_text("{}"),  # the workspace's shared presets: created, then edited
        lambda: (ws / "presets.json").write_text('{"web": {"video": {"crf": 23}}}'),
    ]
    for i, step in enumerate(steps):
        time.sleep(0.02)  # a new mtime even on a coarse clock
        step()
        now = watch_signature(ws, cursor)
        assert now != sig, f"step {i} did not move the signature"
        sig = now
