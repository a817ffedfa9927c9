"""Pictures a person can look at: a poster frame per shot, a contact sheet per cut.

Both are small JPEGs (each under ``MAX_BYTES``, 60 KB) because the UI shows them embedded in the event log
(``assets.metadata.image_markdown``); the files are kept in ``05_Cache/posters/<shot>.jpg`` and
``05_Cache/contact/<project>_contact.jpg`` (``Project.poster_path``, ``Project.contact_sheet_path``), written
under a temporary name and renamed into place (``outputs.atomic_output``).

- The poster is the conformed shot's middle frame (frame ``frames // 2``: the first of a one-frame shot), picked
  by FFmpeg's accurate seek and scaled to ``POSTER_WIDTH`` (320 px), converted from BT.709 limited range to
  JPEG's own BT.601 full range so its colours are the shot's.
- The contact sheet is drawn by Pillow: one cell per shot in story order, each the shot's poster with its label
  underneath (Pillow's built-in font, so no system font is needed); a shot without a poster gets a dark cell
  saying so, so the order is never shifted.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .commands import BASE
from .errors import InvalidMediaError
from .outputs import atomic_output
from .probe import probe
from .rates import Rate
from .runner import Run

POSTER_WIDTH = 320
CELL_WIDTH = 160
MAX_BYTES = 60_000
"""What one embedded picture may weigh: it lives in the event log (Dagster stores metadata with each event)."""
JPEG_QUALITIES = (85, 75, 65, 55, 45, 35)

BACKGROUND = (20, 20, 20)
LABEL = (235, 235, 235)
MISSING = (64, 20, 20)


def middle_frame(frames: int) -> int:
    """The poster's frame: the middle one (the later of the two middle frames of an even count), 0 for one frame."""
    return max(0, frames) // 2


def seek_seconds(frame: int, rate: Rate) -> Fraction:
    """Where to seek for ``frame``: half a frame before it, so FFmpeg's accurate seek drops every frame before it
    and keeps it, whatever the rounding of its timestamp."""
    return max(Fraction(0), (Fraction(frame) - Fraction(1, 2)) / rate.fraction)


def poster_filter(width: int = POSTER_WIDTH) -> str:
    """Scale to ``width`` (never up, even height, aspect kept) from BT.709 limited to JPEG's BT.601 full range."""
    return (
        f"scale=w='min({width},iw)':h=-2:flags=lanczos+accurate_rnd+full_chroma_int"
        ":in_color_matrix=bt709:in_range=tv:out_color_matrix=bt601:out_range=pc,setsar=1,format=yuv420p"
    )


def poster_cmd(
    picture: Path, dest: Path, *, frame: int, rate: Rate, width: int = POSTER_WIDTH, quality: int = 4
) -> list[str]:
    """FFmpeg writing frame ``frame`` of ``picture`` (a conformed shot at ``rate``) as one JPEG ``dest``.

    ``quality`` is the MJPEG quantizer (2 best .. 31 worst); 4 keeps a 320 px poster near 10-25 KB.
    """
    seek = seek_seconds(frame, rate)
    return [
        *BASE, *(["-ss", f"{float(seek):.6f}"] if seek else []), "-i", str(picture),
        "-map", "0:v:0", "-an", "-sn", "-dn", "-frames:v", "1", "-vf", poster_filter(width),
        "-c:v", "mjpeg", "-q:v", str(quality), "-color_range", "pc", "-f", "image2", "-update", "1", str(dest),
    ]  # fmt: skip


def make_poster(
    run: Run,
    picture: Path,
    dest: Path,
    *,
    frames: int | None = None,
    rate: Rate | None = None,
    width: int = POSTER_WIDTH,
    max_bytes: int = MAX_BYTES,
) -> Path:
    """Write the middle frame of the conformed shot ``picture`` to ``dest`` (JPEG, ``width`` px wide, under
    ``max_bytes``). ``frames`` and ``rate`` default to the file's own (probed)."""
    if frames is None or rate is None:
        v = probe(picture).video
        if v is None:
            raise InvalidMediaError(f"{picture}: no picture to take a poster frame from", path=picture)
        frames = v.frames if frames is None else frames
        rate = rate or (Rate(v.rate.numerator, v.rate.denominator) if v.rate else Rate(24))
    with atomic_output(dest) as tmp:
        run(poster_cmd(picture, tmp, frame=middle_frame(frames), rate=rate, width=width), path=picture)
        if tmp.stat().st_size > max_bytes:
            tmp.write_bytes(shrink_image(tmp.read_bytes(), max_bytes))
    return dest


# ---------------------------------------------------------------- size budget


def encode_jpeg(image: Image.Image, max_bytes: int = MAX_BYTES) -> tuple[bytes, float]:
    """``image`` as JPEG bytes under ``max_bytes``: lower quality first, then smaller (by 3/4 steps); the bytes and
    the scale that was applied (1.0: full size)."""
    img = image.convert("RGB")
    scale = 1.0
    while True:
        for quality in JPEG_QUALITIES:
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=quality, optimize=True)
            if buf.tell() <= max_bytes:
                return buf.getvalue(), scale
        if min(img.size) <= 16:
            return buf.getvalue(), scale  # a 16 px picture over budget: the budget is absurd; keep the smallest
        scale *= 0.75
        size = (max(16, round(image.width * scale)), max(16, round(image.height * scale)))
        img = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def shrink_image(data: bytes, max_bytes: int = MAX_BYTES) -> bytes:
    """Image bytes (any format Pillow reads) re-encoded as JPEG under ``max_bytes``."""
    with Image.open(io.BytesIO(data)) as im:
        return encode_jpeg(im, max_bytes)[0]


# ---------------------------------------------------------------- contact sheet


@dataclass(frozen=True)
class Cell:
    """One shot on the sheet: its label and the box (left, top, right, bottom) its picture fills."""

    label: str
    box: tuple[int, int, int, int]
    missing: bool = False


@dataclass(frozen=True)
class ContactSheet:
    path: Path
    size: tuple[int, int]
    cells: tuple[Cell, ...]


def auto_columns(count: int) -> int:
    """Columns for ``count`` cells: a roughly 16:9 sheet, at least 4 wide (fewer only with fewer cells)."""
    return max(1, min(count, max(4, math.ceil(math.sqrt(count * 1.5)))))


def _open_poster(path: Path | None) -> Image.Image | None:
    if path is None:
        return None
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError):
        return None


def _fit(img: Image.Image, w: int, h: int) -> Image.Image:
    scale = min(w / img.width, h / img.height)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _fit_label(draw: ImageDraw.ImageDraw, label: str, font: Font, width: int) -> str:
    """``label``, cut short with "..." when it is wider than ``width``."""
    if draw.textlength(label, font=font) <= width:
        return label
    while label and draw.textlength(label + "...", font=font) > width:
        label = label[:-1]
    return label + "..."


def _draw_cell(sheet: Image.Image, draw: ImageDraw.ImageDraw, cell: Cell, img: Image.Image | None, font: Font) -> None:
    left, top, right, bottom = cell.box
    w, h = right - left, bottom - top
    if img is None:
        draw.rectangle(cell.box, fill=MISSING)
        draw.text((left + 4, top + 4), "no poster", font=font, fill=LABEL)
    else:
        fitted = _fit(img, w, h)
        sheet.paste(fitted, (left + (w - fitted.width) // 2, top + (h - fitted.height) // 2))
    draw.text((left + 2, bottom + 1), _fit_label(draw, cell.label, font, w - 4), font=font, fill=LABEL)


def make_contact_sheet(
    posters: Sequence[tuple[str, Path | None]],
    dest: Path,
    *,
    columns: int | None = None,
    cell_width: int = CELL_WIDTH,
    max_bytes: int = MAX_BYTES,
) -> ContactSheet:
    """One cell per ``(label, poster)`` in the order given (story order), ``columns`` wide, labels underneath;
    written as a JPEG under ``max_bytes`` to ``dest`` (scaled down as a whole when needed; the cells' boxes are
    those of the written file). A poster that is ``None`` or unreadable gets a dark "no poster" cell."""
    if not posters:
        raise ValueError(f"{dest}: a contact sheet needs at least one shot")
    images = [_open_poster(p) for _, p in posters]
    aspect = next((im.height / im.width for im in images if im is not None), 9 / 16)
    cols = columns or auto_columns(len(posters))
    rows = math.ceil(len(posters) / cols)
    cell_h = max(2, round(cell_width * aspect))
    label_h = max(10, cell_width // 10)
    gap = max(2, cell_width // 40)
    pitch_x, pitch_y = cell_width + gap, cell_h + label_h + gap
    sheet = Image.new("RGB", (gap + cols * pitch_x, gap + rows * pitch_y), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=label_h - 3)
    cells: list[Cell] = []
    for i, ((label, _), img) in enumerate(zip(posters, images, strict=True)):
        x, y = gap + (i % cols) * pitch_x, gap + (i // cols) * pitch_y
        cell = Cell(label, (x, y, x + cell_width, y + cell_h), img is None)
        _draw_cell(sheet, draw, cell, img, font)
        cells.append(cell)
    data, scale = encode_jpeg(sheet, max_bytes)
    if scale != 1.0:
        with Image.open(io.BytesIO(data)) as small:
            sx, sy = small.width / sheet.width, small.height / sheet.height
        cells = [Cell(c.label, _scaled_box(c.box, sx, sy), c.missing) for c in cells]
    with atomic_output(dest) as tmp:
        tmp.write_bytes(data)
    with Image.open(dest) as written:
        size = written.size
    return ContactSheet(dest, size, tuple(cells))


def _scaled_box(box: tuple[int, int, int, int], sx: float, sy: float) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    return round(left * sx), round(top * sy), round(right * sx), round(bottom * sy)
