"""How project.json (and presets.json) fields are validated and named in errors, one rule for every field.

**Numbers are JSON numbers, counts are JSON integers.** A count of frames, a frame number, a track number, a CRF
is a JSON integer (``6``; not ``"6"``, ``6.0`` or ``true``); a measure (fps, seconds, LUFS, dB) is a JSON number
(``24``, ``23.976``); a timecode is a string ``"HH:MM:SS:FF"``. Pydantic's lax mode would turn ``"6"`` into 6 in one
field while a custom validator refused ``"10"`` in another, and its messages for a string or a huge number named
neither the allowed range nor the unit: every numeric field goes through ``count`` or ``number`` instead, whose
message names the allowed values and what was given (``must be a whole number of frames (a JSON integer) from 1 to
10,368,000; got the string '6'``).

**Every error names its field's path**, ``sequence[3].transition_in.frames``: pydantic gives a field validator's
location; a check that needs several fields (a model validator) raises ``FieldError`` with the path of the field to
change, relative to the model it runs on, and ``problems`` joins the two.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from pydantic import BeforeValidator, ValidationError

FRAME_NUMBER_MAX = 24 * 60 * 60 * 120
"""The largest frame count or frame number project.json takes: a day at 120 fps (10,368,000). Timecode stops at
24 hours and no render or timeline rate is faster; anything larger is a typo, refused by name before any render is
looked at."""


class FieldError(ValueError):
    """A model validator's error about one field: ``loc`` is that field's path from the model (``("sequence", 3,
    "id")``), added to where pydantic ran the validator."""

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = tuple(loc)


def field_path(loc: Sequence[str | int]) -> str:
    """``("sequence", 3, "transition_in", "frames")`` as ``sequence[3].transition_in.frames``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the file's top level)"


UNION_TAGS = ("shot", "card")
"""The tags of the sequence entry union (``project.Entry``): pydantic puts them in the location, after the index."""


MUSIC_TAGS = ("settings", "switch")
"""The tags of project.json ``music``'s union (``project.MusicChoice``): its settings, or true/false."""


def _union_member(part: object) -> bool:
    """A location part pydantic adds for a member of a union (``int``, ``literal['all','first']``,
    ``function-before[check(), int]``): no field of project.json."""
    return isinstance(part, str) and (part in ("int", "str", "float", "bool") or "[" in part)


def problems(exc: ValidationError) -> list[str]:
    """Pydantic's errors as ``field 'sequence[3].transition_in.frames': reason`` (unknown keys: "unknown field")."""
    out = []
    for err in exc.errors():
        loc: tuple[Any, ...] = tuple(err["loc"])
        if len(loc) > 2 and loc[0] == "sequence" and loc[2] in UNION_TAGS:  # the entry kind's union tag
            loc = (*loc[:2], *loc[3:])
        if len(loc) > 1 and loc[0] == "music" and loc[1] in MUSIC_TAGS:  # music's union tag (settings or a switch)
            loc = (loc[0], *loc[2:])
        loc = tuple(p for p in loc if not _union_member(p))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            loc += cause.loc
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown field"
        out.append(f"field '{field_path(loc)}': {reason}")
    return out


def given(v: object) -> str:
    """What a field was given, for a message: ``the string '6'``, ``1e+20``, ``true``, ``a list``."""
    if isinstance(v, str):
        return f"the string {v!r}"
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, int | float):
        return repr(v)
    return {"list": "a list", "dict": "an object"}.get(type(v).__name__, type(v).__name__)


def _int_like(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def count(lo: int, hi: int = FRAME_NUMBER_MAX, what: str = "") -> BeforeValidator:
    """A JSON integer from ``lo`` to ``hi``: ``Annotated[int, count(1, what="frames")]``."""
    unit = f" of {what}" if what else ""

    def check(v: object) -> int:
        if not _int_like(v) or not lo <= v <= hi:  # type: ignore[operator]
            raise ValueError(f"must be a whole number{unit} (a JSON integer) from {lo:,} to {hi:,}; got {given(v)}")
        return v  # type: ignore[return-value]

    return BeforeValidator(check)


def number(lo: float, hi: float, unit: str = "", *, above: bool = False) -> BeforeValidator:
    """A JSON number from ``lo`` (more than ``lo`` with ``above``) to ``hi``: ``Annotated[float, number(-70, -5,
    "LUFS")]``."""
    span = f"more than {lo:g} and at most {hi:g}" if above else f"from {lo:g} to {hi:g}"
    units = f" of {unit}" if unit else ""

    def check(v: object) -> float:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or not ((lo < v) if above else (lo <= v)) or v > hi:  # type: ignore[operator]
            raise ValueError(f"must be a number{units} (a JSON number) {span}; got {given(v)}")
        return float(v)  # type: ignore[arg-type]

    return BeforeValidator(check)


def one_of(values: Sequence[float], unit: str = "", *, tolerance: float = 1e-6) -> BeforeValidator:
    """A JSON number equal to one of ``values`` within ``tolerance``; the value of ``values`` it matched is kept.

    For frame rates the tolerance is 0.006 (``rates.Rate.from_fps``'s): ``23.98``, the rounding NLEs and cameras
    print, is 23.976; no two timeline rates are closer than 0.024."""
    allowed = ", ".join(f"{a:g}" for a in values)
    units = f" {unit}" if unit else ""

    def check(v: object) -> float:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        match = next((a for a in values if ok and abs(v - a) < tolerance), None)  # type: ignore[operator]
        if match is None:
            raise ValueError(f"must be one of {allowed}{units} (a JSON number); got {given(v)}")
        return float(match)

    return BeforeValidator(check)
