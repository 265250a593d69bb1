"""A Ray sweep on a two-node loopback cluster whose worker cannot see the driver's disk: the head has no CPUs
for tasks, and the worker node runs in its own mount namespace with a private tmpfs over the directory that
holds the driver's runs directory. Every member's run directory must still arrive in the driver's."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import tiny_autoencoder, write_config

RAY = str(Path(sys.executable).parent / "ray")  # the `ray` command of this environment
WORKER_HOST = "scopelab-ray-worker"
CLUSTER_START_LIMIT = 180  # seconds: the bound on waiting for the worker node to join, not a pause
# No usage statistics; no token authentication (Ray 2.5x turns it on by default: every process would
# then need the token `ray start` made), since this cluster lives only on loopback for the test.
RAY_ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}


def can_unshare() -> str | None:
    """Why a private mount namespace with a tmpfs cannot be made here (None: it can)."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /mnt && hostname probe"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot unshare a mount namespace ({probe.stderr.strip()}; needs root)"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


def node_ports() -> list[str]:
    """Every port a Ray node would otherwise take at a fixed default: two nodes share 127.0.0.1."""
    names = ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--runtime-env-agent-port",
             "--metrics-export-port", "--node-manager-port", "--object-manager-port")
    return [f"{name}={port}" for name, port in zip(names, free_ports(len(names)))]


@pytest.fixture
def cluster(tmp_path, tmp_path_factory):
    """Head (no CPUs) and a worker node (2 CPUs) whose view of tmp_path is an empty private tmpfs, and whose
    host name (its own UTS namespace) is WORKER_HOST, which every run it makes records. Yields the address
    and the worker's TMPDIR."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'scopelab[ray]')")
    reason = can_unshare()
    if reason:
        pytest.skip(reason)
    (port,) = free_ports(1)
    address = f"127.0.0.1:{port}"
    # A temp dir of its own: Ray writes the "current cluster" into <temp-dir>/ray_current_cluster, where a
    # later ray.init() elsewhere on this machine would find it. Short: Ray's socket paths must fit 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="scopelab-ray-", dir="/tmp")
    common = ["--node-ip-address=127.0.0.1", "--block", "--disable-usage-stats", f"--temp-dir={temp_dir}"]
    head = subprocess.Popen(
        [RAY, "start", "--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false", *common,
         *node_ports()],
        env=RAY_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    # The worker's TMPDIR, where members make their scratch directories: outside tmp_path, so this test sees it.
    worker_tmp = tmp_path_factory.mktemp("worker-tmp")
    worker_command = " ".join(["env", f"TMPDIR={worker_tmp}", RAY, "start", f"--address={address}", "--num-cpus=2",
                               *common, *node_ports()])
    worker = None
    try:
        wait_for_cpus(address, 0, head)  # the head is up
        worker = subprocess.Popen(
            ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c",
             f"hostname {WORKER_HOST} && mount -t tmpfs tmpfs {tmp_path} && exec {worker_command}"],
            env=RAY_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_for_cpus(address, 2, worker)
        yield address, worker_tmp
    finally:
        # SIGKILL to each node's process group (gcs_server, raylet, agents, workers): gone at once. A SIGTERM
        # makes `ray start --block` stop them one by one, which took 35 s here; this cluster keeps nothing.
        for process in (worker, head):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
        shutil.rmtree(temp_dir, ignore_errors=True)


def wait_for_cpus(address: str, cpus: int, process: subprocess.Popen) -> None:
    """Until the cluster at address has `cpus` CPUs (asked of the cluster in a subprocess: an event, bounded)."""
    script = (f"import ray, sys\nray.init(address={address!r}, logging_level='ERROR')\n"
              "print(int(ray.cluster_resources().get('CPU', 0)))")
    deadline = time.monotonic() + CLUSTER_START_LIMIT
    while True:
        assert process.poll() is None, "a Ray node exited while starting"
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=RAY_ENV, timeout=120)
        if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(cpus)]:
            return
        assert time.monotonic() < deadline, f"the Ray cluster did not reach {cpus} CPUs: {done.stderr[-500:]}"
        time.sleep(0.5)


def check_landed(runs_dir: Path, steps: list[int]) -> None:
    """Every member completed on the worker node and its whole run directory arrived in the driver's."""
    (sweep_dir,) = (runs_dir / "sweeps").iterdir()
    record = json.loads((sweep_dir / "sweep.json").read_text())
    assert [member["status"] for member in record["members"]] == ["completed", "completed"]
    run_ids = [member["run_id"] for member in record["members"]]
    assert len(set(run_ids)) == 2
    landed = [path.name for path in runs_dir.iterdir() if path.is_dir() and path.name != "sweeps"]
    assert sorted(landed) == sorted(run_ids)
    for run_id in run_ids:
        run_dir = runs_dir / run_id
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["run_id"] == run_id
        assert [int(row["step"]) for row in csv.DictReader((run_dir / "metrics.csv").open())] == steps
        assert any((run_dir / "ckpt").glob("state-*.json"))
        assert summary["sweep"] == record["sweep_id"]
        assert summary["host"] == WORKER_HOST  # the member ran in a process on the worker node


# One test, one cluster: starting and stopping a two-node cluster costs about a minute on 2 cores, so the
# sweep that lands every run is also the uninterrupted reference of the stopped-and-resumed one.
def test_a_ray_sweep_lands_every_run_from_a_worker_without_the_drivers_disk_and_resumes_after_a_stop(
        cluster, tmp_path, mnist_dir):
    address, worker_tmp = cluster
    config = write_config(tmp_path / "long.yaml", tiny_autoencoder(mnist_dir, train={"steps": 3000, "log_every": 1000}))
    sweep = [sys.executable, "-m", "scopelab", "sweep", str(config), "--seeds", "2", "--executor", "ray",
             "--address", address, "--quiet", "--runs-dir"]
    whole = subprocess.run([*sweep, str(tmp_path / "whole")], capture_output=True, text=True, env=RAY_ENV,
                           timeout=600)
    assert whole.returncode == 0, whole.stderr
    check_landed(tmp_path / "whole", [0, 1000, 2000, 3000])
    (whole_sweep,) = (tmp_path / "whole" / "sweeps").iterdir()
    record = json.loads((whole_sweep / "sweep.json").read_text())
    assert record["executor"] == "ray" and f"--address {address}" in record["command"]
    runs_dir = tmp_path / "stopped"
    driver = subprocess.Popen([*sweep, str(runs_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=RAY_ENV)
    # Signal once a member has logged its first step in its scratch directory on the worker.
    deadline = time.monotonic() + CLUSTER_START_LIMIT
    while not any(worker_tmp.glob("scopelab-member-*/runs/*/metrics.csv")):
        assert driver.poll() is None, driver.communicate()[1]
        assert time.monotonic() < deadline, "no member started training"
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 130, err
    (sweep_dir,) = (runs_dir / "sweeps").iterdir()
    record = json.loads((sweep_dir / "sweep.json").read_text())
    stopped = [member["run_id"] for member in record["members"] if member["status"] == "interrupted"]
    assert stopped, record["members"]
    for run_id in stopped:  # came back from the worker, stopped at a checkpoint
        assert json.loads((runs_dir / run_id / "summary.json").read_text())["status"] == "interrupted"
        assert any((runs_dir / run_id / "ckpt").glob("state-*.json"))

    resumed = subprocess.run([*sweep[:4], "--resume", record["sweep_id"], *sweep[7:], str(runs_dir)],
                             capture_output=True, text=True, env=RAY_ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((sweep_dir / "sweep.json").read_text())
    assert [member["status"] for member in record["members"]] == ["completed", "completed"]
    assert {member["run_id"] for member in record["members"]} >= set(stopped)  # continued in their directories
    by_seed = {}
    for run in (path for path in (tmp_path / "whole").iterdir() if path.is_dir() and path.name != "sweeps"):
        if run.name != "sweeps":
            by_seed[json.loads((run / "summary.json").read_text())["seed"]] = (run / "metrics.csv").read_text()
    for member in record["members"]:
        run = runs_dir / member["run_id"]
        summary = json.loads((run / "summary.json").read_text())
        assert (run / "metrics.csv").read_text() == by_seed[summary["seed"]]
        assert summary["resumed"] == (1 if member["run_id"] in stopped else 0)


def shipped_run(tmp_path: Path, run_id: str, marker: str) -> dict:
    """A member's result as a worker returns it: a run directory with a record, packed."""
    from scopelab.runs.directory import RunDir
    from scopelab.runs.record import RunRecord
    from scopelab.sweep.member import pack

    made = RunDir(tmp_path / "worker" / marker / run_id)
    made.path.mkdir(parents=True)
    made.write_record(RunRecord(run_id=run_id, config_name="tiny", experiment="autoencoder", status="completed"))
    made.write_text("log.txt", marker)
    return {"member": 0, "run_id": run_id, "status": "completed", "error": None, "run_tar": pack(made.path)}


def test_landing_keeps_runs_apart_and_swaps_a_resumed_one_whole(tmp_path):
    from scopelab.sweep.member import land

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    fresh = {"runs_dir": str(runs_dir), "resume": None}
    first = land(shipped_run(tmp_path, "20261206-101500-tiny", "first"), fresh)
    # Another node started a run of the same config in the same second: same id, chosen in its scratch.
    second = land(shipped_run(tmp_path, "20261206-101500-tiny", "second"), fresh)
    assert first["run_id"] == "20261206-101500-tiny" and second["run_id"].startswith("20261206-101500-tiny-")
    assert (runs_dir / first["run_id"] / "log.txt").read_text() == "first"
    assert (runs_dir / second["run_id"] / "log.txt").read_text() == "second"
    assert json.loads((runs_dir / second["run_id"] / "summary.json").read_text())["run_id"] == second["run_id"]
    # A resumed member comes back under its own id and replaces the old copy.
    resuming = {"runs_dir": str(runs_dir), "resume": first["run_id"]}
    resumed = land(shipped_run(tmp_path, first["run_id"], "resumed"), resuming)
    assert resumed["run_id"] == first["run_id"]
    assert (runs_dir / first["run_id"] / "log.txt").read_text() == "resumed"
    assert sorted(path.name for path in runs_dir.iterdir()) == sorted([first["run_id"], second["run_id"]])
    assert "run_tar" not in resumed


def test_a_shipped_member_trains_in_a_scratch_directory_and_lands_whole_then_resumes(tmp_path, mnist_dir):
    """What a Ray worker runs, here in this process (coverage cannot follow a Ray worker): the task carries the
    config's text (and a resumed run's directory), the member trains in a scratch directory, and its whole run
    directory comes back and lands in the runs directory, a resumed one replacing its old copy."""
    from scopelab.sweep.member import land, run_shipped_member, run_task, ship_task

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    config = write_config(tmp_path / "tiny.yaml", tiny_autoencoder(mnist_dir))
    request = SimpleNamespace(runs_dir=runs_dir, device="cpu", threads=1)
    task = run_task(0, config, [], request)
    result = land(run_shipped_member(ship_task(task)), task)
    assert result["status"] == "completed" and "run_tar" not in result
    run = runs_dir / result["run_id"]
    assert [int(row["step"]) for row in csv.DictReader((run / "metrics.csv").open())] == [0, 10, 20, 30]
    assert not list(Path(tempfile.gettempdir()).glob("scopelab-member-*/runs/" + result["run_id"]))  # scratch gone

    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))  # as a stopped run is left
    resume = run_task(0, config, [], request, resume=result["run_id"])
    resumed = land(run_shipped_member(ship_task(resume)), resume)
    assert (resumed["status"], resumed["run_id"]) == ("completed", result["run_id"])
    assert [path.name for path in runs_dir.iterdir()] == [result["run_id"]]  # the old copy swapped out whole
    assert json.loads((run / "summary.json").read_text())["resumed"] == 1
