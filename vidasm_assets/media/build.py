"""The build steps and the make-like version arithmetic, free of Dagster.

Each step takes a ``Run`` callable (FFmpeg runner) so the Dagster resource, the CLI and the benchmarks
share one implementation. Data versions are hashes of exactly what a step's output depends on: the
selected take's content, the settings that step uses, and the step's code version.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from . import commands as cmd
from .colour import SourceColour, check_hdr_policy, source_colour
from .errors import (
    InvalidMediaError,
    MediaNotFoundError,
    MediaPermissionError,
    ProjectConfigError,
    SourceTimecodeError,
    VidasmError,
)
from .limits import check_render
from .parsers import parse_ebur128_summary, parse_loudness_measurement, parse_loudnorm_result
from .probe import MediaInfo, VideoInfo, probe, require_video, verify_complete
from .project import FingerprintCache, Project, ShotRef, Take, list_takes, stable_hash
from .rates import Rate
from .runner import atomic_output, write_text_atomic
from .slate import card_lines, draw_card
from .timecode import read_source_timecode
from .timeline import Timeline, TimelineClip

# Code versions: bump one when its step's output changes for the same inputs; everything after it goes stale.
PICTURE_VERSION = "picture-3"  # 3: every wide gamut converted (colour.py)
AUDIO_VERSION = "audio-2"
TIMELINE_VERSION = "timeline-2"
CUT_VERSION = "cut-2"
EDL_VERSION = "edl-1"
OTIO_VERSION = "otio-1"
DELIVERY_VERSION = "delivery-1"

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
PLACEHOLDER_SECONDS = 2
"""A placeholder's length when nothing tells how long the shot is (no usable take of it at all)."""


class Run(Protocol):
    def __call__(self, argv: list[str], *, path: Path | str | None = ..., total_seconds: float | None = ...) -> str: ...


# ---------------------------------------------------------------- versions


def picture_spec_version(project: Project) -> str:
    s = project.spec
    return stable_hash("picture", s.resolution, [project.spec.rate.num, project.spec.rate.den], s.colour.hdr)


def _track_choices(project: Project) -> list[Any]:
    """The project's audio track selection and every shot's own (project.json)."""
    own = {r.shot: r.audio_tracks for r in project.sequence() if r.audio_tracks is not None}
    return [project.spec.audio.tracks, sorted((k, list(v) if isinstance(v, tuple) else v) for k, v in own.items())]


def audio_spec_version(project: Project) -> str:
    s = project.spec
    rate = [s.rate.num, s.rate.den]
    if s.audio.tracks == "all" and not any(r.audio_tracks is not None for r in project.sequence()):
        return stable_hash("audio", s.audio.loudness_lufs, s.audio.true_peak_db, rate)  # as before track choice
    return stable_hash("audio", s.audio.loudness_lufs, s.audio.true_peak_db, rate, _track_choices(project))


def edit_spec_version(project: Project) -> str:
    refs = [[r.shot, r.take, r.scene, r.beat, r.notes] for r in project.sequence()]
    ed = project.spec.editorial
    rate = [project.spec.rate.num, project.spec.rate.den]
    parts: list[Any] = [refs, rate, ed.edl_style, ed.record_start, project.spec.placeholders]
    if project.spec.audio.tracks != "all" or any(r.audio_tracks is not None for r in project.sequence()):
        parts.append(_track_choices(project))  # the EDL says which tracks each event uses
    return stable_hash("edit", *parts)


def picture_version(render_fp: str, picture_spec: str) -> str:
    return stable_hash(PICTURE_VERSION, render_fp, picture_spec)


def audio_version(render_fp: str, audio_spec: str) -> str:
    return stable_hash(AUDIO_VERSION, render_fp, audio_spec)


def timeline_version(timeline: Timeline) -> str:
    return stable_hash(TIMELINE_VERSION, timeline.to_dict())


def cut_version(pictures: list[str], audios: list[str], timeline_v: str) -> str:
    return stable_hash(CUT_VERSION, pictures, audios, timeline_v)


def edl_version(timeline_v: str, style: str) -> str:
    return stable_hash(EDL_VERSION, timeline_v, style)


def otio_version(timeline_v: str) -> str:
    return stable_hash(OTIO_VERSION, timeline_v)


def delivery_version(preset: str, cut_v: str) -> str:
    return stable_hash(DELIVERY_VERSION, preset, cut_v)


# ---------------------------------------------------------------- fingerprints


def fingerprint_cache_path(project: Project) -> Path:
    return project.cache_dir / "fingerprints.json"


def load_fingerprints(project: Project) -> FingerprintCache:
    try:
        return FingerprintCache(json.loads(fingerprint_cache_path(project).read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return FingerprintCache()


def save_fingerprints(project: Project, cache: FingerprintCache) -> None:
    with contextlib.suppress(OSError):  # a lost cache only costs a re-read next time
        write_text_atomic(fingerprint_cache_path(project), json.dumps(cache.entries))


def render_fingerprint(take: Take, cache: FingerprintCache | None = None) -> str:
    """Content fingerprint of the selected take: the render's data version."""
    if not take.path.is_file():
        raise MediaNotFoundError(f"{take.path}: selected take vanished", path=take.path)
    try:
        return (cache or FingerprintCache()).fingerprint(take.path)
    except PermissionError as exc:
        raise MediaPermissionError(f"{take.path}: cannot be read (permission denied)", path=take.path) from exc
    except OSError as exc:
        raise MediaNotFoundError(f"{take.path}: cannot be read ({exc.strerror or exc})", path=take.path) from exc


# ---------------------------------------------------------------- shots


def shot_frames(info: MediaInfo, rate: Rate) -> int:
    """The shot's length in timeline frames: what a player presents, ``round(duration x rate)``.

    The duration is the stream's presented duration: libavformat applies MOV/MP4 edit lists to it, while the
    sample count (``nb_frames``) also counts the samples an edit list hides (a render trimmed by stream copy has
    48 coded frames and presents 36: lossless-cut #3057). So the sample count is never the shot's length.
    """
    v = require_video(info)
    frames = rate.seconds_to_frames(v.duration)
    if frames < 1:
        raise InvalidMediaError(f"{info.path}: shorter than one frame at {rate} fps", path=info.path)
    check_render(info, rate, frames)  # pixels, declared seconds per byte, frames: before any FFmpeg work
    return frames


def source_timecode_fields(info: MediaInfo, rate: Rate) -> dict[str, Any]:
    """The render's start timecode as ``TimelineClip`` fields: the timecode at its own rate and drop-frame mode,
    the source in relabelled at the timeline ``rate`` (``timecode.py`` says how and why), or, when the tag is
    not a timecode at the render's rate, why (the EDL/OTIO exports then fail naming the file; never 00:00:00:00).
    No fields for a render without a timecode: its source in is 0."""
    try:
        tc = read_source_timecode(info)
    except SourceTimecodeError as exc:
        return {"source_timecode_error": exc.message}
    if tc is None:
        return {}
    return {"source_timecode": tc, "source_start_frame": tc.to_record_frame(rate)}


def colour_of(video: VideoInfo) -> SourceColour:
    """The source's colour from its tags, or the documented assumptions (``colour.py``)."""
    width, height = video.width, video.height
    return source_colour(
        width=width,
        height=height,
        pix_fmt=video.pix_fmt,
        primaries=video.color_primaries,
        transfer=video.color_trc,
        matrix=video.colorspace,
        colour_range=video.color_range,
    )


def usable_take(project: Project, ref: ShotRef, probes: dict[str, MediaInfo] | None = None) -> tuple[Take, MediaInfo]:
    """The shot's selected take, probed (headers only), with a picture; a typed error naming it otherwise.

    What only the build can find (truncated data, an HDR picture the project refuses) fails the shot's build,
    not the timeline: the timeline stays a cheap, header-only view of the cut.
    """
    take = project.select_take(ref.shot)
    info = (probes or {}).get(ref.shot) or probe(take.path)
    require_video(info)
    return take, info


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
            f"shot {shot}: audio_tracks asks for track {', '.join(map(str, over))} but {info.path} has "
            f"{count} audio track(s): {describe_tracks(info, tuple(range(count)))}",
            path=info.path,
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
    return cmd.AudioSource(tracks or (0,), info.video_offset), describe_tracks(info, tracks)


@contextlib.contextmanager
def _source_kept(take: Take) -> Iterator[None]:
    """Turn a failure caused by the render disappearing mid-build into an error that says so."""
    try:
        yield
    except VidasmError as exc:
        if not take.path.exists():
            raise MediaNotFoundError(f"{take.path}: the render vanished during the build", path=take.path) from exc
        raise


@dataclass(frozen=True)
class PictureResult:
    path: Path
    frames: int
    info: MediaInfo
    source: MediaInfo | None = None  # the render, probed with its first frame decoded
    colour: SourceColour | None = None


def conform_picture(run: Run, ffmpeg: str, project: Project, take: Take, info: MediaInfo) -> PictureResult:
    rate = project.spec.rate
    width, height = project.spec.size
    frames = shot_frames(info, rate)
    with _source_kept(take):
        full = probe(take.path, first_frame=True)
        verify_complete(full, "video")
    video = require_video(full)
    colour = colour_of(video)
    check_hdr_policy(colour, project.spec.colour.hdr, str(take.path))
    source = cmd.PictureSource(colour=colour, interlaced=video.interlaced)
    dest = project.picture_path(take.path.parent.name)
    with atomic_output(dest) as tmp:
        argv = cmd.conform_picture_cmd(
            ffmpeg, take.path, tmp, width=width, height=height, rate=rate, frames=frames, source=source
        )
        with _source_kept(take):
            run(argv, path=take.path, total_seconds=float(rate.frames_to_seconds(frames)))
        out = probe(tmp)
        got = out.video.frames if out.video else 0
        if got != frames:
            raise InvalidMediaError(
                f"{take.path}: decodes to {got} frames, but its header says {frames} at {rate} fps: the render is "
                "truncated or damaged",
                path=take.path,
            )
    return PictureResult(dest, frames, probe(dest), full, colour)


@dataclass(frozen=True)
class AudioResult:
    path: Path
    samples: int
    mode: str  # normalized | limited | silence (no audio stream) | silent-source (nothing to normalize)
    measured_i: float | None = None
    measured_tp: float | None = None
    measured_lra: float | None = None
    measured_thresh: float | None = None  # loudnorm's gating threshold of the source
    output_i: float | None = None  # ebur128 of the result (independent of loudnorm's own estimate)
    output_tp: float | None = None
    normalization_type: str | None = None  # loudnorm's own report (linear/dynamic), or linear+limiter
    gain_db: float | None = None
    peak_reduction_db: float | None = None  # how far the limiter had to pull the loudest peak down
    offset_s: float = 0.0  # audio shifted by this to start with the picture
    passes: int = 0  # apply passes (the limiter path corrects its gain once or twice)
    tracks: str = ""  # which audio tracks of the render were used (``describe_tracks``)
    notes: tuple[str, ...] = ()

    def on_target(self, target_i: float, target_tp: float, tolerance: float = LOUDNESS_TOLERANCE_LU) -> bool:
        """Programme audio within tolerance of the target and peaks under the ceiling; no programme: True."""
        if self.mode not in ("normalized", "limited"):
            return True
        if self.output_i is None or not math.isfinite(self.output_i):
            return False
        tp_ok = self.output_tp is None or self.output_tp <= target_tp
        return abs(self.output_i - target_i) <= tolerance and tp_ok


def normalize_audio(run: Run, ffmpeg: str, project: Project, take: Take, info: MediaInfo, frames: int) -> AudioResult:
    """Two-pass EBU R128 normalization to 48 kHz stereo PCM of exactly the picture's length, in sync with it.

    Pass 1 measures (loudnorm) exactly the audio the shot uses. Then, by the numbers: no measurable programme
    (below -70 LUFS, or -inf) is kept as is; a gain whose peaks stay under the ceiling is applied by loudnorm in
    linear mode; a gain whose peaks would not is applied with a true-peak limiter, corrected until the result
    is on target. The result is measured again with ebur128 and everything is reported.
    """
    rate = project.spec.rate
    samples = rate.samples_for_frames(frames)
    dest = project.audio_path(take.path.parent.name)
    seconds = float(rate.frames_to_seconds(frames))
    source, tracks_used = audio_source(project, take, info)
    # a take the project refuses (HDR without the opt-in) is refused for its sound too: no output of the shot
    # moves to a take its picture cannot follow
    check_hdr_policy(colour_of(require_video(info)), project.spec.colour.hdr, str(take.path))
    if not info.has_audio:
        with atomic_output(dest) as tmp:
            run(cmd.silence_cmd(ffmpeg, tmp, samples=samples), path=take.path, total_seconds=seconds)
        return AudioResult(
            dest, samples, "silence", tracks=tracks_used, notes=("the render has no audio stream: exact silence",)
        )
    target_i = project.spec.audio.loudness_lufs
    target_tp = project.spec.audio.true_peak_db
    ceiling = target_tp - TP_HEADROOM_DB
    with _source_kept(take):
        verify_complete(info, "audio")
        err = run(
            cmd.loudness_measure_cmd(
                ffmpeg, take.path, target_i=target_i, target_tp=target_tp, lra=7, samples=samples, source=source
            ),
            path=take.path,
        )
    m = parse_loudness_measurement(err)
    base = {
        "measured_i": m.input_i,
        "measured_tp": m.input_tp,
        "measured_lra": m.input_lra,
        "measured_thresh": m.input_thresh,
        "offset_s": round(float(source.offset), 6),
        "tracks": tracks_used,
    }
    if not math.isfinite(m.input_i) or m.input_i <= SILENCE_LUFS:
        with atomic_output(dest) as tmp, _source_kept(take):
            argv = cmd.pcm_fit_cmd(ffmpeg, take.path, tmp, samples=samples, source=source)
            run(argv, path=take.path, total_seconds=seconds)
        out_i, out_tp = measure_loudness(run, ffmpeg, dest, samples=samples)
        note = f"source loudness {m.input_i:g} LUFS is below the {SILENCE_LUFS:g} LUFS gate: kept as is"
        return AudioResult(dest, samples, "silent-source", output_i=out_i, output_tp=out_tp, notes=(note,), **base)
    gain = target_i - m.input_i
    notes: list[str] = []
    loudnorm_can = LOUDNORM_MEASURED_I[0] < m.input_i <= LOUDNORM_MEASURED_I[1] and math.isfinite(m.input_tp)
    if not loudnorm_can:
        notes.append(f"loudnorm takes measured loudness in {LOUDNORM_MEASURED_I}, not {m.input_i:g}: plain gain")
    if loudnorm_can and m.input_tp + gain <= ceiling:
        with atomic_output(dest) as tmp, _source_kept(take):
            argv = cmd.normalize_audio_cmd(
                ffmpeg, take.path, tmp, samples=samples, target_i=target_i, target_tp=target_tp, measurement=m,
                source=source,
            )  # fmt: skip
            res = parse_loudnorm_result(run(argv, path=take.path, total_seconds=seconds))
        out_i, out_tp = measure_loudness(run, ffmpeg, dest, samples=samples)
        ntype = res.normalization_type or "unknown"
        if ntype != "linear":
            notes.append(f"loudnorm used {ntype} normalization, not linear")
        result = AudioResult(
            dest, samples, "normalized", output_i=out_i, output_tp=out_tp, normalization_type=ntype,
            gain_db=round(gain, 2), passes=1, notes=tuple(notes), **base,
        )  # fmt: skip
        if result.on_target(target_i, target_tp, tolerance=0.5):
            return result
        notes.append(f"loudnorm ({ntype}) gave {out_i:.1f} LUFS / {out_tp} dBTP: applied with the limiter instead")
    # peaks would pass the ceiling at the gain the loudness needs (or loudnorm cannot take the measurement):
    # the gain, then a true-peak limiter that only acts on what would pass the ceiling; corrected until on target
    passes = 0
    out_i, out_tp = -math.inf, None
    while passes < LIMITER_PASSES:
        passes += 1
        with atomic_output(dest) as tmp, _source_kept(take):
            argv = cmd.limited_audio_cmd(
                ffmpeg, take.path, tmp, samples=samples, gain_db=gain, ceiling_db=ceiling, source=source
            )
            run(argv, path=take.path, total_seconds=seconds)
        out_i, out_tp = measure_loudness(run, ffmpeg, dest, samples=samples)
        if not math.isfinite(out_i) or abs(out_i - target_i) <= 0.3:
            break
        gain += target_i - out_i
    peak_reduction = max(0.0, (m.input_tp + gain) - ceiling) if math.isfinite(m.input_tp) else None
    limited = peak_reduction is None or peak_reduction > 0
    if limited:
        notes.append(
            f"peaks would reach {m.input_tp + gain:+.1f} dBTP at the {gain:+.1f} dB gain the loudness needs: "
            f"true-peak limited at {ceiling:g} dBTP"
        )
    return AudioResult(
        dest, samples, "limited" if limited else "normalized", output_i=out_i, output_tp=out_tp,
        normalization_type="linear+limiter" if limited else "linear",
        gain_db=round(gain, 2), peak_reduction_db=round(peak_reduction, 2) if peak_reduction is not None else None,
        passes=passes, notes=tuple(notes), **base,
    )  # fmt: skip


def measure_loudness(run: Run, ffmpeg: str, path: Path, *, samples: int | None = None) -> tuple[float, float | None]:
    """Integrated loudness and true peak by ebur128 (independent of loudnorm's own estimate).

    Audio shorter than 3 s (``samples`` at 48 kHz) is measured looped to 3 s for the loudness, as it was
    normalized; its true peak is measured on the file as it is.
    """
    s = parse_ebur128_summary(run(cmd.ebur128_cmd(ffmpeg, path), path=path))
    if samples is not None and samples < cmd.MEASURE_MIN_SAMPLES:
        looped = parse_ebur128_summary(run(cmd.ebur128_cmd(ffmpeg, path, samples=samples), path=path))
        return looped.integrated, s.true_peak
    return s.integrated, s.true_peak


# ---------------------------------------------------------------- project level


def placeholder_paths(project: Project, shot: str) -> tuple[Path, Path]:
    """Where a placeholder slate's picture and audio go (beside the conformed shots, under 05_Cache)."""
    folder = project.cache_dir / "placeholder"
    return folder / f"{shot}.mov", folder / f"{shot}.wav"


def _placeholder_frames(project: Project, shot: str) -> int:
    """The shot's length from its newest take that probes, else ``PLACEHOLDER_SECONDS``."""
    rate = project.spec.rate
    for take in reversed(list_takes(project.shot_dir(shot), shot)):
        try:
            return shot_frames(probe(take.path), rate)
        except VidasmError:
            continue
    return rate.seconds_to_frames(PLACEHOLDER_SECONDS)


def _placeholder_clip(project: Project, ref: ShotRef, exc: VidasmError) -> TimelineClip:
    picture, _ = placeholder_paths(project, ref.shot)
    reason = exc.message.replace(str(project.root) + "/", "")
    try:
        take = project.select_take(ref.shot).label  # the take that is there but unusable
    except VidasmError:
        take = ref.take or "missing"
    return TimelineClip(
        shot=ref.shot,
        take=take,
        clip_name=f"{ref.shot}_PLACEHOLDER",
        source_path=str(picture),
        frames=_placeholder_frames(project, ref.shot),
        scene=ref.scene,
        beat=ref.beat,
        notes=ref.notes,
        placeholder=f"missing render: {reason}",
    )


def build_timeline(project: Project, probes: dict[str, MediaInfo] | None = None) -> Timeline:
    """Probe each selected take (headers only) and lay the shots out in story order.

    A shot whose render is missing or unusable fails the timeline, naming the shot, unless the project opts
    into placeholders: then it becomes a placeholder clip of the shot's length (so does a take the project
    refuses, HDR without the tone-mapping opt-in, which is otherwise left to fail the shot's build).
    """
    rate = project.spec.rate
    width, height = project.spec.size
    clips = []
    for ref in project.sequence():
        try:
            take, info = usable_take(project, ref, probes)
            frames = shot_frames(info, rate)
            if project.spec.placeholders:  # a take the project refuses is as missing as no take
                check_hdr_policy(colour_of(require_video(info)), project.spec.colour.hdr, str(take.path))
        except VidasmError as exc:
            if project.spec.placeholders:
                clips.append(_placeholder_clip(project, ref, exc))
                continue
            if exc.message.startswith(f"shot {ref.shot}:"):
                raise
            raise type(exc)(f"shot {ref.shot}: {exc.message}", path=exc.path) from exc
        clips.append(
            TimelineClip(
                shot=ref.shot,
                take=take.label,
                clip_name=take.name,
                source_path=str(take.path),
                frames=frames,
                scene=ref.scene,
                beat=ref.beat,
                notes=ref.notes,
                audio_tracks=_tracks_note(project, ref, info),
                **source_timecode_fields(info, rate),
            )
        )
    if not clips:
        raise VidasmError(f"project {project.name}: no shots to assemble in {project.renders_dir}", path=project.root)
    record_start = project.spec.editorial.record_start
    return Timeline(project.name, rate, tuple(clips), record_start=record_start, width=width, height=height)


def _tracks_note(project: Project, ref: ShotRef, info: MediaInfo) -> str | None:
    """What the EDL says about the shot's audio tracks: only when there was a choice to make."""
    if len(info.audio) < 2 and project.audio_tracks(ref.shot) == "all":
        return None
    return describe_tracks(info, selected_tracks(project, ref.shot, info))


def render_placeholder(run: Run, ffmpeg: str, project: Project, clip: TimelineClip) -> tuple[Path, Path]:
    """The slate for a placeholder clip: a card at the conform's settings and exact-length silence."""
    rate = project.spec.rate
    width, height = project.spec.size
    picture, audio = placeholder_paths(project, clip.shot)
    lines = card_lines(project.name, clip.shot, clip.take, clip.frames, rate, clip.placeholder or "missing render")
    with atomic_output(picture) as tmp:
        card = draw_card(tmp.with_suffix(".png"), width, height, lines)
        try:
            argv = cmd.slate_picture_cmd(ffmpeg, card, tmp, width=width, height=height, rate=rate, frames=clip.frames)
            run(argv, path=picture, total_seconds=float(rate.frames_to_seconds(clip.frames)))
        finally:
            card.unlink(missing_ok=True)
    with atomic_output(audio) as tmp:
        run(cmd.silence_cmd(ffmpeg, tmp, samples=rate.samples_for_frames(clip.frames)), path=audio)
    return picture, audio


def assemble_cut(run: Run, ffmpeg: str, project: Project, timeline: Timeline) -> Path:
    """Join every shot's picture and audio by stream copy, checking each is there and the right length.

    Placeholder clips get their slate rendered here. A real shot whose outputs are missing or the wrong length
    fails the cut, naming the shot: a shot is never dropped silently.
    """
    pictures, audios = [], []
    for clip in timeline.clips:
        if clip.placeholder:
            pic, aud = render_placeholder(run, ffmpeg, project, clip)
        else:
            pic, aud = project.picture_path(clip.shot), project.audio_path(clip.shot)
        for p in (pic, aud):
            if not p.is_file():
                raise MediaNotFoundError(f"shot {clip.shot}: {p} is missing; build the shot first", path=p)
        pinfo = probe(pic)
        if not pinfo.video or pinfo.video.frames != clip.frames:
            got = pinfo.video.frames if pinfo.video else 0
            raise InvalidMediaError(
                f"shot {clip.shot}: {pic} has {got} frames but the timeline needs {clip.frames}; rebuild the shot",
                path=pic,
            )
        ainfo = probe(aud)
        samples = ainfo.audio[0].samples if ainfo.audio else None
        if samples != timeline.rate.samples_for_frames(clip.frames):
            raise InvalidMediaError(
                f"shot {clip.shot}: {aud} has {samples} samples but the timeline needs "
                f"{timeline.rate.samples_for_frames(clip.frames)}; rebuild the shot",
                path=aud,
            )
        pictures.append(pic)
        audios.append(aud)
    dest = project.cut_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        # the lists sit in 05_Cache, so every entry is a short relative path (picture/sh010.mov) whatever the
        # workspace path holds (a newline would split an absolute entry: commands.concat_list)
        base = project.cache_dir
        vlist, alist = (base / f".{tmp.stem.lstrip('.')}.{kind}.txt" for kind in ("video", "audio"))
        try:
            vlist.write_text(cmd.concat_list(pictures, base))
            alist.write_text(cmd.concat_list(audios, base))
            seconds = float(timeline.rate.frames_to_seconds(timeline.total_frames))
            run(
                cmd.assemble_cmd(ffmpeg, vlist, alist, tmp, rate=timeline.rate),
                path=dest,
                total_seconds=seconds,
            )
        finally:
            vlist.unlink(missing_ok=True)
            alist.unlink(missing_ok=True)
        out = probe(tmp)
        if not out.video or out.video.frames != timeline.total_frames:
            got = out.video.frames if out.video else 0
            raise InvalidMediaError(f"{dest}: cut has {got} frames, expected {timeline.total_frames}", path=dest)
    return dest


# ---------------------------------------------------------------- asset checks


@dataclass(frozen=True)
class CheckOutcome:
    """One asset check's verdict, measured on the output (Dagster-free; the factory reports it)."""

    name: str
    passed: bool
    metadata: dict[str, Any]


PICTURE_CHECKS = {
    "conforms_to_spec": "Timeline size, rate and frame count, square pixels, H.264 High yuv420p.",
    "bt709_tagged": "BT.709 primaries, transfer and matrix, limited range, tagged on the stream.",
    "duration_matches_source": "The conformed shot is as long as the render's picture, within one frame.",
}
AUDIO_CHECKS = {
    "loudness_on_target": "Programme audio within 1 LU of the target loudness (ebur128) and true peak under the "
    "ceiling; silent sources and renders without audio pass, reported as such.",
    "in_sync_with_picture": "Exactly as many 48 kHz samples as the picture's frames span, starting at the "
    "picture's first frame (the render's audio/video start offset compensated).",
}
CUT_CHECKS = {
    "duration_is_sum": "The cut's frames are the sum of its shots' frames; its audio is exactly as long.",
    "no_gap_at_joins": "Video and audio timestamps run on without a gap or overlap at every join.",
    "bt709_tagged": "The BT.709 tags survived the stream copy into the cut.",
    "loudness_on_target": "The cut's integrated loudness within 1 LU of the target and true peak under the ceiling.",
}
BT709 = ("bt709", "bt709", "bt709", "tv")


def _tags(v: VideoInfo | None) -> tuple[str, ...]:
    return (v.color_primaries, v.color_trc, v.colorspace, v.color_range) if v else ()


def bt709_check(info: MediaInfo) -> CheckOutcome:
    got = _tags(info.video)
    return CheckOutcome("bt709_tagged", got == BT709, {"expected": "/".join(BT709), "got": "/".join(got)})


def picture_checks(project: Project, res: PictureResult) -> list[CheckOutcome]:
    rate = project.spec.rate
    w, h = project.spec.size
    v = res.info.video
    ok = (
        v is not None
        and v.frames == res.frames
        and (v.width, v.height) == (w, h)
        and v.rate == rate.fraction
        and v.sar == 1
        and v.pix_fmt == "yuv420p"
        and v.codec == "h264"
        and v.profile == "High"
    )
    got = f"{v.width}x{v.height} SAR {v.sar} {float(v.rate or 0):.3f} fps {v.frames} frames {v.codec} {v.profile} " \
          f"{v.pix_fmt}" if v else "no video"  # fmt: skip
    out = [
        CheckOutcome(
            "conforms_to_spec",
            bool(ok),
            {"expected": f"{w}x{h} SAR 1 {rate} fps {res.frames} frames h264 High yuv420p", "got": got},
        ),
        bt709_check(res.info),
    ]
    src = res.source.video if res.source else None
    if src is not None:
        made = rate.frames_to_seconds(res.frames)
        diff = abs(made - src.duration)
        frame = rate.frames_to_seconds(1)
        out.append(
            CheckOutcome(
                "duration_matches_source",
                diff <= frame,
                {
                    "source_s": round(float(src.duration), 4),
                    "conformed_s": round(float(made), 4),
                    "difference_ms": round(float(diff) * 1000, 2),
                    "tolerance_ms": round(float(frame) * 1000, 2),
                },
            )
        )
    return out


def audio_checks(project: Project, res: AudioResult, out: MediaInfo) -> list[CheckOutcome]:
    target_i = project.spec.audio.loudness_lufs
    target_tp = project.spec.audio.true_peak_db
    a = out.audio[0] if out.audio else None
    samples = a.samples if a else None
    loud_md: dict[str, Any] = {
        "mode": res.mode,
        "target_lufs": target_i,
        "ceiling_dbtp": target_tp,
        "loudness_lufs": res.output_i if res.output_i is not None else float("nan"),
        "true_peak_dbtp": res.output_tp if res.output_tp is not None else float("nan"),
    }
    in_sync = samples == res.samples and a is not None and a.sample_rate == 48000 and a.channels == 2
    return [
        CheckOutcome("loudness_on_target", res.on_target(target_i, target_tp), loud_md),
        CheckOutcome(
            "in_sync_with_picture",
            bool(in_sync),
            {"samples": samples or 0, "expected_samples": res.samples, "start_offset_compensated_s": res.offset_s},
        ),
    ]


def _stream_packets(path: Path, kind: str) -> list[tuple[int, int]]:
    """(pts, duration) of every packet of the first ``kind`` stream, demuxed only (no decoding)."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return sorted((int(p.pts), int(p.duration or 0)) for p in c.demux(stream) if p.pts is not None and p.size)


def cut_checks(run: Run, ffmpeg: str, project: Project, timeline: Timeline, path: Path) -> list[CheckOutcome]:
    rate = timeline.rate
    info = probe(path)
    v = info.video
    frames = v.frames if v else 0
    samples = info.audio[0].samples if info.audio else None
    # each shot is rounded to whole samples on its own (at 29.97 a frame is 1601.6 samples): within half a
    # sample per shot of the exact length, never drifting
    want_samples = sum(rate.samples_for_frames(c.frames) for c in timeline.clips)
    joins = [sum(c.frames for c in timeline.clips[: i + 1]) for i in range(len(timeline.clips) - 1)]
    out = [
        CheckOutcome(
            "duration_is_sum",
            frames == timeline.total_frames and samples == want_samples,
            {
                "frames": frames,
                "sum_of_shots": timeline.total_frames,
                "samples": samples or 0,
                "expected_samples": want_samples,
                "shots": ", ".join(f"{c.shot}:{c.frames}" for c in timeline.clips),
            },
        )
    ]
    vpk = _stream_packets(path, "video")
    step = rate.timescale * rate.den // rate.num
    vgaps = [i for i in range(1, len(vpk)) if vpk[i][0] - vpk[i - 1][0] != step]
    apk = _stream_packets(path, "audio")
    agaps = [i for i in range(1, len(apk)) if apk[i][0] != apk[i - 1][0] + apk[i - 1][1]]
    bad_joins = [j for j in joins if j in vgaps or j >= len(vpk)]
    out.append(
        CheckOutcome(
            "no_gap_at_joins",
            not vgaps and not agaps and len(vpk) == timeline.total_frames,
            {
                "joins_at_frames": ", ".join(map(str, joins)) or "none",
                "video_discontinuities": ", ".join(map(str, vgaps[:20])) or "none",
                "audio_discontinuities": len(agaps),
                "bad_joins": ", ".join(map(str, bad_joins)) or "none",
            },
        )
    )
    out.append(bt709_check(info))
    target_i = project.spec.audio.loudness_lufs
    target_tp = project.spec.audio.true_peak_db
    loud, peak = measure_loudness(run, ffmpeg, path, samples=samples)
    programme = math.isfinite(loud) and loud > SILENCE_LUFS
    ok = not programme or (abs(loud - target_i) <= LOUDNESS_TOLERANCE_LU and (peak is None or peak <= target_tp))
    out.append(
        CheckOutcome(
            "loudness_on_target",
            ok,
            {
                "loudness_lufs": loud,
                "true_peak_dbtp": peak if peak is not None else float("nan"),
                "target_lufs": target_i,
                "ceiling_dbtp": target_tp,
                "programme_audio": programme,
            },
        )
    )
    return out


def deliver(run: Run, ffmpeg: str, project: Project, preset_name: str) -> Path:
    """Encode a delivery from the cut alone (its only input, so automation runs it once, after the cut)."""
    preset = cmd.PRESETS[preset_name]
    cut = project.cut_path()
    if not cut.is_file():
        raise MediaNotFoundError(f"{cut}: the cut is missing; assemble it first", path=cut)
    dest = project.delivery_path(preset_name)
    seconds = float(probe(cut).duration)
    with atomic_output(dest) as tmp:
        argv = cmd.delivery_cmd(ffmpeg, cut, tmp, preset=preset, rate=project.spec.rate, title=project.name)
        run(argv, path=dest, total_seconds=seconds)
    return dest


def media_metadata(info: MediaInfo) -> dict[str, Any]:
    """What a user wants to see about a file in the UI."""
    md: dict[str, Any] = {
        "path": info.path,
        "file_size_bytes": info.size,
        "duration_s": round(float(info.duration), 4),
    }
    if info.video:
        v = info.video
        md.update(
            resolution=f"{v.width}x{v.height}",
            fps=round(float(v.rate), 3) if v.rate else None,
            frames=v.frames,
            video_codec=f"{v.codec} {v.profile or ''}".strip(),
            pix_fmt=v.pix_fmt,
            color=f"{v.color_primaries}/{v.color_trc}/{v.colorspace}/{v.color_range}",
            duration_s=round(float(v.duration), 4),
        )
    if info.audio:
        a = info.audio[0]
        md.update(audio=f"{a.codec} {a.sample_rate} Hz {a.layout or a.channels}")
    return md


def seconds(frames: int, rate: Rate) -> float:
    return float(Fraction(frames) * rate.den / rate.num)


RunFactory = Callable[..., Run]


def metadata_safe(md: dict[str, Any]) -> dict[str, Any]:
    """Metadata a UI can show: non-finite floats (-inf LUFS of silence) as text, None dropped."""
    out: dict[str, Any] = {}
    for key, value in md.items():
        if value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        out[key] = value
    return out


def picture_report(res: PictureResult) -> dict[str, Any]:
    """What the conform did about the source, for the UI."""
    src = res.source.video if res.source else None
    md: dict[str, Any] = {}
    if src is not None:
        w, h = src.display_size
        md.update(
            source_display_size=f"{w}x{h}",
            source_sar=str(src.sar),
            source_rotation=src.rotation,
            source_field_order=src.field_order or "unknown",
            deinterlaced=src.interlaced,
        )
    if res.colour is not None:
        md.update(
            source_colour=res.colour.describe(),
            colour_conversion=res.colour.conversion(),
        )
    return md


def audio_report(res: AudioResult) -> dict[str, Any]:
    """Measured and resulting loudness, and what was done, for the UI."""
    return metadata_safe(
        {
            "mode": res.mode,
            "normalization_type": res.normalization_type,
            "source_lufs": res.measured_i,
            "source_true_peak_dbtp": res.measured_tp,
            "source_lra": res.measured_lra,
            "source_threshold_lufs": res.measured_thresh,
            "loudness_lufs": res.output_i,
            "true_peak_dbtp": res.output_tp,
            "gain_db": res.gain_db,
            "limiter_peak_reduction_db": res.peak_reduction_db,
            "apply_passes": res.passes,
            "start_offset_compensated_s": res.offset_s,
            "audio_tracks": res.tracks or None,
            "samples": res.samples,
            "notes": "; ".join(res.notes) or None,
        }
    )


def expected_cut_version(project: Project, timeline: Timeline, cache: FingerprintCache) -> str:
    """The cut's data version from its timeline: the shots' expected versions (placeholders are covered by the
    timeline's own version), the same arithmetic the cut asset does with the recorded ones."""
    pictures, audios = [], []
    for clip in timeline.clips:
        if not clip.placeholder:
            pv, av = expected_shot_versions(project, clip, cache)
            pictures.append(pv)
            audios.append(av)
    return cut_version(pictures, audios, timeline_version(timeline))


def expected_shot_versions(project: Project, clip: TimelineClip, cache: FingerprintCache) -> tuple[str, str]:
    """The picture and audio data versions a clip's shot must have been built at for the cut to use it."""
    path = Path(clip.source_path)
    if not path.is_file():
        raise MediaNotFoundError(f"shot {clip.shot}: {path} vanished since the timeline was built", path=path)
    fp = cache.fingerprint(path)
    return picture_version(fp, picture_spec_version(project)), audio_version(fp, audio_spec_version(project))
