"""Render nodes for real: PostgreSQL + Redis + two ``vidasm worker`` processes (Celery), runs launched with
Dagster's own CLI (``dagster job execute``) with ``VIDASM_EXECUTOR=celery``, so every step is a Celery task.

Two tiny projects' shot runs (four runs at once) execute on both workers, the ``ffmpeg`` pool limit (1) holds
across them, and the outputs are the bytes of a local in-process build. Then one worker's process group is
killed with SIGKILL while its FFmpeg encodes: nothing half-written counts, the step's message returns to the
queue after the visibility timeout and the other worker runs it again in the same run, which succeeds. Every
process the test starts runs in a process group of its own and is stopped by group, even on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
import redis

from vidasm_assets.assets import names as n
from vidasm_assets.make import make
from vidasm_assets.media.demo import RenderSpec, make_render, write_project
from vidasm_assets.media.outputs import PARTIAL_RE
from vidasm_assets.media.project import discover_projects
from vidasm_assets.planner import plan_workspace

from ..support.dagster_dev import stop_group
from ..support.helpers import QUIET, video_frames_and_duration
from ..support.postgres import fresh_database

pytestmark = [pytest.mark.media, pytest.mark.postgres, pytest.mark.orchestration]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BROKER = "redis://127.0.0.1:6379/13"
TINY = RenderSpec(64, 36, "24", 0.5, -20)
LONG = RenderSpec(1280, 720, "24", 8.0, -20)  # a conform that runs long enough to be killed mid-encode
PROJECTS = {"alpha": ["sh010", "sh020"], "beta": ["b010", "b020"]}
SHOT_ASSETS = ("picture", "audio")
VISIBILITY_S = 20


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("vidasm_celery") as url:
        yield url


@pytest.fixture
def broker() -> str:
    try:
        redis.Redis.from_url(BROKER, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:  # pragma: no cover - the CI machine runs Redis
        pytest.fail(f"Redis is not reachable at {BROKER} ({exc}); start it (redis-server)")
    return BROKER


class Processes:
    """Processes started in groups of their own; ``stop_all`` kills every group, even after a failure."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: list[subprocess.Popen] = []
        self.names: dict[int, str] = {}

    def start(self, argv: list[str], log: str) -> subprocess.Popen:
        with open(self.logs / log, "wb") as out:
            proc = subprocess.Popen(argv, env=self.env, cwd=self.logs, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        self.names[proc.pid] = log
        return proc

    def log(self, name: str) -> str:
        return (self.logs / name).read_text(errors="replace")

    def log_of(self, proc: subprocess.Popen) -> str:
        return self.log(self.names[proc.pid])[-4000:]

    def stop_all(self) -> None:
        for proc in self.procs:
            stop_group(proc)


@contextlib.contextmanager
def processes(env: dict[str, str], logs: Path) -> Iterator[Processes]:
    group = Processes(env, logs)
    try:
        yield group
    finally:
        group.stop_all()


def wait_for(predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.5) -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def start_worker(ps: Processes, ws: Path, name: str, queue: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "vidasm_assets.cli", "worker", "-w", str(ws), "-n", name, "-q", queue, "-c", "1"]
    return ps.start(argv, f"{name}.log")


def launch_shot_run(ps: Processes, project: str, shot: str) -> subprocess.Popen:
    """A run of the project's shots job for one shot, orchestrated by Dagster's CLI with the job's executor."""
    argv = [str(BIN / "dagster"), "job", "execute", "-m", "vidasm_assets.definitions", "-j",
            n.shots_job_name(project), "--tags", json.dumps({"dagster/partition": shot})]  # fmt: skip
    return ps.start(argv, f"run_{project}_{shot}_{uuid.uuid4().hex[:6]}.log")


def pgid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def ffmpeg_under(groups: set[int], needle: str) -> tuple[int, int] | None:
    """(ffmpeg pid, worker group) of an FFmpeg whose command line names ``needle``, started by a process of one
    of the worker ``groups`` (FFmpeg runs in a group of its own, its parent in the worker's)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or b"ffmpeg" not in Path(argv[0].decode(errors="replace")).name.encode():
            continue
        if not any(needle.encode() in a for a in argv):
            continue
        parent = ppid(int(entry.name))
        group = pgid(parent) if parent else None
        if group in groups:
            return int(entry.name), group
    return None


Record = tuple[str, str, str, float, int | None, str]


def step_records(instance: dg.DagsterInstance, run_id: str) -> list[Record]:
    """(run id, step key, event type, timestamp, pid, celery worker or "") of a run's step and engine events."""
    out = []
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or not ev.step_key:
            continue
        worker = ""
        if ev.event_type_value == "ENGINE_EVENT":
            md = ev.engine_event_data.metadata or {}
            if "Celery worker" in md:
                worker = str(md["Celery worker"].value)
        out.append((run_id, ev.step_key, ev.event_type_value, entry.timestamp, ev.pid, worker))
    return out


FINISHED_RE = re.compile(r"ffmpeg finished in ([0-9.]+) s")


def ffmpeg_spans(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    """(start, end) epoch seconds of each FFmpeg command of a run, from the runner's own ``ffmpeg finished in`` log
    line (written when the process has ended, inside the pool slot the command holds): end is the line's
    timestamp, start that minus the command's wall time."""
    spans = []
    for entry in instance.all_logs(run_id):
        m = FINISHED_RE.search(entry.user_message or "")
        if m:
            spans.append((entry.timestamp - float(m[1]), entry.timestamp))
    return spans


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, d in edges:
        now += d
        peak = max(peak, now)
    return peak


def states(instance: dg.DagsterInstance, ws: Path) -> dict[str, str]:
    return {
        f"{plan.project}/{it.label}": it.state
        for plan in plan_workspace(instance, discover_projects(ws), record=False)
        for it in plan.items
    }


def shot_outputs(ws: Path) -> dict[str, bytes]:
    out = {}
    for project, shots in PROJECTS.items():
        for shot in shots:
            out[f"{project}/picture/{shot}"] = (ws / project / "05_Cache" / "picture" / f"{shot}.mov").read_bytes()
            out[f"{project}/audio/{shot}"] = (ws / project / "05_Cache" / "audio" / f"{shot}.wav").read_bytes()
    return out


def test_two_celery_workers_share_the_shots_and_survive_a_killed_worker(
    tmp_path: Path, database: str, broker: str, ffmpeg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    for project, shots in PROJECTS.items():
        folder = write_project(ws, project, {"fps": 24, "resolution": "64x36"})
        for shot in shots:
            make_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mp4", TINY)

    # the reference: the same projects built locally, in process (vidasm build's path)
    local = tmp_path / "local"
    shutil.copytree(ws, local)
    (tmp_path / "local_home").mkdir()
    with dg.DagsterInstance.local_temp(tempdir=str(tmp_path / "local_home")) as local_instance:
        report = make(local, None, instance=local_instance, run_config=QUIET)
        assert not report.failures, [f.message for f in report.failures]

    home = tmp_path / "home"
    home.mkdir()
    config = (REPO / "vidasm_assets" / "instance" / "dagster.postgres.yaml").read_text()
    pool_limit = 1  # two workers could run two FFmpeg steps at once; the instance-wide pool must forbid it
    (home / "dagster.yaml").write_text(config.replace("default_limit: 2", f"default_limit: {pool_limit}"))
    queue = f"vidasm_test_{uuid.uuid4().hex[:8]}"
    settings = {
        "DAGSTER_HOME": str(home),
        "VIDASM_PG_URL": database,
        "VIDASM_WORKSPACE": str(ws),
        "VIDASM_EXECUTOR": "celery",
        "VIDASM_CELERY_BROKER": broker,
        "VIDASM_CELERY_QUEUE": queue,
        "VIDASM_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_S),
        "FFMPEG_PATH": ffmpeg,
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    env = {
        **os.environ,
        **settings,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }

    logs = tmp_path / "logs"
    logs.mkdir()
    with dg.DagsterInstance.get() as instance, processes(env, logs) as ps:
        # the schema exists before any worker opens the instance; the shots are the dynamic partitions
        for project, shots in PROJECTS.items():
            instance.add_dynamic_partitions(n.shots_partitions_name(project), shots)
        host = socket.gethostname()
        workers = {name: start_worker(ps, ws, name, queue) for name in ("w1", "w2")}
        for name, proc in workers.items():
            ready = f"{name}@{host} ready."
            wait_for(lambda nm=name, p=proc, r=ready: r in ps.log(f"{nm}.log") or p.poll() is not None, 90, name)
            assert proc.poll() is None, ps.log(f"{name}.log")[-3000:]
        groups = {proc.pid: name for name, proc in workers.items()}

        # a backfill of both projects' shots: four runs at once, each step a Celery task
        runs = [launch_shot_run(ps, project, shot) for project, shots in PROJECTS.items() for shot in shots]
        for proc in runs:
            assert proc.wait(timeout=240) == 0, ps.log_of(proc)
        records = instance.get_run_records()
        assert len(records) == 4
        assert {r.dagster_run.status for r in records} == {dg.DagsterRunStatus.SUCCESS}

        steps = [rec for r in records for rec in step_records(instance, r.dagster_run.run_id)]
        by_worker = {w for *_, w in steps if w}
        assert by_worker == {f"w1@{host}", f"w2@{host}"}, by_worker  # dagster-celery's engine events
        starts = [(run, key, ts, pid) for run, key, kind, ts, pid, _ in steps if kind == "STEP_START"]
        assert len(starts) == 4 * len(SHOT_ASSETS)
        assert {groups.get(pgid(pid or 0) or 0) for *_, pid in starts} == {"w1", "w2"}  # pids in both groups
        # the pool bounds FFmpeg commands: never two at once across both workers. (Step spans may overlap: Dagster's
        # claim of a pool slot races on PostgreSQL too, and a step whose claim raced waits for a host slot of the
        # pool before its FFmpeg starts, pools.HostSlots; CI saw two steps of these four runs overlap.)
        spans = [span for r in records for span in ffmpeg_spans(instance, r.dagster_run.run_id)]
        assert len(spans) >= 4 * len(SHOT_ASSETS), spans  # every shot's picture and audio ran FFmpeg
        assert max_overlap(spans) == pool_limit, sorted(spans)

        assert shot_outputs(ws) == shot_outputs(local)  # the same bytes as the local build
        built = states(instance, ws)
        fresh = {label for label, state in built.items() if state == "fresh"}
        want = {f"{p}/{a}[{s}]" for p, shots in PROJECTS.items() for s in shots for a in SHOT_ASSETS}
        assert fresh == want, built  # the shots are built, nothing else is said to be

        # a new render of alpha/sh020; its worker is killed while its FFmpeg conforms the picture
        make_render(ffmpeg, ws / "alpha" / "03_Renders" / "sh020" / "sh020_v002.mp4", LONG)
        run = launch_shot_run(ps, "alpha", "sh020")
        picture_dir = ws / "alpha" / "05_Cache" / "picture"
        writing = f"{picture_dir}/.sh020.partial-"  # the conform's FFmpeg writes its temporary output
        found = wait_for(lambda: ffmpeg_under(set(groups), writing), 90, "the conform's FFmpeg", poll=0.02)
        ffmpeg_pid, victim = found  # type: ignore[misc]
        os.killpg(victim, signal.SIGKILL)
        wait_for(lambda: pgid(ffmpeg_pid) is None, 10, "FFmpeg to die with its worker", poll=0.05)
        survivor = next(name for pid, name in groups.items() if pid != victim)
        # nothing half-written counts: the old output is stale (its render changed), never fresh for v002
        assert states(instance, ws)["alpha/picture[sh020]"] == "stale"

        assert run.wait(timeout=VISIBILITY_S + 90) == 0, ps.log_of(run)
        last = instance.get_run_records(limit=1)[0].dagster_run
        assert last.status == dg.DagsterRunStatus.SUCCESS
        recs = step_records(instance, last.run_id)
        picture = [(kind, pid, w) for _, key, kind, _, pid, w in recs if "picture" in key]
        picture_workers = [w for *_, w in picture if w]
        # started on the killed worker, then again (same run, same step) on the survivor after the timeout
        assert picture_workers == [f"{groups[victim]}@{host}", f"{survivor}@{host}"], picture_workers
        picture_starts = [pid for kind, pid, _ in picture if kind == "STEP_START"]
        assert len(picture_starts) == 2 and pgid(picture_starts[-1] or 0) == workers[survivor].pid
        assert [kind for kind, *_ in picture].count("STEP_SUCCESS") == 1

        after = states(instance, ws)
        assert after["alpha/picture[sh020]"] == after["alpha/audio[sh020]"] == "fresh"
        frames, _ = video_frames_and_duration(ws / "alpha" / "05_Cache" / "picture" / "sh020.mov")
        assert frames == round(LONG.seconds * 24)
        for partial in picture_dir.glob(".*"):  # what the killed FFmpeg left is a dead writer's temp file
            m = PARTIAL_RE.match(partial.name)
            assert m and pgid(int(m["pid"])) is None, partial.name
