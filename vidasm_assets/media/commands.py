"""Pure FFmpeg command builders: argument lists, never shell strings.

The conform encodes each shot once with the settings the ``web`` delivery needs, so the cut is a stream
copy and the web delivery only muxes the video and encodes AAC once. Audio intermediates are PCM: the media
findings show AAC intermediates drift ~27 ms per join.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .rates import AUDIO_RATE, Rate

BASE = ("-hide_banner", "-nostdin", "-y")
BT709_TAGS = (
    "-color_primaries",
    "bt709",
    "-color_trc",
    "bt709",
    "-colorspace",
    "bt709",
    "-color_range",
    "tv",
)


@dataclass(frozen=True)
class X264:
    """H.264 encoder settings shared by the conform and the web delivery."""

    preset: str = "medium"
    crf: int = 20
    profile: str = "high"
    gop_seconds: int = 2

    def args(self, rate: Rate) -> list[str]:
        gop = max(1, rate.nominal * self.gop_seconds)
        return [
            "-c:v",
            "libx264",
            "-profile:v",
            self.profile,
            "-preset",
            self.preset,
            "-crf",
            str(self.crf),
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(gop),
            "-keyint_min",
            str(gop),
            "-sc_threshold",
            "0",
            "-flags",
            "+cgop",
        ]


CONFORM_X264 = X264()


def progress_args() -> list[str]:
    """Machine-readable progress on stdout; stats off so stderr stays readable."""
    return ["-progress", "pipe:1", "-nostats", "-stats_period", "0.5"]


def picture_filter(width: int, height: int, rate: Rate, frames: int, sar: Fraction = Fraction(1)) -> str:
    """Timeline size with aspect kept (letter/pillarbox), square pixels, CFR, exactly ``frames`` frames."""
    chain = []
    if sar != 1:
        chain.append("scale=w='trunc(iw*sar/2)*2':h=ih,setsar=1")
    chain += [
        f"fps={rate.ffmpeg}",
        f"scale=w={width}:h={height}:force_original_aspect_ratio=decrease:force_divisible_by=2"
        ":flags=lanczos:out_color_matrix=bt709:out_range=tv",
        f"pad=w={width}:h={height}:x=(ow-iw)/2:y=(oh-ih)/2:color=black",
        "setsar=1",
        "tpad=stop_mode=clone:stop=-1",
        f"trim=end_frame={frames}",
        "setpts=PTS-STARTPTS",
        "format=yuv420p",
        "setparams=field_mode=prog:range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709",
    ]
    return ",".join(chain)


def conform_picture_cmd(
    ffmpeg: str,
    src: Path,
    dst: Path,
    *,
    width: int,
    height: int,
    rate: Rate,
    frames: int,
    sar: Fraction = Fraction(1),
    x264: X264 = CONFORM_X264,
) -> list[str]:
    """Video-only MOV at the timeline size and rate, BT.709-tagged, closed GOP, fixed time scale."""
    return [
        ffmpeg, *BASE, *progress_args(),
        "-i", str(src),
        "-map", "0:v:0", "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
        "-vf", picture_filter(width, height, rate, frames, sar),
        *x264.args(rate),
        *BT709_TAGS,
        "-video_track_timescale", str(rate.timescale),
        "-f", "mov", str(dst),
    ]  # fmt: skip


def audio_prep_filter() -> str:
    """48 kHz stereo (downmixing 5.1/7.1, upmixing mono) before measuring or applying loudness."""
    return f"aresample={AUDIO_RATE},aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts=stereo"


def loudness_measure_cmd(ffmpeg: str, src: Path, *, target_i: float, target_tp: float, lra: float) -> list[str]:
    """First loudnorm pass: measure only; the JSON lands on stderr."""
    return [
        ffmpeg, *BASE, "-i", str(src), "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-af", f"{audio_prep_filter()},loudnorm=I={target_i:g}:TP={target_tp:g}:LRA={lra:g}:print_format=json",
        "-f", "null", "-",
    ]  # fmt: skip


@dataclass(frozen=True)
class LoudnessMeasurement:
    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float


def loudnorm_apply_filter(target_i: float, target_tp: float, lra: float, m: LoudnessMeasurement) -> str:
    return (
        f"loudnorm=I={target_i:g}:TP={target_tp:g}:LRA={lra:g}"
        f":measured_I={m.input_i:.2f}:measured_TP={m.input_tp:.2f}:measured_LRA={m.input_lra:.2f}"
        f":measured_thresh={m.input_thresh:.2f}:offset={m.target_offset:.2f}:linear=true:print_format=json"
    )


def target_lra(measured_lra: float) -> float:
    """An LRA target at least the source's, so loudnorm can stay linear (no dynamics change)."""
    return float(max(7, min(50, int(measured_lra) + 2)))


def normalize_audio_cmd(
    ffmpeg: str,
    src: Path,
    dst: Path,
    *,
    samples: int,
    target_i: float,
    target_tp: float,
    measurement: LoudnessMeasurement,
) -> list[str]:
    """Second pass: apply measured loudness, then pad/trim to exactly ``samples`` at 48 kHz (PCM WAV)."""
    lra = target_lra(measurement.input_lra)
    chain = ",".join(
        [
            audio_prep_filter(),
            loudnorm_apply_filter(target_i, target_tp, lra, measurement),
            f"aresample={AUDIO_RATE}",
            "apad",
            f"atrim=end_sample={samples}",
            "asetpts=PTS-STARTPTS",
        ]
    )
    return [
        ffmpeg, *BASE, *progress_args(), "-i", str(src), "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-map_metadata", "-1", "-af", chain,
        "-c:a", "pcm_s24le", "-ar", str(AUDIO_RATE), "-ac", "2", "-f", "wav", str(dst),
    ]  # fmt: skip


def pcm_fit_cmd(ffmpeg: str, src: Path, dst: Path, *, samples: int) -> list[str]:
    """Audio that cannot be measured (silent source): keep it as is, fitted to the exact length."""
    chain = f"{audio_prep_filter()},apad,atrim=end_sample={samples},asetpts=PTS-STARTPTS"
    return [
        ffmpeg, *BASE, *progress_args(), "-i", str(src), "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-map_metadata", "-1", "-af", chain,
        "-c:a", "pcm_s24le", "-ar", str(AUDIO_RATE), "-ac", "2", "-f", "wav", str(dst),
    ]  # fmt: skip


def silence_cmd(ffmpeg: str, dst: Path, *, samples: int) -> list[str]:
    """Exact-length stereo silence for a shot whose render has no audio."""
    return [
        ffmpeg, *BASE, "-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo",
        "-af", f"atrim=end_sample={samples}", "-c:a", "pcm_s24le", "-f", "wav", str(dst),
    ]  # fmt: skip


def concat_list(paths: list[Path]) -> str:
    """A concat-demuxer list; single quotes in paths are escaped the way the demuxer expects."""
    lines = ["ffconcat version 1.0"]
    for p in paths:
        quoted = str(Path(p).resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    return "\n".join(lines) + "\n"


def assemble_cmd(ffmpeg: str, video_list: Path, audio_list: Path, dst: Path, *, rate: Rate) -> list[str]:
    """Join pictures and PCM audio by stream copy: no re-encode, exact joins."""
    return [
        ffmpeg, *BASE, *progress_args(),
        "-f", "concat", "-safe", "0", "-i", str(video_list),
        "-f", "concat", "-safe", "0", "-i", str(audio_list),
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
        "-video_track_timescale", str(rate.timescale), "-map_metadata", "-1",
        "-f", "mov", str(dst),
    ]  # fmt: skip


@dataclass(frozen=True)
class DeliveryPreset:
    """A delivery: ``video=None`` means stream-copy the cut's video (it was encoded to this spec)."""

    name: str
    extension: str
    video: X264 | None
    max_height: int | None
    audio_bitrate: str
    description: str


PRESETS: dict[str, DeliveryPreset] = {
    "web": DeliveryPreset(
        "web", "mp4", None, None, "192k", "H.264 High + AAC 192k in MP4 with +faststart, at timeline size"
    ),
    "review": DeliveryPreset(
        "review", "mp4", X264(preset="veryfast", crf=26), 540, "128k",
        "small H.264 + AAC review copy, at most 540 lines high",
    ),
}  # fmt: skip


def delivery_cmd(
    ffmpeg: str, cut: Path, dst: Path, *, preset: DeliveryPreset, rate: Rate, title: str = ""
) -> list[str]:
    """Encode a delivery once from the cut; the web preset copies the already-H.264 picture."""
    if preset.video is None:
        video = ["-c:v", "copy"]
    else:
        h = preset.max_height or 100000
        video = [
            "-vf", f"scale=w=-2:h='min({h},ih)':flags=lanczos:out_color_matrix=bt709:out_range=tv,setsar=1",
            *preset.video.args(rate), *BT709_TAGS,
        ]  # fmt: skip
    return [
        ffmpeg, *BASE, *progress_args(), "-i", str(cut),
        "-map", "0:v:0", "-map", "0:a:0", *video,
        "-c:a", "aac", "-b:a", preset.audio_bitrate, "-ar", str(AUDIO_RATE), "-ac", "2",
        "-video_track_timescale", str(rate.timescale),
        "-map_metadata", "-1", "-metadata", f"title={title}", "-tag:v", "avc1",
        "-movflags", "+faststart", "-f", "mp4", str(dst),
    ]  # fmt: skip


def ebur128_cmd(ffmpeg: str, src: Path) -> list[str]:
    """Measure integrated loudness and true peak (the check, independent of loudnorm's estimate)."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-i", str(src), "-map", "0:a:0", "-vn",
        "-af", "ebur128=peak=true", "-f", "null", "-",
    ]  # fmt: skip
