"""A shot's audio: which tracks, and EBU R128 loudness normalization to 48 kHz stereo PCM of the picture's length."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import commands as cmd
from .colour import check_hdr_policy
from .errors import ProjectConfigError
from .outputs import atomic_output
from .parsers import parse_ebur128_summary, parse_loudness_measurement, parse_loudnorm_result
from .probe import MediaInfo, StreamKind, require_video, verify_complete
from .project import Project, Take
from .ranges import shot_span
from .runner import Run
from .shots import _source_kept, colour_of

SILENCE_LUFS = -70.0
"""Below BS.1770's absolute gate a source has no measurable programme: it is kept as is (fitted), not boosted."""


TP_HEADROOM_DB = 0.5
"""Linear gain is used while the peaks stay this far under the ceiling; the limiter's ceiling sits here too,
so resampling and the AAC encode of a delivery do not push a peak over the project's true-peak limit."""


LOUDNESS_TOLERANCE_LU = 1.0


LIMITER_PASSES = 3


LOUDNORM_MEASURED_I = (-99.0, 0.0)
"""The measured loudness loudnorm accepts; a louder source (a clipped square wave reads above 0 LUFS) gets
the same linear gain through ``volume``."""


def selected_tracks(project: Project, shot: str, info: MediaInfo) -> tuple[int, ...]:
    """0-based indices of the render's audio streams the shot uses (project.json ``audio.tracks`` or the sequence
    entry's ``audio_tracks``: ``"all"`` mixes every track, so nothing a render carries is lost; ``"first"``; or
    track numbers from 1). Raises ``ProjectConfigError`` naming the shot, the render and its tracks when a
    number asks for a track the render does not have. A render without audio uses none."""
    wanted = project.audio_tracks(shot)
    count = len(info.audio)
    if count == 0:
        return ()
    if wanted == "all":
        return tuple(range(count))
    if wanted == "first":
        return (0,)
    numbers = tuple(int(n) for n in wanted)
    over = [n for n in numbers if n > count]
    if over:
        raise ProjectConfigError(
            f"audio_tracks asks for track {', '.join(map(str, over))} but {info.path} has "
            f"{count} audio track(s): {describe_tracks(info, tuple(range(count)))}",
            path=info.path,
            shot=shot,
        )
    return tuple(n - 1 for n in numbers)


def describe_tracks(info: MediaInfo, tracks: tuple[int, ...]) -> str:
    """``"1+2 of 2 mixed (Game, Microphone)"``: which tracks, counted from 1, with their titles when they have any."""
    if not info.audio:
        return "none (no audio track)"
    names = [info.audio[t].title for t in tracks]
    label = "+".join(str(t + 1) for t in tracks) + f" of {len(info.audio)}"
    if len(tracks) > 1:
        label += " mixed"
    return label + (f" ({', '.join(n or '-' for n in names)})" if any(names) else "")


def audio_source(project: Project, take: Take, info: MediaInfo) -> tuple[cmd.AudioSource, str]:
    """The audio the shot uses (tracks and picture offset) and its description for the metadata and the EDL."""
    tracks = selected_tracks(project, take.path.parent.name, info)
    start = info.video.start_time if info.video else Fraction(0)  # the picture's first timestamp (-copyts)
    return cmd.AudioSource(tracks or (0,), start, copyts=True), describe_tracks(info, tracks)


class AudioMode(str, Enum):
    """What was done to a shot's audio."""

    NORMALIZED = "normalized"  # to the target, linear
    LIMITED = "limited"  # gain plus a true-peak limiter
    SILENCE = "silence"  # the render has no audio stream
    SILENT_SOURCE = "silent-source"  # below the -70 LUFS gate: kept as is

    @property
    def programme(self) -> bool:
        """Audio that was brought to the loudness target (the others have nothing to measure against it)."""
        return self in (AudioMode.NORMALIZED, AudioMode.LIMITED)


@dataclass(frozen=True)
class AudioResult:
    path: Path
    samples: int
    mode: AudioMode
    measured_i: float | None = None
    measured_tp: float | None = None
    measured_lra: float | None = None
    measured_thresh: float | None = None  # loudnorm's gating threshold of the source
    output_i: float | None = None  # ebur128 of the result (independent of loudnorm's own estimate)
    output_tp: float | None = None
    normalization_type: str | None = None  # loudnorm's own report (linear/dynamic), or linear+limiter
    gain_db: float | None = None
    peak_reduction_db: float | None = None  # how far the limiter had to pull the loudest peak down
    offset_s: float = 0.0  # the picture's first timestamp in the file (s): the audio is aligned to it (-copyts)
    passes: int = 0  # apply passes (the limiter path corrects its gain once or twice)
    tracks: str = ""  # which audio tracks of the render were used (``describe_tracks``)
    notes: tuple[str, ...] = ()

    def on_target(self, target_i: float, target_tp: float, tolerance: float = LOUDNESS_TOLERANCE_LU) -> bool:
        """Programme audio within tolerance of the target and peaks under the ceiling; no programme: True."""
        if not AudioMode(self.mode).programme:
            return True
        if self.output_i is None or not math.isfinite(self.output_i):
            return False
        tp_ok = self.output_tp is None or self.output_tp <= target_tp
        return abs(self.output_i - target_i) <= tolerance and tp_ok


@dataclass(frozen=True)
class _Job:
    """One shot's normalization: what every strategy needs."""

    run: Run
    take: Take | None  # the render (None: ``src`` is an intermediate of vidasm's own, e.g. the raw music mix)
    dest: Path
    samples: int
    seconds: float
    source: cmd.AudioSource
    target_i: float
    target_tp: float
    src: Path | None = None  # what is read (default: the take's file)

    @property
    def ceiling(self) -> float:
        return self.target_tp - TP_HEADROOM_DB

    @property
    def input(self) -> Path:
        if self.src is not None:
            return self.src
        assert self.take is not None
        return self.take.path

    def pcm(self, tmp: Path) -> cmd.PcmJob:
        return cmd.PcmJob(self.input, tmp, self.samples, self.source)

    def write(self, args_for: Callable[[Path], list[str]]) -> str:
        """Run one FFmpeg command that writes the PCM (atomically, named after its input on failure)."""
        kept = _source_kept(self.take) if self.take is not None else contextlib.nullcontext()
        with atomic_output(self.dest) as tmp, kept:
            return self.run(args_for(tmp), path=self.input, total_seconds=self.seconds)

    def measure_output(self) -> tuple[float, float | None]:
        return measure_loudness(self.run, self.dest, samples=self.samples)


def normalize_audio(run: Run, project: Project, take: Take, info: MediaInfo, frames: int) -> AudioResult:
    """Two-pass EBU R128 normalization to 48 kHz stereo PCM of exactly the picture's length, in sync with it.

    ``frames``: the whole render in timeline frames; the audio covers the same span of it as the shot's picture
    (its uses' ``in``/``out``: ``ranges.py``), from the sample of its first frame.

    Pass 1 measures (loudnorm) exactly the audio the shot uses. Then, by the numbers, one strategy: no audio
    stream gives exact silence (``_silence``); no measurable programme (below -70 LUFS, or -inf) is kept as is
    (``_keep_as_is``); a gain whose peaks stay under the ceiling is applied by loudnorm in linear mode
    (``_loudnorm_linear``); a gain whose peaks would not is applied with a true-peak limiter, corrected until the
    result is on target (``_gain_and_limiter``). The result is measured again with ebur128 and reported.
    Raises the ``VidasmError`` family (naming the render) when FFmpeg fails or the render vanishes.
    """
    rate = project.spec.rate
    source, tracks_used = audio_source(project, take, info)
    # the span of the shot's uses (sequence entries' in/out; the whole render when untrimmed), sample-exact
    span = shot_span(project, take.path.parent.name, take, info, frames).span
    if span.start:
        source = dataclasses.replace(source, start=rate.samples_for_frames(span.start))
    frames = span.frames
    job = _Job(
        run, take, project.audio_path(take.path.parent.name), rate.samples_for_frames(frames),
        float(rate.frames_to_seconds(frames)), source, project.spec.audio.loudness_lufs,
        project.spec.audio.true_peak_db,
    )  # fmt: skip
    # a take the project refuses (HDR without the opt-in) is refused for its sound too: no output of the shot
    # moves to a take its picture cannot follow
    check_hdr_policy(colour_of(require_video(info)), project.spec.colour.hdr, str(take.path))
    if not info.has_audio:
        return _silence(job, tracks_used)
    with _source_kept(take):
        verify_complete(info, StreamKind.AUDIO)
        measure = cmd.loudness_measure_cmd(
            take.path, target_i=job.target_i, target_tp=job.target_tp, lra=7, samples=job.samples, source=source
        )
        m = parse_loudness_measurement(run(measure, path=take.path))
    base = {
        "measured_i": m.input_i,
        "measured_tp": m.input_tp,
        "measured_lra": m.input_lra,
        "measured_thresh": m.input_thresh,
        "offset_s": round(float(source.offset), 6),
        "tracks": tracks_used,
    }
    return _apply(job, m, base)


def normalize_pcm(run: Run, src: Path, dest: Path, *, samples: int, target_i: float, target_tp: float) -> AudioResult:
    """A 48 kHz stereo PCM file of vidasm's own (the programme with its music bed, ``music.py``) brought to the
    loudness target (LUFS) under the true-peak ceiling (dBTP) by the same strategies as a shot's sound
    (``normalize_audio``: kept as is below the -70 LUFS gate, loudnorm linear, or gain plus a true-peak limiter),
    written to ``dest`` as exactly ``samples`` samples, and measured again with ebur128."""
    job = _Job(run, None, dest, samples, samples / cmd.AUDIO_RATE, cmd.FIRST_TRACK, target_i, target_tp, src=src)
    measure = cmd.loudness_measure_cmd(src, target_i=target_i, target_tp=target_tp, lra=7, samples=samples)
    m = parse_loudness_measurement(run(measure, path=src))
    base = {"measured_i": m.input_i, "measured_tp": m.input_tp, "measured_lra": m.input_lra,
            "measured_thresh": m.input_thresh, "tracks": "programme + music"}  # fmt: skip
    return _apply(job, m, base)


def _apply(job: _Job, m: cmd.LoudnessMeasurement, base: dict[str, Any]) -> AudioResult:
    """The strategy for a measured source (``normalize_audio`` says which and when)."""
    if not math.isfinite(m.input_i) or m.input_i <= SILENCE_LUFS:
        return _keep_as_is(job, m, base)
    notes: list[str] = []
    loudnorm_can = LOUDNORM_MEASURED_I[0] < m.input_i <= LOUDNORM_MEASURED_I[1] and math.isfinite(m.input_tp)
    if not loudnorm_can:
        notes.append(f"loudnorm takes measured loudness in {LOUDNORM_MEASURED_I}, not {m.input_i:g}: plain gain")
    elif m.input_tp + (job.target_i - m.input_i) <= job.ceiling:
        result = _loudnorm_linear(job, m, base, notes)
        if result.on_target(job.target_i, job.target_tp, tolerance=0.5):
            return result
        notes.append(
            f"loudnorm ({result.normalization_type}) gave {result.output_i:.1f} LUFS / {result.output_tp} dBTP: "
            "applied with the limiter instead"
        )
    return _gain_and_limiter(job, m, base, notes)


def _silence(job: _Job, tracks_used: str) -> AudioResult:
    """A render without audio: exact-length digital silence."""
    job.write(lambda tmp: cmd.silence_cmd(tmp, samples=job.samples))
    note = "the render has no audio stream: exact silence"
    return AudioResult(job.dest, job.samples, AudioMode.SILENCE, tracks=tracks_used, notes=(note,))


def _keep_as_is(job: _Job, m: cmd.LoudnessMeasurement, base: dict[str, Any]) -> AudioResult:
    """No programme to normalize (below BS.1770's -70 LUFS gate): the audio as it is, fitted to the length."""
    job.write(lambda tmp: cmd.pcm_fit_cmd(job.pcm(tmp)))
    out_i, out_tp = job.measure_output()
    note = f"source loudness {m.input_i:g} LUFS is below the {SILENCE_LUFS:g} LUFS gate: kept as is"
    return AudioResult(
        job.dest, job.samples, AudioMode.SILENT_SOURCE, output_i=out_i, output_tp=out_tp, notes=(note,), **base
    )


def _loudnorm_linear(job: _Job, m: cmd.LoudnessMeasurement, base: dict[str, Any], notes: list[str]) -> AudioResult:
    """Peaks stay under the ceiling at the gain the loudness needs: loudnorm's second pass, linear."""

    def args(tmp: Path) -> list[str]:
        return cmd.normalize_audio_cmd(job.pcm(tmp), target_i=job.target_i, target_tp=job.target_tp, measurement=m)

    res = parse_loudnorm_result(job.write(args))
    out_i, out_tp = job.measure_output()
    ntype = res.normalization_type or "unknown"
    if ntype != "linear":
        notes.append(f"loudnorm used {ntype} normalization, not linear")
    return AudioResult(
        job.dest, job.samples, AudioMode.NORMALIZED, output_i=out_i, output_tp=out_tp, normalization_type=ntype,
        gain_db=round(job.target_i - m.input_i, 2), passes=1, notes=tuple(notes), **base,
    )  # fmt: skip


def _gain_and_limiter(job: _Job, m: cmd.LoudnessMeasurement, base: dict[str, Any], notes: list[str]) -> AudioResult:
    """Peaks would pass the ceiling at the gain the loudness needs (or loudnorm cannot take the measurement): the
    gain, then a true-peak limiter that only acts on what would pass the ceiling; the gain corrected until the
    result is within 0.3 LU of the target (at most ``LIMITER_PASSES`` passes)."""
    gain = job.target_i - m.input_i
    passes = 0
    out_i, out_tp = -math.inf, None
    while passes < LIMITER_PASSES:
        passes += 1
        job.write(lambda tmp, g=gain: cmd.limited_audio_cmd(job.pcm(tmp), gain_db=g, ceiling_db=job.ceiling))
        out_i, out_tp = job.measure_output()
        if not math.isfinite(out_i) or abs(out_i - job.target_i) <= 0.3:
            break
        gain += job.target_i - out_i
    peak_reduction = max(0.0, (m.input_tp + gain) - job.ceiling) if math.isfinite(m.input_tp) else None
    limited = peak_reduction is None or peak_reduction > 0
    if limited:
        notes.append(
            f"peaks would reach {m.input_tp + gain:+.1f} dBTP at the {gain:+.1f} dB gain the loudness needs: "
            f"true-peak limited at {job.ceiling:g} dBTP"
        )
    return AudioResult(
        job.dest, job.samples, AudioMode.LIMITED if limited else AudioMode.NORMALIZED, output_i=out_i,
        output_tp=out_tp, normalization_type="linear+limiter" if limited else "linear", gain_db=round(gain, 2),
        peak_reduction_db=round(peak_reduction, 2) if peak_reduction is not None else None, passes=passes,
        notes=tuple(notes), **base,
    )  # fmt: skip


def measure_loudness(run: Run, path: Path, *, samples: int | None = None) -> tuple[float, float | None]:
    """Integrated loudness and true peak by ebur128 (independent of loudnorm's own estimate).

    Audio shorter than 3 s (``samples`` at 48 kHz) is measured looped to 3 s for the loudness, as it was
    normalized; its true peak is measured on the file as it is.
    """
    s = parse_ebur128_summary(run(cmd.ebur128_cmd(path), path=path))
    if samples is not None and samples < cmd.MEASURE_MIN_SAMPLES:
        looped = parse_ebur128_summary(run(cmd.ebur128_cmd(path, samples=samples), path=path))
        return looped.integrated, s.true_peak
    return s.integrated, s.true_peak
