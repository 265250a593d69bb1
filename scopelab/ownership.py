"""One owner per run and per sweep, and one writer at a time of a shared record: `flock`.

The process that trains a run (or drives a sweep) takes its lock before it looks at the status and holds it
until it has written its last record. The kernel drops the lock when the process dies, however it dies, so
"is the lock held?" is the liveness test: a reused or absurd PID cannot fool it.

The owner locks two things: the directory itself (an open descriptor of it) and the file owner.lock in it,
which also says who holds it. Either one held means live. The directory lock is what survives a deleted
owner.lock: deleting a file cannot release a lock on its directory, and a second owner that found owner.lock
gone and made a new one still finds the directory locked. The file lock is what other hosts see on NFS,
where Linux maps flock on a file onto the server's byte-range locks but keeps a directory's flock local.

flock is advisory and per host: two processes on one machine always see each other's locks; on NFS, clients
of one server see each other's file lock when the server's lock manager works (not a deleted owner.lock);
other shared filesystems may keep flock local to each host.

`exclusive` is the other lock: held for a moment around a read-modify-write (annotations, the trash, a sweep
record), waited for rather than refused, so N concurrent writers keep all N changes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scopelab.errors import InputError

LOCK_FILE = "owner.lock"
PROBE_RETRIES = 10
FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | FILE_FLAGS


class Ownership:
    """Holds the locks while open; `with Ownership(path, what):` raises InputError when another process has them."""

    def __init__(self, directory: Path, what: str):
        self.directory = directory
        self.path = directory / LOCK_FILE
        self.what = what  # "run 2026...-tied_ae", for the message
        self._fds: list[int] = []

    def __enter__(self) -> Ownership:
        try:
            # The directory first: with owner.lock deleted under a live owner, a second one stops here,
            # before it makes a new owner.lock or writes its own pid into it.
            for path, flags in ((self.directory, DIRECTORY_FLAGS), (self.path, FILE_FLAGS | os.O_RDWR | os.O_CREAT)):
                self._fds.append(self._open(path, flags))
                _take(self._fds[-1])
        except BlockingIOError:
            holder = self._holder()
            self.__exit__()
            raise InputError(f"{self.what} is in use by {holder}; wait for it to end.") from None
        except BaseException:
            self.__exit__()
            raise
        # Who holds it, for the message a second owner gets (information only: the locks are the truth).
        import socket  # here: `list` imports this module to test liveness and needs no socket for that

        fd = self._fds[-1]
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._fds:
            os.close(self._fds.pop())  # closing the last descriptor releases its lock

    def _open(self, path: Path, flags: int) -> int:
        try:
            fd = os.open(path, flags | os.O_NONBLOCK, 0o644)
        except OSError as error:
            raise InputError(f"{path}: cannot open it to lock {self.what} ({error.strerror}).") from None
        if not _expected_kind(fd, flags):
            os.close(fd)
            raise InputError(f"{path}: cannot lock {self.what}: it is not a regular file.")
        return fd

    def _holder(self) -> str:
        words = []
        try:  # owner.lock may be gone: then only the directory's lock told
            fd = os.open(self.path, FILE_FLAGS | os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            fd = None
        if fd is not None:
            if _expected_kind(fd, FILE_FLAGS):
                words = os.pread(fd, 200, 0).decode(errors="replace").split()
            os.close(fd)
        if len(words) == 2 and words[0].isdigit():
            return f"another scopelab process (pid {words[0]} on {words[1]})"
        return "another scopelab process"


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


def is_owned(directory: Path) -> bool:
    """Whether a live process holds the directory's or its owner.lock's lock (never creates, never blocks)."""
    return _locked(directory, DIRECTORY_FLAGS) or _locked(directory / LOCK_FILE, FILE_FLAGS | os.O_RDONLY)


def _expected_kind(fd: int, flags: int) -> bool:
    """A directory where one was asked for (O_DIRECTORY makes sure), else a regular file: never a FIFO or device."""
    return bool(flags & os.O_DIRECTORY) or stat.S_ISREG(os.fstat(fd).st_mode)


def _locked(path: Path, flags: int) -> bool:
    try:
        fd = os.open(path, flags | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not _expected_kind(fd, flags):
            return False
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        return error.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)  # also drops the shared lock, if we got it
    return False


@contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """This process alone holds the lock file at `path` while inside: waits for another holder to finish.

    The lock file is made when missing and never deleted. Should it be deleted or replaced anyway while we
    wait, we would hold a lock on a file nobody else can find: so once locked, check that `path` still is
    the file we locked, and lock the new one when it is not."""
    while True:
        try:
            fd = os.open(path, FILE_FLAGS | os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o644)
        except OSError as error:
            raise InputError(f"{path}: cannot open it to lock {what} ({error.strerror}).") from None
        try:
            if not _expected_kind(fd, FILE_FLAGS):
                raise InputError(f"{path}: cannot lock {what}: it is not a regular file.")
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = os.fstat(fd)
            current = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if (locked.st_dev, locked.st_ino) == (current.st_dev, current.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)
