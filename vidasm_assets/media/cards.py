"""Cards (title cards, end cards, text slates) and the placeholder slate: one still drawn by MoviePy, then
conformed like a shot by FFmpeg.

MoviePy composes the still (``ColorClip`` or ``ImageClip`` background, ``TextClip`` text in the font shipped with
the package, ``CompositeVideoClip``) and renders exactly one frame of it (``get_frame(0)``), which Pillow writes as
an RGB PNG. FFmpeg then loops that still through the conform's own filters and encoder settings
(``commands.slate_picture_cmd``), so the cut stream-copies a card next to real shots, and writes the exact number
of samples of silence under it. Python never touches the frames of the card's video: MoviePy draws one picture.

MoviePy is imported inside the drawing functions only (it pulls in imageio, proglog and more): importing the
definitions stays as fast as without cards.

A card's outputs are keyed by its content (``card_key``: text, colours, background image's content, size, rate,
length, the renderer's version): ``05_Cache/cards/<id>-<key>.mov|wav`` for the cut, ``05_Cache/cards/<preset>/``
for a delivery's segments. A card already rendered with the same content is reused, so changing one card's text
re-renders that card only (and, through the timeline's version, the cut, EDL, OTIO and deliveries: no shot).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from . import commands as cmd
from .burnins import font_path
from .errors import InvalidMediaError, MediaNotFoundError, UnsafePathError
from .limits import Limits
from .outputs import atomic_output
from .probe import probe
from .rates import Rate

if TYPE_CHECKING:
    import numpy as np

    from .presets import Preset
    from .project import CardRef, Project
    from .runner import Run
    from .timeline import TimelineClip

RENDERER_VERSION = "card-1"
"""Bump when a card's picture changes for the same content: every card is drawn again (nothing else is)."""
CARDS_DIR = "cards"
MARGIN = 0.08
"""Share of the frame width and height kept free around a card's text."""
LINE_SPACING = 1.35
Colour = tuple[int, int, int]


def hex_colour(value: str) -> Colour:
    """``#RRGGBB`` as an RGB tuple."""
    v = value.lstrip("#")
    return int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)


# ---------------------------------------------------------------- drawing (MoviePy, one frame)


def _fit_text(text: str, width: int, height: int) -> tuple[str, int]:
    """The text wrapped to the frame and the largest font size (a fraction of the height) at which it fits: the
    shipped font is monospaced, each glyph about 0.6 of the size wide."""
    room_w, room_h = width * (1 - 2 * MARGIN), height * (1 - 2 * MARGIN)
    size = max(8, height // 8)
    while True:
        per_line = max(1, int(room_w / (0.6 * size)))
        lines = [w for part in text.splitlines() or [""] for w in (textwrap.wrap(part, per_line) or [""])]
        if size <= 8 or len(lines) * size * LINE_SPACING <= room_h:
            return "\n".join(lines), size
        size = max(8, int(size * 0.85))


def _background(width: int, height: int, background: Colour | Path) -> Any:
    """A ``ColorClip`` of the colour, or the image fitted inside the frame (aspect kept) on black."""
    from moviepy import ColorClip, CompositeVideoClip, ImageClip

    if not isinstance(background, Path):
        return ColorClip((width, height), color=background)
    with Image.open(background) as img:
        picture = _flattened(img)
    scale = min(width / picture.width, height / picture.height)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    fitted = ImageClip(_as_array(picture.resize(size, Image.Resampling.LANCZOS)))
    return CompositeVideoClip([ColorClip((width, height), color=(0, 0, 0)), fitted.with_position("center")],
                              size=(width, height))  # fmt: skip


def _flattened(img: Image.Image) -> Image.Image:
    """The image in RGB, its transparency (an alpha channel, or a palette's transparent entry) composited over
    black, as renders with alpha are (``commands.PictureSource``): ``convert("RGB")`` alone drops the alpha and
    shows whatever colour transparent pixels store (white, in many exports)."""
    if _transparent(img):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB")
    return img.convert("RGB")


def _transparent(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def _as_array(img: Image.Image) -> np.ndarray:
    import numpy as np

    return np.asarray(img)


def _save(frame: np.ndarray, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame[:, :, :3].astype("uint8")).save(dest, format="PNG")
    return dest


def draw_title(dest: Path, width: int, height: int, text: str, *, colour: Colour, background: Colour | Path) -> Path:
    """A title card as an RGB PNG at ``width`` x ``height``: ``text`` centred, wrapped and sized to fit, in the
    shipped font, over the background (a colour, or an image fitted inside the frame on black)."""
    from moviepy import CompositeVideoClip, TextClip

    wrapped, size = _fit_text(text, width, height)
    layers = [_background(width, height, background)]
    if wrapped.strip():
        words = TextClip(font=str(font_path()), text=wrapped, font_size=size, color=colour, method="label",
                         text_align="center", margin=(size // 2, size // 2))  # fmt: skip
        layers.append(words.with_position("center"))
    return _save(CompositeVideoClip(layers, size=(width, height)).get_frame(0), dest)


def draw_slate(
    dest: Path, width: int, height: int, lines: list[str], *, background: Colour, colour: Colour, accent: Colour
) -> Path:
    """The placeholder slate as an RGB PNG: ``lines`` top to bottom from the top left (the first in ``accent``,
    the second big), inside an ``accent`` border."""
    from moviepy import ColorClip, CompositeVideoClip, TextClip

    layers: list[Any] = [ColorClip((width, height), color=background)]
    margin, y = max(4, width // 24), max(4, height // 10)
    font = str(font_path())
    for i, line in enumerate(lines):
        size = max(10, height // 7) if i == 1 else max(8, height // 22)
        if not line.strip():
            y += size
            continue
        clip = TextClip(font=font, text=line, font_size=size, color=accent if i == 0 else colour, method="label",
                        margin=(0, max(1, size // 3)))  # fmt: skip
        layers.append(clip.with_position((margin, y)))
        y += clip.size[1] + max(2, height // 30)
    border = max(2, height // 90)
    for size, at in (((width, border), (0, 0)), ((width, border), (0, height - border)),
                     ((border, height), (0, 0)), ((border, height), (width - border, 0))):  # fmt: skip
        layers.append(ColorClip(size, color=accent).with_position(at))
    return _save(CompositeVideoClip(layers, size=(width, height)).get_frame(0), dest)


# ---------------------------------------------------------------- a card's content and its outputs


def check_image(path: Path, what: str) -> bool:
    """A card's background image must be a readable picture within ``VIDASM_MAX_PIXELS``: ``MediaNotFoundError``
    or ``InvalidMediaError`` naming it otherwise (Pillow reads the header only). Returns whether it has
    transparency (``_transparent``), read from the same header."""
    if not path.is_file():
        raise MediaNotFoundError(f"{path}: {what}'s background image is missing (or not a file)", path=path)
    limit = Limits.from_env().pixels
    try:
        with Image.open(path) as img:
            w, h = img.size
            transparent = _transparent(img)
    except (OSError, Image.DecompressionBombError) as exc:
        raise InvalidMediaError(f"{path}: {what}'s background is not an image Pillow can read ({exc})",
                                path=path) from exc  # fmt: skip
    if limit and w * h > limit:
        raise InvalidMediaError(
            f"{path}: {what}'s background is {w}x{h}, over {limit:,} pixels (VIDASM_MAX_PIXELS)", path=path
        )
    return transparent


def card_facts(project: Project, card: CardRef, fingerprint: Any) -> dict[str, Any]:
    """What a card shows, for the timeline (and so for the version of everything downstream): its text, text
    colour and background, with the background image's content fingerprint (``fingerprint(path)``)."""
    facts: dict[str, Any] = {"text": card.text, "colour": card.colour, "background": card.background}
    image = project.card_image(card)
    if image is not None:
        transparent = check_image(image, f"card {card.id}")
        facts["image"] = fingerprint(image)
        if transparent:  # drawn flattened over black (``_flattened``): only such cards are drawn anew
            facts["alpha"] = "over black"
    return facts


def card_key(clip: TimelineClip, width: int, height: int, rate: Rate, preset: Preset | None = None) -> str:
    """The content key of a card's outputs: everything that reaches its pixels or its length."""
    from .project import stable_hash

    settings = preset.settings() if preset is not None else None
    return stable_hash(RENDERER_VERSION, clip.card, width, height, [rate.num, rate.den], clip.frames, settings)


def _project_image(project: Project, clip: TimelineClip) -> Path | None:
    bg = (clip.card or {}).get("background", "#000000")
    if bg.startswith("#"):
        return None
    path = project.root / bg
    if not path.resolve().is_relative_to(project.root.resolve()):  # the timeline was built from another project.json
        raise UnsafePathError(f"{path}: card {clip.shot}'s background is outside the project folder", path=path)
    return path


def _draw(project: Project, clip: TimelineClip, dest: Path, width: int, height: int) -> Path:
    card = clip.card or {}
    image = _project_image(project, clip)
    background: Colour | Path = image if image is not None else hex_colour(card.get("background", "#000000"))
    return draw_title(dest, width, height, card.get("text", ""), colour=hex_colour(card.get("colour", "#FFFFFF")),
                      background=background)  # fmt: skip


def _complete(path: Path, frames: int, kind: str) -> bool:
    """A cached card output that is there with exactly its length (video frames, or audio samples)."""
    if not path.is_file():
        return False
    try:
        info = probe(path)
    except Exception:
        return False
    if kind == "video":
        return bool(info.video) and info.video.frames == frames  # type: ignore[union-attr]
    return bool(info.audio) and info.audio[0].samples == frames


def card_paths(project: Project, clip: TimelineClip) -> tuple[Path, Path]:
    """Where a card's picture (at the conform's settings) and silence go, keyed by its content."""
    width, height = project.spec.size
    key = card_key(clip, width, height, project.spec.rate)
    folder = project.cache_dir / CARDS_DIR
    return folder / f"{clip.shot}-{key}.mov", folder / f"{clip.shot}-{key}.wav"


def render_card(run: Run, project: Project, clip: TimelineClip) -> tuple[Path, Path]:
    """A card's picture at the conform's settings and its silence (exactly ``samples_for_frames`` samples), drawn
    and encoded only when no output of the same content is there yet."""
    rate = project.spec.rate
    width, height = project.spec.size
    picture, audio = card_paths(project, clip)
    if not _complete(picture, clip.frames, "video"):
        with atomic_output(picture) as tmp:
            still = _draw(project, clip, tmp.with_suffix(".png"), width, height)
            try:
                argv = cmd.slate_picture_cmd(still, tmp, cmd.Target(width, height, rate, clip.frames))
                run(argv, path=picture, total_seconds=float(rate.frames_to_seconds(clip.frames)))
            finally:
                still.unlink(missing_ok=True)
    samples = rate.samples_for_frames(clip.frames)
    if not _complete(audio, samples, "audio"):
        with atomic_output(audio) as tmp:
            run(cmd.silence_cmd(tmp, samples=samples), path=audio)
    return picture, audio


def card_segment(run: Run, project: Project, clip: TimelineClip, preset: Preset) -> Path:
    """A card at one preset's picture settings (``05_Cache/cards/<preset>/<id>-<key>.<ext>``), for a delivery
    joined from segments; drawn and encoded only when not there yet."""
    assert preset.spec.video is not None
    rate = project.spec.rate
    width, height = cmd.preset_size(*project.spec.size, preset.spec.video)
    muxer, ext = preset.segment_muxer
    key = card_key(clip, width, height, rate, preset)
    dest = project.cache_dir / CARDS_DIR / preset.name / f"{clip.shot}-{key}.{ext}"
    if _complete(dest, clip.frames, "video"):
        return dest
    with atomic_output(dest) as tmp:
        still = _draw(project, clip, tmp.with_suffix(".png"), width, height)
        try:
            target = cmd.Target(width, height, rate, clip.frames, preset.spec.video)
            run(cmd.slate_picture_cmd(still, tmp, target, muxer=muxer), path=dest,
                total_seconds=float(rate.frames_to_seconds(clip.frames)))  # fmt: skip
        finally:
            still.unlink(missing_ok=True)
    return dest


def prune_cards(folder: Path, keep: set[Path]) -> None:
    """Remove the card outputs of ``folder`` that no current card uses (an edited card's old text)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file() and not path.name.startswith(".") and path not in keep:
            path.unlink(missing_ok=True)


def card_clip(project: Project, card: CardRef) -> TimelineClip:
    """A card's clip on the timeline: ``shot`` is its id, ``take`` ``card``, its source its picture in 05_Cache
    (keyed by what it shows), ``source_start_frame`` 0 (the EDL writes it as an ``AX`` event)."""
    from .fingerprints import file_digest
    from .timeline import TimelineClip

    facts = card_facts(project, card, file_digest)
    clip = TimelineClip(shot=card.id, take="card", clip_name=card.id, source_path="", frames=card.frames,
                        notes=card.notes, card=facts)  # fmt: skip
    return TimelineClip(**{**clip.__dict__, "source_path": str(card_paths(project, clip)[0])})
