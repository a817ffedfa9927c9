"""FFmpeg as a Dagster resource: the runner from ``media.runner`` wired to the run log, timed per step, and held
to the step's pool on this host where the instance's storage cannot hold it (``pools.host_slots``)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from pydantic import Field

from ..media.ffmpeg_tool import FFmpeg, select_ffmpeg
from ..media.limits import ffmpeg_timeout
from ..media.parsers import ProgressSteps
from ..media.progress import publish
from ..media.runner import run_ffmpeg
from ..pools import HostSlots, host_slots


@dataclass
class StepMeter:
    """One asset step's clock: wall time since it was made (the first line of the asset's body), and the wall time
    of the FFmpeg commands run through runners bound to it (``FFmpegResource.runner(..., meter=)``), failed or not.
    ``results.result`` turns it into the step's metrics (``wall_s``, ``ffmpeg_s``, ``processing_ratio``)."""

    started: float = field(default_factory=time.monotonic)
    ffmpeg_s: float = 0.0
    ffmpeg_commands: int = 0

    @property
    def wall_s(self) -> float:
        """Seconds since the step started."""
        return time.monotonic() - self.started

    def add_ffmpeg(self, seconds: float) -> None:
        self.ffmpeg_s += seconds
        self.ffmpeg_commands += 1


class FFmpegResource(dg.ConfigurableResource):
    """Finds FFmpeg (config, FFMPEG_PATH, PATH, imageio-ffmpeg) and runs argument lists with progress."""

    ffmpeg_path: str | None = Field(default=None, description="Explicit ffmpeg binary; else FFMPEG_PATH, PATH, pip.")
    timeout_seconds: float | None = Field(
        default=None,
        description="Seconds each FFmpeg command may run before it is killed (0: no limit). Unset: "
        "VIDASM_FFMPEG_TIMEOUT, default 3600.",
    )

    @property
    def tool(self) -> FFmpeg:
        """The chosen FFmpeg with its version and capabilities (probed once per process; see ``ffmpeg_tool``)."""
        return select_ffmpeg(self.ffmpeg_path)

    exe = property(lambda self: self.tool.exe, doc="The FFmpeg binary's path (``tool.exe``).")

    def runner(self, context: dg.AssetExecutionContext | None = None, label: str = "", meter: StepMeter | None = None):
        """A ``Run`` callable: each command at debug level in the run log, percent done every 10% at info level,
        every progress update to the process's listeners (``media.progress``: the CLI's bars), and each command's
        wall time added to ``meter`` (the step's FFmpeg seconds). In a step of a pool, each
        command also holds one of this host's slots of that pool (``pools.HostSlots``: Dagster's claims race)."""
        log = context.log if context is not None else None
        name = label or "ffmpeg"
        slots = _step_slots(context)

        exe = self.exe

        def run(args: list[str], *, path: Path | str | None = None, total_seconds: float | None = None) -> str:
            steps = ProgressSteps(total_seconds)

            def progress(done_s: float, total_s: float | None) -> None:
                publish(name, done_s, total_s)
                pct = steps.update(done_s, done=bool(total_s) and done_s >= (total_s or 0))
                if pct is not None and log is not None:
                    log.info(f"{name}: {pct}% done")

            held = slots.hold(log.info if log is not None else None) if slots else contextlib.nullcontext()
            with held:
                started = time.monotonic()
                try:
                    return run_ffmpeg(
                        [exe, *args],
                        path=path,
                        timeout=ffmpeg_timeout(self.timeout_seconds),
                        total_seconds=total_seconds,
                        on_progress=progress,
                        logger=log,  # type: ignore[arg-type]
                    )
                finally:
                    if meter is not None:
                        meter.add_ffmpeg(time.monotonic() - started)

        return run


def _step_slots(context: dg.AssetExecutionContext | None) -> HostSlots | None:
    """This host's slots of the pool the step runs in, when its instance needs them (``pools.host_slots``)."""
    if context is None:
        return None
    pool = context.op_def.pool
    return host_slots(context.instance, pool) if pool else None
