"""Shared fixtures: a real FFmpeg, tiny generated renders, a real (SQLite) Dagster instance."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.media.demo import RenderSpec, make_render, write_project
from vidasm_assets.media.runner import find_ffmpeg


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


def set_spec(folder: Path, **changes: object) -> None:
    pj = folder / "project.json"
    data = json.loads(pj.read_text())
    data.update(changes)
    pj.write_text(json.dumps(data))


@pytest.fixture(autouse=True)
def _no_cwd_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run in their tmp dir so nothing is written to the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIDASM_WORKSPACE", raising=False)
    monkeypatch.delenv("FFMPEG_PATH", raising=False)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
