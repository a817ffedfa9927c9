"""Probing through PyAV, so vidasm needs no system ffprobe."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av

from .errors import InvalidMediaError, MediaNotFoundError, MediaPermissionError
from .limits import check_readable

# FFmpeg's AVColorPrimaries, AVColorTransferCharacteristic and AVColorSpace (libavutil/pixfmt.h, the ITU-T H.273
# code points), named as ffprobe and av_color_*_name() name them (FFmpeg 8: libavutil 60, which PyAV ships). A number
# missing here is reported as its number (and refused by ``colour.py``), never mistaken for a known value.
_H273_COMMON = {
    0: "reserved",
    1: "bt709",
    2: "unknown",
    3: "reserved",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
}
"""Codes 0-7 of ITU-T H.273 mean the same standards for primaries and transfer (FFmpeg names them alike)."""
PRIMARIES = {
    **_H273_COMMON,
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
    256: "vgamut",
}
TRANSFERS = {
    **_H273_COMMON,
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
    256: "vlog",
}
MATRICES = {
    0: "gbr",
    1: "bt709",
    2: "unknown",
    3: "reserved",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    11: "smpte2085",
    12: "chroma-derived-nc",
    13: "chroma-derived-c",
    14: "ictcp",
    15: "ipt-c2",
    16: "ycgco-re",
    17: "ycgco-ro",
}
RANGES = {0: "unknown", 1: "tv", 2: "pc"}
FIELD_ORDERS = {0: "unknown", 1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
INTERLACED_ORDERS = ("tt", "bb", "tb", "bt")
STILL_CODECS = {"png", "mjpeg", "bmp", "tiff", "webp", "gif", "jpeg2000", "jpegls", "qoi", "dpx", "exr"}


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
    rotation: int = 0  # display rotation in degrees (set when the first frame was decoded)
    interlaced: bool = False  # field order says so, or the first decoded frame is interlaced
    alpha: bool = False  # an alpha channel: in the pixel format, or beside a VP8/VP9 picture (``has_alpha``)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as displayed: after the rotation FFmpeg applies on decode."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration: Fraction | None
    samples: int | None
    title: str = ""  # the stream's title tag ("Microphone"), if any
    language: str = ""


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format_name: str
    size: int
    duration: Fraction
    video: VideoInfo | None
    audio: list[AudioInfo] = field(default_factory=list)
    timecode: str | None = None
    start_time: Fraction = Fraction(0)  # the container's start (what FFmpeg subtracts from every stream)
    timecode_rate: Fraction | None = None  # the rate a QuickTime/MP4 timecode track counts at (None: no such track)

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)

    @property
    def video_offset(self) -> Fraction:
        """How far the picture starts after the file's start: the audio is shifted by this to stay in sync."""
        if self.video is None:
            return Fraction(0)
        return max(Fraction(0), self.video.start_time - self.start_time)


def _tag(metadata: Mapping[str, str], key: str) -> str | None:
    """A metadata tag by its lower-case name, in any case, as FFmpeg's ``av_dict_get`` finds it (Matroska's are
    upper case: ``TIMECODE``)."""
    return next((value for name, value in metadata.items() if name.lower() == key), None)


def _tag_duration(value: str | None) -> Fraction | None:
    """Matroska's per-stream ``DURATION`` tag (``00:00:01.000000000``)."""
    try:
        h, m, sec = (value or "").split(":")
        return int(h) * 3600 + int(m) * 60 + Fraction(sec)
    except ValueError:
        return None


def _stream_duration(stream: av.stream.Stream, container_duration: Fraction) -> Fraction:
    if stream.duration is not None and stream.time_base is not None:
        return Fraction(stream.duration) * stream.time_base
    # Matroska's DURATION tag is where the stream ends, so a stream that starts late is shorter than it
    tagged = _tag_duration(stream.metadata.get("DURATION") or stream.metadata.get("duration"))
    start = Fraction(stream.start_time or 0) * (stream.time_base or 0)
    if tagged is not None and tagged - start > 0:
        return tagged - start
    return container_duration


LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "4.1", 6: "5.1", 7: "6.1", 8: "7.1"}


def _layout_name(channels: int) -> str:
    """A name for the channel count. PyAV's own ``AudioLayout.name`` is not read: on a custom-order 7.1 layout
    (a MOV written by FFmpeg 5.1) it raises UnicodeDecodeError and then aborts the process (double free in
    av 18.1), which would kill a build on a valid render."""
    return LAYOUTS.get(channels, f"{channels} channels")


def _track_title(tags: dict[str, str]) -> str:
    """A track's name: MKV/MOV ``title``, MP4 ``name`` (udta), or a handler name a recorder set (not the muxers'
    defaults such as ``SoundHandler``)."""
    for key in ("title", "name"):
        if tags.get(key):
            return str(tags[key])
    handler = str(tags.get("handler_name") or "")
    return "" if not handler or "handler" in handler.lower() else handler


def _top_level_boxes(p: Path, limit: int = 64) -> list[str]:
    """ISO-BMFF top-level box types, read from the headers only (a few seeks, whatever the file size)."""
    kinds: list[str] = []
    try:
        with open(p, "rb") as fh:
            size = p.stat().st_size
            pos = 0
            while pos + 8 <= size and len(kinds) < limit:
                fh.seek(pos)
                head = fh.read(16)
                box = int.from_bytes(head[:4], "big")
                kind = head[4:8].decode("latin-1")
                if box == 1 and len(head) == 16:
                    box = int.from_bytes(head[8:16], "big")
                elif box == 0:
                    box = size - pos
                if box < 8 or not kind.isprintable():
                    break
                kinds.append(kind)
                pos += box
    except OSError:
        pass
    return kinds


BOX_LIMIT = 64
"""Top-level boxes read at most when looking for ``moov`` (fragmented files hold one moof + mdat per fragment)."""


def unfinished_mp4(path: Path) -> bool:
    """An MP4/MOV whose top-level boxes start like one (ftyp, wide, mdat, free, skip) but hold no ``moov`` yet:
    the index muxers write last (FFmpeg's mov/mp4 muxer without ``+faststart``; ISO/IEC 14496-12), so the file
    is still being written, or its writer died. Reads box headers only; False for other containers."""
    boxes = _top_level_boxes(path, limit=BOX_LIMIT)
    started = bool(boxes) and boxes[0] in ("ftyp", "wide", "mdat", "free", "skip")
    return started and "moov" not in boxes and len(boxes) < BOX_LIMIT  # past the limit: not known, so not unfinished


def _unreadable(p: Path, exc: Exception) -> InvalidMediaError:
    """Say what is wrong with a file FFmpeg cannot open, as precisely as the bytes allow."""
    if unfinished_mp4(p):
        return InvalidMediaError(
            f"{p}: truncated MP4/MOV: no moov atom (the index FFmpeg needs); the render did not finish writing",
            path=p,
        )
    reason = getattr(exc, "strerror", None) or str(exc)
    return InvalidMediaError(f"{p}: not a media file FFmpeg can read ({reason})", path=p)


def probe(path: str | Path, *, first_frame: bool = False) -> MediaInfo:
    """Describe a media file, raising a typed error that names it when it is not usable.

    Headers only, unless ``first_frame``: then the first picture is decoded too, for what only frames carry
    (display rotation, interlacing, colour tags missing from the headers) and to prove the picture decodes.
    """
    p = Path(path)
    check_readable(p)  # a FIFO would block av.open; a folder or unreadable file is said by name
    size = p.stat().st_size
    if size == 0:
        raise InvalidMediaError(f"{p}: file is empty (0 bytes): a copy that has not started writing, or a failed "
                                "export; remove it or wait for the copy", path=p)  # fmt: skip
    try:
        container = av.open(str(p), metadata_errors="ignore")
    except PermissionError as exc:
        raise MediaPermissionError(f"{p}: permission denied", path=p) from exc
    except FileNotFoundError as exc:
        raise MediaNotFoundError(f"{p}: file not found", path=p) from exc
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise _unreadable(p, exc) from exc
    with container:
        cdur = Fraction(container.duration or 0, 1_000_000)
        cstart = Fraction(container.start_time or 0, 1_000_000)
        timecode = _tag(container.metadata, "timecode")
        video = None
        vstreams = picture_streams(container)
        if vstreams:
            s = vstreams[0]
            cc = s.codec_context
            timecode = timecode or _tag(s.metadata, "timecode")
            rate = s.average_rate or s.guessed_rate or s.base_rate
            raw_order = int(getattr(cc, "field_order", 0) or 0)  # PyAV 17.1+; older: the first frame tells
            field_order = FIELD_ORDERS.get(raw_order, str(raw_order))
            colour = [int(cc.color_primaries), int(cc.color_trc), int(cc.colorspace), int(cc.color_range)]
            rotation, interlaced = 0, field_order in INTERLACED_ORDERS
            if first_frame:
                frame = _first_frame(container, s, p)
                rotation = round(frame.rotation or 0) % 360
                interlaced = interlaced or bool(frame.interlaced_frame)
                if frame.interlaced_frame and field_order not in INTERLACED_ORDERS:
                    field_order = _field_order_of_first_frame(p) or field_order
                got = [int(frame.color_primaries), int(frame.color_trc), int(frame.colorspace), int(frame.color_range)]
                # a tag missing from the headers but present on the frames (some containers drop them)
                unknown: tuple[tuple[int, ...], ...] = ((0, 2), (0, 2), (2,), (0,))
                colour = [g if c in u and g not in u else c for c, g, u in zip(colour, got, unknown, strict=True)]
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
                color_primaries=PRIMARIES.get(colour[0], str(colour[0])),
                color_trc=TRANSFERS.get(colour[1], str(colour[1])),
                colorspace=MATRICES.get(colour[2], str(colour[2])),
                color_range=RANGES.get(colour[3], str(colour[3])),
                field_order=field_order,
                start_time=Fraction(s.start_time or 0) * (s.time_base or 0),
                rotation=rotation,
                interlaced=interlaced,
                alpha=has_alpha(cc.name, cc.pix_fmt, s.metadata),
            )
        audio = []
        for a in container.streams.audio:
            audio.append(
                AudioInfo(
                    codec=a.codec_context.name,
                    sample_rate=int(a.sample_rate or 0),
                    channels=int(a.channels or 0),
                    layout=_layout_name(int(a.channels or 0)),
                    duration=_stream_duration(a, cdur) if a.duration or cdur else None,
                    samples=int(a.duration) if a.duration and a.time_base == Fraction(1, a.sample_rate) else None,
                    title=_track_title(a.metadata),
                    language=str(a.metadata.get("language") or "").replace("und", ""),
                )
            )
        fmt = container.format.name
    tc_rate = _timecode_track_rate(p) if timecode and "mov" in fmt else None
    return MediaInfo(str(p), fmt, size, cdur, video, audio, timecode, cstart, timecode_rate=tc_rate)


def _boxes(fh: BinaryIO, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """``(type, payload start, end)`` of the ISO-BMFF boxes between two file offsets, from their headers only."""
    pos = start
    while pos + 8 <= end:
        fh.seek(pos)
        head = fh.read(16)
        size, kind, header = int.from_bytes(head[:4], "big"), head[4:8].decode("latin-1"), 8
        if size == 1 and len(head) == 16:
            size, header = int.from_bytes(head[8:16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _timecode_track_rate(p: Path) -> Fraction | None:
    """The rate of a MOV/MP4 timecode track: time scale / frame duration of its ``tmcd`` sample description
    (Apple, QuickTime File Format, "Timecode sample description"), the rate FFmpeg labels its timecode at.
    PyAV does not expose it. None without a timecode track; a few header reads whatever the file size."""
    try:
        with open(p, "rb") as fh:
            moov = next(((a, b) for kind, a, b in _boxes(fh, 0, p.stat().st_size) if kind == "moov"), (0, 0))
            for kind, a, b in _boxes(fh, *moov):
                if kind != "trak":
                    continue
                for name in ("mdia", "minf", "stbl", "stsd"):
                    a, b = next(((x, y) for k, x, y in _boxes(fh, a, b) if k == name), (0, 0))
                if b - a >= 41:
                    fh.seek(a)
                    # stsd: version+flags, entry count; entry: size, format, 6 reserved, data ref index; tmcd:
                    # reserved, flags, time scale, frame duration, number of frames
                    stsd = fh.read(41)
                    scale, duration = int.from_bytes(stsd[32:36], "big"), int.from_bytes(stsd[36:40], "big")
                    if stsd[12:16] == b"tmcd" and scale > 0 and duration > 0:
                        return Fraction(scale, duration)
    except OSError:
        return None
    return None


def has_alpha(codec: str, pix_fmt: str | None, metadata: Mapping[str, str]) -> bool:
    """Whether a picture carries an alpha channel: its pixel format has an alpha component (ProRes 4444,
    QuickTime Animation, PNG, ...) or a palette (``pal8``: entries may be transparent), or it is VP8/VP9 whose
    Matroska/WebM track says ``alpha_mode`` 1. There the alpha travels beside the picture (BlockAdditional) and
    FFmpeg's native decoders, the ones it picks, drop it and report ``yuv420p``; only libvpx's decoders return it
    (measured, FFmpeg 5.1 and 9.0)."""
    if codec in ("vp8", "vp9") and _tag(metadata, "alpha_mode") == "1":
        return True
    if pix_fmt == "pal8":  # FFmpeg's palette entries are RGBA: a GIF's or PNG's transparent colour is alpha 0
        return True
    if not pix_fmt:
        return False
    try:
        return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)
    except ValueError:  # a format PyAV's FFmpeg does not know: nothing to say about it
        return False


def _first_frame(container: av.container.InputContainer, stream: av.stream.Stream, p: Path) -> av.VideoFrame:
    """Decode the first picture (a bounded number of packets), or say the picture does not decode."""
    try:
        for n, packet in enumerate(container.demux(stream)):
            for frame in packet.decode():
                return frame
            if n > 300:
                break
        for frame in stream.codec_context.decode(None):  # flush: a single-frame file decodes only now
            return frame
    except av.error.FFmpegError as exc:
        raise InvalidMediaError(f"{p}: its picture does not decode ({exc})", path=p) from exc
    raise InvalidMediaError(f"{p}: no picture decodes from its video stream", path=p)


def _field_order_of_first_frame(p: Path) -> str | None:
    """``tt`` or ``bb`` from FFmpeg's ``showinfo`` of the first frame (``i:T`` / ``i:B``), for an interlaced
    picture whose headers do not say (PyAV 17 exposes neither the codec's field order nor the frame's
    top-field-first flag). Only run for interlaced sources; None when FFmpeg cannot tell."""
    import subprocess

    from .ffmpeg_tool import select_ffmpeg

    argv = [select_ffmpeg().exe, "-hide_banner", "-nostdin", "-i", str(p), "-map", "0:V:0", "-vf", "showinfo",
            "-frames:v", "1", "-f", "null", "-"]  # fmt: skip
    try:
        out = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=60, check=False).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r" i:([TB]) ", out)
    return {"T": "tt", "B": "bb"}.get(m[1]) if m else None


def require_video(info: MediaInfo) -> VideoInfo:
    """A render must have a picture; audio-only files and stills are refused by name."""
    if info.video is None:
        what = "audio-only" if info.audio else "has no video stream"
        raise InvalidMediaError(f"{info.path}: not a video render ({what})", path=info.path)
    v = info.video
    image_demuxer = info.format_name.endswith("_pipe") or info.format_name in ("image2", "gif", "webp")
    if (v.codec in STILL_CODECS and v.frames <= 1) or image_demuxer or v.frames == 1:
        what = f"{v.codec} image" if v.codec in STILL_CODECS else f"a single {v.codec} frame"
        raise InvalidMediaError(
            f"{info.path}: a still image ({what}, {v.width}x{v.height}), not a video render", path=info.path
        )
    if v.duration <= 0:
        raise InvalidMediaError(f"{info.path}: video stream has no duration", path=info.path)
    return v


def picture_streams(container: Any) -> list[Any]:
    """A PyAV container's picture streams: its video streams but attached pictures (cover art), in file order; the
    first is the render's picture (``commands.PICTURE`` maps the same one in FFmpeg)."""
    return [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]


class StreamKind(str, Enum):
    VIDEO = "video"
    AUDIO = "audio"


def verify_complete(info: MediaInfo, kind: StreamKind = StreamKind.VIDEO) -> None:
    """Data that stops well short of what the header promises is a truncated render (a crashed writer that still
    got its index out, e.g. ``+faststart``). MP4/MOV: every sample's offset in the index must lie inside the
    file (no data read); other containers: the first ``kind`` stream is demuxed (not decoded) to its end."""
    p = Path(info.path)
    promised = info.video.duration if kind is StreamKind.VIDEO and info.video else None
    if kind is StreamKind.AUDIO and info.audio:
        promised = info.audio[0].duration
    if not promised:
        return
    end = None
    try:
        with av.open(str(p), metadata_errors="ignore") as c:
            s = picture_streams(c)[0] if kind is StreamKind.VIDEO else c.streams.audio[0]
            start = Fraction(s.start_time or 0) * (s.time_base or 0)
            entries = s.index_entries
            if "mov" in info.format_name and len(entries) and len(entries) >= (s.frames or 0):
                # MP4/MOV index every sample from the moov: no need to read the data to know it is all there
                size = p.stat().st_size
                missing = [e.timestamp for e in entries if e.pos + e.size > size]
                if not missing:
                    return
                end = Fraction(min(missing)) * s.time_base
            for packet in c.demux(s) if end is None else ():
                if packet.pts is not None and packet.time_base is not None:
                    t = Fraction(packet.pts + (packet.duration or 0)) * packet.time_base
                    end = t if end is None or t > end else end
    except FileNotFoundError as exc:
        raise MediaNotFoundError(f"{p}: file not found", path=p) from exc
    except av.error.FFmpegError:
        pass  # what was read before the error is what counts
    got = (end - start) if end is not None else Fraction(0)
    if promised - got > max(Fraction(1, 4), promised / 100):
        raise InvalidMediaError(
            f"{p}: truncated: its {kind.value} data ends at {float(got):.2f} s but the header says "
            f"{float(promised):.2f} s (the render did not finish writing)",
            path=p,
        )


def video_frames(path: str | Path, info: MediaInfo | None = None) -> int:
    """The number of pictures in ``path``'s first video stream: the container's count when it keeps one (MOV/MP4
    index every sample), else counted by demuxing its packets, no decoding (Matroska/WebM keep no count). 0 when
    there is no video. Raises ``InvalidMediaError`` naming the file when it cannot be read."""
    info = info or probe(path)
    if not info.video:
        return 0
    if info.video.frames:
        return info.video.frames
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            s = picture_streams(c)[0]
            return sum(1 for pk in c.demux(s) if pk.size)
    except av.error.FFmpegError as exc:
        raise _unreadable(Path(path), exc) from exc
