"""Colour rules, table-driven over every value FFmpeg names: probe tables, source_colour, refusals, zscale_chain.

Pure: no FFmpeg. The expected policy of each value is written out here, so a value added to the probe without a
decision, or a decision changed by accident, fails. Matrices are checked against an independent computation
(``colour_reference``) and against the BT.2020 -> BT.709 matrix published in ITU-R BT.2087-0.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import av
import pytest

from vidasm_assets.media import colour as col
from vidasm_assets.media import commands as c
from vidasm_assets.media import probe
from vidasm_assets.media.errors import UnsupportedMediaError
from vidasm_assets.media.rates import Rate

from ..support import colour_reference as ref

PATH = "/renders/sh010/sh010_v001.mov"

# every name the probe can report, and what vidasm does with it
PRIMARIES = {
    "reserved": "assumed",
    "unknown": "assumed",
    "bt709": "bt709",
    "bt470m": "sd",
    "bt470bg": "sd",
    "smpte170m": "sd",
    "smpte240m": "sd",
    "film": "convert",
    "bt2020": "convert",
    "smpte428": "refuse",
    "smpte431": "convert",
    "smpte432": "convert",
    "ebu3213": "convert",
    "vgamut": "refuse",
}
TRANSFERS = {
    "reserved": "assumed",
    "unknown": "assumed",
    "bt709": "bt709",
    "bt470m": "kept",
    "bt470bg": "kept",
    "smpte170m": "bt709",
    "smpte240m": "kept",
    "linear": "linear",
    "log100": "refuse",
    "log316": "refuse",
    "iec61966-2-4": "bt709",
    "bt1361e": "bt709",
    "iec61966-2-1": "kept",
    "bt2020-10": "bt709",
    "bt2020-12": "bt709",
    "smpte2084": "hdr",
    "smpte428": "refuse",
    "arib-std-b67": "hdr",
    "vlog": "refuse",
}
MATRICES = {  # probe name -> swscale name, "assumed" or "refuse" (on a Y'CbCr pixel format)
    "gbr": "refuse",
    "bt709": "bt709",
    "unknown": "assumed",
    "reserved": "assumed",
    "fcc": "fcc",
    "bt470bg": "bt601",
    "smpte170m": "bt601",
    "smpte240m": "smpte240m",
    "ycgco": "refuse",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
    "smpte2085": "refuse",
    "chroma-derived-nc": "refuse",
    "chroma-derived-c": "refuse",
    "ictcp": "refuse",
    "ipt-c2": "refuse",
    "ycgco-re": "refuse",
    "ycgco-ro": "refuse",
}


def _colour(primaries: str = "bt709", transfer: str = "bt709", matrix: str = "bt709", pix_fmt: str = "yuv420p"):
    return col.source_colour(
        width=1920, height=1080, pix_fmt=pix_fmt, primaries=primaries, transfer=transfer, matrix=matrix,
        colour_range="tv",
    )  # fmt: skip


def _mixer(chain: list[str]) -> list[list[float]]:
    """The 3x3 gains of the chain's ``colorchannelmixer``."""
    (mixer,) = [f for f in chain if f.startswith("colorchannelmixer=")]
    gains = dict(kv.split("=") for kv in mixer.removeprefix("colorchannelmixer=").split(":"))
    return [[float(gains[f"{o}{i}"]) for i in "rgb"] for o in "rgb"]


# ---------------------------------------------------------------- probe tables


def test_every_probe_name_has_a_decided_policy() -> None:
    assert set(probe.PRIMARIES.values()) == set(PRIMARIES)
    assert set(probe.TRANSFERS.values()) == set(TRANSFERS)
    assert set(probe.MATRICES.values()) == set(MATRICES)


def test_probe_tables_are_ffmpegs_names() -> None:
    """Each table holds what libavutil (the one PyAV decodes with) names, value for value, and nothing is missing."""
    libdir = Path(av.__file__).parent.parent / "av.libs"
    found = sorted(libdir.glob("libavutil*.so*")) or [Path(p) for p in [ctypes.util.find_library("avutil")] if p]
    if not found:
        pytest.skip("no libavutil to ask")
    lib = ctypes.CDLL(str(found[0]))
    for fn, table in (
        ("av_color_primaries_name", probe.PRIMARIES),
        ("av_color_transfer_name", probe.TRANSFERS),
        ("av_color_space_name", probe.MATRICES),
        ("av_color_range_name", probe.RANGES),
    ):
        name = getattr(lib, fn)
        name.restype, name.argtypes = ctypes.c_char_p, [ctypes.c_int]
        ffmpeg = {i: name(i).decode() for i in range(1024) if name(i)}
        # every value the linked libavutil names is in the table, named alike; the table may know newer
        # values than this libavutil (V-Gamut, FFmpeg 8) but none that FFmpeg names differently
        assert {k: v for k, v in table.items() if k in ffmpeg} == ffmpeg, fn
        assert all(k > max(ffmpeg) for k in table if k not in ffmpeg), fn


# ---------------------------------------------------------------- primaries


@pytest.mark.parametrize("name", sorted(PRIMARIES))
def test_every_primaries_value_is_converted_treated_as_sd_or_refused(name: str) -> None:
    policy = PRIMARIES[name]
    colour = _colour(primaries=name)
    if policy == "assumed":
        assert colour.primaries == "bt709" and "primaries" in colour.assumed and not colour.needs_zscale
    elif policy in ("bt709", "sd"):
        assert colour.primaries == name and colour.refusal() is None
        assert not colour.wide_gamut and not colour.needs_zscale
        assert "zscale" not in c.picture_filter(c.Target(1920, 1080, Rate(24), 24), c.PictureSource(colour))
    elif policy == "convert":
        assert colour.refusal() is None and colour.wide_gamut and colour.needs_zscale
        chain = col.zscale_chain(colour)
        assert chain[:2] == [f"zscale=tin=bt709:pin={name}:min=bt709:rin=tv:t=linear:npl=100", "format=gbrpf32le"]
        assert chain[3:] == [
            "setparams=color_primaries=bt709",
            "format=gbrp16le",  # negatives (out of gamut) clipped before the transfer
            "zscale=t=bt709:m=bt709:r=tv",
            "format=yuv420p",
        ]
        want = ref.to709(name)
        got = _mixer(chain)
        assert all(abs(g - w) < 1e-5 for gr, wr in zip(got, want, strict=True) for g, w in zip(gr, wr, strict=True))
        assert all(abs(sum(row) - 1) < 1e-5 for row in got)  # white stays white (D65, or adapted to it)
        assert col.GAMUT_NAMES[name] in colour.conversion()
    else:
        with pytest.raises(UnsupportedMediaError) as exc:
            col.check_hdr_policy(colour, "tonemap", PATH)
        assert PATH in str(exc.value) and f"primaries {name} (" in str(exc.value)


def test_a_primaries_number_vidasm_does_not_know_is_refused_by_number() -> None:
    with pytest.raises(UnsupportedMediaError, match=r"primaries 23 \(a value vidasm does not know\)"):
        col.check_hdr_policy(_colour(primaries="23"), "fail", PATH)


def test_bt2020_matrix_is_the_one_published_in_bt2087() -> None:
    bt2087 = [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]]
    got = col.gamut_matrix("bt2020")
    assert all(abs(g - w) < 1e-4 for gr, wr in zip(got, bt2087, strict=True) for g, w in zip(gr, wr, strict=True))


def test_dci_white_is_adapted_to_d65_not_kept() -> None:
    """DCI-P3 and P3-D65 share primaries; only the Bradford adaptation tells their matrices apart."""
    dci, d65 = col.gamut_matrix("smpte431"), col.gamut_matrix("smpte432")
    assert max(abs(a - b) for ra, rb in zip(dci, d65, strict=True) for a, b in zip(ra, rb, strict=True)) > 0.05
    grey = col._apply(dci, (0.18, 0.18, 0.18))
    assert all(abs(v - 0.18) < 1e-6 for v in grey)
    unadapted = col._mul(col._inverse(col.rgb_to_xyz("bt709")), col.rgb_to_xyz("smpte431"))
    assert abs(col._apply(unadapted, (0.18, 0.18, 0.18))[2] - 0.18) > 0.01  # what zimg master would do


def test_sd_untagged_still_assumes_bt601_primaries_and_converts_only_the_matrix() -> None:
    colour = col.source_colour(
        width=720, height=576, pix_fmt="yuv420p", primaries=None, transfer=None, matrix=None, colour_range=None
    )
    assert (colour.primaries, colour.matrix, colour.needs_zscale) == ("bt470bg", "bt601", False)


# ---------------------------------------------------------------- transfers


@pytest.mark.parametrize("name", sorted(TRANSFERS))
def test_every_transfer_value_is_decided(name: str) -> None:
    policy = TRANSFERS[name]
    colour = _colour(transfer=name)
    wide = _colour(primaries="bt2020", transfer=name, matrix="bt2020nc")
    if policy == "assumed":
        assert colour.transfer == "bt709" and "transfer" in colour.assumed
    elif policy in ("bt709", "kept"):
        assert colour.refusal() is None and not colour.needs_zscale  # codes kept
        assert col.zscale_chain(wide)[0].startswith("zscale=tin=bt709:pin=bt2020:min=bt2020nc:")
    elif policy == "linear":
        assert colour.refusal() is None and colour.needs_zscale
        chain = col.zscale_chain(colour)
        assert chain[0].startswith("zscale=tin=linear:pin=bt709:") and not any("colorchannelmixer" in f for f in chain)
        assert colour.conversion() == "linear light encoded to BT.709"
    elif policy == "hdr":
        assert colour.hdr and colour.needs_zscale
        with pytest.raises(UnsupportedMediaError, match="HDR source"):
            col.check_hdr_policy(colour, "fail", PATH)
        col.check_hdr_policy(colour, "tonemap", PATH)
        chain = col.zscale_chain(wide)
        assert chain[0].startswith(f"zscale=tin={name}:pin=bt2020:")
        assert chain.index("setparams=color_primaries=bt709") < chain.index("tonemap=tonemap=mobius:desat=0")
    else:
        with pytest.raises(UnsupportedMediaError) as exc:
            col.check_hdr_policy(colour, "tonemap", PATH)
        assert PATH in str(exc.value) and f"transfer {name} (" in str(exc.value)


# ---------------------------------------------------------------- matrices


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_every_matrix_value_is_converted_assumed_or_refused(name: str) -> None:
    policy = MATRICES[name]
    colour = _colour(primaries="bt2020", matrix=name)
    if policy == "assumed":
        assert colour.matrix == "bt2020" and "matrix" in colour.assumed  # untagged with BT.2020 primaries
    elif policy == "refuse":
        with pytest.raises(UnsupportedMediaError) as exc:
            col.check_hdr_policy(colour, "fail", PATH)
        assert PATH in str(exc.value) and f"matrix {name} (" in str(exc.value)
    else:
        assert colour.matrix == policy and colour.refusal() is None
        zmin = {"bt601": "smpte170m", "bt709": "bt709", "bt2020": "bt2020nc", "smpte240m": "7", "fcc": "fcc"}[policy]
        assert f":min={zmin}:" in col.zscale_chain(colour)[0]


def test_rgb_sources_need_no_matrix() -> None:
    colour = _colour(primaries="smpte432", matrix="gbr", pix_fmt="gbrp10le")
    assert colour.matrix == "rgb" and colour.refusal() is None
    assert col.zscale_chain(colour)[0] == "zscale=tin=bt709:pin=smpte432:t=linear:npl=100"
