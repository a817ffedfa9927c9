"""The music bed built for real: the mix measured (ducking depth where the programme has sound against where it is
silent, loudness on target by ebur128, exact sample count, the fade reaching silence, a short track looped), the
deliveries' sound, the tracklist and the OTIO music track read back, and the rebuild set of a music change read
from the event log, with every FFmpeg command the runner logged checked for a picture encode.

The programme is a 1 kHz tone (sh010) then silence (sh020, no audio); the music a 200 Hz tone, so each is measured
apart by its own frequency (a lock-in over windows holding whole periods of both). Expectations come from
project.json and the generated sources, never from the build's own output.
"""

from __future__ import annotations

import itertools
import json
import math
import shlex
import subprocess
from pathlib import Path

import av
import dagster as dg
import numpy as np
import opentimelineio as otio
import pycmx
import pytest

from tests.support.helpers import (
    build_workspace,
    built_instance,
    forked_project,
    last_storage_id,
    loudness,
    materialized_since,
    rebuild,
    set_spec,
)
from vidasm_assets.media.demo import RenderSpec, make_render, write_project
from vidasm_assets.media.generate import cut_range, generate
from vidasm_assets.media.project import GenerateSettings, load_project
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.timeline import Timeline

pytestmark = pytest.mark.media

FPS = 24
SIZE = "160x90"
RATE = 48_000
PROGRAMME_HZ, MUSIC_HZ = 1000, 200
SH010_S, SH020_S = 2, 3  # sh010: programme tone; sh020: no audio (the music plays alone)
TRACK_S = 1.5  # shorter than the cut: looped
MUSIC = {"duck_db": 12, "fade_out_seconds": 0.5, "level_db": -6}
EXPORTS = ["web", "proxy"]  # web: the cut's picture; proxy: segments joined
CUT_SAMPLES = (SH010_S + SH020_S) * RATE


def tone(ffmpeg: str, dest: Path, hz: int, seconds: float, *, rate: int = 44_100, title: str | None = None) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    meta = ["-metadata", f"title={title}"] if title else []
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f={hz}:r={rate}:d={seconds}", *meta,
                    str(dest)], check=True)  # fmt: skip
    return dest


def pcm(path: Path) -> np.ndarray:
    """Every decoded sample of the first audio stream, channels x samples, in [-1, 1]."""
    with av.open(str(path)) as c:
        frames = [f.to_ndarray() if f.format.is_planar else f.to_ndarray().reshape(-1, len(f.layout.channels)).T
                  for f in c.decode(audio=0)]  # fmt: skip
        scale = {"s16": 2**15, "s16p": 2**15, "s32": 2**31, "s32p": 2**31}.get(c.streams.audio[0].format.name, 1)
    return np.concatenate(frames, axis=1).astype(float) / scale


def level(x: np.ndarray, hz: int, start_s: float, end_s: float) -> float:
    """Amplitude of the ``hz`` component of channel 0 between two times (a lock-in over whole periods)."""
    seg = x[0, round(start_s * RATE) : round(end_s * RATE)]
    t = np.arange(len(seg)) / RATE
    return float(2 * abs(np.sum(seg * np.exp(-2j * np.pi * hz * t))) / len(seg))


def db(a: float, b: float) -> float:
    return 20 * math.log10(a / b)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str):
    root = tmp_path_factory.mktemp("music")
    folder = write_project(root, "mv", {"fps": FPS, "resolution": SIZE, "exports": EXPORTS, "music": MUSIC,
                                        "sequence": [{"shot": "sh010"}, {"shot": "sh020"}]})  # fmt: skip
    w, h = map(int, SIZE.split("x"))
    make_render(ffmpeg, folder / "03_Renders/sh010/sh010_v001.mp4", RenderSpec(w, h, "24", SH010_S, -20,
                                                                                 tone_hz=PROGRAMME_HZ))  # fmt: skip
    make_render(ffmpeg, folder / "03_Renders/sh020/sh020_v001.mp4", RenderSpec(w, h, "24", SH020_S, None))
    tone(ffmpeg, folder / "music/bed.wav", MUSIC_HZ, TRACK_S, title="Bed Tune")
    with built_instance(root, tmp_path_factory.mktemp("home")) as instance:
        yield root, folder, instance


def test_the_mix_is_exactly_the_cuts_samples_and_on_the_loudness_target(built, ffmpeg: str) -> None:
    root, _, _ = built
    project = load_project(root, "mv")
    mix = pcm(project.mix_path())
    assert mix.shape == (2, CUT_SAMPLES)
    i, tp = loudness(ffmpeg, project.mix_path())
    assert abs(i - project.spec.audio.loudness_lufs) <= 1.0, i
    assert tp is not None and tp <= project.spec.audio.true_peak_db


def test_the_music_is_ducked_by_the_set_depth_under_programme_sound(built) -> None:
    root, _, _ = built
    mix = pcm(load_project(root, "mv").mix_path())
    under = level(mix, MUSIC_HZ, 0.5, 1.8)  # sh010's tone plays (after the compressor's attack)
    alone = level(mix, MUSIC_HZ, 3.0, 4.0)  # sh020 is silent (after the release), before the fade-out
    assert level(mix, PROGRAMME_HZ, 0.5, 1.8) > 3 * under, "the programme is there, above the ducked music"
    assert level(mix, PROGRAMME_HZ, 3.0, 4.0) < alone / 1000, "sh020 has no programme sound"
    assert abs(db(alone, under) - MUSIC["duck_db"]) <= 1.5, db(alone, under)


def test_a_short_track_is_looped_to_the_cut_and_faded_out_to_silence(built) -> None:
    root, _, _ = built
    mix = pcm(load_project(root, "mv").mix_path())
    alone = level(mix, MUSIC_HZ, 3.0, 4.0)  # past the track's 1.5 s: only a loop can play it there
    assert alone > 0.01
    assert level(mix, MUSIC_HZ, 4.9, 5.0) < alone / 5, "fading in the last 0.1 s of a 0.5 s fade"
    # linear to silence: the last millisecond of a 0.5 s fade is at most 48/24000 of the level, the last sample 0
    assert np.abs(mix[:, -48:]).max() < alone * 48 / 24_000 * 1.5
    assert np.abs(mix[:, -1]).max() < 2**-20


def test_the_deliveries_sound_is_the_mix_and_their_pictures_the_cuts_length(built) -> None:
    root, _, _ = built
    project = load_project(root, "mv")
    for preset in EXPORTS:
        path = project.delivery_path(preset)
        sound = pcm(path)
        assert level(sound, MUSIC_HZ, 3.0, 4.0) > 0.01, f"{preset}: the music is in the delivery"
        with av.open(str(path)) as c:
            assert sum(1 for _ in c.decode(video=0)) == (SH010_S + SH020_S) * FPS


def test_the_tracklist_lists_each_play_with_record_and_source_times(built) -> None:
    root, _, _ = built
    project = load_project(root, "mv")
    text_path, json_path = project.tracklist_paths()
    assert text_path.parent == project.edl_path().parent
    data = json.loads(json_path.read_text())
    track = round(TRACK_S * RATE)
    starts = list(range(0, CUT_SAMPLES, track))
    assert [(e["record_in_sample"], e["record_out_sample"]) for e in data["tracks"]] == [
        (s, min(s + track, CUT_SAMPLES)) for s in starts
    ]
    plays = {(e["title"], e["file"], e["source_in_sample"]) for e in data["tracks"]}
    assert plays == {("Bed Tune", "music/bed.wav", 0)}
    assert data["tracks"][-1]["source_out_sample"] == CUT_SAMPLES - starts[-1]
    # record timecode from 01:00:00:00 at 24 fps: 1.5 s is 36 frames; out exclusive, the last ends at the cut's end
    assert [(e["record_in"], e["record_out"]) for e in data["tracks"]] == [
        ("01:00:00:00", "01:00:01:12"), ("01:00:01:12", "01:00:03:00"), ("01:00:03:00", "01:00:04:12"),
        ("01:00:04:12", "01:00:05:00"),
    ]  # fmt: skip
    assert data["tracks"][1]["source_out"] == "00:00:01.500"
    lines = text_path.read_text().splitlines()
    assert sum("Bed Tune  (music/bed.wav)" in line for line in lines) == len(starts)


def test_the_otio_has_the_music_track_and_reads_back(built) -> None:
    root, _, _ = built
    project = load_project(root, "mv")
    tl = otio.adapters.read_from_file(str(project.otio_path()))
    names = [t.name for t in tl.tracks]
    assert names == ["V1", "A1", "Music"]
    music = tl.tracks[2]
    assert music.kind == otio.schema.TrackKind.Audio
    clips = list(music.find_clips())
    assert [c.name for c in clips] == ["Bed Tune"] * 4
    assert music.duration().rescaled_to(RATE).value == CUT_SAMPLES
    assert clips[3].range_in_parent().start_time.rescaled_to(RATE).value == 3 * round(TRACK_S * RATE)
    assert clips[-1].source_range.duration.rescaled_to(RATE).value == CUT_SAMPLES - 3 * round(TRACK_S * RATE)
    assert clips[0].media_reference.target_url.endswith("music/bed.wav")
    assert tl.tracks[0].duration().rescaled_to(FPS).value == (SH010_S + SH020_S) * FPS


def _nothing_rebuilt(root: Path, instance: dg.DagsterInstance) -> bool:
    """A build with nothing changed launches no run and materializes nothing (read from the event log)."""
    mark = last_storage_id(instance)
    outcomes = build_workspace(instance, root)
    return outcomes == [] and materialized_since(instance, mark) == set()


def _ffmpeg_commands(instance: dg.DagsterInstance, runs_before: set[str]) -> list[list[str]]:
    """Every FFmpeg command the runner logged ("$ ffmpeg ...") in the runs started since ``runs_before``."""
    out = []
    for run in instance.get_runs():
        if run.run_id in runs_before:
            continue
        for rec in instance.all_logs(run.run_id):
            if rec.user_message.startswith("$ "):
                out.append(shlex.split(rec.user_message[2:]))
    return out


def _picture_encoders(argv: list[str]) -> list[str]:
    """The video encoders a command runs: any ``-c:v``/``-vcodec``/``-c`` value other than copy."""
    out = []
    for flag, value in itertools.pairwise(argv):
        if flag in ("-c:v", "-vcodec", "-codec:v", "-c") and value != "copy":
            out.append(value)
    return out


@pytest.fixture
def changed(built, tmp_path: Path):
    """A copy of the module's build for a test that changes it: the other tests read ``built`` as it was made."""
    with forked_project(built, tmp_path) as copy:
        yield copy


def test_a_music_change_rebuilds_the_mix_the_otio_and_the_deliveries_sound_only(changed, ffmpeg: str) -> None:
    root, folder, instance = changed
    runs_before = {r.run_id for r in instance.get_runs()}
    tone(ffmpeg, folder / "music/bed.wav", 300, 2.0, title="New Tune")  # another track under the same name
    got = rebuild(root, instance)
    assert got == {"mv/mix", "mv/otio", "mv/delivery_web", "mv/delivery_proxy"}
    commands = _ffmpeg_commands(instance, runs_before)
    assert any("sidechaincompress" in " ".join(a) for a in commands), "the runner's commands are in the run log"
    assert [e for a in commands for e in _picture_encoders(a)] == [], "no picture was encoded"
    project = load_project(root, "mv")
    assert level(pcm(project.mix_path()), 300, 3.0, 4.0) > 0.01
    assert json.loads(project.tracklist_paths()[1].read_text())["tracks"][0]["title"] == "New Tune"
    # a setting of the music: the same set; no ducking at 0 dB
    set_spec(folder, music={**MUSIC, "duck_db": 0})
    assert rebuild(root, instance) == {"mv/mix", "mv/otio", "mv/delivery_web", "mv/delivery_proxy"}
    mix = pcm(project.mix_path())
    assert abs(db(level(mix, 300, 3.0, 4.0), level(mix, 300, 0.5, 1.8))) <= 0.5
    assert _nothing_rebuilt(root, instance)


def test_a_missing_track_fails_naming_the_file(tmp_path: Path, ffmpeg: str, instance: dg.DagsterInstance) -> None:
    folder = write_project(tmp_path, "p", {"fps": FPS, "resolution": SIZE,
                                            "music": {"tracks": ["music/gone.wav"]}})  # fmt: skip
    make_render(ffmpeg, folder / "03_Renders/sh010/sh010_v001.mp4", RenderSpec(160, 90, "24", 1, -20))
    outcomes = build_workspace(instance, tmp_path)
    assert [o.success for o in outcomes] == [False]
    assert str(folder / "music/gone.wav") in outcomes[0].message


# ---------------------------------------------------------------- the generated sequence

SHOTS = {"sh010": 1.0, "sh020": 1.5, "sh030": 1.0}
MUSIC_S = 2.5


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str):
    root = tmp_path_factory.mktemp("generated")
    spec = {"fps": FPS, "resolution": SIZE, "exports": ["web"], "generate": {"seed": 7, "cut_frames": [6, 14]}}
    folder = write_project(root, "mv", spec)
    for shot, seconds in SHOTS.items():
        make_render(ffmpeg, folder / f"03_Renders/{shot}/{shot}_v001.mp4", RenderSpec(160, 90, "24", seconds, -20))
    tone(ffmpeg, folder / "music/song.wav", MUSIC_HZ, MUSIC_S, rate=48_000, title="Song")
    with built_instance(root, tmp_path_factory.mktemp("home")) as instance:
        yield root, folder, instance


def _expected(seed: int) -> list[tuple[str, int, int]]:
    """The sequence from project.json's seed, the renders' lengths and the music's, by the documented generator."""
    lengths = {s: round(sec * FPS) for s, sec in SHOTS.items()}
    uses = generate(list(SHOTS), lengths, round(MUSIC_S * FPS), seed=seed,
                    cut_frames=cut_range(GenerateSettings(seed=seed, cut_frames=(6, 14)), Rate(FPS)))  # fmt: skip
    return [(u.shot, u.start, u.end) for u in uses]


def test_the_generated_cut_fills_the_musics_length_without_a_shot_twice_in_a_row(generated) -> None:
    root, _, _ = generated
    project = load_project(root, "mv")
    tl = Timeline.from_json(project.timeline_path().read_text())
    assert tl.total_frames == round(MUSIC_S * FPS)
    assert [(c.shot, c.source_in, c.source_in + c.frames) for c in tl.clips] == _expected(7)
    assert all(a.shot != b.shot for a, b in zip(tl.clips, tl.clips[1:], strict=False))
    assert len({c.shot for c in tl.clips}) > 1
    with av.open(str(project.delivery_path("web"))) as c:
        assert sum(1 for _ in c.decode(video=0)) == round(MUSIC_S * FPS)
    edl = pycmx.parse_cmx3600(project.edl_path().open())
    events = [e.edits[0] for e in edl.events]
    assert [(e.clip_name.split("_")[0]) for e in events] == [c.shot for c in tl.clips]
    data = json.loads(project.tracklist_paths()[1].read_text())
    assert [(e["title"], e["record_in"], e["record_out"]) for e in data["tracks"]] == [
        ("Song", "01:00:00:00", "01:00:02:12")
    ]


def test_the_same_seed_rebuilds_nothing_and_a_new_seed_recuts(generated, tmp_path: Path) -> None:
    with forked_project(generated, tmp_path) as (root, folder, instance):
        _new_seed_recuts(root, folder, instance)


def _new_seed_recuts(root: Path, folder: Path, instance: dg.DagsterInstance) -> None:
    assert _nothing_rebuilt(root, instance)
    before = Timeline.from_json((folder / "05_Cache/timeline.json").read_text())
    set_spec(folder, generate={"seed": 8, "cut_frames": [6, 14]})
    got = rebuild(root, instance)
    assert {"mv/timeline", "mv/cut", "mv/edl", "mv/otio", "mv/mix", "mv/delivery_web"} <= got
    after = Timeline.from_json((folder / "05_Cache/timeline.json").read_text())
    assert [(c.shot, c.source_in, c.source_in + c.frames) for c in after.clips] == _expected(8) != _expected(7)
    assert after.clips != before.clips
    assert after.total_frames == round(MUSIC_S * FPS)
