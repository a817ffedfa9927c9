"""What the UI shows about outputs: asset metadata from probes and build reports."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import dagster as dg

from ..media.colour import AlphaMode
from ..media.conform import PictureResult
from ..media.loudness import AudioResult
from ..media.probe import MediaInfo
from ..media.thumbnails import MAX_BYTES, shrink_image


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
        if src.alpha:
            md["alpha"] = ("flattened over black (premultiplied)" if res.alpha is AlphaMode.STRAIGHT
                           else "kept as it is: premultiplied already (colour.alpha)")  # fmt: skip
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
            "mode": res.mode.value,
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


def _mime(data: bytes) -> str:
    return "image/png" if data.startswith(b"\x89PNG\r\n\x1a\n") else "image/jpeg"


def _embedded(data: bytes, alt: str) -> str:
    return f"![{alt}](data:{_mime(data)};base64,{base64.b64encode(data).decode('ascii')})"


def image_markdown(path: Path | str, max_bytes: int = MAX_BYTES, alt: str = "") -> dg.MetadataValue:
    """A JPEG or PNG embedded in markdown metadata (``![alt](data:image/jpeg;base64,...)``), which the UI shows
    as a picture. Metadata lives in the event log, so the markdown is at most ``max_bytes`` characters: a bigger
    picture is re-encoded as a smaller JPEG (lower quality, then fewer pixels) first; the file is left alone."""
    alt = "".join(ch for ch in alt if ch not in "[]()\r\n")
    data = Path(path).read_bytes()
    md = _embedded(data, alt)
    if len(md) > max_bytes:
        overhead = len(_embedded(b"", alt))
        data = shrink_image(data, (max_bytes - overhead) * 3 // 4 - 3)  # base64: 4 characters per 3 bytes
        md = _embedded(data, alt)
    return dg.MetadataValue.md(md)
