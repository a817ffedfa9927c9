"""Renders with transparency (alpha channels, transparent palette entries), built through Dagster and measured
on decoded pixels: flattened over black as an NLE shows them, or kept when the project says they are
premultiplied; grey and palette pictures as RGB-family sources."""

from __future__ import annotations

import json
from pathlib import Path

import av
import dagster as dg
import numpy as np
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.media.demo import write_project
from vidasm_assets.media.project import load_project

from ..support import media_sources as ms
from ..support.helpers import build_workspace, last_storage_id, materialized_since

pytestmark = pytest.mark.media


# Three bands, each 64 px wide: green with alpha 0 (what a straight-alpha render stores where it is transparent),
# white with alpha 128, red with alpha 255.
_BANDS = (
    "color=c=green:s=64x36:r=24:d=1[g];color=c=white:s=64x36:r=24:d=1[w];color=c=red:s=64x36:r=24:d=1[r];"
    "[g][w][r]hstack=inputs=3,format=rgba[c];"
    "color=c=black:s=192x36:r=24:d=1,format=gray,geq=lum='if(lt(X\\,64)\\,0\\,if(lt(X\\,128)\\,128\\,255))'[m];"
    "[c][m]alphamerge"
)
ALPHA_RENDERS = {  # shot -> (file name, pixel format written, encoder arguments): what motion graphics come as
    "prores4444": ("prores4444_v001.mov", "yuva444p10le", ["-c:v", "prores_ks", "-profile:v", "4444"]),
    "animation": ("animation_v001.mov", "argb", ["-c:v", "qtrle"]),
    "png": ("png_v001.mov", "rgba", ["-c:v", "png"]),
    "vp9": ("vp9_v001.webm", "yuva420p", ["-c:v", "libvpx-vp9", "-b:v", "2M", "-auto-alt-ref", "0"]),
}


def test_renders_with_alpha_are_flattened_over_black_as_an_nle_shows_them(
    ffmpeg: str, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """ProRes 4444, QuickTime Animation, PNG-in-MOV and VP9 WebM with alpha: where the render is transparent the shot
    is black, not the colour stored under the alpha (green here); half-transparent white is half-bright grey; opaque
    red stays red. VP9's alpha is read at all only by libvpx's decoder (FFmpeg's own drops it). A dissolve between
    two of them (a section rendered from both renders) keeps the transparent band black on every frame."""
    root = tmp_path / "ws"
    sequence = [{"shot": s} for s in ALPHA_RENDERS]
    sequence[-1]["transition_in"] = {"type": "dissolve", "frames": 6}
    folder = write_project(root, "alpha", {"fps": 24, "resolution": "192x36", "sequence": sequence})
    for shot, (name, pix_fmt, codec) in ALPHA_RENDERS.items():
        ms.run(ffmpeg, folder / "03_Renders" / shot / name, [
            "-filter_complex", f"{_BANDS},format={pix_fmt}[v]", "-f", "lavfi", "-i", "sine=d=1",
            "-map", "[v]", "-map", "0:a", *codec, "-c:a", "libopus" if name.endswith(".webm") else "pcm_s16le",
            "-t", "1",
        ])  # fmt: skip
    outcomes = build_workspace(instance, root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    project = load_project(root, "alpha")

    def bands(path: Path) -> list[np.ndarray]:
        """Mean RGB of each band's inner 48 columns, per frame."""
        with av.open(str(path)) as c:
            frames = [f.to_ndarray(format="rgb24").astype(float) for f in c.decode(video=0)]
        return [np.array([f[:, x + 8 : x + 56].reshape(-1, 3).mean(0) for x in (0, 64, 128)]) for f in frames]

    for shot in ALPHA_RENDERS:
        got = bands(project.picture_path(shot))
        assert len(got) == 24, shot
        for b in got:
            assert (b[0] < 12).all(), (shot, "transparent band", b[0])
            assert (abs(b[1] - 128) < 12).all(), (shot, "half-transparent white", b[1])
            assert b[2][0] > 225 and (b[2][1:] < 30).all(), (shot, "opaque red", b[2])
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=n.key("alpha", n.PICTURE), asset_partitions=[shot]), limit=1
        ).records
        mat = records[0].asset_materialization
        assert mat is not None and "flattened over black" in str(mat.metadata["alpha"].value), shot
    cut = bands(project.cut_path())
    assert len(cut) == 4 * 24 - 6
    assert all((b[0] < 12).all() for b in cut), [i for i, b in enumerate(cut) if not (b[0] < 12).all()]


def test_a_premultiplied_render_is_kept_as_it_is_when_the_project_says_so(
    ffmpeg: str, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """A ProRes 4444 whose colour is already matted over black (After Effects' default): read as straight (the
    default), its half-transparent white is premultiplied twice (a quarter-bright grey); with ``"colour": {"alpha":
    "premultiplied"}`` it is kept (half-bright), and that change re-conforms the shot's picture and nothing of its
    sound."""
    root = tmp_path / "ws"
    folder = write_project(root, "prem", {"fps": 24, "resolution": "192x36"})
    ms.run(ffmpeg, folder / "03_Renders" / "title" / "title_v001.mov", [
        "-filter_complex", f"{_BANDS},premultiply=inplace=1,format=yuva444p10le[v]",
        "-map", "[v]", "-c:v", "prores_ks", "-profile:v", "4444", "-t", "1",
    ])  # fmt: skip

    def middle_band() -> float:
        with av.open(str(load_project(root, "prem").picture_path("title"))) as c:
            frame = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
        return float(frame[:, 72:120].mean())

    assert all(o.success for o in build_workspace(instance, root))
    assert abs(middle_band() - 64) < 12  # 255 * 0.5 * 0.5: premultiplied again
    after = last_storage_id(instance)
    spec = json.loads((folder / "project.json").read_text())
    (folder / "project.json").write_text(json.dumps({**spec, "colour": {"alpha": "premultiplied"}}))
    assert all(o.success for o in build_workspace(instance, root))
    assert abs(middle_band() - 128) < 12
    rebuilt = materialized_since(instance, after)
    assert "prem/picture[title]" in rebuilt and "prem/audio[title]" not in rebuilt, rebuilt


def test_grey_and_palette_pngs_in_mov_are_rgb_sources_and_their_transparency_is_black(
    ffmpeg: str, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """PNG-in-MOV as grey (``gray``), grey with alpha (``ya8``) and a palette with a transparent entry (``pal8``):
    FFmpeg's PNG decoder tags them with the identity (GBR) matrix, which vidasm refused as "matrix gbr" (they
    were not in its RGB family). They conform: opaque white stays white, transparent areas are black."""
    bands = (
        "color=c=green:s=96x36:r=24:d=1[g];color=c=white:s=96x36:r=24:d=1[w];[g][w]hstack,format=rgba[c];"
        "color=c=black:s=192x36:r=24:d=1,format=gray,geq=lum='if(lt(X\\,96)\\,0\\,255)'[m];[c][m]alphamerge"
    )
    graphs = {
        "grey": "color=c=black:s=192x36:r=24:d=1,format=gray,geq=lum=255",  # 255 whatever FFmpeg writes it
        "greyalpha": f"{bands},format=ya8",
        "palette": f"{bands},split[a][b];[a]palettegen=reserve_transparent=1[p];[b][p]paletteuse=alpha_threshold=128",
    }
    root = tmp_path / "ws"
    folder = write_project(root, "grey", {"fps": 24, "resolution": "192x36"})
    for shot, graph in graphs.items():
        ms.run(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mov",
               ["-filter_complex", f"{graph}[v]", "-map", "[v]", "-c:v", "png", "-t", "1"])  # fmt: skip
    outcomes = build_workspace(instance, root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    project = load_project(root, "grey")
    for shot in graphs:
        with av.open(str(project.picture_path(shot))) as c:
            frame = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
        left, right = frame[:, 8:88].mean(), frame[:, 104:184].mean()
        assert right > 245, (shot, "opaque white", right)
        assert left > 245 if shot == "grey" else left < 8, (shot, "left half", left)
