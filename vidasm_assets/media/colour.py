"""What a source's colour is, and what the conform does about it. Pure: no FFmpeg, no PyAV.

Every conformed shot is SDR BT.709 (ITU-R BT.709-6: primaries, transfer, matrix), limited range. What the
source is comes from its tags: the ITU-T H.273 code points that FFmpeg's ``AVColorPrimaries``,
``AVColorTransferCharacteristic`` and ``AVColorSpace`` (libavutil/pixfmt.h) follow, named as ffprobe names them
(``probe.py``). What is not tagged is assumed, by the rules below, and the assumption is reported. A tagged value
vidasm does not convert fails the shot (``check_hdr_policy``: ``UnsupportedMediaError`` naming the file and the
value); nothing is passed through as if it were BT.709 by accident.

- matrix: tagged BT.601 (``smpte170m``/``bt470bg``), BT.709, BT.2020 (``bt2020nc``; ``bt2020c`` is converted as
  ``bt2020nc``), SMPTE 240M or FCC are converted with that matrix (not re-tagged). Untagged: BT.2020 when the
  transfer is HDR or the primaries are BT.2020; otherwise BT.601 for SD (narrower than 1280 and at most 576 lines
  high), BT.709 for everything larger. Other tagged matrices (``ycgco*``, ``ictcp``, ``ipt-c2``, ``smpte2085``,
  ``chroma-derived-*``, ``gbr`` on a Y'CbCr pixel format) are refused.
- range: tagged ``pc``/``tv`` is honoured; untagged is limited (``tv``), except ``yuvj*`` pixel formats,
  which are full range by definition. RGB sources are full range RGB; only the output matrix applies.
- primaries (chromaticities: ITU-T H.273 table 2, which cites each standard; ``CHROMATICITIES``):

  - ``bt709``: nothing to do.
  - SD, treated as BT.709 (matrix converted, no gamut mapping), the way SD-to-HD upconversion is done in practice:
    ``smpte170m`` and ``smpte240m`` (SMPTE C), ``bt470bg`` (EBU, ITU-R BT.601 625 lines) and ``bt470m`` (ITU-R
    BT.470 System M: the tag is set on 525-line SD material, shown on SMPTE C monitors since SMPTE 170M; no render
    is made in the 1953 FCC primaries). A policy, not an approximation: colour bars stay on their vectorscope
    targets, at the cost of saturated colours (a converted 75% SMPTE C bar would land up to 28 code values away).
  - converted to BT.709 in linear light: ``bt2020`` (ITU-R BT.2020), ``smpte432`` (P3-D65, SMPTE EG 432-1),
    ``smpte431`` (DCI-P3, SMPTE RP 431-2), ``film`` (H.273 generic film) and ``ebu3213`` (EBU Tech 3213-E, JEDEC
    P22). zscale decodes to linear RGB (``t=linear``, primaries unchanged), a 3x3 matrix computed here from the
    chromaticities (RGB -> CIE XYZ -> BT.709 RGB, the derivation of SMPTE RP 177) maps the primaries
    (``colorchannelmixer`` on 32-bit float, unclipped), zscale encodes BT.709. Colours outside BT.709 are clipped
    per channel when encoded (no gamut compression).
  - white point: DCI-P3's (x 0.314, y 0.351) and film's (illuminant C) are chromatically adapted to D65 with the
    Bradford transform (Lindbloom's formulation, as zimg 3.0 does it): a grey stays grey, as the audience adapted
    to the projector's white saw it. The matrix is vidasm's own, not zscale's, because zimg changed its default:
    Debian's FFmpeg 5.1 (zimg 3.0.4) adapts, the bundled FFmpeg 9.0.2 (current zimg, commit "colorspace: disable
    chromatic adaptation by default") does not, and the same DCI-P3 grey came out 4 code values apart.
  - refused: ``smpte428`` (SMPTE ST 428-1 XYZ, the digital-cinema DCDM encoding), ``vgamut`` (Panasonic V-Gamut, a
    camera gamut meant to be graded) and any code point vidasm does not know (ffprobe prints its number).

- transfer (what "linear light" means: display light, the ITU-R BT.1886 EOTF, gamma 2.4 with black at 0, which
  zimg evaluates by default; the same curve encodes the result, so an SDR grey keeps its code value):

  - the BT.709 curve: ``bt709``, ``smpte170m``, ``bt2020-10``, ``bt2020-12`` (H.273: functionally the same; 10/12
    name the precision), ``bt1361e`` and ``iec61966-2-4`` (xvYCC; both only extend the curve beyond 0..1, which
    limited range does not reach): nothing to do.
  - treated as BT.709, codes kept as they are (like SD primaries): ``bt470m`` (gamma 2.2), ``bt470bg`` (gamma 2.8),
    ``smpte240m`` (at most 2.3 8-bit code values from BT.709) and ``iec61966-2-1`` (sRGB). A gamut conversion of
    such a source decodes and encodes with the BT.709 curve, so its greys are unchanged too.
  - ``linear``: encoded to BT.709 (zscale: linear light to the BT.1886 inverse EOTF).
  - ``smpte2084`` (PQ) and ``arib-std-b67`` (HLG) are HDR. HDR fails the shot unless the project opts into
    tone-mapping (``"colour": {"hdr": "tonemap"}``): zscale to linear light (nominal peak 100 cd/m2), primaries to
    BT.709 as above, the ``mobius`` operator (keeps the SDR range nearly as is, rolls highlights off), BT.709 out.
  - refused: ``log100`` and ``log316`` (logarithmic encodings, meant to be graded), ``vlog`` (Panasonic V-Log),
    ``smpte428`` (the DCDM's gamma 2.6, which zscale cannot decode) and any code point vidasm does not know.

Filters as FFmpeg documents them (ffmpeg-filters: zscale, colorchannelmixer, tonemap, setparams). zscale option
values are the ones FFmpeg 5.1 and 9.0 share (``ffmpeg -h filter=zscale``): 5.1 spells SMPTE 240M ``smpte2400m``
for the matrix and lacks it for the transfer, so that value is passed as its number (7).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import UnsupportedMediaError

HDR_TRANSFERS = {"smpte2084": "PQ", "arib-std-b67": "HLG"}
# probe's names -> swscale's ``in_color_matrix`` names
_MATRIX = {
    "bt709": "bt709",
    "smpte170m": "bt601",
    "bt470bg": "bt601",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
    "smpte240m": "smpte240m",
    "fcc": "fcc",
}
_RGB_PREFIXES = ("rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr", "rgba", "bgra", "x2rgb", "x2bgr")
_GREY_PREFIXES = ("gray", "ya")
"""Grey and grey-with-alpha pictures tagged with the identity (GBR) matrix, as FFmpeg's PNG and TIFF decoders tag
them: full-range grey, R = G = B, which is a full-range luma plane whatever the YUV matrix (its coefficients sum to
1) with neutral chroma; so it is converted as full-range luma (BT.709 named, no chroma to weigh). A grey picture
tagged with a YUV matrix (monochrome H.264) is the luma of a YUV picture and keeps its tags. A palette (``pal8``,
GIF and PNG) is RGB."""
TONEMAP_OPERATOR = "mobius"
NOMINAL_PEAK_NITS = 100

XY = tuple[float, float]
D65: XY = (0.3127, 0.3290)
ILLUMINANT_C: XY = (0.310, 0.316)
DCI_WHITE: XY = (0.314, 0.351)
_SMPTE_C = ((0.630, 0.340), (0.310, 0.595), (0.155, 0.070), D65)
_P3 = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
CHROMATICITIES: dict[str, tuple[XY, XY, XY, XY]] = {
    "bt709": ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060), D65),  # ITU-R BT.709-6
    "bt470m": ((0.670, 0.330), (0.210, 0.710), (0.140, 0.080), ILLUMINANT_C),  # ITU-R BT.470-6 System M
    "bt470bg": ((0.640, 0.330), (0.290, 0.600), (0.150, 0.060), D65),  # ITU-R BT.601-7 625 lines, EBU
    "smpte170m": _SMPTE_C,  # SMPTE ST 170, ITU-R BT.601-7 525 lines
    "smpte240m": _SMPTE_C,  # SMPTE ST 240
    "film": ((0.681, 0.319), (0.243, 0.692), (0.145, 0.049), ILLUMINANT_C),  # H.273: generic film, illuminant C
    "bt2020": ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046), D65),  # ITU-R BT.2020-2
    "smpte431": (*_P3, DCI_WHITE),  # SMPTE RP 431-2 (DCI-P3)
    "smpte432": (*_P3, D65),  # SMPTE EG 432-1 (P3-D65, "Display P3")
    "ebu3213": ((0.630, 0.340), (0.295, 0.605), (0.155, 0.077), D65),  # EBU Tech 3213-E, JEDEC P22
}
"""CIE 1931 x, y of red, green, blue and white for each primaries value vidasm handles (ITU-T H.273 table 2)."""
SD_PRIMARIES = frozenset({"bt470m", "bt470bg", "smpte170m", "smpte240m"})
CONVERTED_PRIMARIES = frozenset(CHROMATICITIES) - SD_PRIMARIES - {"bt709"}
REFUSED_PRIMARIES = {
    "smpte428": "SMPTE ST 428-1 XYZ, the digital-cinema DCDM encoding",
    "vgamut": "Panasonic V-Gamut, a camera gamut meant to be graded",
}
GAMUT_NAMES = {
    "bt2020": "BT.2020",
    "smpte432": "P3-D65",
    "smpte431": "DCI-P3 (Bradford-adapted to D65)",
    "film": "generic film (Bradford-adapted to D65)",
    "ebu3213": "EBU 3213-E",
}
BT709_CURVE_TRANSFERS = frozenset({"bt709", "smpte170m", "bt2020-10", "bt2020-12", "bt1361e", "iec61966-2-4"})
KEPT_TRANSFERS = frozenset({"bt470m", "bt470bg", "smpte240m", "iec61966-2-1"})
REFUSED_TRANSFERS = {
    "log100": "logarithmic (100:1), meant to be graded",
    "log316": "logarithmic (316:1), meant to be graded",
    "vlog": "Panasonic V-Log, a camera log curve meant to be graded",
    "smpte428": "SMPTE ST 428-1, the DCDM's gamma 2.6, which zscale cannot decode",
}
SWSCALE_MATRICES = frozenset(_MATRIX.values()) | {"rgb"}
BRADFORD = ((0.8951, 0.2664, -0.1614), (-0.7502, 1.7135, 0.0367), (0.0389, -0.0685, 1.0296))
"""Bradford cone response (Lindbloom, "Chromatic Adaptation"; zimg 3.0 uses the same)."""

Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]


def is_sd(width: int, height: int) -> bool:
    """SD by size: what untagged sources are judged by (mpv and most players use the same rule)."""
    return width < 1280 and height <= 576


def is_rgb(pix_fmt: str | None) -> bool:
    return bool(pix_fmt) and str(pix_fmt).startswith(_RGB_PREFIXES)


def _known(value: str | None) -> bool:
    return bool(value) and value not in {"unknown", "unspecified", "reserved", "2", "0"}


# ---------------------------------------------------------------- 3x3 maths (no numpy: this module stays pure)


def _mul(a: Matrix, b: Matrix) -> Matrix:
    return tuple(tuple(sum(a[r][k] * b[k][c] for k in range(3)) for c in range(3)) for r in range(3))  # type: ignore[return-value]


def _apply(m: Matrix, v: tuple[float, float, float]) -> tuple[float, float, float]:
    return tuple(sum(m[r][k] * v[k] for k in range(3)) for r in range(3))  # type: ignore[return-value]


def _inverse(m: Matrix) -> Matrix:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return (
        ((e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
        ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
        ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det),
    )


def _xyz(xy: XY) -> tuple[float, float, float]:
    """CIE XYZ of a chromaticity at Y = 1."""
    x, y = xy
    return (x / y, 1.0, (1 - x - y) / y)


def rgb_to_xyz(primaries: str) -> Matrix:
    """Linear RGB (1.0 = the white) to CIE XYZ (Y = 1 at white), from the chromaticities (SMPTE RP 177)."""
    *rgb, white = CHROMATICITIES[primaries]
    cols = [_xyz(c) for c in rgb]
    m: Matrix = tuple(tuple(cols[c][r] for c in range(3)) for r in range(3))  # type: ignore[assignment]
    s = _apply(_inverse(m), _xyz(white))
    return tuple(tuple(m[r][c] * s[c] for c in range(3)) for r in range(3))  # type: ignore[return-value]


def bradford(src_white: XY, dst_white: XY) -> Matrix:
    """XYZ under ``src_white`` to the corresponding XYZ under ``dst_white`` (Bradford chromatic adaptation)."""
    a = _apply(BRADFORD, _xyz(src_white))
    b = _apply(BRADFORD, _xyz(dst_white))
    scale: Matrix = ((b[0] / a[0], 0.0, 0.0), (0.0, b[1] / a[1], 0.0), (0.0, 0.0, b[2] / a[2]))
    return _mul(_inverse(BRADFORD), _mul(scale, BRADFORD))


def gamut_matrix(primaries: str) -> Matrix:
    """Linear RGB in ``primaries`` to linear BT.709 RGB; a white other than D65 is Bradford-adapted to D65."""
    to_xyz = rgb_to_xyz(primaries)
    white = CHROMATICITIES[primaries][3]
    if white != D65:
        to_xyz = _mul(bradford(white, D65), to_xyz)
    return _mul(_inverse(rgb_to_xyz("bt709")), to_xyz)


# ---------------------------------------------------------------- the source's colour


@dataclass(frozen=True)
class SourceColour:
    """A source's colour as vidasm reads it (tags, or the documented assumption for each missing tag)."""

    matrix: str  # swscale name: bt601 | bt709 | bt2020 | smpte240m | fcc | rgb; or the tag when vidasm refuses it
    range: str  # tv | pc
    primaries: str  # probe (ffprobe) name
    transfer: str  # probe (ffprobe) name
    assumed: tuple[str, ...] = ()  # which of matrix/range/primaries/transfer were not tagged

    @property
    def hdr(self) -> str | None:
        """``PQ`` or ``HLG`` when the transfer is HDR."""
        return HDR_TRANSFERS.get(self.transfer)

    @property
    def wide_gamut(self) -> bool:
        """Primaries converted to BT.709 in linear light (all but BT.709 and the SD primaries)."""
        return self.primaries in CONVERTED_PRIMARIES

    @property
    def needs_zscale(self) -> bool:
        """HDR, converted primaries or linear transfer: converted in linear light by zscale before the scaler."""
        return self.hdr is not None or self.wide_gamut or self.transfer == "linear"

    def refusal(self) -> str | None:
        """What vidasm cannot convert to SDR BT.709 (each refused tag and what it is), or None."""
        problems = []
        if self.primaries in REFUSED_PRIMARIES:
            problems.append(f"primaries {self.primaries} ({REFUSED_PRIMARIES[self.primaries]})")
        elif self.primaries not in CHROMATICITIES:
            problems.append(f"primaries {self.primaries} (a value vidasm does not know)")
        if self.transfer in REFUSED_TRANSFERS:
            problems.append(f"transfer {self.transfer} ({REFUSED_TRANSFERS[self.transfer]})")
        elif self.transfer not in BT709_CURVE_TRANSFERS | KEPT_TRANSFERS | HDR_TRANSFERS.keys() | {"linear"}:
            problems.append(f"transfer {self.transfer} (a value vidasm does not know)")
        if self.matrix not in SWSCALE_MATRICES:
            problems.append(f"matrix {self.matrix} (not one vidasm converts)")
        return "; ".join(problems) or None

    def conversion(self) -> str:
        """What the conform does about this colour, in a few words (for the UI)."""
        gamut = GAMUT_NAMES.get(self.primaries)
        if self.hdr:
            return f"tone-mapped {self.hdr} to SDR BT.709" + (f", {gamut} gamut-converted" if gamut else "")
        if gamut:
            return f"{gamut} gamut-converted to BT.709"
        if self.transfer == "linear":
            return "linear light encoded to BT.709"
        if self.matrix == "rgb":
            return "RGB to BT.709 Y'CbCr"
        return f"{self.matrix} {self.range} to bt709 tv"

    def describe(self) -> str:
        text = f"{self.primaries}/{self.transfer}/{self.matrix}/{self.range}"
        return f"{text} (assumed: {', '.join(self.assumed)})" if self.assumed else text


def source_colour(
    *,
    width: int,
    height: int,
    pix_fmt: str | None,
    primaries: str | None,
    transfer: str | None,
    matrix: str | None,
    colour_range: str | None,
) -> SourceColour:
    """Read the tags of a source (probe names), filling what is missing by the rules in this module."""
    assumed: list[str] = []
    hdr_trc = transfer in HDR_TRANSFERS
    if not _known(transfer):
        transfer = "bt709"
        assumed.append("transfer")
    sd = is_sd(width, height)
    if not _known(primaries):
        primaries = "bt2020" if hdr_trc else ("smpte170m" if sd and height <= 486 else "bt470bg" if sd else "bt709")
        assumed.append("primaries")
    if str(pix_fmt or "").startswith(_GREY_PREFIXES) and matrix == "gbr":
        return SourceColour("bt709", "pc", str(primaries), str(transfer), tuple(assumed))
    if is_rgb(pix_fmt) or (pix_fmt == "pal8" and matrix == "gbr"):
        return SourceColour("rgb", "pc", str(primaries), str(transfer), tuple(assumed))
    if matrix in _MATRIX:
        mat = _MATRIX[str(matrix)]
    elif _known(matrix):
        mat = str(matrix)  # tagged, but not a matrix vidasm converts: refused by name
    else:
        mat = "bt2020" if hdr_trc or primaries == "bt2020" else ("bt601" if sd else "bt709")
        assumed.append("matrix")
    if colour_range in ("tv", "pc"):
        rng = str(colour_range)
    else:
        rng = "pc" if str(pix_fmt or "").startswith("yuvj") else "tv"
        assumed.append("range")
    return SourceColour(mat, rng, str(primaries), str(transfer), tuple(assumed))


class AlphaMode(str, Enum):
    """How a render's colour relates to its alpha channel (an NLE's "interpret footage" choice), project.json
    ``colour.alpha``: ``straight`` (unmatted: what FFmpeg assumes of every alpha it decodes, and what ProRes 4444,
    PNG and QuickTime Animation writers usually store), flattened over black by premultiplying it; or
    ``premultiplied`` (already matted over black, e.g. After Effects' default "Premultiplied - Matted With
    Black"), kept as it is, since premultiplying twice would darken every half-transparent edge."""

    STRAIGHT = "straight"
    PREMULTIPLIED = "premultiplied"


class HdrPolicy(str, Enum):
    """What to do with HDR (PQ/HLG) renders: refuse them naming what was found, or tone-map them to SDR BT.709."""

    FAIL = "fail"
    TONEMAP = "tonemap"


def check_hdr_policy(colour: SourceColour, policy: HdrPolicy, path: str) -> None:
    """Refuse what the conform cannot make SDR BT.709, and HDR unless the project asks for tone-mapping.

    Both name the file and what was found. (The name predates the refusals of other tags; it is what
    ``build.py`` calls before every conform, so every refusal is in one place.)
    """
    refusal = colour.refusal()
    if refusal:
        raise UnsupportedMediaError(
            f"{path}: colour vidasm cannot convert to SDR BT.709: {refusal} (source: {colour.describe()}); "
            "render it as BT.709, BT.2020, P3 or another gamut vidasm converts (see the README's input cases)",
            path=path,
        )
    if colour.hdr and HdrPolicy(policy) is not HdrPolicy.TONEMAP:
        raise UnsupportedMediaError(
            f"{path}: HDR source ({colour.hdr}: transfer {colour.transfer}, primaries {colour.primaries}, "
            f"matrix {colour.matrix}); vidasm conforms to SDR BT.709 and does not tone-map unless asked: set "
            '"colour": {"hdr": "tonemap"} in project.json',
            path=path,
        )


# vidasm's matrix names -> zscale's; SMPTE 240M as its number: FFmpeg 5.1 spells the name "smpte2400m"
_ZSCALE_MATRIX = {"bt601": "smpte170m", "bt709": "bt709", "bt2020": "bt2020nc", "smpte240m": "7", "fcc": "fcc"}
_MIXER = ("rr", "rg", "rb", "gr", "gg", "gb", "br", "bg", "bb")


def colorchannelmixer(m: Matrix) -> str:
    """``colorchannelmixer`` applying ``m`` to RGB (its gains are limited to -2..2: every gamut here is within)."""
    gains = [v for row in m for v in row]
    if any(abs(g) > 2 for g in gains):
        raise ValueError(f"gamut matrix outside colorchannelmixer's -2..2 gains: {m}")
    return "colorchannelmixer=" + ":".join(f"{k}={round(g, 6) + 0.0:.6f}" for k, g in zip(_MIXER, gains, strict=True))


def zscale_chain(colour: SourceColour) -> list[str]:
    """Linear-light conversion to SDR BT.709, limited range, yuv420p (HDR, converted primaries, linear transfer).

    zscale decodes to linear RGB float with the source's primaries kept; the gamut matrix (``gamut_matrix``) maps
    them to BT.709; HDR is tone-mapped; zscale encodes BT.709 Y'CbCr. Transfers treated as BT.709 are decoded as
    BT.709 (see the module's rules).
    """
    tin = colour.transfer if colour.hdr or colour.transfer == "linear" else "bt709"
    first = f"zscale=tin={tin}:pin={colour.primaries}"
    if colour.matrix != "rgb":
        first += f":min={_ZSCALE_MATRIX.get(colour.matrix, 'bt709')}:rin={colour.range}"
    first += f":t=linear:npl={NOMINAL_PEAK_NITS}"
    chain = [first, "format=gbrpf32le"]
    if colour.wide_gamut:
        chain += [colorchannelmixer(gamut_matrix(colour.primaries)), "setparams=color_primaries=bt709"]
    if colour.hdr:
        chain.append(f"tonemap=tonemap={TONEMAP_OPERATOR}:desat=0")
    # Out-of-gamut colours come out of the gamut matrix negative. Linear 16-bit integer clips them to 0 (and
    # anything over 1.0 to 1.0) before the BT.709 transfer: zscale's own handling of negative float input differs
    # by build (measured: Debian's FFmpeg 5.1.9 with zimg 3.0.4 turned a BT.2020 green bar into Y'CbCr 105,109,17
    # where the clipped conversion, and FFmpeg 9.0.2, give 122,99,59). 16-bit linear keeps 8- and 10-bit output
    # exact: its step is 1/65535, far below a 10-bit code value even at the transfer's steepest slope (4.5).
    chain += ["format=gbrp16le", "zscale=t=bt709:m=bt709:r=tv", "format=yuv420p"]
    return chain
