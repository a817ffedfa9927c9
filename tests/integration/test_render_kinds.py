"""Render kinds that broke the build (issue "Real renders, real machines"), built through Dagster and measured.

- a render trimmed by stream copy, whose MP4 edit list hides coded frames (lossless-cut #3057);
- shots whose length is not a whole millisecond, joined (gpac #2728): every timeline rate, exact durations;
- a render with two audio tracks (screen/game captures: mifi/lossless-cut #558): nothing dropped silently;
- a blocking check that failed never feeds a later run's consumer.
"""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import dagster as dg
import numpy as np
import pycmx
import pytest

from vidasm_assets.assets import assembly as assembly_assets
from vidasm_assets.assets import names as n
from vidasm_assets.assets.records import failed_checks
from vidasm_assets.definitions import build_definitions
from vidasm_assets.media import checks, loudness
from vidasm_assets.media import commands as cmd
from vidasm_assets.media.demo import write_project
from vidasm_assets.media.errors import ProjectConfigError
from vidasm_assets.media.ffmpeg_tool import bundled_ffmpeg
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import discover_projects, load_project
from vidasm_assets.media.rates import TIMELINE_RATES
from vidasm_assets.media.runner import run_ffmpeg
from vidasm_assets.planner import plan_project

from ..support import media_sources as ms
from ..support.helpers import QUIET, build_workspace, decoded_audio_samples

pytestmark = pytest.mark.media


def _run(argv: list[str], **_: object) -> str:
    return run_ffmpeg(argv)


def _mono(path: Path) -> np.ndarray:
    """The audio as float mono samples at 48 kHz (PyAV's resampler: left and right averaged)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
    chunks = []
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(float)


def _luma_per_frame(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.to_ndarray(format="gray").mean()) for f in c.decode(video=0)]


# ------------------------------------------------------------------ edit lists


def _trimmed_take(ffmpeg: str, dest: Path, work: Path) -> Path:
    """The case: a 54-frame 24 fps take (luma 16+4n on frame n, GOP 48, no B-frames, a 3 kHz blip at source
    frame 24), trimmed by stream copy from 0.5 s for 1.5 s: 48 coded frames, 36 presented (12-47)."""
    take = ms.run(ffmpeg, work / "take.mp4", [
        "-f", "lavfi", "-i", "color=c=gray:size=160x120:rate=24:duration=2.25,format=yuv420p,"
        "geq=lum=16+4*N:cb=128:cr=128",
        "-f", "lavfi", "-i", r"aevalsrc=0.2*sin(2*PI*220*t)+if(between(t\,1.0\,1.02)\,0.7*sin(2*PI*3000*t)\,0)"
        ":s=48000:d=2.25",
        "-c:v", "libx264", "-crf", "12", "-g", "48", "-bf", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
    ])  # fmt: skip
    return ms.run(ffmpeg, dest, ["-ss", "0.5", "-i", str(take), "-t", "1.5", "-c", "copy"])


def test_a_render_trimmed_by_an_edit_list_is_what_players_present(
    ffmpeg: str, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    root = tmp_path / "ws"
    folder = write_project(root, "trim", {"fps": 24, "resolution": "160x120", "sequence": [{"shot": "sh020"}]})
    src = _trimmed_take(ffmpeg, folder / "03_Renders" / "sh020" / "sh020_v001.mp4", tmp_path)
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames == 48  # the sample table counts the hidden frames too
    take = _luma_per_frame(tmp_path / "take.mp4")  # the camera take, every frame: 16+4n, as this FFmpeg coded it
    outcomes = build_workspace(instance, root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    project = load_project(root, "trim")
    luma = _luma_per_frame(project.picture_path("sh020"))
    assert len(luma) == 36
    # the conformed shot is the take's frames 12..47, in order (each frame's flat luma, within 2 code values)
    assert np.abs(np.array(luma) - np.array(take[12:48])).max() <= 2
    assert [int(np.argmin(np.abs(np.array(take) - y))) for y in luma] == list(range(12, 48))
    # sound in sync: the 3 kHz blip (take t = 1.0 s = take frame 24) starts on the frame showing frame 24
    pcm = _mono(project.audio_path("sh020"))
    hp = np.diff(pcm)  # a crude high-pass: the 220 Hz bed is ~14x quieter in the difference
    onset = int(np.argmax(np.abs(hp) > 0.3 * np.abs(hp).max()))
    assert abs(onset - (24 - 12) * 2000) <= 48  # within 1 ms (48 samples at 48 kHz; 2000 samples a frame)
    assert decoded_audio_samples(project.audio_path("sh020")) == 36 * 2000


# ------------------------------------------------------------------ exact durations


@pytest.mark.parametrize("rate", TIMELINE_RATES, ids=str)
def test_conformed_shots_are_exactly_their_frames_long_at_every_rate(rate, ffmpeg: str, tmp_path: Path) -> None:
    """A length that is no whole number of milliseconds (7 frames, or 70 at 30 fps) must be exact in the MOV:
    the stream's duration and the movie's edit list, in their own time scales."""
    frames = 70 if rate.fraction == 30 else 7
    src = ms.run(ffmpeg, tmp_path / "src.mp4", [*ms.video("64x36", rate.ffmpeg, float(frames / rate.fraction)),
                                               *ms.X264])  # fmt: skip
    dst = tmp_path / "out.mov"
    run_ffmpeg([ffmpeg, *cmd.segment_cmd(src, dst, cmd.Target(64, 36, rate, frames))])
    with av.open(str(dst)) as c:
        s = c.streams.video[0]
        assert Fraction(s.duration) * s.time_base == rate.frames_to_seconds(frames)
        assert Fraction(c.duration, 1_000_000) * rate.fraction == pytest.approx(frames, abs=1e-3)
        pts = sorted(p.pts for p in c.demux(s) if p.pts is not None and p.size)
    step = rate.timescale * rate.den // rate.num
    assert [b - a for a, b in itertools.pairwise(pts)] == [step] * (frames - 1)


def test_a_shot_of_no_whole_milliseconds_joins_exactly_and_is_delivered(
    ffmpeg: str, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    root = tmp_path / "ws"
    folder = write_project(root, "msround", {"fps": 30, "resolution": "160x120",
                                             "sequence": [{"shot": "sh010"}, {"shot": "sh020"}]})  # fmt: skip
    ms.run(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mp4", [
        "-f", "lavfi", "-i", "color=c=gray:size=160x120:rate=30:duration=2.3333,format=yuv420p,"
        "geq=lum=16+3.5*N:cb=128:cr=128", *ms.tone(2.3333, -20), "-c:v", "libx264", "-pix_fmt", "yuv420p",
        *ms.AAC])  # fmt: skip
    ms.run(ffmpeg, folder / "03_Renders" / "sh020" / "sh020_v001.mp4",
           ms.with_av(ms.video("160x120", "30", 1), ms.tone(1, -20)))  # fmt: skip
    outcomes = build_workspace(instance, root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    project = load_project(root, "msround")
    with av.open(str(project.cut_path())) as c:
        s = c.streams.video[0]
        times = sorted(Fraction(p.pts) * s.time_base for p in c.demux(s) if p.pts is not None and p.size)
    assert len(times) == 100
    assert times[70] - times[0] == Fraction(70, 30)  # the second shot starts at exactly 70/30 s
    assert {b - a for a, b in itertools.pairwise(times)} == {Fraction(1, 30)}
    assert decoded_audio_samples(project.cut_path()) == 100 * 1600
    assert project.delivery_path("web").is_file()


# ------------------------------------------------------------------ several audio tracks


def _capture(ffmpeg: str, dest: Path) -> Path:
    """A screen capture as OBS records it by default: Matroska, track 1 game ambience (220 Hz, quiet), track 2 the
    narration (1 kHz phrases, a smooth 2 Hz swell: no
    splatter into the game's band), each track titled (MP4 track names are not read by every libavformat)."""
    return ms.run(ffmpeg, dest, [
        *ms.video("160x120", "25", 2), *ms.tone(2, -39, hz=220),
        "-f", "lavfi", "-i", "aevalsrc=0.25*sin(2*PI*1000*t)*(0.5-0.5*cos(2*PI*2*t)):s=48000:d=2",
        "-map", "0:v", "-map", "1:a", "-map", "2:a", *ms.X264, "-c:a", "aac", "-ac", "2",
        "-metadata:s:a:0", "title=Game", "-metadata:s:a:1", "title=Microphone", "-shortest",
    ])  # fmt: skip


def _band_db(path: Path, hz: float, seconds: float = 2.0) -> float:
    """Share (dB) of ``path``'s audio energy within +-10% of ``hz``: a Hann-windowed FFT over ``seconds``."""
    pcm = _mono(path)[: int(48000 * seconds)]
    spec = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm)))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / 48000)
    band = spec[(freqs > hz * 0.9) & (freqs < hz * 1.1)].sum()
    return 10 * np.log10(max(band, 1e-20) / spec.sum())


@dataclass
class CaptureWorkspace:
    root: Path
    folder: Path  # the capture project's folder


@pytest.fixture
def capture_ws(ffmpeg: str, tmp_path: Path):
    root = tmp_path / "ws"
    folder = write_project(root, "capture", {"fps": 25, "resolution": "160x120",
                                             "sequence": [{"shot": "cap"}, {"shot": "plain"}]})  # fmt: skip
    _capture(ffmpeg, folder / "03_Renders" / "cap" / "cap_v001.mkv")
    ms.run(ffmpeg, folder / "03_Renders" / "plain" / "plain_v001.mp4",
           ms.with_av(ms.video("160x120", "25", 2), ms.tone(2, -20, hz=440)))  # fmt: skip
    return CaptureWorkspace(root, folder)


def test_every_audio_track_is_mixed_by_default_and_the_edl_says_so(capture_ws, instance: dg.DagsterInstance) -> None:
    root = capture_ws.root
    outcomes = build_workspace(instance, root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    project = load_project(root, "capture")
    audio = project.audio_path("cap")
    assert _band_db(audio, 1000) > -10  # the narration on track 2 is the programme, not lost
    assert _band_db(audio, 220) > -40  # and the game ambience on track 1 is still in the mix
    text = project.edl_path().read_text()
    events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
    assert [e.edits[0].clip_name for e in events] == ["cap_v001", "plain_v001"]  # the comment reads back
    assert "* AUDIO TRACKS: 1+2 of 2 mixed (Game, Microphone)" in text
    assert text.count("AUDIO TRACKS") == 1  # the one-track shot had nothing to choose
    mat = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=n.key("capture", "audio"), asset_partitions=["cap"]), limit=1
    ).records[0]
    assert mat.asset_materialization.metadata["audio_tracks"].value == "1+2 of 2 mixed (Game, Microphone)"


def test_a_shot_can_use_only_the_tracks_it_names(capture_ws, instance: dg.DagsterInstance) -> None:
    root, folder = capture_ws.root, capture_ws.folder
    spec = json.loads((folder / "project.json").read_text())
    spec["sequence"][0]["audio_tracks"] = [2]
    (folder / "project.json").write_text(json.dumps(spec))
    outcomes = build_workspace(instance, root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    audio = load_project(root, "capture").audio_path("cap")
    assert _band_db(audio, 1000) > -3 and _band_db(audio, 220) < -60  # only the narration
    assert "* AUDIO TRACKS: 2 of 2 (Microphone)" in load_project(root, "capture").edl_path().read_text()


def test_a_track_the_render_does_not_have_is_an_error_naming_shot_and_tracks(capture_ws) -> None:
    root, folder = capture_ws.root, capture_ws.folder
    spec = json.loads((folder / "project.json").read_text())
    spec["sequence"][0]["audio_tracks"] = [3]
    (folder / "project.json").write_text(json.dumps(spec))
    project = load_project(root, "capture")
    with pytest.raises(ProjectConfigError) as info:
        loudness.selected_tracks(project, "cap", probe(project.select_take("cap").path))
    text = str(info.value)
    assert "shot cap" in text and "track 3" in text and "cap_v001.mkv" in text and "2 audio track(s)" in text


# ------------------------------------------------------------------ failed checks block later consumers


def test_a_cut_that_failed_its_checks_never_feeds_a_later_delivery(
    capture_ws, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = capture_ws.root
    assert all(o.success for o in build_workspace(instance, root))
    project = load_project(root, "capture")
    web = project.delivery_path("web")
    before = web.stat().st_mtime_ns
    real = checks.cut_checks

    def failing(*args, **kwargs):
        return [checks.CheckOutcome(c.name, c.name != "no_gap_at_joins", c.metadata) for c in real(*args, **kwargs)]

    monkeypatch.setattr(assembly_assets, "cut_checks", failing)
    defs = build_definitions(root)
    job = defs.resolve_job_def(n.assemble_job_name("capture"))
    job.execute_in_process(instance=instance, asset_selection=[n.key("capture", "cut")],
                           raise_on_error=False, run_config=QUIET)  # fmt: skip
    assert failed_checks(instance, n.key("capture", "cut")) == ["no_gap_at_joins"]  # materialized, check failed
    monkeypatch.setattr(assembly_assets, "cut_checks", real)
    later = job.execute_in_process(instance=instance, asset_selection=[n.key("capture", "delivery_web")],
                                   raise_on_error=False, run_config=QUIET)  # fmt: skip
    assert not later.success
    failure = next(e for e in later.all_events if e.is_step_failure)
    err, messages = failure.step_failure_data.error, []  # type: ignore[union-attr]
    while err is not None:
        messages.append(err.message)
        err = err.cause
    assert any("failed check(s) no_gap_at_joins" in m for m in messages), messages
    assert web.stat().st_mtime_ns == before
    plan = plan_project(instance, discover_projects(root).projects["capture"], record=False)
    cut = next(it for it in plan.items if it.asset == "cut")
    assert cut.state == "failed" and "no_gap_at_joins" in cut.reason
    # the next build rebuilds the cut (its real checks pass); the delivery, made from a cut of the same version
    # before the failed run, stays: everything is fresh
    assert all(o.success for o in build_workspace(instance, root))
    assert not failed_checks(instance, n.key("capture", "cut"))
    plan = plan_project(instance, discover_projects(root).projects["capture"], record=False)
    assert {it.state for it in plan.items} == {"fresh"}


# ------------------------------------------------------------------ odd channel layouts


def test_a_custom_order_71_render_is_probed_without_killing_the_process(ffmpeg: str, tmp_path: Path) -> None:
    """7.1 in a non-native channel order (what FFmpeg 5.1 writes into MOV) made PyAV 17.1/18 corrupt memory and
    abort the whole process on the first look at the stream's channels; probed in a child so a regression fails
    this test instead of killing the test run."""
    pan = "pan=FL+FR+FC+LFE+SL+SR+BL+BR|" + "|".join(f"c{i}=c0" for i in range(8))
    writer = bundled_ffmpeg() or ffmpeg  # writes the custom order into the MOV's channel layout box
    src = ms.run(writer, tmp_path / "sh_v001.mov", [
        *ms.video("160x90", "24", 1), "-f", "lavfi", "-i", f"sine=f=440:r=48000:d=1,{pan}",
        "-map", "0:v", "-map", "1:a", *ms.X264, *ms.PCM, "-shortest",
    ])  # fmt: skip
    code = f"from vidasm_assets.media.probe import probe; a = probe({str(src)!r}).audio[0]; print(a.channels, a.layout)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["8", "7.1"]


def test_cover_art_listed_first_is_not_taken_for_the_picture(
    ffmpeg: str, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """An MP4 whose cover art is stream 0 (its udta before the tracks): the shot is its real picture, 24 grey frames
    (not the red cover, nor "truncated" because the cover holds one frame in a 1 s file)."""
    root = tmp_path / "ws"
    folder = write_project(root, "cov", {"fps": 24, "resolution": "64x36"})
    src = ms.cover_first_mp4(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mp4", tmp_path, luma=120)
    with av.open(str(src)) as c:  # the case itself: the cover is the first video stream
        assert c.streams.video[0].disposition & av.stream.Disposition.attached_pic
    outcomes = build_workspace(instance, root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    project = load_project(root, "cov")
    with av.open(str(project.picture_path("sh010"))) as c:
        pictures = [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]
    assert len(pictures) == 24
    for p in pictures:  # grey, not red: R, G and B within a few code values of each other
        r, g, b = (p[..., k].mean() for k in range(3))
        assert abs(r - g) < 6 and abs(r - b) < 6 and 100 < r < 140, (r, g, b)


@pytest.mark.parametrize(
    ("codec", "extra"),
    [("aac", []), ("libopus", []), ("aac", ["-output_ts_offset", "10"])],
    ids=["aac-mkv", "opus-mkv", "aac-mkv-starts-at-10s"],
)
def test_matroska_audio_with_encoder_delay_stays_in_sync_with_every_ffmpeg(
    ffmpeg: str, tmp_path: Path, instance: dg.DagsterInstance, codec: str, extra: list[str]
) -> None:
    """AAC and Opus in Matroska start before 0 by their encoder delay (AAC 1024 samples, Opus 312). FFmpeg 5.1
    decodes that priming, 7+ drops it, and each then starts the file elsewhere: vidasm shifted the audio by an
    offset measured once and came out 21 ms (AAC) or 7 ms (Opus) early with one of them. Here the picture
    flashes white on frame 24 (1.0 s) and a 3 kHz beep starts at 1.0 s, muxed by the bundled FFmpeg (one file for
    both passes: 5.1's own Matroska muxer places an Opus track's picture 6.5 ms late, which every FFmpeg then
    plays so); in the conformed shot the beep starts on the flash's frame, within 2.5 ms, with whichever FFmpeg
    the suite runs (pass 1 bundled, pass 2 Debian's)."""
    root = tmp_path / "ws"
    folder = write_project(root, "sync", {"fps": 24, "resolution": "64x36"})
    picture = "color=c=black:s=64x36:r=24:d=2,drawbox=c=white:t=fill:enable='between(n,24,25)'"
    sound = "aevalsrc='if(gte(t,1),0.5*sin(2*PI*3000*t),0)':s=48000:d=2"
    dest = folder / "03_Renders" / "sh010" / "sh010_v001.mkv"
    dest.parent.mkdir(parents=True)
    writer = bundled_ffmpeg() or ffmpeg
    subprocess.run([writer, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", picture, "-f", "lavfi",
                    "-i", sound, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", codec, "-b:a", "128k", *extra,
                    str(dest)], check=True)  # fmt: skip
    outcomes = build_workspace(instance, root)
    assert outcomes and all(o.success for o in outcomes), outcomes
    project = load_project(root, "sync")
    luma = _luma_per_frame(project.picture_path("sh010"))
    flash = int(np.argmax(np.array(luma) > 128))
    assert flash == 24, luma[20:28]
    pcm = _mono(project.audio_path("sh010"))
    onset = int(np.argmax(np.abs(pcm) > 0.3 * np.abs(pcm).max()))
    assert abs(onset - flash * 2000) <= 120, (onset, flash * 2000)  # 2000 samples a frame at 24 fps
