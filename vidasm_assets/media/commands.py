"""Pure FFmpeg command builders: argument lists, never shell strings.

The conform encodes each shot once with the settings the ``web`` delivery needs, so the cut is a stream
copy and the web delivery only muxes the video and encodes AAC once. Audio intermediates are PCM: the media
findings show AAC intermediates drift ~27 ms per join.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .colour import AlphaMode, SourceColour, zscale_chain
from .errors import UnsafePathError
from .hwaccel import Choice
from .presets import CUT_VIDEO, Preset, VideoSpec, audio_args, video_args
from .rates import AUDIO_RATE, Rate

if TYPE_CHECKING:
    from .probe import VideoInfo

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


def timescale_args(rate: Rate) -> list[str]:
    """Track and movie time scales of ``rate.timescale`` ticks per second (1000 or 1001 ticks a frame).

    The movie time scale is MOV/MP4's unit for edit lists and durations; FFmpeg's default of 1000 rounds a
    70-frame 30 fps shot (2.3333 s) to 2333 ms, and the concat demuxer then starts the next shot early (gpac
    #2728; measured, shared/notes/media-findings.md). At the track's own scale every length is exact.
    """
    return ["-video_track_timescale", str(rate.timescale), "-movie_timescale", str(rate.timescale)]


def progress_args() -> list[str]:
    """Machine-readable progress on stdout; stats off so stderr stays readable."""
    return ["-progress", "pipe:1", "-nostats", "-stats_period", "0.5"]


BT709_SOURCE = SourceColour("bt709", "tv", "bt709", "bt709")


ALPHA_DECODERS: Mapping[str, str] = {"vp9": "libvpx-vp9", "vp8": "libvpx"}
"""The decoders that return a VP8/VP9 picture's alpha (``probe.has_alpha``): FFmpeg's native ones drop it."""


@dataclass(frozen=True)
class PictureSource:
    """What the conform must undo about a source: its colour, interlacing and alpha (from ``probe`` + ``colour``).

    ``alpha``: the picture has straight alpha and is flattened over black (``premultiply``, first in
    ``picture_filter``), as an NLE shows a clip with transparency alone on the bottom track; ``decoder`` names the
    one FFmpeg must use to get the alpha at all (``ALPHA_DECODERS``). Neither is in the ``repr`` that section keys
    hold (which say ``alpha`` themselves when it is set): both follow from the render's content and
    ``colour.alpha``."""

    colour: SourceColour = BT709_SOURCE
    interlaced: bool = False
    alpha: bool = field(default=False, repr=False)
    decoder: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, picture: VideoInfo, colour: SourceColour, alpha: AlphaMode = AlphaMode.STRAIGHT) -> PictureSource:
        """The source a probed picture (``probe(..., first_frame=True)``) is, with its colour (``colour_of``) and
        how its colour relates to its alpha (project.json ``colour.alpha``): only straight alpha is flattened."""
        flatten = picture.alpha and AlphaMode(alpha) is AlphaMode.STRAIGHT
        decoder = ALPHA_DECODERS.get(picture.codec) if flatten else None
        return cls(colour=colour, interlaced=picture.interlaced, alpha=flatten, decoder=decoder)

    @property
    def input_args(self) -> list[str]:
        """Input options before the render's ``-i``: the decoder, when one is needed."""
        return ["-c:v", self.decoder] if self.decoder else []


def pad_limit(rate: Rate) -> int:
    """Frames the conform may repeat at the end (rounding of the source's length): about 0.1 s, at least 2.

    A render that decodes to fewer frames than its header promises (truncated data) comes out short and is
    refused, instead of being padded with a frozen frame.
    """
    return max(2, -(-rate.nominal // 10))


SCALE_FLAGS = "lanczos+accurate_rnd+full_chroma_int"
"""Lanczos, with rounding and chroma interpolation exact enough that a matrix conversion (BT.601 -> BT.709) lands
within a code value of the exact result (measured: without ``full_chroma_int`` neutral grey came out 1 code value
darker and its chroma 1 off; swscale's default rounding is 2 off)."""


def fit_expr(width: int, height: int) -> str:
    """``w=...:h=...`` for ``scale``: the input's display aspect (``dar`` = iw*sar/ih, after the decoder's rotation)
    fitted inside ``width`` x ``height``, even sizes, for square pixels out (``setsar=1`` follows).

    Written as expressions every supported FFmpeg evaluates (``scale``'s ``reset_sar`` does the same but only
    exists since FFmpeg 7.1; Debian 12's 5.1 refuses it). Quoted: the commas are inside one filter's option.
    """
    box = f"{width}/{height}"
    w = f"if(gt(dar,{box}),{width},max(2,2*round({height}*dar/2)))"
    h = f"if(gt(dar,{box}),max(2,2*round({width}/dar/2)),{height})"
    return f"w='{w}':h='{h}'"


PICTURE = "V"
"""FFmpeg's stream specifier for a render's picture: video streams that are not attached pictures (cover art,
thumbnails), as ``probe`` picks it. ``v`` matches those too, and an MP4 whose cover is stream 0 (its ``udta``
before the tracks) had its cover conformed (FFmpeg's "Stream specifiers" documentation)."""


@dataclass(frozen=True)
class Target:
    """What a shot's picture is conformed to: the timeline's raster (``width`` x ``height``, square pixels), its
    ``rate``, the shot's length in ``frames`` (exact: padded or trimmed to it), and the picture settings
    (``video``: a preset's, by default the cut's, ``presets.CUT_VIDEO``). ``start``: the first frame of the render
    used, counted in timeline frames (a sequence entry's ``in``; ``ranges.py``); ``keyframes``: output frames where
    a keyframe is forced (where the cut splits the picture by stream copy for the shot's repeated uses)."""

    width: int
    height: int
    rate: Rate
    frames: int
    video: VideoSpec = CUT_VIDEO
    start: int = 0
    keyframes: tuple[int, ...] = ()


def picture_filter(
    target: Target, source: PictureSource = PictureSource(), pad: int | None = None, *, post: Sequence[str] = ()
) -> str:
    """The target's size with aspect kept (letter/pillarbox), square pixels, CFR, BT.709, exactly its ``frames``
    frames, in its video settings' pixel format (``post``: filters before the format, e.g. a preset's scale).

    In order: deinterlace (bwdif, one frame per frame) when the source is interlaced; constant rate; HDR or
    BT.2020 sources to SDR BT.709 in linear light (zscale; ``colour.py``); scale to fit with the source's
    own matrix and range converted to BT.709 limited (``accurate_rnd``: within a code value of the exact
    conversion; ``SCALE_FLAGS``); the size is fitted by display aspect, ``fit_expr``, so non-square
    pixels come out square; rotation was applied by the decoder, so the displayed size is what fits); pad;
    repeat the last frame at most
    ``pad`` times and cut at exactly ``frames``; tag.

    The frames before ``target.start`` are dropped right after the constant-rate conversion (``fps``, which fixes
    which frame is frame N), before the colour conversion and scale: those filters work on each frame alone, so
    the frames kept are the same as when trimming at the end, without scaling the frames thrown away (a section
    at the end of a 10 s render took every earlier frame through the scale: measured 4.4 s a 1-second dissolve at
    1080p, BENCHMARKS.md "Transitions and music bed"). A deinterlacer (``bwdif``, which reads the neighbouring
    fields) stays before the trim, so the first kept frame is deinterlaced from its real neighbours.
    """
    width, height, rate, frames, pix_fmt = target.width, target.height, target.rate, target.frames, target.video.pix_fmt
    start = target.start
    colour = source.colour
    chain = []
    if source.alpha:  # straight alpha (FFmpeg's convention) made premultiplied: the colour as it shows over black
        chain.append("premultiply=inplace=1")
    if source.interlaced:
        chain.append("bwdif=mode=send_frame:parity=auto:deint=all")
    chain.append(f"fps={rate.ffmpeg}")
    if start:  # the frames before the used range are dropped before any per-frame work (see the docstring)
        chain += [f"trim=start_frame={start}", "setpts=PTS-STARTPTS"]
    if colour.needs_zscale:
        chain += zscale_chain(colour)
        colour = BT709_SOURCE
    matrix_in = "" if colour.matrix == "rgb" else f":in_color_matrix={colour.matrix}:in_range={colour.range}"
    chain += [
        f"scale={fit_expr(width, height)}:flags={SCALE_FLAGS}{matrix_in}:out_color_matrix=bt709:out_range=tv",
        f"pad=w={width}:h={height}:x=(ow-iw)/2:y=(oh-ih)/2:color=black",
        "setsar=1",
        f"tpad=stop_mode=clone:stop={pad_limit(rate) if pad is None else pad}",
        f"trim=end_frame={frames}",
        "setpts=PTS-STARTPTS",
        *post,
        f"format={pix_fmt}",
        "setparams=field_mode=prog:range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709",
    ]
    return ",".join(chain)


def slate_picture_cmd(card: Path, dst: Path, target: Target, *, muxer: str = "mov") -> list[str]:
    """A still card (RGB image) as a shot: the conform's own filter and encoder settings, so the cut can still
    stream-copy it next to real shots."""
    width, height, rate, video = target.width, target.height, target.rate, target.video
    rgb = PictureSource(SourceColour("rgb", "pc", "bt709", "bt709"))
    return [
        *BASE, *progress_args(),
        "-loop", "1", "-framerate", rate.ffmpeg, "-i", str(card),
        "-map", "0:v:0", "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
        "-vf", picture_filter(target, rgb),
        *video_args(video, rate, width, height).args,
        *BT709_TAGS,
        *(timescale_args(rate) if muxer == "mov" else []),
        "-f", muxer, str(dst),
    ]  # fmt: skip


def preset_size(width: int, height: int, video: VideoSpec) -> tuple[int, int]:
    """A preset's picture size: the timeline's, scaled down (aspect kept, even) to at most ``max_height`` lines."""
    if not video.max_height or video.max_height >= height:
        return width, height
    return max(2, round(width * video.max_height / height / 2) * 2), video.max_height


def segment_cmd(
    src: Path,
    dst: Path,
    target: Target,
    *,
    source: PictureSource = PictureSource(),
    burn_in: str | None = None,
    muxer: str = "mov",
    encoder: Choice | None = None,
) -> list[str]:
    """One shot's picture for one preset, from the render through the conform's filters (one generation): at the
    preset's size, pixel format and encoder settings, with the burn-ins drawn last; joined to the other shots'
    segments by stream copy (``join_cmd``). ``encoder``: a hardware encoder chosen by ``hwaccel.choose_encoder``
    (its arguments, upload filters and device), else the preset's software encoder. The cut's picture (the
    conform) is this at ``presets.CUT_VIDEO``."""
    width, height, rate, video = target.width, target.height, target.rate, target.video
    out_w, out_h = preset_size(width, height, video)
    post = [f"scale=w={out_w}:h={out_h}:flags={SCALE_FLAGS}"] if (out_w, out_h) != (width, height) else []
    post += [burn_in] if burn_in else []
    chain = picture_filter(target, source, post=post)
    args = video_args(video, rate, out_w, out_h).args
    if encoder is not None:
        chain, args = encoder.filter_chain(chain), encoder.args
    args = (*args, *keyframe_args(target.keyframes))
    if target.keyframes and encoder is None and video.codec == "libx265":
        args = (*args, "-forced-idr", "1")  # x265 makes a forced keyframe a non-IDR I frame, not a split point
    return [
        *BASE, *progress_args(), *(encoder.global_args if encoder else ()),
        *source.input_args, "-i", str(src),
        "-map", f"0:{PICTURE}:0", "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
        "-vf", chain,
        *args,
        *BT709_TAGS,
        *(timescale_args(rate) if muxer == "mov" else []),
        "-f", muxer, str(dst),
    ]  # fmt: skip


def keyframe_args(frames: tuple[int, ...]) -> list[str]:
    """Keyframes forced at these output frames (by frame number, exact: no seconds to round); none: no argument, so
    a shot used whole is encoded exactly as before. With a closed GOP each is an IDR frame, so the picture can be
    split there by stream copy (``split_cmd``)."""
    if not frames:
        return []
    return ["-force_key_frames", "expr:" + "+".join(f"eq(n,{f})" for f in sorted(frames))]


def split_cmd(src: Path, pattern: Path, cuts: tuple[int, ...], *, rate: Rate, muxer: str = "mov") -> list[str]:
    """Split a picture by stream copy at frames ``cuts`` (each a forced keyframe: ``keyframe_args``) into pieces
    ``pattern`` (``%d`` numbered from 0), each starting at time 0 with the source's time scales, so the pieces
    join by stream copy like whole shots. The segment muxer cuts at the first keyframe at or after each frame."""
    # the pieces' own muxer options go through the segment muxer: FFmpeg 5.1 does not pass -video_track_timescale on
    # (its pieces came out at mov's default 12288 ticks a second at 24 fps and the cut had gaps at every frame).
    # Timestamps as they are (B-frame delay: negative decode times, kept by the piece's edit list like the conform's):
    # shifted to non-negative, the first piece started 2 frames late and 5.1's concat left a gap after it
    scales = f"movie_timescale={rate.timescale}:video_track_timescale={rate.timescale}"
    return [
        *BASE, "-i", str(src), "-map", "0:v:0", "-c", "copy", "-map_metadata", "-1",
        "-f", "segment", "-segment_frames", ",".join(map(str, cuts)), "-reset_timestamps", "1",
        "-segment_format", muxer, *(["-segment_format_options", scales] if muxer == "mov" else []),
        "-avoid_negative_ts", "disabled",
        str(pattern),
    ]  # fmt: skip


def pcm_piece_cmd(src: Path, dst: Path, *, start_sample: int, samples: int) -> list[str]:
    """Exactly ``samples`` samples of a shot's PCM from sample ``start_sample`` (one use of a repeated shot): cut
    on the decoded samples (PCM in, PCM out: nothing is lost), padded with silence should rounding at 29.97 or
    59.94 ask for one sample past the end."""
    chain = [f"atrim=start_sample={start_sample}", "asetpts=PTS-STARTPTS", *_exact_length(samples)]
    return [*BASE, "-i", str(src), "-map", "0:a:0", "-af", ",".join(chain), "-map_metadata", "-1", *_pcm_out(dst)]


def audio_prep_filter() -> str:
    """48 kHz stereo (downmixing 5.1/7.1, upmixing mono) before measuring or applying loudness."""
    return f"aresample={AUDIO_RATE},aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts=stereo"


MEASURE_MIN_SAMPLES = 3 * AUDIO_RATE
"""Audio shorter than 3 s (loudnorm's window; BS.1770 gating needs 400 ms blocks) is measured looped to 3 s."""


def _secs(value: Fraction) -> str:
    return f"{float(value):.6f}"


@dataclass(frozen=True)
class AudioSource:
    """Which audio of a render a shot uses, and where the picture starts in it.

    ``tracks`` are 0-based indices among the render's audio streams (``0:a:N``); several are mixed (summed,
    each first made 48 kHz stereo and aligned to the picture; the loudness normalization after the mix sets
    the level). ``offset``: where the picture starts. With ``copyts`` (a render's own audio, ``loudness
    .audio_source``) it is the picture's first timestamp in the file (``VideoInfo.start_time``) and FFmpeg reads the
    file's own timestamps (``-copyts``), so the audio is aligned to the picture the same way by every FFmpeg
    version; without, how far the picture starts after the file's start.

    Why ``-copyts``: without it FFmpeg subtracts a file start that depends on its version. An AAC or Opus track in
    Matroska starts before 0 by its encoder delay (priming, -21 ms for AAC); FFmpeg 5.1 decodes the priming and
    starts the file there (the picture then starts 21 ms in), FFmpeg 7+ drops it in the decoder and starts the file
    at the picture. Shifting by the picture's offset from the file start, as measured once, put the audio 21 ms
    early with one and right with the other; the file's own timestamps are the same for both (measured: FFmpeg
    5.1.9 and 9.0.2, ``ashowinfo``/``showinfo`` of the first frames, ``tests/integration/test_render_kinds.py``).
    """

    tracks: tuple[int, ...] = (0,)
    offset: Fraction = Fraction(0)
    start: int = 0  # the first sample used, counted from the picture's first frame (a sequence entry's ``in``)
    copyts: bool = False

    @property
    def input_args(self) -> list[str]:
        """What goes before the source's ``-i``: ``-copyts`` when the offset is in the file's own timestamps."""
        return ["-copyts"] if self.copyts else []


FIRST_TRACK = AudioSource()


def _align(offset: Fraction) -> list[str]:
    """Sample 0 at the picture's first frame: the audio shifted back by ``offset``; ``first_pts=0`` then pads
    silence in front of audio that starts late and drops audio from before the picture."""
    chain = [audio_prep_filter()]
    if offset:
        chain.append(f"asetpts=PTS{'-' if offset > 0 else '+'}{_secs(abs(offset))}/TB")
    chain.append(f"aresample={AUDIO_RATE}:async=1:first_pts=0")
    return chain


AUDIO_OUT = "[aout]"


def audio_graph(source: AudioSource, chain: list[str], samples: int | None = None) -> list[str]:
    """``-filter_complex`` and ``-map`` arguments: the source's tracks (aligned, and mixed when several), cut at
    ``samples`` when given, then ``chain``; the result is the output's only audio stream."""
    fit = [f"atrim=end_sample={samples}"] if samples is not None else []
    if source.start and samples is not None:
        fit = [f"atrim=start_sample={source.start}:end_sample={source.start + samples}", "asetpts=PTS-STARTPTS"]
    if samples is None and len(source.tracks) == 1 and not source.offset and not source.copyts:
        head = [f"[0:a:{source.tracks[0]}]{audio_prep_filter()}"]
    elif len(source.tracks) == 1:
        head = [f"[0:a:{source.tracks[0]}]" + ",".join(_align(source.offset))]
    else:
        labels = [f"[t{i}]" for i in range(len(source.tracks))]
        align = ",".join(_align(source.offset))
        parts = [f"[0:a:{t}]{align}{lab}" for t, lab in zip(source.tracks, labels, strict=True)]
        head = [";".join(parts) + ";" + "".join(labels) + f"amix=inputs={len(labels)}:duration=longest:normalize=0"]
    graph = ",".join([*head, *fit, *chain]) + AUDIO_OUT
    return ["-filter_complex", graph, "-map", AUDIO_OUT]


def _exact_length(samples: int) -> list[str]:
    return [f"aresample={AUDIO_RATE}", "apad", f"atrim=end_sample={samples}", "asetpts=PTS-STARTPTS"]


def _loop_for_measure(samples: int | None) -> list[str]:
    if samples is None or samples >= MEASURE_MIN_SAMPLES:
        return []
    return [f"aloop=loop=-1:size={max(1, samples)}", f"atrim=end_sample={MEASURE_MIN_SAMPLES}"]


def loudness_measure_cmd(
    src: Path,
    *,
    target_i: float,
    target_tp: float,
    lra: float,
    samples: int | None = None,
    source: AudioSource = FIRST_TRACK,
) -> list[str]:
    """First loudnorm pass: measure only, exactly the audio the shot will use; the JSON lands on stderr."""
    chain = [*_loop_for_measure(samples), f"loudnorm=I={target_i:g}:TP={target_tp:g}:LRA={lra:g}:print_format=json"]
    return [
        *BASE, *source.input_args, "-i", str(src), *audio_graph(source, chain, samples), "-vn", "-sn", "-dn",
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
    """Second loudnorm pass in linear mode. A measured LRA of exactly 0 (a static signal) is passed as 0.01:
    some FFmpeg versions refuse linear mode for LRA 0, and a static signal is where a plain gain is right."""
    return (
        f"loudnorm=I={target_i:g}:TP={target_tp:g}:LRA={lra:g}"
        f":measured_I={m.input_i:.2f}:measured_TP={m.input_tp:.2f}:measured_LRA={max(m.input_lra, 0.01):.2f}"
        f":measured_thresh={m.input_thresh:.2f}:offset={m.target_offset:.2f}:linear=true:print_format=json"
    )


def target_lra(measured_lra: float) -> float:
    """An LRA target at least the source's, so loudnorm can stay linear (no dynamics change)."""
    return float(max(7, min(50, int(measured_lra) + 2)))


def _pcm_out(dst: Path) -> list[str]:
    return ["-c:a", "pcm_s24le", "-ar", str(AUDIO_RATE), "-ac", "2", "-f", "wav", str(dst)]


@dataclass(frozen=True)
class PcmJob:
    """A shot's PCM audio: read from ``src`` (its ``source`` tracks), written to ``dst`` as exactly ``samples``
    samples at 48 kHz stereo, 24-bit WAV."""

    src: Path
    dst: Path
    samples: int
    source: AudioSource = FIRST_TRACK

    def cmd(self, chain: list[str]) -> list[str]:
        """The command: the source's audio through ``chain``, then cut or padded to the exact length."""
        graph = audio_graph(self.source, [*chain, *_exact_length(self.samples)], self.samples)
        return [*BASE, *progress_args(), *self.source.input_args, "-i", str(self.src), *graph, "-vn", "-sn", "-dn",
                "-map_metadata", "-1",
                *_pcm_out(self.dst)]  # fmt: skip


def normalize_audio_cmd(
    job: PcmJob, *, target_i: float, target_tp: float, measurement: LoudnessMeasurement
) -> list[str]:
    """Second pass: apply the measured loudness linearly, then exactly ``samples`` at 48 kHz (PCM WAV)."""
    lra = target_lra(measurement.input_lra)
    return job.cmd([loudnorm_apply_filter(target_i, target_tp, lra, measurement)])


LIMITER_RATE = 4 * AUDIO_RATE
"""The limiter runs 4x oversampled, so it catches the inter-sample (true) peaks BS.1770 measures."""


def limiter_filter(ceiling_db: float) -> list[str]:
    """A true-peak limiter: 4x oversampled lookahead limiter, delay compensated (sync is kept)."""
    return [
        f"aresample={LIMITER_RATE}",
        f"alimiter=limit={10 ** (ceiling_db / 20):.4f}:attack=1:release=50:level=0:latency=1",
    ]


def limited_audio_cmd(job: PcmJob, *, gain_db: float, ceiling_db: float) -> list[str]:
    """A linear gain whose peaks would pass the ceiling: the gain, then a true-peak limiter at ``ceiling_db``.

    For quiet programme with loud transients (dialogue and a door slam): loudnorm's linear mode would cap the
    gain at the peaks and miss the target by many LU, its dynamic mode would pump the whole shot.
    """
    return job.cmd([f"volume={gain_db:.2f}dB", *limiter_filter(ceiling_db)])


def pcm_fit_cmd(job: PcmJob) -> list[str]:
    """Audio that cannot be measured (silent source): keep it as is, fitted to the exact length."""
    return job.cmd([])


def silence_cmd(dst: Path, *, samples: int) -> list[str]:
    """Exact-length stereo silence for a shot whose render has no audio."""
    return [
        *BASE, "-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo",
        "-af", f"atrim=end_sample={samples}", "-c:a", "pcm_s24le", "-f", "wav", str(dst),
    ]  # fmt: skip


def concat_list(paths: list[Path], base: Path | None = None) -> str:
    """A concat-demuxer list, written in a form the demuxer cannot misread.

    The demuxer reads its list line by line (libavformat/concatdec.c), so no quoting can carry a line break: a
    workspace path holding a newline would split an entry in two. Entries under ``base`` (the folder the list is
    written in) are therefore written relative to it (``picture/sh010.mov``: shot ids are ``[A-Za-z0-9_-]``), and
    the demuxer resolves them against the list's own path, which FFmpeg gets as an argument. Any other entry is
    absolute, quoted (a single quote as ``'\\''``), and refused by name if it holds a line break.
    """
    lines = ["ffconcat version 1.0"]
    for p in paths:
        path = Path(p) if base is None else Path(os.path.abspath(p))
        if base is not None and path.is_relative_to(os.path.abspath(base)):
            entry = path.relative_to(os.path.abspath(base)).as_posix()
        else:
            entry = str(path.resolve())
        if "\n" in entry or "\r" in entry:
            raise UnsafePathError(
                f"{p}: a path with a line break cannot be listed for FFmpeg's concat demuxer; rename the folder",
                path=p,
            )
        quoted = entry.replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    return "\n".join(lines) + "\n"


def assemble_cmd(video_list: Path, audio_list: Path, dst: Path, *, rate: Rate) -> list[str]:
    """Join pictures and PCM audio by stream copy: no re-encode, exact joins."""
    return [
        *BASE, *progress_args(),
        "-f", "concat", "-safe", "0", "-i", str(video_list),
        "-f", "concat", "-safe", "0", "-i", str(audio_list),
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
        *timescale_args(rate), "-map_metadata", "-1",
        "-f", "mov", str(dst),
    ]  # fmt: skip


MUXERS = {"mp4": "mp4", "mov": "mov", "mxf": "mxf", "mkv": "matroska", "webm": "webm", "wav": "wav"}


def container_args(preset: Preset, rate: Rate, title: str) -> list[str]:
    """Muxer options: exact time scales for MOV/MP4; MP4 with its picture's first frame at 0 (negative composition
    offsets, no B-frame delay edit: YouTube asks for no edit lists) and its index first (+faststart); MXF with the
    picture's rate as its time base (FFmpeg 5.1's MXF muxer refuses the segments' 1/24000 time base as "frame rate
    24000/1", measured; ``-r`` on the stream copy sets it)."""
    ext = preset.extension
    args = ["-map_metadata", "-1", "-metadata", f"title={title}"]
    if ext in ("mp4", "mov"):
        args += timescale_args(rate)
    if ext == "mxf":
        args += ["-r", rate.ffmpeg]
    if ext == "mp4":
        args += ["-movflags", "+faststart+negative_cts_offsets"]
    video = preset.spec.video
    if video is not None and video.tag:
        args += ["-tag:v", video.tag]
    elif video is not None and video.codec == "libx264" and ext in ("mp4", "mov"):
        args += ["-tag:v", "avc1"]
    return [*args, "-f", MUXERS[ext]]


def join_cmd(
    segments_list: Path | None,
    cut: Path,
    dst: Path,
    *,
    preset: Preset,
    rate: Rate,
    title: str = "",
    sound: Path | None = None,
) -> list[str]:
    """A delivery: its segments joined by stream copy (``segments_list``, a concat list; None: the cut's own
    picture, already at this preset's settings), with the sound encoded once from the cut's PCM, or from
    ``sound`` (the mix with the music bed: then the cut is not read at all when the picture is the segments')."""
    video_in = ["-f", "concat", "-safe", "0", "-i", str(segments_list)] if segments_list else []
    if sound is not None:
        picture = video_in or ["-i", str(cut)]
        return [
            *BASE, *progress_args(), *picture, "-i", str(sound),
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", *audio_args(preset.spec.audio),
            *container_args(preset, rate, title), str(dst),
        ]  # fmt: skip
    audio_input = 1 if segments_list else 0
    return [
        *BASE, *progress_args(), *video_in, "-i", str(cut),
        "-map", "0:v:0", "-map", f"{audio_input}:a:0", "-c:v", "copy", *audio_args(preset.spec.audio),
        *container_args(preset, rate, title), str(dst),
    ]  # fmt: skip


def stems_cmd(cut: Path, dst: Path, *, preset: Preset) -> list[str]:
    """The programme's sound alone (the cut's 48 kHz PCM, or the mix with the music bed), e.g. 24-bit WAV stems."""
    return [
        *BASE, *progress_args(), "-i", str(cut), "-map", "0:a:0", *audio_args(preset.spec.audio),
        "-map_metadata", "-1", "-f", MUXERS[preset.extension], str(dst),
    ]  # fmt: skip


def ebur128_cmd(src: Path, *, samples: int | None = None) -> list[str]:
    """Measure integrated loudness and true peak (the check, independent of loudnorm's estimate).

    ``samples`` (the file's length at 48 kHz) under 3 s loops it to 3 s, as the normalization measured it.
    """
    return [
        "-hide_banner", "-nostdin", "-nostats", "-i", str(src), "-map", "0:a:0", "-vn",
        "-af", ",".join([*_loop_for_measure(samples), "ebur128=peak=true"]), "-f", "null", "-",
    ]  # fmt: skip
