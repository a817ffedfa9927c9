"""Review burn-ins drawn by a real FFmpeg on tiny generated pictures, judged by their pixels (no OCR).

A burned-in frame is compared with the same frame drawn with *static* text (``drawtext`` with ``expansion=none``
and the expected string, at the same place and size): equal pixels mean FFmpeg's counter and timecodes show what
vidasm expects, drop frame and the 24-hour wrap included. Each picture goes through the conform's own filters
first, as in a review segment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from vidasm_assets.media import burnins
from vidasm_assets.media import ffmpeg_tool as ft
from vidasm_assets.media.burnins import BurnIn, Layout, burnin_filter, drawtext, font_path, require_burn_ins
from vidasm_assets.media.commands import Target, picture_filter
from vidasm_assets.media.errors import FFmpegBuildError
from vidasm_assets.media.presets import BUILTIN_PRESETS, video_args
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.runner import bind

from ..support.helpers import REPO, ffmpeg_build

pytestmark = pytest.mark.media

W, H = 320, 180


def luma_frames(ffmpeg: str, tmp: Path, source: str, rate: Rate, frames: int, extra: str, name: str) -> np.ndarray:
    """Luma code values of ``frames`` frames of lavfi ``source`` through the conform's filters and ``extra``,
    uncompressed (the Y plane as the filters leave it: no conversion to gray, whose range handling varies)."""
    chain = picture_filter(Target(W, H, rate, frames)) + (f",{extra}" if extra else "")
    out = tmp / f"{name}.yuv"
    source += f"{':' if '=' in source else '='}size={W}x{H}:rate={rate.ffmpeg}"
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", str(out)]
    bind(ffmpeg)(
        ["-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", source, "-vf", chain, "-frames:v", str(frames), *raw]
    )
    return np.fromfile(out, np.uint8).reshape(-1, H * 3 // 2, W)[:, :H]


def static_burn_in(b: BurnIn, k: int, font: Path) -> str:
    """Frame ``k`` of ``b``'s burn-ins written as plain text: what FFmpeg's counter and timecodes must draw."""
    lay = Layout.for_height(H)
    m = lay.margin
    texts = [
        (b.title, f"{m}", f"{m}"),
        (f"{k + 1:04d}", f"w-tw-{m}", f"{m}"),
        (f"SRC {b.label(b.source_start_frame + k)}", f"{m}", f"h-th-{m}"),
        (f"REC {b.label(b.record_start_frame + k)}", f"w-tw-{m}", f"h-th-{m}"),
    ]
    return ",".join(drawtext(t, x=x, y=y, font=font, layout=lay) for t, x, y in texts)


def _region(lay: Layout, corner: str) -> tuple[slice, slice]:
    band = lay.margin + 2 * lay.fontsize
    rows = slice(0, band) if corner[0] == "t" else slice(H - band, H)
    cols = slice(0, W // 2) if corner[1] == "l" else slice(W // 2, W)
    return rows, cols


@pytest.mark.parametrize(
    ("rate", "record", "source", "frames"),
    [
        (Rate(30000, 1001), "00:00:59;28", "01:00:00;00", 30),  # drop frame skips 00:01:00;00 and ;01
        (Rate(60000, 1001), "00:09:59;58", "00:00:59;56", 12),  # no labels dropped at minute 10, 4 at minute 1
        (Rate(24), "23:59:59:22", "00:00:00:00", 24),  # the record hours wrap at 24
        (Rate(25), "10:00:00:20", "10:00:00:24", 25),
    ],
)
def test_every_frame_shows_its_counter_and_timecodes(
    ffmpeg: str, tmp_path: Path, rate: Rate, record: str, source: str, frames: int
) -> None:
    from vidasm_assets.media.editorial import timecode_to_frames

    b = BurnIn("teaser", "sh010", "v003", rate, timecode_to_frames(record, rate), timecode_to_frames(source, rate))
    font = font_path()
    got = luma_frames(ffmpeg, tmp_path, "color=c=gray", rate, frames, burnin_filter(b, W, H, font), "burned")
    assert got.shape == (frames, H, W)
    for k in sorted({0, 1, 2, 3, frames - 1}):
        want = luma_frames(ffmpeg, tmp_path, "color=c=gray", rate, 1, static_burn_in(b, k, font), f"want{k}")[0]
        assert np.array_equal(got[k], want), f"frame {k}: expected {b.label(b.record_start_frame + k)}"
    wrong = luma_frames(ffmpeg, tmp_path, "color=c=gray", rate, 1, static_burn_in(b, 1, font), "wrong")[0]
    assert not np.array_equal(got[2], wrong)  # a frame's text is told apart from its neighbour's

    lay = Layout.for_height(H)
    for corner in ("tr", "bl", "br"):  # counter, source and record timecode tick on every frame
        rows, cols = _region(lay, corner)
        assert all(not np.array_equal(got[k][rows, cols], got[k + 1][rows, cols]) for k in range(frames - 1)), corner
    rows, cols = _region(lay, "tl")  # the project, shot and take never change
    assert all(np.array_equal(got[0][rows, cols], got[k][rows, cols]) for k in range(frames))


def _decoded(path: Path) -> tuple[np.ndarray, list[bool]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    assert {f.format.name for f in frames} == {"yuv420p"}
    return np.stack([f.to_ndarray()[:H] for f in frames]), [f.key_frame for f in frames]


def test_burn_ins_mark_the_corners_and_leave_the_rest_of_the_picture(ffmpeg: str, tmp_path: Path) -> None:
    rate, frames = Rate(24), 24
    b = BurnIn("teaser", "sh010", "v003", rate, 86400, 12)
    plain = luma_frames(ffmpeg, tmp_path, "testsrc2", rate, frames, "", "plain")
    burned = luma_frames(ffmpeg, tmp_path, "testsrc2", rate, frames, burnin_filter(b, W, H, font_path()), "burned")
    diff = np.abs(burned.astype(int) - plain.astype(int))
    lay = Layout.for_height(H)
    for corner in ("tl", "tr", "bl", "br"):
        rows, cols = _region(lay, corner)
        assert (diff[:, rows, cols] > 40).sum(axis=(1, 2)).min() > 20, corner  # a box and text in every frame
        assert burned[:, rows, cols].max() > 200  # white text
    band = lay.margin + 2 * lay.fontsize
    assert diff[:, band : H - band, :].max() == 0  # nothing drawn between the top and bottom bands
    assert diff[:, :, W // 2 - 24 : W // 2 + 24].max() == 0  # nor between the left and right boxes


def _decoded(path: Path) -> tuple[np.ndarray, list[bool]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    assert {f.format.name for f in frames} == {"yuv420p"}
    return np.stack([f.to_ndarray()[:H] for f in frames]), [f.key_frame for f in frames]


def test_a_review_segment_keeps_its_burn_ins_through_the_encode(ffmpeg: str, tmp_path: Path) -> None:
    rate, frames = Rate(24), 24
    review = BUILTIN_PRESETS["review"].spec
    assert review.burn_ins and review.video is not None
    encoding = video_args(review.video, rate, W, H).args
    b = BurnIn("teaser", "sh010", "v003", rate, 86400, 12)
    burn_in = burnin_filter(b, W, H, font_path())
    decoded = {}
    for name, extra in (("plain", ""), ("burned", burn_in)):
        chain = picture_filter(Target(W, H, rate, frames)) + (f",{extra}" if extra else "")
        out = tmp_path / f"{name}.mp4"
        bind(ffmpeg)(["-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate=24",
                      "-vf", chain, "-frames:v", str(frames), *encoding, "-an", str(out)])  # fmt: skip
        decoded[name], keys = _decoded(out)
        assert decoded[name].shape == (frames, H, W) and all(keys)  # all-intra, every frame there
    lay = Layout.for_height(H)
    diff = np.abs(decoded["burned"].astype(int) - decoded["plain"].astype(int))
    for corner in ("tl", "tr", "bl", "br"):
        rows, cols = _region(lay, corner)
        assert (diff[:, rows, cols] > 40).sum(axis=(1, 2)).min() > 20, corner  # still a box and text
    band = lay.margin + 2 * lay.fontsize
    uncompressed = luma_frames(ffmpeg, tmp_path, "testsrc2", rate, frames, burn_in, "raw")
    error = np.abs(decoded["burned"].astype(int) - uncompressed.astype(int))
    assert np.median(error) <= 1 and error.mean() < 2.5  # the encode's own loss, text and all
    assert np.median(diff[:, band : H - band]) == 0 and diff[:, band : H - band].mean() < 1.5  # CRF noise only


def test_text_and_font_paths_with_filtergraph_specials_reach_drawtext(ffmpeg: str, tmp_path: Path) -> None:
    folder = tmp_path / "we'ird, [dir]; a:b\\c =x "
    folder.mkdir()
    font = folder / " f'o:n,t;.ttf"
    shutil.copy(font_path(), font)
    text = " a:b'c\\d,e;f[g]h %{n} %% x "
    (tmp_path / "text.txt").write_text(text)
    lay, rate = Layout.for_height(H), Rate(24)
    drawn = drawtext(text, x="10", y="10", font=font, layout=lay)
    from_file = drawn.replace(f":text={burnins.filter_value(text)}:", f":textfile={tmp_path / 'text.txt'}:")
    assert from_file != drawn
    got = luma_frames(ffmpeg, tmp_path, "color=c=gray", rate, 1, drawn, "text")[0]
    want = luma_frames(ffmpeg, tmp_path, "color=c=gray", rate, 1, from_file, "file")[0]
    assert np.array_equal(got, want) and (got != np.median(got)).sum() > 100  # text drawn
    stripped = drawtext(text.strip(), x="10", y="10", font=font, layout=lay)
    assert not np.array_equal(got, luma_frames(ffmpeg, tmp_path, "color=c=gray", rate, 1, stripped, "strip")[0])


def test_the_built_package_ships_the_font_and_ffmpeg_loads_it(ffmpeg: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    shutil.copytree(REPO / "vidasm_assets", src / "vidasm_assets", ignore=shutil.ignore_patterns("__pycache__"))
    built = tmp_path / "built"
    subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py", "--build-lib", str(built)],
        cwd=src, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    ask = "from vidasm_assets.media.burnins import font_path; print(font_path())"
    env = {**os.environ, "PYTHONPATH": str(built)}
    out = subprocess.run([sys.executable, "-c", ask], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    font = Path(out.stdout.strip())
    assert font == built / "vidasm_assets" / "fonts" / "DejaVuSansMono.ttf" and font.is_file()
    assert (font.parent / "LICENSE-DejaVu.txt").is_file()
    b = BurnIn("teaser", "sh010", "v003", Rate(24), 86400)
    got = luma_frames(ffmpeg, tmp_path, "color=c=gray", Rate(24), 2, burnin_filter(b, W, H, font), "built")
    assert got.shape == (2, H, W) and got.max() > 200


def test_the_session_ffmpeg_can_burn_in_and_one_without_drawtext_is_refused_only_for_that(ffmpeg: str) -> None:
    require_burn_ins(ft.select_ffmpeg())
    assert ft.capabilities(ffmpeg).missing_burn_ins() == []
    exe = ffmpeg_build("7.0.2")  # imageio-ffmpeg 0.6.0's static build: libfreetype but no libharfbuzz
    caps = ft.capabilities(exe)
    assert caps.usable and caps.missing_burn_ins() == ["filter drawtext"]
    with pytest.raises(FFmpegBuildError) as info:
        require_burn_ins(ft.FFmpeg(exe, ft.Origin.ENV, "named by FFMPEG_PATH", caps))
    text = str(info.value)
    assert exe in text and "7.0.2" in text and "filter drawtext" in text and "FFMPEG_PATH" in text
