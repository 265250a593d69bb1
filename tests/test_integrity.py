"""Run integrity under attack (issue 14): one owner per run and sweep, signals at any moment.

Each failure is driven through the real CLI (a subprocess where timing or signals matter) and checked
for its exit code, one line on stderr with no traceback, and the state of the run directory after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import cli, only_run, summary_of, tiny_autoencoder, write_config
from conftest import start_scopelab as start

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def one_line(stderr: str) -> str:
    """The CLI's error contract: a single line, never a traceback."""
    # A success may add the CLI's "next: ..." hint; that is not part of the line under test.
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("next: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def as_crashed(run: Path, **summary) -> None:
    """Make a finished run look like one killed before its first checkpoint, so a resume trains it all."""
    for path in sorted((run / "ckpt").iterdir(), reverse=True):
        path.unlink()
    record = summary_of(run)
    record.update(status="running", pid=99999999999, **summary)  # an absurd pid once crashed --resume
    (run / "summary.json").write_text(json.dumps(record))


def test_two_resumes_of_one_run_at_once_train_it_once(tmp_path, mnist_dir, runs_dir):
    config = tiny_autoencoder(mnist_dir, train={"steps": 300, "log_every": 100, "checkpoint_every": 100})
    assert cli("run", write_config(tmp_path / "c.yaml", config), "--runs-dir", runs_dir, "--quiet").exit_code == 0
    run = only_run(runs_dir)
    as_crashed(run)
    assert json.loads(cli("list", "--runs", "--format", "json", "--runs-dir", runs_dir).stdout)["runs"][0][
        "status"
    ] == "stale"
    processes = [start("run", "--resume", run.name, "--runs-dir", runs_dir, "--quiet", "--threads", "1")
                 for _ in range(2)]
    results = sorted((process.wait(timeout=300), process.stderr.read()) for process in processes)
    (ok, _), (refused, stderr) = results
    assert (ok, refused) == (0, 2)
    assert "is in use by another scopelab process (pid" in one_line(stderr)
    summary = summary_of(run)
    assert summary["status"] == "completed" and summary["resumed"] == 1
    assert len(list((run / "tb").iterdir())) == 2  # the first run and one resume: the refused one wrote none


def test_two_sweep_resumes_at_once_run_each_member_once(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "s.yaml", tiny_autoencoder(mnist_dir, train={"steps": 150, "log_every": 50}))
    assert cli("sweep", config, "--seeds", "2", "--runs-dir", runs_dir, "--quiet").exit_code == 0
    (sweep_file,) = (runs_dir / "sweeps").glob("*/sweep.json")
    record = json.loads(sweep_file.read_text())
    for member in record["members"]:
        as_crashed(runs_dir / member["run_id"])
        member["status"] = "failed"
    record["status"] = "running"  # its driver was killed: nobody holds the lock, so it is stale
    sweep_file.write_text(json.dumps(record))
    processes = [start("sweep", "--resume", record["sweep_id"], "--runs-dir", runs_dir, "--quiet") for _ in range(2)]
    results = sorted((process.wait(timeout=300), process.stdout.read(), process.stderr.read()) for process in processes)
    (ok, out, _), (refused, _, stderr) = results
    assert (ok, refused) == (0, 2)
    assert f"sweep {record['sweep_id']} is stale (its driver is gone); resuming it" in out
    assert f"sweep {record['sweep_id']} is in use by another scopelab process" in one_line(stderr)
    for member in json.loads(sweep_file.read_text())["members"]:
        assert member["status"] == "completed" and summary_of(runs_dir / member["run_id"])["resumed"] == 1


def importing_tensorflow(process: subprocess.Popen) -> None:
    """Wait until TensorFlow's library is mapped into the process (Linux /proc)."""
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if "tensorflow" in Path(f"/proc/{process.pid}/maps").read_text():
            return
        time.sleep(0.02)
    raise AssertionError("the run never started importing TensorFlow")


def test_stop_signals_before_training_leave_nothing_or_a_resumable_run(tmp_path, mnist_dir):
    path = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir))
    for number, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)):
        runs = tmp_path / number.name
        process = start("run", path, "--runs-dir", runs, "--quiet")
        importing_tensorflow(process)  # so scopelab's own modules are in and its handlers set
        process.send_signal(number)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == code, stderr
        assert "Aborted!" not in stderr and one_line(stderr).startswith("Stopped: ")
        runs_made = list(runs.iterdir()) if runs.exists() else []
        if runs_made:  # the signal came after the run directory was made: it must be resumable
            assert summary_of(only_run(runs))["status"] in ("interrupted", "running")


def test_sighup_checkpoints_like_sigterm(tmp_path, mnist_dir, runs_dir):
    path = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir, train={"steps": 5000, "log_every": 20}))
    process = start("run", path, "--runs-dir", runs_dir, "--quiet")
    for line in process.stdout:
        if line.startswith("step, loss = 20:"):
            process.send_signal(signal.SIGHUP)
            break
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 129
    assert "stopped by SIGHUP after a checkpoint" in one_line(stderr)
    run = only_run(runs_dir)
    assert summary_of(run)["status"] == "interrupted" and list((run / "ckpt").glob("*.index"))


def wait_for(event, process: subprocess.Popen | None, what: str):
    """Poll for an event (a file written, a process gone), however slow the machine; its first true value."""
    while not (found := event()):
        assert process is None or process.poll() is None, f"the process ended before {what}: {process.stderr.read()}"
        time.sleep(0.05)  # polling for the event, not waiting for time to pass
    return found


def members_training(runs_dir: Path) -> list[Path]:
    """The two members' run directories, once each has logged a row of metrics (so it trains under its
    stop handler, with a pid recorded); [] before."""
    runs = [run for run in runs_dir.iterdir() if run.is_dir() and run.name != "sweeps"] if runs_dir.exists() else []
    try:
        logged = all(len((run / "metrics.csv").read_text().splitlines()) >= 2 for run in runs)
    except OSError:
        return []
    return sorted(runs) if len(runs) == 2 and logged else []


def test_members_die_with_a_killed_sweep_driver_and_the_sweep_resumes(tmp_path, mnist_dir, runs_dir):
    config = tiny_autoencoder(mnist_dir, train={"steps": 6000, "log_every": 500, "checkpoint_every": 500})
    path = write_config(tmp_path / "long.yaml", config)
    driver = start("sweep", path, "--seeds", "2", "--jobs", "2", "--runs-dir", runs_dir, "--quiet")
    runs = wait_for(lambda: members_training(runs_dir), driver, "the sweep's members to log a step")
    members = [summary_of(run)["pid"] for run in runs]
    driver.kill()
    driver.wait()
    # The kernel sends each member SIGTERM (signals.die_with_parent); wait for the processes to end,
    # however long a busy machine takes, then read what they recorded.
    deadline = time.monotonic() + 600  # a bound for a hung member (one once deadlocked in its signal handler)
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in members) or time.monotonic() > deadline, None,
             "the members to exit")
    assert not any(Path(f"/proc/{pid}").exists() for pid in members), "a member did not exit after its driver died"
    ended = [summary_of(run) for run in runs]
    assert [summary["status"] for summary in ended] == ["interrupted"] * 2, [
        (summary["status"], summary.get("error"), (run / "log.txt").read_text()[-2000:])
        for summary, run in zip(ended, runs)]
    (sweep_file,) = (runs_dir / "sweeps").glob("*/sweep.json")
    record = json.loads(sweep_file.read_text())
    assert record["status"] == "running"
    resumed = subprocess.run(
        [sys.executable, "-m", "scopelab", "sweep", "--resume", record["sweep_id"], "--runs-dir", str(runs_dir),
         "--quiet"], capture_output=True, text=True, env=ENV, timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "is stale (its driver is gone); resuming it" in resumed.stdout
    for member in json.loads(sweep_file.read_text())["members"]:
        assert member["status"] == "completed" and summary_of(runs_dir / member["run_id"])["resumed"] == 1


# --- bounded reading ----------------------------------------------------------------------------------------


def hostile_listing() -> dict:
    """benchmarks/bench_hostile_list.py's hostile directories, listed once in a fresh process."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_hostile_list.py"
    done = subprocess.run([sys.executable, str(script), "--json", "--repeats", "1"], capture_output=True, text=True,
                          timeout=120, env=ENV)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_list_reports_hostile_files_without_hanging_or_bloating():
    result = hostile_listing()
    assert result["peak_mb"] < 300  # measured by the listing process itself (ru_maxrss)
    configs = {row["name"]: row for row in result["listing"]["configs"]}
    assert configs.pop("good")["experiment"] == "autoencoder"
    reasons = {name: row["description"] for name, row in configs.items() if row["experiment"] == "invalid"}
    assert len(reasons) == 6  # the built-in configs are listed beside them, valid
    assert "expands to more than 100,000 YAML nodes" in reasons["bomb"] and "expands" in reasons["optimizer_bomb"]
    assert "not a regular file (a FIFO)" in reasons["fifo"] and "character device" in reasons["zero"]
    assert "over the limit" in reasons["huge"] and "nesting depth" in reasons["deep"]
    runs = {row["run_id"][16:]: row for row in result["listing"]["runs"]}
    assert runs["zero_summary"]["status"] == runs["fifo_summary"]["status"] == runs["deep_json"]["status"] == "broken"
    assert runs["absurd_pid"]["status"] == "stale"
    for name in ("zero_metrics", "fifo_metrics", "huge_metrics"):  # list reads steps from checkpoints only
        assert runs[name]["status"] == "completed" and runs[name]["steps"] == 0


def test_hostile_configs_are_refused_before_a_run_exists(tmp_path, runs_dir):
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    cases = {
        "bomb.yaml": (bomb + "experiment: *i\n", "expands to more than 100,000 YAML nodes"),
        "optimizer.yaml": (bomb + "experiment: autoencoder\ntrain: {optimizer: *i}\n", "expands to more than"),
        "deep.yaml": ("experiment: autoencoder\nmodel: " + "{a: " * 60 + "1" + "}" * 60 + "\n", "nests deeper than"),
        "self.yaml": ("experiment: autoencoder\ntrain: &t {x: *t}\n", "alias *t inside the node it names"),
        "huge.yaml": ("#\n" * 600_000, "over the limit of 1,048,576"),
    }
    for name, (text, _) in cases.items():
        (tmp_path / name).write_text(text)
    os.mkfifo(tmp_path / "fifo.yaml")
    cases["fifo.yaml"] = ("", "is not a regular file (a FIFO)")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    cases["zero.yaml"] = ("", "is not a regular file (a character device)")
    for name, (_, fragment) in cases.items():
        result = cli("run", tmp_path / name, "--runs-dir", runs_dir)
        assert result.exit_code == 2 and fragment in one_line(result.stderr), (name, result.stderr)
    base = write_config(tmp_path / "base.yaml", {"experiment": "autoencoder"})
    result = cli("run", base, "--set", "train.optimizer=[&o [*o]]", "--runs-dir", runs_dir)
    assert result.exit_code == 2 and "--set train.optimizer=...: the value has an alias" in one_line(result.stderr)
    assert not runs_dir.exists()


def write_fake_run(runs_dir: Path, run_id: str, config: str, metrics: str) -> Path:
    run = runs_dir / run_id
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(config)
    (run / "metrics.csv").write_text("network,step,loss,accuracy\n" + metrics)
    summary = {"run_id": run_id, "status": "completed", "config_name": run_id[16:], "experiment": "autoencoder",
               "metrics": {"test_loss": 0.25}}
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_compare_skips_a_run_with_a_bad_config_and_refuses_repeated_rows(runs_dir):
    good = "name: good\nexperiment: autoencoder\ntrain: {seed: 0}\n"
    write_fake_run(runs_dir, "20260101-000001-good", good, "autoencoder,0,0.5,\nautoencoder,10,0.4,\n")
    write_fake_run(runs_dir, "20260101-000002-bad", "experiment: [unclosed\n", "autoencoder,0,0.5,\n")
    result = cli("compare", "--runs-dir", runs_dir)
    assert result.exit_code == 0 and "20260101-000001-good" in result.stdout
    assert "skipped: run 20260101-000002-bad: its config.yaml is missing or unreadable" in one_line(result.stderr)
    rows = "".join(f"autoencoder,0,{0.5 + index / 1000},\n" for index in range(200))
    write_fake_run(runs_dir, "20260101-000003-dup", good, rows)
    result = cli("compare", "20260101-000003-dup", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert "-dup: metrics.csv line 3: step 0 of autoencoder comes after step 0, so" in one_line(result.stderr)


def gzip_idx(path: Path, header: bytes, payload_bytes: int) -> None:
    """A gzip'd IDX file written in chunks: a bomb is cheap to make, only expensive to read whole."""
    import gzip

    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(header)
        for _ in range(payload_bytes // (1 << 20)):
            handle.write(bytes(1 << 20))
        handle.write(bytes(payload_bytes % (1 << 20)))


def test_hostile_data_files_are_refused_before_allocation(tmp_path, mnist_dir, runs_dir):
    import io
    import shutil
    import zipfile

    import numpy as np

    def data_dir(name: str) -> Path:
        directory = tmp_path / name
        shutil.copytree(mnist_dir, directory)
        return directory

    images = "train-images-idx3-ubyte.gz"
    bomb = data_dir("bomb")  # declares 600 images, holds 200 MB more: refused by the gzip trailer's size
    gzip_idx(bomb / images, bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (600, 28, 28)),
             600 * 784 + (200 << 20))
    wraps = data_dir("wraps")  # 2^31 x 2^31 x 4 wrapped np.prod to 0
    gzip_idx(wraps / images, bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (2**31, 2**31, 4)), 0)
    npz = tmp_path / "claims.npz"  # x_train's .npy header claims a 1.4 PiB array
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1600000000000000,), }"
    header += " " * (63 - len(header) % 64) + "\n"
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("x_train.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
        for key in ("y_train", "x_test", "y_test"):
            buffer = io.BytesIO()
            np.save(buffer, np.zeros((2, 28, 28) if key.startswith("x") else 2, np.uint8))
            archive.writestr(f"{key}.npy", buffer.getvalue())
    cases = [
        (bomb, "IDX file has 210,185,616 bytes; its header (600, 28, 28) needs 470,416"),
        (wraps, "its IDX header declares (2147483648, 2147483648, 4)"),
        (npz, "declares shape (1600000000000000,) of uint8"),
    ]
    for path, fragment in cases:
        config = write_config(tmp_path / f"{path.name}.yaml", tiny_autoencoder(path))
        result = cli("run", config, "--runs-dir", runs_dir)
        assert result.exit_code == 2 and fragment in one_line(result.stderr), result.stderr
    assert not runs_dir.exists()
