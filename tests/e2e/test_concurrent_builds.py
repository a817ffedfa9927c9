"""Builds at the same time as other builds and edits (issue "Crash-safe, hostile-input-safe"): two builds of one
project, a build that waits for one that is killed, a busy or unlockable project, project.json edited while the
shots build. Real ``vidasm`` processes where it matters, stopped by process group even on failure."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.make import make
from vidasm_assets.media.demo import RenderSpec
from vidasm_assets.media.project import load_project

from ..support.builds import Procs
from ..support.builds import all_fresh as _all_fresh
from ..support.builds import cli_env as _cli_env
from ..support.builds import ffmpeg_pids as _ffmpeg_pids
from ..support.builds import vidasm_argv as _vidasm
from ..support.builds import wait_for as _wait_for
from ..support.helpers import QUIET, set_spec, video_frames_and_duration

pytestmark = [pytest.mark.media, pytest.mark.orchestration]

SHOT = RenderSpec(160, 90, "24", 1.0, -20)


def test_two_builds_of_one_project_do_the_work_once(tmp_path: Path, make_project, procs: Procs) -> None:
    ws = tmp_path / "ws"
    make_project(ws, "p", {f"sh0{i}0_v001.mp4": RenderSpec(320, 180, "24", 2.0, -20) for i in range(1, 3)},
                 {"fps": 24, "resolution": "320x180"})  # fmt: skip
    env = _cli_env(tmp_path, ws, pool=2)
    # the instance must exist before two processes race to create its SQLite schema
    subprocess.run(_vidasm("status"), env=env, capture_output=True, timeout=120, check=False)
    a = procs.start(_vidasm("build"), env, tmp_path / "a.log")
    time.sleep(0.5)
    b = procs.start(_vidasm("build"), env, tmp_path / "b.log")
    assert a.wait(timeout=400) == 0, (tmp_path / "a.log").read_text()
    assert b.wait(timeout=400) == 0, (tmp_path / "b.log").read_text()
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "is building this project" in logs and "waiting:" in logs
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        for key, parts in ((n.key("p", "picture"), ["sh010", "sh020"]), (n.key("p", "cut"), [None])):
            for part in parts:
                recs = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key, asset_partitions=[part] if part else None), limit=10
                ).records
                assert len(recs) == 1, (key, part, len(recs))


def test_a_build_waiting_for_one_that_is_killed_takes_over_and_finishes(
    tmp_path: Path, make_project, procs: Procs
) -> None:
    """Build A encodes two shots at once (``-j 2``, its runs holding both slots of the ffmpeg pool); build B waits
    for the project's lock; A is killed with kill -9. B gets the lock, reclaims A's dead runs and their slots, and
    finishes: it waited for good on the slots of runs whose process was gone (it reclaimed dead runs only when it
    started, while A was alive)."""
    ws = tmp_path / "ws"
    long = RenderSpec(320, 180, "24", 4.0, -20)
    make_project(ws, "p", {"sh010_v001.mp4": long, "sh020_v001.mp4": long}, {"fps": 24, "resolution": "320x180"})
    env = _cli_env(tmp_path, ws, pool=2)
    subprocess.run(_vidasm("status"), env=env, capture_output=True, timeout=120, check=False)  # the instance first
    a = procs.start(_vidasm("build", "-j", "2"), env, tmp_path / "a.log")
    _wait_for(lambda: len(_ffmpeg_pids(str(ws))) >= 2, 120, "A's two encodes")

    def frozen() -> bool:
        """A's FFmpeg processes stopped mid-run (one may have ended meanwhile), its runs holding both slots."""
        for pid in _ffmpeg_pids(str(ws)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            return len(instance.event_log_storage.get_concurrency_info(n.FFMPEG_POOL).claimed_slots) == 2

    _wait_for(frozen, 60, "A frozen while it holds both slots")
    b = procs.start(_vidasm("build"), env, tmp_path / "b.log")
    _wait_for(lambda: "is building this project" in (tmp_path / "b.log").read_text(), 60, "B to wait for A")
    procs.kill(a)
    assert b.wait(timeout=300) == 0, (tmp_path / "b.log").read_text()
    text = (tmp_path / "b.log").read_text()
    assert text.count("slot(s) freed") == 2, text
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert _all_fresh(instance, ws, "p")
        assert not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))


def test_a_busy_or_unlockable_project_is_one_failure_and_the_others_build(
    tmp_path: Path, make_project, instance: dg.DagsterInstance
) -> None:
    """``vidasm build --no-wait`` while another build holds a project's lock, and a project whose lock cannot be
    made (its ``05_Cache`` read-only; here the lock's name taken by a folder): each is one failure naming the
    cause, and the other project still builds (both ended the whole build with a traceback)."""
    import fcntl

    ws = tmp_path / "ws"
    for name in ("busy", "locked", "free"):
        make_project(ws, name, {"sh010_v001.mp4": SHOT}, {"fps": 24, "resolution": "160x90"})
    (ws / "locked" / "05_Cache" / ".build.lock").mkdir()
    lock = ws / "busy" / "05_Cache" / ".build.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another build's lock (flock: per open file, so this process counts)
        report = make(ws, instance=instance, run_config=QUIET, wait_for_lock=False)
    finally:
        os.close(fd)
    failed = {o.project: o.message for o in report.failures}
    assert set(failed) == {"busy", "locked"}, failed
    assert "is building this project" in failed["busy"]
    assert failed["locked"].startswith(f"{ws / 'locked' / '05_Cache' / '.build.lock'}: cannot take the project's")
    assert _all_fresh(instance, ws, "free")


def test_a_project_json_edited_while_its_shots_build_is_planned_again_not_assembled_half_old(
    tmp_path: Path, make_project, instance: dg.DagsterInstance, ffmpeg: str
) -> None:
    """The editor adds a shot to the sequence while the build conforms the others: the roll-ups would read the new
    project.json over shots built for the old one (a 3-event EDL beside a 2-shot delivery, the cut failing on the
    unbuilt shot). The build plans again, builds the new shot, and the EDL, cut and delivery agree."""
    import pycmx

    from vidasm_assets.make import Listener

    ws = tmp_path / "ws"
    spec = {"fps": 24, "resolution": "160x90", "sequence": [{"shot": "sh010"}, {"shot": "sh020"}]}
    folder = make_project(ws, "p", {f"sh0{i}0_v001.mp4": SHOT for i in (1, 2, 3)}, spec)

    class EditsMidway(Listener):
        notes: list[str] = []  # noqa: RUF012 - one listener per test

        def start(self, project: str, label: str) -> None:
            if "sh020" in label:  # the second shot's run starts: the editor saves project.json
                set_spec(folder, sequence=[*spec["sequence"], {"shot": "sh030"}])

        def note(self, project: str, text: str) -> None:
            self.notes.append(text)

    say = EditsMidway()
    report = make(ws, instance=instance, run_config=QUIET, jobs=1, listener=say)
    assert not report.failures, report.failures
    assert "project.json or the presets changed during the build: planning again" in say.notes
    project = load_project(ws, "p")
    with open(project.edl_path()) as fh:
        events = list(pycmx.parse_cmx3600(fh).events)
    frames, _ = video_frames_and_duration(project.delivery_path("web"))
    assert len(events) == 3 and frames == 3 * 24
    assert _all_fresh(instance, ws, "p")


def test_a_shot_removed_while_the_build_runs_is_planned_again_and_the_build_ends_well(
    tmp_path: Path, make_project, instance: dg.DagsterInstance
) -> None:
    """The editor takes sh020 out of the sequence (and adds sh030) while sh010 builds: sh020's run fails because of
    the edit itself ("not in the sequence"); the build plans again instead of stopping at "not assembled", builds
    sh030 and assembles sh010 + sh030, and reports no failure."""
    import pycmx

    from vidasm_assets.make import Listener

    ws = tmp_path / "ws"
    spec = {"fps": 24, "resolution": "160x90", "sequence": [{"shot": "sh010"}, {"shot": "sh020"}]}
    folder = make_project(ws, "p", {f"sh0{i}0_v001.mp4": SHOT for i in (1, 2, 3)}, spec)

    class EditsMidway(Listener):
        def start(self, project: str, label: str) -> None:
            if "sh010" in label:
                set_spec(folder, sequence=[{"shot": "sh010"}, {"shot": "sh030"}])

    report = make(ws, instance=instance, run_config=QUIET, jobs=1, listener=EditsMidway())
    assert not report.failures, report.failures
    project = load_project(ws, "p")
    with open(project.edl_path()) as fh:
        names = [e.edits[0].source_file for e in pycmx.parse_cmx3600(fh).events]
    assert [Path(x).name for x in names] == ["sh010_v001.mp4", "sh030_v001.mp4"], names
    assert _all_fresh(instance, ws, "p")
