"""``vidasm build -j N``: shot runs on worker processes, at most N at once, the ``ffmpeg`` pool honoured across
them, and the same outputs as a build one shot at a time (issue 13)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.support.helpers import QUIET
from vidasm_assets.make import PID_TAG, make
from vidasm_assets.media.demo import RenderSpec
from vidasm_assets.media.probe import probe
from vidasm_assets.workers import BUILD_PID_TAG

pytestmark = [pytest.mark.media, pytest.mark.orchestration]

SHOTS = [f"sh0{i}0" for i in range(1, 5)]


def _instance(home: Path, pool: int) -> dg.DagsterInstance:
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: {pool}\n"
    )
    return dg.DagsterInstance.from_config(str(home))


@pytest.fixture
def workspace(tmp_path: Path, make_project) -> Path:
    ws = tmp_path / "ws"
    spec = RenderSpec(320, 180, "24", 2.0, -20)
    make_project(ws, "p", {f"{s}_v001.mp4": spec for s in SHOTS}, {"fps": 24, "resolution": "320x180"})
    return ws


def _step_spans(instance: dg.DagsterInstance, run_ids: list[str]) -> list[tuple[float, float, str]]:
    """(start, end, run id) of every step of the runs, from the event log."""
    spans = []
    for run_id in run_ids:
        starts: dict[str, float] = {}
        for rec in instance.all_logs(run_id):
            ev = rec.dagster_event
            if ev is None or ev.step_key is None:
                continue
            if ev.event_type == dg.DagsterEventType.STEP_START:
                starts[ev.step_key] = rec.timestamp
            elif ev.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                spans.append((starts[ev.step_key], rec.timestamp, run_id))
    return spans


def _most_at_once(spans: list[tuple[float, float, str]]) -> int:
    edges = sorted([(s, 1) for s, _, _ in spans] + [(e, -1) for _, e, _ in spans])
    most = now = 0
    for _, d in edges:
        now += d
        most = max(most, now)
    return most


def _shot_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs() if r.tags.get("dagster/partition") in SHOTS]


def _digests(ws: Path) -> dict[str, str]:
    cache = ws / "p" / "05_Cache"
    return {
        str(p.relative_to(cache)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(cache.rglob("*"))
        if p.is_file() and p.suffix in (".mov", ".mp4", ".wav", ".flac", ".mkv")
    }


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[list[dg.DagsterInstance]]:
    made: list[dg.DagsterInstance] = []
    yield made
    for inst in made:
        inst.dispose()


def test_shot_runs_run_on_workers_at_once_up_to_jobs(tmp_path: Path, workspace: Path, instances) -> None:
    instance = _instance(tmp_path / "home", pool=4)
    instances.append(instance)
    report = make(workspace, instance=instance, run_config=QUIET)
    assert not report.failures, report.failures
    runs = _shot_runs(instance)
    assert len(runs) == len(SHOTS)
    pids = {r.tags[PID_TAG] for r in runs}
    assert str(os.getpid()) not in pids, "shot runs must execute on worker processes"
    assert len(pids) == 2, pids  # jobs default to one per two pool slots: two workers
    assert {r.tags[BUILD_PID_TAG] for r in runs} == {str(os.getpid())}
    spans = _step_spans(instance, [r.run_id for r in runs])
    by_run = {rid for _, _, rid in spans}
    assert by_run == {r.run_id for r in runs}
    assert _most_at_once(spans) == 2, "two shot runs' FFmpeg steps should overlap"
    # The roll-ups see every shot: the delivery has all four shots' frames (2 s each at 24 fps).
    delivery = next((workspace / "p" / "06_Exports").rglob("*.mp4"))
    assert probe(delivery).video.frames == 4 * 48  # type: ignore[union-attr]


def _logging_ffmpeg(tmp_path: Path, real: str) -> tuple[Path, Path]:
    """A wrapper that runs ``real`` and appends ``start|end <pid> <epoch s>`` lines for each command with an input
    (not the capability probes) to a log: what ran at once, measured on the FFmpeg processes themselves."""
    log = tmp_path / "ffmpeg-spans.log"
    exe = tmp_path / "bin" / "ffmpeg"
    exe.parent.mkdir()
    exe.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" -i "*) io=1; echo "start $$ $(date +%s.%N)" >> {log};; *) io=0;; esac\n'
        f'"{real}" "$@"; rc=$?\n'
        f'[ $io = 1 ] && echo "end $$ $(date +%s.%N)" >> {log}\n'
        "exit $rc\n"
    )
    exe.chmod(0o755)
    return exe, log


def _ffmpeg_spans(log: Path) -> list[tuple[float, float, str]]:
    starts: dict[str, float] = {}
    spans = []
    for line in log.read_text().splitlines():
        what, pid, at = line.split()
        if what == "start":
            starts[pid] = float(at)
        else:
            spans.append((starts.pop(pid), float(at), pid))
    assert not starts, f"FFmpeg commands that never ended: {starts}"
    return spans


def test_the_ffmpeg_pool_bounds_ffmpeg_across_workers_and_outputs_match_a_serial_build(
    tmp_path: Path, workspace: Path, make_project, instances, ffmpeg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four workers, a pool of one on the SQLite instance: runs overlap but never two FFmpeg commands at once
    (Dagster's SQLite claims race: ``pools.HostSlots`` holds the limit); the outputs are the bytes a
    one-at-a-time build makes."""
    wrapper, log = _logging_ffmpeg(tmp_path, ffmpeg)
    monkeypatch.setenv("FFMPEG_PATH", str(wrapper))
    instance = _instance(tmp_path / "home", pool=1)
    instances.append(instance)
    report = make(workspace, instance=instance, run_config=QUIET, jobs=4)
    assert not report.failures, report.failures
    runs = _shot_runs(instance)
    assert len({r.tags[PID_TAG] for r in runs}) >= 2, "runs should have been spread over workers"
    spans = _ffmpeg_spans(log)
    assert len(spans) >= 2 * len(SHOTS), spans  # every shot's picture and audio conform went through the wrapper
    assert _most_at_once(spans) == 1, sorted(spans)

    serial_ws = tmp_path / "serial"
    spec = RenderSpec(320, 180, "24", 2.0, -20)
    make_project(serial_ws, "p", {f"{s}_v001.mp4": spec for s in SHOTS}, {"fps": 24, "resolution": "320x180"})
    serial = _instance(tmp_path / "home2", pool=1)
    instances.append(serial)
    assert not make(serial_ws, instance=serial, run_config=QUIET, jobs=1).failures
    assert {r.tags[PID_TAG] for r in _shot_runs(serial)} == {str(os.getpid())}
    assert _digests(workspace) == _digests(serial_ws) != {}
