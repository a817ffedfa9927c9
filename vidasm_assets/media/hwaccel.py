"""Hardware video encoders (NVENC, Quick Sync, VAAPI, VideoToolbox), used only when asked for and proven to work.

Asked for by the preset (``VideoSpec.hardware``: ``auto`` or a named one) or by ``VIDASM_HWACCEL`` (``auto``,
``nvenc``, ``qsv``, ``vaapi``, ``videotoolbox`` or ``none``; read at each call, and it wins over the preset, so
``none`` turns hardware off on a machine whose GPU misbehaves). A hardware encoder is used only when the chosen
FFmpeg lists it (``Capabilities.encoders``) *and* a one-frame trial encode with exactly the arguments the real
encode will get succeeds; the trial is cached per process, per FFmpeg binary and encoder (and its arguments).
Otherwise the software encoder the preset names is used, with one warning (logger ``vidasm``) naming what was
asked for and why it was not used: an FFmpeg that lists ``h264_nvenc`` on a machine without an NVIDIA driver is
the common case ("Cannot load libcuda.so.1").

The output contract is the software one: the timeline size and rate (the filter chain is unchanged), 4:2:0 at
the preset's bit depth (``nv12``/``p010le`` are the encoders' own layouts of ``yuv420p``/``yuv420p10le`` and decode
as those), the colour tags (written from the same ``-color_*`` options), exact frame counts, and a fixed closed GOP
without scene-cut keyframes, so segments still join by stream copy. What each encoder needs for that:

- NVENC: ``-g G -bf B``; FFmpeg sets the IDR period to the GOP length, so every GOP starts with an IDR frame;
  ``-forced-idr 1 -strict_gop 1 -no-scenecut 1``. Quality: ``-rc vbr -cq N -b:v 0`` (the CRF's role), with the
  preset's VBV cap as ``-maxrate``/``-bufsize``.
- Quick Sync: ``-g G -bf B -flags +cgop -idr_interval 0`` (closed GOPs, every I frame an IDR); quality
  ``-global_quality N`` (ICQ; with a cap, QVBR at half the cap).
- VAAPI: ``-vaapi_device <render node>`` (a global option) and ``format=nv12,hwupload`` at the end of the filter
  chain; ``-g G -bf B -flags +cgop -idr_interval 0``; quality ``-rc_mode CQP -global_quality N`` (with a cap,
  QVBR for H.264/HEVC, VBR otherwise).
- VideoToolbox: ``-g G`` plus forced keyframes every G frames, ``-bf 0`` (no reordering); quality ``-q:v``
  (0-100, higher is better; constant quality needs Apple silicon, the trial tells).

Not mapped: ProRes and DNxHR (intra codecs, fast in software), 4:2:2 and H.264 at 10 bits (no common hardware
encoder writes them).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .ffmpeg_tool import FFmpeg, query, select_ffmpeg
from .presets import VideoSpec, video_args, web_maxrate
from .rates import Rate

log = logging.getLogger("vidasm")

ENV = "VIDASM_HWACCEL"
VAAPI_DEVICE_ENV = "VIDASM_VAAPI_DEVICE"
ACCELS = ("nvenc", "qsv", "vaapi", "videotoolbox")
CHOICES = ("none", "auto", *ACCELS)
TRIAL_TIMEOUT_S = 60.0
DEFAULT_VAAPI_DEVICE = "/dev/dri/renderD128"

HARDWARE_ENCODERS: Mapping[str, Mapping[str, str]] = {
    "libx264": {"nvenc": "h264_nvenc", "qsv": "h264_qsv", "vaapi": "h264_vaapi", "videotoolbox": "h264_videotoolbox"},
    "libx265": {"nvenc": "hevc_nvenc", "qsv": "hevc_qsv", "vaapi": "hevc_vaapi", "videotoolbox": "hevc_videotoolbox"},
    "libsvtav1": {"nvenc": "av1_nvenc", "qsv": "av1_qsv", "vaapi": "av1_vaapi"},
    "libvpx-vp9": {"qsv": "vp9_qsv", "vaapi": "vp9_vaapi"},
}
"""Software encoder -> accelerator -> the hardware encoder writing the same codec."""

CODEC_OF = {"libx264": "h264", "libx265": "hevc", "libsvtav1": "av1", "libvpx-vp9": "vp9"}
MAX_CRF = {"h264": 51, "hevc": 51, "av1": 63, "vp9": 63}
DEFAULT_CRF = {"libx264": 23, "libx265": 28, "libsvtav1": 35, "libvpx-vp9": 32}
"""The software encoder's own default quality, used when a preset sets neither crf nor bitrate."""

HW_PIX_FMTS: Mapping[str, Mapping[str, str]] = {
    # preset pix_fmt -> accelerator -> the layout its encoder takes (4:2:0 at the same depth)
    "yuv420p": {"nvenc": "yuv420p", "qsv": "nv12", "vaapi": "nv12", "videotoolbox": "nv12"},
    "yuv420p10le": {"nvenc": "p010le", "qsv": "p010le", "vaapi": "p010le", "videotoolbox": "p010le"},
}

NVENC_PRESETS = {
    "ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3", "fast": "p3", "medium": "p4",
    "slow": "p5", "slower": "p6", "veryslow": "p7", "placebo": "p7",
}  # fmt: skip
QSV_PRESETS = frozenset({"veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"})


def auto_order(platform: str | None = None) -> tuple[str, ...]:
    """The accelerators ``auto`` tries, in order: VideoToolbox on macOS; NVENC, Quick Sync, VAAPI elsewhere."""
    plat = sys.platform if platform is None else platform
    return ("videotoolbox",) if plat == "darwin" else ("nvenc", "qsv", "vaapi")


def hardware_encoder(codec: str, accel: str) -> str | None:
    """The hardware encoder ``accel`` has for the software encoder ``codec`` (``libx264``, ``nvenc`` ->
    ``h264_nvenc``), or None."""
    return HARDWARE_ENCODERS.get(codec, {}).get(accel)


@dataclass(frozen=True)
class Request:
    """Which hardware is asked for, and who asked (for the warning)."""

    want: str
    source: str

    def describe(self) -> str:
        return f"{self.source}={self.want}"


def requested(spec: VideoSpec, environ: Mapping[str, str] | None = None) -> Request:
    """What is asked for: ``VIDASM_HWACCEL`` when set (read now), else the preset's ``hardware``. An unknown value
    of the variable is said once and counts as ``none``."""
    env = os.environ if environ is None else environ
    raw = (env.get(ENV) or "").strip().lower()
    if not raw:
        return Request(spec.hardware, "preset video.hardware")
    if raw not in CHOICES:
        _warn_once(f"{ENV}={raw!r} is not one of {', '.join(CHOICES)}; encoding in software")
        return Request("none", ENV)
    return Request(raw, ENV)


# ---------------------------------------------------------------- the arguments (pure)


class Unsupported(ValueError):
    """A preset that an accelerator cannot encode as the software encoder would (the message says why)."""


@dataclass(frozen=True)
class HardwareEncoding:
    """One hardware encoder's arguments for a preset at a timeline size and rate.

    ``global_args`` go before the first input (the VAAPI device); ``extra_filters`` are appended to the end of the
    video filter chain (VAAPI's upload to the GPU); ``args`` replace the software ``video_args``.
    """

    accel: str
    encoder: str
    args: tuple[str, ...]
    global_args: tuple[str, ...] = ()
    extra_filters: tuple[str, ...] = ()
    gop: int = 1


@dataclass(frozen=True)
class _Plan:
    """What every accelerator's arguments are derived from."""

    v: VideoSpec
    codec: str  # h264, hevc, av1, vp9
    gop: int
    bframes: int
    cap: int | None  # the VBV cap in bit/s, if any
    crf: int | None  # the quality asked for (the software encoder's scale), None with a bitrate target
    bitrate: str | None


def _bits(value: str) -> int:
    unit = {"k": 1_000, "K": 1_000, "M": 1_000_000}[value[-1]]
    return int(float(value[:-1]) * unit)


def _plan(v: VideoSpec, rate: Rate, width: int, height: int) -> _Plan:
    gop = 1 if v.intra else max(1, round(rate.fps * v.gop_seconds))
    bframes = 0 if gop == 1 else (2 if v.bframes is None else v.bframes)
    cap = web_maxrate(width, height, rate) if v.maxrate == "auto" else (_bits(v.maxrate) if v.maxrate else None)
    crf = v.crf if v.crf is not None or v.bitrate else DEFAULT_CRF[v.codec]
    return _Plan(v, CODEC_OF[v.codec], gop, bframes, cap, crf, v.bitrate)


def _scaled(crf: int, codec: str, top: int) -> int:
    """``crf`` on the software encoder's scale mapped onto a 1..``top`` quantizer scale."""
    return max(1, min(top, round(crf * top / MAX_CRF[codec])))


def _cap_args(p: _Plan) -> list[str]:
    return ["-maxrate", str(p.cap), "-bufsize", str(2 * p.cap)] if p.cap else []


def _profile(p: _Plan) -> list[str]:
    if p.v.profile:
        return ["-profile:v", p.v.profile]
    if p.codec == "hevc":
        return ["-profile:v", "main10" if p.v.pix_fmt == "yuv420p10le" else "main"]
    return []


def _nvenc(p: _Plan) -> list[str]:
    args = ["-preset", NVENC_PRESETS.get(p.v.preset or "medium", "p4")]
    if p.crf is not None:
        args += ["-rc", "vbr", "-cq", str(_scaled(p.crf, p.codec, MAX_CRF[p.codec])), "-b:v", p.bitrate or "0"]
    else:
        args += ["-rc", "vbr", "-b:v", str(p.bitrate)]
    args += _cap_args(p)
    return [*args, "-g", str(p.gop), "-bf", str(p.bframes), "-forced-idr", "1", "-strict_gop", "1",
            "-no-scenecut", "1"]  # fmt: skip


def _qsv(p: _Plan) -> list[str]:
    args = ["-preset", p.v.preset] if p.v.preset in QSV_PRESETS else []
    if p.crf is not None:
        args += ["-global_quality", str(_scaled(p.crf, p.codec, 51))]
        if p.cap:  # QVBR: quality with a cap (a target equal to the cap would be CBR)
            args += ["-b:v", str(p.cap // 2)]
    else:
        args += ["-b:v", str(p.bitrate)]
    args += _cap_args(p)
    return [*args, "-g", str(p.gop), "-bf", str(p.bframes), "-flags", "+cgop", "-idr_interval", "0"]


def _vaapi(p: _Plan) -> list[str]:
    if p.crf is None:
        args = ["-rc_mode", "VBR", "-b:v", str(p.bitrate)]
    elif p.cap and p.codec in ("h264", "hevc"):
        args = ["-rc_mode", "QVBR", "-global_quality", str(_scaled(p.crf, p.codec, 51)), "-b:v", str(p.cap // 2)]
    elif p.cap:
        args = ["-rc_mode", "VBR", "-b:v", str(p.cap // 2)]
    else:
        top = 51 if p.codec in ("h264", "hevc") else 255  # VP9 and AV1 quantizer indices run to 255
        args = ["-rc_mode", "CQP", "-global_quality", str(_scaled(p.crf, p.codec, top))]
    args += _cap_args(p)
    return [*args, "-g", str(p.gop), "-bf", str(p.bframes), "-flags", "+cgop", "-idr_interval", "0"]


def _videotoolbox(p: _Plan) -> list[str]:
    if p.crf is not None:
        args = ["-q:v", str(max(1, min(100, round(100 * (1 - p.crf / MAX_CRF[p.codec])))))]
    else:
        args = ["-b:v", str(p.bitrate)]
    args += _cap_args(p)
    keys = f"expr:eq(mod(n,{p.gop}),0)"
    return [*args, "-g", str(p.gop), "-force_key_frames", keys, "-bf", "0"]


_BUILDERS: Mapping[str, Callable[[_Plan], list[str]]] = {
    "nvenc": _nvenc,
    "qsv": _qsv,
    "vaapi": _vaapi,
    "videotoolbox": _videotoolbox,
}


def vaapi_device(environ: Mapping[str, str] | None = None) -> str:
    """``VIDASM_VAAPI_DEVICE``, else the first DRM render node, else ``/dev/dri/renderD128``."""
    env = os.environ if environ is None else environ
    if env.get(VAAPI_DEVICE_ENV):
        return env[VAAPI_DEVICE_ENV]
    nodes = sorted(Path("/dev/dri").glob("renderD*")) if Path("/dev/dri").is_dir() else []
    return str(nodes[0]) if nodes else DEFAULT_VAAPI_DEVICE


def unsupported_reason(accel: str, v: VideoSpec) -> str | None:
    """Why ``accel`` cannot encode ``v`` as its software encoder would (None: it can)."""
    encoder = hardware_encoder(v.codec, accel)
    if encoder is None:
        return f"{accel} has no encoder for {v.codec} in vidasm's table"
    if v.pix_fmt not in HW_PIX_FMTS or (v.codec == "libx264" and v.pix_fmt != "yuv420p"):
        return f"{encoder} is not used for pix_fmt {v.pix_fmt} (hardware encoders write 8-bit 4:2:0 H.264)"
    return None


def hardware_args(
    accel: str, v: VideoSpec, rate: Rate, width: int, height: int, *, device: str | None = None
) -> HardwareEncoding:
    """The arguments ``accel``'s encoder gets for preset picture ``v`` (pure; ``Unsupported`` when it cannot)."""
    if accel not in _BUILDERS:
        raise Unsupported(f"unknown accelerator {accel!r}; use one of {', '.join(ACCELS)}")
    why = unsupported_reason(accel, v)
    if why:
        raise Unsupported(why)
    encoder = HARDWARE_ENCODERS[v.codec][accel]
    p = _plan(v, rate, width, height)
    pix_fmt = HW_PIX_FMTS[v.pix_fmt][accel]
    head = ["-c:v", encoder]
    global_args: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    if accel == "vaapi":  # frames go up to the GPU at the end of the chain; the encoder's format is then vaapi
        global_args = ("-vaapi_device", device or vaapi_device())
        filters = (f"format={pix_fmt}", "hwupload")
    else:
        head += ["-pix_fmt", pix_fmt]
    args = [*head, *_profile(p), *_BUILDERS[accel](p)]
    if v.tag:
        args += ["-tag:v", v.tag]
    return HardwareEncoding(accel, encoder, tuple(args), global_args, filters, p.gop)


# ---------------------------------------------------------------- the trial encode


_PREFIX = re.compile(r"^(\[[^\]]*@ ?0x[0-9a-f]+\]\s*)+")
_REASON = re.compile(r"error|cannot|can't|could not|unable|fail|not (?:found|supported|available)|no |invalid|"
                     r"unsupported|denied|missing", re.I)  # fmt: skip


def trial_reason(stderr: str) -> str:
    """The line of a failed trial's stderr that says why (its ``[component @ 0x...]`` prefixes removed)."""
    lines = [_PREFIX.sub("", ln.strip()) for ln in stderr.splitlines() if ln.strip()]
    hit = next((ln for ln in lines if _REASON.search(ln)), lines[0] if lines else "")
    return hit or "FFmpeg failed without saying why"


def trial_cmd(hw: HardwareEncoding, width: int, height: int) -> list[str]:
    """One grey frame at the timeline size, through the end of the conform's chain and the encoder's arguments,
    into the null muxer."""
    chain = ",".join(["format=yuv420p", "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709",
                      *hw.extra_filters])  # fmt: skip
    return [
        "-hide_banner", "-nostdin", "-loglevel", "error", *hw.global_args,
        "-f", "lavfi", "-i", f"color=c=gray:s={width}x{height}:r=25",
        "-frames:v", "1", "-vf", chain, *hw.args, "-f", "null", "-",
    ]  # fmt: skip


@functools.lru_cache(maxsize=64)
def _trial(exe: str, _stamp: tuple[int, int], argv: tuple[str, ...]) -> str | None:
    log.debug("trial encode: %s %s", exe, " ".join(argv))
    try:
        out = query([exe, *argv], TRIAL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"the trial encode did not finish in {TRIAL_TIMEOUT_S:g} s"
    except OSError as exc:
        return f"cannot run {exe}: {exc}"
    return None if out.returncode == 0 else trial_reason(out.stderr)


def trial_encode(tool: FFmpeg, hw: HardwareEncoding, width: int = 256, height: int = 144) -> str | None:
    """Encode one frame with ``hw`` (cached per process, per FFmpeg binary, encoder and arguments): None when
    it worked, else FFmpeg's reason."""
    st = os.stat(tool.exe)
    return _trial(tool.exe, (st.st_size, st.st_mtime_ns), tuple(trial_cmd(hw, width, height)))


# ---------------------------------------------------------------- the choice


@dataclass(frozen=True)
class Choice:
    """The encoder a preset's picture is encoded with, and how: ``args`` replace ``-c:v ...`` of the software
    ``video_args``, ``extra_filters`` go at the end of the video filter chain, ``global_args`` before the first
    input; ``note`` says what was chosen and why (for metadata)."""

    encoder: str
    args: tuple[str, ...]
    extra_filters: tuple[str, ...]
    note: str
    hardware: str = "none"
    global_args: tuple[str, ...] = ()
    gop: int = 1

    def filter_chain(self, chain: str) -> str:
        """``chain`` with the encoder's extra filters appended."""
        return ",".join([chain, *self.extra_filters]) if self.extra_filters else chain


_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def _warn_once(message: str) -> None:
    with _WARNED_LOCK:
        if message in _WARNED:
            return
        _WARNED.add(message)
    log.warning("%s", message)


def reset() -> None:
    """Forget the trial results and the warnings given (tests; a driver installed while the process runs)."""
    _trial.cache_clear()
    with _WARNED_LOCK:
        _WARNED.clear()


def _try(tool: FFmpeg, accel: str, v: VideoSpec, rate: Rate, size: tuple[int, int]) -> HardwareEncoding | str:
    """A working encoding for ``accel``, or why there is none."""
    try:
        hw = hardware_args(accel, v, rate, *size)
    except Unsupported as exc:
        return str(exc)
    if hw.encoder not in tool.capabilities.encoders:
        return f"{hw.encoder} is not in this FFmpeg"
    failed = trial_encode(tool, hw, *size)
    return hw if failed is None else f"{hw.encoder}: a one-frame trial encode failed: {failed}"


def choose_encoder(
    tool: FFmpeg | None,
    spec: VideoSpec,
    want: str | None = None,
    *,
    rate: Rate,
    width: int,
    height: int,
) -> Choice:
    """The encoder for preset picture ``spec`` at the timeline's rate and size.

    ``want`` (``none``, ``auto`` or an accelerator) defaults to ``VIDASM_HWACCEL``, else ``spec.hardware``. A
    hardware encoder is chosen when the FFmpeg lists it and its trial encode succeeds; otherwise the software
    encoder, with one warning (per process and cause) naming what was asked for and why it was not used.
    """
    ff = tool or select_ffmpeg()
    req = Request(want, "hardware") if want else requested(spec)
    software = video_args(spec, rate, width, height)
    plain = Choice(spec.codec, software.args, (), f"{spec.codec} (software)", gop=software.gop)
    if req.want == "none":
        return plain
    if req.want not in ("auto", *ACCELS):
        why = [f"unknown accelerator {req.want!r}"]
    else:
        why = []
        for accel in auto_order() if req.want == "auto" else (req.want,):
            got = _try(ff, accel, spec, rate, (width, height))
            if isinstance(got, HardwareEncoding):
                note = f"{got.encoder} ({accel}, {req.describe()})"
                return Choice(got.encoder, got.args, got.extra_filters, note, accel, got.global_args, got.gop)
            why.append(got)
    reason = "; ".join(why)
    _warn_once(
        f"hardware encoding not used: {req.describe()} for {spec.codec} with FFmpeg {ff.version} ({ff.exe}), but "
        f"{reason}; encoding with {spec.codec} (software)"
    )
    return Choice(spec.codec, software.args, (), f"{spec.codec} (software; {req.describe()}: {reason})",
                  gop=software.gop)  # fmt: skip
