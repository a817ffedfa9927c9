"""Builds as users run them, for the crash and concurrency tests: ``vidasm`` processes started in their own
sessions and stopped by process group even when a test fails, their FFmpeg children, and what a plan says."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from vidasm_assets.media.project import discover_projects
from vidasm_assets.planner import plan_project


def states(instance: dg.DagsterInstance, root: Path, name: str) -> dict[str, tuple[str, str]]:
    """Each asset (partition) of a project: (state, reason) as ``vidasm status`` would say."""
    plan = plan_project(instance, discover_projects(root).projects[name], record=False)
    return {it.label: (it.state, it.reason) for it in plan.items}


def all_fresh(instance: dg.DagsterInstance, root: Path, name: str) -> bool:
    """Whether every asset of the project is fresh."""
    return all(state == "fresh" for state, _ in states(instance, root, name).values())


# ------------------------------------------------------------------ processes


class Procs:
    """Processes started by a test, each in its own session; all killed by process group at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
        fh = open(log, "w")  # noqa: SIM115 - closed with the process at teardown
        proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        proc._log = fh  # type: ignore[attr-defined]
        self.started.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                self.kill(proc)
            proc._log.close()  # type: ignore[attr-defined]


def cli_env(tmp_path: Path, ws: Path, pool: int) -> dict[str, str]:
    """The environment of a ``vidasm`` process: the workspace, a DAGSTER_HOME under ``tmp_path`` whose ffmpeg pool
    has ``pool`` slots."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: {pool}\n"
    )
    return {**os.environ, "VIDASM_WORKSPACE": str(ws), "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def vidasm_argv(*args: str) -> list[str]:
    """``vidasm ARGS`` run by this interpreter."""
    return [sys.executable, "-m", "vidasm_assets.cli", *args]


def ffmpeg_pids(marker: str) -> set[int]:
    """Live FFmpeg processes whose command line names ``marker`` (a path under this test's tmp dir)."""
    out = set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"ffmpeg" in cmd.split(b"\0")[0] and marker.encode() in cmd and state != "Z":
            out.add(int(p.name))
    return out


def wait_for(pred, timeout: float, what: str) -> None:
    """Poll ``pred`` every 0.1 s; fail naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
