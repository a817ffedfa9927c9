"""Shot runs on local worker processes: ``vidasm build -j N`` runs up to N shot runs at once.

Dagster's ``execute_in_process`` cannot run on several threads of one process: every run's set-up calls
``logging.config.dictConfig`` (the instance's ``python_logs`` handlers), which takes the logging module's lock and
then each handler's, while another run's event write holds a handler's lock and asks for the module's: a
deadlock (measured with Dagster 1.13.27). So each shot run executes in a worker process of its own, on the same
instance (its ``InstanceRef``) and the same definitions, on that process's main thread, where Dagster turns
SIGINT into a step interrupt that kills the step's FFmpeg.

- Workers are spawned (not forked: the parent has threads) when the first project needs them and kept for the
  whole build; each imports Dagster and loads the definitions once (a few seconds, in parallel with the others).
- Each run is tagged with its worker's pid (``make.process_tags``) and with the build's, so a later build
  reclaims the runs of a worker that was killed, and ``watch_pool`` still explains this build's waits.
- A worker dies with the build (parent-death signal on Linux), and its FFmpeg with it.
- Ctrl-C (SIGINT to the terminal's process group) or SIGTERM to the build: the build interrupts every running
  worker (SIGINT), drops the shot runs not started and waits for the running ones to fail as interrupted. An idle
  worker ignores SIGINT; a running one's step is interrupted by Dagster.
- FFmpeg progress and "shot started" lines come back over a queue, so the CLI shows every worker's bars.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import dagster as dg

from .media import progress
from .media.runner import die_with_parent

BUILD_PID_TAG = "vidasm/build_pid"
"""The pid of the ``vidasm build`` process whose worker ran the run."""

_WORKER: dict[str, Any] = {}
"""In a worker process: its definitions, instance and event queue."""


def _init(root: str, ref: Any, events: Any, parent: int) -> None:
    """Worker start: die with the build, ignore SIGINT while idle, load the definitions, open the instance."""
    die_with_parent()  # exits if the build died before the request took effect
    if os.getppid() != parent:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a run's step is interrupted by Dagster's own handler
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the build forwards SIGTERM as SIGINT to running workers
    from .definitions import build_definitions

    _WORKER["defs"] = build_definitions(Path(root))
    _WORKER["instance"] = dg.DagsterInstance.from_ref(ref)
    _WORKER["events"] = events
    events.put(("pid", os.getpid()))
    listener = lambda label, done_s, total_s: events.put(("progress", label, done_s, total_s))  # noqa: E731
    _WORKER["progress"] = contextlib.ExitStack()
    _WORKER["progress"].enter_context(progress.listening(listener))


def _run(project: str, shot: str, assets: list[str], run_config: dict | None, tags: dict[str, str]) -> Any:
    """In a worker: one shot run (``planner.run_shot``), tagged with this worker's pid."""
    from .assets import names as n
    from .make import PID_TAG, process_tags
    from .planner import run_shot

    events = _WORKER["events"]
    events.put(("pid", os.getpid()))
    job = _WORKER["defs"].resolve_job_def(n.shots_job_name(project))
    mine = {**tags, **process_tags(), BUILD_PID_TAG: tags.get(PID_TAG, "")}
    say = lambda p, text: events.put(("start", p, text))  # noqa: E731
    return run_shot(job, _WORKER["instance"], project, run_config, mine, say, shot, assets)


class ShotWorkers:
    """Up to ``jobs`` worker processes running shot runs of the workspace at ``root`` in ``instance``."""

    def __init__(self, root: Path, instance: dg.DagsterInstance, jobs: int, say: Callable[[str, str], None]) -> None:
        self.say = say
        self.pids: set[int] = set()
        ctx = multiprocessing.get_context("spawn")
        self.events = ctx.Queue()
        self.pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=ctx,
            initializer=_init,
            initargs=(str(root), instance.get_ref(), self.events, os.getpid()),
        )
        self._stop = threading.Event()
        self._drain = threading.Thread(target=self._forward, name="vidasm-worker-events", daemon=True)
        self._drain.start()

    def _forward(self) -> None:
        """Worker events to this process: progress bars, "shot started" lines, worker pids."""
        while not self._stop.is_set():
            try:
                kind, *rest = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            except (EOFError, OSError, ValueError):
                return
            if kind == "progress":
                progress.publish(*rest)
            elif kind == "start":
                self.say(*rest)
            elif kind == "pid":
                self.pids.add(rest[0])

    def run(
        self,
        project: str,
        builds: dict[str, list[str]],
        run_config: dict | None,
        tags: dict[str, str],
        on_done: Callable[[str, Any], None],
    ) -> bool:
        """Run the shot runs of ``builds`` ({shot: assets}), calling ``on_done(shot, Outcome)`` on this thread as
        each finishes; returns whether the build was stopped (Ctrl-C/SIGTERM here, or a run interrupted)."""
        from .planner import Outcome

        futures: dict[Future, str] = {
            self.pool.submit(_run, project, shot, assets, run_config, tags): shot for shot, assets in builds.items()
        }
        finished: set[str] = set()

        def result(fut: Future, shot: str) -> Outcome:
            try:
                return fut.result()
            except BrokenProcessPool as exc:
                return Outcome(project, shot, False, None, f"its worker process died ({exc})", interrupted=False)

        try:
            for fut in as_completed(futures):
                shot = futures[fut]
                out = result(fut, shot)
                finished.add(shot)
                on_done(shot, out)
                if out.interrupted:
                    raise KeyboardInterrupt
            return False
        except KeyboardInterrupt:
            for fut in futures:
                fut.cancel()
            self.interrupt()
            for fut, shot in futures.items():
                if not fut.cancelled() and shot not in finished:
                    out = result(fut, shot)
                    out.interrupted = not out.success
                    on_done(shot, out)
            return True

    def interrupt(self) -> None:
        """SIGINT to every worker: a running step is interrupted by Dagster (its FFmpeg killed); idle ones ignore
        it."""
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGINT)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._stop.set()
        self._drain.join(timeout=5)
        self.events.close()
