"""What the store may touch (issue 21): only a marked runs directory, only runs in it, never through a
symlink, only files scopelab made (by exact name); run ids that never collide and sort in UTC; `config copy`
only onto a regular file. Each test is an attack that changed or lost data before, and each checks the
bytes of what is not scopelab's afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from scopelab.runs import MARKER_FILE, RunDir, RunRecord, check_runs_dir, create_run_dir, mark, mark_if_only_runs

from conftest import cli, only_run, summary_of, tiny_autoencoder, write_config

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def old_run(runs_dir: Path, run_id: str, config_name: str = "cfg", status: str = "completed") -> Path:
    """A run as an earlier scopelab left it: config.yaml and summary.json, and no marker in the runs directory."""
    path = runs_dir / run_id
    path.mkdir(parents=True)
    run = RunDir(path)
    run.write_text("config.yaml", yaml.safe_dump({"name": config_name, "experiment": "autoencoder"}))
    run.write_record(RunRecord(run_id, config_name, "autoencoder", status, started_at="2020-01-01T00:00:00+00:00"))
    return path


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under root, never following a symlink: a file's bytes, a link's target, a directory."""
    found: dict[str, object] = {}
    for directory, names, files in os.walk(root):
        for name in names + files:
            path = Path(directory) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = f"-> {os.readlink(path)}"
            elif path.is_dir():
                found[key] = "dir"
            else:
                found[key] = path.read_bytes()
    return found


def project(tmp_path: Path) -> Path:
    """A user's project: source, data and notes, the kind of directory given by mistake as --runs-dir."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "model.py").write_text("print('the user\\'s code')\n")
    (root / "data").mkdir()
    (root / "data" / "train.bin").write_bytes(bytes(range(256)))
    (root / "README.md").write_text("# mine\n")
    week_ago = time.time() - 7 * 86400
    for path in (root / "src", root / "data"):  # old enough for `rm --older-than 1d`, which once moved them
        os.utime(path, (week_ago, week_ago))
    return root


def one_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    return result.stderr


# --- item 1: a marked directory, and only runs in it ------------------------------------------------------------


def test_rm_and_purge_refuse_an_unmarked_project_directory(tmp_path):
    root = project(tmp_path)
    before = snapshot(root)
    for args in (("rm", "--older-than", "1d", "--yes"), ("purge", "--yes"), ("restore", "20200101-000000-cfg")):
        message = one_line(cli(*args, "--runs-dir", root))
        assert MARKER_FILE in message and f"scopelab mark-runs-dir --runs-dir {root}" in message
    assert snapshot(root) == before


def test_in_a_marked_directory_only_runs_are_moved_and_deleted(tmp_path):
    root = project(tmp_path)
    old_run(root, "20200101-000000-cfg")
    (root / "20200101-000001-lookalike").mkdir()  # named like a run, but scopelab's files are not in it
    (root / "20200101-000001-lookalike" / "notes.txt").write_text("not a run\n")
    others = {key: value for key, value in snapshot(root).items() if not key.startswith("20200101-000000-cfg")}
    marked = cli("mark-runs-dir", "--runs-dir", root)
    assert marked.exit_code == 0 and "1 run(s), and 4 other entries" in marked.stdout, marked.output
    removed = cli("rm", "--older-than", "1d", "--yes", "--runs-dir", root)
    assert removed.exit_code == 0 and removed.stdout == f"moved 20200101-000000-cfg to {root}/.trash/\n"
    (root / ".trash" / "stray.txt").write_text("the user's, in the trash\n")
    purged = cli("purge", "--yes", "--runs-dir", root)
    assert purged.exit_code == 0 and "deleted 20200101-000000-cfg" in purged.stdout and "stray.txt" in purged.stdout
    after = snapshot(root)
    assert after.pop(MARKER_FILE) and after.pop(".trash") == "dir" and after.pop(".trash/stray.txt")
    assert after.pop(".trash.lock") == b""  # scopelab's lock of the trash, kept (docs/reliability.md)
    assert after == others


@pytest.mark.parametrize("where", ["/", "project"])
def test_list_shows_no_system_or_source_directories_as_runs(tmp_path, where):
    runs_dir = project(tmp_path) if where == "project" else Path("/")
    result = cli("list", "--runs", "--format", "json", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"] == []
    assert cli("list", "--runs", "--runs-dir", runs_dir).stdout.count("broken") == 0


def test_a_new_run_marks_a_new_empty_or_old_runs_directory_but_not_a_project(tmp_path):
    new = tmp_path / "new"
    empty = tmp_path / "empty"
    empty.mkdir()
    old = tmp_path / "old"
    old_run(old, "20200101-000000-cfg")
    (old / "sweeps").mkdir()
    (old / ".trash").mkdir()
    mixed = project(tmp_path)
    old_run(mixed, "20200101-000000-cfg")
    for runs_dir in (new, empty, old, mixed):  # as the runner (and a sweep) starts a run
        run = create_run_dir(runs_dir, "cfg")
        mark_if_only_runs(runs_dir)
        run.write_text("config.yaml", "name: cfg\n")
    assert [(path / MARKER_FILE).is_file() for path in (new, empty, old, mixed)] == [True, True, True, False]


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_new_runs_directory_is_marked_before_its_first_run_or_sweep_has_a_config(command, tmp_path, mnist_dir,
                                                                                    monkeypatch):
    """Otherwise `rm` of a run in its first moment says "not known to be a runs directory" where it should
    say the run is in use (a test watching for config.yaml once caught it there)."""
    marked_at_config = []
    write_text = RunDir.write_text

    def watched(self, name, text):
        if name == "config.yaml":
            marked_at_config.append((runs_dir / MARKER_FILE).is_file())
        return write_text(self, name, text)

    monkeypatch.setattr(RunDir, "write_text", watched)
    runs_dir = tmp_path / "runs"
    config = write_config(tmp_path / "tiny.yaml", tiny_autoencoder(mnist_dir, train={"steps": 2}))
    result = cli(command, config, "--runs-dir", runs_dir, "--quiet", *(["--jobs", "1"] if command == "sweep" else []))
    assert result.exit_code == 0, result.output
    assert marked_at_config and all(marked_at_config), marked_at_config


# --- item 2: no symlink out of the runs directory ---------------------------------------------------------------


@pytest.fixture
def marked_runs(tmp_path) -> Path:
    runs_dir = tmp_path / "runs"
    check_runs_dir(runs_dir)
    mark(runs_dir)
    return runs_dir


@pytest.fixture
def outside(tmp_path) -> Path:
    """A directory outside the runs directory that looks like runs (so a follower would take it for some)."""
    root = tmp_path / "outside"
    old_run(root, "20200101-000000-cfg")
    (root / "precious.txt").write_text("must survive\n")
    return root


def test_a_symlinked_trash_is_refused_by_rm_purge_and_restore(marked_runs, outside):
    (marked_runs / ".trash").symlink_to(outside)
    old_run(marked_runs, "20200102-000000-cfg")
    before, inside = snapshot(outside), snapshot(marked_runs)
    for args in (("purge", "--yes"), ("rm", "20200102-000000-cfg", "--yes"), ("restore", "20200101-000000-cfg")):
        assert ".trash is a symlink" in one_line(cli(*args, "--runs-dir", marked_runs))
    assert snapshot(outside) == before and snapshot(marked_runs) == inside


def test_a_symlinked_run_is_no_run(marked_runs, outside):
    (marked_runs / "20200101-000000-cfg").symlink_to(outside / "20200101-000000-cfg")
    (marked_runs / ".trash").mkdir()
    (marked_runs / ".trash" / "20200103-000000-cfg").symlink_to(outside / "20200101-000000-cfg")
    before, inside = snapshot(outside), snapshot(marked_runs)
    assert json.loads(cli("list", "--runs", "--format", "json", "--runs-dir", marked_runs).stdout)["runs"] == []
    assert "no run '20200101-000000-cfg'" in one_line(cli("rm", "20200101-000000-cfg", "--yes", "--runs-dir",
                                                          marked_runs))
    nothing = cli("rm", "--older-than", "1d", "--yes", "--runs-dir", marked_runs)
    assert nothing.stdout == "no run matches; nothing moved.\n"
    assert "no run '20200103-000000-cfg' in the trash" in one_line(cli("restore", "20200103-000000-cfg", "--runs-dir",
                                                                       marked_runs))
    assert cli("purge", "--yes", "--runs-dir", marked_runs).stdout == "the trash is empty.\n"
    assert snapshot(outside) == before and snapshot(marked_runs) == inside


def test_purge_deletes_links_inside_a_run_not_what_they_point_to(marked_runs, outside):
    run = old_run(marked_runs, "20200102-000000-cfg")
    (run / "data").symlink_to(outside)
    (run / "notes.txt").symlink_to(outside / "precious.txt")
    (run / "ckpt").symlink_to(outside / "20200101-000000-cfg")
    before = snapshot(outside)
    assert cli("rm", run.name, "--yes", "--runs-dir", marked_runs).exit_code == 0
    purged = cli("purge", "--yes", "--runs-dir", marked_runs)
    assert purged.exit_code == 0 and purged.stdout == f"deleted {run.name}\n"
    assert list((marked_runs / ".trash").iterdir()) == [] and snapshot(outside) == before


# --- item 6: only files scopelab made, by exact name ------------------------------------------------------------


def user_files(run: Path) -> dict[str, bytes]:
    """Files a user keeps in a run directory, named like the globs scopelab once cleaned up with."""
    files = {
        "loss_temperature.png": b"\x89PNG the user's plot",
        "my_temp_notes/day1.txt": b"notes",
        ".notes.tmp": b"editor swap",
        ".summary.json.1234.tmp": b"a temporary of an older scopelab, not this one's to judge",
        "ckpt/model-notes.txt": b"which checkpoint was good",
        "ckpt/my_temp_export.index": b"an export",
        "tb/my_tempdir/keep.txt": b"tensorboard notes",
    }
    for name, data in files.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(data)
    return files


def scopelab_leftovers(run: Path) -> list[Path]:
    """What a killed scopelab (or TensorFlow for it) leaves, which resume must clean up."""
    paths = [run / ".summary.json.scopelab-99999-0a1b2c3d.tmp",
             run / "ckpt" / ".state-7.json.scopelab-99999-0a1b2c3d.tmp",
             run / "ckpt" / "model-7.index.tempstate123456", run / "ckpt" / "model-7_temp" / "part-00000-of-00001"]
    for path in paths:
        path.parent.mkdir(exist_ok=True)
        path.write_text("left by a killed writer")
    return paths


def as_failed(run: Path) -> None:
    summary = summary_of(run)
    summary.update(status="failed", error="RuntimeError: simulated")
    (run / "summary.json").write_text(json.dumps(summary))


def test_resume_prune_and_restart_delete_only_scopelabs_own_files(tmp_path, mnist_dir, runs_dir):
    train = {"steps": 30, "log_every": 10, "checkpoint_every": 10}
    config = write_config(tmp_path / "c.yaml", tiny_autoencoder(mnist_dir, train=train))
    assert cli("run", config, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    run = only_run(runs_dir)
    files = user_files(run)
    for args in (("--resume", run.name), ("--resume", run.name, "--restart")):  # resume; start over, then prune
        as_failed(run)
        leftovers = scopelab_leftovers(run)
        result = cli("run", *args, "--runs-dir", runs_dir, "--quiet")
        assert result.exit_code == 0, result.output
        assert {name: (run / name).read_bytes() for name in files} == files
        assert [path for path in leftovers if path.exists()] == []
    assert summary_of(run)["status"] == "completed" and summary_of(run)["restarted"] == 1
    assert (runs_dir / MARKER_FILE).is_file()  # a runs directory `run` made is marked


# --- item 9: ids unique among processes and the trash, in UTC ---------------------------------------------------

ALLOCATE = """
import sys
from pathlib import Path
from scopelab.runs import create_run_dir
print("ready", flush=True)
sys.stdin.readline()  # the go: every process allocates at once
print(create_run_dir(Path(sys.argv[1]), "cfg").run_id, flush=True)
"""


def test_twenty_processes_in_one_second_get_distinct_ids_none_in_the_trash(marked_runs):
    trash = marked_runs / ".trash"
    now = int(time.time())
    # A trashed run for every second the test could run in: the plain id of any of them is taken.
    taken = {time.strftime("%Y%m%d-%H%M%S-cfg", time.gmtime(second)) for second in range(now - 2, now + 600)}
    for run_id in taken:
        (trash / run_id).mkdir(parents=True)
    processes = [subprocess.Popen([sys.executable, "-c", ALLOCATE, str(marked_runs)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=ENV) for _ in range(20)]
    for process in processes:
        assert process.stdout.readline() == "ready\n"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    ids = [process.communicate(timeout=120)[0].strip() for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert len(set(ids)) == 20 and not set(ids) & taken
    assert all(run_id[:15] in {name[:15] for name in taken} for run_id in ids)  # within the trashed seconds
    assert sorted(path.name for path in marked_runs.iterdir() if path.name[0].isdigit()) == sorted(ids)


def test_a_new_run_never_takes_the_id_of_a_trashed_run_so_both_can_be_restored_and_removed(marked_runs):
    now = int(time.time())
    for second in range(now - 2, now + 600):
        old_run(marked_runs / ".trash", time.strftime("%Y%m%d-%H%M%S-cfg", time.gmtime(second)))
    trashed = sorted(path.name for path in (marked_runs / ".trash").iterdir())
    new = create_run_dir(marked_runs, "cfg")
    new.write_text("config.yaml", "name: cfg\n")  # what the runner writes first
    assert new.run_id not in trashed
    restored = [name for name in trashed if name[:15] == new.run_id[:15]][0]
    assert cli("restore", restored, "--runs-dir", marked_runs).exit_code == 0
    assert cli("rm", new.run_id, "--yes", "--runs-dir", marked_runs).exit_code == 0
    assert (marked_runs / restored / "summary.json").is_file() and (marked_runs / ".trash" / new.run_id).is_dir()


@pytest.mark.parametrize("zone", ["Etc/GMT-14", "Etc/GMT+12", "America/Los_Angeles"])
def test_run_ids_are_utc_whatever_the_time_zone(marked_runs, zone):
    code = "import sys; from pathlib import Path; from scopelab.runs import create_run_dir; " \
           "print(create_run_dir(Path(sys.argv[1]), 'cfg').run_id)"
    before = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    made = subprocess.run([sys.executable, "-c", code, str(marked_runs)], capture_output=True, text=True,
                          env={**ENV, "TZ": zone}, check=True).stdout.strip()
    after = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    assert before <= made[:15] <= after


# --- item 15: config copy writes only a regular file ------------------------------------------------------------


def test_config_copy_never_writes_through_a_symlink(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tied_ae.yaml").symlink_to(tmp_path / "elsewhere.yaml")  # dangling
    (tmp_path / "real.yaml").write_text("mine\n")
    (tmp_path / "configs" / "untied_ae.yaml").symlink_to(tmp_path / "real.yaml")
    for args in (("tied_ae",), ("tied_ae", "--force"), ("untied_ae", "--force")):
        assert "is a symlink" in one_line(cli("config", "copy", *args))
    assert not (tmp_path / "elsewhere.yaml").exists() and (tmp_path / "real.yaml").read_text() == "mine\n"


def test_config_copy_onto_a_fifo_is_refused_at_once(tmp_path):
    (tmp_path / "configs").mkdir()
    os.mkfifo(tmp_path / "configs" / "tied_ae.yaml")
    # In a process of its own: a hang would otherwise hang the test run (the timeout only guards that).
    result = subprocess.run([sys.executable, "-m", "scopelab", "config", "copy", "tied_ae", "--force"], cwd=tmp_path,
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "is not a regular file" in result.stderr
    assert (tmp_path / "configs" / "tied_ae.yaml").is_fifo()


def test_config_copy_still_overwrites_a_regular_file_with_force(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tied_ae.yaml").write_text("old\n")
    assert cli("config", "copy", "tied_ae", "--force").exit_code == 0
    assert "tied" in (tmp_path / "configs" / "tied_ae.yaml").read_text()
    assert [path.name for path in (tmp_path / "configs").iterdir()] == ["tied_ae.yaml"]  # no temporary left
