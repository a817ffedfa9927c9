"""Which FFmpeg vidasm runs, and what it can do: chosen once, probed once per process, cached.

Order: the resource's ``ffmpeg_path``, then ``FFMPEG_PATH``, then ``ffmpeg`` on ``PATH``, then the binary shipped
in the ``imageio-ffmpeg`` wheel. Every candidate is probed (version, encoders, filters, muxers and the filter and
muxer options vidasm's commands use, from ``ffmpeg -h filter=NAME``). One that lacks something needed is never
used silently:

- found on ``PATH``: vidasm falls back to the bundled binary with one warning naming both;
- named explicitly (config or ``FFMPEG_PATH``): vidasm stops up front with ``FFmpegBuildError`` naming the
  binary, its version, what it lacks and ``FFMPEG_PATH``.

Supported: FFmpeg 5.1 (Debian 12) and newer, checked in CI with Debian's 5.1 and the bundled 9.0.2 (and, in the
portability test, 7.0.2 and 4.2.2 binaries from older imageio-ffmpeg wheels). Older builds (Ubuntu 22.04's 4.4)
are refused: they predate the options the commands rely on (e.g. the mov muxer's ``movie_timescale``, FFmpeg 5.0).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

from .errors import FFmpegBuildError, ToolNotFoundError

log = logging.getLogger("vidasm")

MIN_VERSION = (5, 1)
"""The oldest FFmpeg vidasm runs: Debian 12's 5.1 (the oldest build the test suite runs against)."""

PROBE_TIMEOUT_S = 30.0
_VERSIONS: dict[str, str] = {}

ENCODERS: Mapping[str, str] = {
    "libx264": "the conform's H.264 pictures",
    "aac": "the deliveries' audio",
    "pcm_s24le": "the PCM audio intermediates",
}
FILTER_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "fps": (),
    "scale": ("flags", "in_color_matrix", "out_color_matrix", "in_range", "out_range"),
    "pad": (),
    "setsar": (),
    "tpad": ("stop_mode", "stop"),
    "trim": ("start_frame", "end_frame"),
    "setpts": (),
    "format": (),
    "setparams": ("field_mode", "range", "color_primaries", "color_trc", "colorspace"),
    "bwdif": ("mode", "parity", "deint"),
    "premultiply": ("inplace",),
    "zscale": ("tin", "pin", "min", "rin", "t", "p", "m", "r", "npl"),
    "tonemap": ("tonemap", "desat"),
    "colorchannelmixer": ("rr", "rg", "rb", "gr", "gg", "gb", "br", "bg", "bb"),
    "aresample": ("async", "first_pts"),
    "aformat": ("sample_fmts", "sample_rates", "channel_layouts"),
    "asetpts": (),
    "atrim": ("start_sample", "end_sample"),
    "apad": (),
    "aloop": ("loop", "size"),
    "amix": ("inputs", "duration", "normalize"),
    "loudnorm": ("measured_I", "measured_TP", "measured_LRA", "measured_thresh", "offset", "linear", "print_format"),
    "ebur128": ("peak",),
    "volume": (),
    "alimiter": ("limit", "attack", "release", "level", "latency"),
    "anullsrc": (),
    # transitions (transitions.py)
    "xfade": ("transition", "duration", "offset"),
    "fade": ("type", "start_frame", "nb_frames"),
    "afade": ("type", "start_sample", "nb_samples"),
    "acrossfade": ("nb_samples", "curve1", "curve2"),
    "concat": ("n", "v", "a"),
    # the music bed (music.py)
    "asplit": (),
    "sidechaincompress": ("threshold", "ratio", "attack", "release", "mix"),
}
BURN_IN_FILTER_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "drawtext": ("fontfile", "text", "expansion", "timecode", "timecode_rate", "tc24hmax", "fontsize", "fontcolor",
                 "box", "boxcolor", "boxborderw", "x", "y"),
}  # fmt: skip
"""What the review burn-ins use (``burnins.py``), probed like ``FILTER_OPTIONS`` but needed only by presets with
burn-ins: ``drawtext`` needs libfreetype, and since FFmpeg 6.1 libharfbuzz too, so some builds vidasm supports lack
it (the 7.0.2 static build of imageio-ffmpeg 0.6.0). Such a build is still chosen; ``Capabilities.missing_burn_ins``
says what it lacks and ``burnins.require_burn_ins`` refuses it by name for a burn-in step."""
MUXER_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "mov": ("movie_timescale", "video_track_timescale"),
    "mp4": ("movie_timescale", "video_track_timescale"),
    "wav": (),
    "null": (),
    "segment": ("segment_frames", "reset_timestamps", "segment_format", "segment_format_options"),
}
DEMUXERS: tuple[str, ...] = ("concat", "lavfi")


class Origin(str, Enum):
    """Where the FFmpeg binary came from."""

    CONFIG = "resource config ffmpeg_path"
    ENV = "FFMPEG_PATH"
    PATH = "PATH"
    BUNDLED = "imageio-ffmpeg (bundled)"


@dataclass(frozen=True)
class Capabilities:
    """What one FFmpeg binary has, as its own ``-encoders``, ``-filters``, ``-muxers`` and ``-h`` say."""

    version: str
    version_tuple: tuple[int, int] | None
    encoders: frozenset[str] = frozenset()
    filters: frozenset[str] = frozenset()
    muxers: frozenset[str] = frozenset()
    demuxers: frozenset[str] = frozenset()
    options: Mapping[str, frozenset[str]] = field(default_factory=dict)  # "filter:scale" / "muxer:mov" -> names

    @property
    def too_old(self) -> bool:
        return self.version_tuple is not None and self.version_tuple < MIN_VERSION

    @property
    def usable(self) -> bool:
        """Recent enough and has everything vidasm's commands use."""
        return not self.too_old and not self.missing()

    def problems(self) -> str:
        """Why it cannot be used, in words ("" when it can)."""
        parts = [f"is older than {MIN_VERSION[0]}.{MIN_VERSION[1]}"] if self.too_old else []
        missing = self.missing()
        if missing:
            shown = "; ".join(missing[:6]) + (f"; and {len(missing) - 6} more" if len(missing) > 6 else "")
            parts.append(f"lacks {shown}")
        return " and ".join(parts)

    def _missing_options(self, kind: str, table: Mapping[str, tuple[str, ...]], present: frozenset[str]) -> list[str]:
        out: list[str] = []
        for name, opts in table.items():
            if name not in present:
                out.append(f"{kind} {name}")
                continue
            have = self.options.get(f"{kind}:{name}", frozenset())
            out += [f"option {o} of {kind} {name}" for o in opts if o not in have]
        return out

    def missing(self) -> list[str]:
        """Everything vidasm's commands use that this build lacks, in words (empty: it can do the job)."""
        out = [f"encoder {e} ({why})" for e, why in ENCODERS.items() if e not in self.encoders]
        out += self._missing_options("filter", FILTER_OPTIONS, self.filters)
        out += self._missing_options("muxer", MUXER_OPTIONS, self.muxers)
        out += [f"demuxer {d}" for d in DEMUXERS if d not in self.demuxers]
        return out

    def missing_burn_ins(self) -> list[str]:
        """What the burn-ins use that this build lacks, in words (empty: it can burn in)."""
        return self._missing_options("filter", BURN_IN_FILTER_OPTIONS, self.filters)


@dataclass(frozen=True)
class FFmpeg:
    """The FFmpeg vidasm uses: the binary, where it came from, why, and what it can do."""

    exe: str
    origin: Origin
    reason: str
    capabilities: Capabilities

    version = property(lambda self: self.capabilities.version, doc="``ffmpeg -version``'s label")

    def describe(self) -> str:
        """One line: which FFmpeg, its version and why it was chosen."""
        return f"FFmpeg {self.version} at {self.exe} ({self.origin.value}): {self.reason}"


def query(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a short FFmpeg command that is not a build step (a capability query, a trial encode): no stdin, its
    text output captured, at most ``timeout`` seconds. Raises ``subprocess.TimeoutExpired`` and ``OSError``."""
    return subprocess.run(
        argv, capture_output=True, text=True, errors="replace", timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )


def _run(exe: str, *args: str) -> str:
    out = query([exe, "-hide_banner", *args], PROBE_TIMEOUT_S)
    return out.stdout + out.stderr


_VERSION_RE = re.compile(r"ffmpeg version n?(\d+)\.(\d+)")
_AVUTIL_RE = re.compile(r"libavutil\s+(\d+)\.")


def parse_version(text: str) -> tuple[str, tuple[int, int] | None]:
    """``ffmpeg -version``'s label and (major, minor); git builds (``N-1234-g...``) by libavutil's major.

    libavutil 57 shipped with FFmpeg 5.x, 58 with 6.x, 59 with 7.x (FFmpeg's release notes).
    """
    first = text.strip().splitlines()[0] if text.strip() else ""
    label = first.split("version", 1)[1].split()[0] if "version" in first else "unknown"
    m = _VERSION_RE.search(first)
    if m:
        return label, (int(m[1]), int(m[2]))
    u = _AVUTIL_RE.search(text)
    if u:
        return label, (int(u[1]) - 52, 99)
    return label, None


_FILTER_LINE = re.compile(r"^\s*[T.][S.][C.]?\s+(\S+)\s+\S*->\S*", re.M)
_CODEC_LINE = re.compile(r"^\s*[VASFXBD.]{6}\s+(\S+)", re.M)
_FORMAT_LINE = re.compile(r"^\s*([DE ]{1,2}d?)\s+(\S+)\s", re.M)
_OPTION_LINE = re.compile(r"^\s+-?(\w+)\s+\[?<\w+", re.M)


def parse_filters(text: str) -> frozenset[str]:
    return frozenset(_FILTER_LINE.findall(text))


def parse_encoders(text: str) -> frozenset[str]:
    body = text.split("------", 1)[-1]
    return frozenset(_CODEC_LINE.findall(body))


def parse_formats(text: str) -> frozenset[str]:
    """Names from ``-muxers`` / ``-demuxers`` (a line may list several, comma separated)."""
    body = text.split("--", 1)[-1]
    names: set[str] = set()
    for _flags, name in _FORMAT_LINE.findall(body):
        names.update(name.split(","))
    return frozenset(names)


def parse_options(text: str) -> frozenset[str]:
    """Option names from ``ffmpeg -h filter=NAME`` or ``-h muxer=NAME``."""
    return frozenset(_OPTION_LINE.findall(text))


@functools.lru_cache(maxsize=16)
def _capabilities(exe: str, _stamp: tuple[int, int]) -> Capabilities:
    label, vt = parse_version(_run(exe, "-version"))
    helps = [("filter", f) for f, opts in {**FILTER_OPTIONS, **BURN_IN_FILTER_OPTIONS}.items() if opts]
    helps += [("muxer", m) for m, opts in MUXER_OPTIONS.items() if opts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        lists = pool.map(lambda a: _run(exe, a), ["-encoders", "-filters", "-muxers", "-demuxers"])
        encoders, filters, muxers, demuxers = list(lists)
        texts = list(pool.map(lambda kv: _run(exe, "-h", f"{kv[0]}={kv[1]}"), helps))
    options = {f"{kind}:{name}": parse_options(t) for (kind, name), t in zip(helps, texts, strict=True)}
    _VERSIONS[exe] = label
    return Capabilities(
        version=label,
        version_tuple=vt,
        encoders=parse_encoders(encoders),
        filters=parse_filters(filters),
        muxers=parse_formats(muxers),
        demuxers=parse_formats(demuxers),
        options=options,
    )


def capabilities(exe: str) -> Capabilities:
    """Probe ``exe`` (cached per process, keyed by the file's size and mtime so a replaced binary is re-probed)."""
    st = os.stat(exe)
    try:
        return _capabilities(exe, (st.st_size, st.st_mtime_ns))
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolNotFoundError(f"{exe}: cannot run it to ask what it can do ({exc})", path=exe) from exc


def bundled_ffmpeg() -> str | None:
    """The binary shipped in the imageio-ffmpeg wheel, if this platform has one."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:  # imageio-ffmpeg raises RuntimeError when it has no binary for this platform
        return None


def _executable(candidate: str) -> str | None:
    found = shutil.which(candidate)
    if found:
        return found
    return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None


def _lacks(exe: str, caps: Capabilities) -> str:
    return f"{exe} (FFmpeg {caps.version}) {caps.problems()}"


@functools.lru_cache(maxsize=8)
def _select(configured: str | None, env: str | None, on_path: str | None) -> FFmpeg:
    for candidate, origin in ((configured, Origin.CONFIG), (env, Origin.ENV)):
        if not candidate:
            continue
        exe = _executable(candidate)
        if exe is None:
            raise ToolNotFoundError(f"ffmpeg from {origin.value} ({candidate}) is not an executable", path=candidate)
        caps = capabilities(exe)
        if not caps.usable:
            bundled = bundled_ffmpeg()
            hint = f"unset {Origin.ENV.value} to use the bundled FFmpeg ({bundled})" if bundled else ""
            raise FFmpegBuildError(
                f"cannot use the FFmpeg named by {origin.value}: {_lacks(exe, caps)}; point {Origin.ENV.value} at "
                f"FFmpeg {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer with libx264" + (f", or {hint}" if hint else ""),
                path=exe,
            )
        return FFmpeg(exe, origin, f"named by {origin.value}", caps)
    bundled = bundled_ffmpeg()
    if on_path:
        caps = capabilities(on_path)
        if caps.usable:
            return FFmpeg(on_path, Origin.PATH, "ffmpeg on PATH has everything vidasm needs", caps)
        if bundled is None or os.path.realpath(bundled) == os.path.realpath(on_path):
            raise FFmpegBuildError(
                f"cannot use {_lacks(on_path, caps)}, and no bundled FFmpeg is installed: "
                f"set {Origin.ENV.value} to FFmpeg {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer, or pip install "
                "imageio-ffmpeg",
                path=on_path,
            )
        why = _lacks(on_path, caps)
        bcaps = capabilities(bundled)
        log.warning(
            "not using the ffmpeg on PATH: %s; using the bundled FFmpeg %s (%s) instead (set %s to choose)",
            why,
            bcaps.version,
            bundled,
            Origin.ENV.value,
        )
        return _bundled(bundled, bcaps, f"the ffmpeg on PATH was passed over: {why}")
    if bundled is None:
        raise ToolNotFoundError(
            f"no FFmpeg: set {Origin.ENV.value}, install ffmpeg {MIN_VERSION[0]}.{MIN_VERSION[1]}+, "
            "or pip install imageio-ffmpeg"
        )
    return _bundled(bundled, capabilities(bundled), "no ffmpeg on PATH")


def _bundled(exe: str, caps: Capabilities, reason: str) -> FFmpeg:
    if not caps.usable:
        raise FFmpegBuildError(f"the bundled FFmpeg cannot be used: {_lacks(exe, caps)}", path=exe)
    return FFmpeg(exe, Origin.BUNDLED, reason, caps)


def select_ffmpeg(configured: str | None = None) -> FFmpeg:
    """The FFmpeg to use (see the module docstring for the order and the fallback); cached per process.

    Raises ``ToolNotFoundError`` when there is none, ``FFmpegBuildError`` when the one named explicitly (or the
    only one there is) lacks something vidasm needs; the message names the binary, its version and what it lacks.
    """
    return _select(configured or None, os.environ.get("FFMPEG_PATH") or None, shutil.which("ffmpeg"))


def known_version(exe: str) -> str | None:
    """The version of an FFmpeg already probed in this process (for error messages), else None."""
    return _VERSIONS.get(exe)
