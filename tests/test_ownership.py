"""One owner per run and per sweep, for the owner's whole life (scopelab.ownership).

Each owner (a new run, `--resume`, `--restart`, a sweep's driver) is a real process training far more steps
than it will ever reach; at several moments of its life, found by watching its files (config.yaml, a row in
metrics.csv, a checkpoint), this test's process and a second CLI process try to take the run: each must be
refused, and `list` must show the run running, never stale. The owner is then stopped by a signal, so no
moment depends on how fast the machine is.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scopelab.ownership import Ownership
from scopelab.runs.directory import mark

from conftest import cli, start_scopelab, tiny_autoencoder, write_config

ENDLESS = {"steps": 1_000_000, "log_every": 5, "checkpoint_every": 20}  # stopped by a signal long before its end


def wait_for(what: str, ready: Callable[[], bool], owner: subprocess.Popen) -> None:
    """Poll the owner's files until `ready`; fail at once if the owner has exited (it never should here)."""
    deadline = time.monotonic() + 180
    while not ready():
        if owner.poll() is not None:
            raise AssertionError(f"the owner exited ({owner.returncode}) before {what}: {owner.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within 180 s")
        time.sleep(0.02)


def logged_rows(run: Path) -> int:
    try:
        return len((run / "metrics.csv").read_text().splitlines()) - 1  # the header
    except FileNotFoundError:
        return 0


def checkpoints(run: Path) -> int:
    """The newest checkpoint's position (0 before the first): it grows with every save, where the number of
    files stops at the two that are kept."""
    found = (run / "ckpt").glob("model-*.index") if (run / "ckpt").is_dir() else []
    return max((int(path.name[len("model-"):-len(".index")]) + 1 for path in found), default=0)


def refused(*args: str, moment: str) -> None:
    """A second CLI process trying to take what the owner holds: exit 2, the owner named. If the lock was
    free it would start training; it is then killed, and the test fails."""
    challenger = start_scopelab(*args, "--quiet")
    try:
        _, stderr = challenger.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        challenger.kill()
        challenger.communicate()
        raise AssertionError(f"`scopelab {' '.join(args)}` {moment} took the run from its live owner") from None
    assert challenger.returncode == 2 and "is in use by another scopelab process (pid" in stderr, (
        f"`scopelab {' '.join(args)}` {moment}, while the owner lives, was not refused for the lock: {stderr}"
    )


def run_is_held(runs_dir: Path, run_id: str, moment: str, restart: bool = False) -> None:
    """Taking the run from its owner is refused (`--resume`, or with `restart` `--resume --restart`: the two
    take turns across the moments, each a CLI process of its own), and `list` and `rm` see it running."""
    recorded = (runs_dir / run_id / "summary.json").exists()  # a run being started has none for a moment
    listed = json.loads(cli("list", "--runs", "--format", "json", "--runs-dir", runs_dir).stdout)["runs"]
    status = next(run["status"] for run in listed if run["run_id"] == run_id)
    assert status == "running" or (status == "broken" and not recorded), (
        f"`list` shows run {run_id} {status} {moment}, while its owner lives"
    )
    removed = cli("rm", "--yes", run_id, "--runs-dir", runs_dir)
    said = "is still running" in removed.stderr or "is in use by another scopelab process" in removed.stderr
    assert removed.exit_code == 2 and said, f"`rm --yes` {moment}: {removed.stderr}"
    refused("run", "--resume", run_id, *(["--restart"] if restart else []), "--runs-dir", str(runs_dir), moment=moment)


def stop(owner: subprocess.Popen) -> None:
    owner.send_signal(signal.SIGINT)
    _, stderr = owner.communicate(timeout=180)
    assert owner.returncode == 130, stderr


def test_a_run_being_started_is_not_removed(runs_dir):
    """The moment between a new run's config.yaml and its first summary.json: locked, but with no record."""
    starting = runs_dir / "20261127-100000-tied_ae"
    starting.mkdir(parents=True)
    (starting / "config.yaml").write_text("experiment: autoencoder\n")
    mark(runs_dir)  # a runs directory scopelab made: rm acts in it
    with Ownership(starting, "run 20261127-100000-tied_ae"):  # held by this process, as a starting trainer holds it
        removed = cli("rm", "--yes", starting.name, "--runs-dir", runs_dir)
    assert removed.exit_code == 2 and "is in use by another scopelab process (it is being started" in removed.stderr
    assert starting.is_dir()
    assert cli("rm", "--yes", starting.name, "--runs-dir", runs_dir).exit_code == 0  # once free, a broken run goes


@pytest.fixture
def endless_config(tmp_path, mnist_dir) -> Path:
    return write_config(tmp_path / "endless.yaml", tiny_autoencoder(mnist_dir, train=ENDLESS))


def test_a_run_is_held_from_its_config_to_its_end_by_run_resume_and_restart(endless_config, runs_dir):
    owner = start_scopelab("run", endless_config, "--runs-dir", runs_dir, "--quiet", "--threads", "1")
    runs = lambda: [path for path in runs_dir.iterdir() if path.is_dir()] if runs_dir.is_dir() else []  # noqa: E731
    wait_for("a run directory with its config.yaml", lambda: any((run / "config.yaml").exists() for run in runs()),
             owner)
    (run,) = runs()
    run_is_held(runs_dir, run.name, "after config.yaml appeared (run)")
    wait_for("the first metrics row", lambda: logged_rows(run) >= 1, owner)
    run_is_held(runs_dir, run.name, "after the first metrics row (run)", restart=True)
    wait_for("a checkpoint", lambda: checkpoints(run) >= 1, owner)
    run_is_held(runs_dir, run.name, "after a checkpoint (run)")
    stop(owner)

    for how, count in ((("--resume", run.name), "resumed"), (("--resume", run.name, "--restart"), "restarted")):
        owner = start_scopelab("run", *how, "--runs-dir", runs_dir, "--quiet", "--threads", "1")
        name = " ".join(how[::2])
        # Its record says running and resumed (or restarted) once it holds the run; --restart has by then
        # removed the old metrics.csv, so the rows counted from here are its own.
        wait_for(f"the record of {name}", lambda: _record(run)["status"] == "running" and _record(run)[count] == 1,  # noqa: B023
                 owner)
        rows_before = logged_rows(run)
        wait_for(f"a new metrics row ({name})", lambda: logged_rows(run) > rows_before, owner)  # noqa: B023
        run_is_held(runs_dir, run.name, f"after a new metrics row ({name})", restart=True)
        done = checkpoints(run)
        wait_for(f"a new checkpoint ({name})", lambda: checkpoints(run) > done, owner)  # noqa: B023
        run_is_held(runs_dir, run.name, f"after a new checkpoint ({name})")
        stop(owner)


def _record(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def test_a_sweep_and_its_member_are_held_while_the_driver_lives_and_when_it_resumes(endless_config, runs_dir):
    driver = start_scopelab("sweep", endless_config, "--seeds", "1", "--runs-dir", runs_dir, "--quiet")
    sweeps = runs_dir / "sweeps"
    wait_for("sweep.json", lambda: sweeps.is_dir() and any(sweeps.glob("*/sweep.json")), driver)
    (sweep_file,) = sweeps.glob("*/sweep.json")
    sweep_id = sweep_file.parent.name
    refused("sweep", "--resume", sweep_id, "--runs-dir", str(runs_dir), moment="after sweep.json appeared")
    members = lambda: [path for path in runs_dir.iterdir() if path.is_dir() and path != sweeps]  # noqa: E731
    wait_for("the member's first metrics row", lambda: any(logged_rows(run) >= 1 for run in members()), driver)
    (member,) = members()
    for resumes in (0, 1):  # the sweep's first driver, then `sweep --resume`'s
        if resumes:
            driver = start_scopelab("sweep", "--resume", sweep_id, "--runs-dir", runs_dir, "--quiet")
            wait_for("the member's resumed record", lambda: _record(member)["status"] == "running"
                     and _record(member)["resumed"] == 1, driver)
            rows = logged_rows(member)
            wait_for("the resumed member's first metrics row", lambda: logged_rows(member) > rows, driver)  # noqa: B023
        moment = "with `sweep --resume` driving it" if resumes else "with the sweep's first driver"
        run_is_held(runs_dir, member.name, f"after the member's metrics row ({moment})", restart=True)
        (listed,) = json.loads(cli("list", "--sweeps", "--format", "json", "--runs-dir", runs_dir).stdout)["sweeps"]
        assert listed["status"] == "running", f"`list --sweeps` shows the sweep {listed['status']} {moment}"
        done = checkpoints(member)
        wait_for("the member's checkpoint", lambda: checkpoints(member) > done, driver)  # noqa: B023
        refused("sweep", "--resume", sweep_id, "--runs-dir", str(runs_dir), moment=f"after a checkpoint ({moment})")
        run_is_held(runs_dir, member.name, f"after a checkpoint ({moment})")
        stop(driver)
