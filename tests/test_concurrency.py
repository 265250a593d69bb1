"""Concurrent commands on one store: each change to a run or sweep has one owner at a time (issue 21, items 3,
4, 5, 7 and 8). Every test starts 20 real `scopelab` processes, lets them go at once once each has imported
scopelab, and acts on events (a line printed, a lock held), never after a sleep. Records are written here
through the record types (no TensorFlow), except where a run has to be training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_manage import make_run, snapshot

from scopelab.ownership import LOCK_FILE, is_owned
from scopelab.runs import RunDir, SweepMember, SweepRecord
from scopelab.runs.directory import RECORDS_LOCK, TRASH_LOCK

from conftest import cli, only_run, summary_of, tiny_autoencoder, write_config

PROCESSES = 20
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
# The real CLI (as `python -m scopelab`), held at a barrier until the test releases every process at once.
AT_THE_BARRIER = (
    "import sys; from scopelab.cli import main; print('ready', flush=True); sys.stdin.readline(); "
    "main(sys.argv[1:], prog_name='scopelab')"
)
# What `run --resume` (and a new run) does before it reads the run's status: take the run's owner lock.
HOLD_OWNERSHIP = (
    "import sys; from pathlib import Path; from scopelab.ownership import Ownership\n"
    "with Ownership(Path(sys.argv[1]), 'run'):\n"
    "    print('held', flush=True); sys.stdin.readline()"
)


@dataclass
class Finished:
    args: tuple
    code: int
    stdout: str
    stderr: str


def together(*commands: tuple) -> list[Finished]:
    """Run each command in its own scopelab process, all let go at once; how each one ended."""
    return finish(commands, let_go(commands))


def let_go(commands: tuple) -> list[subprocess.Popen]:
    """Start each command in its own scopelab process and, once every one has imported scopelab, let them all go."""
    processes = [
        subprocess.Popen([sys.executable, "-c", AT_THE_BARRIER, *map(str, args)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        for args in commands
    ]
    try:
        for process in processes:
            assert process.stdout.readline() == "ready\n", process.stderr.read()
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
    except BaseException:
        finish(commands, processes)
        raise
    return processes


def finish(commands: tuple, processes: list[subprocess.Popen]) -> list[Finished]:
    """How each process ended (killed if it has not within two minutes)."""
    try:
        finished = []
        for args, process in zip(commands, processes):
            out, err = process.communicate(timeout=120)
            finished.append(Finished(args, process.returncode, out, err))
        return finished
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def one_line_refusal(result: Finished) -> str:
    """The stderr of a command that refused: exit 2, one line, no traceback."""
    assert result.code == 2, result
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result
    return result.stderr


def all_succeeded(results: list[Finished]) -> None:
    failed = [result for result in results if result.code != 0]
    assert not failed, f"{len(failed)} of {len(results)} failed, e.g. {failed[0]}"


def annotations(run: Path) -> dict:
    return json.loads((run / "annotations.json").read_text())


# --- annotations: read-modify-write under a lock ----------------------------------------------------------------


def test_twenty_concurrent_tags_keep_all_twenty(runs_dir):
    run = make_run(runs_dir, "20261201-100000-ae", "ae").path
    results = together(*(("tag", run.name, f"t{index}", "--runs-dir", runs_dir) for index in range(PROCESSES)))
    all_succeeded(results)
    assert sorted(annotations(run)["tags"]) == sorted(f"t{index}" for index in range(PROCESSES))
    assert [path.name for path in run.iterdir() if path.name.endswith(".tmp")] == []


def test_tags_and_a_note_at_once_keep_every_change(runs_dir):
    run = make_run(runs_dir, "20261201-100000-ae", "ae").path
    tags = [("tag", run.name, f"t{index}", "--runs-dir", runs_dir) for index in range(PROCESSES - 1)]
    results = together(*tags[: PROCESSES // 2], ("note", run.name, "kept", "--runs-dir", runs_dir),
                       *tags[PROCESSES // 2 :])
    all_succeeded(results)
    assert sorted(annotations(run)["tags"]) == sorted(f"t{index}" for index in range(PROCESSES - 1))
    assert annotations(run)["note"] == "kept"


HOLD_RECORDS_LOCK = (
    "import sys; from pathlib import Path; from scopelab.runs import RunDir\n"
    "with RunDir(Path(sys.argv[1])).records_locked():\n"
    "    print('held', flush=True); sys.stdin.readline()"
)


def waiting_for(lock: Path) -> int:
    """How many processes wait for a flock on this file (the kernel lists them in /proc/locks, marked ->)."""
    inode = f":{lock.stat().st_ino} "
    return sum(line.split(":", 1)[1].lstrip().startswith("->") and inode in line
               for line in Path("/proc/locks").read_text().splitlines())


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks to see who waits for a lock")
def test_a_records_lock_file_deleted_while_tags_wait_loses_no_tag(runs_dir):
    run = make_run(runs_dir, "20261201-100000-ae", "ae").path
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RECORDS_LOCK, str(run)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout.readline() == "held\n"
    lock = run / RECORDS_LOCK
    half = PROCESSES // 2
    first = [("tag", run.name, f"t{index}", "--runs-dir", runs_dir) for index in range(half)]
    waiting = let_go(first)
    while waiting_for(lock) < half:  # every one of them blocked on the old lock file
        assert all(process.poll() is None for process in waiting)
        time.sleep(0.01)
    lock.unlink()  # the first half waits on a file nobody else can find now
    second = [("tag", run.name, f"t{index}", "--runs-dir", runs_dir) for index in range(half, PROCESSES)]
    started = let_go(second)  # they make and lock a new file; both halves now go at once
    holder.communicate("done\n", timeout=60)
    results = finish(first, waiting) + finish(second, started)
    all_succeeded(results)
    assert sorted(annotations(run)["tags"]) == sorted(f"t{index}" for index in range(PROCESSES))


# --- the trash and the sweep record --------------------------------------------------------------------------


def a_sweep(runs_dir: Path, members: int, others: str) -> tuple[RunDir, list[str]]:
    """A sweep whose last member completed and whose others have the status `others` (interrupted: a resume
    would continue them); its directory and the members' run ids."""
    sweep_id = "20261202-090000-ae"
    records, run_ids = [], []
    for index in range(members):
        run_id = f"20261202-10{index:04d}-ae"
        status = "completed" if index == members - 1 else others
        make_run(runs_dir, run_id, "ae", status, sweep=sweep_id, sweep_member=index,
                 grid_point={"train.seed": index}, overrides={"train.seed": index})
        records.append(SweepMember(index, {"train.seed": index}, index, [f"train.seed={index}"], run_id, status))
        run_ids.append(run_id)
    sweep = RunDir(runs_dir / "sweeps" / sweep_id)
    sweep.path.mkdir(parents=True)
    sweep.write_text("config.yaml", "name: ae\nexperiment: autoencoder\n")
    sweep.write_sweep(SweepRecord(sweep_id, "ae", grid={"train.seed": [str(i) for i in range(members)]},
                                  status="interrupted", members=records))
    return sweep, run_ids


def test_concurrent_rm_of_sweep_members_keeps_every_mark_and_the_sweep_resumes(runs_dir):
    sweep, run_ids = a_sweep(runs_dir, PROCESSES + 1, others="interrupted")
    removed = run_ids[:PROCESSES]  # every interrupted member: a resume has nothing left to train
    all_succeeded(together(*(("rm", run_id, "--yes", "--runs-dir", runs_dir) for run_id in removed)))
    members = json.loads((sweep.path / "sweep.json").read_text())["members"]
    assert [member["run_id"] for member in members if member["removed"]] == removed
    assert sorted(path.name for path in (runs_dir / ".trash").iterdir()) == removed
    # A mark lost would send the resume after a run that is in the trash; with all kept, nothing is left to run.
    resumed = cli("sweep", "--resume", sweep.run_id, "--runs-dir", runs_dir)
    assert resumed.exit_code == 0, resumed.output
    assert "1 of 1 members completed (20 removed)" in resumed.stdout
    assert json.loads((sweep.path / "sweep.json").read_text())["status"] == "completed"


def test_rm_of_members_while_the_sweep_resumes_keeps_each_mark_it_reports(runs_dir):
    sweep, run_ids = a_sweep(runs_dir, PROCESSES, others="completed")
    removals = [("rm", run_id, "--yes", "--runs-dir", runs_dir) for run_id in run_ids[: PROCESSES - 1]]
    results = together(*removals[: PROCESSES // 2], ("sweep", "--resume", sweep.run_id, "--runs-dir", runs_dir),
                       *removals[PROCESSES // 2 :])
    resumed = next(result for result in results if result.args[0] == "sweep")
    assert resumed.code == 0, resumed
    record = json.loads((sweep.path / "sweep.json").read_text())
    assert record["status"] == "completed"
    removed = {member["run_id"] for member in record["members"] if member["removed"]}
    for result in results:
        if result is resumed:
            continue
        run_id = result.args[1]
        if result.code == 0:  # moved and marked: the resume read the mark, or never saw the run in its sweep
            assert run_id in removed and (runs_dir / ".trash" / run_id).is_dir()
        else:  # refused while the sweep was being driven: nothing moved, nothing marked
            assert "which is still running" in one_line_refusal(result)
            assert run_id not in removed and (runs_dir / run_id).is_dir()


def many_files_run(runs_dir: Path, run_id: str) -> Path:
    """A run with a checkpoint directory of many files, so that deleting it takes a while."""
    run = make_run(runs_dir, run_id, "ae").path
    (run / "ckpt").mkdir()
    for index in range(200):
        (run / "ckpt" / f"part-{index}").write_bytes(b"x" * 64)
    return run


def test_restore_while_purge_runs_restores_whole_runs_or_none(runs_dir):
    run_ids = [f"20261203-10{index:04d}-ae" for index in range(PROCESSES - 2)]
    for run_id in run_ids:
        many_files_run(runs_dir, run_id)
    assert cli("rm", *run_ids, "--yes", "--runs-dir", runs_dir).exit_code == 0
    expected = {run_id: snapshot(runs_dir / ".trash" / run_id) for run_id in run_ids}
    purges = [("purge", "--yes", "--runs-dir", runs_dir)] * 2
    restores = [("restore", run_id, "--runs-dir", runs_dir) for run_id in run_ids]
    results = together(purges[0], *restores, purges[1])
    for result in results:
        assert result.code in (0, 2) and "Traceback" not in result.stderr, result
        if result.args[0] == "purge":
            assert result.code == 0, result
        elif result.code == 2:  # purge got there first: the run is gone, and restore says so
            assert "no run" in one_line_refusal(result) and "in the trash" in result.stderr
        else:
            assert result.stdout.startswith("restored ")
    for result in results:
        if result.args[0] != "restore":
            continue
        run_id = result.args[1]
        restored = runs_dir / run_id
        if result.code == 0:  # whole, byte for byte: purge did not get into it half way
            assert snapshot(restored) == expected[run_id]
        else:
            assert not restored.exists()
        assert not (runs_dir / ".trash" / run_id).exists()


# --- rm and a run's owner ----------------------------------------------------------------------------------


def hold_ownership(run: Path) -> subprocess.Popen:
    """A process holding the run's owner lock, as a starting `run --resume` or a new run holds it."""
    process = subprocess.Popen([sys.executable, "-c", HOLD_OWNERSHIP, str(run)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=ENV)
    assert process.stdout.readline() == "held\n"
    return process


def release(process: subprocess.Popen) -> None:
    process.communicate("done\n", timeout=60)
    assert process.returncode == 0


def test_rm_refuses_a_run_being_resumed_or_created_whatever_its_record_says(runs_dir):
    resuming = make_run(runs_dir, "20261204-100000-ae", "ae", "interrupted").path  # the record says: not running
    creating = runs_dir / "20261204-110000-ae"  # made, owned, its first record not yet written
    creating.mkdir()
    (creating / "config.yaml").write_text("name: ae\n")
    owners = [hold_ownership(resuming), hold_ownership(creating)]
    try:
        before = snapshot(runs_dir)
        runs = [resuming.name, creating.name] * (PROCESSES // 2)
        for result in together(*(("rm", run_id, "--yes", "--runs-dir", runs_dir) for run_id in runs)):
            assert "is in use by another scopelab process" in one_line_refusal(result)
        after = snapshot(runs_dir)
        assert after.pop(TRASH_LOCK, b"") == b"" and after == before  # nothing but the (empty) lock file
    finally:
        for owner in owners:
            release(owner)
    assert cli("rm", resuming.name, creating.name, "--yes", "--runs-dir", runs_dir).exit_code == 0  # once free


# --- a run training --------------------------------------------------------------------------------------------


def start_training(tmp_path: Path, mnist_dir: Path, runs_dir: Path, **train) -> subprocess.Popen:
    """A real run of the tiny autoencoder; returns once it has logged its first step. Its output is read on
    from then on (a full pipe would stop it) and its errors go to a file."""
    config = write_config(tmp_path / "long.yaml", tiny_autoencoder(mnist_dir, train=train))
    with open(tmp_path / "stderr.txt", "w") as errors:
        process = subprocess.Popen([sys.executable, "-m", "scopelab", "run", str(config), "--runs-dir", str(runs_dir)],
                                   stdout=subprocess.PIPE, stderr=errors, text=True, env=ENV)
    for line in process.stdout:
        if line.startswith("step, loss ="):
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process
    process.wait()
    pytest.fail(f"the run did not start: {(tmp_path / 'stderr.txt').read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait()


def test_deleting_owner_lock_leaves_the_run_live_and_alone(tmp_path, mnist_dir, runs_dir):
    trainer = start_training(tmp_path, mnist_dir, runs_dir, steps=600, log_every=100, checkpoint_every=50)
    run = only_run(runs_dir)
    try:
        # Paused, the trainer holds its locks while every check below runs: none can race its end.
        trainer.send_signal(signal.SIGSTOP)
        (run / LOCK_FILE).unlink()
        assert is_owned(run)
        listed = json.loads(cli("list", "--format", "json", "--runs-dir", runs_dir).stdout)["runs"]
        assert [entry["status"] for entry in listed] == ["running"]
        resumes = together(*(("run", "--resume", run.name, "--runs-dir", runs_dir) for _ in range(PROCESSES)))
        for result in resumes:
            assert "is in use by another scopelab process" in one_line_refusal(result)
        trainer.send_signal(signal.SIGCONT)
        assert trainer.wait(timeout=300) == 0, (tmp_path / "stderr.txt").read_text()
    finally:
        stop(trainer)
    summary = summary_of(run)
    assert summary["status"] == "completed" and summary["resumed"] == 0 and summary["pid"] == trainer.pid


def test_tags_while_the_run_checkpoints_every_step_are_all_kept(tmp_path, mnist_dir, runs_dir):
    trainer = start_training(tmp_path, mnist_dir, runs_dir, steps=100000, log_every=1, checkpoint_every=1)
    run = only_run(runs_dir)
    try:
        results = together(*(("tag", run.name, f"t{index}", "--runs-dir", runs_dir) for index in range(PROCESSES)))
        assert trainer.poll() is None  # it checkpointed (and pruned) all along
        trainer.send_signal(signal.SIGINT)
        assert trainer.wait(timeout=120) == 130
    finally:
        stop(trainer)
    all_succeeded(results)
    assert sorted(annotations(run)["tags"]) == sorted(f"t{index}" for index in range(PROCESSES))
