"""The basics' fallbacks, each on the path a normal run never takes: TensorFlow's chatter replayed when its
import fails, memory unknown without /proc, stop signals left alone off the main thread, `builtin:NAME`."""

from __future__ import annotations

import os
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


def test_builtin_prefix_names_only_a_built_in():
    assert resolve_config("builtin:tied_ae") == builtin_path("tied_ae")
    with pytest.raises(InputError, match="'builtin:tied_aa': there is no built-in config 'tied_aa' .*tied_ae"):
        resolve_config("builtin:tied_aa")
