"""Which FFmpeg vidasm runs: version and capability probing, the fallback and the refusal, on real binaries.

The builds: the bundled 9.0.2 (imageio-ffmpeg), Debian's 5.1 when installed (CI installs it), and 7.0.2 and
4.2.2 from older imageio-ffmpeg wheels (``scripts/ffmpeg-builds.sh``); 4.2.2 is older than vidasm supports.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidasm_assets.media import ffmpeg_tool as ft
from vidasm_assets.media.errors import FFmpegBuildError, ToolNotFoundError

from ..support.helpers import ffmpeg_build

pytestmark = pytest.mark.media


@pytest.fixture(autouse=True)
def _fresh_choice() -> None:
    ft._select.cache_clear()
    yield
    ft._select.cache_clear()


@pytest.mark.parametrize(
    ("text", "label", "version"),
    [
        ("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026", "5.1.9-0+deb12u1", (5, 1)),
        ("ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright", "n9.0.2-17-g2a571b6068-20260930", (9, 0)),
        ("ffmpeg version 4.2.2-static https://johnvansickle.com/ffmpeg/", "4.2.2-static", (4, 2)),
        ("ffmpeg version 6.1.1-3ubuntu5 Copyright (c) 2000-2023", "6.1.1-3ubuntu5", (6, 1)),
        (
            "ffmpeg version N-117000-gabcdef Copyright\nlibavutil      59. 39.100 / 59. 39.100",
            "N-117000-gabcdef",
            (7, 99),
        ),
        ("", "unknown", None),
    ],
)
def test_version_labels_of_distribution_static_and_git_builds(text: str, label: str, version: object) -> None:
    assert ft.parse_version(text) == (label, version)


def test_filter_lists_of_old_and_new_layouts_parse() -> None:
    old = " TS. bwdif             V->V       Deinterlace the input image.\n .SC zscale            V->V       Apply\n"
    new = " TS bwdif             V->V       Deinterlace the input image.\n .S zscale            V->V       Apply\n"
    assert ft.parse_filters(old) == ft.parse_filters(new) == {"bwdif", "zscale"}


def test_every_supported_build_has_what_vidasm_uses(ffmpeg: str) -> None:
    builds = {"session": ffmpeg, "7.0.2": ffmpeg_build("7.0.2")}
    bundled = ft.bundled_ffmpeg()
    assert bundled
    builds["bundled"] = bundled
    for name, exe in builds.items():
        caps = ft.capabilities(exe)
        assert caps.usable, f"{name} {exe}: {caps.problems()}"
        assert caps.version_tuple and caps.version_tuple >= ft.MIN_VERSION
        assert "movie_timescale" in caps.options["muxer:mov"] and "normalize" in caps.options["filter:amix"]


def test_an_old_build_is_found_lacking_by_its_own_help() -> None:
    caps = ft.capabilities(ffmpeg_build("4.2.2"))
    assert caps.version_tuple == (4, 2) and caps.too_old and not caps.usable
    missing = caps.missing()
    assert "option movie_timescale of muxer mov" in missing  # FFmpeg 5.0 added it
    assert "zscale" in caps.filters and "loudnorm" in caps.filters  # what it has is read, not assumed


def test_capabilities_are_probed_once_per_process(ffmpeg: str) -> None:
    ft.capabilities(ffmpeg)
    before = ft._capabilities.cache_info().hits
    for _ in range(3):
        ft.capabilities(ffmpeg)
    assert ft._capabilities.cache_info().hits == before + 3


def _path_with(tmp_path: Path, exe: str) -> str:
    """A PATH whose ``ffmpeg`` is ``exe`` (a symlink, as a distribution's /usr/bin/ffmpeg would be)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "ffmpeg").symlink_to(exe)
    return f"{bindir}{os.pathsep}/usr/local/bin{os.pathsep}/bin"


def test_a_lacking_ffmpeg_on_path_is_passed_over_for_the_bundled_one_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    old = ffmpeg_build("4.2.2")
    monkeypatch.delenv("FFMPEG_PATH", raising=False)
    monkeypatch.setenv("PATH", _path_with(tmp_path, old))
    with caplog.at_level(logging.WARNING, logger="vidasm"):
        chosen = ft.select_ffmpeg()
        again = ft.select_ffmpeg()
    assert chosen is again and chosen.origin is ft.Origin.BUNDLED and chosen.exe == ft.bundled_ffmpeg()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(tmp_path / "bin" / "ffmpeg") in warnings[0] and "4.2.2" in warnings[0]
    assert chosen.exe in warnings[0] and "FFMPEG_PATH" in warnings[0]
    assert "passed over" in chosen.describe()


def test_a_lacking_ffmpeg_named_explicitly_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    old = ffmpeg_build("4.2.2")
    monkeypatch.setenv("FFMPEG_PATH", old)
    with pytest.raises(FFmpegBuildError) as info:
        ft.select_ffmpeg()
    text = str(info.value)
    assert old in text and "4.2.2" in text and "FFMPEG_PATH" in text
    assert "older than 5.1" in text and "movie_timescale" in text
    with pytest.raises(ToolNotFoundError, match="not an executable"):
        ft.select_ffmpeg("/nonexistent/ffmpeg")


def test_a_capable_ffmpeg_on_path_is_used_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = ffmpeg_build("7.0.2")
    monkeypatch.delenv("FFMPEG_PATH", raising=False)
    monkeypatch.setenv("PATH", _path_with(tmp_path, other))
    chosen = ft.select_ffmpeg()
    assert chosen.origin is ft.Origin.PATH and chosen.version == "7.0.2-static"
    assert chosen.describe() == f"FFmpeg 7.0.2-static at {tmp_path / 'bin' / 'ffmpeg'} (PATH): {chosen.reason}"


def test_doctor_says_which_ffmpeg_its_version_and_why(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": _path_with(tmp_path, ffmpeg_build("4.2.2")), "DAGSTER_HOME": str(tmp_path / "h")}
    env.pop("FFMPEG_PATH", None)
    out = subprocess.run(
        [sys.executable, "-m", "vidasm_assets.cli", "doctor"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith(f"ffmpeg: FFmpeg {ft.capabilities(ft.bundled_ffmpeg()).version} at ")
    assert "passed over" in first and "older than 5.1" in first
    assert "PATH: " in out.stdout and "cannot" in out.stdout and "bundled: " in out.stdout
