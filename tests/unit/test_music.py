"""The music bed and the generated sequence without FFmpeg: project.json validation (by field), which tracks are
used, the bed's placement arithmetic, the mix graph as ffmpeg-python compiles it (argv equality), the versions
table's music inputs, and the generator's rules (same seed same sequence, no shot twice in a row, exact length)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from vidasm_assets.media import versions as v
from vidasm_assets.media.errors import ProjectConfigError, UnsafePathError
from vidasm_assets.media.generate import cut_range, generate
from vidasm_assets.media.music import bed_cmd, duck_mix, mix_cmd, plan_bed
from vidasm_assets.media.presets import BUILTIN_PRESETS
from vidasm_assets.media.project import GenerateSettings, load_project, load_spec
from vidasm_assets.media.rates import Rate


def _project(tmp_path: Path, spec: dict, files: tuple[str, ...] = ()) -> Path:
    folder = tmp_path / "p"
    (folder / "03_Renders").mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"RIFF")
    (folder / "project.json").write_text(json.dumps(spec))
    return folder


@pytest.mark.parametrize(
    ("music", "field"),
    [
        ({"duck_db": -3}, "music.duck_db"),
        ({"duck_db": 40}, "music.duck_db"),
        ({"level_db": 20}, "music.level_db"),
        ({"fade_out_seconds": -1}, "music.fade_out_seconds"),
        ({"loop": "yes"}, "music.loop"),
        ({"tracks": []}, "music.tracks"),
        ({"tracks": ["music/notes.txt"]}, "music.tracks"),
        ({"tracks": ["music/a\nb.wav"]}, "music.tracks"),
        ({"volume": 3}, "music.volume"),
        ("yes", "music"),
    ],
)
def test_music_settings_are_validated_naming_the_field(tmp_path: Path, music: object, field: str) -> None:
    folder = _project(tmp_path, {"music": music})
    with pytest.raises(ProjectConfigError, match=f"field '{field}'"):
        load_spec(folder / "project.json")


def test_generate_and_an_explicit_sequence_exclude_each_other(tmp_path: Path) -> None:
    folder = _project(tmp_path, {"generate": {"seed": 7}, "sequence": [{"shot": "sh010"}]})
    with pytest.raises(ProjectConfigError, match=r"field 'generate'.*exclude each other"):
        load_spec(folder / "project.json")
    folder = _project(tmp_path, {"generate": {"seed": 7, "cut_frames": [12, 6]}})
    with pytest.raises(ProjectConfigError, match=r"field 'generate.cut_frames'.*min <= max"):
        load_spec(folder / "project.json")
    folder = _project(tmp_path, {"generate": {"seed": 7}, "music": False})
    with pytest.raises(ProjectConfigError, match=r"field 'generate'.*'music' is false"):
        load_spec(folder / "project.json")


def test_the_music_folder_is_used_in_natural_order_unless_music_is_false(tmp_path: Path) -> None:
    files = ("music/track10.wav", "music/track2.mp3", "music/.hidden.wav", "music/cover.png", "music/t3.wav.part")
    folder = _project(tmp_path, {}, files)
    project = load_project(tmp_path, "p")
    assert [p.name for p in project.music_tracks()] == ["track2.mp3", "track10.wav"]
    assert project.has_music()
    (folder / "project.json").write_text(json.dumps({"music": False}))
    assert load_project(tmp_path, "p").music_tracks() == []
    (folder / "project.json").write_text(json.dumps({"music": {"tracks": ["music/track10.wav", "music/track10.wav"]}}))
    assert [p.name for p in load_project(tmp_path, "p").music_tracks()] == ["track10.wav", "track10.wav"]


def test_a_project_without_music_has_none(tmp_path: Path) -> None:
    _project(tmp_path, {})
    assert not load_project(tmp_path, "p").has_music()


def test_a_track_outside_the_project_folder_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.wav").write_bytes(b"RIFF")
    _project(tmp_path, {"music": {"tracks": ["../elsewhere.wav"]}})
    with pytest.raises(UnsafePathError, match=r"music.tracks.*\.\./elsewhere\.wav resolves to .*outside the project"):
        load_project(tmp_path, "p")


def test_the_bed_loops_tracks_in_order_and_cuts_the_last_play_at_the_cuts_end() -> None:
    plays = plan_bed([72_000, 24_000], 200_000, loop=True)
    assert [(p.track, p.record_in, p.record_out, p.source_out) for p in plays] == [
        (0, 0, 72_000, 72_000), (1, 72_000, 96_000, 24_000), (0, 96_000, 168_000, 72_000),
        (1, 168_000, 192_000, 24_000), (0, 192_000, 200_000, 8_000),
    ]  # fmt: skip
    assert sum(p.samples for p in plays) == 200_000


def test_without_loop_the_tracks_play_once_and_a_long_one_is_trimmed() -> None:
    assert [(p.record_in, p.record_out) for p in plan_bed([72_000], 200_000, loop=False)] == [(0, 72_000)]
    assert [(p.record_in, p.record_out) for p in plan_bed([500_000], 200_000, loop=False)] == [(0, 200_000)]


def test_an_empty_track_is_skipped_and_only_empty_tracks_are_refused() -> None:
    assert [p.track for p in plan_bed([0, 100], 250, loop=True)] == [1, 1, 1]
    with pytest.raises(Exception, match="hold no sound"):
        plan_bed([0, 0], 250, loop=True)


def test_the_duck_depth_sets_the_dry_part_left() -> None:
    assert duck_mix(0) == 0
    assert 1 - duck_mix(12) == pytest.approx(10 ** (-12 / 20))
    assert 1 - duck_mix(6) == pytest.approx(0.5012, abs=1e-4)


def test_the_mix_graph_as_ffmpeg_python_compiles_it() -> None:
    argv = mix_cmd(Path("cut.mov"), Path("bed.wav"), Path("mix.wav"), samples=240_000, gain_db=-3.5, duck_db=12)
    assert argv == [
        "-hide_banner", "-nostdin", "-y", "-i", "cut.mov", "-i", "bed.wav", "-filter_complex",
        "[0:a:0]asplit=2[s0][s1];[1:a:0]volume=-3.50dB[s2];"
        "[s2][s1]sidechaincompress=attack=20:mix=0.748811:ratio=20:release=300:threshold=0.001[s3];"
        "[s0][s3]amix=duration=first:inputs=2:normalize=0[s4];[s4]atrim=end_sample=240000[s5];"
        "[s5]asetpts=PTS-STARTPTS[s6]",
        "-map", "[s6]", "-f", "wav", "-ac", "2", "-acodec", "pcm_s24le", "-ar", "48000", "-map_metadata", "-1",
        "mix.wav",
    ]  # fmt: skip
    plain = mix_cmd(Path("cut.mov"), Path("bed.wav"), Path("mix.wav"), samples=100, gain_db=0, duck_db=0)
    assert "sidechaincompress" not in plain[plain.index("-filter_complex") + 1]


def test_the_bed_fades_to_a_silent_last_sample() -> None:
    argv = bed_cmd(Path("bed.txt"), Path("bed.wav"), samples=1000, fade_samples=100)
    assert argv[argv.index("-af") + 1] == (
        "apad,atrim=end_sample=1000,asetpts=PTS-STARTPTS,afade=type=out:start_sample=899:nb_samples=100"
    )
    plain = bed_cmd(Path("b.txt"), Path("b.wav"), samples=1000, fade_samples=0)
    assert "afade" not in plain[plain.index("-af") + 1]


def test_music_enters_the_mix_otio_and_deliveries_only_when_there_is_music(tmp_path: Path) -> None:
    """No music: the roll-ups' inputs are exactly as before (no rebuild on upgrade); with music the deliveries take
    the mix's version, the OTIO the music's, and the cut and EDL do not change."""
    from vidasm_assets.media.timeline import Timeline, TimelineClip

    _project(tmp_path, {"exports": ["web"]})
    project = load_project(tmp_path, "p")
    tl = Timeline("p", Rate(24), (TimelineClip(shot="sh010", take="v001", clip_name="sh010_v001",
                                               source_path="/x.mp4", frames=48),))  # fmt: skip
    plain = v.rollup_inputs(project, tl, {"sh010": ("a", "b")})
    music = v.rollup_inputs(project, tl, {"sh010": ("a", "b")}, music_v="m1")
    assert "mix" not in plain and "mix" in music
    assert plain["delivery_web"].values == {"preset": BUILTIN_PRESETS["web"].settings(), "cut": plain["cut"].version}
    assert music["delivery_web"].values["mix"] == music["mix"].version
    assert music["cut"] == plain["cut"] and music["edl"] == plain["edl"]
    assert music["otio"].values == {"timeline": plain["timeline"].version, "location": str(project.root), "music": "m1"}
    other = v.rollup_inputs(project, tl, {"sh010": ("a", "b")}, music_v="m2")
    assert other["mix"].version != music["mix"].version
    assert other["delivery_web"].version != music["delivery_web"].version
    assert v.explain(other["mix"], music["mix"].to_record()) == "the music changed"


# ---------------------------------------------------------------- the generated sequence

SHOTS = ["sh010", "sh020", "sh030"]
LENGTHS = {"sh010": 48, "sh020": 30, "sh030": 72}


@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_the_same_seed_gives_the_same_sequence_filling_exactly_the_length(seed: int) -> None:
    a = generate(SHOTS, LENGTHS, 500, seed=seed, cut_frames=(6, 40))
    assert a == generate(SHOTS, LENGTHS, 500, seed=seed, cut_frames=(6, 40))
    assert sum(u.frames for u in a) == 500
    assert all(u.frames <= 40 for u in a) and all(u.frames >= 6 for u in a[:-1])
    assert all(0 <= u.start < u.end <= LENGTHS[u.shot] for u in a)  # each a range of its render
    assert all(x.shot != y.shot for x, y in itertools.pairwise(a)), "a shot twice in a row"


def test_a_new_seed_changes_the_sequence() -> None:
    runs = {tuple(generate(SHOTS, LENGTHS, 500, seed=s, cut_frames=(6, 40))) for s in range(5)}
    assert len(runs) == 5


def test_a_use_is_never_longer_than_its_render() -> None:
    uses = generate(["a", "b"], {"a": 5, "b": 7}, 100, seed=3, cut_frames=(10, 20))
    assert sum(u.frames for u in uses) == 100
    assert all(u.frames == {"a": 5, "b": 7}[u.shot] for u in uses[:-1])


def test_one_shot_fills_only_one_use_and_says_why_otherwise() -> None:
    (only,) = generate(["a"], {"a": 48}, 20, seed=1, cut_frames=(24, 24))
    assert only.shot == "a" and only.frames == 20
    with pytest.raises(ValueError, match=r"one shot \(a\).*more than one use.*never follows itself"):
        generate(["a"], {"a": 48}, 100, seed=1, cut_frames=(24, 24))


def test_the_default_cut_length_is_one_to_three_seconds() -> None:
    assert cut_range(GenerateSettings(seed=1), Rate(24)) == (24, 72)
    assert cut_range(GenerateSettings(seed=1), Rate.from_fps(29.97)) == (30, 90)
    assert cut_range(GenerateSettings(seed=1, cut_frames=(5, 9)), Rate(24)) == (5, 9)


def test_a_missing_fifo_or_unreadable_track_is_named_without_opening_it(tmp_path: Path) -> None:
    import os

    from vidasm_assets.media.errors import VidasmError
    from vidasm_assets.media.fingerprints import FingerprintCache
    from vidasm_assets.media.music import music_values

    folder = _project(tmp_path, {"music": {"tracks": ["music/gone.wav"]}})
    with pytest.raises(VidasmError, match=r"music/gone\.wav"):
        music_values(load_project(tmp_path, "p"), FingerprintCache())
    (folder / "music").mkdir()
    os.mkfifo(folder / "music" / "gone.wav")  # opening a FIFO would block the build forever
    with pytest.raises(VidasmError, match=r"music/gone\.wav"):
        music_values(load_project(tmp_path, "p"), FingerprintCache())


def test_with_music_a_delivery_copies_its_picture_and_encodes_the_mix() -> None:
    from vidasm_assets.media import commands as c

    web = BUILTIN_PRESETS["web"]
    plain = c.join_cmd(None, Path("cut.mov"), Path("w.mp4"), preset=web, rate=Rate(24), title="t")
    argv = c.join_cmd(None, Path("cut.mov"), Path("w.mp4"), preset=web, rate=Rate(24), title="t", sound=Path("m.wav"))
    start = plain.index("-i")
    wanted = ["-i", "cut.mov", "-i", "m.wav", "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"]
    assert argv[start : start + 10] == wanted
    assert argv[start + 10 :] == plain[start + 8 :]  # the same sound and container settings
    segs = c.join_cmd(Path("segs.txt"), Path("cut.mov"), Path("p.mov"), preset=BUILTIN_PRESETS["proxy"],
                      rate=Rate(24), sound=Path("m.wav"))  # fmt: skip
    assert "cut.mov" not in segs  # the picture is the segments', the sound the mix's
    start = segs.index("concat") - 1
    assert segs[start : start + 8] == ["-f", "concat", "-safe", "0", "-i", "segs.txt", "-i", "m.wav"]
    assert segs[segs.index("-map") : segs.index("-map") + 6] == ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"]


def test_every_filter_and_option_the_music_uses_is_probed() -> None:
    """The bed's and the mix's filters and options are in ``FILTER_OPTIONS``, so an FFmpeg lacking any is passed over
    or refused up front (``ffmpeg_tool``), never discovered mid-build."""
    import re

    from vidasm_assets.media import commands as c
    from vidasm_assets.media.ffmpeg_tool import FILTER_OPTIONS
    from vidasm_assets.media.music import decode_track_cmd

    mix = mix_cmd(Path("cut.mov"), Path("bed.wav"), Path("mix.wav"), samples=100, gain_db=-2, duck_db=12)
    bed = bed_cmd(Path("bed.txt"), Path("bed.wav"), samples=1000, fade_samples=100)
    decode = decode_track_cmd(Path("a.mp3"), Path("a.wav"))
    graphs = [mix[mix.index("-filter_complex") + 1], bed[bed.index("-af") + 1], decode[decode.index("-af") + 1]]
    used: dict[str, set[str]] = {}
    for graph in graphs:
        for node in re.split(r"[;,]", re.sub(r"\[[^\]]*\]", ";", graph)):
            name, _, opts = node.strip().partition("=")
            if name:
                used.setdefault(name, set()).update(o.split("=")[0] for o in opts.split(":") if "=" in o)
    assert {"sidechaincompress", "asplit", "amix", "afade", "apad", "atrim", "volume"} <= set(used)
    for name, options in used.items():
        assert name in FILTER_OPTIONS, name
        assert options <= set(FILTER_OPTIONS[name]), (name, options - set(FILTER_OPTIONS[name]))
    assert c.audio_prep_filter() in graphs[2]


def test_a_generated_sequence_names_a_fifo_track_without_opening_it(tmp_path: Path) -> None:
    import os

    from vidasm_assets.media.errors import VidasmError

    folder = _project(tmp_path, {"generate": {"seed": 1}})
    (folder / "music").mkdir()
    os.mkfifo(folder / "music" / "song.wav")
    with pytest.raises(VidasmError, match=r"music/song\.wav"):
        load_project(tmp_path, "p").sequence()


def test_a_generated_sequence_without_music_names_the_field(tmp_path: Path) -> None:
    _project(tmp_path, {"generate": {"seed": 1}})
    with pytest.raises(ProjectConfigError, match=r"field 'generate'.*no music"):
        load_project(tmp_path, "p").sequence()


def test_tracklist_plays_meet_at_the_nearest_frame_boundary() -> None:
    """Plays that start or end inside a frame are cut at the nearest frame boundary: consecutive plays share it
    (a 2.2 s track looped at 24 fps: 52.8 frames), never overlapping by a frame; frame-aligned ones stay exact."""
    from vidasm_assets.media.music import record_frame

    film, ntsc = Rate(24), Rate(30000, 1001)
    track = round(2.2 * 48_000)
    bounds = [record_frame(k * track, film) for k in range(4)]
    assert bounds == [0, 53, 106, 158]  # 52.8, 105.6, 158.4 frames
    assert record_frame(72_000, film) == 36 and record_frame(1_999, film) == 1 and record_frame(999, film) == 0
    assert record_frame(48_048, ntsc) == 30  # 30 frames of 29.97 fps are 48048 samples
