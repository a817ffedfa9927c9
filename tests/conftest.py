"""Shared fixtures: a real FFmpeg, tiny generated renders, a real (SQLite) Dagster instance."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.media.demo import RenderSpec, make_render, write_project
from vidasm_assets.media.ffmpeg_tool import bundled_ffmpeg, select_ffmpeg
from vidasm_assets.media.runner import find_ffmpeg


def _session_ffmpeg() -> str | None:
    """The FFmpeg this test session runs: ``VIDASM_TEST_FFMPEG`` = ``bundled`` (imageio-ffmpeg's), ``system``
    (``ffmpeg`` on PATH, e.g. Debian's 5.1) or a path; unset: vidasm's own choice (FFMPEG_PATH, PATH, bundled)."""
    choice = os.environ.get("VIDASM_TEST_FFMPEG", "")
    if choice == "bundled":
        return bundled_ffmpeg()
    if choice == "system":
        found = shutil.which("ffmpeg")
        if not found:
            raise pytest.UsageError("VIDASM_TEST_FFMPEG=system but there is no ffmpeg on PATH (apt-get install ffmpeg)")
        return found
    return choice or os.environ.get("FFMPEG_PATH") or None


SESSION_FFMPEG = _session_ffmpeg()
if SESSION_FFMPEG:
    os.environ["FFMPEG_PATH"] = SESSION_FFMPEG


def pytest_report_header(config: pytest.Config) -> str:
    return select_ffmpeg().describe()


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return find_ffmpeg()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as inst:
        yield inst


MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(ffmpeg: str) -> MakeProject:
    """Write a project folder with the given renders ({"sh010_v001.mp4": RenderSpec(...)})."""

    def _make(root: Path, name: str, renders: dict[str, RenderSpec], spec: dict | None = None) -> Path:
        folder = write_project(root, name, spec or {"fps": 24, "resolution": "320x180"})
        for filename, rs in renders.items():
            shot = filename.split("_")[0]
            make_render(ffmpeg, folder / "03_Renders" / shot / filename, rs)
        return folder

    return _make


@pytest.fixture(autouse=True)
def _no_cwd_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run in their tmp dir so nothing is written to the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIDASM_WORKSPACE", raising=False)
    if SESSION_FFMPEG:
        monkeypatch.setenv("FFMPEG_PATH", SESSION_FFMPEG)
    else:
        monkeypatch.delenv("FFMPEG_PATH", raising=False)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


@pytest.fixture
def fresh_hwaccel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hardware-encoder choice from a clean slate: no ``VIDASM_HWACCEL``/``VIDASM_VAAPI_DEVICE`` from the
    environment, and the per-process trial and warning caches emptied before and after."""
    from vidasm_assets.media import hwaccel

    monkeypatch.delenv(hwaccel.ENV, raising=False)
    monkeypatch.delenv(hwaccel.VAAPI_DEVICE_ENV, raising=False)
    hwaccel.reset()
    yield
    hwaccel.reset()
