"""SIGINT and SIGTERM as a request to stop at a safe point, never an exception in the middle of a write."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


class StopRequest:
    """While open, SIGINT/SIGTERM are recorded (and passed to `on_signal`) instead of raising; the
    owner checks `signal_number` (or waits on `event`) where stopping is safe."""

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self.event = threading.Event()
        self.on_signal: Callable[[int], None] = lambda number: None

    def stop(self, number: int) -> None:
        self.signal_number = number
        self.event.set()

    def __enter__(self) -> StopRequest:
        self._previous = {}
        for number in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[number] = signal.signal(number, self._handle)
            except ValueError:  # not the main thread: leave signals to whoever owns them
                pass
        return self

    def _handle(self, number: int, frame: object) -> None:
        self.stop(number)
        self.on_signal(number)

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
