"""Probing through PyAV, so vidasm needs no system ffprobe."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from .errors import InvalidMediaError, MediaNotFoundError, MediaPermissionError

PRIMARIES = {1: "bt709", 2: "unknown", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020"}
TRANSFERS = {
    1: "bt709",
    2: "unknown",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    18: "arib-std-b67",
}
MATRICES = {
    0: "gbr",
    1: "bt709",
    2: "unknown",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    9: "bt2020nc",
    10: "bt2020c",
}
RANGES = {0: "unknown", 1: "tv", 2: "pc"}


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    pix_fmt: str | None
    rate: Fraction | None
    frames: int
    duration: Fraction
    sar: Fraction
    profile: str | None
    color_primaries: str
    color_trc: str
    colorspace: str
    color_range: str
    field_order: str | None
    start_time: Fraction


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration: Fraction | None
    samples: int | None


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format_name: str
    size: int
    duration: Fraction
    video: VideoInfo | None
    audio: list[AudioInfo] = field(default_factory=list)
    timecode: str | None = None

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)


def _stream_duration(stream: av.stream.Stream, container_duration: Fraction) -> Fraction:
    if stream.duration is not None and stream.time_base is not None:
        return Fraction(stream.duration) * stream.time_base
    return container_duration


def probe(path: str | Path) -> MediaInfo:
    """Describe a media file, raising a typed error that names it when it is not usable."""
    p = Path(path)
    if not p.exists():
        raise MediaNotFoundError(f"{p}: file not found", path=p)
    size = p.stat().st_size
    if size == 0:
        raise InvalidMediaError(f"{p}: file is empty (0 bytes)", path=p)
    try:
        container = av.open(str(p), metadata_errors="ignore")
    except PermissionError as exc:
        raise MediaPermissionError(f"{p}: permission denied", path=p) from exc
    except FileNotFoundError as exc:
        raise MediaNotFoundError(f"{p}: file not found", path=p) from exc
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InvalidMediaError(f"{p}: not readable media ({exc})", path=p) from exc
    with container:
        cdur = Fraction(container.duration or 0, 1_000_000)
        timecode = container.metadata.get("timecode")
        video = None
        vstreams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
        if vstreams:
            s = vstreams[0]
            cc = s.codec_context
            timecode = timecode or s.metadata.get("timecode")
            rate = s.average_rate or s.guessed_rate or s.base_rate
            video = VideoInfo(
                codec=cc.name,
                width=cc.width,
                height=cc.height,
                pix_fmt=cc.pix_fmt,
                rate=Fraction(rate) if rate else None,
                frames=int(s.frames or 0),
                duration=_stream_duration(s, cdur),
                sar=Fraction(s.sample_aspect_ratio) if s.sample_aspect_ratio else Fraction(1),
                profile=cc.profile,
                color_primaries=PRIMARIES.get(int(cc.color_primaries), str(cc.color_primaries)),
                color_trc=TRANSFERS.get(int(cc.color_trc), str(cc.color_trc)),
                colorspace=MATRICES.get(int(cc.colorspace), str(cc.colorspace)),
                color_range=RANGES.get(int(cc.color_range), str(cc.color_range)),
                field_order=str(cc.field_order) if getattr(cc, "field_order", None) is not None else None,
                start_time=Fraction(s.start_time or 0) * (s.time_base or 0),
            )
        audio = []
        for a in container.streams.audio:
            audio.append(
                AudioInfo(
                    codec=a.codec_context.name,
                    sample_rate=int(a.sample_rate or 0),
                    channels=int(a.channels or 0),
                    layout=a.layout.name if a.layout else "",
                    duration=_stream_duration(a, cdur) if a.duration or cdur else None,
                    samples=int(a.duration) if a.duration and a.time_base == Fraction(1, a.sample_rate) else None,
                )
            )
        fmt = container.format.name
    return MediaInfo(str(p), fmt, size, cdur, video, audio, timecode)


def require_video(info: MediaInfo) -> VideoInfo:
    """A render must have a picture; audio-only files and stills are refused by name."""
    if info.video is None:
        what = "audio-only" if info.audio else "has no video stream"
        raise InvalidMediaError(f"{info.path}: not a video render ({what})", path=info.path)
    v = info.video
    if v.codec in {"png", "mjpeg", "bmp", "tiff", "webp", "gif"} and v.frames <= 1:
        raise InvalidMediaError(f"{info.path}: a still image ({v.codec}), not a video render", path=info.path)
    if v.duration <= 0:
        raise InvalidMediaError(f"{info.path}: video stream has no duration", path=info.path)
    return v
