"""Delivery presets: validation names the field and the allowed values; where presets come from; encoder args."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidasm_assets.media.errors import ProjectConfigError
from vidasm_assets.media.presets import BUILTIN_PRESETS, CUT_VIDEO, from_cut, needs_segments, video_args, web_maxrate
from vidasm_assets.media.project import load_project
from vidasm_assets.media.rates import Rate

GOOD = {"container": "mov", "video": {"codec": "libx264", "crf": 18}, "audio": {"codec": "aac", "bitrate": "256k"}}


def _project(root: Path, presets: dict | None = None, exports: list[str] | None = None) -> Path:
    folder = root / "p"
    (folder / "03_Renders").mkdir(parents=True)
    spec = {"fps": 24, "resolution": "320x180", "exports": exports or ["web"], "presets": presets or {}}
    (folder / "project.json").write_text(json.dumps(spec))
    return folder / "project.json"


def _with(path: str, value: object) -> dict:
    preset = json.loads(json.dumps(GOOD))
    node = preset
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return preset


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("video.codec", "h264_fancy", "unknown video codec 'h264_fancy'; use one of libx264, libx265"),
        ("video.max_height", 541, "max_height 541 must be even"),
        ("video.bitrate", "8000", "bitrate '8000' needs a unit: like '8M' or '192k'"),
        ("audio.bitrate", "192", "bitrate '192' needs a unit"),
        ("video.pix_fmt", "yuv444p", "pix_fmt 'yuv444p' is not one libx264 writes here; use one of yuv420p"),
        ("video.crf", 99, "from 0 to 63; got 99"),
        ("audio.codec", "mp3", "unknown audio codec 'mp3'; use one of aac, libopus"),
        ("audio.channels", 6, "1 or 2"),
        ("video.hardware", "cuda", "'none', 'auto', 'nvenc', 'qsv', 'vaapi' or 'videotoolbox'"),
        ("container", "avi", "'mp4', 'mov', 'mxf', 'mkv', 'webm' or 'wav'"),
        ("video.fps", 30, "unknown field"),
    ],
)
def test_invalid_preset_names_file_field_and_allowed_values(tmp_path: Path, field: str, value: object, says: str):
    pj = _project(tmp_path, {"client": _with(field, value)}, ["client"])
    with pytest.raises(ProjectConfigError) as info:
        load_project(tmp_path, "p")
    msg = str(info.value)
    assert str(pj) in msg and f"field 'presets.client.{field}" in msg and says in msg, msg


@pytest.mark.parametrize(
    ("preset", "says"),
    [
        ({"container": "webm", "video": {"codec": "libx264"}, "audio": {"codec": "libopus"}},
         "container webm does not take libx264; use libsvtav1, libvpx-vp9"),
        ({"container": "mp4", "video": {"codec": "prores_ks", "pix_fmt": "yuv422p10le"}},
         "container mp4 does not take prores_ks"),
        ({"container": "mp4", "video": {"codec": "libx264"}, "audio": {"codec": "pcm_s24le"}},
         "container mp4 does not take pcm_s24le; use aac, libopus"),
        ({"container": "mov", "video": {"codec": "prores_ks", "pix_fmt": "yuv422p10le", "crf": 10}},
         "prores_ks has no crf; its profile sets the quality"),
        ({"container": "mp4", "video": {"codec": "libx264", "maxrate": "8M"}}, "maxrate and bufsize go together"),
        ({"container": "mp4"}, "a mp4 preset needs a video section (only wav is sound only)"),
    ],
)  # fmt: skip
def test_inconsistent_presets_are_refused(tmp_path: Path, preset: dict, says: str) -> None:
    _project(tmp_path, {"x": preset}, ["x"])
    with pytest.raises(ProjectConfigError, match=r"field 'presets\.x") as info:
        load_project(tmp_path, "p")
    assert says in str(info.value)


def test_an_unknown_export_names_the_known_presets(tmp_path: Path) -> None:
    pj = _project(tmp_path, {"client": GOOD}, ["web", "dvd"])
    with pytest.raises(ProjectConfigError) as info:
        load_project(tmp_path, "p")
    msg = str(info.value)
    assert str(pj) in msg and "field 'exports': unknown delivery preset 'dvd'" in msg
    assert "client" in msg and "master" in msg and "stems" in msg


def test_project_presets_override_the_workspace_which_override_the_builtins(tmp_path: Path) -> None:
    shared = {"master": GOOD, "house": {**GOOD, "container": "mkv"}, "client": {**GOOD, "container": "mp4"}}
    (tmp_path / "presets.json").write_text(json.dumps(shared))
    _project(tmp_path, {"client": GOOD}, ["master", "house", "client", "hevc"])
    project = load_project(tmp_path, "p")
    got = {p.name: (p.origin, p.extension) for p in project.exports()}
    assert got == {"master": ("presets.json", "mov"), "house": ("presets.json", "mkv"),
                   "client": ("project.json", "mov"), "hevc": ("builtin", "mp4")}  # fmt: skip
    assert project.delivery_path("house").name == "p_house.mkv"


def test_a_broken_workspace_presets_file_names_itself_the_preset_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    path.write_text(json.dumps({"house": _with("video.codec", "xvid")}))
    _project(tmp_path)
    with pytest.raises(ProjectConfigError) as info:
        load_project(tmp_path, "p")
    msg = str(info.value)
    assert str(path) in msg and "preset 'house'" in msg and "field 'video.codec'" in msg and "xvid" in msg
    path.write_text("[1, 2]")
    with pytest.raises(ProjectConfigError, match="must hold a JSON object of presets"):
        load_project(tmp_path, "p")


def test_only_presets_whose_picture_differs_from_the_conform_have_segments() -> None:
    assert BUILTIN_PRESETS["web"].spec.video == CUT_VIDEO and from_cut(BUILTIN_PRESETS["web"])
    assert not needs_segments(BUILTIN_PRESETS["stems"]) and not needs_segments(BUILTIN_PRESETS["web"])
    assert all(needs_segments(BUILTIN_PRESETS[n]) for n in ("master", "dnxhr", "hevc", "webm", "review", "proxy"))


def test_web_cap_follows_size_and_rate() -> None:
    """YouTube: about 8 Mb/s at 1080p24-30, 12 Mb/s at 1080p above 30 fps; scaled by pixels."""
    assert web_maxrate(1920, 1080, Rate.from_fps(24)) == 8_000_000
    assert web_maxrate(1920, 1080, Rate.from_fps(60)) == 12_000_000
    assert web_maxrate(3840, 2160, Rate.from_fps(25)) == 32_000_000
    assert web_maxrate(320, 180, Rate.from_fps(24)) == 1_000_000  # a floor for tiny pictures
    args = video_args(CUT_VIDEO, Rate.from_fps(30000 / 1001), 1920, 1080).args
    assert args[args.index("-maxrate") + 1] == "8000000" and args[args.index("-bufsize") + 1] == "16000000"
    assert args[args.index("-g") + 1] == "15"  # closed GOP of half a second at 29.97


def test_fixed_gop_in_each_encoders_words() -> None:
    r = Rate.from_fps(24)
    hevc = video_args(BUILTIN_PRESETS["hevc"].spec.video, r, 320, 180).args  # type: ignore[arg-type]
    assert "keyint=24:min-keyint=24:scenecut=0:open-gop=0" in hevc[hevc.index("-x265-params") + 1]
    vp9 = video_args(BUILTIN_PRESETS["webm"].spec.video, r, 320, 180).args  # type: ignore[arg-type]
    assert vp9[vp9.index("-auto-alt-ref") + 1] == "0" and vp9[vp9.index("-b:v") + 1] == "0"
    review = video_args(BUILTIN_PRESETS["review"].spec.video, r, 320, 180).args  # type: ignore[arg-type]
    assert review[review.index("-g") + 1] == "1"
