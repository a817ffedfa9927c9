"""The music bed: the project's music under the programme sound, ducked under it, the mix at the loudness target.

project.json ``music`` (``project.MusicSettings``) names the tracks, else the audio files of the project's
``music/`` folder are used in natural order. The bed is built on exact samples at 48 kHz:

1. **Tracks** are decoded once each to 48 kHz stereo PCM (``05_Cache/music/<name>-<content key>.wav``, reused while
   the file's content is the same), so every length below is a count of decoded samples, never a header's guess.
2. **Placement** (``plan_bed``): the tracks play one after another from the cut's first sample, repeated in order
   while ``loop`` is on, until the cut's ``Timeline.total_samples`` (``Rate.samples_for_frames`` of its frames) are
   filled; the last one is cut at the cut's end. With ``loop`` off they play once and silence pads the rest.
3. **The bed** is their PCM joined by the concat demuxer (PCM packets: every join exact), padded and trimmed to
   the cut's samples, faded out linearly over ``fade_out_seconds`` (``afade``; its last sample silent, as the
   picture's ``fade_out``), and brought to ``level_db`` LU relative to the loudness target (its integrated
   loudness measured with ebur128, then a plain gain).
4. **Ducking** (``mix_cmd``, one graph built with ffmpeg-python): FFmpeg's ``sidechaincompress`` on the bed, keyed
   by the programme (the cut's PCM). Where the programme has sound above the threshold (-60 dBFS) the compressor
   pulls the bed far down (ratio 20:1), and its dry/wet ``mix`` sets how far: the output is
   ``dry * (1 - mix) + wet * mix``, so with ``mix = 1 - 10^(-duck_db/20)`` the bed sits about ``duck_db`` dB lower
   (a little less than that: the wet part is not silent, and less compressed under quiet programme; measured by
   the tests within 1.5 dB: 11.8 dB for 12). Where the programme is silent (cards, silent shots) the bed plays at
   its level.
   Attack 20 ms, release 300 ms: the music dips with the first syllable and comes back between sentences.
5. **The mix** (``amix``, summed, no normalization of the inputs) is brought to the project's loudness target and
   true-peak ceiling by the same strategies as a shot's sound (``loudness.normalize_pcm``), and measured again.

The deliveries take their sound from the mix (their pictures are stream-copied as without music), and the music
used is written beside the EDL as a tracklist (``write_tracklist``) and into the OTIO as a music track.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import ffmpeg

from . import commands as cmd
from .errors import InvalidMediaError, MediaNotFoundError, VidasmError
from .fingerprints import FingerprintCache, music_fingerprint
from .loudness import SILENCE_LUFS, AudioResult, measure_loudness, normalize_pcm
from .outputs import atomic_output, temp_name, write_text_atomic
from .probe import probe
from .project import MUSIC_DIR, Project
from .rates import AUDIO_RATE, Rate
from .runner import Run
from .timeline import Timeline

MUSIC_CACHE = "music"
"""``05_Cache/music``: each track decoded to 48 kHz PCM, named by its content."""

DUCK_THRESHOLD = 0.001
"""The programme level above which the bed is ducked: -60 dBFS (``sidechaincompress``'s lowest threshold is
-60.2 dBFS); digital silence and noise under it leave the music alone."""
DUCK_RATIO = 20
"""``sidechaincompress``'s highest ratio: the wet signal is pulled tens of dB down, the dry/wet mix sets the depth."""
DUCK_ATTACK_MS = 20
DUCK_RELEASE_MS = 300


def duck_mix(duck_db: float) -> float:
    """``sidechaincompress``'s dry/wet ``mix`` for a depth of ``duck_db`` dB: the dry part left is
    ``10^(-duck_db/20)`` of the music (0 dB: 0, no ducking)."""
    return 1 - 10 ** (-duck_db / 20)


# ---------------------------------------------------------------- inputs


def track_fingerprint(path: Path, cache: FingerprintCache) -> str:
    """A music track's content fingerprint (``fingerprints.music_fingerprint``: a missing or unreadable track is a
    typed error naming the file)."""
    return music_fingerprint(path, cache)


def music_values(project: Project, cache: FingerprintCache) -> dict[str, Any] | None:
    """What the music bed is made from, by name (the observed ``music`` source's inputs): each track's file
    (relative to the project folder) and content fingerprint, in play order, and the ``music.*`` settings; None
    when the project has no music."""
    settings = project.spec.music_settings()
    tracks = project.music_tracks()
    if settings is None or not tracks:
        return None
    listed = [[os.path.relpath(p, project.root), track_fingerprint(p, cache)] for p in tracks]
    own = settings.model_dump(exclude={"tracks"})
    return {"music.tracks": listed, **{f"music.{k}": val for k, val in sorted(own.items())}}


# ---------------------------------------------------------------- placement


@dataclass(frozen=True)
class Placement:
    """One play of a track in the bed: which track (0-based, in play order), where it sits in the cut
    (``record_in``/``record_out``: samples from the cut's first, out exclusive) and which part of the track
    (``source_in``/``source_out``: samples of the decoded track)."""

    track: int
    record_in: int
    record_out: int
    source_in: int
    source_out: int

    @property
    def samples(self) -> int:
        return self.record_out - self.record_in


def plan_bed(lengths: Sequence[int], total: int, *, loop: bool) -> list[Placement]:
    """Where each track plays in a cut of ``total`` samples: one after another from sample 0, repeated in order
    while ``loop`` (else once, silence after), the last play cut at ``total``. Tracks of no samples are skipped;
    ``InvalidMediaError`` when every track is empty (nothing to loop)."""
    if not any(lengths):
        raise InvalidMediaError("the music tracks hold no sound (0 samples decoded)")
    out: list[Placement] = []
    pos, i = 0, 0
    while pos < total and (loop or i < len(lengths)):
        k = i % len(lengths)
        i += 1
        if not lengths[k]:
            continue
        n = min(lengths[k], total - pos)
        out.append(Placement(k, pos, pos + n, 0, n))
        pos += n
    return out


# ---------------------------------------------------------------- commands


def decode_track_cmd(src: Path, dst: Path) -> list[str]:
    """A music track's first audio stream as 48 kHz stereo 24-bit PCM (resampled, down- or up-mixed)."""
    return [*cmd.BASE, "-i", str(src), "-map", "0:a:0", "-vn", "-sn", "-dn", "-af", cmd.audio_prep_filter(),
            "-map_metadata", "-1", *cmd._pcm_out(dst)]  # fmt: skip


def bed_cmd(listing: Path, dst: Path, *, samples: int, fade_samples: int) -> list[str]:
    """The bed: the tracks of a concat list joined, padded with silence and cut to exactly ``samples``, faded out
    over its last ``fade_samples`` (from the sample before, so its last sample is silent)."""
    chain = ["apad", f"atrim=end_sample={samples}", "asetpts=PTS-STARTPTS"]
    fade = min(fade_samples, samples - 1)
    if fade > 0:
        chain.append(f"afade=type=out:start_sample={samples - fade - 1}:nb_samples={fade}")
    return [*cmd.BASE, "-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:a:0", "-af", ",".join(chain),
            "-map_metadata", "-1", *cmd._pcm_out(dst)]  # fmt: skip


def mix_cmd(programme: Path, bed: Path, dst: Path, *, samples: int, gain_db: float, duck_db: float) -> list[str]:
    """The programme (the cut's sound, ``0:a:0``) and the bed at ``gain_db``, ducked by ``duck_db`` dB under the
    programme (``sidechaincompress`` keyed by it; none at 0), summed, exactly ``samples`` long: one graph built
    with ffmpeg-python and compiled to arguments (the runner binds the executable)."""
    prog = ffmpeg.input(str(programme))["a:0"]
    music = ffmpeg.input(str(bed))["a:0"].filter("volume", f"{gain_db:.2f}dB")
    if duck_db > 0:
        split = prog.filter_multi_output("asplit", 2)
        prog, key = split.stream(0), split.stream(1)
        music = ffmpeg.filter(
            [music, key], "sidechaincompress", threshold=DUCK_THRESHOLD, ratio=DUCK_RATIO, attack=DUCK_ATTACK_MS,
            release=DUCK_RELEASE_MS, mix=f"{duck_mix(duck_db):.6f}",
        )  # fmt: skip
    out = ffmpeg.filter([prog, music], "amix", inputs=2, duration="first", normalize=0)
    out = out.filter("atrim", end_sample=samples).filter("asetpts", "PTS-STARTPTS")
    o = ffmpeg.output(out, str(dst), acodec="pcm_s24le", ar=AUDIO_RATE, ac=2, f="wav", map_metadata=-1)
    return [*cmd.BASE, *o.get_args()]


# ---------------------------------------------------------------- building


@dataclass(frozen=True)
class Track:
    """A music track ready for the bed: its file, its decoded PCM, how many samples that holds, its title."""

    path: Path
    pcm: Path
    samples: int
    title: str


def track_title(path: Path) -> str:
    """The track's ``title`` tag (the container's or its first audio stream's), else its file name."""
    try:
        with av.open(str(path)) as c:
            tags = {k.lower(): v for k, v in (c.metadata or {}).items()}
            if not tags.get("title") and c.streams.audio:
                tags = {k.lower(): v for k, v in (c.streams.audio[0].metadata or {}).items()}
    except (av.error.FFmpegError, OSError):
        tags = {}
    title = (tags.get("title") or "").strip()
    return " ".join(title.split()) if title else path.stem


def prepare_track(run: Run, project: Project, path: Path, cache: FingerprintCache) -> Track:
    """Decode one track to PCM (kept under its content key in ``05_Cache/music``); ``VidasmError`` naming the file
    when it is missing, unreadable or holds no audio stream."""
    key = track_fingerprint(path, cache)[:16]
    pcm = project.cache_dir / MUSIC_CACHE / f"{path.stem[:40]}-{key}.wav"
    if not pcm.is_file():
        info = probe(path)
        if not info.audio:
            raise InvalidMediaError(f"{path}: music track has no audio stream", path=path)
        with atomic_output(pcm) as tmp:
            run(decode_track_cmd(path, tmp), path=path)
    got = probe(pcm).audio
    samples = got[0].samples if got else None
    if samples is None:
        raise InvalidMediaError(f"{path}: its decoded PCM {pcm} cannot be measured; delete it and rebuild", path=pcm)
    return Track(path, pcm, samples, track_title(path))


@dataclass(frozen=True)
class MixResult:
    """The delivered mix: its normalization (``audio``), the placements of the tracks, the bed's measured
    loudness (LUFS) and the gain (dB) that brought it to ``level_db`` under the target."""

    audio: AudioResult
    tracks: list[Track]
    placements: list[Placement]
    bed_lufs: float
    gain_db: float
    duck_db: float


def build_mix(run: Run, project: Project, timeline: Timeline, cache: FingerprintCache) -> MixResult:
    """Decode the tracks, lay them out (``plan_bed``), build the bed, duck it under the cut's sound, and bring the
    mix to the loudness target: ``project.mix_path()``, exactly the cut's samples. Writes the tracklist too.
    Raises the ``VidasmError`` family naming the file (a track, the cut) when something cannot be read."""
    settings = project.spec.music_settings()
    paths = project.music_tracks()
    if settings is None or not paths:
        raise VidasmError(f"project {project.name} has no music", path=project.root / MUSIC_DIR)
    cut = project.cut_path()
    if not cut.is_file():
        raise MediaNotFoundError(f"{cut}: the cut is missing; assemble it first", path=cut)
    total = timeline.total_samples()
    tracks = [prepare_track(run, project, p, cache) for p in paths]
    placements = plan_bed([t.samples for t in tracks], total, loop=settings.loop)
    fade = round(Fraction(str(settings.fade_out_seconds)) * AUDIO_RATE)
    folder = project.cache_dir / MUSIC_CACHE
    listing = temp_name(folder / "bed.txt")
    bed, raw = temp_name(folder / "bed.wav"), temp_name(folder / "raw.wav")
    try:
        listing.write_text(cmd.concat_list([tracks[p.track].pcm for p in placements], folder))
        run(bed_cmd(listing, bed, samples=total, fade_samples=fade), path=cut,
            total_seconds=total / AUDIO_RATE)  # fmt: skip
        bed_i, _ = measure_loudness(run, bed, samples=total)
        target = project.spec.audio.loudness_lufs
        gain = target + settings.level_db - bed_i if math.isfinite(bed_i) and bed_i > SILENCE_LUFS else 0.0
        run(mix_cmd(cut, bed, raw, samples=total, gain_db=gain, duck_db=settings.duck_db), path=cut,
            total_seconds=total / AUDIO_RATE)  # fmt: skip
        audio = normalize_pcm(run, raw, project.mix_path(), samples=total, target_i=target,
                              target_tp=project.spec.audio.true_peak_db)  # fmt: skip
    finally:
        for f in (listing, bed, raw):
            f.unlink(missing_ok=True)
    got = probe(project.mix_path()).audio
    if not got or got[0].samples != total:
        have = got[0].samples if got else 0
        raise InvalidMediaError(f"{project.mix_path()}: {have} samples, the cut has {total}", path=project.mix_path())
    keep = {t.pcm.name for t in tracks}
    for old in folder.glob("*.wav"):  # tracks no longer used (renamed, re-exported, removed)
        if old.name not in keep and not old.name.startswith("."):
            old.unlink(missing_ok=True)
    write_tracklist(project, timeline, tracks, placements)
    return MixResult(audio, tracks, placements, bed_i, round(gain, 2), settings.duck_db)


# ---------------------------------------------------------------- tracklist


def _clock(samples: int) -> str:
    """``HH:MM:SS.mmm`` of a sample count at 48 kHz (a music file has no timecode of its own)."""
    ms = samples * 1000 // AUDIO_RATE
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def record_frame(samples: int, rate: Rate) -> int:
    """The frame boundary nearest to sample ``samples`` of the cut (half up), as a record frame number: where a
    play that starts or ends there is cut in frames. Consecutive plays share the boundary, so their timecodes meet
    (an in at the frame holding the sample and an out after it overlapped them by a frame)."""
    exact = Fraction(samples) * rate.fraction / AUDIO_RATE
    return math.floor(exact + Fraction(1, 2))


def tracklist(project: Project, timeline: Timeline, tracks: Sequence[Track],
              placements: Sequence[Placement]) -> dict[str, Any]:  # fmt: skip
    """The music used, one entry per play in cut order: title (its tag, else the file name), file (relative to the
    project folder), record in/out timecode at the cut's rate (each at the frame boundary nearest its sample,
    ``record_frame``; out exclusive like an EDL's, so one play's out is the next one's in), the exact record and
    source samples at 48 kHz and the source in/out as ``HH:MM:SS.mmm`` of the track."""
    from .editorial import frames_to_timecode, timecode_to_frames

    rate = timeline.rate
    start = timecode_to_frames(timeline.record_start, rate)
    entries = []
    for i, p in enumerate(placements, start=1):
        t = tracks[p.track]
        entries.append({
            "index": i, "title": t.title, "file": os.path.relpath(t.path, project.root),
            "record_in": frames_to_timecode(start + record_frame(p.record_in, rate), rate),
            "record_out": frames_to_timecode(start + record_frame(p.record_out, rate), rate),
            "record_in_sample": p.record_in, "record_out_sample": p.record_out,
            "source_in": _clock(p.source_in), "source_out": _clock(p.source_out),
            "source_in_sample": p.source_in, "source_out_sample": p.source_out,
            "source_samples": t.samples,
        })  # fmt: skip
    settings = project.spec.music_settings()
    return {
        "project": project.name, "rate": [rate.num, rate.den], "record_start": timeline.record_start,
        "sample_rate": AUDIO_RATE, "cut_samples": timeline.total_samples(), "cut_frames": timeline.total_frames,
        "loop": bool(settings and settings.loop), "tracks": entries,
    }  # fmt: skip


def tracklist_text(data: dict[str, Any]) -> str:
    """The tracklist to read: one line per play (index, record in/out, source in/out, title, file)."""
    lines = [f"TRACKLIST: {data['project']}  ({len(data['tracks'])} play(s), cut of {data['cut_frames']} frames)", "",
             "#    RECORD IN    RECORD OUT   SOURCE IN     SOURCE OUT    TITLE  (FILE)"]  # fmt: skip
    for e in data["tracks"]:
        lines.append(f"{e['index']:03d}  {e['record_in']}  {e['record_out']}  {e['source_in']}  {e['source_out']}  "
                     f"{e['title']}  ({e['file']})")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_tracklist(project: Project, timeline: Timeline, tracks: Sequence[Track],
                    placements: Sequence[Placement]) -> dict[str, Any]:  # fmt: skip
    """Write ``<project>_tracklist.txt`` and ``.json`` beside the EDL (atomically); returns the JSON's content."""
    data = tracklist(project, timeline, tracks, placements)
    text_path, json_path = project.tracklist_paths()
    write_text_atomic(text_path, tracklist_text(data))
    write_text_atomic(json_path, json.dumps(data, indent=1))
    return data


def read_tracklist(project: Project) -> dict[str, Any]:
    """The tracklist the mix wrote (``write_tracklist``)."""
    return json.loads(project.tracklist_paths()[1].read_text(encoding="utf-8"))
