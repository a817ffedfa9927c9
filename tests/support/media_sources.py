"""Tiny generated renders for the media-correctness cases (lavfi only; nothing downloaded).

Every source is at most a couple of seconds and a few hundred pixels, so the whole set encodes in seconds.
``SOURCES`` maps a case name to the FFmpeg arguments that make it; ``make(ffmpeg, dest, case)`` writes one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from vidasm_assets.media.ffmpeg_tool import bundled_ffmpeg

X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "128k"]
PCM = ["-c:a", "pcm_s16le"]


def video(size: str = "160x90", rate: str = "24", seconds: float = 1.0, pattern: str = "testsrc2") -> list[str]:
    return ["-f", "lavfi", "-i", f"{pattern}=s={size}:r={rate}:d={seconds}"]


def tone(
    seconds: float = 1.0, db: float = -20.0, rate: int = 48000, layout: str = "stereo", hz: int = 440
) -> list[str]:
    """A sine at ``db`` dBFS peak (lavfi's sine is -18 dBFS, so the volume is relative to that)."""
    return [
        "-f", "lavfi", "-i",
        f"sine=f={hz}:r={rate}:d={seconds},volume={db + 18:g}dB,aformat=channel_layouts={layout}",
    ]  # fmt: skip


def speech_like(seconds: float, db: float, rate: int = 48000) -> list[str]:
    """Programme with real loudness range: a tone bed whose level steps every 0.25 s (LRA > 0)."""
    expr = f"{10 ** (db / 20):.6f}*sin(2*PI*330*t)*(0.55+0.45*gte(mod(t,0.5),0.25))"
    return ["-f", "lavfi", "-i", f"aevalsrc='{expr}':s={rate}:c=stereo:d={seconds}"]


def crest(seconds: float, bed_db: float, peak: float = 0.95) -> list[str]:
    """Quiet programme with loud transients (a door slam): linear gain to target would clip the peaks."""
    expr = f"{10 ** (bed_db / 20):.6f}*sin(2*PI*440*t)+if(between(mod(t,1),0.5,0.5004),{peak},0)"
    return ["-f", "lavfi", "-i", f"aevalsrc='{expr}':s=48000:c=stereo:d={seconds}"]


def run(ffmpeg: str, dest: Path, args: list[str]) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args, str(dest)]
    subprocess.run(argv, check=True, capture_output=True)
    return dest


def with_av(v: list[str], a: list[str] | None, vcodec: list[str] = X264, acodec: list[str] = AAC) -> list[str]:
    args = [*v, *(a or []), "-map", "0:v"]
    if a:
        args += ["-map", "1:a", *acodec]
    return [*args, *vcodec, "-shortest"]


def colour_patch(
    rgb: str, size: str, *, matrix: str, tags: tuple[str, str, str] | None, rate: str = "24", seconds: float = 1.0
) -> list[str]:
    """A flat colour encoded (near-lossless) with ``matrix``; ``tags`` (primaries, transfer, matrix) or none."""
    vf = f"format=rgb24,scale=out_color_matrix={matrix}:out_range=tv,format=yuv420p"
    if tags:
        vf += f",setparams=color_primaries={tags[0]}:color_trc={tags[1]}:colorspace={tags[2]}:range=tv"
    else:
        vf += ",setparams=color_primaries=unknown:color_trc=unknown:colorspace=unknown:range=unknown"
    return [
        "-f", "lavfi", "-i", f"color=c={rgb}:s={size}:r={rate}:d={seconds}",
        "-vf", vf, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
    ]  # fmt: skip


# PQ code values (10-bit, limited) of 10, 100 and 1000 cd/m2: three grey patches, left to right
PQ_PATCHES = (327, 509, 723)
HLG_PATCHES = (327, 509, 723)


def hdr_patches(transfer: str, size: str = "192x108", seconds: float = 1.0) -> list[str]:
    """A 10-bit HEVC BT.2020 source with PQ or HLG transfer: three grey patches of known code values."""
    a, b, c = PQ_PATCHES
    lum = f"if(lt(X,W/3),{a},if(lt(X,2*W/3),{b},{c}))"
    return [
        "-f", "lavfi", "-i", f"color=c=gray:s={size}:r=24:d={seconds}",
        "-vf", f"format=yuv420p10le,geq=lum='{lum}':cb=512:cr=512,"
        f"setparams=color_primaries=bt2020:color_trc={transfer}:colorspace=bt2020nc:range=tv",
        "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p10le",
        "-tag:v", "hvc1",
    ]  # fmt: skip


def flat(rgb: str = "0xC0C0C0", size: str = "160x90", rate: str = "24", seconds: float = 1.0) -> list[str]:
    """A flat light picture: its active area against the black letter/pillarbox is easy to measure."""
    return ["-f", "lavfi", "-i", f"color=c={rgb}:s={size}:r={rate}:d={seconds}"]


def rotated(ffmpeg: str, dest: Path, work: Path, degrees: int = 90) -> Path:
    """A phone-style render: the picture stored landscape with a display-rotation matrix."""
    base = run(ffmpeg, work / f"{dest.stem}_base.mp4", [*flat(size="160x90"), *X264])
    # -display_rotation is FFmpeg 6.1+: the file is written with the bundled FFmpeg whatever vidasm runs
    writer = bundled_ffmpeg() or ffmpeg
    return run(writer, dest, ["-display_rotation", str(degrees), "-i", str(base), "-c", "copy"])


def sync_pair(ffmpeg: str, dest: Path, work: Path, *, audio_late: float, picture_late: float, fmt: str) -> Path:
    """Picture turns white and a beep starts at the same instant (1 s into the picture); one stream of the file
    starts later than the other, and the whole file starts at 10 s."""
    v = run(ffmpeg, work / f"{dest.stem}_v.mkv", ["-f", "lavfi", "-i",
            "color=c=black:s=160x90:r=24:d=2,drawbox=c=white:t=fill:enable='gte(t,1)'", *X264])  # fmt: skip
    beep_at = 1 + picture_late - audio_late
    a = f"aevalsrc='0.5*sin(2*PI*1000*t)*gte(t,{beep_at:g})':s=48000:c=stereo:d={2 + picture_late - audio_late:g}"
    args = ["-itsoffset", f"{picture_late:g}", "-i", str(v), "-itsoffset", f"{audio_late:g}", "-f", "lavfi", "-i", a]
    args += ["-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "pcm_s16le", "-output_ts_offset", "10"]
    return run(ffmpeg, dest, [*args, "-f", fmt])


def truncated(src: Path, dest: Path, keep: float | int) -> Path:
    """A prefix of ``src``: a render whose writer crashed (``keep`` bytes, or that fraction of the file)."""
    data = src.read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data[:n])
    return dest


def luma_render(
    ffmpeg: str,
    dest: Path,
    luma: str,
    *,
    frames: int,
    fps: int = 24,
    tone_hz: int = 440,
    timecode: str | None = None,
    noise_seed: int | None = None,
) -> Path:
    """A tiny render (64x36) whose frame N is flat grey of luma ``luma`` (a geq expression of N), lossless H.264,
    with a sine tone (or, with ``noise_seed``, stereo pink noise: programme sound uncorrelated with any other seed's)
    as 16-bit PCM and, when given, a source timecode: frames identified by their decoded luma."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    seconds = frames / fps
    picture = f"nullsrc=s=64x36:r={fps}:d={seconds},format=yuv420p,geq=lum='{luma}':cb=128:cr=128"
    sound = (f"sine=f={tone_hz}:r=48000:d={seconds}" if noise_seed is None else
             f"anoisesrc=c=pink:seed={noise_seed}:r=48000:d={seconds},aformat=channel_layouts=stereo")  # fmt: skip
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", picture,
            "-f", "lavfi", "-i", sound, "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
            "-c:a", "pcm_s16le", *(["-timecode", timecode] if timecode else []), str(dest)]  # fmt: skip
    subprocess.run(argv, check=True)
    return dest


def cover_first_mp4(ffmpeg: str, dest: Path, work: Path, *, frames: int = 24, luma: int = 120) -> Path:
    """An MP4 with cover art (a bright red 64x36 JPEG, ``attached_pic``) that FFmpeg and PyAV list as stream 0, ahead
    of the picture (flat grey ``luma``, ``frames`` at 24 fps) and its tone: the moov's ``udta`` (which holds the
    ``covr``) moved before its tracks, as some taggers write it. Box sizes and chunk offsets are unchanged."""
    import struct

    cover = run(ffmpeg, work / "cover.jpg", ["-f", "lavfi", "-i", "color=c=red:s=64x36", "-frames:v", "1"])
    plain = work / "cover_last.mp4"
    seconds = frames / 24
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"color=c=0x{luma:02x}{luma:02x}{luma:02x}:s=64x36:r=24:d={seconds}",
                    "-f", "lavfi", "-i", f"sine=f=440:d={seconds}", "-i", str(cover),
                    "-map", "0", "-map", "1", "-map", "2", "-c:v:0", "libx264", "-pix_fmt", "yuv420p",
                    "-c:v:1", "mjpeg", "-disposition:v:1", "attached_pic", "-c:a", "aac",
                    "-movflags", "+faststart", str(plain)], check=True)  # fmt: skip
    data = bytearray(plain.read_bytes())

    def boxes(start: int, end: int) -> list[tuple[str, int, int]]:
        out, i = [], start
        while i < end:
            size, kind = struct.unpack(">I4s", data[i : i + 8])
            out.append((kind.decode(), i, size))
            i += size
        return out

    _, at, size = next(b for b in boxes(0, len(data)) if b[0] == "moov")
    kids = boxes(at + 8, at + size)
    body = [bytes(data[i : i + n]) for _, i, n in kids]
    names = [k for k, _, _ in kids]
    udta, trak = names.index("udta"), names.index("trak")
    order = [*body[:trak], body[udta], *(b for j, b in enumerate(body) if j >= trak and j != udta)]
    data[at + 8 : at + size] = b"".join(order)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(bytes(data))
    return dest
