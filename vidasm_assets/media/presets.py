"""Delivery presets: what each delivery's picture and sound are encoded to, built in or defined by a project.

A preset's picture is encoded once per shot, from the render through the conform's filters (one generation),
into a *segment*; the delivery joins its segments by stream copy and encodes the sound once from the cut's
sample-exact PCM. So every setting that reaches the bitstream is fixed per preset (closed GOP of a fixed length,
no scene-cut keyframes, the same encoder options for every shot): segments join without re-encoding, and the
join refuses segments whose codec parameters differ (``checks.segment_mismatches``).

References for the built-in settings: ASWF EncodingGuidelines (ProRes, DNxHR, HEVC, VP9 and AV1 settings),
YouTube's upload recommendations (H.264 High, closed GOP of half the frame rate, 2 B-frames, AAC-LC 48 kHz,
faststart, about 8 Mb/s at 1080p24-30 and 12 Mb/s at high frame rates), AYON's review burn-ins (shot, version,
timecode, frame counter; all-intra for frame-accurate scrubbing); shared/notes/media-findings.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from .fields import FieldError, count, number
from .rates import Rate


class Container(str, Enum):
    MP4 = "mp4"
    MOV = "mov"
    MXF = "mxf"
    MKV = "mkv"
    WEBM = "webm"
    WAV = "wav"


VIDEO_CODECS: Mapping[str, dict[str, Any]] = {
    # encoder -> what vidasm knows of it: the codec it writes, its pixel formats, and how it is rate-controlled
    "libx264": {"codec": "h264", "pix_fmts": ("yuv420p", "yuv422p", "yuv420p10le"), "crf": True},
    "libx265": {"codec": "hevc", "pix_fmts": ("yuv420p", "yuv420p10le", "yuv422p10le"), "crf": True},
    "prores_ks": {"codec": "prores", "pix_fmts": ("yuv422p10le", "yuv444p10le"), "crf": False},
    "dnxhd": {"codec": "dnxhd", "pix_fmts": ("yuv422p", "yuv422p10le", "yuv444p10le"), "crf": False},
    "libvpx-vp9": {"codec": "vp9", "pix_fmts": ("yuv420p", "yuv420p10le"), "crf": True},
    "libsvtav1": {"codec": "av1", "pix_fmts": ("yuv420p", "yuv420p10le"), "crf": True},
}
AUDIO_CODECS: Mapping[str, dict[str, Any]] = {
    "aac": {"lossy": True},
    "libopus": {"lossy": True},
    "pcm_s24le": {"lossy": False},
    "pcm_s16le": {"lossy": False},
}
CONTAINER_CODECS: Mapping[Container, tuple[set[str], set[str]]] = {
    Container.MP4: ({"libx264", "libx265", "libsvtav1", "libvpx-vp9"}, {"aac", "libopus"}),
    Container.MOV: ({"libx264", "libx265", "prores_ks", "dnxhd"}, {"aac", "pcm_s24le", "pcm_s16le"}),
    Container.MXF: ({"dnxhd"}, {"pcm_s24le", "pcm_s16le"}),
    Container.MKV: (set(VIDEO_CODECS), set(AUDIO_CODECS)),
    Container.WEBM: ({"libvpx-vp9", "libsvtav1"}, {"libopus"}),
    Container.WAV: (set(), {"pcm_s24le", "pcm_s16le"}),
}
"""Which encoders each container takes (what its muxer accepts in FFmpeg and players expect)."""
HARDWARE = ("none", "auto", "nvenc", "qsv", "vaapi", "videotoolbox")
_BITRATE = re.compile(r"^\d+(\.\d+)?[kKM]$", re.ASCII)
WEB_MAXRATE_1080P = 8_000_000
"""YouTube's recommendation for 1080p at 24-30 fps, in bit/s; scaled by pixels, x1.5 above 30 fps."""


def _one_of(value: str, allowed: Iterable[str], what: str) -> str:
    """``value`` when it is one of ``allowed``; else a ValueError naming the choices (pydantic reports it)."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; use one of {', '.join(allowed)}")
    return value


def _bitrate(value: str | None, what: str) -> str | None:
    if value is not None and not _BITRATE.fullmatch(value):
        raise ValueError(f"{what} {value!r} needs a unit: like '8M' or '192k' (bits per second)")
    return value


class VideoSpec(BaseModel):
    """A preset's picture (project.json ``presets.<name>.video``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    codec: str
    profile: str | None = None  # libx264: high; prores_ks: 0-5 (3 = 422 HQ); dnxhd: dnxhr_hq...
    pix_fmt: str = "yuv420p"
    crf: Annotated[int, count(0, 63)] | None = None
    bitrate: str | None = None  # "20M": a target bitrate (ProRes/DNxHR ignore it: their profile sets it)
    maxrate: str | None = None  # "8M" with bufsize: a VBV cap ("auto": scaled from 8 Mb/s at 1080p)
    bufsize: str | None = None
    gop_seconds: Annotated[float, number(0, 10, "seconds", above=True)] = (
        1.0  # closed GOP of this length; 0 < g: all-intra when intra=True
    )
    intra: bool = False  # every frame a keyframe (review scrubbing; ProRes/DNxHR always are)
    bframes: Annotated[int, count(0, 16, "B-frames")] | None = None
    preset: str | None = None  # x264/x265 speed preset; SVT-AV1 preset number as text
    max_height: Annotated[int, count(16, 8192, "lines")] | None = (
        None  # scaled down (aspect kept) to at most this many lines
    )
    tag: str | None = None  # codec tag in MP4/MOV, e.g. hvc1
    vendor: str | None = None  # ProRes vendor, e.g. apl0
    hardware: Literal["none", "auto", "nvenc", "qsv", "vaapi", "videotoolbox"] = "none"

    @field_validator("codec")
    @classmethod
    def _codec(cls, v: str) -> str:
        return _one_of(v, VIDEO_CODECS, "video codec")

    @field_validator("bitrate", "maxrate", "bufsize")
    @classmethod
    def _rates(cls, v: str | None, info: Any) -> str | None:
        return v if v == "auto" and info.field_name == "maxrate" else _bitrate(v, info.field_name)

    @field_validator("max_height")
    @classmethod
    def _even(cls, v: int | None) -> int | None:
        if v is not None and v % 2:
            raise ValueError(f"max_height {v} must be even")
        return v

    @field_validator("pix_fmt")
    @classmethod
    def _pix_fmt(cls, v: str, info: ValidationInfo) -> str:
        known = VIDEO_CODECS.get(info.data.get("codec", ""))
        if known and v not in known["pix_fmts"]:
            allowed = ", ".join(known["pix_fmts"])
            raise ValueError(f"pix_fmt {v!r} is not one {info.data['codec']} writes here; use one of {allowed}")
        return v

    @field_validator("crf")
    @classmethod
    def _crf(cls, v: int | None, info: ValidationInfo) -> int | None:
        known = VIDEO_CODECS.get(info.data.get("codec", ""))
        if v is not None and known and not known["crf"]:
            raise ValueError(f"{info.data['codec']} has no crf; its profile sets the quality")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> VideoSpec:
        if (self.maxrate is None) != (self.bufsize is None) and self.maxrate != "auto":
            missing = "bufsize" if self.bufsize is None else "maxrate"
            raise FieldError([missing], "maxrate and bufsize go together (a VBV cap needs both)")
        return self


class AudioSpec(BaseModel):
    """A preset's sound (project.json ``presets.<name>.audio``): encoded once from the cut's 48 kHz PCM."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    codec: str = "aac"
    bitrate: str | None = "192k"
    channels: Literal[1, 2] = 2

    @field_validator("codec")
    @classmethod
    def _codec(cls, v: str) -> str:
        return _one_of(v, AUDIO_CODECS, "audio codec")

    @field_validator("bitrate")
    @classmethod
    def _rate(cls, v: str | None) -> str | None:
        return _bitrate(v, "bitrate")


class PresetSpec(BaseModel):
    """A delivery preset as project.json (``presets``) or the workspace's ``presets.json`` writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    container: Container
    video: VideoSpec | None = None  # None: sound only (stems)
    audio: AudioSpec = AudioSpec()
    burn_ins: bool = False  # project, shot and take, source and record timecode, frame counter
    description: str = ""

    @model_validator(mode="after")
    def _fits(self) -> PresetSpec:
        vcodecs, acodecs = CONTAINER_CODECS[self.container]
        if self.video is None and self.container is not Container.WAV:
            raise FieldError(["video"], f"a {self.container.value} preset needs a video section (only wav is sound "
                             "only)")  # fmt: skip
        if self.video is not None and self.video.codec not in vcodecs:
            allowed = ", ".join(sorted(vcodecs)) or "none (sound only)"
            raise FieldError(["video", "codec"], f"container {self.container.value} does not take "
                             f"{self.video.codec}; use {allowed}")  # fmt: skip
        if self.audio.codec not in acodecs:
            raise FieldError(["audio", "codec"], f"container {self.container.value} does not take "
                             f"{self.audio.codec}; use {', '.join(sorted(acodecs))}")  # fmt: skip
        if self.burn_ins and self.video is None:
            raise FieldError(["burn_ins"], "burn_ins need a picture")
        return self


@dataclass(frozen=True)
class Preset:
    """A named preset: its spec, and where it came from (``builtin``, ``project.json``, ``presets.json``)."""

    name: str
    spec: PresetSpec
    origin: str = "builtin"
    reference: str = ""

    @property
    def extension(self) -> str:
        return self.spec.container.value

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def segment_muxer(self) -> tuple[str, str]:
        """(FFmpeg muxer, extension) of this preset's per-shot segments: MOV (one exact time scale), Matroska for
        VP9 and AV1 (MOV does not carry them)."""
        video = self.spec.video
        if video is not None and video.codec in ("libvpx-vp9", "libsvtav1"):
            return "matroska", "mkv"
        return "mov", "mov"

    def settings(self) -> dict[str, Any]:
        """What a segment's and a delivery's data versions depend on: every setting (not the description)."""
        return self.spec.model_dump(mode="json", exclude={"description"})


BUILTIN: dict[str, tuple[dict[str, Any], str]] = {
    "web": (
        {"container": "mp4", "video": {"codec": "libx264", "profile": "high", "pix_fmt": "yuv420p", "crf": 20,
                                       "maxrate": "auto", "gop_seconds": 0.5, "bframes": 2, "preset": "medium"},
         "audio": {"codec": "aac", "bitrate": "192k"},
         "description": "H.264 High yuv420p, CRF 20 capped at ~8 Mb/s (1080p24-30, scaled by size and rate), closed "
                        "GOP of half a second, AAC-LC 48 kHz, +faststart, no edit lists"},
        "YouTube upload recommendations",
    ),
    "master": (
        {"container": "mov", "video": {"codec": "prores_ks", "profile": "3", "pix_fmt": "yuv422p10le", "vendor": "apl0",
                                       "intra": True},
         "audio": {"codec": "pcm_s24le", "bitrate": None},
         "description": "ProRes 422 HQ (prores_ks profile 3, yuv422p10le, vendor apl0) in MOV, 24-bit PCM"},
        "ASWF EncodingGuidelines: ProRes",
    ),
    "dnxhr": (
        {"container": "mov", "video": {"codec": "dnxhd", "profile": "dnxhr_hq", "pix_fmt": "yuv422p", "intra": True},
         "audio": {"codec": "pcm_s24le", "bitrate": None},
         "description": "DNxHR HQ (8-bit 4:2:2) in MOV with 24-bit PCM, for Avid"},
        "ASWF EncodingGuidelines: DNxHR",
    ),
    "hevc": (
        {"container": "mp4", "video": {"codec": "libx265", "pix_fmt": "yuv420p10le", "crf": 22, "tag": "hvc1",
                                       "gop_seconds": 1.0, "preset": "medium"},
         "audio": {"codec": "aac", "bitrate": "192k"},
         "description": "HEVC Main10 (x265 CRF 22, yuv420p10le, hvc1 tag) in MP4 with AAC"},
        "ASWF EncodingGuidelines: HEVC",
    ),
    "webm": (
        {"container": "webm", "video": {"codec": "libvpx-vp9", "pix_fmt": "yuv420p", "crf": 32, "gop_seconds": 2.0},
         "audio": {"codec": "libopus", "bitrate": "128k"},
         "description": "VP9 (CRF 32, constant quality) with Opus in WebM"},
        "ASWF EncodingGuidelines: VP9",
    ),
    "review": (
        {"container": "mp4", "video": {"codec": "libx264", "profile": "high", "pix_fmt": "yuv420p", "crf": 23,
                                       "intra": True, "max_height": 1080, "preset": "veryfast"},
         "audio": {"codec": "aac", "bitrate": "128k"}, "burn_ins": True,
         "description": "at most 1080 lines, all-intra H.264 for frame-accurate scrubbing, with burn-ins: project, "
                        "shot and take, source and record timecode, frame counter"},
        "AYON review burn-ins",
    ),
    "proxy": (
        {"container": "mov", "video": {"codec": "libx264", "profile": "high", "pix_fmt": "yuv420p", "crf": 26,
                                       "max_height": 540, "gop_seconds": 1.0, "preset": "veryfast"},
         "audio": {"codec": "aac", "bitrate": "128k"},
         "description": "small H.264 in MOV, at most 540 lines, for offline editing"},
        "offline editorial proxies",
    ),
    "stems": (
        {"container": "wav", "audio": {"codec": "pcm_s24le", "bitrate": None},
         "description": "the programme audio as 24-bit 48 kHz WAV"},
        "broadcast stems",
    ),
}  # fmt: skip


def builtin_presets() -> dict[str, Preset]:
    return {n: Preset(n, PresetSpec.model_validate(d), "builtin", ref) for n, (d, ref) in BUILTIN.items()}


BUILTIN_PRESETS = builtin_presets()
CUT_VIDEO: VideoSpec = BUILTIN_PRESETS["web"].spec.video  # type: ignore[assignment]
"""The conform's (and so the cut's) picture settings: the built-in web preset's, so the web delivery is the cut's
picture copied and one encode serves both."""


def from_cut(preset: Preset) -> bool:
    """A delivery whose picture is the cut's own (its settings are the conform's, no burn-ins): no segments."""
    return preset.spec.video == CUT_VIDEO and not preset.spec.burn_ins


def needs_segments(preset: Preset) -> bool:
    return preset.spec.video is not None and not from_cut(preset)


@dataclass(frozen=True)
class Encoding:
    """The encoder arguments a preset gives at one timeline size and rate (what every segment shares)."""

    args: tuple[str, ...]
    gop: int


def web_maxrate(width: int, height: int, rate: Rate) -> int:
    """The VBV cap of ``maxrate: auto`` in bit/s: 8 Mb/s at 1080p24-30 scaled by pixels, x1.5 above 30 fps, at
    least 1 Mb/s (YouTube's recommendations)."""
    scale = (width * height) / (1920 * 1080) * (1.5 if rate.fps > 30.5 else 1.0)
    return max(1_000_000, int(WEB_MAXRATE_1080P * scale))


def _rate_control(v: VideoSpec, rate: Rate, width: int, height: int) -> list[str]:
    args: list[str] = []
    if v.crf is not None:
        args += ["-crf", str(v.crf)]
        if v.codec == "libvpx-vp9":
            args += ["-b:v", "0"]  # constant quality (libvpx: CRF only without a target bitrate)
    if v.bitrate:
        args += ["-b:v", v.bitrate]
    if v.maxrate == "auto":
        cap = web_maxrate(width, height, rate)
        args += ["-maxrate", str(cap), "-bufsize", str(2 * cap)]
    elif v.maxrate:
        args += ["-maxrate", v.maxrate, "-bufsize", v.bufsize or v.maxrate]
    return args


def _gop(v: VideoSpec, gop: int) -> list[str]:
    """A fixed closed GOP and no scene-cut keyframes, in each encoder's own words."""
    args = ["-g", str(gop), "-keyint_min", str(gop)]
    bframes = "" if v.bframes is None else str(v.bframes)
    if v.codec == "libx264":
        args += ["-sc_threshold", "0", "-flags", "+cgop"] + (["-bf", bframes] if bframes else [])
    elif v.codec == "libx265":
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:log-level=error"
        args += ["-x265-params", params + (f":bframes={bframes}" if bframes else "")]
    elif v.codec == "libvpx-vp9":
        args += ["-auto-alt-ref", "0", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4"]  # media findings
    elif v.codec == "libsvtav1":
        args += ["-preset", v.preset or "9", "-svtav1-params", f"keyint={gop}:scd=0"]
    return args


def video_args(v: VideoSpec, rate: Rate, width: int, height: int) -> Encoding:
    """Encoder arguments for ``v`` at the timeline's rate and size: fixed closed GOP, no scene-cut keyframes, the
    same for every shot (so segments join by stream copy)."""
    gop = 1 if v.intra else max(1, round(rate.fps * v.gop_seconds))
    args = ["-c:v", v.codec, "-pix_fmt", v.pix_fmt]
    if v.profile:
        args += ["-profile:v", v.profile]
    if v.codec in ("libx264", "libx265") and v.preset:
        args += ["-preset", v.preset]
    args += [*_rate_control(v, rate, width, height), *_gop(v, gop)]
    if v.vendor:
        args += ["-vendor", v.vendor]
    if v.tag:
        args += ["-tag:v", v.tag]
    return Encoding(tuple(args), gop)


def audio_args(a: AudioSpec) -> list[str]:
    args = ["-c:a", a.codec, "-ar", "48000", "-ac", str(a.channels)]
    if a.bitrate and AUDIO_CODECS[a.codec]["lossy"]:
        args += ["-b:a", a.bitrate]
    return args
