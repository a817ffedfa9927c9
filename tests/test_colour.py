"""The probe's colour tables: every value FFmpeg names, with FFmpeg's (ffprobe's) names.

Pure: no FFmpeg binary; the names are asked of the libavutil PyAV decodes with.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import av
import pytest

from vidasm_assets.media import probe


def test_probe_tables_are_ffmpegs_names() -> None:
    """Each table equals what libavutil (the one PyAV decodes with) names, value for value, and nothing is missing."""
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
        assert table == ffmpeg, fn
