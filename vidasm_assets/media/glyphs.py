"""Which characters the shipped font can draw: cards, overlays and burn-ins are drawn in DejaVu Sans Mono
(``vidasm_assets/fonts``), and a character it has no glyph for comes out as an empty box (FreeType draws the
font's ``.notdef`` glyph), silently. Text with such characters is refused when project.json loads instead
(``project.check_text``). The font's character map is read with fontTools, once per process."""

from __future__ import annotations

import functools
from importlib import resources

from fontTools.ttLib import TTFont

FONT_FILE = "DejaVuSansMono.ttf"
FONT_NAME = "DejaVu Sans Mono"


@functools.cache
def font_characters() -> frozenset[int]:
    """The code points the shipped font maps to a glyph (its best Unicode ``cmap`` subtable)."""
    with (resources.files("vidasm_assets") / "fonts" / FONT_FILE).open("rb") as f:
        return frozenset(TTFont(f, lazy=True)["cmap"].getBestCmap())


def undrawable(text: str) -> list[str]:
    """The characters of ``text`` the shipped font has no glyph for, each once, in order (line breaks are not
    drawn, so never counted)."""
    have = font_characters()
    return list(dict.fromkeys(c for c in text if c != "\n" and ord(c) not in have))
