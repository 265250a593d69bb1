"""Sweeps: repeats over seeds, grids, a failing member, resume, local processes and Ray, through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scopelab.runs import run_dirs

from conftest import cli, summary_of, tiny_autoencoder, write_config


def tiny(tmp_path: Path, mnist_dir: Path) -> Path:
    """A member takes a fraction of a second once TensorFlow is loaded."""
    config = tiny_autoencoder(mnist_dir, model={"hidden_size": 8}, train={"steps": 5, "log_every": 5})
    return write_config(tmp_path / "tiny.yaml", config)


def the_sweep(runs_dir: Path) -> dict:
    (record,) = (runs_dir / "sweeps").glob("*/sweep.json")
    return json.loads(record.read_text())


def runs_in(runs_dir: Path) -> dict[str, dict]:
    return {run.run_id: summary_of(run.path) for run in run_dirs(runs_dir)}


def training_run(runs_dir: Path, **wanted) -> Path | None:
    """The run directory of a sweep member that has begun training (logged a step), picked by summary
    keys: member=N for its index in the sweep, or any other key and value of its summary."""
    wanted = {("sweep_member" if key == "member" else key): value for key, value in wanted.items()}
    for run in run_dirs(runs_dir) if runs_dir.is_dir() else []:
        try:
            summary = summary_of(run.path)
        except (OSError, ValueError):
            continue  # being written
        if all(summary.get(key) == value for key, value in wanted.items()) and (run.path / "metrics.csv").exists():
            return run.path
    return None


def wait_for(find, process: subprocess.Popen, seconds: float = 240):
    """Poll until find() returns something, failing if the process ends first."""
    deadline = time.monotonic() + seconds
    while (found := find()) is None:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_seeds_make_one_run_per_seed_and_a_sweep_record(tmp_path, mnist_dir, runs_dir):
    result = cli("run", tiny(tmp_path, mnist_dir), "--seeds", "3", "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.output
    record = the_sweep(runs_dir)
    runs = runs_in(runs_dir)  # the sweeps/ folder is not taken for a run
    assert len(runs) == 3
    assert record["status"] == "completed" and record["seeds"] == [0, 1, 2]
    assert [(m["seed"], m["status"]) for m in record["members"]] == [(seed, "completed") for seed in (0, 1, 2)]
    assert {m["run_id"] for m in record["members"]} == set(runs)
    for member in record["members"]:
        summary = runs[member["run_id"]]
        assert summary["status"] == "completed" and summary["seed"] == member["seed"]
        assert summary["sweep"] == record["sweep_id"] and summary["grid_point"] == {}
        assert summary["config_name"] == "tiny"
    assert len({summary["metrics"]["test_loss"] for summary in runs.values()}) == 3  # the seeds took effect
    assert "[3/3] completed" in result.stdout
    assert f"sweep directory: {runs_dir / 'sweeps' / record['sweep_id']}" in result.stdout


def test_a_two_by_two_grid_with_two_seeds_makes_eight_members(tmp_path, mnist_dir, runs_dir):
    result = cli(
        "sweep",
        tiny(tmp_path, mnist_dir),
        "--grid",
        "train.learning_rate=0.05,0.2",
        "--grid",
        "model.tied=true,false",
        "--seeds",
        "2",
        "--runs-dir",
        runs_dir,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    record = the_sweep(runs_dir)
    runs = runs_in(runs_dir)
    assert len(record["members"]) == 8 and len(runs) == 8
    assert record["grid"] == {"train.learning_rate": ["0.05", "0.2"], "model.tied": ["true", "false"]}
    points = [
        (m["grid_point"]["train.learning_rate"], m["grid_point"]["model.tied"], m["seed"]) for m in record["members"]
    ]
    assert points == [(lr, tied, seed) for lr in (0.05, 0.2) for tied in (True, False) for seed in (0, 1)]
    for member in record["members"]:
        summary = runs[member["run_id"]]
        assert summary["status"] == "completed"
        assert summary["grid_point"] == member["grid_point"] and summary["seed"] == member["seed"]
        # The run really trained with the grid's values: an untied decoder has its own weight.
        has_decoder_w = any(variable["name"] == "decoder/W" for variable in summary["variables"])
        assert has_decoder_w is not member["grid_point"]["model.tied"]


def test_a_diverging_member_leaves_the_others_completed_and_the_sweep_fails(tmp_path, mnist_dir, runs_dir):
    result = cli(
        "sweep",
        tiny(tmp_path, mnist_dir),
        "--set",
        "train.optimizer=adam",
        "--grid",
        "train.learning_rate=0.1,1e38,0.2",
        "--runs-dir",
        runs_dir,
        "--quiet",
    )
    assert result.exit_code == 1
    record = the_sweep(runs_dir)
    assert [m["status"] for m in record["members"]] == ["completed", "diverged", "completed"]
    assert record["status"] == "failed"
    diverged = record["members"][1]
    assert "diverged" in diverged["error"] and summary_of(runs_dir / diverged["run_id"])["status"] == "diverged"
    assert "1 of 3 members did not complete (1 diverged)" in result.stderr
    assert f"scopelab sweep --resume {record['sweep_id']}" in result.stderr


def test_resume_runs_only_the_members_that_did_not_complete(tmp_path, mnist_dir, runs_dir):
    missing = tmp_path / "data-later"
    result = cli(
        "sweep",
        tiny(tmp_path, mnist_dir),
        "--grid",
        f"data.path={mnist_dir},{missing}",
        "--runs-dir",
        runs_dir,
        "--quiet",
    )
    assert result.exit_code == 1
    before = the_sweep(runs_dir)
    assert [(m["status"], m["run_id"] is None) for m in before["members"]] == [("completed", False), ("failed", True)]
    assert "no such data directory" in before["members"][1]["error"]

    shutil.copytree(mnist_dir, missing)
    result = cli("sweep", "--resume", before["sweep_id"][:-2], "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.output
    assert "1 of 2 members to run" in result.stdout
    after = the_sweep(runs_dir)
    assert after["status"] == "completed" and after["resumed"] == 1
    assert after["members"][0]["run_id"] == before["members"][0]["run_id"]  # not run again
    assert len(runs_in(runs_dir)) == 2
    assert summary_of(runs_dir / after["members"][1]["run_id"])["grid_point"] == {"data.path": str(missing)}


def test_two_jobs_run_every_member_in_its_own_process_with_a_share_of_the_cores(tmp_path, mnist_dir, runs_dir):
    result = cli("sweep", tiny(tmp_path, mnist_dir), "--seeds", "2", "--jobs", "2", "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.output
    record = the_sweep(runs_dir)
    assert [m["status"] for m in record["members"]] == ["completed", "completed"]
    summaries = [summary_of(runs_dir / m["run_id"]) for m in record["members"]]
    assert {summary["pid"] for summary in summaries}.isdisjoint({os.getpid()})
    assert [summary["threads"] for summary in summaries] == [max(1, len(os.sched_getaffinity(0)) // 2)] * 2
    assert [summary["seed"] for summary in summaries] == [0, 1]


def test_a_member_process_killed_from_outside_is_recorded_failed_and_the_others_complete(
    tmp_path, mnist_dir, runs_dir
):
    sweep = subprocess.Popen(
        [sys.executable, "-m", "scopelab", "sweep", tiny(tmp_path, mnist_dir), "--grid", "train.steps=5,10000000",
         "--jobs", "2", "--runs-dir", runs_dir, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    victim = wait_for(lambda: training_run(runs_dir, grid_point={"train.steps": 10000000}), sweep)
    pid = summary_of(victim)["pid"]
    assert pid not in (sweep.pid, os.getpid())  # the member's own process
    os.kill(pid, signal.SIGKILL)
    _, err = sweep.communicate(timeout=240)
    assert sweep.returncode == 1, err
    record = the_sweep(runs_dir)
    assert [m["status"] for m in record["members"]] == ["completed", "failed"]
    assert record["members"][1]["error"].startswith(f"its process exited with code {-signal.SIGKILL}")
    assert "1 of 2 members did not complete (1 failed)" in err
    assert summary_of(victim)["status"] == "running"  # killed: it could not record its end; list calls it stale


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "model.tyed=true,false"], "--grid model.tyed=true: unknown key 'model.tyed'"),
        (["--grid", "model.tied"], "expected KEY=V1,V2"),
        (["--grid", "model.tied=true", "--set", "model.tied=false"], "--grid model.tied and --set model.tied"),
        (["--seeds", "0"], "expected a count N"),
        (["--seeds", "two"], "--seeds two: expected a count N"),
        (["--seeds", "3,1,3"], "--seeds 3,1,3: a seed is repeated."),
        (["--grid", "model.tied=true", "--grid", "model.tied=false"], "--grid model.tied is given twice"),
        (["--grid", "model.tied=true,true"], "--grid model.tied=true,true: a value is repeated."),
        (["--seeds", "2", "--grid", "train.seed=1,2"], "--seeds sets train.seed"),
        (["--address", "127.0.0.1:6379"], "use it with --executor ray"),
    ],
)
def test_bad_sweep_input_exits_2_and_writes_nothing(tmp_path, mnist_dir, runs_dir, args, message):
    result = cli("sweep", tiny(tmp_path, mnist_dir), *args, "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not runs_dir.exists()


# Opt-in: tests/test_ray_cluster.py runs a real Ray sweep (two nodes, --address, the record's executor and
# command) in the default suite; this one adds only a one-node Ray started by ray.init (27 s of the suite).
@pytest.mark.full
def test_ray_executor_completes_a_sweep_on_a_local_ray(tmp_path, mnist_dir, runs_dir, monkeypatch):
    # Read when ray is imported: keep every Ray address on loopback, and send no usage statistics.
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'scopelab[ray]')")
    # On loopback even where the machine has another address (Ray binds the node's IP by default).
    context = ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", _node_ip_address="127.0.0.1")
    try:
        address = context.address_info["gcs_address"]
        # Ray names the node by an address of this machine (loopback, or its own interface where Ray picks
        # that whatever it is told): binding to it proves it is local, so no traffic leaves the machine.
        with socket.socket() as probe:
            probe.bind((address.rpartition(":")[0], 0))
        driver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scopelab",
                "sweep",
                tiny(tmp_path, mnist_dir),
                "--seeds",
                "2",
                "--executor",
                "ray",
                "--address",
                address,
                "--runs-dir",
                runs_dir,
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, err = driver.communicate(timeout=300)
    finally:
        ray.shutdown()
    assert driver.returncode == 0, err
    record = the_sweep(runs_dir)
    assert record["executor"] == "ray" and f"--address {address}" in record["command"]
    assert [m["status"] for m in record["members"]] == ["completed", "completed"]
    summaries = runs_in(runs_dir).values()
    assert {summary["status"] for summary in summaries} == {"completed"}
    # Each member ran in a Ray worker process: neither the sweep's (driver's) process nor this one.
    assert {summary["pid"] for summary in summaries}.isdisjoint({driver.pid, os.getpid()})


def test_sigint_stops_a_sweep_cleanly_and_resume_finishes_it(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "long.yaml", tiny_autoencoder(mnist_dir, train={"steps": 3000, "log_every": 1000}))
    command = [sys.executable, "-m", "scopelab", "run", str(config), "--seeds", "3", "--jobs", "1",  # one at a time
               "--runs-dir", str(runs_dir)]
    process = subprocess.Popen(
        command + ["--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    for line in process.stdout:
        if line.startswith("[1/3] completed"):  # member 2 is starting
            break
    # Signal once member 2 is training (it has logged step 0): it must stop at a checkpoint.
    member_2 = wait_for(lambda: training_run(runs_dir, member=1), process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "--resume" in err.strip().splitlines()[-1]
    record = the_sweep(runs_dir)
    assert [member["status"] for member in record["members"]] == ["completed", "interrupted", "pending"]
    assert record["members"][1]["run_id"] == member_2.name
    result = cli("sweep", "--resume", record["sweep_id"], "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.output
    record = the_sweep(runs_dir)
    assert [member["status"] for member in record["members"]] == ["completed"] * 3
    assert record["members"][1]["run_id"] == member_2.name  # continued in its own directory
    summary = summary_of(member_2)
    assert summary["resumed"] == 1 and summary["started_from"]["step"] > 0
    assert summary["steps_run"] == 3001 - summary["started_from"]["step"]
    assert len(run_dirs(runs_dir)) == 3
