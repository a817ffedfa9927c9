"""A generated sequence for music videos: project.json ``generate`` (``project.GenerateSettings``).

The cut is exactly the music's length in timeline frames (``music_frames``: the tracks played once, one after
another, floored to whole frames so the picture never outruns the music), filled with uses of the project's shots
drawn by a seeded pseudo-random generator (Python's ``random.Random(seed)``, Mersenne Twister: the same seed and
the same inputs give the same sequence on every machine and Python version, which is what keeps the build
make-like; a new seed gives another). Each use:

- is a shot of the project (every shot folder, natural order, as without a ``sequence``) other than the one before
  it (never the same shot twice in a row: a project of one shot can fill only a music shorter than one use, else
  it fails saying so);
- lasts a length drawn from ``cut_frames`` ``[min, max]`` (default one to three seconds of frames), no longer than
  the shot's render nor than what is left of the music: the last use is trimmed to land on the music's end;
- starts at a frame of the render drawn so the use fits in it, and is written as a trim (``in``/``out``, timeline
  frames of the render, ``ranges.py``), so each use is a range of a render and repeated shots share one encode.

The draws happen in a fixed order (shot, then length, then start) from the shot list and the renders' lengths,
so a new render of the same length keeps the sequence, and a longer or shorter one only changes what follows
from that shot's own draws.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import InvalidMediaError, MediaNotFoundError, ProjectConfigError
from .limits import regular_file
from .probe import probe
from .project import PROJECT_FILE, GenerateSettings, Project, ShotRef, select_take
from .ranges import Frames
from .rates import AUDIO_RATE, Rate

DEFAULT_CUT_SECONDS = (1, 3)
"""A use's length when ``cut_frames`` is not given: one to three seconds of timeline frames."""


@dataclass(frozen=True)
class Use(Frames):
    """One generated use: its range of the shot's render in timeline frames (``start``, ``end`` exclusive;
    ``frames`` its length) and the shot."""

    start: int
    end: int
    shot: str


def cut_range(settings: GenerateSettings, rate: Rate) -> tuple[int, int]:
    """``cut_frames`` or the default (``DEFAULT_CUT_SECONDS`` at the rate's nominal frames per second)."""
    if settings.cut_frames is not None:
        return settings.cut_frames
    return DEFAULT_CUT_SECONDS[0] * rate.nominal, DEFAULT_CUT_SECONDS[1] * rate.nominal


def generate(
    shots: Sequence[str], lengths: Mapping[str, int], total: int, *, seed: int, cut_frames: tuple[int, int]
) -> list[Use]:
    """Fill ``total`` timeline frames with uses of ``shots`` (``lengths``: each render's frames), never the same
    shot twice in a row; ``ValueError`` saying why when it cannot (no shot, one shot for more than one use)."""
    if total <= 0:
        return []
    if not shots:
        raise ValueError("the project has no shot to draw from")
    rng = random.Random(seed)
    lo, hi = cut_frames
    uses: list[Use] = []
    left = total
    while left > 0:
        choices = [s for s in shots if not uses or s != uses[-1].shot]
        if not choices:
            raise ValueError(
                f"the project has one shot ({shots[0]}) and the music needs more than one use of it ({total} frames, "
                f"a use at most {min(hi, lengths[shots[0]])}); a shot never follows itself: add shots or shorten "
                "the music"
            )
        shot = rng.choice(choices)
        frames = min(rng.randint(lo, hi), lengths[shot], left)
        start = rng.randint(0, lengths[shot] - frames)
        uses.append(Use(start, start + frames, shot))
        left -= frames
    return uses


def music_frames(project: Project, rate: Rate) -> int:
    """The music's length in timeline frames: its tracks once, one after another, by their headers' durations
    (exact for PCM and FLAC; for compressed formats within a codec frame), floored to whole frames. The mix
    loops or trims the decoded music to the cut's samples in any case."""
    samples = 0
    for path in project.music_tracks():
        regular_file(path, MediaNotFoundError, InvalidMediaError, "a music track")  # a FIFO would block the probe
        info = probe(path)
        if not info.audio:
            raise ProjectConfigError(f"{path}: music track has no audio stream", path=path)
        a = info.audio[0]
        if a.samples is not None and a.sample_rate:
            samples += a.samples * AUDIO_RATE // a.sample_rate
        else:
            samples += int((a.duration or info.duration) * AUDIO_RATE)
    return samples * rate.num // (AUDIO_RATE * rate.den)


def generated_refs(project: Project) -> list[ShotRef]:
    """The project's sequence when project.json says ``generate``: every shot folder (natural order) drawn from,
    each render's length from its header, the music's length (``music_frames``); ``ProjectConfigError`` naming
    project.json and the field when there is no music or the shots cannot fill it."""
    from .shots import shot_frames  # shots imports project: late

    settings = project.spec.generate
    assert settings is not None
    pj = project.root / PROJECT_FILE
    if not project.music_tracks():
        raise ProjectConfigError(
            f"{pj}: field 'generate': a generated sequence fills the music's length, but the project has no music "
            "(add files to music/ or list them in music.tracks)",
            path=pj,
        )
    rate = project.spec.rate
    shots = [s for s in project.shot_folders() if not project.pending_folder(s)]
    lengths = {s: shot_frames(probe(select_take(project.shot_dir(s), s).path), rate) for s in shots}
    try:
        uses = generate(shots, lengths, music_frames(project, rate), seed=settings.seed,
                        cut_frames=cut_range(settings, rate))  # fmt: skip
    except ValueError as exc:
        raise ProjectConfigError(f"{pj}: field 'generate': {exc}", path=pj) from exc
    return [ShotRef(u.shot, in_=u.start, out=u.end) for u in uses]
