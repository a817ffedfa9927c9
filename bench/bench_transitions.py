#!/usr/bin/env python
"""Transitions and music bed benchmark (issue 12): vidasm through Dagster vs one hand-written FFmpeg command.

The project: ``--shots`` grainy synthetic renders of ``--seconds`` each (``bench_build``'s), every entry after the
first starting with a one-second ``dissolve`` (``transition_in``; the record is the sum of the entries minus the
overlaps: NLE convention, no handles beyond each entry's own frames), and with ``--music`` a generated music bed
(``"music": {"tracks": ["music/bed.wav"]}``, the project's ``music/`` folder). In one run:

1. the ``web`` delivery from one hand-written FFmpeg command (xfade/acrossfade chains, the music ducked under the
   dialogue, loudnorm, the web preset's own encoder and sound settings), timed;
2. vidasm from scratch through the planner on a fresh persistent SQLite instance, exactly like ``vidasm build``;
3. a rebuild after one dissolve got shorter (entry 5: 24 -> 12 frames at 24 fps), checked against the event log to
   have materialized the roll-ups only and rendered that one transition's section (the cut's metadata);
4. with ``--music``, a rebuild after the music file changed, checked to have run no picture encoder at all (the
   runner's logged commands) and to have materialized no shot's picture;
5. both deliveries decoded and compared: frames (the record length), durations, codecs, loudness, and PSNR.

Results replace this script's section of BENCHMARKS.md (between its markers). Missed timing targets are reported as
FAIL with exit status 0; a failed build stops the run; a broken correctness check exits 1 after writing.

    .venv/bin/python bench/bench_transitions.py [--shots 10 --seconds 10 --size 1920x1080 --fps 24] [--music]

Smoke run: ``--shots 3 --seconds 2 --dissolve 0.25 --size 640x360 --out /tmp/bench.md``. Keep dissolves short next
to the shots: with 2 s shots and 1 s dissolves half the programme is crossfaded, the cut's sound (linear
crossfades of shots each normalized alone, not normalized again) measured -18 LUFS and vidasm's blocking
``loudness_on_target`` check (1 LU) failed the cut.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

import dagster as dg
from bench_build import (
    GRAIN,
    HAND_BASE,
    PROJECT,
    QUIET_CORES,
    BuildResult,
    Delivery,
    Phase,
    Renders,
    breakdown,
    common_args,
    deliveries_table,
    equivalent,
    footer,
    generate_renders,
    hand_inputs,
    hand_output,
    in_workdir,
    inspect,
    log,
    md_table,
    pf,
    quietest,
    rollup_labels,
    run_hand,
    scratch_build,
    shot_name,
    vidasm_build,
    write_section,
)

from vidasm_assets.cli import dagster_home
from vidasm_assets.media.assembly import build_timeline
from vidasm_assets.media.commands import audio_prep_filter
from vidasm_assets.media.demo import write_project
from vidasm_assets.media.outputs import atomic_output, write_text_atomic
from vidasm_assets.media.presets import BUILTIN_PRESETS, VIDEO_CODECS
from vidasm_assets.media.probe import video_frames
from vidasm_assets.media.project import ProjectSpec, load_project
from vidasm_assets.media.rates import AUDIO_RATE, Rate
from vidasm_assets.media.transitions import CROSSFADE_CURVE as CURVE

SECTION = "bench_transitions"
TARGET_SCRATCH_RATIO = 1.1
TARGET_TRANSITION_RATIO = 0.05
LOUDNESS, TRUE_PEAK = -16.0, -1.0
CHANGED_ENTRY = 4  # entry 5 (from 0; the last with fewer shots): its dissolve is shortened
MUSIC = "music/bed.wav"
MIN_PSNR_DB = 30.0  # per frame, vidasm's delivery against the hand-written one: a dissolve a frame off drops far below

# ---------------------------------------------------------------- the project


def dissolve_frames(args: argparse.Namespace, rate: Rate) -> int:
    return rate.seconds_to_frames(Fraction(str(args.dissolve)))


def sequence(count: int, dissolve: int, changed: int | None = None) -> list[dict]:
    """project.json's sequence: every shot whole, each after the first with a dissolve of ``dissolve`` frames
    (entry ``changed_entry``'s of ``changed`` frames when given)."""
    entries: list[dict] = [{"shot": shot_name(i)} for i in range(count)]
    for i, entry in enumerate(entries[1:], start=1):
        frames = changed if changed is not None and i == changed_entry(count) else dissolve
        entry["transition_in"] = {"type": "dissolve", "frames": frames}
    return entries


def changed_entry(count: int) -> int:
    """The entry (from 0) whose dissolve the rebuild changes: ``CHANGED_ENTRY``, or the last of fewer."""
    return min(CHANGED_ENTRY, count - 1)


def changed_lengths(option: str | None, dissolve: int) -> list[int]:
    """Entry 5's new dissolve length per rebuild attempt (each another change): ``--changed-frames`` or 1/2, 3/4 and
    1/4 of ``dissolve`` frames, without repeats or the length it had."""
    wanted = [int(v) for v in option.split(",")] if option else [dissolve // 2, dissolve * 3 // 4, dissolve // 4]
    lengths = [n for n in dict.fromkeys(wanted) if 0 < n != dissolve]
    if not lengths:
        raise SystemExit(f"--changed-frames: no length other than the dissolve's {dissolve} frames")
    return lengths


def overlaps(entries: list[dict]) -> list[int]:
    """Frames each entry overlaps the previous one by (its dissolve), 0 for the first."""
    return [e["transition_in"]["frames"] if "transition_in" in e else 0 for e in entries]


def record_frames(frames: list[int], entries: list[dict]) -> int:
    """The record length: the entries' frames minus the dissolves' overlaps (README, Transitions)."""
    return sum(frames) - sum(overlaps(entries))


def music_argv(ffmpeg: str, dest: Path, seconds: float, variant: int) -> list[str]:
    """A synthetic music bed: a three-note chord (another chord per ``variant``) with slow tremolo over a little
    pink noise, 48 kHz stereo 24-bit WAV."""
    root = 110 * 2 ** ((variant - 1) * 3 / 12)
    notes = [root, root * 5 / 4, root * 3 / 2]
    graph = (
        "".join(f"[{i}:a]" for i in range(4))
        + "amix=inputs=4:weights=1 0.8 0.7 0.3:normalize=0,tremolo=f=1.5:d=0.4,volume=-14dB,"
        f"aformat=sample_rates={AUDIO_RATE}:channel_layouts=stereo[a]"
    )
    sines = [a for f in notes for a in ("-f", "lavfi", "-i", f"sine=f={f:.2f}:r={AUDIO_RATE}")]
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *sines,
        "-f", "lavfi", "-i", f"anoisesrc=c=pink:r={AUDIO_RATE}:a=0.2:seed={variant}",
        "-filter_complex", graph, "-map", "[a]", "-t", f"{seconds:g}", "-c:a", "pcm_s24le", "-f", "wav", str(dest),
    ]  # fmt: skip


def make_music(ffmpeg: str, dest: Path, seconds: float, variant: int) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        subprocess.run(music_argv(ffmpeg, tmp, seconds, variant), check=True, capture_output=True)
    return dest


def write_spec(folder: Path, spec: dict) -> None:
    write_text_atomic(folder / "project.json", json.dumps(spec, indent=2) + "\n")


# ---------------------------------------------------------------- the hand-written command


def _secs(frames: int, rate: Rate) -> str:
    return f"{float(rate.frames_to_seconds(frames)):.6f}"


def transitions_graph(frames: list[int], entries: list[dict], rate: Rate, sound: str) -> list[str]:
    """The picture's xfade chain (``transition=fade``, each at its record cut point) to ``[v]`` and the sound's
    acrossfade chain (vidasm's ``transitions.CROSSFADE_CURVE``, over the overlap's exact samples) to ``[<sound>]``,
    trimmed to the record's samples; after ``hand_inputs``' ``[v<i>]``/``[a<i>]``."""
    parts, v, a, start = [], "v0", "a0", 0
    for i, over in enumerate(overlaps(entries)[1:], start=1):
        start += frames[i - 1] - over  # the record frame where entry i (and its dissolve) starts
        parts.append(f"[{v}][v{i}]xfade=transition=fade:duration={_secs(over, rate)}:offset={_secs(start, rate)}[x{i}]")
        ns = rate.samples_for_frames(over)
        parts.append(f"[{a}][a{i}]acrossfade=nb_samples={ns}:curve1={CURVE}:curve2={CURVE}[c{i}]")
        v, a = f"x{i}", f"c{i}"
    pairs = zip(frames, overlaps(entries), strict=True)
    total = sum(rate.samples_for_frames(n) - rate.samples_for_frames(o) for n, o in pairs)
    parts += [f"[{v}]null[v]", f"[{a}]atrim=end_sample={total},asetpts=PTS-STARTPTS[{sound}]"]
    return parts


def music_graph(music_input: int, samples: int, spec: dict) -> list[str]:
    """The music bed under the dialogue ``[dlg]``, to ``[a]``, with vidasm's own settings (``media.music``, the
    project's ``music`` settings): the track 48 kHz stereo, padded and trimmed to the record's ``samples``, faded out
    over ``fade_out_seconds`` (its last sample silent); brought to ``level_db`` LU under the target (single-pass
    loudnorm: one command cannot measure first, vidasm does and applies a plain gain); ducked by the dialogue with
    vidasm's ``sidechaincompress`` settings and dry/wet mix for ``duck_db``; summed with it (``amix``, no
    normalization) and the mix normalized to the target (single-pass loudnorm)."""
    from vidasm_assets.media import music  # only where vidasm has the music bed (branch music-bed, issue 12)

    settings = ProjectSpec.model_validate(spec).music_settings()
    assert settings is not None
    fade = min(round(Fraction(str(settings.fade_out_seconds)) * AUDIO_RATE), samples - 1)
    fade_out = f",afade=type=out:start_sample={samples - fade - 1}:nb_samples={fade}" if fade > 0 else ""
    mix = music.duck_mix(settings.duck_db)
    duck = (f"sidechaincompress=threshold={music.DUCK_THRESHOLD:g}:ratio={music.DUCK_RATIO:g}:attack="
            f"{music.DUCK_ATTACK_MS:g}:release={music.DUCK_RELEASE_MS:g}:mix={mix:.6f}")  # fmt: skip
    ducked = ["[dlg]asplit=2[dlg0][key]", f"[lvl][key]{duck}[bed]"] if settings.duck_db > 0 else ["[dlg]anull[dlg0]",
              "[lvl]anull[bed]"]  # fmt: skip
    return [
        f"[{music_input}:a:0]{audio_prep_filter()},apad,atrim=end_sample={samples},asetpts=PTS-STARTPTS{fade_out},"
        f"loudnorm=I={LOUDNESS + settings.level_db:g}:TP={TRUE_PEAK:g},{audio_prep_filter()}[lvl]",
        *ducked,
        f"[dlg0][bed]amix=inputs=2:duration=first:normalize=0,loudnorm=I={LOUDNESS:g}:TP={TRUE_PEAK:g},"
        f"{audio_prep_filter()},apad,atrim=end_sample={samples},asetpts=PTS-STARTPTS[a]",
    ]


def hand_command(
    ffmpeg: str, gen: Renders, spec: dict, dest: Path, *, width: int, height: int, rate: Rate, music: Path | None,
) -> list[str]:  # fmt: skip
    """The web delivery in one command: per input the conform's picture filter and normalized sound
    (``bench_build.hand_inputs``), the dissolves' xfade/acrossfade chains, the music bed when given, the web preset's
    encoder settings, sound and container options. ``spec``: the project.json."""
    entries = spec["sequence"]
    preset = BUILTIN_PRESETS["web"]
    assert preset.spec.video is not None
    inputs, parts = hand_inputs(gen.paths, gen.frames, gen.sources, width=width, height=height, rate=rate,
                                target_i=LOUDNESS, target_tp=TRUE_PEAK, video=preset.spec.video)  # fmt: skip
    parts += transitions_graph(gen.frames, entries, rate, "a" if music is None else "dlg")
    if music is not None:
        inputs += ["-i", str(music)]
        samples = rate.samples_for_frames(record_frames(gen.frames, entries))
        parts += music_graph(len(gen.paths), samples, spec)
    return [
        ffmpeg, *HAND_BASE, *inputs, "-filter_complex", ";".join(parts),
        *hand_output(preset, width=width, height=height, rate=rate, dest=dest),
    ]  # fmt: skip


# ---------------------------------------------------------------- what the instance says about a build


def logged_commands(run_ids: list[str]) -> list[str]:
    """The FFmpeg commands the runner logged (``$ ...``) in these runs, from the DAGSTER_HOME instance."""
    out = []
    with dg.DagsterInstance.get() as instance:
        for run_id in run_ids:
            out += [e.user_message[2:] for e in instance.all_logs(run_id) if (e.user_message or "").startswith("$ ")]
    return out


def cut_metadata(key: str) -> str:
    """The latest cut materialization's metadata value ``key`` ('' when it has none)."""
    with dg.DagsterInstance.get() as instance:
        recs = instance.fetch_materializations(dg.AssetKey([PROJECT, "cut"]), limit=1, ascending=False).records
    mat = recs[0].asset_materialization if recs else None
    value = mat.metadata.get(key) if mat is not None else None
    return str(value.value) if value is not None else ""


VIDEO_FLAGS = ("-c:v", "-codec:v", "-vcodec")


def picture_encodes(commands: list[str]) -> list[str]:
    """The commands that encode a picture: a software encoder vidasm knows by name anywhere, or any video codec
    other than ``copy`` (hardware encoders too)."""
    found = []
    for command in commands:
        argv = shlex.split(command)
        codecs = [b for a, b in itertools.pairwise(argv) if a in VIDEO_FLAGS]
        if any(t in VIDEO_CODECS for t in argv) or any(c != "copy" for c in codecs):
            found.append(command)
    return found


def music_filters(commands: list[str]) -> list[str]:
    """The music filters (volume, ducking, mix) in vidasm's logged commands: printed beside the hand-written one's."""
    pat = re.compile(r"(sidechaincompress[^;,\[\s']*|amix[^;,\[\s']*|volume=[^;,\[\s']*)")
    return sorted({m for c in commands if "sidechaincompress" in c or MUSIC in c for m in pat.findall(c)})


@dataclass
class Rebuild:
    """One timed rebuild after a change, and what it ran and materialized."""

    change: str
    res: BuildResult
    commands: list[str]
    expected: set[str] | None = None  # the assets it must materialize exactly (None: listed, not checked)
    rendered: str = ""  # the cut's transitions_rendered metadata (when it rebuilt the cut)
    frames: int = 0  # the delivery's frames afterwards
    want_frames: int = 0
    encodes: list[str] = field(default_factory=list)  # picture encoders it ran

    @property
    def shots_built(self) -> list[str]:
        """The shot-level (partitioned) assets it materialized."""
        return sorted(a for a in self.res.built if "[" in a)

    @property
    def ok(self) -> bool:
        """It succeeded, left nothing to build, and materialized exactly ``expected`` (else no shot's asset)."""
        built = self.res.built == self.expected if self.expected is not None else not self.shots_built
        return self.res.ok and not self.res.left and built


def kinds(res: BuildResult) -> str:
    """The FFmpeg commands of a build by kind: count and seconds, longest first."""
    return ", ".join(
        f"{k} x{len(v)} {sum(v):.1f} s" for k, v in sorted(res.prof.ffmpeg.items(), key=lambda kv: -sum(kv[1]))
    )


# ---------------------------------------------------------------- quality


def psnr(ffmpeg: str, a: Path, b: Path, stats: Path) -> tuple[float, float, int]:
    """(mean, min, frame of the min) of the per-frame PSNR (dB, luma and chroma averaged) of ``a`` against ``b``."""
    argv = [ffmpeg, *HAND_BASE, "-i", str(a), "-i", str(b), "-lavfi", f"[0:v][1:v]psnr=stats_file={stats}",
            "-f", "null", "-"]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True)
    values = []
    for line in stats.read_text().splitlines():
        m = re.search(r"psnr_avg:(\S+)", line)
        if m:
            values.append(100.0 if m[1] == "inf" else float(m[1]))
    low = min(range(len(values)), key=values.__getitem__)
    return sum(values) / len(values), values[low], low


# ---------------------------------------------------------------- the run


@dataclass
class Results:
    args: argparse.Namespace
    rate: Rate
    ffmpeg: str
    gen: Renders
    entries: list[dict]
    music: bool
    hand: Phase
    scratch: BuildResult
    rebuilds: list[Rebuild]
    mine: Delivery
    theirs: Delivery
    record: int  # the record length, computed here
    timeline_frames: int  # vidasm's Timeline.total_frames
    section_frames: int  # the frames of the cut's transition sections (encoded besides the conforms)
    quality: tuple[float, float, int]
    ok_equiv: bool
    vidasm_music: list[str]
    hand_music: list[str]  # the hand-written command's music filters
    tries: dict[str, list[Phase]]

    @property
    def r_scratch(self) -> float:
        return self.scratch.phase.wall / self.hand.wall

    def ratio(self, rb: Rebuild) -> float:
        return rb.res.phase.wall / self.scratch.phase.wall


def has_music_bed() -> bool:
    """This vidasm's project.json takes a ``music`` key (issue 12's music bed, branch music-bed)."""
    return "music" in ProjectSpec.model_fields


def main(argv: list[str] | None = None) -> int:
    ap = common_args(__doc__.splitlines()[0])
    ap.add_argument("--dissolve", type=float, default=1.0, help="each dissolve's length in seconds")
    ap.add_argument("--changed-frames", default=None, help="entry 5's dissolve length in each rebuild attempt, "
                    "comma-separated (default: 1/2, 3/4, 1/4 of the dissolve: 12, 18, 6 frames at 24 fps)")  # fmt: skip
    ap.add_argument("--music", action=argparse.BooleanOptionalAction, default=None,
                    help="a music bed (default: when this vidasm has it)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.shots < 2:
        raise SystemExit("--shots: at least 2 (a dissolve joins two entries)")
    if args.music is None:
        args.music = has_music_bed()
    elif args.music and not has_music_bed():
        raise SystemExit("--music: this vidasm's project.json has no 'music' key yet (branch music-bed); --no-music")
    return in_workdir(args, "bench_transitions-", run)


def run(args: argparse.Namespace, ffmpeg: str, rate: Rate, width: int, height: int, work: Path) -> int:
    root = work / "workspace"
    entries = sequence(args.shots, dissolve_frames(args, rate))
    spec = {
        "fps": float(args.fps) if "." in args.fps else int(args.fps),
        "resolution": args.size,
        "audio": {"loudness_lufs": LOUDNESS, "true_peak_db": TRUE_PEAK},
        "exports": ["web"],
        "sequence": entries,
        **({"music": {"tracks": [MUSIC]}} if args.music else {}),
    }
    folder = write_project(root, PROJECT, spec)
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    dagster_home()
    gen = generate_renders(ffmpeg, folder, args.shots, size=args.size, rate=rate, seconds=args.seconds)
    music = make_music(ffmpeg, folder / MUSIC, args.shots * args.seconds, 1) if args.music else None
    record = record_frames(gen.frames, entries)

    # 1. the hand-written command; 2. vidasm from scratch
    hand_out = work / "hand" / f"{PROJECT}_web_hand.mp4"
    hand_out.parent.mkdir(parents=True, exist_ok=True)
    argv = hand_command(ffmpeg, gen, spec, hand_out, width=width, height=height, rate=rate, music=music)
    hand_tries = quietest("hand-written FFmpeg command", lambda _: run_hand([argv]), lambda p: p, args.attempts,
                          args.quiet_wait)  # fmt: skip
    scratch_tries = quietest(
        "vidasm from-scratch build", lambda a: scratch_build(root, folder, work, a), lambda r: r.phase, args.attempts,
        args.quiet_wait,
    )  # fmt: skip
    scratch = scratch_tries[0]
    project = load_project(root, PROJECT)
    mine_copy = work / "scratch" / f"{PROJECT}_web.mp4"
    mine_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(project.delivery_path("web"), mine_copy)
    timeline_frames = build_timeline(project).total_frames
    sections = project.cache_dir / "transitions" / "cut"
    section_frames = sum(video_frames(f) for f in sections.iterdir() if f.is_file() and not f.name.startswith("."))
    vidasm_music = music_filters(logged_commands([o.run_id for o in scratch.outcomes if o.run_id]))

    # 3. one dissolve shorter (each attempt another length); 4. new music
    rollups = rollup_labels(root, PROJECT)
    lengths = changed_lengths(args.changed_frames, dissolve_frames(args, rate))

    def rebuilt(change: str, expected: set[str] | None, want: int) -> Rebuild:
        res = vidasm_build(root)
        if not res.ok:
            raise SystemExit(f"the rebuild after {change} failed: " + "; ".join(o.message for o in res.outcomes))
        commands = logged_commands([o.run_id for o in res.outcomes if o.run_id])
        rendered = cut_metadata("transitions_rendered") if f"{PROJECT}/cut" in res.built else ""
        return Rebuild(change, res, commands, expected, rendered,
                       video_frames(project.delivery_path("web")), want, picture_encodes(commands))  # fmt: skip

    def transition_once(attempt: int) -> Rebuild:
        n = lengths[attempt % len(lengths)]
        changed = sequence(args.shots, dissolve_frames(args, rate), changed=n)
        write_spec(folder, {**spec, "sequence": changed})
        k = changed_entry(args.shots)
        return rebuilt(f"entry {k + 1}'s dissolve {overlaps(entries)[k]} -> {n} frames",
                       rollups, record_frames(gen.frames, changed))  # fmt: skip

    tr_tries = quietest("rebuild after one dissolve's length changed", transition_once, lambda r: r.res.phase,
                        args.attempts, args.quiet_wait)  # fmt: skip
    rebuilds = [tr_tries[0]]
    tries = {"hand-written": hand_tries, "from scratch": [r.phase for r in scratch_tries],
             "one dissolve": [r.res.phase for r in tr_tries]}  # fmt: skip
    if args.music:
        final = json.loads((folder / "project.json").read_text())["sequence"]

        def music_once(attempt: int) -> Rebuild:
            make_music(ffmpeg, folder / MUSIC, args.shots * args.seconds, attempt + 2)
            return rebuilt(f"a new {MUSIC} (chord {attempt + 2})", None, record_frames(gen.frames, final))

        mu_tries = quietest("rebuild after the music changed", music_once, lambda r: r.res.phase, args.attempts,
                            args.quiet_wait)  # fmt: skip
        rebuilds.append(mu_tries[0])
        tries["new music"] = [r.res.phase for r in mu_tries]

    # 5. the from-scratch delivery against the hand-written one
    log("decoding and measuring the deliveries ...")
    mine, theirs = inspect(ffmpeg, mine_copy), inspect(ffmpeg, hand_out)
    quality = psnr(ffmpeg, mine_copy, hand_out, work / "psnr.log")
    ok_equiv = equivalent(mine, theirs, record, rate) and timeline_frames == record and quality[1] >= MIN_PSNR_DB
    hand_music = music_filters([shlex.join(argv)])
    res = Results(args, rate, ffmpeg, gen, entries, args.music, hand_tries[0], scratch, rebuilds, mine, theirs, record,
                  timeline_frames, section_frames, quality, ok_equiv, vidasm_music, hand_music, tries)  # fmt: skip
    write_section(args.out, report(res), SECTION)
    return summarize(res)


def checks(res: Results) -> list[tuple[str, str, bool, bool]]:
    """(what, value, passed, is a correctness check) for the summary."""
    scratch, hand = res.scratch.phase, res.hand
    out = [
        ("from scratch / hand-written", f"{scratch.wall:.1f} s / {hand.wall:.1f} s = {res.r_scratch:.2f}",
         res.r_scratch <= TARGET_SCRATCH_RATIO, False),
    ]  # fmt: skip
    tr = res.rebuilds[0]
    out += [
        (f"rebuild after {tr.change} / from scratch", f"{tr.res.phase.wall:.1f} s = {res.ratio(tr):.3f}",
         res.ratio(tr) <= TARGET_TRANSITION_RATIO, False),
        ("  it materialized the roll-ups only", ", ".join(sorted(tr.res.built)), tr.ok, True),
        ("  it rendered one section", tr.rendered, tr.rendered.count(";") == 0 and "dissolve" in tr.rendered, True),
        ("  its delivery has the new record length", f"{tr.frames} frames (want {tr.want_frames})",
         tr.frames == tr.want_frames, True),
    ]  # fmt: skip
    for mu in res.rebuilds[1:]:
        out += [
            (f"rebuild after {mu.change} / from scratch", f"{mu.res.phase.wall:.1f} s = {res.ratio(mu):.3f}", True,
             False),
            ("  no picture encode", f"{len(mu.encodes)} picture-encoding commands", not mu.encodes, True),
            ("  no shot rebuilt", ", ".join(mu.shots_built) or "none", mu.ok, True),
            ("  its delivery has the record length", f"{mu.frames} frames", mu.frames == mu.want_frames, True),
        ]  # fmt: skip
    phases = [hand, scratch, *(r.res.phase for r in res.rebuilds)]
    out += [
        ("deliveries equivalent", f"{res.mine.frames} vs {res.theirs.frames} frames (record {res.record}, timeline "
         f"{res.timeline_frames}), PSNR min {res.quality[1]:.1f} dB", res.ok_equiv, True),
        ("quiet machine (other load, cores)", " / ".join(f"{p.other_cores:.2f}" for p in phases),
         all(p.other_cores < QUIET_CORES for p in phases), False),
    ]  # fmt: skip
    return out


def summarize(res: Results) -> int:
    print(f"\n==== {SECTION} summary ====")
    ok = True
    for name, value, passed, correctness in checks(res):
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {value}")
        ok = ok and (passed or not correctness)
    print(f"written to {res.args.out}")
    return 0 if ok else 1


# ---------------------------------------------------------------- report


def report(res: Results) -> str:
    """The Markdown section."""
    args, rate, scratch = res.args, res.rate, res.scratch
    dissolve = overlaps(res.entries)[1] if len(res.entries) > 1 else 0
    music = f" and a music bed (`{MUSIC}`, {args.shots * args.seconds:g} s, PCM)" if res.music else ", no music bed"
    out = [
        "## Transitions and music bed (issue 12)",
        "",
        f"`bench/bench_transitions.py --shots {args.shots} --seconds {args.seconds:g} --size {args.size} --fps "
        f"{args.fps} --{'' if res.music else 'no-'}music`: the web delivery of {args.shots} shots x {args.seconds:g} s "
        f"at {args.size}, {rate} fps ({res.gen.megabytes:.0f} MB of renders: `bench_build`'s lavfi patterns with "
        f"`{GRAIN}` grain), each entry after the first starting with a {dissolve}-frame dissolve{music}; record "
        f"{res.record} frames = {sum(res.gen.frames)} - {sum(overlaps(res.entries))} of overlaps. All measured in "
        "one run; vidasm through the planner on a fresh persistent SQLite instance exactly like `vidasm build` "
        "(`bench_build`'s harness: quiet-machine wait, peak RSS of the process tree, FFmpeg times from the event log).",
        "",
        md_table(("metric", "value", "target", "result"), table_rows(res)),
        "",
        "Attempts, as wall s @ cores other processes used meanwhile (the least disturbed is reported): "
        + "; ".join(
            f"{k}: " + ", ".join(f"{p.wall:.1f} @ {p.other_cores:.2f}" for p in v) for k, v in res.tries.items()
        )
        + ".",
        "",
    ]
    for rb in res.rebuilds:
        out += [
            f"Rebuild after {rb.change}: {rb.res.phase.wall:.1f} s, {rb.res.planning:.1f} s of it planning; FFmpeg "
            f"{rb.res.prof.ffmpeg_total:.1f} s ({kinds(rb.res) or 'none'}). Materialized: "
            f"{', '.join(sorted(rb.res.built))}."
            + (f" Sections rendered: {rb.rendered}." if rb.rendered else "")
            + f" Picture-encoding commands: {len(rb.encodes)}.",
            "",
        ]
    out += [
        "### Where the from-scratch time goes",
        "",
        *breakdown(scratch),
        "### The hand-written command",
        "",
        f"One `ffmpeg` with {args.shots} render inputs{' and the music' if res.music else ''} and one "
        "`-filter_complex`: per input `bench_build`'s chains (the conform's own `picture_filter` for the source colour "
        "vidasm derives; 48 kHz stereo, single-pass `loudnorm=I=-16:TP=-1`, padded and trimmed to the shot's exact "
        "samples); the picture an `xfade=transition=fade` chain (duration the dissolve's frames, offset its record "
        "cut point: the curve vidasm's sections use), the sound an `acrossfade` chain (`nb_samples` the overlap's "
        f"exact samples, `curve1={CURVE}:curve2={CURVE}`, as `transitions.audio_cmd`) trimmed to the record's samples"
        + (
            "; the music as vidasm's bed (`music_graph`: 48 kHz stereo, padded/trimmed to the record, faded out, "
            "at `level_db` under the target by a single-pass loudnorm where vidasm measures and applies a gain, "
            "ducked by the dialogue with vidasm's own `sidechaincompress` settings, `amix=normalize=0`) and the mix "
            "loudnormed to -16 LUFS / -1 dBTP in a single pass (vidasm: measured, then linear loudnorm or gain and "
            "limiter) — its graph: `" + "; ".join(res.hand_music) + "`"
            if res.music
            else ""
        )
        + "; then the web preset's own encoder arguments (`presets.video_args`), BT.709 tags, its AAC and MP4 options. "
        "It does less than vidasm: no measuring pass (loudnorm in dynamic mode), no ebur128 check, no probes, no "
        "intermediates, no cut (`05_Cache` mezzanine with PCM), no EDL/OTIO, no posters. vidasm does more picture "
        f"work: x264 encodes each shot's conform whole ({sum(res.gen.frames)} frames, the overlaps too) and each "
        f"dissolve again as a section from the renders ({res.section_frames} frames: its own plus up to a GOP less "
        f"one either side, so the bodies join by stream copy), {sum(res.gen.frames) + res.section_frames} frames in "
        f"all against the hand-written command's {res.record}.",
        "",
    ]
    if res.music:
        out += [
            "vidasm's music filters, as logged by its runner (must match the hand-written command's for a fair "
            "comparison): " + (", ".join(f"`{f}`" for f in res.vidasm_music) or "none found") + ".",
            "",
        ]
    out += [*deliveries_table({"web": (res.mine, res.theirs)}), *footer(res.ffmpeg)]
    return "\n".join(out)


def table_rows(res: Results) -> list[tuple[str, str, str, str]]:
    scratch, hand = res.scratch.phase, res.hand
    mean, low, at = res.quality
    rows = [
        ("from-scratch build, vidasm", f"{scratch.wall:.1f} s", "", ""),
        ("the same delivery, one hand-written FFmpeg command", f"{hand.wall:.1f} s", "", ""),
        ("vidasm / hand-written", f"{res.r_scratch:.2f}", f"<= {TARGET_SCRATCH_RATIO}",
         pf(res.r_scratch <= TARGET_SCRATCH_RATIO)),
    ]  # fmt: skip
    for i, rb in enumerate(res.rebuilds):
        target = TARGET_TRANSITION_RATIO if i == 0 else None
        rows += [
            (f"rebuild after {rb.change}", f"{rb.res.phase.wall:.1f} s", "", ""),
            ("  / from scratch", f"{res.ratio(rb):.3f}", f"<= {target}" if target else "",
             pf(res.ratio(rb) <= target) if target else ""),
            ("  assets materialized", f"{len(rb.res.built)}",
             "exactly the roll-ups" if rb.expected is not None else "no shot's", pf(rb.ok)),
            ("  FFmpeg commands", f"{len(rb.commands)} ({rb.res.prof.ffmpeg_total:.1f} s)", "", ""),
        ]  # fmt: skip
        if i == 0:
            rows.append(("  sections rendered (cut metadata)", rb.rendered, "this dissolve's only",
                         pf(rb.rendered.count(";") == 0 and "dissolve" in rb.rendered)))  # fmt: skip
        else:
            rows.append(("  picture encoders run", str(len(rb.encodes)), "none", pf(not rb.encodes)))
    phases = [hand, scratch, *(r.res.phase for r in res.rebuilds)]
    rows += [
        ("peak RSS, all processes, from-scratch build", f"{scratch.peak_mb:.0f} MB ({scratch.peak_procs} processes)",
         "", ""),
        ("peak RSS, hand-written command", f"{hand.peak_mb:.0f} MB", "", ""),
        ("CPU used, vidasm / hand-written", f"{scratch.cpu_children + scratch.cpu_self:.0f} s / "
         f"{hand.cpu_children + hand.cpu_self:.0f} s", "", ""),
        ("build wall - FFmpeg wall", f"{scratch.wall - res.scratch.prof.ffmpeg_total:.1f} s", "", ""),
        ("other processes' load, per phase", " / ".join(f"{p.other_cores:.2f}" for p in phases) + " cores",
         f"< {QUIET_CORES} (quiet machine)", pf(all(p.other_cores < QUIET_CORES for p in phases))),
        ("deliveries equivalent", f"{res.mine.frames} / {res.theirs.frames} frames, timeline {res.timeline_frames}",
         f"record {res.record}; durations within a frame; same codec, profile, size", pf(res.ok_equiv)),
        ("PSNR vidasm vs hand-written, mean / min (frame)", f"{mean:.1f} / {low:.1f} dB ({at})",
         f"min >= {MIN_PSNR_DB:g} dB", pf(low >= MIN_PSNR_DB)),
    ]  # fmt: skip
    return rows


if __name__ == "__main__":
    sys.exit(main())
