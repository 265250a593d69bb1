"""One owner per run and per sweep: an exclusive `flock` on a file in its directory.

The process that trains a run (or drives a sweep) takes the lock before it looks at the status and
holds it until it has written its last record. The kernel drops the lock when the process dies, however
it dies, so "is the lock held?" is the liveness test: a reused or absurd PID cannot fool it.

flock is advisory and per host: two processes on one machine always see each other's lock; on NFS
Linux maps flock onto NFS byte-range locks (so clients of one server see each other when the server's
lock manager works); other shared filesystems may keep flock local to each host.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from pathlib import Path

from scopelab.errors import InputError

LOCK_FILE = "owner.lock"
PROBE_RETRIES = 10


class Ownership:
    """Holds the lock while open; `with Ownership(path, what):` raises InputError when another process has it."""

    def __init__(self, directory: Path, what: str):
        self.path = directory / LOCK_FILE
        self.what = what  # "run 2026...-tied_ae", for the message
        self._fd: int | None = None

    def __enter__(self) -> Ownership:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise InputError(f"{self.path}: cannot open the lock file of {self.what} ({error.strerror}).") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError(f"{self.path}: the lock file of {self.what} is not a regular file.")
            _take(fd)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise InputError(f"{self.what} is in use by {holder}; wait for it to end.") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        # Who holds it, for the message a second owner gets (information only: the lock is the truth).
        import socket  # here: `list` imports this module to test liveness and needs no socket for that

        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None


def _take(fd: int) -> None:
    """An exclusive lock, retried for a moment: `is_owned` in another process (a `list`) holds a shared
    lock for microseconds, which must not pass for an owner. A real owner holds it for its whole life."""
    for _ in range(PROBE_RETRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.05)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _holder(fd: int) -> str:
    words = os.pread(fd, 200, 0).decode(errors="replace").split()
    if len(words) == 2 and words[0].isdigit():
        return f"another scopelab process (pid {words[0]} on {words[1]})"
    return "another scopelab process"


def is_owned(directory: Path) -> bool:
    """Whether a live process holds the directory's lock (never creates the file, never blocks)."""
    try:
        fd = os.open(directory / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        return error.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)  # also drops the shared lock, if we got it
    return False
