"""What a source's colour is, and what the conform does about it. Pure: no FFmpeg, no PyAV.

Every conformed shot is SDR BT.709 (primaries, transfer, matrix), limited range. What the source is comes
from its tags; what is not tagged is assumed, by documented rules, and the assumption is reported:

- matrix: tagged BT.601 (``smpte170m``/``bt470bg``), BT.709, BT.2020 or SMPTE 240M are converted with that
  matrix (not re-tagged). Untagged: BT.2020 when the transfer is HDR; otherwise BT.601 for SD (narrower than
  1280 and at most 576 lines high), BT.709 for everything larger.
- range: tagged ``pc``/``tv`` is honoured; untagged is limited (``tv``), except ``yuvj*`` pixel formats,
  which are full range by definition. RGB sources are full range RGB; only the output matrix applies.
- primaries: SD BT.601 primaries (SMPTE C / EBU) are treated as BT.709, the way SD-to-HD upconversion is
  done in practice (matrix only, no gamut mapping). BT.2020 primaries are gamut-converted (zscale).
- transfer: PQ (``smpte2084``) and HLG (``arib-std-b67``) are HDR. HDR fails the shot unless the project
  opts into tone-mapping (``"colour": {"hdr": "tonemap"}``): zscale to linear light, BT.2020 -> BT.709
  primaries, the ``mobius`` operator (keeps the SDR range nearly as is, rolls highlights off), BT.709 out.
"""

from __future__ import annotations

from dataclasses import dataclass

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
TONEMAP_OPERATOR = "mobius"
NOMINAL_PEAK_NITS = 100


def is_sd(width: int, height: int) -> bool:
    """SD by size: what untagged sources are judged by (mpv and most players use the same rule)."""
    return width < 1280 and height <= 576


def is_rgb(pix_fmt: str | None) -> bool:
    return bool(pix_fmt) and str(pix_fmt).startswith(_RGB_PREFIXES)


def _known(value: str | None) -> bool:
    return bool(value) and value not in {"unknown", "unspecified", "reserved", "2", "0"}


@dataclass(frozen=True)
class SourceColour:
    """A source's colour as vidasm reads it (tags, or the documented assumption for each missing tag)."""

    matrix: str  # swscale name: bt601 | bt709 | bt2020 | smpte240m | fcc | rgb
    range: str  # tv | pc
    primaries: str
    transfer: str
    assumed: tuple[str, ...] = ()  # which of matrix/range/primaries/transfer were not tagged

    @property
    def hdr(self) -> str | None:
        """``PQ`` or ``HLG`` when the transfer is HDR."""
        return HDR_TRANSFERS.get(self.transfer)

    @property
    def wide_gamut(self) -> bool:
        return self.primaries == "bt2020"

    @property
    def needs_zscale(self) -> bool:
        """HDR or BT.2020 primaries: converted in linear light by zscale before the scaler."""
        return self.hdr is not None or self.wide_gamut

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
    if is_rgb(pix_fmt):
        return SourceColour("rgb", "pc", str(primaries), str(transfer), tuple(assumed))
    if matrix in _MATRIX:
        mat = _MATRIX[str(matrix)]
    else:
        mat = "bt2020" if hdr_trc or primaries == "bt2020" else ("bt601" if sd else "bt709")
        assumed.append("matrix")
    if colour_range in ("tv", "pc"):
        rng = str(colour_range)
    else:
        rng = "pc" if str(pix_fmt or "").startswith("yuvj") else "tv"
        assumed.append("range")
    return SourceColour(mat, rng, str(primaries), str(transfer), tuple(assumed))


HdrPolicy = str  # "fail" | "tonemap"


def check_hdr_policy(colour: SourceColour, policy: HdrPolicy, path: str) -> None:
    """Refuse HDR by default, naming the file and what was found; ``tonemap`` lets it through."""
    if colour.hdr and policy != "tonemap":
        raise UnsupportedMediaError(
            f"{path}: HDR source ({colour.hdr}: transfer {colour.transfer}, primaries {colour.primaries}, "
            f"matrix {colour.matrix}); vidasm conforms to SDR BT.709 and does not tone-map unless asked: set "
            '"colour": {"hdr": "tonemap"} in project.json',
            path=path,
        )


_ZSCALE_MATRIX = {"bt601": "smpte170m", "bt709": "bt709", "bt2020": "bt2020nc", "smpte240m": "smpte240m", "fcc": "fcc"}


def zscale_chain(colour: SourceColour) -> list[str]:
    """Linear-light conversion of HDR or wide-gamut sources to SDR BT.709, limited range, yuv420p."""
    first = f"zscale=tin={colour.transfer}:pin={colour.primaries}"
    if colour.matrix != "rgb":
        first += f":min={_ZSCALE_MATRIX.get(colour.matrix, 'bt709')}:rin={colour.range}"
    first += f":t=linear:npl={NOMINAL_PEAK_NITS}"
    chain = [first, "format=gbrpf32le", "zscale=p=bt709"]
    if colour.hdr:
        chain.append(f"tonemap=tonemap={TONEMAP_OPERATOR}:desat=0")
    chain += ["zscale=t=bt709:m=bt709:r=tv", "format=yuv420p"]
    return chain
