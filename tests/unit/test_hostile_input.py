"""Hostile or broken workspace input (no media): one clear error naming the file and the limit, never a traceback
that stops the other projects, never a blocked read.

Unreadable files are made real without root's immunity to permissions: a FIFO, a folder or a dangling symlink
where a file is expected (``test_hostile_builds`` also runs the CLI as ``nobody`` over chmod-000 files).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from vidasm_assets.media import commands as c
from vidasm_assets.media.errors import (
    InvalidMediaError,
    MediaNotFoundError,
    ProjectConfigError,
    SettingsError,
    UnsafePathError,
)
from vidasm_assets.media.limits import Limits, json_depth
from vidasm_assets.media.project import discover_projects, list_takes, load_project, load_spec, select_take

T = TypeVar("T")


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def within(seconds: float, fn: Callable[[], T], fifos: list[Path]) -> T:
    """``fn()`` in a thread; a read blocked on one of ``fifos`` is released (a writer opens and closes it) and the
    test fails instead of hanging the suite."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        for fifo in fifos:  # a blocked open(O_RDONLY) returns once a writer comes; EOF when it leaves
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(5)
        pytest.fail(f"blocked for more than {seconds} s reading one of {fifos}")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


# --------------------------------------------------------------------------- project.json


def test_a_fifo_folder_or_dangling_symlink_project_json_is_an_error_naming_it_not_a_hang(tmp_path: Path) -> None:
    write(tmp_path / "good" / "project.json", {})
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "project.json")
    (tmp_path / "folder" / "project.json").mkdir(parents=True)
    (tmp_path / "dangling").mkdir()
    (tmp_path / "dangling" / "project.json").symlink_to(tmp_path / "nowhere.json")
    ws = within(10, lambda: discover_projects(tmp_path), [tmp_path / "fifo" / "project.json"])
    assert list(ws.projects) == ["good"]
    assert "is a FIFO (named pipe), not a file" in str(ws.errors["fifo"])
    assert "is a folder, not a file" in str(ws.errors["folder"])
    assert "a symlink to" in str(ws.errors["dangling"]) and "nowhere.json" in str(ws.errors["dangling"])
    for name, err in ws.errors.items():
        assert str(tmp_path / name / "project.json") in str(err) and isinstance(err, ProjectConfigError)


def test_invalid_utf8_is_named_with_its_offset(tmp_path: Path) -> None:
    pj = write(tmp_path / "p" / "project.json", b'{"fps": 24,\n "sequence": [{"shot": "sh\xff010"}]}')
    with pytest.raises(ProjectConfigError) as info:
        load_spec(pj)
    assert str(info.value) == f"{pj}: not UTF-8 text (byte 0xff at offset 38, line 2); save it as UTF-8"


def test_nesting_a_thousand_levels_deep_is_refused_by_the_depth_limit(tmp_path: Path) -> None:
    pj = write(tmp_path / "p" / "project.json", '{"notes": ' + "[" * 1000 + "]" * 1000 + "}")
    with pytest.raises(ProjectConfigError) as info:
        load_spec(pj)
    assert str(info.value) == (
        f"{pj}: nested more than 32 levels deep, over the limit (VIDASM_MAX_PROJECT_JSON_DEPTH=32; a project.json "
        "needs 4)"
    )
    within_parser = write(tmp_path / "q" / "project.json", '{"notes": ' + "[" * 40 + "]" * 40 + "}")
    with pytest.raises(ProjectConfigError, match="nested more than 32 levels deep"):
        load_spec(within_parser)


def test_json_depth_counts_containers_without_recursion() -> None:
    assert json_depth({"a": "[[[{{{", "b": [{"c": []}]}) == 4
    assert json_depth([]) == 1 and json_depth("x") == 0
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert json_depth(deep) == 100_001 and json_depth(deep, stop=10) == 11


def test_fifty_megabytes_and_a_million_entries_are_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [{"shot": f"sh{i:07d}", "notes": "x" * 20} for i in range(1_000_000)]
    pj = write(tmp_path / "p" / "project.json", {"sequence": entries})
    assert pj.stat().st_size > 40_000_000
    with pytest.raises(ProjectConfigError) as info:
        load_spec(pj)
    assert str(info.value).startswith(f"{pj}: ")
    assert "over the project.json size limit of 4.0 MiB (VIDASM_MAX_PROJECT_JSON_BYTES)" in str(info.value)
    # read at call time: a larger size limit lets the file be read, and the sequence limit names itself
    monkeypatch.setenv("VIDASM_MAX_PROJECT_JSON_BYTES", "64M")
    with pytest.raises(ProjectConfigError) as info:
        load_spec(pj)
    assert str(info.value) == (
        f"{pj}: field 'sequence': 1,000,000 entries, over the limit of 10,000 (VIDASM_MAX_SEQUENCE)"
    )
    monkeypatch.setenv("VIDASM_MAX_SEQUENCE", "3")
    small = write(tmp_path / "q" / "project.json", {"sequence": entries[:4]})
    with pytest.raises(ProjectConfigError, match=r"4 entries, over the limit of 3 \(VIDASM_MAX_SEQUENCE\)"):
        load_spec(small)


def test_every_broken_project_json_is_one_error_and_the_good_project_loads(tmp_path: Path) -> None:
    write(tmp_path / "a_good" / "project.json", {})
    write(tmp_path / "b_utf" / "project.json", b"{\xc3}")
    write(tmp_path / "c_deep" / "project.json", "[" * 5000 + "]" * 5000)
    write(tmp_path / "d_big" / "project.json", " " * (5 << 20) + "{}")
    write(tmp_path / "e_list" / "project.json", [1, 2])
    ws = discover_projects(tmp_path)
    assert list(ws.projects) == ["a_good"]
    assert sorted(ws.errors) == ["b_utf", "c_deep", "d_big", "e_list"]
    assert all(len(str(e).splitlines()) == 1 for e in ws.errors.values())


def test_discover_logs_nothing_so_the_caller_says_each_error_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "bad" / "project.json", {"fps": "fast"})
    caplog.set_level("DEBUG", logger="vidasm")
    ws = discover_projects(tmp_path)
    assert "bad" in ws.errors
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_settings_are_read_at_call_time_and_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Limits.from_env().frames == 500_000
    monkeypatch.setenv("VIDASM_MAX_FRAMES", "1200")
    monkeypatch.setenv("VIDASM_MAX_OUTPUT_BYTES", "1.5G")
    monkeypatch.setenv("VIDASM_MAX_FFMPEG_MEMORY", "0")
    lim = Limits.from_env()
    assert lim.frames == 1200 and lim.output_bytes == 3 << 29 and not lim.enabled("ffmpeg_memory_bytes")
    monkeypatch.setenv("VIDASM_MAX_PIXELS", "lots")
    with pytest.raises(SettingsError, match=r"VIDASM_MAX_PIXELS='lots' is not a number"):
        Limits.from_env()


# --------------------------------------------------------------------------- renders and names


def test_a_take_that_is_no_regular_file_fails_the_shot_instead_of_falling_back(tmp_path: Path) -> None:
    """A dangling symlink, a FIFO or a folder named as the newest take: the shot fails naming it; an older take is
    never used silently in its place, and nothing blocks on the FIFO."""
    for kind in ("dangling", "fifo", "folder"):
        d = tmp_path / kind / "sh010"
        write(d / "sh010_v001.mp4", b"x")
        newest = d / "sh010_v002.mp4"
        if kind == "dangling":
            newest.symlink_to(tmp_path / "on_a_server_that_is_gone.mp4")
        elif kind == "fifo":
            os.mkfifo(newest)
        else:
            newest.mkdir()
        with pytest.raises((MediaNotFoundError, InvalidMediaError)) as info:
            within(10, lambda d=d: select_take(d, "sh010"), [newest])
        assert str(newest) in str(info.value)
        assert {"dangling": "which does not exist", "fifo": "is a FIFO", "folder": "is a folder"}[kind] in str(
            info.value
        )
        assert select_take(d, "sh010", "v001").path.name == "sh010_v001.mp4"  # an explicit pin still works


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
    assert ws.projects["p"].ignored_folders() == {"sh020\n": "invalid shot id (use only letters, digits, '_' and '-')"}
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
    assert str(info.value).startswith(f"{pj}: field 'editorial.record_start': ") and reason in str(info.value)


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


def test_a_symlinked_output_folder_outside_the_workspace_is_refused_by_name(tmp_path: Path) -> None:
    ws, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    write(ws / "inside" / "project.json", {})
    (ws / "inside" / "05_Cache").mkdir()
    (ws / "inside" / "05_Cache" / "picture").symlink_to(ws / "inside" / "pictures_here")  # inside: fine
    write(ws / "exports" / "project.json", {})
    (elsewhere / "exports").mkdir(parents=True)
    (ws / "exports" / "06_Exports").symlink_to(elsewhere / "exports")
    (elsewhere / "linked").mkdir()
    write(elsewhere / "linked" / "project.json", {})
    (ws / "linked").symlink_to(elsewhere / "linked")
    found = discover_projects(ws)
    assert list(found.projects) == ["inside"]
    err = found.errors["exports"]
    assert isinstance(err, UnsafePathError)
    assert str(err) == (
        f"{ws / 'exports' / '06_Exports'} resolves to {elsewhere / 'exports'}, outside the workspace {ws}: vidasm "
        f"writes nothing outside the workspace unless {ws / 'exports' / 'project.json'} says "
        '"allow_outside_workspace": true'
    )
    assert f"{ws / 'linked'} resolves to {elsewhere / 'linked'}, outside the workspace" in str(found.errors["linked"])
    with pytest.raises(UnsafePathError):
        load_project(ws, "exports")


def test_outside_the_workspace_is_allowed_when_project_json_says_so(tmp_path: Path) -> None:
    ws, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    write(ws / "exports" / "project.json", {"allow_outside_workspace": True})
    (elsewhere / "exports").mkdir(parents=True)
    (ws / "exports" / "06_Exports").symlink_to(elsewhere / "exports")
    assert list(discover_projects(ws).projects) == ["exports"]
    assert load_project(ws, "exports").delivery_path("web").parent.resolve() == elsewhere / "exports"


@pytest.mark.parametrize(
    "loader_says",
    [
        "/usr/bin/ffmpeg: error while loading shared libraries: librist.so.4: cannot map zero-fill pages",
        "/usr/bin/ffmpeg: error while loading shared libraries: libx265.so.199: failed to map segment from shared "
        "object",
        "/usr/bin/ffmpeg: error while loading shared libraries: libavcodec.so.59: cannot allocate memory",
    ],
)
def test_a_loader_failure_under_the_memory_ceiling_is_named_as_the_ceiling(loader_says: str) -> None:
    """Debian's FFmpeg maps dozens of libraries before main(): under a tight RLIMIT_AS the loader fails (exit
    127) with one of these, and the error must name the ceiling, not blame the input."""
    from vidasm_assets.media.errors import FFmpegError, FFmpegOutOfMemoryError
    from vidasm_assets.media.limits import ChildLimits

    raw = FFmpegError("r.mp4: FFmpeg failed (exit 127)", path="r.mp4", stderr=loader_says)
    err = ChildLimits(memory_bytes=48 << 20).explain(127, raw, "r.mp4")
    assert isinstance(err, FFmpegOutOfMemoryError)
    assert "under its memory ceiling of 48.0 MiB" in str(err).splitlines()[0]
    assert ChildLimits().explain(127, raw, "r.mp4") is raw  # no ceiling applied: FFmpeg's own error stands


@pytest.mark.parametrize("name", ["projé", "p²", "日本", "p q"])
def test_a_project_folder_with_a_non_ascii_or_spaced_name_fails_alone(tmp_path: Path, name: str) -> None:
    """``str.isalnum()`` is true of é, ² and CJK: such a folder reached Dagster as an asset group name and every
    build of the workspace failed with a traceback; it is one project's error, the others load."""
    import dagster as dg

    from vidasm_assets.definitions import build_definitions

    write(tmp_path / name / "project.json", {})
    write(tmp_path / "ok" / "project.json", {})
    ws = discover_projects(tmp_path)
    assert f"project folder name {name!r} is invalid" in str(ws.errors[name])
    defs = build_definitions(tmp_path)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "ok/cut" in keys and not any(k.startswith(name) for k in keys)
    assert isinstance(defs, dg.Definitions)
