"""Interrupt and resume, divergence, failures, concurrent runs: nothing lost, nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scopelab import data
from scopelab.checkpoints import saved_states
from scopelab.ownership import Ownership
from scopelab.runs import RunDir

from conftest import cli, interrupt_after, only_run, summary_of, tiny_autoencoder, tiny_mlp_pair, write_config
from conftest import start_scopelab as scopelab

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path, mnist_dir):
    """SIGINT on the autoencoder, SIGTERM on the MLP pair (in its second network); both resumed."""
    cases = [
        (
            tiny_autoencoder(mnist_dir, train={"steps": 400, "log_every": 50, "checkpoint_every": 70}),
            "step, loss = 150:",
            signal.SIGINT,
            130,
        ),
        (
            tiny_mlp_pair(
                mnist_dir,
                "shared",
                train={"log_every": 25, "checkpoint_every": 30},
                networks=[{**net, "steps": 150} for net in tiny_mlp_pair(mnist_dir, "shared")["networks"]],
            ),
            "step, loss, accuracy = 25:",
            signal.SIGTERM,
            143,
        ),
    ]
    for index, (config, marker, number, code) in enumerate(cases):
        path = write_config(tmp_path / f"case{index}.yaml", config)
        # The reference and the resume in this process (no TensorFlow import each); the stop needs its own.
        straight = cli("run", path, "--runs-dir", tmp_path / f"straight{index}", "--quiet")
        assert straight.exit_code == 0, straight.output
        runs = tmp_path / f"stopped{index}"
        if number == signal.SIGTERM:  # stop in the second network: pass network 1's marker first
            marker = "Network No.2"
        process = scopelab("run", path, "--runs-dir", runs, "--quiet")
        out, err = interrupt_after(process, marker, number)
        assert process.returncode == code
        run = only_run(runs)
        assert summary_of(run)["status"] == "interrupted"
        assert err.strip().splitlines()[-1].endswith(f"scopelab run --resume {run.name} --runs-dir {runs}")
        resumed = cli("run", "--resume", run.name[:12], "--runs-dir", runs, "--quiet")
        assert resumed.exit_code == 0, resumed.output
        expected = only_run(tmp_path / f"straight{index}")
        assert (run / "metrics.csv").read_text() == (expected / "metrics.csv").read_text()
        assert (run / "log.txt").read_text() == (expected / "log.txt").read_text()
        summary, reference = summary_of(run), summary_of(expected)
        assert summary["status"] == "completed" and summary["resumed"] == 1
        assert summary["metrics"] == reference["metrics"]
        # The resumed process continued from the signal's checkpoint and ran only the rest: identical
        # files alone would not show it, as training from scratch is deterministic too.
        network, steps = ("autoencoder", 400) if index == 0 else ("net2", 150)
        start = summary["started_from"]
        assert start["network"] == network and 0 < start["step"] <= steps
        assert summary["steps_run"] == steps + 1 - start["step"]
        assert reference["started_from"] == {"network": "autoencoder" if index == 0 else "net1", "step": 0}


def test_signal_exit_codes(tmp_path, mnist_dir):
    path = write_config(tmp_path / "long.yaml", tiny_autoencoder(mnist_dir, train={"steps": 5000, "log_every": 20}))
    for number, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        process = scopelab("run", path, "--runs-dir", tmp_path / number.name, "--quiet")
        interrupt_after(process, "step, loss = 20:", number)
        assert process.returncode == code
        run = only_run(tmp_path / number.name)
        summary = summary_of(run)
        assert summary["status"] == "interrupted" and summary["error"] == f"stopped by {number.name}"
        assert list((run / "ckpt").glob("state-*.json"))
        assert not list(run.glob(".*.tmp"))


def test_diverging_loss_stops_the_run(tmp_path, mnist_dir, runs_dir):
    config = tiny_mlp_pair(mnist_dir)
    config["networks"][0].update(optimizer="sgd", learning_rate=1.0e6, steps=50)
    result = cli("run", write_config(tmp_path / "div.yaml", config), "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 1
    assert "diverged: the loss of net1 became nan at step" in result.stderr
    run = only_run(runs_dir)
    summary = summary_of(run)
    assert summary["status"] == "diverged" and "at step" in summary["error"]
    assert (run / "metrics.csv").read_text().splitlines()[1].startswith("net1,0,")


def test_a_crash_is_recorded_as_failed_and_resumes_from_its_last_periodic_checkpoint(
    tmp_path, mnist_dir, runs_dir, monkeypatch
):
    config = write_config(tmp_path / "crash.yaml", tiny_autoencoder(mnist_dir, train={"checkpoint_every": 10}))
    original = data.Batches.batch
    asked: list[int] = []

    def failing(self, step):
        if step == 25:
            raise MemoryError("simulated")
        asked.append(step)
        return original(self, step)

    monkeypatch.setattr(data.Batches, "batch", failing)
    result = cli("run", config, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 1 and "failed: MemoryError: simulated" in result.stderr
    run = only_run(runs_dir)
    summary = summary_of(run)
    assert summary["status"] == "failed" and summary["error"] == "MemoryError: simulated"
    # Checkpoints every 10 steps: the newest before the crash at step 25 is the one after step 19.
    assert json.loads(saved_states(RunDir(run))[0].read_text())["step"] == 20
    monkeypatch.setattr(data.Batches, "batch", lambda self, step: asked.append(step) or original(self, step))
    asked.clear()
    assert cli("run", "--resume", run.name, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    assert asked == list(range(20, 31))  # the resumed process trained steps 20..30 and no others
    summary = summary_of(run)
    assert summary["started_from"] == {"network": "autoencoder", "step": 20} and summary["steps_run"] == 11
    straight = cli("run", config, "--runs-dir", tmp_path / "straight", "--quiet")
    reference = only_run(tmp_path / "straight")
    # Rows logged after the last checkpoint (step 20) were logged again on resume, but only once in the files.
    assert (run / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    assert (run / "log.txt").read_text() == (reference / "log.txt").read_text()
    assert summary["status"] == "completed" and straight.exit_code == 0
    assert summary_of(reference)["started_from"] == {"network": "autoencoder", "step": 0}
    assert summary_of(reference)["steps_run"] == 31


def test_a_completed_run_is_not_resumed(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "done.yaml", tiny_autoencoder(mnist_dir))
    cli("run", config, "--runs-dir", runs_dir, "--quiet")
    result = cli("run", "--resume", only_run(runs_dir).name, "--runs-dir", runs_dir)
    assert result.exit_code == 2 and "is completed; only an interrupted or failed run can be resumed" in result.stderr


def test_concurrent_runs_get_distinct_complete_directories(tmp_path, mnist_dir):
    config = write_config(tmp_path / "same.yaml", tiny_autoencoder(mnist_dir, train={"steps": 20}))
    runs = tmp_path / "runs"
    processes = [scopelab("run", config, "--runs-dir", runs, "--quiet", "--threads", "1") for _ in range(4)]
    codes = [process.wait(timeout=300) for process in processes]
    assert codes == [0, 0, 0, 0]
    directories = sorted(path for path in Path(runs).iterdir() if path.is_dir())  # not the runs directory's marker
    assert len(directories) == 4 and (runs / ".scopelab-runs").is_file()
    for run in directories:
        assert summary_of(run)["status"] == "completed" and summary_of(run)["run_id"] == run.name
        assert len((run / "metrics.csv").read_text().splitlines()) == 4
    outputs = {(run / "log.txt").read_text() for run in directories}
    assert len(outputs) == 1  # same config and seed: same numbers, whichever process ran it


@pytest.mark.parametrize("args", [(), ("configs/tied_ae.yaml", "--resume", "x")])
def test_config_xor_resume(args, tmp_path):
    result = cli("run", *args, "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "give a CONFIG to run, or --resume RUN" in result.stderr


def test_a_run_whose_owner_is_alive_is_not_resumed(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "live.yaml", tiny_autoencoder(mnist_dir))
    cli("run", config, "--runs-dir", runs_dir, "--quiet")
    run = only_run(runs_dir)
    summary = summary_of(run)
    summary.update(status="running", pid=99999999999)  # an absurd pid: the lock decides, not the pid
    (run / "summary.json").write_text(json.dumps(summary))
    with Ownership(run, "test"):  # this test's process holds the run, as a live trainer would
        result = cli("run", "--resume", run.name, "--runs-dir", runs_dir)
    assert result.exit_code == 2 and f"is in use by another scopelab process (pid {os.getpid()}" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and summary_of(run) == summary
    (run / "summary.json").write_text("[1, 2]")
    result = cli("run", "--resume", run.name, "--runs-dir", runs_dir)
    assert result.exit_code == 2 and "summary.json is missing or unreadable" in result.stderr


def test_ctrl_c_before_training_marks_the_run_interrupted(tmp_path, mnist_dir, runs_dir, monkeypatch):
    import scopelab.trainer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scopelab.trainer, "train", interrupted)
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir))
    result = cli("run", config, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 130 and "stopped by SIGINT" in result.stderr
    assert summary_of(only_run(runs_dir))["status"] == "interrupted"


def test_a_second_stop_signal_inside_the_first_handler_does_not_wait_on_its_lock():
    """A sweep member killed with its driver once hung for good: a second signal arrived while the first
    handler was inside Event.set(), holding the event's lock, and the second handler waited for it."""
    import threading

    from scopelab.signals import StopRequest

    request = StopRequest()
    request.stop(signal.SIGTERM)
    with request.event._cond:  # as if the first handler were still inside event.set()
        second = threading.Thread(target=request.stop, args=(signal.SIGHUP,), daemon=True)
        second.start()
        second.join(timeout=60)  # a bound: before the fix it never returned
        assert not second.is_alive(), "the second stop signal waited on the first handler's lock"
    assert request.signal_number == signal.SIGTERM and request.event.is_set()


WIND_DOWN = """
import os, signal, sys
from scopelab import signals
with signals.stop_at_once(repeats_wind_down=sys.argv[1] == "worker"):
    with signals.StopRequest() as request:
        os.kill(os.getpid(), signal.SIGTERM)
        request.event.wait()
    # Training has stopped and the run is recording its stop, outside the StopRequest: the same signal again.
    os.kill(os.getpid(), signal.SIGTERM)
    print("recorded", flush=True)
"""


@pytest.mark.parametrize(("process", "survives"), [("worker", True), ("run", False)])
def test_a_repeated_stop_signal_lets_a_sweep_worker_record_its_stopped_run(process, survives):
    """A worker's parent-death SIGTERM comes once per thread of its dying driver; a repeat that came after
    training had stopped ended the worker before the run recorded it (left `running`). A plain run still
    stops at once on a second signal there (the user asked twice)."""
    done = subprocess.run([sys.executable, "-c", WIND_DOWN, process], capture_output=True, text=True, timeout=120)
    if survives:
        assert (done.returncode, done.stdout) == (0, "recorded\n"), done.stderr
    else:
        assert done.returncode == 128 + signal.SIGTERM and done.stdout == "", done.stderr
