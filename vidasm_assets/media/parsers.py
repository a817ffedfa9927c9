"""Parsers for FFmpeg's text output, kept pure so they can be tested on captured output."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from .commands import LoudnessMeasurement


def _num(value: str | float) -> float:
    v = str(value).strip()
    if v in {"-inf", "inf", "nan", "-nan"}:
        return float(v.replace("-nan", "nan"))
    return float(v)


def parse_loudnorm_json(stderr: str) -> dict[str, str]:
    """The last JSON object loudnorm printed (it prints after its ``[Parsed_loudnorm...]`` line)."""
    starts = [m.start() for m in re.finditer(r"^\{\s*$", stderr, re.M)]
    for start in reversed(starts):
        end = stderr.find("}", start)
        if end == -1:
            continue
        try:
            data = json.loads(stderr[start : end + 1])
        except json.JSONDecodeError:
            continue
        if "input_i" in data:
            return data
    raise ValueError("no loudnorm JSON found in FFmpeg output")


def parse_loudness_measurement(stderr: str) -> LoudnessMeasurement:
    d = parse_loudnorm_json(stderr)
    return LoudnessMeasurement(
        input_i=_num(d["input_i"]),
        input_tp=_num(d["input_tp"]),
        input_lra=_num(d["input_lra"]),
        input_thresh=_num(d["input_thresh"]),
        target_offset=_num(d["target_offset"]),
    )


@dataclass(frozen=True)
class LoudnormResult:
    output_i: float
    output_tp: float
    output_lra: float
    normalization_type: str


def parse_loudnorm_result(stderr: str) -> LoudnormResult:
    d = parse_loudnorm_json(stderr)
    return LoudnormResult(
        _num(d["output_i"]), _num(d["output_tp"]), _num(d["output_lra"]), d.get("normalization_type", "")
    )


@dataclass(frozen=True)
class Ebur128Summary:
    integrated: float
    lra: float
    true_peak: float | None


def parse_ebur128_summary(stderr: str) -> Ebur128Summary:
    """The ``Summary:`` block ebur128 prints at the end; -inf integrated means silence."""
    idx = stderr.rfind("Summary:")
    if idx == -1:
        raise ValueError("no ebur128 summary in FFmpeg output")
    block = stderr[idx:]
    i = re.search(r"I:\s*(-?inf|-?[\d.]+)\s*LUFS", block)
    lra = re.search(r"LRA:\s*(-?inf|-?[\d.]+)\s*LU\b", block)
    tp = re.search(r"True peak:\s*Peak:\s*(-?inf|-?[\d.]+)\s*dBFS", block, re.S)
    if not i:
        raise ValueError("ebur128 summary has no integrated loudness")
    return Ebur128Summary(_num(i[1]), _num(lra[1]) if lra else math.nan, _num(tp[1]) if tp else None)


def parse_progress(lines: list[str]) -> dict[str, str]:
    """Fold ``key=value`` lines of one ``-progress`` block into a dict."""
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep:
            out[key] = value
    return out


def progress_seconds(block: dict[str, str]) -> float | None:
    """Output time reached, from ``out_time_us`` (microseconds; FFmpeg prints N/A before the first frame)."""
    for key, scale in (("out_time_us", 1e-6), ("out_time_ms", 1e-6)):
        value = block.get(key, "")
        if value.lstrip("-").isdigit():
            return max(0.0, int(value) * scale)
    return None


class ProgressSteps:
    """Turns a stream of times into percent milestones, so the run log gets a line per step, not per frame."""

    def __init__(self, total_seconds: float | None, step: int = 10) -> None:
        self.total = total_seconds if total_seconds and total_seconds > 0 else None
        self.step = step
        self.last = -1

    def update(self, seconds: float | None, done: bool = False) -> int | None:
        if self.total is None:
            return None
        pct = 100 if done else min(99, int(100 * (seconds or 0.0) / self.total))
        milestone = pct - pct % self.step if pct < 100 else 100
        if milestone > self.last:
            self.last = milestone
            return milestone
        return None
