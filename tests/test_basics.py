"""The basics' fallbacks, each on the path a normal run never takes: TensorFlow's chatter replayed when its
import fails, memory unknown without /proc, stop signals left alone off the main thread, `builtin:NAME`."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from scopelab import footprint, quiet_tf, signals
from scopelab.config_source import builtin_path, resolve_config
from scopelab.errors import InputError


def test_a_failed_quiet_import_replays_what_it_wrote_to_stderr(capfd):
    with quiet_tf._captured_stderr():
        os.write(2, b"hidden chatter\n")
    assert capfd.readouterr().err == ""  # a body that succeeds: its stderr stays hidden
    with pytest.raises(ImportError), quiet_tf._captured_stderr():
        os.write(2, b"the reason the import failed\n")
        raise ImportError("no TensorFlow")
    assert "the reason the import failed" in capfd.readouterr().err


def test_available_memory_falls_back_to_the_physical_then_to_unknown(monkeypatch):
    def no_file(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr("builtins.open", no_file)
    physical = footprint.available_bytes()
    assert physical == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(footprint.os, "sysconf", no_sysconf)
    assert footprint.available_bytes() is None


def test_off_the_main_thread_stop_signals_are_left_alone():
    before = signals.signal.getsignal(signals.signal.SIGTERM)
    seen = []

    def body():
        with signals.signals_deferred(), signals.stop_at_once():
            seen.append(signals.signal.getsignal(signals.signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before] and signals.signal.getsignal(signals.signal.SIGTERM) == before


class _Stopped(Exception):
    pass


def _stop(number, frame):
    raise _Stopped


def test_a_stop_signal_in_a_deferred_section_waits_for_its_end_though_another_thread_takes_it():
    """TensorFlow's threads block no signals, so the kernel may hand a stop signal to one of them; Python
    still runs the handler on the main thread, in the middle of the section, which blocking the signal
    on the main thread (the old way) did not prevent."""
    done = threading.Event()
    bystander = threading.Thread(target=done.wait)  # a thread that blocks nothing, like TensorFlow's
    bystander.start()
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    previous_wakeup = signal.set_wakeup_fd(writer)  # written by whichever thread takes the signal
    previous_handler = signal.signal(signal.SIGTERM, _stop)
    steps = []
    try:
        with pytest.raises(_Stopped):
            with signals.signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                os.read(reader, 1)  # the signal has arrived; a handler due now runs within these steps:
                for step in range(100):
                    steps.append(step)
                steps.append("section ended")
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        signal.set_wakeup_fd(previous_wakeup)
        done.set()
        bystander.join()
        os.close(reader)
        os.close(writer)
    assert steps[-1:] == ["section ended"], f"the stop came {len(steps)} steps into the deferred section, not after it"


def test_builtin_prefix_names_only_a_built_in():
    assert resolve_config("builtin:tied_ae") == builtin_path("tied_ae")
    with pytest.raises(InputError, match="'builtin:tied_aa': there is no built-in config 'tied_aa' .*tied_ae"):
        resolve_config("builtin:tied_aa")
