"""The placeholder slate: a card saying which shot is missing and why, cut in at the shot's length.

MoviePy draws one still card with the font shipped in the package (``cards.draw_slate``, the renderer of every
card); FFmpeg turns it into the shot with the conform's own filter and encoder settings
(``commands.slate_picture_cmd``), so the cut can still stream-copy it. MoviePy renders that one frame only
(``get_frame(0)``): it never writes video (it keeps a reader process per clip and writes with its own encoder
settings); one image and one FFmpeg command is all a slate needs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from .cards import draw_slate
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
    """Write the card as an RGB PNG at the timeline size (drawn by MoviePy, as every card: ``cards.draw_slate``)."""
    return draw_slate(dest, width, height, lines, background=BACKGROUND, colour=FOREGROUND, accent=ACCENT)
