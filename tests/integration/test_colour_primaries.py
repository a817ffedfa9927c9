"""Wide-gamut SDR renders through vidasm's real conform, measured against a conversion computed from the chromaticities.

Each source is four bars (the public case 16's: grey, warm, green, blue) coded in its own primaries, encoded
losslessly with its tags; the conform (``conform.conform_picture``) must land every bar on the BT.709 Y'CbCr of the
same colour (``colour_reference``: BT.1886 linear light, Bradford-adapted white for DCI-P3) within 3 code values.
The reference is computed from the source's decoded code values, so only the conversion is judged.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from vidasm_assets.assets import metadata
from vidasm_assets.media import colour as col
from vidasm_assets.media import conform
from vidasm_assets.media.demo import write_project
from vidasm_assets.media.errors import UnsupportedMediaError
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import discover_projects
from vidasm_assets.media.runner import bind

from ..support import colour_reference as ref
from ..support import media_sources as ms

pytestmark = pytest.mark.media

W, H, BAR = 160, 90, 40
BARS = ("0x808080", "0xC08060", "0x50A050", "0x4060B0")  # R'G'B' code values in the source's own primaries
CENTRES = [BAR // 2 + BAR * i for i in range(len(BARS))]

# shot: (primaries, transfer, matrix tag, reference matrix, pixel format, bits)
SOURCES = {
    "p3d65": ("smpte432", "bt709", "bt709", "bt709", "yuv420p", 8),
    "uhd2020": ("bt2020", "bt2020-10", "bt2020nc", "bt2020", "yuv420p10le", 10),
    "dcip3": ("smpte431", "bt709", "bt709", "bt709", "yuv420p", 8),
}


def _bars(primaries: str, transfer: str, matrix: str, pix_fmt: str) -> list[str]:
    """The bars as Y'CbCr of ``matrix``, limited range, tagged, H.264 lossless (qp 0), 6 frames."""
    inputs = ";".join(f"color=c={c}:s={BAR}x{H}:r=24:d=0.25[b{i}]" for i, c in enumerate(BARS))
    out_matrix = {"bt2020nc": "bt2020", "bt709": "bt709"}[matrix]
    return [
        "-f", "lavfi", "-i", f"{inputs};{''.join(f'[b{i}]' for i in range(len(BARS)))}hstack={len(BARS)},format=rgb24",
        "-vf", f"scale=out_color_matrix={out_matrix}:out_range=tv,format={pix_fmt},"
        f"setparams=color_primaries={primaries}:color_trc={transfer}:colorspace={matrix}:range=tv",
        "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
    ]  # fmt: skip


def _bar_values(path: Path, bits: int) -> list[tuple[float, float, float]]:
    """Mean Y, Cb, Cr (code values at ``bits``) of the centre of each bar, first frame, as stored."""
    dtype = np.uint16 if bits > 8 else np.uint8
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        planes = []
        for p in frame.planes:
            a = np.frombuffer(p, dtype).reshape(p.height, p.line_size // np.dtype(dtype).itemsize)[:, : p.width]
            planes.append(a.astype(float))
    y, cb, cr = planes
    return [
        (y[H // 2 - 8 : H // 2 + 8, x - 8 : x + 8].mean(),
         cb[H // 4 - 4 : H // 4 + 4, x // 2 - 4 : x // 2 + 4].mean(),
         cr[H // 4 - 4 : H // 4 + 4, x // 2 - 4 : x // 2 + 4].mean())
        for x in CENTRES
    ]  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    root = tmp_path_factory.mktemp("primaries")
    write_project(root, "gamut", {"fps": 24, "resolution": f"{W}x{H}"})
    for shot, (primaries, transfer, matrix, _, pix_fmt, _) in SOURCES.items():
        ms.run(ffmpeg, root / "gamut" / "03_Renders" / shot / f"{shot}_v001.mp4",
               _bars(primaries, transfer, matrix, pix_fmt))  # fmt: skip
    return root


def _conform(ffmpeg: str, root: Path, shot: str) -> conform.PictureResult:
    project = discover_projects(root).projects["gamut"]
    take = project.select_take(shot)
    return conform.conform_picture(bind(ffmpeg), project, take, probe(take.path))


@pytest.mark.parametrize("shot", sorted(SOURCES))
def test_wide_gamut_sdr_lands_on_the_reference_conversion(workspace: Path, ffmpeg: str, shot: str) -> None:
    primaries, _, _, matrix, _, bits = SOURCES[shot]
    src = workspace / "gamut" / "03_Renders" / shot / f"{shot}_v001.mp4"
    assert probe(src).video.color_primaries == primaries  # type: ignore[union-attr]
    res = _conform(ffmpeg, workspace, shot)
    source = _bar_values(src, bits)
    got = _bar_values(res.path, 8)
    want = [ref.converted(s, primaries=primaries, matrix=matrix, bits=bits) for s in source]
    naive = [ref.unconverted(s, matrix=matrix, bits=bits) for s in source]
    for name, g, w in zip(("grey", "warm", "green", "blue"), got, want, strict=True):
        assert max(abs(a - b) for a, b in zip(g, w, strict=True)) <= 3, (shot, name, g, w)
    # the check can tell a conversion from none: some bar moves by far more than the tolerance
    assert max(abs(a - b) for w, n in zip(want, naive, strict=True) for a, b in zip(w, n, strict=True)) > 10
    assert abs(got[0][1] - 128) <= 1 and abs(got[0][2] - 128) <= 1  # grey stays grey (DCI white adapted)
    assert (
        metadata.picture_report(res)["colour_conversion"] == f"{col.GAMUT_NAMES[primaries]} gamut-converted to BT.709"
    )


@pytest.mark.parametrize(
    ("tags", "said"),
    [("color_primaries=smpte428", "primaries smpte428"), ("color_trc=log100", "transfer log100")],
)
def test_refused_colour_fails_the_shot_naming_file_and_value(tmp_path: Path, ffmpeg: str, tags: str, said: str) -> None:
    write_project(tmp_path, "gamut", {"fps": 24, "resolution": f"{W}x{H}"})
    src = ms.run(ffmpeg, tmp_path / "gamut" / "03_Renders" / "x010" / "x010_v001.mp4",
                 [*ms.flat(size=f"{W}x{H}", seconds=0.25), "-vf", f"setparams={tags}", *ms.X264])  # fmt: skip
    with pytest.raises(UnsupportedMediaError) as exc:
        _conform(ffmpeg, tmp_path, "x010")
    assert str(src) in str(exc.value) and said in str(exc.value)
    assert not (tmp_path / "gamut" / "05_Cache" / "picture" / "x010.mov").exists()


def test_every_zscale_value_vidasm_emits_exists_in_this_ffmpeg(ffmpeg: str) -> None:
    """Option values differ between FFmpeg builds (5.1 spells the 240M matrix ``smpte2400m``): ask the binary."""
    text = subprocess.run([ffmpeg, "-hide_banner", "-h", "filter=zscale"], capture_output=True, text=True).stdout
    sections = re.split(r"\n   (?=\w)", text)
    values = {s.split()[0]: set(re.findall(r"^\s{5}(\S+)\s+-?\d+", s, re.M)) for s in sections if s.strip()}
    for primaries in col.CHROMATICITIES:
        for transfer in ("bt709", "linear", *col.HDR_TRANSFERS):
            for matrix in ("bt601", "bt709", "bt2020", "smpte240m", "fcc", "rgb"):
                chain = col.zscale_chain(col.SourceColour(matrix, "tv", primaries, transfer))
                for f in (f for f in chain if f.startswith("zscale=")):
                    for opt, val in (kv.split("=") for kv in f.removeprefix("zscale=").split(":")):
                        assert val.isdigit() or opt == "npl" or val in values[opt], (opt, val)
