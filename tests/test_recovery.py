"""Recovering and failing cleanly (issue 14): damaged checkpoints, an edited config, kill -9 at random
steps, a full disk, a runs directory that turns read-only or vanishes, long TensorFlow errors, and bad
input refused before a run directory exists. Each through the CLI: exit code, one line on stderr, no
traceback, and the run directory's state afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cli, only_run, summary_of, tiny_autoencoder, write_config

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def one_line(stderr: str) -> str:
    # A success may add the CLI's "next: ..." hint; that is not part of the line under test.
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("next: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def scopelab(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scopelab", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, **kwargs)


def finished_run(tmp_path: Path, runs_dir: Path, mnist_dir: Path, **train) -> tuple[Path, Path]:
    """A completed run made to look crashed after its last checkpoint; and its config file."""
    changes = {"steps": 30, "log_every": 10, "checkpoint_every": 10, **train}
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir, train=changes))
    assert cli("run", config, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    run = only_run(runs_dir)
    as_failed(run)
    return run, config


def as_failed(run: Path) -> None:
    summary = summary_of(run)
    summary.update(status="failed", error="RuntimeError: simulated")
    (run / "summary.json").write_text(json.dumps(summary))


def states(run: Path) -> list[Path]:
    return sorted((run / "ckpt").glob("state-*.json"), key=lambda path: int(path.stem.split("-")[1]))


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, mnist_dir, runs_dir):
    run, _ = finished_run(tmp_path, runs_dir, mnist_dir)
    expected = (run / "metrics.csv").read_text()
    older, newest = states(run)
    newest.write_text(newest.read_text()[:40])  # truncated
    result = cli("run", "--resume", run.name, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert f"note: {newest} is not valid JSON, truncated or damaged" in one_line(result.stderr)
    assert f"resuming from the previous checkpoint, {older.name}" in result.stderr
    assert (run / "metrics.csv").read_text() == expected and summary_of(run)["status"] == "completed"
    as_failed(run)
    newest = states(run)[-1]
    (run / "ckpt" / f"{json.loads(newest.read_text())['checkpoint']}.index").unlink()  # the current .index gone
    result = cli("run", "--resume", run.name, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0 and "that are missing or empty; resuming from the previous" in one_line(result.stderr)
    assert (run / "metrics.csv").read_text() == expected


def test_no_usable_checkpoint_is_one_line_and_restart_starts_over(tmp_path, mnist_dir, runs_dir):
    run, _ = finished_run(tmp_path, runs_dir, mnist_dir)
    expected = (run / "metrics.csv").read_text()
    for state in states(run):
        state.write_text("{")
    before = (run / "summary.json").read_text()
    result = cli("run", "--resume", run.name, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert f"{states(run)[-1]} is not valid JSON" in line and "no earlier checkpoint is usable" in line
    assert f"scopelab run --resume {run.name} --restart" in line
    assert (run / "summary.json").read_text() == before
    result = cli("run", "--resume", run.name, "--restart", "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.stderr
    summary = summary_of(run)
    assert summary["status"] == "completed" and summary["restarted"] == 1 and summary.get("error") is None
    assert (run / "metrics.csv").read_text() == expected  # the same seed from step 0: the same numbers
    assert len(states(run)) == 2


def test_an_edited_config_is_refused_on_resume(tmp_path, mnist_dir, runs_dir):
    run, _ = finished_run(tmp_path, runs_dir, mnist_dir)
    config = run / "config.yaml"
    edited = config.read_text().replace("steps: 30", "steps: 40").replace("learning_rate: 0.1", "learning_rate: 0.5")
    config.write_text(edited)
    before = (run / "summary.json").read_text()
    result = cli("run", "--resume", run.name, "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert "config.yaml was edited after its checkpoint was made (train.learning_rate, train.steps differ)" in one_line(
        result.stderr
    )
    assert (run / "summary.json").read_text() == before


def wait_for_checkpoint(runs: Path, process: subprocess.Popen, position: int) -> int:
    """Wait until the process has saved a checkpoint at `position` or later; the newest position saved."""
    while True:
        saved = [int(path.stem.split("-")[1]) for path in runs.glob("*/ckpt/state-*.json")]
        if saved and max(saved) >= position:
            return max(saved)
        assert process.poll() is None, f"the run ended (exit {process.returncode}) before step {position}"
        time.sleep(0.01)  # polling for the event, not waiting for time to pass


def test_kill_drill_resumes_to_the_same_metrics_and_leaves_two_checkpoints(tmp_path, mnist_dir):
    config = write_config(
        tmp_path / "c.yaml", tiny_autoencoder(mnist_dir, train={"steps": 60, "log_every": 5, "checkpoint_every": 1})
    )
    # The reference and the last resume run in this process (no TensorFlow import each); the killed ones cannot.
    straight = cli("run", config, "--runs-dir", tmp_path / "straight", "--quiet")
    assert straight.exit_code == 0, straight.output
    runs = tmp_path / "killed"
    process = scopelab("run", config, "--runs-dir", runs, "--quiet")
    # Each kill lands right after the run (or its resume) has saved a checkpoint 12 steps past the last
    # kill's: the next step's checkpoint write is then under way. Chosen by the run's own progress, never
    # by a clock, so however slow the machine, the 61-step run cannot finish before the third kill.
    newest = -4
    for kill in range(3):
        newest = wait_for_checkpoint(runs, process, newest + 12)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if kill < 2:
            process = scopelab("run", "--resume", only_run(runs).name, "--runs-dir", runs, "--quiet")
    finished = cli("run", "--resume", only_run(runs).name, "--runs-dir", runs, "--quiet")
    assert finished.exit_code == 0, finished.output
    run = only_run(runs)
    assert (run / "metrics.csv").read_text() == (only_run(tmp_path / "straight") / "metrics.csv").read_text()
    assert summary_of(run)["status"] == "completed" and summary_of(run)["resumed"] == 3
    kept = [json.loads(state.read_text())["checkpoint"] for state in states(run)]
    assert len(kept) == 2
    expected = {f"state-{name.split('-')[1]}.json" for name in kept}
    expected |= {f"{name}{suffix}" for name in kept for suffix in (".index", ".data-00000-of-00001")}
    assert {path.name for path in (run / "ckpt").iterdir()} == expected
    assert not [path for path in run.iterdir() if path.name.endswith(".tmp")]


# --- disk full, read-only, vanished -------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of the given size, mounted for the test (root only), unmounted after."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    mounts = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk{len(mounts)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_full_disk_fails_in_one_line_and_leaves_a_resumable_run(tmp_path, mnist_dir, small_disk):
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir, train={"checkpoint_every": 10}))
    runs = small_disk("160k") / "runs"  # room for the records, not for checkpoints of 200 KB
    result = cli("run", config, "--runs-dir", runs, "--quiet")
    assert result.exit_code == 1
    assert "No space left on device" in one_line(result.stderr)
    run = only_run(runs)
    assert summary_of(run)["status"] in ("failed", "running")  # failed, or stale when even that could not be written
    assert not [path for path in run.rglob("*") if path.name.endswith(".tmp") or "tempstate" in path.name]
    moved = tmp_path / "roomy"
    shutil.copytree(runs, moved)
    result = cli("run", "--resume", run.name, "--runs-dir", moved, "--quiet")
    assert result.exit_code == 0 and summary_of(moved / run.name)["status"] == "completed"
    tiny = small_disk("8k") / "runs"  # not even room for the record: no run is left behind
    result = cli("run", config, "--runs-dir", tiny, "--quiet")
    assert result.exit_code == 1 and "No space left on device" in one_line(result.stderr)
    assert [path.name for path in tiny.iterdir() if path.name != ".scopelab-runs"] == []  # the marker may be there


def wait_for_training(runs: Path, process: subprocess.Popen) -> Path:
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        found = list(runs.glob("*/metrics.csv")) if runs.exists() else []
        if found:
            return found[0].parent
        time.sleep(0.05)
    raise AssertionError("the run did not start training")


def test_a_read_only_runs_directory_is_refused_in_one_line(tmp_path, mnist_dir, small_disk):
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir))
    disk = small_disk("20m")
    assert cli("run", config, "--runs-dir", disk / "runs", "--quiet").exit_code == 0
    run = only_run(disk / "runs")
    as_failed(run)
    # Remounting read-only under a live run is refused by the kernel (its files are open for writing).
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    result = cli("run", config, "--runs-dir", disk / "runs")
    assert result.exit_code == 2 and "cannot make run directories" in one_line(result.stderr)
    assert "Read-only file system" in result.stderr
    result = cli("run", "--resume", run.name, "--runs-dir", disk / "runs")
    assert result.exit_code == 2 and "Read-only file system" in one_line(result.stderr)
    assert [path.name for path in (disk / "runs").iterdir() if path.name != ".scopelab-runs"] == [run.name]


def test_a_run_directory_removed_mid_run_fails_in_one_line(tmp_path, mnist_dir):
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir, train={"steps": 100000, "log_every": 10}))
    process = scopelab("run", config, "--runs-dir", tmp_path / "runs", "--quiet")
    run = wait_for_training(tmp_path / "runs", process)
    run.rename(tmp_path / "elsewhere")  # gone at once: rmtree races the run's next write into the directory
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and "No such file or directory" in one_line(stderr)
    assert [path.name for path in (tmp_path / "runs").iterdir()] == [".scopelab-runs"]  # the marker only


def test_a_long_tensorflow_error_is_one_line_everywhere_and_whole_in_the_log(tmp_path, mnist_dir, runs_dir,
                                                                              monkeypatch):
    import tensorflow as tf

    import scopelab.trainer

    def out_of_memory(*args, **kwargs):
        text = "OOM when allocating tensor with shape[784,32]\n\t [[node encoder/MatMul]]\n" + "Hint: ...\n" * 30
        raise tf.errors.ResourceExhaustedError(None, None, text)

    monkeypatch.setattr(scopelab.trainer, "train", out_of_memory)
    result = cli("run", write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir)), "--runs-dir", runs_dir)
    assert result.exit_code == 1
    reason = "ResourceExhaustedError: OOM when allocating tensor with shape[784,32]"
    assert one_line(result.stderr).endswith(f"failed: {reason}")
    run = only_run(runs_dir)
    assert summary_of(run)["error"] == reason
    assert "[[node encoder/MatMul]]" in (run / "log.txt").read_text()
    listed = json.loads(cli("list", "--runs", "--format", "json", "--runs-dir", runs_dir).stdout)["runs"]
    assert "\n" not in listed[0]["reason"]


# --- bad input refused before a run directory exists --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--set", "train.learning_rate=.inf"], "key 'train.learning_rate' is inf; expected a finite number"),
        (["--set", "model.init_std=.inf"], "key 'model.init_std' is inf; expected a finite number"),
        (["--set", "train.learning_rate=.nan"], "expected a finite number"),
        (["--set", "train.seed=2147483648"], "expected an integer from 0 to 2147483647"),
        (["--set", "name=" + "n" * 300], "expected at most 200 letters"),
        (["--set", "model.hidden_size=100000000"], "its model needs about"),
        (["--threads", "10000"], "10000 is not in the range 0<=x<=256"),
    ],
)
def test_bad_input_is_refused_before_a_run_directory_exists(tmp_path, mnist_dir, runs_dir, args, fragment):
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir))
    result = cli("run", config, *args, "--runs-dir", runs_dir)
    assert result.exit_code == 2 and fragment in result.stderr and "Traceback" not in result.stderr
    assert not runs_dir.exists()


def test_an_unusable_runs_directory_is_refused(tmp_path, mnist_dir):
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir))
    result = cli("run", config, "--runs-dir", "/proc")
    assert result.exit_code == 2 and "/proc: cannot make run directories" in one_line(result.stderr)
