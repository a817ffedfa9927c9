"""The build steps and the make-like version arithmetic, free of Dagster.

Each step takes a ``Run`` callable (FFmpeg runner) so the Dagster resource, the CLI and the benchmarks
share one implementation. Data versions are hashes of exactly what a step's output depends on: the
selected take's content, the settings that step uses, and the step's code version.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import opentimelineio as otio

from . import commands as cmd
from .errors import InvalidMediaError, MediaNotFoundError, VidasmError
from .parsers import parse_ebur128_summary, parse_loudness_measurement, parse_loudnorm_result
from .probe import MediaInfo, probe, require_video
from .project import FingerprintCache, Project, Take, stable_hash
from .rates import Rate
from .runner import atomic_output, write_text_atomic
from .timeline import Timeline, TimelineClip

# Code versions: bump one when its step's output changes for the same inputs; everything after it goes stale.
PICTURE_VERSION = "picture-1"
AUDIO_VERSION = "audio-1"
TIMELINE_VERSION = "timeline-1"
CUT_VERSION = "cut-1"
EDL_VERSION = "edl-1"
OTIO_VERSION = "otio-1"
DELIVERY_VERSION = "delivery-1"

SILENCE_LUFS = -70.0


class Run(Protocol):
    def __call__(self, argv: list[str], *, path: Path | str | None = ..., total_seconds: float | None = ...) -> str: ...


# ---------------------------------------------------------------- versions


def picture_spec_version(project: Project) -> str:
    s = project.spec
    return stable_hash("picture", s.resolution, [project.spec.rate.num, project.spec.rate.den])


def audio_spec_version(project: Project) -> str:
    s = project.spec
    return stable_hash("audio", s.audio.loudness_lufs, s.audio.true_peak_db, [s.rate.num, s.rate.den])


def edit_spec_version(project: Project) -> str:
    refs = [[r.shot, r.take, r.scene, r.beat, r.notes] for r in project.sequence()]
    ed = project.spec.editorial
    return stable_hash("edit", refs, [project.spec.rate.num, project.spec.rate.den], ed.edl_style, ed.record_start)


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
    return (cache or FingerprintCache()).fingerprint(take.path)


# ---------------------------------------------------------------- shots


def shot_frames(info: MediaInfo, rate: Rate) -> int:
    """The shot's length in timeline frames: its frame count at the same rate, else its duration."""
    v = require_video(info)
    if v.frames and v.rate == rate.fraction:
        return v.frames
    frames = rate.seconds_to_frames(v.duration)
    if frames < 1:
        raise InvalidMediaError(f"{info.path}: shorter than one frame at {rate} fps", path=info.path)
    return frames


def source_start_frames(info: MediaInfo, rate: Rate) -> int:
    """The render's start timecode in timeline frames (0 when it carries none)."""
    if not info.timecode:
        return 0
    try:
        return int(otio.opentime.from_timecode(info.timecode, rate.fps).to_frames())
    except Exception:
        return 0


@dataclass(frozen=True)
class PictureResult:
    path: Path
    frames: int
    info: MediaInfo


def conform_picture(run: Run, ffmpeg: str, project: Project, take: Take, info: MediaInfo) -> PictureResult:
    rate = project.spec.rate
    width, height = project.spec.size
    frames = shot_frames(info, rate)
    video = require_video(info)
    dest = project.picture_path(take.path.parent.name)
    with atomic_output(dest) as tmp:
        argv = cmd.conform_picture_cmd(
            ffmpeg, take.path, tmp, width=width, height=height, rate=rate, frames=frames, sar=video.sar
        )
        run(argv, path=take.path, total_seconds=float(rate.frames_to_seconds(frames)))
        out = probe(tmp)
        got = out.video.frames if out.video else 0
        if got != frames:
            raise InvalidMediaError(f"{take.path}: conform produced {got} frames, expected {frames}", path=take.path)
    return PictureResult(dest, frames, probe(dest))


@dataclass(frozen=True)
class AudioResult:
    path: Path
    samples: int
    mode: str  # normalized | silence (no audio stream) | silent-source (nothing to normalize)
    measured_i: float | None = None
    measured_tp: float | None = None
    measured_lra: float | None = None
    output_i: float | None = None
    output_tp: float | None = None
    normalization_type: str | None = None


def normalize_audio(run: Run, ffmpeg: str, project: Project, take: Take, info: MediaInfo, frames: int) -> AudioResult:
    """Two-pass EBU R128 loudnorm to 48 kHz stereo PCM of exactly the picture's length."""
    rate = project.spec.rate
    samples = rate.samples_for_frames(frames)
    dest = project.audio_path(take.path.parent.name)
    seconds = float(rate.frames_to_seconds(frames))
    if not info.has_audio:
        with atomic_output(dest) as tmp:
            run(cmd.silence_cmd(ffmpeg, tmp, samples=samples), path=take.path, total_seconds=seconds)
        return AudioResult(dest, samples, "silence")
    target_i = project.spec.audio.loudness_lufs
    target_tp = project.spec.audio.true_peak_db
    err = run(
        cmd.loudness_measure_cmd(ffmpeg, take.path, target_i=target_i, target_tp=target_tp, lra=7),
        path=take.path,
    )
    m = parse_loudness_measurement(err)
    with atomic_output(dest) as tmp:
        if not math.isfinite(m.input_i) or m.input_i <= SILENCE_LUFS:
            run(
                cmd.pcm_fit_cmd(ffmpeg, take.path, tmp, samples=samples),
                path=take.path,
                total_seconds=seconds,
            )
            return_mode = "silent-source"
            res = None
        else:
            argv = cmd.normalize_audio_cmd(
                ffmpeg, take.path, tmp, samples=samples, target_i=target_i, target_tp=target_tp, measurement=m
            )
            res = parse_loudnorm_result(run(argv, path=take.path, total_seconds=seconds))
            return_mode = "normalized"
    return AudioResult(
        dest,
        samples,
        return_mode,
        measured_i=m.input_i,
        measured_tp=m.input_tp,
        measured_lra=m.input_lra,
        output_i=res.output_i if res else None,
        output_tp=res.output_tp if res else None,
        normalization_type=res.normalization_type if res else None,
    )


def measure_loudness(run: Run, ffmpeg: str, path: Path) -> tuple[float, float | None]:
    """Integrated loudness and true peak by ebur128 (independent of loudnorm's own estimate)."""
    s = parse_ebur128_summary(run(cmd.ebur128_cmd(ffmpeg, path), path=path))
    return s.integrated, s.true_peak


# ---------------------------------------------------------------- project level


def build_timeline(project: Project, probes: dict[str, MediaInfo] | None = None) -> Timeline:
    """Probe each selected take (headers only) and lay the shots out in story order."""
    rate = project.spec.rate
    width, height = project.spec.size
    clips = []
    for ref in project.sequence():
        take = project.select_take(ref.shot)
        info = (probes or {}).get(ref.shot) or probe(take.path)
        clips.append(
            TimelineClip(
                shot=ref.shot,
                take=take.label,
                clip_name=take.name,
                source_path=str(take.path),
                frames=shot_frames(info, rate),
                source_start_frame=source_start_frames(info, rate),
                scene=ref.scene,
                beat=ref.beat,
                notes=ref.notes,
            )
        )
    if not clips:
        raise VidasmError(f"project {project.name}: no shots to assemble in {project.renders_dir}", path=project.root)
    record_start = project.spec.editorial.record_start
    return Timeline(project.name, rate, tuple(clips), record_start=record_start, width=width, height=height)


def assemble_cut(run: Run, ffmpeg: str, project: Project, timeline: Timeline) -> Path:
    """Join every shot's picture and audio by stream copy, checking each is there and the right length."""
    pictures, audios = [], []
    for clip in timeline.clips:
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
        pictures.append(pic)
        audios.append(aud)
    dest = project.cut_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        vlist, alist = tmp.with_suffix(".video.txt"), tmp.with_suffix(".audio.txt")
        try:
            vlist.write_text(cmd.concat_list(pictures))
            alist.write_text(cmd.concat_list(audios))
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


def deliver(run: Run, ffmpeg: str, project: Project, preset_name: str, timeline: Timeline) -> Path:
    preset = cmd.PRESETS[preset_name]
    cut = project.cut_path()
    if not cut.is_file():
        raise MediaNotFoundError(f"{cut}: the cut is missing; assemble it first", path=cut)
    dest = project.delivery_path(preset_name)
    seconds = float(timeline.rate.frames_to_seconds(timeline.total_frames))
    with atomic_output(dest) as tmp:
        argv = cmd.delivery_cmd(ffmpeg, cut, tmp, preset=preset, rate=timeline.rate, title=project.name)
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
