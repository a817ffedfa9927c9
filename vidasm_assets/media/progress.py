"""Progress of FFmpeg steps, published to whoever listens in this process (the CLI's progress bars).

The runner reports every ``-progress`` block (twice a second): the step's label, the output time reached and the
step's expected length, in seconds. Listeners must be quick and thread-safe; a failing listener is dropped rather
than allowed to break a build.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

Listener = Callable[[str, float, float | None], None]
"""(label, seconds done, total seconds or None when unknown)"""

_LOCK = threading.Lock()
_LISTENERS: list[Listener] = []


def publish(label: str, done_s: float, total_s: float | None) -> None:
    with _LOCK:
        listeners = list(_LISTENERS)
    for fn in listeners:
        try:
            fn(label, done_s, total_s)
        except Exception:  # a display problem never fails a build
            with _LOCK, contextlib.suppress(ValueError):
                _LISTENERS.remove(fn)


@contextlib.contextmanager
def listening(fn: Listener) -> Iterator[None]:
    with _LOCK:
        _LISTENERS.append(fn)
    try:
        yield
    finally:
        with _LOCK, contextlib.suppress(ValueError):
            _LISTENERS.remove(fn)
