"""Exact frame rates and frame/sample arithmetic.

Time on the timeline is frames at a rational rate, never float seconds: 29.97 is 30000/1001, and the
audio length of N frames is computed in integers so joins never drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

AUDIO_RATE = 48000


@dataclass(frozen=True, order=True)
class Rate:
    """A frame rate as an exact fraction."""

    num: int
    den: int = 1

    @classmethod
    def from_fps(cls, fps: float | str | Fraction) -> Rate:
        """Map a nominal rate (23.976, 29.97, 24...) to its exact fraction."""
        value = float(fps)
        for rate in TIMELINE_RATES:
            if abs(rate.fps - value) < 0.006:
                return rate
        frac = Fraction(str(fps)).limit_denominator(1001)
        return cls(frac.numerator, frac.denominator)

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.num, self.den)

    @property
    def fps(self) -> float:
        return self.num / self.den

    @property
    def nominal(self) -> int:
        """The integer timecode base (30 for 29.97)."""
        return round(self.num / self.den)

    @property
    def is_ntsc(self) -> bool:
        return self.den == 1001

    @property
    def ffmpeg(self) -> str:
        """Rate as FFmpeg accepts it exactly (``30000/1001``)."""
        return f"{self.num}/{self.den}" if self.den != 1 else str(self.num)

    @property
    def label(self) -> str:
        return f"{self.fps:.3f}".rstrip("0").rstrip(".") if self.den != 1 else str(self.num)

    @property
    def timescale(self) -> int:
        """Container time scale giving an integral tick count per frame (1000 or 1001 ticks)."""
        return self.nominal * 1000

    def frames_to_seconds(self, frames: int) -> Fraction:
        return Fraction(frames) * self.den / self.num

    def seconds_to_frames(self, seconds: float | Fraction) -> int:
        """Nearest whole frame count for a duration."""
        return round(Fraction(seconds) * self.num / self.den)

    def samples_for_frames(self, frames: int, sample_rate: int = AUDIO_RATE) -> int:
        """Audio samples that exactly span ``frames`` frames (rounded once, over the whole run)."""
        return round(Fraction(frames) * sample_rate * self.den / self.num)

    def __str__(self) -> str:
        return self.label


TIMELINE_RATES: tuple[Rate, ...] = (
    Rate(24000, 1001),
    Rate(24),
    Rate(25),
    Rate(30000, 1001),
    Rate(30),
    Rate(48),
    Rate(50),
    Rate(60000, 1001),
    Rate(60),
)
ALLOWED_FPS: tuple[float, ...] = tuple(float(r.label) for r in TIMELINE_RATES)
"""The timeline rates as project.json writes them (23.976, 29.97...): one list, ``TIMELINE_RATES``."""
