"""Hostile or broken workspace input (no media): names matched whole, record_start checked at load time, concat
lists FFmpeg cannot misread."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import pytest

from vidasm_assets.media import commands as c
from vidasm_assets.media.errors import (
    ProjectConfigError,
    UnsafePathError,
)
from vidasm_assets.media.project import discover_projects, list_takes, load_project, load_spec

T = TypeVar("T")


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


# --------------------------------------------------------------------------- project.json


# --------------------------------------------------------------------------- renders and names


def test_a_name_with_a_trailing_newline_is_no_take_and_no_shot(tmp_path: Path) -> None:
    d = tmp_path / "p" / "03_Renders" / "sh010"
    write(d / "sh010_v002.mp4", b"x")
    write(d / "sh010_v003\n.mp4", b"x")
    assert [t.path.name for t in list_takes(d, "sh010")] == ["sh010_v002.mp4"]
    write(tmp_path / "p" / "03_Renders" / "sh020\n" / "sh020\n_v001.mp4", b"x")
    write(tmp_path / "p" / "project.json", {})
    (tmp_path / "q\n").mkdir()
    write(tmp_path / "q\n" / "project.json", {})
    ws = discover_projects(tmp_path)
    assert ws.projects["p"].shots() == ["sh010"]
    assert "project folder name 'q\\n' is invalid" in str(ws.errors["q\n"])
    with pytest.raises(ProjectConfigError):
        load_project(tmp_path, "p\n")


@pytest.mark.parametrize(
    ("fps", "record_start", "reason"),
    [
        (24, "99:59:59:99", "record_start '99:59:59:99' is not a valid non-drop timecode at 24 fps"),
        (25, "01:00:00:25", "record_start '01:00:00:25' is not a valid non-drop timecode at 25 fps"),
        (29.97, "00:01:00;00", "record_start '00:01:00;00' is not a valid drop-frame timecode at 29.97 fps"),
        (24, "01:00:00;00", "uses the drop-frame ';' separator, but 24 fps timecode is non-drop"),
    ],
)
def test_record_start_is_checked_at_load_time_against_the_rate(
    tmp_path: Path, fps: float, record_start: str, reason: str
) -> None:
    pj = write(tmp_path / "project.json", {"fps": fps, "editorial": {"record_start": record_start}})
    with pytest.raises(ProjectConfigError) as info:
        load_spec(pj)
    assert str(info.value).startswith(f"{pj}: field 'editorial': ") and reason in str(info.value)


def test_valid_record_starts_still_load(tmp_path: Path) -> None:
    for fps, tc in [(29.97, "01:00:00;00"), (29.97, "01:00:00:00"), (59.94, "00:10:00;00"), (24, "23:59:59:23")]:
        spec = load_spec(write(tmp_path / "project.json", {"fps": fps, "editorial": {"record_start": tc}}))
        assert spec.editorial.record_start == tc


def test_concat_list_entries_under_the_list_folder_are_relative_and_newlines_are_refused(tmp_path: Path) -> None:
    base = tmp_path / "work\nspace" / "p" / "05_Cache"
    text = c.concat_list([base / "picture" / "sh010.mov", base / "placeholder" / "sh020.mov"], base)
    assert text == "ffconcat version 1.0\nfile 'picture/sh010.mov'\nfile 'placeholder/sh020.mov'\n"
    with pytest.raises(UnsafePathError, match="a path with a line break cannot be listed"):
        c.concat_list([tmp_path / "else\nwhere" / "x.mov"], base)


# --------------------------------------------------------------------------- outside the workspace
