"""One build at a time per project: an advisory lock file in the project's cache.

``fcntl.flock`` on ``<project>/05_Cache/.build.lock``: released by the kernel when the holder exits, however it
exits (``kill -9`` included), so a crashed build never leaves a stale lock. Shared storage: NFSv4 and SMB honour
it; the lock file also says who holds it (host, pid, since), so a waiting build can say what it waits for.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import VidasmError

LOCK_NAME = ".build.lock"
POLL_S = 0.5


class LockBusyError(VidasmError):
    """Another build holds the project's lock and we were told not to wait."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    since: float
    what: str

    def describe(self) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(self.since))
        return f"{self.what} (pid {self.pid} on {self.host}, since {when})"


def read_holder(path: Path) -> Holder | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8") or "{}")
        return Holder(str(d["host"]), int(d["pid"]), float(d["since"]), str(d.get("what", "a build")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def project_lock(
    cache_dir: Path,
    *,
    what: str = "vidasm build",
    wait: bool = True,
    on_wait: Callable[[Holder | None], None] | None = None,
) -> Iterator[None]:
    """Hold the project's build lock for the block. Busy: call ``on_wait`` once with the holder and poll (so
    Ctrl-C stays prompt), or raise ``LockBusyError`` naming the holder when ``wait`` is False."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = read_holder(path)
                if not wait:
                    who = holder.describe() if holder else "another build"
                    raise LockBusyError(f"{cache_dir.parent.name}: {who} is building this project", path=path) from None
                if not told and on_wait is not None:
                    on_wait(holder)
                    told = True
                time.sleep(POLL_S)
        me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(), "what": what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
