"""The workspace contract: project.json validation, take selection, rates, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidasm_assets.media.errors import MediaNotFoundError, ProjectConfigError, VidasmError
from vidasm_assets.media.outputs import atomic_output
from vidasm_assets.media.project import (
    ProjectSpec,
    discover_projects,
    list_takes,
    load_project,
    load_spec,
    select_take,
    stray_renders,
)
from vidasm_assets.media.rates import TIMELINE_RATES, Rate


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_defaults(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path / "p" / "project.json", {}))
    assert spec.fps == 24 and spec.resolution == "1920x1080"
    assert spec.audio.loudness_lufs == -16 and spec.audio.true_peak_db == -1.0
    assert spec.sequence is None and spec.exports == ["web"]
    assert spec.rate == Rate(24) and spec.size == (1920, 1080)


def test_full_spec(tmp_path: Path) -> None:
    spec = load_spec(
        write(
            tmp_path / "project.json",
            {
                "fps": 29.97,
                "resolution": "1280x720",
                "audio": {"loudness_lufs": -23, "true_peak_db": -2},
                "sequence": [{"shot": "sh010", "take": "v002", "scene": "1", "beat": "open", "notes": "n"}],
                "exports": ["web", "review"],
            },
        )
    )
    assert spec.rate == Rate(30000, 1001)
    assert spec.sequence is not None and spec.sequence[0].take == "v002"


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"fsp": 24}, "fsp", "unknown field"),
        ({"fps": 26}, "fps", "must be one of 23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60 frames per second"),
        ({"resolution": "1920*1080"}, "resolution", "must look like"),
        ({"resolution": "1921x1080"}, "resolution", "even"),
        ({"audio": {"loudness": -16}}, "audio.loudness", "unknown field"),
        ({"sequence": [{"shot": "sh 010"}]}, "sequence[0].shot", "invalid"),
        (
            {"sequence": [{"shot": "a"}, {"shot": "a", "take": "v2"}]},
            "sequence[1].take",
            "used again with another take",
        ),
        ({"sequence": [{"shot": "a", "in": 40, "out": 12}]}, "sequence[0].out", "must be after in"),
        ({"sequence": [{"shot": "a", "in": "01:00:01:00", "out": "01:00:00:00"}]}, "sequence[0].out", "must be after"),
        (
            {"sequence": [{"shot": "a", "in": -1}]},
            "sequence[0].in",
            "must be a frame number of the render (a JSON integer from 0 to 10,368,000) or a timecode string",
        ),
        ({"sequence": [{"shot": "a", "out": 2.5}]}, "sequence[0].out", "got 2.5"),
        (
            {"sequence": [{"shot": "a", "in": True}]},
            "sequence[0].in",
            "must be a frame number of the render (a JSON integer from 0 to 10,368,000) or a timecode string",
        ),
        ({"sequence": [{"shot": "a", "in": "1:00"}]}, "sequence[0].in", "got the string '1:00'"),
    ],
)
def test_invalid_spec_names_file_field_and_reason(tmp_path: Path, data: dict, field: str, reason: str) -> None:
    path = write(tmp_path / "project.json", data)
    with pytest.raises(ProjectConfigError) as info:
        load_spec(path)
    msg = str(info.value)
    assert str(path) in msg and f"field '{field}'" in msg and reason in msg
    assert isinstance(info.value, ValueError)


def test_a_shot_may_be_used_more_than_once(tmp_path: Path) -> None:
    """Repeats are allowed (each use its own event); the shot is one partition, its uses in story order."""
    data = {"sequence": [{"shot": "a", "in": 0, "out": 12}, {"shot": "b"}, {"shot": "a", "in": "01:00:01:00"}]}
    write(tmp_path / "p" / "project.json", data)
    project = load_project(tmp_path, "p")
    assert project.shots() == ["a", "b"]
    assert [(r.in_, r.out) for r in project.uses("a")] == [(0, 12), ("01:00:01:00", None)]
    assert [r.trimmed for r in project.sequence()] == [True, False, True]


def test_invalid_json(tmp_path: Path) -> None:
    path = write(tmp_path / "project.json", "{nope")
    with pytest.raises(ProjectConfigError, match="not valid JSON"):
        load_spec(path)


def test_discover_keeps_good_projects_when_one_is_broken(tmp_path: Path) -> None:
    write(tmp_path / "good" / "project.json", {})
    write(tmp_path / "bad" / "project.json", {"fps": "fast"})
    write(tmp_path / "bad name" / "project.json", {})
    (tmp_path / "not_a_project").mkdir()
    ws = discover_projects(tmp_path)
    assert list(ws.projects) == ["good"]
    assert set(ws.errors) == {"bad", "bad name"}
    assert "fps" in str(ws.errors["bad"])
    assert "invalid" in str(ws.errors["bad name"])


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_highest_version_wins_and_junk_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "sh010"
    for name in ["sh010_v001.mp4", "sh010_v002.mov", "sh010_v010.mkv", "sh010_take03.mp4", ".sh010_v099.mp4",
                 "sh010_v050.mp4.part", "sh010_v051.tmp", "sh010_v060.png", "notes.txt", "sh020_v070.mp4",
                 "sh010_V011.MP4"]:  # fmt: skip
        touch(d / name)
    caplog.set_level("DEBUG", logger="vidasm")
    takes = list_takes(d, "sh010")
    assert [t.path.name for t in takes] == [
        "sh010_take03.mp4",
        "sh010_v001.mp4",
        "sh010_v002.mov",
        "sh010_v010.mkv",
        "sh010_V011.MP4",
    ]
    assert select_take(d, "sh010").path.name == "sh010_V011.MP4"
    assert "ignoring" in caplog.text and "sh010_v050.mp4.part" in caplog.text


@pytest.mark.parametrize("wanted", ["v002", "2", "sh010_v002", "sh010_v002.mov", "V002"])
def test_pinned_take(tmp_path: Path, wanted: str) -> None:
    d = tmp_path / "sh010"
    for name in ["sh010_v001.mp4", "sh010_v002.mov", "sh010_v003.mp4", "sh010_take02.mp4"]:
        touch(d / name)
    assert select_take(d, "sh010", wanted).path.name == "sh010_v002.mov"
    assert select_take(d, "sh010", "take02").path.name == "sh010_take02.mp4"


def test_takes_only_shot_uses_highest_take(tmp_path: Path) -> None:
    d = tmp_path / "op020"
    touch(d / "op020_take01.mp4")
    touch(d / "op020_take02.mp4")
    assert select_take(d, "op020").label == "take02"


def test_missing_take_and_empty_shot_name_the_folder(tmp_path: Path) -> None:
    d = tmp_path / "sh010"
    touch(d / "sh010_v001.mp4")
    with pytest.raises(MediaNotFoundError, match="take 'v009' not found") as info:
        select_take(d, "sh010", "v009")
    assert info.value.path == str(d) and isinstance(info.value, FileNotFoundError)
    with pytest.raises(MediaNotFoundError, match=r"no shot folder .*sh020 \(the sequence names shot 'sh020'"):
        select_take(tmp_path / "sh020", "sh020")  # no such folder: said so, not "no render in" it
    (tmp_path / "sh030").mkdir()
    with pytest.raises(MediaNotFoundError, match="no render in"):
        select_take(tmp_path / "sh030", "sh030")


def test_two_files_of_one_take_are_refused_naming_both_unless_the_file_is_named(tmp_path: Path) -> None:
    """sh050_v002.mov and .mp4, or _v1 and _v001, are the same take: the last name won silently and pinning "v002"
    picked the other file; now the shot fails naming both, pinned or not, and naming the file picks that file."""
    d = tmp_path / "sh050"
    for name in ["sh050_v001.mp4", "sh050_v002.mov", "sh050_v002.mp4"]:
        touch(d / name)
    for wanted in (None, "v002", "2", "sh050_v002"):
        with pytest.raises(ProjectConfigError) as info:
            select_take(d, "sh050", wanted)
        msg = str(info.value)
        assert "sh050_v002.mov and sh050_v002.mp4 are both version 2 of sh050" in msg, msg
        assert '"take": "sh050_v002.mp4"' in msg and info.value.shot == "sh050"
    assert select_take(d, "sh050", "sh050_v002.mov").path.name == "sh050_v002.mov"
    assert select_take(d, "sh050", "sh050_v002.mp4").path.name == "sh050_v002.mp4"
    assert select_take(d, "sh050", "v001").path.name == "sh050_v001.mp4"  # an unambiguous older take still works
    e = tmp_path / "sh040"
    for name in ["sh040_v001.mov", "sh040_v1.mp4"]:
        touch(e / name)
    with pytest.raises(ProjectConfigError, match=r"sh040_v001\.mov and sh040_v1\.mp4 are both version 1"):
        select_take(e, "sh040")


def test_only_ascii_digits_number_a_take_and_an_ignored_file_is_named(tmp_path: Path) -> None:
    """sh010_v\uff11\uff10 (fullwidth digits) is no take (it was read as v10 and beat v002); a folder with no
    render says what it holds (an .mxf is not a render container vidasm reads)."""
    d = tmp_path / "sh010"
    for name in ["sh010_v002.mp4", "sh010_v\uff11\uff10.mp4"]:
        touch(d / name)
    assert select_take(d, "sh010").path.name == "sh010_v002.mp4"
    e = tmp_path / "sh020"
    touch(e / "sh020_v001.mxf")
    with pytest.raises(
        MediaNotFoundError, match=r"expected sh020_v001.mp4, .mov, .mkv or .webm; it holds sh020_v001.mxf"
    ):
        select_take(e, "sh020")


def test_rates_are_exact() -> None:
    assert [r.label for r in TIMELINE_RATES] == [
        "23.976",
        "24",
        "25",
        "29.97",
        "30",
        "48",
        "50",
        "59.94",
        "60",
    ]
    ntsc = Rate.from_fps(29.97)
    assert ntsc == Rate(30000, 1001) and ntsc.nominal == 30 and ntsc.timescale == 30000
    assert ntsc.samples_for_frames(1) == 1602  # 1601.6 rounded
    assert ntsc.samples_for_frames(5) == 8008  # exact over the run, no accumulated rounding
    assert Rate(24000, 1001).samples_for_frames(1) == 2002
    assert Rate(25).seconds_to_frames(2) == 50


def test_atomic_output_never_leaves_partial_files(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "cut.mov"
    with atomic_output(dest) as tmp:
        tmp.write_bytes(b"good")
    assert dest.read_bytes() == b"good"
    with pytest.raises(RuntimeError), atomic_output(dest) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("ffmpeg died")
    assert dest.read_bytes() == b"good"
    with pytest.raises(VidasmError, match="wrote nothing"), atomic_output(dest) as tmp:
        tmp.write_bytes(b"")
    assert sorted(p.name for p in dest.parent.iterdir()) == ["cut.mov"]


@pytest.mark.parametrize(
    ("sequence", "field", "reason"),
    [
        # model validators (the whole model) name the field to change, never '(root)'
        ([{"shot": "a", "transition_in": {"type": "dissolve", "frames": 6}}], "sequence[0].transition_in.type",
         "needs a previous entry"),
        ([{"shot": "a"}, {"card": "t", "seconds": 1}, {"shot": "b", "transition_in": {"type": "dip", "frames": 6}}],
         "sequence[2].transition_in.type", "from card 't' (sequence[1]) is not supported"),
        ([{"shot": "a"}, {"shot": "b"}, {"shot": "c"}, {"shot": "d", "transition_in": {"type": "dip", "frames": 1}}],
         "sequence[3].transition_in.frames", "a dip needs at least 2 frames"),
        ([{"shot": "a", "transition_out": {"type": "dip", "frames": 4}}], "sequence[0].transition_out.type",
         "a transition_out can only be fade_out"),
        ([{"shot": "a", "audio_tracks": [1]}, {"shot": "a", "audio_tracks": [2]}], "sequence[1].audio_tracks",
         "sequence[0], has [1]"),
        # numbers: counts of frames are JSON integers, timecodes strings; each message says what is allowed
        ([{"shot": "a"}, {"shot": "b", "transition_in": {"type": "dissolve", "frames": "6"}}],
         "sequence[1].transition_in.frames", "must be a whole number of frames (a JSON integer) from 1 to 10,368,000; "
         "got the string '6'"),
        ([{"shot": "a"}, {"shot": "b", "transition_in": {"type": "dissolve", "frames": 6.0}}],
         "sequence[1].transition_in.frames", "got 6.0"),
        ([{"shot": "a"}, {"shot": "b", "transition_in": {"type": "dissolve", "frames": 1e20}}],
         "sequence[1].transition_in.frames", "from 1 to 10,368,000; got 1e+20"),
        ([{"shot": "a"}, {"shot": "b", "transition_in": {"type": "dissolve", "frames": 10**20}}],
         "sequence[1].transition_in.frames", "from 1 to 10,368,000; got 100000000000000000000"),
        ([{"shot": "a", "in": "10"}], "sequence[0].in", "a JSON integer from 0 to 10,368,000) or a timecode string "
         "'HH:MM:SS:FF'; got the string '10' (a frame number is written without quotes: 10)"),
        ([{"shot": "a", "out": 1e20}], "sequence[0].out", "got 1e+20"),
        ([{"shot": "a", "out": 10**20}], "sequence[0].out", "from 0 to 10,368,000"),
        ([{"card": "t", "seconds": "3"}], "sequence[0].seconds", "must be a number of seconds (a JSON number) more "
         "than 0 and at most 3600; got the string '3'"),
        ([{"card": "t", "seconds": 1e20}], "sequence[0].seconds", "at most 3600; got 1e+20"),
    ],
)  # fmt: skip
def test_every_error_names_the_real_field_path_and_what_is_allowed(
    tmp_path: Path, sequence: list, field: str, reason: str
) -> None:
    path = tmp_path / "project.json"
    path.write_text(json.dumps({"sequence": sequence}))
    with pytest.raises(ProjectConfigError) as info:
        load_spec(path)
    msg = str(info.value)
    assert f"field '{field}': " in msg and reason in msg, msg
    assert "(root)" not in msg


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"fps": "24"}, "fps", "one of 23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60 frames per second (a JSON "
         "number); got the string '24'"),
        ({"audio": {"loudness_lufs": "-16"}}, "audio.loudness_lufs", "from -70 to -5; got the string '-16'"),
        ({"audio": {"true_peak_db": 3}}, "audio.true_peak_db", "from -9 to 0; got 3"),
        ({"audio": {"tracks": ["1"]}}, "audio.tracks", "list of track numbers (JSON integers from 1 to 64"),
        ({"editorial": {"record_start": "01:00:00:24"}}, "editorial.record_start", "01:00:00:24"),
        ({"presets": {"x": {"container": "mp4", "video": {"codec": "libx264", "crf": "20"}}}}, "presets.x.video.crf",
         "from 0 to 63; got the string '20'"),
        ({"presets": {"x": {"container": "mp4", "video": {"codec": "prores_ks"}}}}, "presets.x.video.codec",
         "does not take prores_ks"),
        ({"presets": {"x": {"container": "mp4", "video": {"codec": "libx264", "maxrate": "8M"}}}},
         "presets.x.video.bufsize", "go together"),
    ],
)  # fmt: skip
def test_settings_take_json_numbers_and_name_their_path(tmp_path: Path, data: dict, field: str, reason: str) -> None:
    path = tmp_path / "project.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProjectConfigError) as info:
        load_spec(path)
    assert f"field '{field}': " in str(info.value) and reason in str(info.value), str(info.value)


def test_numbers_that_are_json_numbers_still_load() -> None:
    spec = ProjectSpec.model_validate({
        "fps": 29.97, "audio": {"loudness_lufs": -23, "tracks": [1, 2]},
        "sequence": [{"shot": "a", "in": 0, "out": "01:00:01:00"},
                     {"shot": "b", "transition_in": {"type": "dip", "frames": 2}},
                     {"card": "t", "seconds": 2}],
    })  # fmt: skip
    assert spec.fps == 29.97 and spec.audio.loudness_lufs == -23.0 and spec.cards()[0][1].seconds == 2.0


def test_a_burn_in_preset_with_transitions_is_refused_when_the_project_loads(tmp_path: Path) -> None:
    """Burn-ins are not rendered over transitions: refused naming exports[i] and the entry, before any encode (it
    failed only at the delivery, after every shot was encoded); the same sequence without review loads."""
    sequence = [{"shot": "a"}, {"shot": "b", "transition_in": {"type": "dissolve", "frames": 6}}]
    write(tmp_path / "p" / "project.json", {"sequence": sequence, "exports": ["web", "review"]})
    with pytest.raises(ProjectConfigError) as info:
        load_project(tmp_path, "p")
    msg = str(info.value)
    assert "project.json: field 'exports[1]': preset 'review' draws burn-ins" in msg, msg
    assert "sequence[1].transition_in is a dissolve" in msg and len(msg.splitlines()) == 1, msg
    assert "p" in discover_projects(tmp_path).errors
    write(tmp_path / "p" / "project.json", {"sequence": sequence, "exports": ["web", "proxy"]})
    assert [p.name for p in load_project(tmp_path, "p").exports()] == ["web", "proxy"]
    fade = [{"shot": "a", "transition_out": {"type": "fade_out", "frames": 4}}]
    write(tmp_path / "p" / "project.json", {"sequence": fade, "exports": ["review"]})
    with pytest.raises(ProjectConfigError, match=r"sequence\[0\]\.transition_out is a fade_out"):
        load_project(tmp_path, "p")


def test_projects_whose_ids_differ_only_by_dash_and_underscore_are_refused_and_the_others_load(
    tmp_path: Path,
) -> None:
    """``p-1`` and ``p_1`` would get the same Dagster job names, and Dagster refuses a whole code location for a
    duplicate: both are refused naming each other, and the workspace's other project still gets its definitions."""
    from vidasm_assets.definitions import build_definitions

    for name in ("p-1", "p_1", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "project.json").write_text('{"fps": 24, "resolution": "320x180"}')
    ws = discover_projects(tmp_path)
    assert sorted(ws.projects) == ["other"]
    assert "'p-1' clashes with 'p_1'" in str(ws.errors["p-1"]) and "'p_1' clashes with 'p-1'" in str(ws.errors["p_1"])
    jobs = {job.name for job in build_definitions(tmp_path).resolve_all_job_defs()}
    assert "other__shots" in jobs and not any(j.startswith("p_1__") for j in jobs), jobs


def test_a_take_named_in_capitals_is_a_take_and_files_that_are_no_take_are_warned_of(tmp_path: Path) -> None:
    """``SH010_V002.MOV`` in ``sh010`` (what case-insensitive servers and export presets write) is version 2, so it
    wins over v001; ``sh010 final.mov`` and another shot's render are no take, and the build and status say so in
    one line (they were ignored silently, and the older take stayed in the cut); hidden, partial and image files
    are not mentioned."""
    from vidasm_assets.planner import stray_render_warnings

    root = tmp_path / "ws"
    folder = root / "p" / "03_Renders" / "sh010"
    folder.mkdir(parents=True)
    (root / "p" / "project.json").write_text('{"fps": 24, "resolution": "320x180"}')
    for name in ("sh010_v001.mov", "SH010_V002.MOV", "sh010 final.mov", "sh020_v003.mp4", "._sh010_v004.mov",
                 "sh010_v005.mov.part", "sh010_v006.png"):  # fmt: skip
        touch(folder / name)
    assert [t.path.name for t in list_takes(folder, "sh010")] == ["sh010_v001.mov", "SH010_V002.MOV"]
    assert select_take(folder, "sh010").path.name == "SH010_V002.MOV"
    assert stray_renders(folder, "sh010") == ["sh010 final.mov", "sh020_v003.mp4"]
    warnings = stray_render_warnings(load_project(root, "p"))
    assert warnings == [f"{folder}: not a take of sh010, so not used: sh010 final.mov, sh020_v003.mp4 (a take is "
                        "named sh010_v<NNN> or sh010_take<NN>, then .mp4/.mov/.mkv/.webm)"]  # fmt: skip


def test_a_project_json_saved_with_a_byte_order_mark_and_crlf_lines_loads(tmp_path: Path) -> None:
    """Windows PowerShell 5 (``Set-Content -Encoding UTF8``) writes a UTF-8 BOM and CRLF line ends: the file is
    read as the same JSON (it was refused with Python's own hint "decode using utf-8-sig")."""
    root = tmp_path / "ws"
    (root / "p").mkdir(parents=True)
    text = '{\r\n  "fps": 25,\r\n  "resolution": "1280x720",\r\n  "sequence": [{"shot": "sh010"}]\r\n}\r\n'
    (root / "p" / "project.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    project = load_project(root, "p")
    assert (project.spec.fps, project.spec.resolution, project.shots()) == (25, "1280x720", ["sh010"])


@pytest.mark.parametrize(("given", "rate"), [(23.98, Rate(24000, 1001)), (29.97, Rate(30000, 1001)),
                                             (59.94, Rate(60000, 1001)), (25.0, Rate(25))])  # fmt: skip
def test_a_frame_rate_as_nles_round_it_is_the_timeline_rate(given: float, rate: Rate) -> None:
    """``23.98`` (how Premiere, Resolve and camera menus print 24000/1001) is 23.976; 23.9 is still refused."""
    spec = ProjectSpec.model_validate({"fps": given})
    assert spec.rate == rate and spec.fps in (23.976, 29.97, 59.94, 25)
    with pytest.raises(ValueError, match=r"must be one of 23\.976"):
        ProjectSpec.model_validate({"fps": given - 0.08})


def test_two_files_differing_only_by_case_are_picked_by_their_exact_name(tmp_path: Path) -> None:
    """``sh020_v002.mov`` and ``SH020_V002.MOV`` are both version 2 (refused unpinned, naming both); the pin the
    message suggests picks exactly that file (it picked the other one, the first case-insensitive match), and a
    pin in a third case is refused as ambiguous."""
    d = tmp_path / "sh020"
    for name in ("sh020_v002.mov", "SH020_V002.MOV"):
        touch(d / name)
    with pytest.raises(ProjectConfigError, match="are both version 2") as info:
        select_take(d, "sh020")
    suggested = str(info.value).rsplit('"take": "', 1)[1].split('"')[0]
    assert select_take(d, "sh020", suggested).path.name == suggested
    assert select_take(d, "sh020", "sh020_v002.mov").path.name == "sh020_v002.mov"
    assert select_take(d, "sh020", "SH020_V002.MOV").path.name == "SH020_V002.MOV"
    with pytest.raises(ProjectConfigError, match="differ only by case"):
        select_take(d, "sh020", "Sh020_V002.mov")
