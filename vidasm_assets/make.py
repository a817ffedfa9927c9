"""The one build entry point: make a workspace (or some of its projects) in a Dagster instance, like ``make``.

Used by the CLI (``vidasm build``), the tests and the benchmarks. Per project, inside its own error boundary:

1. take the project's build lock (a second build of the same project waits, saying who holds it);
2. remove partial files that killed builds left behind;
3. plan (``planner.plan_project``: expected vs recorded versions vs what is on disk);
4. run one Dagster run per stale shot, up to ``jobs`` at once (default: the ``ffmpeg`` pool's limit), then one
   for the stale roll-ups (``planner.execute_plan``).

Before anything, runs that a killed vidasm process left STARTED are marked failed and their ``ffmpeg`` pool slots
freed, so a crash never blocks later builds. Ctrl-C or SIGTERM stop the whole build after the current run is
cancelled (its FFmpeg is killed), not just that run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from .assets import names as n
from .assets.records import INTERRUPTED_TAG
from .definitions import build_definitions
from .media.errors import VidasmError
from .media.locks import Holder, project_lock
from .media.outputs import remove_stale_partials
from .media.project import Project, discover_projects, load_project
from .planner import Outcome, ProjectPlan, agree_in_ui, execute_plan, plan_project, settings_of
from .pools import ensure_pool
from .workers import BUILD_PID_TAG, ShotWorkers

HOST_TAG = "vidasm/host"
PID_TAG = "vidasm/pid"
START_TAG = "vidasm/process_start"
LIVE_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22): with the pid, it
    identifies a process even after its pid is reused. Empty where /proc is missing (then the pid alone counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_tags() -> dict[str, str]:
    """Tags every in-process run of this process carries, so a later build can tell whether it is still alive."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), START_TAG: _process_start(os.getpid())}


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or _process_start(pid) in ("", start)


def reclaim_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs a vidasm process on this host started in-process and did not finish (it was killed),
    and free the pool slots they hold. Returns one line per run reclaimed."""
    host = socket.gethostname()
    out = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=LIVE_STATUSES, tags={HOST_TAG: host})):
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and not _alive(pid, run.tags.get(START_TAG, "")):
            instance.report_run_failed(run, f"the vidasm process that ran it (pid {pid} on {host}) died")
            instance.add_run_tags(run.run_id, {INTERRUPTED_TAG: "process died"})
            storage = instance.event_log_storage
            held = sum(
                1
                for key in storage.get_concurrency_keys()
                for slot in storage.get_concurrency_info(key).claimed_slots
                if slot.run_id == run.run_id
            )
            storage.free_concurrency_slots_for_run(run.run_id)
            out.append(f"run {run.run_id[:8]} ({run.job_name}) of dead pid {pid}: marked failed, {held} slot(s) freed")
    return out


def default_jobs(instance: dg.DagsterInstance, pool: str = n.FFMPEG_POOL) -> int:
    """How many shot runs a build runs at once unless told (``-j``): one per two slots of the ``ffmpeg`` pool (a
    limit set with ``dagster instance concurrency set``, else ``concurrency.pools.default_limit`` of dagster.yaml,
    else this machine's core count), at least one.

    Measured on 2 cores (BENCHMARKS.md, spine build, 10 x 10 s 1080p, one run each, same day): two shot runs at
    once built in 244 s against 303 s one at a time, but peaked at 1592 MB against 727 MB (two encoders and two
    worker processes), over the 1.5 GB memory target; with x265 deliveries 2.2 GB. So on 2 cores the default is
    one at a time and ``-j 2`` is the faster choice where memory allows; on more cores one per two slots."""
    slots = instance.event_log_storage.get_concurrency_info(pool).slot_count
    limit = slots or instance.global_op_concurrency_default_limit or os.cpu_count() or 1
    return max(1, limit // 2)


def pool_waits(instance: dg.DagsterInstance, pool: str = n.FFMPEG_POOL) -> str | None:
    """When a step of this process waits for a slot of ``pool``: what holds the slots, in words; else None."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    mine = str(os.getpid())
    waiting = [p for p in info.pending_steps if p.assigned_timestamp is None]
    if not waiting:
        return None
    runs = {r.run_id: r for r in instance.get_runs(filters=dg.RunsFilter(run_ids=[p.run_id for p in waiting]))}
    ours = [runs[p.run_id].tags for p in waiting if p.run_id in runs]
    if not any(mine in (tags.get(PID_TAG), tags.get(BUILD_PID_TAG)) for tags in ours):
        return None
    holders = []
    held = {r.run_id: r for r in instance.get_runs(filters=dg.RunsFilter(run_ids=list(info.active_run_ids)))}
    for slot in info.claimed_slots:
        run = held.get(slot.run_id)
        who = f"pid {run.tags.get(PID_TAG)} on {run.tags.get(HOST_TAG)}" if run and PID_TAG in run.tags else "Dagster"
        status = run.status.value if run else "unknown run"
        holders.append(f"run {slot.run_id[:8]} {slot.step_key} ({status}, {who})")
    limit = info.slot_count
    return f"waiting for a slot of pool {pool!r} ({len(info.claimed_slots)}/{limit} held: {'; '.join(holders)})"


@contextmanager
def watch_pool(instance: dg.DagsterInstance, say: Listener, project: str, every_s: float = 2.0) -> Iterator[None]:
    """While a run executes, say once (and again when it changes) what its steps wait for; while they wait, the
    runs of builds killed since (``reclaim_dead_runs``) are failed and their slots freed, so a build never waits
    for good on a dead one's slots."""
    stop = threading.Event()

    def loop() -> None:
        last = None
        while not stop.wait(every_s):
            try:
                text = pool_waits(instance)
                if text:  # slots held by the runs of a build killed since (its pid is gone): free them now
                    for line in reclaim_dead_runs(instance):
                        say.note("", line)
            except Exception:  # a storage hiccup must not break the build; the run itself reports real errors
                continue
            if text and text != last:
                say.note(project, text)
            last = text

    t = threading.Thread(target=loop, name="vidasm-pool-watch", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=5)


class Listener:
    """What a build reports as it goes; the CLI prints it, tests and benchmarks may ignore it."""

    def note(self, project: str, text: str) -> None:
        """Something worth a line: waiting for a lock or a pool slot, runs reclaimed, partial files removed."""

    def plan(self, plan: ProjectPlan) -> None:
        """A project was planned (what is stale and why)."""

    def start(self, project: str, label: str) -> None:
        """A run starts."""

    def done(self, outcome: Outcome) -> None:
        """A run finished (or a project could not be planned)."""


class _LazyWorkers:
    """The build's worker processes (``workers.ShotWorkers``), started for the first project with more than one
    shot to build, kept for the others, stopped at the end."""

    def __init__(self, root: Path, instance: dg.DagsterInstance, jobs: int, say: Callable[[str, str], None]) -> None:
        self.root, self.instance, self.jobs, self.say = root, instance, jobs, say
        self.workers: ShotWorkers | None = None

    def get(self, plan: ProjectPlan) -> ShotWorkers | None:
        if self.jobs < 2 or len(plan.shot_builds()) < 2 or self.instance.is_ephemeral:
            return None
        if self.workers is None:
            self.workers = ShotWorkers(self.root, self.instance, self.jobs, self.say)
        return self.workers

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()


@dataclass
class MakeReport:
    outcomes: list[Outcome] = field(default_factory=list)
    plans: list[ProjectPlan] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def runs(self) -> int:
        return sum(1 for o in self.outcomes if o.run_id)


def _could_not(report: MakeReport, say: Listener, project: str, what: str, err: VidasmError) -> None:
    """A project that cannot be planned: a failure in the report, said once; the other projects go on."""
    report.plans.append(ProjectPlan(project, [], err))
    out = Outcome(project, what, False, None, str(err).splitlines()[0])
    report.outcomes.append(out)
    say.done(out)


def _plan_locked(
    instance: dg.DagsterInstance, project: Project, report: MakeReport, say: Listener, force: bool
) -> ProjectPlan | None:
    """With the project's lock held: reclaim the runs of a build killed while we waited for it, remove the partial
    files of killed builds, plan. The plan when there is something to run, else None (nothing to do, or the plan
    failed: said and reported)."""
    name = project.name
    for line in reclaim_dead_runs(instance):  # the build we waited for may have been killed meanwhile
        say.note("", line)
    removed = remove_stale_partials(project.output_dirs())
    if removed:
        say.note(name, f"removed {len(removed)} partial file(s) of killed builds")
    try:
        plan = plan_project(instance, project, force=force)
    except VidasmError as exc:
        _could_not(report, say, name, "plan", exc)
        return None
    report.plans.append(plan)
    if not force:
        agree_in_ui(instance, plan, project.shots())
    say.plan(plan)
    if not any(it.needs_build or it.state == "blocked" for it in plan.items):
        return None
    return plan


REPLANS = 3
"""How many times a build plans a project again when its project.json or presets change while it builds."""


def _build_locked(
    root: Path,
    instance: dg.DagsterInstance,
    project: Project,
    report: MakeReport,
    say: Listener,
    force: bool,
    run_config: dict | None,
    workers: _LazyWorkers,
    defs_of: dict[str, dg.Definitions],
) -> bool:
    """Plan and build one project, its lock held; True when the build was interrupted. When project.json or the
    presets change while its shots build, the roll-ups are not run from the new files over shots built for the old
    ones (an EDL of 6 events beside a 5-shot delivery): the project is planned again from the files as they are,
    up to ``REPLANS`` times."""
    for attempt in range(REPLANS + 1):
        planned = settings_of(project)
        plan = _plan_locked(instance, project, report, say, force and attempt == 0)
        if plan is None:
            return False
        if attempt or "defs" not in defs_of:  # once per build, and again when settings changed (a new preset)
            defs_of["defs"] = build_definitions(root)
        still = functools.partial(_still, root, project.name, planned)
        with watch_pool(instance, say, project.name):
            outs = execute_plan(
                defs_of["defs"],
                instance,
                plan,
                run_config=run_config,
                tags=process_tags(),
                on_step=say.start,
                on_done=say.done,
                workers=workers.get(plan),
                unchanged=still,
            )
        if any(o.interrupted for o in outs):
            report.outcomes += outs
            return True
        if not plan.changed_during_build:
            report.outcomes += outs
            return False
        # failures of this plan (a shot the edit removed) are judged again by the next plan
        report.outcomes += [o for o in outs if o.success]
        say.note(project.name, "project.json or the presets changed during the build: planning again")
        try:
            project = load_project(root, project.name)
        except VidasmError as exc:
            _could_not(report, say, project.name, "project", exc)
            return False
    out = Outcome(project.name, "cut, EDL, deliveries", False, None,
                  f"not assembled: project.json kept changing during the build ({REPLANS + 1} plans)")  # fmt: skip
    report.outcomes.append(out)
    say.done(out)
    return False


def _still(root: Path, name: str, planned: dict[str, str]) -> bool:
    """Whether the project's settings are still the ones it was planned with (unreadable now: they are not)."""
    try:
        return settings_of(load_project(root, name)) == planned
    except VidasmError:
        return False


def make(
    root: Path,
    projects: list[str] | None = None,
    *,
    instance: dg.DagsterInstance,
    force: bool = False,
    listener: Listener | None = None,
    run_config: dict | None = None,
    wait_for_lock: bool = True,
    jobs: int | None = None,
) -> MakeReport:
    """Materialize everything missing or stale in ``root`` (or in ``projects``), in ``instance``.

    Returns the report; a project whose project.json is broken, or that has a failing shot, is a failure in it
    and the other projects still build. Stops after the current run on Ctrl-C or SIGTERM (``report.interrupted``).
    ``jobs``: shot runs at once (``default_jobs``: the ``ffmpeg`` pool's limit); projects build one after another.
    """
    say = listener or Listener()
    t0 = time.monotonic()
    report = MakeReport()
    for line in reclaim_dead_runs(instance):
        say.note("", line)
    ensure_pool(instance, n.FFMPEG_POOL)  # before runs claim it side by side (pools.py: the first claims race)
    workers = _LazyWorkers(root, instance, jobs or default_jobs(instance), say.start)
    try:
        ws = discover_projects(root)
        defs_of: dict[str, dg.Definitions] = {}  # built for the first project with something to build
        for name in projects or sorted([*ws.projects, *ws.errors]):
            if name in ws.errors or name not in ws.projects:
                err = ws.errors.get(name) or VidasmError(f"no project {name!r} in {ws.root}", path=ws.root)
                _could_not(report, say, name, "project", err)
                continue
            project = ws.projects[name]

            def waiting(holder: Holder | None, project_name: str = name) -> None:
                who = holder.describe() if holder else "another build"
                say.note(project_name, f"waiting: {who} is building this project")

            with contextlib.ExitStack() as held:
                try:
                    held.enter_context(project_lock(project.cache_dir, wait=wait_for_lock, on_wait=waiting))
                except VidasmError as exc:  # busy and told not to wait, or a cache this user cannot write
                    _could_not(report, say, name, "project", exc)
                    continue
                if _build_locked(root, instance, project, report, say, force, run_config, workers, defs_of):
                    report.interrupted = True
                    break
    finally:
        workers.close()
    report.seconds = time.monotonic() - t0
    return report
