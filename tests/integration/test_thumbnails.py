"""Posters and contact sheets from conformed-like shots (lavfi, the conform's encoder settings), measured: the
poster is the middle frame (its pixels against every decoded frame), the sheet has one cell per shot in story
order (cell colours of flat-colour shots), and files and embedded markdown stay under 60 KB."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vidasm_assets.assets.metadata import image_markdown
from vidasm_assets.media import thumbnails as th
from vidasm_assets.media.commands import BASE, BT709_TAGS, timescale_args
from vidasm_assets.media.presets import CUT_VIDEO, video_args
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.runner import bind

pytestmark = pytest.mark.media

R24 = Rate(24)
LIMIT = 60_000
TO_BT709 = "format=rgb24,scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
TAG = "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"


def conformed(ffmpeg: str, dest: Path, source: str, vf: str, frames: int) -> Path:
    """A conformed-like shot: H.264 High yuv420p, BT.709 tagged, the conform's GOP and time scale, in MOV."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    bind(ffmpeg)([
        *BASE, "-f", "lavfi", "-i", source, "-vf", f"{vf},{TAG}", "-frames:v", str(frames),
        *video_args(CUT_VIDEO, R24, 640, 360).args, *BT709_TAGS, *timescale_args(R24), "-f", "mov", str(dest),
    ])  # fmt: skip
    return dest


def ramp(ffmpeg: str, dest: Path, frames: int, size: str = "640x360") -> Path:
    """Moving test pattern whose brightness also steps with the frame number: every frame is told apart."""
    vf = f"{TO_BT709},geq=lum='clip(lum(X,Y)*0.5+N*7,16,235)':cb='cb(X,Y)':cr='cr(X,Y)'"
    return conformed(ffmpeg, dest, f"testsrc2=s={size}:r=24", vf, frames)


def flat(ffmpeg: str, dest: Path, colour: str, frames: int = 6) -> Path:
    return conformed(ffmpeg, dest, f"color=c={colour}:s=320x180:r=24", TO_BT709, frames)


def decoded_frames(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as c:
        return [f.to_image() for f in c.decode(video=0)]


def rgb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float64)


@pytest.mark.parametrize(("frames", "middle"), [(25, 12), (10, 5), (1, 0)])
def test_the_poster_is_the_shots_middle_frame_scaled(ffmpeg: str, tmp_path: Path, frames: int, middle: int) -> None:
    shot = ramp(ffmpeg, tmp_path / "picture" / "sh010.mov", frames)
    poster = th.make_poster(bind(ffmpeg), shot, tmp_path / "posters" / "sh010.jpg")
    with Image.open(poster) as im:
        assert (im.format, im.size) == ("JPEG", (320, 180))
        got = rgb(im)
    decoded = decoded_frames(shot)
    assert len(decoded) == frames and th.middle_frame(frames) == middle
    diffs = [float(np.abs(rgb(f.resize((320, 180), Image.Resampling.LANCZOS)) - got).mean()) for f in decoded]
    assert int(np.argmin(diffs)) == middle, diffs
    assert diffs[middle] < 6.0, f"poster differs from frame {middle} by {diffs[middle]:.2f} on average"
    if frames > 1:
        assert min(d for i, d in enumerate(diffs) if i != middle) > diffs[middle] + 2.0
    assert poster.stat().st_size < LIMIT
    assert not [p for p in poster.parent.iterdir() if p.name.startswith(".")], "no partial file left"


def test_a_poster_is_never_scaled_up_and_keeps_its_colours(ffmpeg: str, tmp_path: Path) -> None:
    shot = flat(ffmpeg, tmp_path / "sh020.mov", "0x3366CC")
    poster = th.make_poster(bind(ffmpeg), shot, tmp_path / "sh020.jpg", width=640)
    with Image.open(poster) as im:
        assert im.size == (320, 180)
        got = rgb(im)[60:120, 100:220].mean(axis=(0, 1))
    frame = rgb(decoded_frames(shot)[3])[60:120, 100:220].mean(axis=(0, 1))
    assert np.allclose(got, frame, atol=3) and np.allclose(got, (0x33, 0x66, 0xCC), atol=8), (got, frame)


COLOURS = {"sh010": (255, 0, 0), "sh020": (0, 200, 0), "sh030": (0, 0, 255), "sh040": (200, 200, 200)}


def cell_mean(img: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    inner = img.crop((left + w // 4, top + h // 4, right - w // 4, bottom - h // 4))
    return rgb(inner).mean(axis=(0, 1))


def test_the_contact_sheet_has_one_labelled_cell_per_shot_in_story_order(ffmpeg: str, tmp_path: Path) -> None:
    run = bind(ffmpeg)
    order = ["sh030", "sh010", "sh040", "sh020"]  # story order is not name order
    posters: list[tuple[str, Path | None]] = []
    for shot in order:
        hex_colour = "0x" + "".join(f"{c:02X}" for c in COLOURS[shot])
        picture = flat(ffmpeg, tmp_path / "picture" / f"{shot}.mov", hex_colour)
        posters.append((f"{shot} v001", th.make_poster(run, picture, tmp_path / "posters" / f"{shot}.jpg")))
    posters.insert(2, ("sh035 (failed)", None))
    sheet = th.make_contact_sheet(posters, tmp_path / "contact" / "teaser_contact.jpg", columns=3)
    assert [c.label for c in sheet.cells] == ["sh030 v001", "sh010 v001", "sh035 (failed)", "sh040 v001", "sh020 v001"]
    assert [c.missing for c in sheet.cells] == [False, False, True, False, False]
    with Image.open(sheet.path) as im:
        assert (im.format, im.size) == ("JPEG", sheet.size)
        lefts = [c.box[0] for c in sheet.cells]
        assert lefts[:3] == sorted(lefts[:3]) and lefts[3] == lefts[0]  # three columns, row by row
        for cell, (_, poster) in zip(sheet.cells, posters, strict=True):
            want = th.MISSING if poster is None else COLOURS[cell.label.split()[0]]
            assert np.allclose(cell_mean(im, cell.box), want, atol=12), (cell.label, cell_mean(im, cell.box))
            left, _, right, bottom = cell.box
            label_strip = rgb(im.crop((left, bottom, right, bottom + 14)))
            assert label_strip.max() > 180, f"no label drawn under {cell.label}"
    assert sheet.path.stat().st_size < LIMIT


def test_posters_sheets_and_their_markdown_stay_under_60_kb(ffmpeg: str, tmp_path: Path) -> None:
    run = bind(ffmpeg)
    posters: list[tuple[str, Path | None]] = []
    for i in range(40):
        picture = ramp(ffmpeg, tmp_path / "picture" / f"sh{i:03d}.mov", 3, size="320x180")
        posters.append((f"sh{i:03d}", th.make_poster(run, picture, tmp_path / "posters" / f"sh{i:03d}.jpg")))
    sheet = th.make_contact_sheet(posters, tmp_path / "contact" / "big_contact.jpg", cell_width=320)
    assert len(sheet.cells) == 40 and sheet.path.stat().st_size <= th.MAX_BYTES
    width, height = sheet.size
    assert all(0 <= c.box[0] < c.box[2] <= width and 0 <= c.box[1] < c.box[3] <= height for c in sheet.cells)
    for path in (posters[0][1], sheet.path):
        assert path is not None and path.stat().st_size < LIMIT
        md = image_markdown(path).value
        assert isinstance(md, str) and len(md) < LIMIT
        assert md.startswith("![](data:image/jpeg;base64,") and md.endswith(")")
        data = base64.b64decode(md.split(",", 1)[1][:-1])
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "JPEG"


def test_a_picture_over_the_limit_is_embedded_re_encoded_smaller(tmp_path: Path) -> None:
    noise = np.random.default_rng(7).integers(0, 256, size=(720, 1280, 3), dtype=np.uint8)
    png = tmp_path / "big.png"
    Image.fromarray(noise).save(png)
    assert png.stat().st_size > 1_000_000
    md = image_markdown(png, max_bytes=20_000, alt="sh010 [poster]").value
    assert isinstance(md, str) and len(md) <= 20_000 and md.startswith("![sh010 poster](data:image/jpeg;base64,")
    small = tmp_path / "small.png"
    Image.fromarray(noise[:32, :32]).save(small)
    assert image_markdown(small).value.startswith("![](data:image/png;base64,")
    assert png.stat().st_size > 1_000_000  # the file itself is left alone
