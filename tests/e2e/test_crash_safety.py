"""Crashes never block or lie (issue "Crash-safe, hostile-input-safe"): real ``kill -9`` of a real ``vidasm
build``, a crash between an output's rename and Dagster's record, deleted renders, partial files, two builds at
once, the console and ``status``. Processes started here are stopped by process group, even on failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.assets.records import INTERRUPTED_TAG
from vidasm_assets.make import make, process_tags, reclaim_dead_runs
from vidasm_assets.media import fingerprints, loudness
from vidasm_assets.media.demo import RenderSpec, make_render
from vidasm_assets.media.outputs import stamped, temp_name
from vidasm_assets.media.progress import listening
from vidasm_assets.media.project import load_project
from vidasm_assets.media.runner import bind
from vidasm_assets.media.timeline import Timeline
from vidasm_assets.media.versions import Asset, shot_inputs, spec_facets

from ..support.builds import Procs
from ..support.builds import all_fresh as _all_fresh
from ..support.builds import cli_env as _cli_env
from ..support.builds import ffmpeg_pids as _ffmpeg_pids
from ..support.builds import states as _states
from ..support.builds import vidasm_argv as _vidasm
from ..support.builds import wait_for as _wait_for
from ..support.helpers import (
    QUIET,
    build_workspace,
    decoded_audio_samples,
    set_spec,
    video_frames_and_duration,
)

pytestmark = [pytest.mark.media, pytest.mark.orchestration]

SHOT = RenderSpec(160, 90, "24", 1.0, -20)


def test_a_build_killed_mid_encode_blocks_nothing_and_leaves_nothing(
    tmp_path: Path, make_project, procs: Procs
) -> None:
    """kill -9 of vidasm while FFmpeg encodes, with the ffmpeg pool at 1 slot: the FFmpeg child dies with it,
    and the next build reclaims the dead run's slot, removes its partial file and finishes."""
    ws = tmp_path / "ws"
    long = RenderSpec(640, 360, "24", 8.0, -20)  # long enough to be killed mid-encode
    make_project(ws, "p", {"sh010_v001.mp4": long, "sh020_v001.mp4": SHOT}, {"fps": 24, "resolution": "640x360"})
    env = _cli_env(tmp_path, ws, pool=1)
    first = procs.start(_vidasm("build"), env, tmp_path / "first.log")
    pictures = ws / "p" / "05_Cache" / "picture"
    _wait_for(lambda: any(pictures.glob(".*.partial-*")) and _ffmpeg_pids(str(ws)), 120, "the first conform")
    procs.kill(first)
    _wait_for(lambda: not _ffmpeg_pids(str(ws)), 10, "FFmpeg to die with its parent")
    assert list(pictures.glob(".*.partial-*")), "the killed build left its partial file"
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        stuck = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert stuck, "the killed run is left STARTED"
        assert instance.event_log_storage.get_concurrency_info(n.FFMPEG_POOL).claimed_slots
    second = subprocess.run(_vidasm("build"), env=env, capture_output=True, text=True, timeout=400)
    assert second.returncode == 0, second.stdout + second.stderr
    text = second.stdout + second.stderr
    assert "marked failed, 1 slot(s) freed" in text and "removed 1 partial file(s) of killed builds" in text
    assert not list(pictures.glob(".*.partial-*"))
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert instance.get_run_by_id(stuck[0].run_id).status == dg.DagsterRunStatus.FAILURE
        assert _all_fresh(instance, ws, "p")


def test_sigterm_stops_the_whole_build_promptly(tmp_path: Path, make_project, procs: Procs) -> None:
    ws = tmp_path / "ws"
    long = RenderSpec(640, 360, "24", 8.0, -20)
    make_project(ws, "p", {f"sh0{i}0_v001.mp4": long for i in range(1, 4)}, {"fps": 24, "resolution": "640x360"})
    env = _cli_env(tmp_path, ws, pool=2)
    log = tmp_path / "build.log"
    proc = procs.start(_vidasm("build"), env, log)
    _wait_for(lambda: _ffmpeg_pids(str(ws)), 120, "the first encode")
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    assert time.monotonic() - t0 < 15, "SIGTERM must stop the build promptly"
    assert proc.returncode == 130, log.read_text()
    assert "interrupted" in log.read_text()
    _wait_for(lambda: not _ffmpeg_pids(str(ws)), 10, "FFmpeg to be stopped")
    assert (
        not list((ws / "p" / "05_Cache" / "picture").glob("*.mov"))
        or len(list((ws / "p" / "05_Cache" / "picture").glob("*.mov"))) < 3
    ), "the build went on with the next shots after SIGTERM"


def test_dead_runs_of_this_host_are_reclaimed_and_live_ones_kept(instance: dg.DagsterInstance) -> None:
    @dg.op
    def noop() -> None: ...

    @dg.job
    def j() -> None:
        noop()

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tags = {**process_tags(), "vidasm/pid": str(dead.pid)}
    gone = instance.create_run_for_job(j, tags=tags, status=dg.DagsterRunStatus.STARTED)
    alive = instance.create_run_for_job(j, tags=process_tags(), status=dg.DagsterRunStatus.STARTED)
    lines = reclaim_dead_runs(instance)
    assert len(lines) == 1 and gone.run_id[:8] in lines[0]
    assert instance.get_run_by_id(gone.run_id).status == dg.DagsterRunStatus.FAILURE
    assert INTERRUPTED_TAG in instance.get_run_by_id(gone.run_id).tags  # status says "interrupted", not "failed"
    assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED


# ------------------------------------------------------------------ a crash between rename and record


def _dominant_hz(samples: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / 48000)[int(np.argmax(spec[1:])) + 1])


def _audio_at(path: Path, start_s: float, seconds: float) -> np.ndarray:
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
    chunks = []
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    pcm = np.concatenate(chunks)
    return pcm[int(start_s * 48000) : int((start_s + seconds) * 48000)]


@pytest.mark.parametrize("stamp_written", [False, True], ids=["killed-before-stamp", "killed-before-record"])
def test_an_output_renamed_but_never_recorded_is_stale_never_fresh(
    stamp_written: bool, tmp_path: Path, make_project, instance: dg.DagsterInstance, ffmpeg: str
) -> None:
    """The issue's example: build; add sh020_v002; the build is killed after the new sh020.wav was renamed into
    place (before its stamp, or after it but before Dagster recorded the run); v002 is deleted: the next build
    must rebuild sh020's audio, and the delivery plays v001's sound (440 Hz), not v002's (880 Hz)."""
    ws = tmp_path / "ws"
    folder = make_project(
        ws, "p", {"sh010_v001.mp4": SHOT, "sh020_v001.mp4": SHOT}, {"fps": 24, "resolution": "160x90"}
    )
    assert all(o.success for o in build_workspace(instance, ws))
    v2 = make_render(ffmpeg, folder / "03_Renders" / "sh020" / "sh020_v002.mp4", RenderSpec(160, 90, "24", 1.0, -20,
                                                                                           tone_hz=880))  # fmt: skip
    project = load_project(ws, "p")
    take = project.select_take("sh020")
    assert take.path == v2
    from vidasm_assets.media.probe import probe

    info = probe(take.path)
    run = bind(ffmpeg)
    if stamp_written:
        inputs = shot_inputs(fingerprints.render_fingerprint(take), take.label, spec_facets(project))
        with stamped(project.stamps("audio", "sh020", inputs[Asset.AUDIO].version)):
            loudness.normalize_audio(run, project, take, info, 24)
    else:
        loudness.normalize_audio(run, project, take, info, 24)  # renamed into place; nothing stamped
    v2.unlink()
    states = _states(instance, ws, "p")
    assert states["audio[sh020]"][0] != "fresh", states["audio[sh020]"]
    assert states["picture[sh020]"][0] == "fresh"
    assert all(o.success for o in build_workspace(instance, ws))
    assert _all_fresh(instance, ws, "p")
    web = project.delivery_path("web")
    assert abs(_dominant_hz(_audio_at(web, 1.2, 0.6)) - 440) < 5  # sh020 starts at 1 s in the delivery


def test_an_output_replaced_by_hand_is_stale(tmp_path: Path, make_project, instance: dg.DagsterInstance) -> None:
    ws = tmp_path / "ws"
    make_project(ws, "p", {"sh010_v001.mp4": SHOT}, {"fps": 24, "resolution": "160x90"})
    assert all(o.success for o in build_workspace(instance, ws))
    web = load_project(ws, "p").delivery_path("web")
    web.write_bytes(web.read_bytes()[:-10])  # truncated by a bad copy
    state, reason = _states(instance, ws, "p")["delivery_web"]
    assert state == "missing" and "changed since it was built" in reason
    assert all(o.success for o in build_workspace(instance, ws))
    assert _all_fresh(instance, ws, "p")


# ------------------------------------------------------------------ deleted renders


def test_a_shot_folder_whose_render_was_deleted_fails_by_name_not_dropped(
    tmp_path: Path, make_project, instance: dg.DagsterInstance
) -> None:
    """With no explicit sequence: deleting a shot's only render must not give a shorter delivery; removing the
    folder itself removes the shot."""
    ws = tmp_path / "ws"
    folder = make_project(
        ws, "p", {f"sh0{i}0_v001.mp4": SHOT for i in range(1, 4)}, {"fps": 24, "resolution": "160x90"}
    )
    assert all(o.success for o in build_workspace(instance, ws))
    project = load_project(ws, "p")
    web = project.delivery_path("web")
    before = web.stat().st_mtime_ns
    (folder / "03_Renders" / "sh020" / "sh020_v001.mp4").unlink()
    outcomes = build_workspace(instance, ws)
    failed = [o for o in outcomes if not o.success]
    assert failed and any("sh020" in o.message for o in failed), outcomes
    assert web.stat().st_mtime_ns == before  # the delivery was not rebuilt without the shot
    (folder / "03_Renders" / "sh020").rmdir()
    assert all(o.success for o in build_workspace(instance, ws))
    from vidasm_assets.media.probe import probe

    assert probe(web).video is not None and probe(web).video.frames == 48  # two shots of 24 frames


# ------------------------------------------------------------------ partial files, two builds at once


def test_partial_files_of_dead_writers_are_removed_and_live_ones_kept(
    tmp_path: Path, make_project, instance: dg.DagsterInstance
) -> None:
    ws = tmp_path / "ws"
    make_project(ws, "p", {"sh010_v001.mp4": SHOT}, {"fps": 24, "resolution": "160x90"})
    project = load_project(ws, "p")
    pictures = project.cache_dir / "picture"
    pictures.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = temp_name(pictures / "sh999.mov")
    mine.write_bytes(b"being written")
    theirs = pictures / mine.name.replace(f"-{os.getpid()}-", f"-{dead.pid}-")
    theirs.write_bytes(b"left by a killed build")
    old_style = pictures / ".sh010.partial-0123abcd.mov"
    old_style.write_bytes(b"left by an older vidasm")
    assert all(o.success for o in build_workspace(instance, ws))
    assert mine.exists() and not theirs.exists() and not old_style.exists()


# ------------------------------------------------------------------ console and status


def test_progress_reaches_listeners_and_commands_stay_at_debug(
    tmp_path: Path, make_project, instance: dg.DagsterInstance, caplog: pytest.LogCaptureFixture
) -> None:
    ws = tmp_path / "ws"
    make_project(ws, "p", {"sh010_v001.mp4": RenderSpec(160, 90, "24", 2.0, -20)}, {"fps": 24, "resolution": "160x90"})
    seen: dict[str, list[tuple[float, float | None]]] = {}
    with listening(lambda label, done, total: seen.setdefault(label, []).append((done, total))):
        assert all(o.success for o in make(ws, instance=instance, run_config=QUIET).outcomes)
    assert "p/sh010 picture" in seen and "p cut" in seen
    updates = seen["p/sh010 picture"]
    assert updates[-1] == (2.0, 2.0)  # reaches 100% of the shot's 2 s
    assert [d for d, _ in updates] == sorted(d for d, _ in updates)


def test_cli_failure_is_one_line_and_status_says_what_changed(tmp_path: Path, make_project, ffmpeg: str) -> None:
    ws = tmp_path / "ws"
    long_name = "a_shot_with_a_rather_long_name_for_a_narrow_terminal_0010"
    folder = make_project(ws, "p", {"sh020_v001.mp4": SHOT}, {"fps": 24, "resolution": "160x90"})
    make_render(ffmpeg, folder / "03_Renders" / long_name / f"{long_name}_v001.mp4", SHOT)
    env = _cli_env(tmp_path, ws, pool=2)
    ok = subprocess.run(_vidasm("build"), env=env, capture_output=True, text=True, timeout=400)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "-hide_banner" not in ok.stdout + ok.stderr  # FFmpeg command lines only with --verbose
    make_render(
        ffmpeg, folder / "03_Renders" / "sh020" / "sh020_v002.mp4", RenderSpec(160, 90, "24", 1.0, -20, tone_hz=660)
    )
    set_spec(folder, audio={"loudness_lufs": -14})
    status = subprocess.run(_vidasm("status"), env=env, capture_output=True, text=True, timeout=120)
    rows = {tuple(line.split("\t")[1:3]): line.split("\t")[3] for line in status.stdout.splitlines() if "\t" in line}
    assert rows[("picture[sh020]", "stale")] == "take v001 -> v002"
    assert rows[(f"audio[{long_name}]", "stale")] == "project.json audio.loudness_lufs: -16.0 -> -14.0"
    assert "take v001 -> v002" in rows[("audio[sh020]", "stale")]
    (folder / "03_Renders" / "sh020" / "sh020_v002.mp4").write_bytes(b"not a video")
    bad = subprocess.run(_vidasm("build"), env=env, capture_output=True, text=True, timeout=400)
    assert bad.returncode == 1
    failed = [ln for ln in (bad.stdout + bad.stderr).splitlines() if ln.startswith("✗")]
    shot_lines = [ln for ln in failed if "sh020 (" in ln]
    assert shot_lines and all("full log: run" in ln for ln in shot_lines), bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


@pytest.mark.parametrize("what", ["section", "card"])
def test_a_build_killed_while_a_transition_or_a_card_renders_counts_nothing_half_written(
    tmp_path: Path, make_project, procs: Procs, what: str
) -> None:
    """kill -9 of vidasm while FFmpeg renders a dissolve's section (``05_Cache/transitions/cut``) or draws a card's
    picture (``05_Cache/cards``): nothing it left is counted as built (the cut is not fresh, no section or card file
    of the wrong length is there under a real name), and the next build removes the partial file and finishes with
    a cut of exactly the timeline's frames and samples, every asset fresh."""
    ws = tmp_path / "ws"
    shot = RenderSpec(640, 360, "24", 8.0, -20)
    if what == "section":
        sequence = [{"shot": "sh010"}, {"shot": "sh020", "transition_in": {"type": "dissolve", "frames": 120}}]
        renders = {"sh010_v001.mp4": shot, "sh020_v001.mp4": RenderSpec(640, 360, "24", 8.0, -20, tone_hz=660)}
    else:
        sequence = [{"card": "A long title", "seconds": 60, "background": "#203040"}, {"shot": "sh010"}]
        renders = {"sh010_v001.mp4": RenderSpec(640, 360, "24", 1.0, -20)}
    spec = {"fps": 24, "resolution": "1280x720" if what == "card" else "640x360", "exports": [], "sequence": sequence}
    make_project(ws, "p", renders, spec)
    folder = ws / "p" / "05_Cache" / ("transitions/cut" if what == "section" else "cards")
    env = _cli_env(tmp_path, ws, pool=1)
    first = procs.start(_vidasm("build"), env, tmp_path / "first.log")
    _wait_for(lambda: any(folder.glob(".*.partial-*")) and _ffmpeg_pids(str(folder)), 300, f"the {what}'s render")
    procs.kill(first)
    _wait_for(lambda: not _ffmpeg_pids(str(ws)), 10, "FFmpeg to die with its parent")
    assert list(folder.glob(".*.partial-*")), "the killed build left its partial file"
    assert not [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")], "nothing under a real name"
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        states = _states(instance, ws, "p")
        assert states["cut"][0] != "fresh", states["cut"]
    second = subprocess.run(_vidasm("build"), env=env, capture_output=True, text=True, timeout=500)
    text = second.stdout + second.stderr
    assert second.returncode == 0, text
    assert "partial file(s) of killed builds" in text, text
    assert not list(folder.glob(".*.partial-*"))
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert _all_fresh(instance, ws, "p"), _states(instance, ws, "p")
    project = load_project(ws, "p")
    tl = Timeline.from_json(project.timeline_path().read_text())
    frames, _ = video_frames_and_duration(project.cut_path())
    assert frames == tl.total_frames and decoded_audio_samples(project.cut_path()) == tl.total_samples()
