"""The placeholder slate: a card saying which shot is missing and why, cut in at the shot's length.

Pillow draws one still card (with its built-in font, so no system font is needed); FFmpeg turns it into the
shot with the conform's own filter and encoder settings (``commands.slate_picture_cmd``), so the cut can
still stream-copy it. MoviePy would draw the same card through Pillow, but it keeps a reader process per clip
and writes with its own encoder settings; one image and one FFmpeg command is all a slate needs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .rates import Rate

BACKGROUND = (48, 16, 16)
FOREGROUND = (235, 235, 235)
ACCENT = (255, 196, 0)


def card_lines(project: str, shot: str, take: str, frames: int, rate: Rate, reason: str) -> list[str]:
    """What the slate says, top to bottom."""
    seconds = float(rate.frames_to_seconds(frames))
    return [
        "PLACEHOLDER - MISSING SHOT",
        shot,
        f"{project}  |  take {take or '-'}  |  {frames} frames ({seconds:.2f} s at {rate} fps)",
        *textwrap.wrap(reason, width=60)[:4],
    ]


def draw_card(dest: Path, width: int, height: int, lines: list[str]) -> Path:
    """Write the card as an RGB PNG at the timeline size."""
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    big = ImageFont.load_default(size=max(10, height // 7))
    small = ImageFont.load_default(size=max(8, height // 22))
    margin = max(4, width // 24)
    y = max(4, height // 10)
    for i, line in enumerate(lines):
        font = big if i == 1 else small
        colour = ACCENT if i == 0 else FOREGROUND
        draw.text((margin, y), line, font=font, fill=colour)
        box = draw.textbbox((margin, y), line, font=font)
        y = box[3] + max(2, height // 30)
    border = max(2, height // 90)
    draw.rectangle([0, 0, width - 1, height - 1], outline=ACCENT, width=border)
    dest.parent.mkdir(parents=True, exist_ok=True)
    img.save(dest, format="PNG")
    return dest
