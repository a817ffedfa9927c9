"""An independent reference for colour conversions, computed from the chromaticities (not from vidasm's code).

Ported from the public case script ``16-wide-gamut-sdr.sh --check``: source Y'CbCr -> R'G'B' -> linear light
-> primaries matrix to BT.709 (from the chromaticities) -> BT.709 Y'CbCr, limited range, 8-bit code values.
Linear light is display light, ITU-R BT.1886 (gamma 2.4, black at 0), which is what zscale (zimg) evaluates and
what vidasm documents. White points other than D65 are Bradford-adapted (Lindbloom's matrix), vidasm's policy.
"""

from __future__ import annotations

Vec = list[float]
Mat = list[list[float]]

D65 = (0.3127, 0.3290)
# CIE 1931 x, y of R, G, B and white, as published: ITU-R BT.709-6, BT.2020-2, SMPTE RP 431-2, EG 432-1, ITU-T H.273
PRIMARIES = {
    "bt709": ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06), D65),
    "bt2020": ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046), D65),
    "smpte432": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), D65),
    "smpte431": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), (0.314, 0.351)),
    "film": ((0.681, 0.319), (0.243, 0.692), (0.145, 0.049), (0.310, 0.316)),
    "ebu3213": ((0.630, 0.340), (0.295, 0.605), (0.155, 0.077), D65),
}
KR_KB = {"bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593), "bt601": (0.299, 0.114)}
BRADFORD = [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]


def inv3(m: Mat) -> Mat:
    a, b, c = m[0]
    d, e, f = m[1]
    g, h, i = m[2]
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return [
        [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
        [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
        [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
    ]


def mul(m: Mat, v: Vec) -> Vec:
    return [sum(m[r][k] * v[k] for k in range(3)) for r in range(3)]


def mmul(a: Mat, b: Mat) -> Mat:
    return [[sum(a[r][k] * b[k][c] for k in range(3)) for c in range(3)] for r in range(3)]


def xyz(x: float, y: float) -> Vec:
    return [x / y, 1.0, (1 - x - y) / y]


def rgb2xyz(name: str) -> Mat:
    *rgb, white = PRIMARIES[name]
    cols = [xyz(*c) for c in rgb]
    m = [[cols[c][r] for c in range(3)] for r in range(3)]
    s = mul(inv3(m), xyz(*white))
    return [[m[r][c] * s[c] for c in range(3)] for r in range(3)]


def to709(name: str) -> Mat:
    """Linear RGB in ``name``'s primaries to linear BT.709 RGB (Bradford to D65 when the white differs)."""
    m = rgb2xyz(name)
    white = PRIMARIES[name][3]
    if white != D65:
        a, b = mul(BRADFORD, xyz(*white)), mul(BRADFORD, xyz(*D65))
        scale = [[b[0] / a[0], 0, 0], [0, b[1] / a[1], 0], [0, 0, b[2] / a[2]]]
        m = mmul(mmul(inv3(BRADFORD), mmul(scale, BRADFORD)), m)
    return mmul(inv3(rgb2xyz("bt709")), m)


def ycbcr_to_rgb(ycbcr: tuple[float, float, float], matrix: str, bits: int = 8) -> Vec:
    """Limited-range Y'CbCr code values to R'G'B' (0..1, unclipped)."""
    s = 2 ** (bits - 8)
    y, cb, cr = ((v / s) for v in ycbcr)
    yy, pb, pr = (y - 16) / 219, (cb - 128) / 224, (cr - 128) / 224
    kr, kb = KR_KB[matrix]
    r = yy + 2 * (1 - kr) * pr
    b = yy + 2 * (1 - kb) * pb
    g = (yy - kr * r - kb * b) / (1 - kr - kb)
    return [r, g, b]


def rgb_to_ycbcr709(rgb: Vec) -> tuple[float, float, float]:
    """R'G'B' (clipped to 0..1) to BT.709 limited-range 8-bit Y'CbCr."""
    kr, kb = KR_KB["bt709"]
    r, g, b = (min(1.0, max(0.0, c)) for c in rgb)
    y = kr * r + (1 - kr - kb) * g + kb * b
    return 16 + 219 * y, 128 + 224 * (b - y) / (2 * (1 - kb)), 128 + 224 * (r - y) / (2 * (1 - kr))


def converted(ycbcr: tuple[float, float, float], *, primaries: str, matrix: str, bits: int = 8) -> tuple[float, ...]:
    """What the conform must make of a source's Y'CbCr: BT.709 Y'CbCr of the same colour (BT.1886 linear light)."""
    linear = [max(0.0, c) ** 2.4 for c in ycbcr_to_rgb(ycbcr, matrix, bits)]
    return rgb_to_ycbcr709([max(0.0, c) ** (1 / 2.4) for c in mul(to709(primaries), linear)])


def unconverted(ycbcr: tuple[float, float, float], *, matrix: str, bits: int = 8) -> tuple[float, ...]:
    """The same code values read as BT.709 (matrix converted, primaries not): what a missed gamut conversion gives."""
    return rgb_to_ycbcr709(ycbcr_to_rgb(ycbcr, matrix, bits))
