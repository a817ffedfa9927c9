#!/usr/bin/env python
"""Loudness benchmark (issue 4): what EBU R128 normalization costs per shot next to the conform, and how
even the cut sounds before and after it.

On a generated 10-shot project (nothing downloaded) whose programme audio is spread over ~20 LU (tone-and-
noise programme with real loudness range, a quiet shot with loud transients that needs the limiter, mono
44.1 kHz, 5.1 at 96 kHz), each shot goes through the build layer exactly as the Dagster assets run it:

- ``conform_picture`` (x264 at the conform settings) and ``normalize_audio`` (loudnorm measure, loudnorm
  linear apply or gain + true-peak limiter, ebur128 verify), every FFmpeg command timed (wall and CPU);
- a cut assembled twice by stream copy from the same pictures: once with the audio only fitted to length
  (no loudness normalization: "before") and once with vidasm's normalized audio ("after"); each shot and both
  cuts are measured with ebur128.

Results replace this script's section of BENCHMARKS.md (between its markers, appended when absent).

    .venv/bin/python bench/bench_media.py [--seconds 10 --size 640x360 --fps 24] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidasm_assets.media import assembly, conform, loudness  # noqa: E402
from vidasm_assets.media import commands as cmd  # noqa: E402
from vidasm_assets.media.demo import write_project  # noqa: E402
from vidasm_assets.media.outputs import atomic_output  # noqa: E402
from vidasm_assets.media.probe import probe  # noqa: E402
from vidasm_assets.media.project import load_project  # noqa: E402
from vidasm_assets.media.runner import bind, ffmpeg_version, find_ffmpeg, run_ffmpeg  # noqa: E402
from vidasm_assets.media.shots import shot_frames  # noqa: E402
from vidasm_assets.media.timeline import Timeline  # noqa: E402

START, END = "<!-- bench_media:start -->", "<!-- bench_media:end -->"
PROJECT = "loud"
TARGET, CEILING = -16.0, -1.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- sources


def programme(seconds: float, db: float, rate: int = 48000, layout: str = "stereo") -> list[str]:
    """Tone + pink noise whose level steps every 0.5 s (a loudness range, like speech), ``db`` dBFS peak-ish."""
    g = 10 ** (db / 20)
    expr = f"{g:.6f}*(0.6*sin(2*PI*330*t)+0.4*sin(2*PI*523*t))*(0.5+0.5*gte(mod(t,1),0.5))"
    return [
        "-f", "lavfi", "-i", f"aevalsrc='{expr}':s={rate}:d={seconds}",
        "-f", "lavfi", "-i", f"anoisesrc=c=pink:r={rate}:a={g * 0.15:.6f}:d={seconds}",
        "-filter_complex", f"[1:a][2:a]amix=inputs=2:normalize=0,aformat=channel_layouts={layout}[a]",
    ]  # fmt: skip


def transients(seconds: float, db: float) -> list[str]:
    """Quiet programme with a door slam every 2 s: linear gain to target would put the peaks far over."""
    g = 10 ** (db / 20)
    expr = f"{g:.6f}*sin(2*PI*330*t)+if(between(mod(t,2),1,1.003),0.9*sin(2*PI*90*t),0)"
    return [
        "-f", "lavfi", "-i", f"aevalsrc='{expr}':s=48000:d={seconds}",
        "-f", "lavfi", "-i", f"anoisesrc=c=pink:r=48000:a={g * 0.1:.6f}:d={seconds}",
        "-filter_complex", "[1:a][2:a]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo[a]",
    ]  # fmt: skip


def shots(seconds: float) -> dict[str, tuple[str, list[str], str]]:
    """shot -> (extension, audio args, description); levels spread over ~20 LU."""
    out: dict[str, tuple[str, list[str], str]] = {}
    levels = [-40, -36, -33, -30, -28, -26, -24, -22, -20]
    for i, db in enumerate(levels):
        shot = f"sh{(i + 1) * 10:03d}"
        if i == 2:
            out[shot] = ("mp4", transients(seconds, db - 4), "quiet programme with loud transients")
        elif i == 4:
            out[shot] = ("mp4", programme(seconds, db, rate=44100, layout="mono"), "mono 44.1 kHz programme")
        elif i == 6:
            out[shot] = ("mov", programme(seconds, db, rate=96000, layout="5.1"), "5.1 at 96 kHz programme")
        else:
            out[shot] = ("mp4", programme(seconds, db), "stereo programme")
    out["sh100"] = ("mp4", programme(seconds, -18), "stereo programme")
    return out


def make_render(ffmpeg: str, dest: Path, size: str, fps: str, seconds: float, ext: str, audio: list[str]) -> None:
    video = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={seconds},noise=alls=8:allf=t"]
    acodec = ["-c:a", "pcm_s24le"] if ext == "mov" else ["-c:a", "aac", "-b:a", "192k"]
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *video, *audio, "-map", "0:v",
            "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", *acodec,
            "-shortest"]  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        run_ffmpeg([*argv, str(tmp)])


# ---------------------------------------------------------------- timing


def kind_of(argv: list[str]) -> str:
    text = " ".join(argv)
    if "libx264" in text:
        return "conform (x264)"
    if "loudnorm=" in text and "measured_I" not in text:
        return "loudness measure (pass 1)"
    if "measured_I" in text:
        return "loudnorm linear apply (pass 2)"
    if "alimiter" in text:
        return "gain + true-peak limiter (pass 2)"
    if "ebur128" in text:
        return "ebur128 verify"
    if "concat" in text:
        return "cut (concat copy)"
    return "other audio (fit/silence)"


@dataclass
class Timer:
    wall: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    current: str = ""

    def run(self, argv: list[str], **kw) -> str:
        kind = kind_of(argv)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        try:
            return run_ffmpeg(argv, path=kw.get("path"))
        finally:
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            self.wall[(self.current, kind)] += time.perf_counter() - t0
            self.cpu[(self.current, kind)] += (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            self.count[(self.current, kind)] += 1


# ---------------------------------------------------------------- main


def write_section(out: Path, body: str) -> None:
    """Replace this benchmark's section between its markers (append the markers at the end when absent)."""
    block = f"{START}\n{body.rstrip()}\n{END}\n"
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        out.write_text(head + block.rstrip("\n") + tail)
    else:
        out.write_text(text.rstrip("\n") + "\n\n" + block)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--fps", default="24")
    ap.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--hd-size", default="1920x1080", help="also conform one shot at this size ('' to skip)")
    args = ap.parse_args(argv)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

    ffmpeg = find_ffmpeg()
    args.load_before = os.getloadavg()[0]
    (REPO / "bench" / "out").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_media-", dir=REPO / "bench" / "out"))
    log(f"working in {work}")
    folder = write_project(work, PROJECT, {"fps": float(args.fps), "resolution": args.size})
    cases = shots(args.seconds)
    t0 = time.perf_counter()
    for shot, (ext, audio, _) in cases.items():
        make_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.{ext}", args.size, args.fps,
                    args.seconds, ext, audio)  # fmt: skip
    log(f"generated {len(cases)} renders in {time.perf_counter() - t0:.1f} s")

    project = load_project(work, PROJECT)
    rate = project.spec.rate
    timer = Timer()
    results = {}
    before_audio = {}
    fit_dir = folder / "05_Cache" / "unnormalized"
    fit_dir.mkdir(parents=True, exist_ok=True)
    for shot in project.shots():
        take = project.select_take(shot)
        info = probe(take.path)
        frames = shot_frames(info, rate)
        timer.current = shot
        conform.conform_picture(timer.run, project, take, info)
        res = loudness.normalize_audio(timer.run, project, take, info, frames)
        results[shot] = res
        timer.current = "before"
        fitted = fit_dir / f"{shot}.wav"
        with atomic_output(fitted) as tmp:
            fit = cmd.pcm_fit_cmd(cmd.PcmJob(take.path, tmp, rate.samples_for_frames(frames),
                                             cmd.AudioSource((0,), info.video_offset)))  # fmt: skip
            run_ffmpeg([ffmpeg, *fit])
        before_audio[shot] = fitted
        log(f"{shot}: {res.mode} {res.normalization_type} {res.measured_i} -> {res.output_i} LUFS")

    hd = None
    if args.hd_size:
        hd_folder = write_project(work, "loudhd", {"fps": float(args.fps), "resolution": args.hd_size})
        ext, audio, _ = cases["sh100"]
        make_render(ffmpeg, hd_folder / "03_Renders" / "hd010" / f"hd010_v001.{ext}", args.hd_size, args.fps,
                    args.seconds, ext, audio)  # fmt: skip
        hd_project = load_project(work, "loudhd")
        take = hd_project.select_take("hd010")
        info = probe(take.path)
        timer.current = "hd"
        conform.conform_picture(timer.run, hd_project, take, info)
        loudness.normalize_audio(timer.run, hd_project, take, info, shot_frames(info, rate))
        hd = {k: (timer.wall[("hd", k)], timer.cpu[("hd", k)]) for (s, k) in list(timer.wall) if s == "hd"}
        log(f"{args.hd_size} reference shot: {hd}")

    timeline = assembly.build_timeline(project)
    timer.current = "cut"
    after_cut = assembly.assemble_cut(timer.run, project, timeline)
    # the same cut with un-normalized audio: swap the audio files in, assemble, swap back
    saved = {}
    for shot, fitted in before_audio.items():
        saved[shot] = project.audio_path(shot).read_bytes()
        shutil.copy(fitted, project.audio_path(shot))
    before_cut = after_cut.with_name("before_cut.mov")
    shutil.copy(after_cut, after_cut.with_name("after_cut.mov"))
    assembly.assemble_cut(bind(ffmpeg), project, timeline)
    shutil.move(after_cut, before_cut)
    shutil.move(after_cut.with_name("after_cut.mov"), after_cut)
    for shot, data in saved.items():
        project.audio_path(shot).write_bytes(data)

    def lufs(path: Path) -> tuple[float, float | None]:
        a = probe(path).audio[0]
        return loudness.measure_loudness(bind(ffmpeg), path, samples=a.samples)

    before = {s: lufs(p) for s, p in before_audio.items()}
    after = {s: lufs(project.audio_path(s)) for s in project.shots()}
    cut_before, cut_after = lufs(before_cut), lufs(after_cut)
    args.load_after = os.getloadavg()[0]
    report = render_report(args, cases, results, timer, before, after, cut_before, cut_after, timeline, ffmpeg, hd)
    write_section(args.out, report)
    log(f"wrote {args.out}")
    print(report)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _hd_lines(args, hd: dict | None) -> list[str]:
    if not hd:
        return []
    conform = sum(w for k, (w, _) in hd.items() if k.startswith("conform"))
    conform_cpu = sum(u for k, (_, u) in hd.items() if k.startswith("conform"))
    audio = sum(w for k, (w, _) in hd.items() if not k.startswith("conform"))
    audio_cpu = sum(u for k, (_, u) in hd.items() if not k.startswith("conform"))
    return [
        f"The same for one {args.seconds:g} s shot at {args.hd_size}: conform {conform:.1f} s wall "
        f"({conform_cpu:.1f} s CPU), loudness normalization {audio:.2f} s wall ({audio_cpu:.2f} s CPU): "
        f"**{100 * audio / conform:.1f}%** of the conform.",
        "",
    ]


def _fmt(v: float | None, nd: int = 1) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def render_report(args, cases, results, timer: Timer, before, after, cut_before, cut_after, timeline: Timeline,
                  ffmpeg: str, hd: dict | None) -> str:  # fmt: skip
    shots_ = list(results)
    spread_before = max(v[0] for v in before.values()) - min(v[0] for v in before.values())
    programme = [s for s in shots_ if results[s].mode in ("normalized", "limited")]
    spread_after = max(after[s][0] for s in programme) - min(after[s][0] for s in programme)
    conform_wall = sum(v for (s, k), v in timer.wall.items() if k.startswith("conform") and s != "hd")
    conform_cpu = sum(v for (s, k), v in timer.cpu.items() if k.startswith("conform") and s != "hd")
    audio_kinds = [k for k in sorted({k for (_, k) in timer.wall}) if not k.startswith(("conform", "cut"))]
    skip = ("before", "hd", "cut")
    audio_wall = sum(v for (s, k), v in timer.wall.items() if k in audio_kinds and s not in skip)
    audio_cpu = sum(v for (s, k), v in timer.cpu.items() if k in audio_kinds and s not in skip)
    n = len(shots_)
    lines = [
        "## Loudness normalization (issue 4)",
        "",
        f"`bench/bench_media.py --seconds {args.seconds:g} --size {args.size} --fps {args.fps}`, "
        f"{dt.date.today().isoformat()}, {platform.machine()} with {os.cpu_count()} cores, "
        f"{ffmpeg_version(ffmpeg).split(' Copyright')[0]}. {n} shots x {args.seconds:g} s, programme audio "
        "(tone + pink noise with a loudness range; one shot quiet with loud transients; one mono 44.1 kHz; one "
        "5.1 at 96 kHz) spread over ~20 LU; target -16 LUFS, ceiling -1 dBTP. Each shot runs through the build "
        "layer the Dagster assets call (`conform_picture`, `normalize_audio`); every FFmpeg command is timed, "
        "wall clock and CPU (user + sys of the child). Load average (1 min) "
        f"{args.load_before:.1f} at the start and {args.load_after:.1f} at the end: on a shared machine the CPU "
        "columns are the figures to compare.",
        "",
        "### Cost per shot",
        "",
        "| step | commands | wall s per shot | CPU s per shot |",
        "|---|---|---|---|",
        f"| conform picture (x264 {cmd.CONFORM_X264.preset}, {args.size}) | {n} | {conform_wall / n:.3f} | "
        f"{conform_cpu / n:.3f} |",
    ]
    for k in audio_kinds:
        c = sum(v for (s, kk), v in timer.count.items() if kk == k and s not in skip)
        if not c:
            continue
        w = sum(v for (s, kk), v in timer.wall.items() if kk == k and s not in skip)
        u = sum(v for (s, kk), v in timer.cpu.items() if kk == k and s not in skip)
        lines.append(f"| {k} | {c} | {w / n:.3f} | {u / n:.3f} |")
    lines += [
        f"| **loudness normalization, all passes** | | **{audio_wall / n:.3f}** | **{audio_cpu / n:.3f}** |",
        "",
        f"Normalization costs {100 * audio_wall / conform_wall:.0f}% of the conform's wall time at {args.size} "
        f"({100 * audio_cpu / conform_cpu:.0f}% of its CPU). Audio work does not grow with the picture size; "
        "the conform does.",
        "",
        *_hd_lines(args, hd),
        "### Loudness before and after",
        "",
        "| shot | source | mode | normalization_type | gain dB | limiter dB | before LUFS | after LUFS | after dBTP |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in shots_:
        r = results[s]
        lines.append(
            f"| {s} | {cases[s][2]} | {r.mode} | {r.normalization_type or '-'} | {_fmt(r.gain_db)} | "
            f"{_fmt(r.peak_reduction_db)} | {_fmt(before[s][0])} | {_fmt(after[s][0])} | {_fmt(after[s][1])} |"
        )
    lines += [
        "",
        "| | before (fitted, not normalized) | after (vidasm) | target |",
        "|---|---|---|---|",
        f"| spread of shot loudness (max - min) | {spread_before:.1f} LU | {spread_after:.2f} LU | <= 1.5 LU |",
        f"| cut integrated loudness | {cut_before[0]:.1f} LUFS | {cut_after[0]:.1f} LUFS | -16 +/- 1 LUFS |",
        f"| cut true peak | {_fmt(cut_before[1])} dBTP | {_fmt(cut_after[1])} dBTP | <= -1 dBTP |",
        "",
        f"The cut is {timeline.total_frames} frames; both versions are the same stream-copied pictures, only "
        "the audio differs.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
