#!/usr/bin/env python
"""Why parallel shot runs do not reach issue 13's ratio <= 1.0 on 2 cores: the picture encode alone, per shot and
two at a time (what ``vidasm build -j 2`` runs), with x264's own threading and with one thread per encode,
against one hand-written command for all shots (``bench_build.hand_command``: the conform's filters, the web
preset's encoder settings, its sound). Wall and CPU seconds of the FFmpeg processes, all in one run; needs a
quiet machine.

    .venv/bin/python bench/bench_side_by_side.py [--shots 4] [--seconds 10] [--size 1920x1080]
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_build import (
    HAND_BASE,
    REPO,
    children_cpu,
    common_args,
    generate_renders,
    hand_command,
    log,
    md_table,
    write_section,
)

from vidasm_assets.media.commands import Target, picture_filter
from vidasm_assets.media.ffmpeg_tool import select_ffmpeg
from vidasm_assets.media.presets import BUILTIN_PRESETS, video_args
from vidasm_assets.media.rates import Rate


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    c0, t0 = children_cpu(), time.monotonic()
    run()
    return time.monotonic() - t0, children_cpu() - c0


def main() -> None:
    ap = common_args(__doc__.splitlines()[0])
    ap.set_defaults(shots=4)
    args = ap.parse_args()
    ff = select_ffmpeg().exe
    rate = Rate.from_fps(args.fps)
    width, height = (int(v) for v in args.size.split("x"))
    (REPO / "bench" / "out").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_sbs_", dir=REPO / "bench" / "out"))
    try:
        r = generate_renders(ff, work, args.shots, size=args.size, rate=rate, seconds=args.seconds)
        video = BUILTIN_PRESETS["web"].spec.video
        assert video is not None
        hand = hand_command(ff, r.paths, r.frames, r.sources, work / "hand.mp4", width=width, height=height,
                            rate=rate, target_i=-16, target_tp=-1)  # fmt: skip

        def shot(i: int, one_thread: bool) -> list[str]:
            chain = picture_filter(Target(width, height, rate, r.frames[i], video), r.sources[i])
            threads = ["-threads:v", "1", "-filter_threads", "1"] if one_thread else []
            return [ff, *HAND_BASE, "-i", str(r.paths[i]), *threads, "-filter_complex", f"[0:v:0]{chain}[v]",
                    "-map", "[v]", *video_args(video, rate, width, height).args, str(work / f"s{i}.mp4")]  # fmt: skip

        def two_at_a_time(one_thread: bool) -> None:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda i: subprocess.run(shot(i, one_thread), check=True), range(args.shots)))

        res = {"one hand-written command (picture and sound)": _timed(lambda: subprocess.run(hand, check=True))}
        res["per shot, two at a time, x264's own threads"] = _timed(lambda: two_at_a_time(False))
        res["per shot, two at a time, one thread each"] = _timed(lambda: two_at_a_time(True))
        base = next(iter(res.values()))[0]
        rows = [(k, f"{w:.1f} s", f"{c:.1f} s", f"{w / base:.2f}") for k, (w, c) in res.items()]
        for row in rows:
            log(" | ".join(row))
        body = (
            "## Picture encodes side by side on 2 cores (issue 13)\n\n"
            f"`bench/bench_side_by_side.py --shots {args.shots} --seconds {args.seconds:g} --size {args.size}`: "
            f"{ff}; the spine benchmark's renders; the per-shot rows are the picture encode alone (the conform's "
            "filters and the web preset's x264 settings), no sound, no probes, no Dagster. All in one run, quiet.\n\n"
            + md_table(("what", "wall", "CPU", "wall / one command"), rows)
            + "\n"
        )
        write_section(args.out, body, "bench_side_by_side")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
