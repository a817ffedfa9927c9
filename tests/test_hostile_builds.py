"""Hostile or broken input through the real planner and Dagster runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vidasm_assets.media.demo import RenderSpec

from .helpers import build_workspace, video_frames_and_duration

pytestmark = pytest.mark.media

REPO = Path(__file__).resolve().parents[1]
SPEC = {"fps": 24, "resolution": "64x36"}
TINY = RenderSpec(64, 36, "24", 0.5, -20)


def test_a_newline_in_the_workspace_path_still_cuts(tmp_path: Path, make_project, instance) -> None:
    ws = tmp_path / "work\nspace"
    make_project(ws, "p", {"s1_v001.mp4": TINY, "s2_v001.mp4": TINY}, SPEC)
    outcomes = build_workspace(instance, ws)
    assert all(o.success for o in outcomes), [(o.label, o.message) for o in outcomes]
    frames, _ = video_frames_and_duration(ws / "p" / "05_Cache" / "cut" / "p_cut.mov")
    assert frames == 24 and (ws / "p" / "06_Exports" / "p_web.mp4").is_file()
    assert not [p.name for p in (ws / "p" / "05_Cache").iterdir() if p.name.startswith(".")]  # lists cleaned up


def test_outputs_go_outside_the_workspace_only_when_project_json_allows_it(
    tmp_path: Path, make_project, instance
) -> None:
    ws, elsewhere = tmp_path / "ws", tmp_path / "nas" / "exports"
    elsewhere.mkdir(parents=True)
    for name, allow in (("refused", False), ("allowed", True)):
        folder = make_project(ws, name, {"s1_v001.mp4": TINY}, {**SPEC, "allow_outside_workspace": allow})
        shutil.rmtree(folder / "06_Exports")
        (folder / "06_Exports").symlink_to(elsewhere)
    outcomes = build_workspace(instance, ws)
    assert [o.success for o in outcomes if o.project == "allowed"] == [True, True]
    refused = [o for o in outcomes if o.project == "refused"]
    assert len(refused) == 1 and "outside the workspace" in refused[0].message
    assert sorted(p.name for p in elsewhere.iterdir()) == ["allowed_web.mp4"]
    assert not (ws / "refused" / "05_Cache" / "picture").exists()
