"""Stop signals (SIGINT, SIGTERM, SIGHUP): a request to stop at a safe point during training, an immediate
stop before it, and never an exception in the middle of writing a record."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# SIGHUP too: a closed terminal or ssh session is a request to stop, like SIGTERM (exit 129).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
stopping = False  # a StopRequest of this process has had a signal: it is saving and winding down


class StopRequest:
    """While open, stop signals are recorded (and passed to `on_signal`) instead of raising; the
    owner checks `signal_number` (or waits on `event`) where stopping is safe."""

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self.event = threading.Event()
        self.on_signal: Callable[[int], None] = lambda number: None

    def stop(self, number: int) -> None:
        # Called from a signal handler too, and a second signal can arrive while the first handler is inside
        # event.set(), holding its lock: only the first sets the event, so a handler never waits on a lock
        # its own thread holds (a sweep member once hung that way after its driver was killed).
        global stopping
        first = self.signal_number is None
        self.signal_number = number if first else self.signal_number
        stopping = True
        if first:
            self.event.set()

    def __enter__(self) -> StopRequest:
        self._previous = _install(self._handle)
        return self

    def _handle(self, number: int, frame: object) -> None:
        self.stop(number)
        self.on_signal(number)

    def __exit__(self, *exc: object) -> None:
        _restore(self._previous)


@contextmanager
def stop_at_once(repeats_wind_down: bool = False) -> Iterator[None]:
    """Until a StopRequest takes over (reading input, importing TensorFlow, building the graph): a stop
    signal ends the process at once with one line and exit 128+N. Raising instead would surface inside
    whatever module was importing (numpy turns it into a RuntimeError). Records are written inside
    `signals_deferred`, so this never cuts one short: it leaves no run, or one whose lock is free
    (stale), which --resume continues.

    `repeats_wind_down` (sweep workers): a stop signal that comes after a StopRequest already has one is
    ignored, so the run that is saving and recording its stop finishes doing so. A worker's parent-death
    signal comes more than once (the kernel sends it as each thread of the dying driver exits), and the
    repeat used to land after training had stopped, ending the worker before it recorded the run."""

    stderr = os.dup(2)  # the real stderr: TensorFlow's import runs with fd 2 captured (scopelab.quiet_tf)

    def handle(number: int, frame: object) -> None:
        if repeats_wind_down and stopping:
            return
        os.write(stderr, f"Stopped: stopped by {signal.Signals(number).name} before training started.\n".encode())
        os._exit(128 + number)

    previous = _install(handle)
    try:
        yield
    finally:
        _restore(previous)
        os.close(stderr)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold stop signals back while a run directory and its first record are made, so a stop leaves
    either no run or a complete, resumable one; a held signal is delivered on the way out.

    Held by a handler that notes them, not by blocking them: a blocked signal goes to another thread that
    does not block it (TensorFlow's), and Python then runs the handler in force on the main thread anyway,
    in the middle of the section. A Python handler runs on the main thread whichever thread took it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = _install(lambda number, frame: held.append(number))
    try:
        yield
    finally:
        _restore(previous)
        for number in dict.fromkeys(held):  # each once, as the kernel keeps a pending signal
            signal.raise_signal(number)


def die_with_parent(parent: int) -> None:
    """Linux: ask the kernel for SIGTERM when the process that started this one dies (even by kill -9),
    so a sweep's members never run on as orphans; the SIGTERM checkpoints them as interrupted."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # here: only sweep members need it, and `list` should not pay for its import

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _install(handler: Callable[[int, object], None]) -> dict:
    previous = {}
    for number in STOP_SIGNALS:
        try:
            previous[number] = signal.signal(number, handler)
        except ValueError:  # not the main thread: leave signals to whoever owns them
            pass
    return previous


def _restore(previous: dict) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)
