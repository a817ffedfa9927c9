"""One build at a time per project: an advisory lock file in the project's cache.

``fcntl.flock`` on ``<project>/05_Cache/.build.lock``: released by the kernel when the holder exits, however it
exits (``kill -9`` included), so a crashed build never leaves a stale lock. Shared storage: NFSv4 and SMB honour
it. The lock file is created once and never written (a build with nothing to do writes nothing); who holds it
is read from the kernel's lock table, so a waiting build can say what it waits for.
"""

from __future__ import annotations

import contextlib
import fcntl
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


class LockError(VidasmError):
    """The project's lock file cannot be made or opened (a read-only ``05_Cache``)."""


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
    """Who holds the lock on ``path``, from the kernel's own table (``/proc/locks``, Linux): the lock file itself
    is never written, so taking it changes nothing on disk. None when the holder cannot be seen (another host on
    shared storage, or no /proc)."""
    try:
        st = path.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == dev and fields[4].isdigit():
            pid = int(fields[4])
            if pid == os.getpid():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                since = Path(f"/proc/{pid}").stat().st_mtime
            except OSError:
                cmd, since = "a build", time.time()
            what = "vidasm build" if "vidasm" in cmd and "build" in cmd else cmd.strip()[:60] or "a build"
            return Holder(socket.gethostname(), pid, since, what)
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
    Ctrl-C stays prompt), or raise ``LockBusyError`` naming the holder when ``wait`` is False. A lock file this
    user may only read is locked through a read-only descriptor (``flock`` needs no write access, on local
    disks); one that cannot be made or opened raises ``LockError`` naming it and the cause."""
    path = cache_dir / LOCK_NAME
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:
            fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise LockError(
            f"{path}: cannot take the project's build lock ({exc.strerror or exc}): {cache_dir} must be writable by "
            "the user who builds",
            path=path,
        ) from exc
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
        yield
    finally:
        os.close(fd)  # releases the lock
