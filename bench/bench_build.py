#!/usr/bin/env python
"""Spine build benchmark (issue 2): vidasm through Dagster vs one hand-written FFmpeg command.

In one run, on a generated project of grainy synthetic renders (nothing downloaded):

1. a from-scratch build through the planner and a persistent SQLite Dagster instance (fresh DAGSTER_HOME),
   timed wall-clock, and the same ``web`` delivery from a single concat-filter FFmpeg command;
2. a rebuild after one shot got a new version (``shNNN_v002.mp4``), checked against the event log to have
   materialized only that shot's picture/audio and the project's roll-ups;
3. the peak RSS summed over this process and all its descendants, sampled every 50 ms;
4. Dagster's overhead: build wall time minus the FFmpeg commands' own wall times, read from the run log;
5. both deliveries decoded and compared (frames, durations, codecs, loudness).

Results replace this script's section of BENCHMARKS.md (between its markers). Missed targets are reported
as FAIL and the exit status stays 0; a failed build stops the run, and a broken correctness check (the
rebuild's set of assets, equivalent deliveries) exits 1 after writing. Before each timed phase it waits
(``--quiet-wait``) for other processes to leave the CPUs alone, and reports the load they added anyway.

    .venv/bin/python bench/bench_build.py [--shots 10 --seconds 10 --size 1920x1080 --fps 24] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

import av
import dagster as dg

from vidasm_assets.cli import dagster_home
from vidasm_assets.definitions import build_definitions
from vidasm_assets.make import Listener, default_jobs, make
from vidasm_assets.media import shots
from vidasm_assets.media.commands import (
    BT709_TAGS,
    SCALE_FLAGS,
    PictureSource,
    Target,
    audio_prep_filter,
    container_args,
    picture_filter,
    preset_size,
)
from vidasm_assets.media.demo import write_project
from vidasm_assets.media.ffmpeg_tool import capabilities
from vidasm_assets.media.loudness import measure_loudness
from vidasm_assets.media.outputs import atomic_output
from vidasm_assets.media.presets import (
    BUILTIN_PRESETS,
    Preset,
    VideoSpec,
    audio_args,
    needs_segments,
    video_args,
)
from vidasm_assets.media.probe import probe, require_video
from vidasm_assets.media.project import discover_projects
from vidasm_assets.media.rates import AUDIO_RATE, Rate
from vidasm_assets.media.runner import bind, ffmpeg_version, find_ffmpeg
from vidasm_assets.planner import Outcome, ProjectPlan, plan_workspace

REPO = Path(__file__).resolve().parents[1]
PROJECT = "bench"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
TARGET_SCRATCH_RATIO = 1.0  # issue 13 (shot runs in parallel; issue 2 asked <= 1.25), the web delivery alone
TARGET_DELIVERIES_RATIO = 1.1  # issue 11, web + master + hevc against one hand-written command per preset
TARGET_REBUILD_RATIO = 0.15
TARGET_PEAK_MB = 1500.0
QUIET_CORES = 0.2  # other processes' load under which the machine counts as quiet

# lavfi picture sources (name[=options]); grain is added to all of them so x264 works like on real footage.
PATTERNS = (
    "testsrc2",
    "smptehdbars",
    "gradients=speed=0.02",
    "rgbtestsrc",
    "life=mold=10:ratio=0.1:life_color=#00ff00:death_color=#c83232",
    "zoneplate=kt2=8:ky2=40",
    "testsrc",
    "mandelbrot",
    "yuvtestsrc",
    "pal100bars",
)
GRAIN = "noise=alls=8:allf=t"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- memory of the process tree


class TreeRSS:
    """Peak of the RSS summed over this process and all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self.peak_procs = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> TreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak / 1e6

    def sample(self) -> tuple[int, int]:
        """(bytes, processes) of the tree now, from /proc/<pid>/stat (ppid and rss fields)."""
        children: dict[int, list[int]] = defaultdict(list)
        rss: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    raw = fh.read()
            except OSError:
                continue  # exited meanwhile
            fields = raw[raw.rfind(b")") + 2 :].split()
            pid = int(name)
            children[int(fields[1])].append(pid)
            rss[pid] = int(fields[21]) * self._page
        total, count, todo = 0, 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            total += rss.get(pid, 0)
            count += 1
            todo += children.get(pid, [])
        return total, count

    def _loop(self) -> None:
        while not self._stop.is_set():
            total, count = self.sample()
            self.samples += 1
            self.peak = max(self.peak, total)
            self.peak_procs = max(self.peak_procs, count)
            self._stop.wait(self.interval)


@dataclass
class Phase:
    """Wall time, peak tree RSS and CPU seconds (FFmpeg children, this process) of one measured phase."""

    wall: float = 0.0
    peak_mb: float = 0.0
    peak_procs: int = 0
    cpu_children: float = 0.0
    cpu_self: float = 0.0
    other_cores: float = 0.0  # CPU used meanwhile by processes outside this benchmark, in cores

    @property
    def cores(self) -> float:
        return (self.cpu_children + self.cpu_self) / self.wall if self.wall else 0.0

    @property
    def figures(self) -> str:
        return f"{self.wall:.1f} s wall, {self.peak_mb:.0f} MB peak, {self.other_cores:.2f} cores used by others"


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as fh:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fh.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(limit: float, threshold: float = QUIET_CORES, window: float = 3.0) -> float:
    """Wait (at most ``limit`` s) until other processes use under ``threshold`` cores; return the seconds waited."""
    t0 = time.monotonic()
    told = False
    while True:
        b0 = machine_busy()
        time.sleep(window)
        busy = (machine_busy() - b0) / window
        waited = time.monotonic() - t0
        if busy < threshold or waited >= limit:
            if told:
                log(f"  machine at {busy:.2f} cores busy after waiting {waited:.0f} s")
            return waited
        if not told:
            log(f"  waiting for a quiet machine: {busy:.2f} cores busy with other work (limit {limit:.0f} s)")
            told = True


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far (FFmpeg, workers)."""
    return _cpu(resource.RUSAGE_CHILDREN)


@contextmanager
def measured() -> Iterator[Phase]:
    phase = Phase()
    c0, s0, b0 = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF), machine_busy()
    with TreeRSS() as mem:
        t0 = time.monotonic()
        try:
            yield phase
        finally:
            phase.wall = time.monotonic() - t0
    phase.peak_mb, phase.peak_procs = mem.peak_mb, mem.peak_procs
    phase.cpu_children = _cpu(resource.RUSAGE_CHILDREN) - c0
    phase.cpu_self = _cpu(resource.RUSAGE_SELF) - s0
    others = machine_busy() - b0 - phase.cpu_children - phase.cpu_self
    phase.other_cores = max(0.0, others / phase.wall) if phase.wall else 0.0


# ---------------------------------------------------------------- generated project


def render_argv(
    ffmpeg: str,
    dest: Path,
    pattern: str,
    *,
    size: str,
    rate: Rate,
    seconds: float,
    gain_db: float,
    tone_hz: int,
    seed: int,
    hue: int = 0,
) -> list[str]:
    """A grainy lavfi picture plus tone and pink noise with slow tremolo at ``gain_db``: H.264 ultrafast + AAC."""
    name, _, opts = pattern.partition("=")
    src = f"{name}=s={size}:r={rate.ffmpeg}" + (f":{opts}" if opts else "")
    graph = (
        f"[0:v]{GRAIN}:all_seed={seed},hue=h={hue},format=yuv420p[v];"
        "[1:a][2:a]amix=inputs=2:weights=1 0.35:normalize=0,tremolo=f=0.4:d=0.5,"
        f"volume={gain_db:g}dB,aformat=sample_rates={AUDIO_RATE}:channel_layouts=stereo[a]"
    )
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", src,
        "-f", "lavfi", "-i", f"sine=f={tone_hz}:r={AUDIO_RATE}",
        "-f", "lavfi", "-i", f"anoisesrc=c=pink:r={AUDIO_RATE}:a=0.25:seed={seed}",
        "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-t", f"{seconds:g}",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "192k", "-ar", str(AUDIO_RATE), "-f", "mp4", str(dest),
    ]  # fmt: skip


def pattern_for(ffmpeg: str, index: int) -> str:
    """``PATTERNS[index]``, or when this FFmpeg lacks that source (Debian's 5.1 has no ``zoneplate``, added in 6.1)
    the next one it has: the generated media differs in that shot's picture only."""
    have = capabilities(ffmpeg).filters
    ring = PATTERNS[index % len(PATTERNS) :] + PATTERNS[: index % len(PATTERNS)]
    return next(p for p in ring if p.split("=")[0] in have)


def make_shot_render(
    ffmpeg: str, dest: Path, index: int, count: int, *, size: str, rate: Rate, seconds: float, version: int = 1
) -> Path:
    """Render ``index`` of ``count``: its own pattern, tone and a loudness spread over ~22 dB. A later version
    keeps the pattern (so it costs x264 about the same) with other grain, a hue shift, another tone, 6 dB up."""
    gain = -30.0 + 22.0 * (index % count) / max(1, count - 1) + 6.0 * (version - 1)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        argv = render_argv(
            ffmpeg,
            tmp,
            pattern_for(ffmpeg, index),
            size=size,
            rate=rate,
            seconds=seconds,
            gain_db=gain,
            tone_hz=220 + 70 * index + 35 * (version - 1),
            seed=index + 1 + 1000 * (version - 1),
            hue=40 * (version - 1),
        )
        subprocess.run(argv, check=True, capture_output=True)
    return dest


def shot_name(i: int) -> str:
    return f"sh{(i + 1) * 10:03d}"


@dataclass
class Renders:
    """The generated renders (``03_Renders/<shot>/<shot>_v001.mp4``), their frames at the timeline rate, the colour
    the conform derives for each, and their size in MB."""

    paths: list[Path]
    frames: list[int]
    sources: list[PictureSource]
    megabytes: float


def generate_renders(ffmpeg: str, folder: Path, count: int, *, size: str, rate: Rate, seconds: float) -> Renders:
    """One render per shot in the project ``folder`` (setup, not measured)."""
    t = time.monotonic()
    paths = []
    for i in range(count):
        shot = shot_name(i)
        dest = folder / "03_Renders" / shot / f"{shot}_v001.mp4"
        paths.append(make_shot_render(ffmpeg, dest, i, count, size=size, rate=rate, seconds=seconds))
    frames = [shots.shot_frames(probe(r), rate) for r in paths]
    mb = sum(r.stat().st_size for r in paths) / 1e6
    log(f"generated {len(paths)} renders ({mb:.0f} MB) in {time.monotonic() - t:.1f} s")
    return Renders(paths, frames, [picture_source(r) for r in paths], mb)


# ---------------------------------------------------------------- the hand-written command


def picture_source(render: Path) -> PictureSource:
    """The colour and interlacing the conform assumes for a render (as ``conform.conform_picture`` does)."""
    video = require_video(probe(render, first_frame=True))
    return PictureSource(colour=shots.colour_of(video), interlaced=video.interlaced)


def hand_inputs(
    renders: list[Path],
    frames: list[int],
    sources: list[PictureSource],
    *,
    width: int,
    height: int,
    rate: Rate,
    target_i: float,
    target_tp: float,
    video: VideoSpec,
) -> tuple[list[str], list[str]]:
    """The ``-i`` arguments and, per input ``i``, its ``-filter_complex`` chains labelled ``[v<i>]``/``[a<i>]``: the
    conform's picture filter (for the source colour vidasm derives) at the preset's size and pixel format, and
    48 kHz stereo, single-pass loudnorm to ``target_i`` LUFS / ``target_tp`` dBTP, padded and trimmed to exactly
    the samples of its ``frames[i]`` frames (``Rate.samples_for_frames``)."""
    out_w, out_h = preset_size(width, height, video)
    post = [f"scale=w={out_w}:h={out_h}:flags={SCALE_FLAGS}"] if (out_w, out_h) != (width, height) else []
    inputs = [a for r in renders for a in ("-i", str(r))]
    parts = []
    for i, (n, source) in enumerate(zip(frames, sources, strict=True)):
        chain = picture_filter(Target(width, height, rate, n, video), source, post=post)
        parts.append(f"[{i}:v:0]{chain}[v{i}]")
        parts.append(
            f"[{i}:a:0]{audio_prep_filter()},loudnorm=I={target_i:g}:TP={target_tp:g},aresample={AUDIO_RATE},"
            f"apad,atrim=end_sample={rate.samples_for_frames(n)},asetpts=PTS-STARTPTS[a{i}]"
        )
    return inputs, parts


def hand_output(preset: Preset, *, width: int, height: int, rate: Rate, dest: Path) -> list[str]:
    """After the graph (labelled ``[v]``, ``[a]``): the preset's encoder settings and sound, its container options."""
    video = preset.spec.video
    assert video is not None
    out_w, out_h = preset_size(width, height, video)
    return [
        "-map", "[v]", "-map", "[a]", *video_args(video, rate, out_w, out_h).args, *BT709_TAGS,
        *audio_args(preset.spec.audio), *container_args(preset, rate, PROJECT), str(dest),
    ]  # fmt: skip


HAND_BASE = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y")


def hand_command(
    ffmpeg: str,
    renders: list[Path],
    frames: list[int],
    sources: list[PictureSource],
    dest: Path,
    *,
    width: int,
    height: int,
    rate: Rate,
    target_i: float,
    target_tp: float,
    preset: Preset = BUILTIN_PRESETS["web"],
) -> list[str]:
    """One FFmpeg command for one whole delivery: per input the conform's picture filter and normalized sound
    (``hand_inputs``); concat filter; the preset's encoder settings and sound; its container options."""
    assert preset.spec.video is not None
    inputs, parts = hand_inputs(renders, frames, sources, width=width, height=height, rate=rate, target_i=target_i,
                                target_tp=target_tp, video=preset.spec.video)  # fmt: skip
    parts.append("".join(f"[v{i}][a{i}]" for i in range(len(frames))) + f"concat=n={len(frames)}:v=1:a=1[v][a]")
    return [
        ffmpeg, *HAND_BASE, *inputs, "-filter_complex", ";".join(parts),
        *hand_output(preset, width=width, height=height, rate=rate, dest=dest),
    ]  # fmt: skip


# ---------------------------------------------------------------- vidasm builds

FFMPEG_KINDS = (  # the first needle a logged command holds names its kind
    ("sidechaincompress", "music: ducked mix"),
    ("/05_Cache/music/", "music: track decode, bed, loudness"),
    ("xfade=", "transition section: dissolve"),
    ("bt709[s0]", "transition section: fade or dip"),
    ("acrossfade", "cut sound: transitions"),
    ("afade=", "cut sound: transitions"),
    ("-f segment", "split bodies at keyframes (copy)"),
    ("libx265", "segment: x265"),
    ("prores_ks", "segment: ProRes"),
    ("dnxhd", "segment: DNxHR"),
    ("libvpx-vp9", "segment: VP9"),
    (".segments.txt", "delivery: join segments + encode sound"),
    ("measured_I=", "loudnorm apply (pass 2)"),
    ("loudnorm", "loudness measure (pass 1)"),
    ("ebur128", "ebur128 check"),
    ("+faststart", "delivery (web): copy the cut's picture + AAC"),
    ("-f concat", "cut: concat copy"),
    ("libx264", "conform: x264"),
    ("anullsrc", "silence"),
    ("-frames:v 1", "poster (JPEG)"),
)
FINISHED = re.compile(r"ffmpeg finished in ([\d.]+) s")


@dataclass
class RunProfile:
    """FFmpeg command and step wall times read back from the runs' event logs."""

    ffmpeg: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    runs: int = 0

    @property
    def ffmpeg_total(self) -> float:
        return sum(sum(v) for v in self.ffmpeg.values())

    @property
    def steps_total(self) -> float:
        return sum(sum(v) for v in self.steps.values())


def profile_runs(instance: dg.DagsterInstance, run_ids: list[str]) -> RunProfile:
    """Per-command FFmpeg times (the runner's own ``ffmpeg finished in`` log line) and per-step durations."""
    prof = RunProfile()
    for run_id in run_ids:
        prof.runs += 1
        kind: dict[str | None, str] = {}
        for entry in instance.all_logs(run_id):
            msg = entry.user_message or ""
            if msg.startswith("$ "):
                kind[entry.step_key] = next((k for needle, k in FFMPEG_KINDS if needle in msg), "other")
            elif m := FINISHED.match(msg):
                prof.ffmpeg[kind.get(entry.step_key, "other")].append(float(m[1]))
        for st in instance.get_run_step_stats(run_id):
            if st.start_time and st.end_time:
                prof.steps[st.step_key.rsplit("__", 1)[-1]].append(st.end_time - st.start_time)
    return prof


def materialized_since(instance: dg.DagsterInstance, after: int) -> set[str]:
    """Asset (partition) labels materialized after a storage id, from the event log."""
    out = set()
    for key in instance.get_asset_keys():
        recs = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=10000
        )
        for r in recs.records:
            mat = r.asset_materialization
            if mat is not None:
                label = mat.asset_key.to_user_string()
                out.add(f"{label}[{mat.partition}]" if mat.partition else label)
    return out


@dataclass
class BuildResult:
    """One timed build, and what the instance recorded about it."""

    phase: Phase
    outcomes: list[Outcome]
    planning: float  # instance open + discovery + definitions + plan
    run_walls: list[tuple[str, float]]  # (label, wall) per execute_in_process
    prof: RunProfile = field(default_factory=RunProfile)
    built: set[str] = field(default_factory=set)  # materialized by this build (event log)
    left: list[str] = field(default_factory=list)  # still to build afterwards (planner, recording nothing)
    shot_walls: dict[str, float] = field(default_factory=dict)  # shot -> wall of its run
    jobs: int = 1  # shot runs at once (make's default: the instance's ffmpeg pool limit)

    @property
    def ok(self) -> bool:
        return bool(self.outcomes) and all(o.success for o in self.outcomes)


def vidasm_build(root: Path) -> BuildResult:
    """What ``vidasm build`` does, timed: open the DAGSTER_HOME instance, plan, one run per stale shot, then
    one for the roll-ups. Afterwards (untimed) read back what it materialized and how long its parts took."""
    walls: list[tuple[str, float]] = []
    started: dict[str, float] = {}  # run key -> start; shot runs overlap (workers), so matched by key
    planned: list[float] = []

    def run_key(label: str, done: bool) -> str:
        if done:
            return label.split(" (")[0] if " (" in label and not label.startswith("timeline") else "rollups"
        return label.split()[1].rstrip(":") if label.startswith("shot ") else "rollups"

    class Timing(Listener):
        def plan(self, plan: ProjectPlan) -> None:
            if plan.error:
                raise SystemExit(f"project {plan.project}: {plan.error}")
            planned.append(time.monotonic())

        def start(self, project: str, label: str) -> None:
            started[run_key(label, False)] = time.monotonic()

        def done(self, out: Outcome) -> None:
            t = started.pop(run_key(out.label, True), None)
            walls.append((out.label, time.monotonic() - t if t is not None else 0.0))
            log(f"  {'ok' if out.success else 'FAILED'} {out.label} ({walls[-1][1]:.1f} s) {out.message}")

    with measured() as phase:
        t0 = time.monotonic()
        with dg.DagsterInstance.get() as instance:
            mark = instance.event_log_storage.get_maximum_record_id() or 0
            outcomes = make(root, instance=instance, listener=Timing(), run_config=QUIET).outcomes
    planning = (planned[0] if planned else time.monotonic()) - t0
    res = BuildResult(phase, outcomes, planning, walls)
    with dg.DagsterInstance.get() as instance:
        res.jobs = default_jobs(instance)
        res.built = materialized_since(instance, mark)
        plans = plan_workspace(instance, discover_projects(root), record=False)
        res.left = [it.label for p in plans for it in p.items if it.needs_build]
        res.prof = profile_runs(instance, [o.run_id for o in outcomes if o.run_id])
        for out, (_label, wall) in zip(outcomes, walls, strict=True):
            run = instance.get_run_by_id(out.run_id) if out.run_id else None
            if run is not None and run.tags.get("dagster/partition"):
                res.shot_walls[run.tags["dagster/partition"]] = wall
    return res


T = TypeVar("T")


def quietest(label: str, once: Callable[[int], T], phase: Callable[[T], Phase], attempts: int, wait: float) -> list[T]:
    """Run ``once(attempt)`` after waiting for a quiet machine, again (up to ``attempts``) while other processes
    took CPU meanwhile; all attempts, the least disturbed first."""
    results: list[T] = []
    for i in range(attempts):
        wait_for_quiet(wait)
        log(f"{label} ..." if not i else f"{label}, attempt {i + 1} ...")
        results.append(once(i))
        ph = phase(results[-1])
        log(f"{label}: {ph.figures}")
        if ph.other_cores < QUIET_CORES:
            break
        if i + 1 < attempts:
            log(f"  disturbed by other processes ({ph.other_cores:.2f} cores): measuring again")
    return sorted(results, key=lambda r: phase(r).other_cores)


def scratch_build(root: Path, folder: Path, work: Path, attempt: int) -> BuildResult:
    """A from-scratch build of the project ``folder``; a repeat (``attempt`` > 0) starts over with a new
    DAGSTER_HOME and no outputs. A failed build stops the benchmark."""
    if attempt:
        for sub in ("05_Cache", "06_Exports", "04_Project_Files/assemblies"):
            shutil.rmtree(folder / sub, ignore_errors=True)
            (folder / sub).mkdir(parents=True)
        os.environ["DAGSTER_HOME"] = str(work / f"dagster_home_{attempt + 1}")
        dagster_home()
    res = vidasm_build(root)
    if not res.ok:
        raise SystemExit("the from-scratch build failed: " + "; ".join(o.message for o in res.outcomes))
    return res


def run_hand(argvs: list[list[str]]) -> Phase:
    """Run the hand-written commands one after the other, measured; a failure stops the benchmark."""
    with measured() as phase:
        for argv in argvs:
            proc = subprocess.run(argv, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"hand-written command failed:\n{proc.stderr[-4000:]}")
    return phase


def rollup_labels(root: Path, project: str) -> set[str]:
    """The project's unpartitioned materializable assets (timeline, cut, EDL, deliveries...), from the graph."""
    graph = build_definitions(root).resolve_asset_graph()
    return {
        k.to_user_string()
        for k in graph.materializable_asset_keys
        if k.path[0] == project and not graph.get(k).is_partitioned
    }


# ---------------------------------------------------------------- checks on the deliveries


@dataclass
class Delivery:
    path: Path
    frames: int
    video_s: float
    audio_s: float
    video: str
    audio: str
    size: str
    lufs: float
    true_peak: float | None
    megabytes: float
    mbps: float

    @property
    def is_h264_high_aac(self) -> bool:
        return self.video == "h264 High" and self.audio.startswith("aac")


def inspect(ffmpeg: str, path: Path) -> Delivery:
    """Decode every frame and sample (PyAV) and measure loudness (ebur128)."""
    info = probe(path)
    assert info.video is not None and info.audio, f"{path}: needs video and audio"
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(path)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    a = info.audio[0]
    lufs, tp = measure_loudness(bind(ffmpeg), path)
    return Delivery(
        path,
        frames,
        float(info.video.duration),
        samples / (a.sample_rate or AUDIO_RATE),
        f"{info.video.codec} {info.video.profile}",
        f"{a.codec} {a.sample_rate} Hz {a.layout}",
        f"{info.video.width}x{info.video.height} {info.video.pix_fmt}",
        lufs,
        tp,
        info.size / 1e6,
        info.size * 8 / float(info.duration) / 1e6,
    )


def equivalent(mine: Delivery, theirs: Delivery, frames: int, rate: Rate) -> bool:
    """Both have ``frames`` frames, video lengths within a frame of each other and their own sound, and the same
    codec, profile, size and pixel format."""
    frame_s = float(rate.frames_to_seconds(1))
    return (
        mine.frames == theirs.frames == frames
        and abs(mine.video_s - theirs.video_s) <= frame_s
        and all(abs(d.audio_s - d.video_s) <= frame_s for d in (mine, theirs))
        and (mine.video, mine.audio.split()[0], mine.size) == (theirs.video, theirs.audio.split()[0], theirs.size)
    )


# ---------------------------------------------------------------- report


@dataclass
class Results:
    """Everything one benchmark run measured (the least disturbed attempt of each phase)."""

    args: argparse.Namespace
    rate: Rate
    ffmpeg: str
    render_mb: float
    hand: Phase
    scratch: BuildResult
    rebuild: BuildResult
    changed: str  # the shot that got a new version
    take: str  # the new version the rebuild picked up
    mine: Delivery
    theirs: Delivery
    pairs: dict[str, tuple[Delivery, Delivery]]  # preset -> (vidasm, hand-written)
    expected: set[str]
    ok_only: bool
    ok_equiv: bool
    tries: dict[str, list[Phase]]

    @property
    def jobs(self) -> int:
        return self.scratch.jobs

    @property
    def r_scratch(self) -> float:
        return self.scratch.phase.wall / self.hand.wall

    @property
    def r_rebuild(self) -> float:
        return self.rebuild.phase.wall / self.scratch.phase.wall

    @property
    def cpu_ratio(self) -> float:
        """CPU seconds of the vidasm build over the hand-written command's: barely moved by other load."""
        mine, hand = self.scratch.phase, self.hand
        return (mine.cpu_children + mine.cpu_self) / (hand.cpu_children + hand.cpu_self)

    @property
    def overhead(self) -> float:
        return self.scratch.phase.wall - self.scratch.prof.ffmpeg_total


def machine_facts(ffmpeg: str) -> list[tuple[str, str]]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return [
        ("nproc", str(len(os.sched_getaffinity(0)))),
        ("CPU", cpu),
        ("RAM", mem),
        ("FFmpeg", f"{ffmpeg_version(ffmpeg)} ({ffmpeg})"),
        ("Python", platform.python_version()),
        ("Dagster", dg.__version__),
        ("PyAV", av.__version__),
        ("OS", platform.platform()),
        ("date", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    ]


def pf(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


INTRO = """# Benchmarks

Figures measured on generated media (FFmpeg lavfi sources, nothing downloaded). Each benchmark script
rewrites only its own section, between its `<!-- name:start -->` / `<!-- name:end -->` markers.

## How to run

```sh
# full size: 10 shots x 10 s at 1920x1080 24 fps, about 20 min on 2 cores
.venv/bin/python bench/bench_build.py > bench/out/bench_build.log 2>&1
# quick smoke run, written elsewhere
.venv/bin/python bench/bench_build.py --shots 3 --seconds 2 --size 640x360 --out /tmp/bench.md
```

Media is generated in a temporary folder under `bench/out/` (git-ignored) and removed afterwards
(`--keep` keeps it).
"""


def write_section(out: Path, body: str, name: str = "bench_build") -> None:
    """Replace this benchmark's section (``name``) between its markers; create the file or append when absent."""
    START, END = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{START}\n{body.rstrip()}\n{END}\n"
    if not out.exists():
        out.write_text(INTRO + "\n" + block)
        return
    text = out.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        out.write_text(head + block + ("\n" + tail if tail else ""))
    else:
        out.write_text(text.rstrip("\n") + "\n\n" + block)


# ---------------------------------------------------------------- main


def common_args(description: str) -> argparse.ArgumentParser:
    """The options every build benchmark takes: the generated project's shape, where to work, how to measure."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", default="24")
    ap.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    ap.add_argument("--workdir", type=Path, default=None, help="where to generate (default: temp dir in bench/out)")
    ap.add_argument("--keep", action="store_true", help="keep the generated media and Dagster instance")
    ap.add_argument("--attempts", type=int, default=3, help="measure a phase again while others disturbed it")
    ap.add_argument(
        "--quiet-wait", type=float, default=600.0, help="before each timed phase, wait up to this many seconds "
        f"for other processes to use under {QUIET_CORES} cores (0: don't wait)",
    )  # fmt: skip
    return ap


Runner = Callable[[argparse.Namespace, str, Rate, int, int, Path], int]


def in_workdir(args: argparse.Namespace, prefix: str, body: Runner) -> int:
    """``body(args, ffmpeg, rate, width, height, work)`` in ``--workdir`` or a new temp folder under bench/out,
    removed afterwards unless ``--keep``."""
    ffmpeg = find_ffmpeg()
    rate = Rate.from_fps(args.fps)
    width, height = (int(v) for v in args.size.split("x"))
    (REPO / "bench" / "out").mkdir(parents=True, exist_ok=True)
    work = args.workdir or Path(tempfile.mkdtemp(prefix=prefix, dir=REPO / "bench" / "out"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"working in {work}; ffmpeg {ffmpeg}")
    try:
        return body(args, ffmpeg, rate, width, height, work.resolve())
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = common_args(__doc__.splitlines()[0])
    ap.add_argument("--presets", default="web", help="comma-separated delivery presets to export (issue 11: "
                    "web,master,hevc); with more than web the results go to the deliveries section")  # fmt: skip
    return in_workdir(ap.parse_args(argv), "bench_build-", run)


def run(args: argparse.Namespace, ffmpeg: str, rate: Rate, width: int, height: int, work: Path) -> int:
    root = work / "workspace"
    spec = {
        "fps": float(args.fps) if "." in args.fps else int(args.fps),
        "resolution": args.size,
        "audio": {"loudness_lufs": -16.0, "true_peak_db": -1.0},
        "exports": args.presets.split(","),
    }
    folder = write_project(root, PROJECT, spec)
    presets = [BUILTIN_PRESETS[name] for name in spec["exports"]]
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    dagster_home()  # creates it with vidasm's dagster.yaml, as `vidasm build` does

    # setup (not measured): the renders
    gen = generate_renders(ffmpeg, folder, args.shots, size=args.size, rate=rate, seconds=args.seconds)
    renders, frames, sources, mb = gen.paths, gen.frames, gen.sources, gen.megabytes

    # 1a. the hand-written commands, one per preset, one after the other
    hand_outs = {p.name: work / "hand" / f"{PROJECT}_{p.name}_hand.{p.extension}" for p in presets}
    hand_outs[presets[0].name].parent.mkdir(parents=True, exist_ok=True)
    argvs = [
        hand_command(ffmpeg, renders, frames, sources, hand_outs[p.name], width=width, height=height, rate=rate,
                     target_i=-16.0, target_tp=-1.0, preset=p)
        for p in presets
    ]  # fmt: skip

    hand_tries = quietest("hand-written FFmpeg command", lambda _: run_hand(argvs), lambda p: p, args.attempts,
                          args.quiet_wait)  # fmt: skip

    # 1b. vidasm from scratch; a repeat starts over with a new DAGSTER_HOME and no outputs
    scratch_tries = quietest(
        "vidasm from-scratch build", lambda a: scratch_build(root, folder, work, a), lambda r: r.phase, args.attempts,
        args.quiet_wait,
    )  # fmt: skip
    scratch_copies = {p.name: work / "scratch" / f"{PROJECT}_{p.name}.{p.extension}" for p in presets}
    for p in presets:  # kept for the comparison; the rebuild replaces them
        scratch_copies[p.name].parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / "06_Exports" / f"{PROJECT}_{p.name}.{p.extension}", scratch_copies[p.name])

    # 2. the shot whose run took the median time gets a new version (setup, untimed); rebuild through the
    # same instance (DAGSTER_HOME)
    walls = scratch_tries[0].shot_walls
    changed = sorted(walls, key=walls.__getitem__)[len(walls) // 2] if walls else shot_name(args.shots // 2)
    index = [shot_name(i) for i in range(args.shots)].index(changed)
    expected = {f"{PROJECT}/picture[{changed}]", f"{PROJECT}/audio[{changed}]"} | rollup_labels(root, PROJECT)
    expected |= {f"{PROJECT}/segments_{p.name}[{changed}]" for p in presets if needs_segments(p)}

    def rebuild_once(attempt: int) -> tuple[str, BuildResult]:
        take = f"{changed}_v{attempt + 2:03d}"
        dest = folder / "03_Renders" / changed / f"{take}.mp4"
        make_shot_render(
            ffmpeg, dest, index, args.shots, size=args.size, rate=rate, seconds=args.seconds, version=attempt + 2
        )
        return take, vidasm_build(root)

    rebuild_tries = quietest("rebuild after a new version", rebuild_once, lambda r: r[1].phase, args.attempts,
                             args.quiet_wait)  # fmt: skip
    take, rebuild = rebuild_tries[0]
    ok_only = all(r.ok and r.built == expected and not r.left for _, r in rebuild_tries)

    # 5. each from-scratch delivery against its hand-written one
    log("decoding and measuring the deliveries ...")
    pairs = {p.name: (inspect(ffmpeg, scratch_copies[p.name]), inspect(ffmpeg, hand_outs[p.name])) for p in presets}
    ok_equiv = all(equivalent(mine, theirs, sum(frames), rate) for mine, theirs in pairs.values())
    mine, theirs = pairs[presets[0].name]

    res = Results(
        args=args, rate=rate, ffmpeg=ffmpeg, render_mb=mb, hand=hand_tries[0], scratch=scratch_tries[0],
        rebuild=rebuild, changed=changed, take=take, mine=mine, theirs=theirs, pairs=pairs, expected=expected,
        ok_only=ok_only, ok_equiv=ok_equiv,
        tries={
            "hand-written": hand_tries,
            "from scratch": [r.phase for r in scratch_tries],
            "rebuild": [r.phase for _, r in rebuild_tries],
        },
    )  # fmt: skip
    r_scratch, r_rebuild, overhead = res.r_scratch, res.r_rebuild, res.overhead
    deliveries = args.presets != "web"
    write_section(args.out, report(res), "bench_deliveries" if deliveries else "bench_build")
    target = TARGET_DELIVERIES_RATIO if deliveries else TARGET_SCRATCH_RATIO

    hand, scratch, built = res.hand, res.scratch, rebuild.built
    phases = (hand, scratch.phase, rebuild.phase)
    summary = [
        ("from scratch / hand-written", f"{scratch.phase.wall:.1f} s / {hand.wall:.1f} s = {r_scratch:.2f}",
         r_scratch <= target),
        ("rebuild / from scratch", f"{rebuild.phase.wall:.1f} s / {scratch.phase.wall:.1f} s = {r_rebuild:.3f}",
         r_rebuild <= TARGET_REBUILD_RATIO),
        ("peak RSS, from-scratch build", f"{scratch.phase.peak_mb:.0f} MB", scratch.phase.peak_mb < TARGET_PEAK_MB),
        ("rebuild built only the changed shot + roll-ups", ", ".join(sorted(built)), ok_only),
        ("deliveries equivalent", f"{mine.frames} vs {theirs.frames} frames", ok_equiv),
        ("quiet machine (other load, cores)", " / ".join(f"{p.other_cores:.2f}" for p in phases),
         all(p.other_cores < QUIET_CORES for p in phases)),
    ]  # fmt: skip
    print("\n==== bench_build summary ====")
    for name, value, ok in summary:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    print(f"Dagster overhead (wall - FFmpeg): {overhead:.1f} s of {scratch.phase.wall:.1f} s")
    print(f"written to {args.out}")
    return 0 if ok_only and ok_equiv else 1


def breakdown(scratch: BuildResult) -> list[str]:
    """Markdown: where a from-scratch build's wall time went (planning, FFmpeg by kind, Python in steps, Dagster's
    run machinery, between runs) and its steps' durations, from the event log."""
    prof, wall = scratch.prof, scratch.phase.wall
    runs_wall = sum(w for _, w in scratch.run_walls)
    out: list[str] = []
    steps_total = prof.steps_total
    rows = [("instance + discovery + definitions + plan", f"{scratch.planning:.1f}", f"{scratch.planning / wall:.1%}")]
    for kind, times in sorted(prof.ffmpeg.items(), key=lambda kv: -sum(kv[1])):
        rows.append((f"FFmpeg {kind} (x{len(times)})", f"{sum(times):.1f}", f"{sum(times) / wall:.1%}"))
    inside = steps_total - prof.ffmpeg_total
    machinery = runs_wall - steps_total
    rest = wall - scratch.planning - runs_wall
    rows += [
        ("Python inside steps (PyAV probes, hashing, checks, event writes)", f"{inside:.1f}", f"{inside / wall:.1%}"),
        (
            f"Dagster run machinery outside steps ({prof.runs} runs, {machinery / max(1, prof.runs):.2f} s each)",
            f"{machinery:.1f}",
            f"{machinery / wall:.1%}",
        ),
        ("between runs", f"{rest:.1f}", f"{rest / wall:.1%}"),
        ("**total**", f"**{wall:.1f}**", "100%"),
    ]
    if scratch.jobs > 1:
        out += [
            f"Shot runs overlap ({scratch.jobs} workers): the parts below are summed over the runs, so they add up "
            "to more than the wall time and 'between runs' is what overlap saved (negative).",
            "",
        ]
    out += [md_table(("part", "seconds", "share"), rows), ""]
    step_rows = [
        (name, str(len(v)), f"{sum(v):.1f}", f"{sum(v) / len(v):.2f}", f"{min(v):.2f}", f"{max(v):.2f}")
        for name, v in sorted(prof.steps.items(), key=lambda kv: -sum(kv[1]))
    ]
    return [
        *out,
        "Steps of the from-scratch build (from the event log):",
        "",
        md_table(("step", "count", "total s", "mean s", "min s", "max s"), step_rows),
        "",
    ]


def deliveries_table(pairs: dict[str, tuple[Delivery, Delivery]]) -> list[str]:
    """Markdown: each delivery as decoded and measured, vidasm's and the hand-written one's, with a note."""
    rows = [
        (
            f"{kind} {p}", str(d.frames), f"{d.video_s:.3f}", f"{d.audio_s:.3f}", f"{d.video} {d.size}", d.audio,
            f"{d.lufs:.1f} LUFS", f"{d.true_peak:.1f} dBTP" if d.true_peak is not None else "n/a",
            f"{d.megabytes:.0f} MB, {d.mbps:.1f} Mb/s",
        )
        for p, pair in pairs.items()
        for kind, d in zip(("vidasm", "hand-written"), pair, strict=True)
    ]  # fmt: skip
    return [
        md_table(("delivery", "frames", "video s", "audio s", "video", "audio", "loudness", "true peak", "file"), rows),
        "",
        "Audio seconds are decoded samples / 48000: AAC decoders output the last frame's padding, so they "
        "read up to 1024 samples (21 ms) long.",
        "",
    ]


def footer(ffmpeg: str) -> list[str]:
    """Markdown: how memory and FFmpeg times were measured, and the machine."""
    return [
        "Peak memory is the RSS summed over the benchmark process and all its descendants, sampled every "
        "50 ms from /proc (shared pages of concurrent processes count twice, so it errs high). FFmpeg times "
        "are the runner's own `ffmpeg finished in` log lines, read back from the runs' event logs.",
        "",
        "Machine:",
        "",
        md_table(("fact", "value"), [(k, v.replace("|", "/")) for k, v in machine_facts(ffmpeg)]),
    ]


def report(res: Results) -> str:
    """The Markdown section."""
    args, rate, hand, scratch, rebuild = res.args, res.rate, res.hand, res.scratch, res.rebuild
    prof, reprof, built, left = scratch.prof, rebuild.prof, rebuild.built, rebuild.left
    expected = res.expected
    wall = scratch.phase.wall
    shot_s = scratch.shot_walls.get(res.changed, 0.0)
    deliveries = args.presets != "web"
    target = TARGET_DELIVERIES_RATIO if deliveries else TARGET_SCRATCH_RATIO
    what = f"deliveries {args.presets.replace(',', ', ')}" if deliveries else "the web delivery"
    out = [
        f"## Deliveries: {args.presets.replace(',', ', ')} (issue 11)"
        if deliveries
        else "## Spine build (issues 2, 13)",
        "",
        f"`bench/bench_build.py --shots {args.shots} --seconds {args.seconds:g} --size {args.size} --fps {args.fps}"
        + (f" --presets {args.presets}`: " if deliveries else "`: ")
        + f"{what}; "
        f"{args.shots} shots x {args.seconds:g} s at {args.size}, {rate} fps ({res.render_mb:.0f} MB of renders: lavfi "
        f"patterns with `{GRAIN}` grain, x264 ultrafast crf 18, AAC tone + pink noise spread over ~22 dB), all "
        "measured in one run. vidasm runs through the planner on a fresh persistent SQLite instance "
        "(DAGSTER_HOME with vidasm's dagster.yaml) exactly like `vidasm build`: one `execute_in_process` run "
        + (f"per shot, {res.jobs} at once on worker processes" if res.jobs > 1 else "per shot, one at a time")
        + " (`-j`'s default: one per two ffmpeg pool slots; the pool's limit is the core count), then one for the "
        "roll-ups; timed from opening the instance to the last run's end "
        "(module imports excluded; worker processes' start included where there are any).",
        "",
        md_table(
            ("metric", "value", "target", "result"),
            [
                ("from-scratch build, vidasm", f"{wall:.1f} s", "", ""),
                ("same deliveries, one hand-written FFmpeg command each", f"{hand.wall:.1f} s", "", ""),
                (
                    "vidasm / hand-written",
                    f"{res.r_scratch:.2f}",
                    f"<= {target}",
                    pf(res.r_scratch <= target),
                ),
                (
                    f"rebuild after {res.take} (the median shot: its run took {shot_s:.1f} s from scratch)",
                    f"{rebuild.phase.wall:.1f} s",
                    "",
                    "",
                ),
                (
                    "rebuild minus the shot's own from-scratch run (planning + roll-ups)",
                    f"{rebuild.phase.wall - shot_s:.1f} s",
                    "",
                    "",
                ),
                (
                    "rebuild / from scratch",
                    f"{res.r_rebuild:.3f}",
                    f"<= {TARGET_REBUILD_RATIO}",
                    pf(res.r_rebuild <= TARGET_REBUILD_RATIO),
                ),
                (
                    "rebuild materialized only the changed shot + roll-ups",
                    f"{len(built)} assets",
                    "exactly " + ", ".join(sorted(expected)),
                    pf(res.ok_only),
                ),
                (
                    "peak RSS, all processes, from-scratch build",
                    f"{scratch.phase.peak_mb:.0f} MB ({scratch.phase.peak_procs} processes)",
                    f"< {TARGET_PEAK_MB:.0f} MB",
                    pf(scratch.phase.peak_mb < TARGET_PEAK_MB),
                ),
                ("peak RSS, hand-written command", f"{hand.peak_mb:.0f} MB", "", ""),
                ("peak RSS, rebuild", f"{rebuild.phase.peak_mb:.0f} MB", "", ""),
                (
                    "FFmpeg commands in the from-scratch build (sum of wall)",
                    f"{prof.ffmpeg_total:.1f} s ({sum(len(v) for v in prof.ffmpeg.values())} commands)",
                    "",
                    "",
                ),
                (
                    "build wall - FFmpeg wall (FFmpeg summed over shot runs that overlap)",
                    f"{res.overhead:.1f} s ({res.overhead / wall:.1%})",
                    "",
                    "",
                ),
                (
                    "CPU used, vidasm (child processes: FFmpeg and workers + the build process)",
                    f"{scratch.phase.cpu_children:.0f} + "
                    f"{scratch.phase.cpu_self:.0f} s = {scratch.phase.cores:.2f} cores",
                    "",
                    "",
                ),
                (
                    "CPU used, hand-written",
                    f"{hand.cpu_children:.0f} s = {hand.cores:.2f} cores; vidasm: {res.cpu_ratio:.2f}x its CPU time",
                    "",
                    "",
                ),
                (
                    "other processes' load during hand / scratch / rebuild",
                    " / ".join(f"{p.other_cores:.2f}" for p in (hand, scratch.phase, rebuild.phase)) + " cores",
                    f"< {QUIET_CORES} (quiet machine)",
                    pf(all(p.other_cores < QUIET_CORES for p in (hand, scratch.phase, rebuild.phase))),
                ),
                (
                    "deliveries equivalent",
                    ", ".join(f"{name} {m.frames}/{t.frames}" for name, (m, t) in res.pairs.items()) + " frames",
                    "same frames, duration within a frame, same codec, profile, size",
                    pf(res.ok_equiv),
                ),
            ],
        ),
        "",
        "Attempts, as wall s @ cores other processes used meanwhile (a phase is measured again, up to "
        f"`--attempts {args.attempts}`, while others disturbed it; the least disturbed attempt is reported): "
        + "; ".join(
            f"{name}: " + ", ".join(f"{p.wall:.1f} @ {p.other_cores:.2f}" for p in phases)
            for name, phases in res.tries.items()
        )
        + ".",
        "",
        "### Where the from-scratch time goes",
        "",
    ]
    out += breakdown(scratch)
    out += [
        f"Rebuild: {rebuild.planning:.1f} s planning, {sum(w for _, w in rebuild.run_walls):.1f} s in "
        f"{len(rebuild.run_walls)} runs, {reprof.ffmpeg_total:.1f} s of it FFmpeg ("
        + ", ".join(f"{k} {sum(v):.1f} s" for k, v in sorted(reprof.ffmpeg.items(), key=lambda kv: -sum(kv[1])))
        + f"). Materialized: {', '.join(sorted(built))}."
        + (f" Still to build afterwards: {', '.join(left)}." if left else " Nothing left to build afterwards."),
        "",
        "### The hand-written command",
        "",
        f"One `ffmpeg` per preset, each with {args.shots} `-i` inputs and a `-filter_complex`: per input the "
        "conform's own "
        "`picture_filter` for the source colour vidasm derives (fps, lanczos scale to fit + pad, setsar, clone-pad "
        "and `trim=end_frame` to the shot's frames, yuv420p, BT.709 tags), and `audio_prep_filter` (48 kHz "
        "stereo) + single-pass "
        "`loudnorm=I=-16:TP=-1` (dynamic mode) + `aresample=48000,apad,atrim=end_sample=<video length>`; then "
        "`concat=v=1:a=1`, the preset's own encoder arguments (`presets.video_args`: web is x264 high, medium, "
        "crf 20 capped by VBV, closed GOP of half a second), BT.709 tags, the preset's sound and container options. "
        "It does less than vidasm: no measuring pass, no ebur128 check, no probes, no intermediates, no cut.",
        "",
        *deliveries_table(res.pairs),
        *footer(res.ffmpeg),
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
