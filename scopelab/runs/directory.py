"""The run directory: create it (atomically, never two runs in one), write files atomically, read back,
and list the runs and sweeps in a runs directory (runs/resolve.py finds one by id or prefix).

runs/.scopelab-runs                 the marker: a runs directory of scopelab's (rm, restore and purge need it)
runs/<YYYYMMDD-HHMMSS>-<config-name>[-<suffix>]/   a run; the time is UTC, when the run was created
    config.yaml       the resolved config        metrics.csv  network, step, loss, accuracy
    summary.json      RunRecord (the run writes it)          log.txt  the article-style table as printed
    annotations.json  tags and note (only the user writes it)
    ckpt/             the latest checkpoint      tb/          TensorBoard events
runs/sweeps/<sweep-id>/sweep.json   SweepRecord
runs/.trash/<run-id>/               runs moved there by `scopelab rm`

A run is a real directory (never a symlink) named like a run id that holds a config.yaml or a summary.json,
each a regular file: `create_run_dir` makes the directory and the runner writes config.yaml straight after,
so every run scopelab made has one of the two, and nothing else in a runs directory is ever taken for a run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from scopelab.errors import InputError
from scopelab.ownership import exclusive
from scopelab.runs.record import ANNOTATIONS, SUMMARY, SWEEP, Annotations, MetricRow, RunRecord, SweepRecord
from scopelab.runs.schema import RecordError, parse_text_row
from scopelab.safe_read import METRICS_LIMIT, RECORD_LIMIT, read_json, read_text

METRIC_COLUMNS = ("network", "step", "loss", "accuracy")
SWEEPS_DIR = "sweeps"  # runs/sweeps/ holds sweep records (scopelab.sweep), not runs
TRASH_DIR = ".trash"
SUMMARY_FILE = SUMMARY
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
LOG_FILE = "log.txt"
ANNOTATIONS_FILE = ANNOTATIONS
SWEEP_FILE = SWEEP
RECORDS_LOCK = ".records.lock"  # scopelab.ownership.exclusive: one writer of annotations.json or sweep.json
TRASH_LOCK = ".trash.lock"  # in the runs directory: one `rm`, `restore` or `purge` at a time
MISSING_NOTED = ".no-hparams-noted"  # in the runs directory: its runs have said once that HParams is missing
MARKER_FILE = ".scopelab-runs"
MARKER_TEXT = "scopelab made this runs directory: rm, restore and purge act only where this file is.\n"
RUN_ID = re.compile(r"^\d{8}-\d{6}-[A-Za-z0-9][A-Za-z0-9_.-]*$")  # create_run_dir's names (runs and sweeps)
# write_text's temporary for a file: scopelab's name in it (the writer's pid and a random token), so no
# user's `.notes.tmp` can pass for one.
TEMPORARY = re.compile(r"^\.(?P<target>.+)\.scopelab-\d+-[0-9a-f]+\.tmp$")


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def ckpt_dir(self) -> Path:
        return self.path / "ckpt"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def log_file(self) -> Path:
        return self.path / LOG_FILE

    def write_text(self, name: str, text: str) -> None:
        """Write to a temporary name, then rename: a killed run never leaves a half-written file."""
        write_atomically(self.path / name, text)

    def write_metrics(self, rows: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: ("" if row.get(key) is None else row[key]) for key in METRIC_COLUMNS})
        self.write_text(METRICS_FILE, buffer.getvalue())

    def read_record(self, variables: bool = True) -> RunRecord:
        """summary.json; OSError when unreadable, ValueError (RecordError) when not a record."""
        return RunRecord.from_json(read_json(self.path / SUMMARY_FILE, RECORD_LIMIT), variables)

    def write_record(self, record: RunRecord) -> None:
        """RecordError, and nothing written, for a record that would not read back."""
        self.write_record_json(SUMMARY_FILE, record.check_writable())

    def read_annotations(self) -> Annotations:
        """The user's tags and note; none when the file is missing."""
        try:
            data = read_json(self.path / ANNOTATIONS_FILE, RECORD_LIMIT)
        except FileNotFoundError:
            return Annotations()
        return Annotations.from_json(data)

    def write_annotations(self, annotations: Annotations) -> None:
        """RecordError, and nothing written, for annotations that would not read back (a note too long)."""
        self.write_record_json(ANNOTATIONS_FILE, annotations.check_writable())

    def records_locked(self) -> AbstractContextManager[None]:
        """Held around a read-modify-write of a record others change too: a run's annotations.json (`tag`,
        `note`), a sweep's sweep.json (`rm`, `restore` and `sweep --resume`)."""
        return exclusive(self.path / RECORDS_LOCK, f"the records of {self.run_id}")

    def read_sweep(self) -> SweepRecord:
        return SweepRecord.from_json(read_json(self.path / SWEEP_FILE, RECORD_LIMIT))

    def write_sweep(self, record: SweepRecord) -> None:
        self.write_record_json(SWEEP_FILE, record.check_writable())

    def write_record_json(self, name: str, data: dict) -> None:
        """A checked record, unless it is over the size that reading it allows."""
        text = json.dumps(data, indent=2) + "\n"
        size = len(text.encode())
        if size > RECORD_LIMIT:
            raise RecordError(f"{name} would be {size:,} bytes, over the {RECORD_LIMIT:,} that scopelab reads back")
        self.write_text(name, text)

    @property
    def record_mtime_ns(self) -> int:
        """When the run last wrote its summary, to the nanosecond (run ids only tell the second it started)."""
        return (self.path / SUMMARY_FILE).stat().st_mtime_ns

    def read_metrics(self) -> list[dict]:
        """The logged rows, each checked (scopelab.runs.record.MetricRow); raises ValueError (RecordError for a
        bad row, naming its line) also when a network's steps do not increase (a repeated row would pass for
        an extra repeat in compare's statistics)."""
        rows = []
        last: dict[str, int] = {}
        reader = csv.DictReader(io.StringIO(read_text(self.metrics_file, METRICS_LIMIT), newline=""))
        for row in reader:
            where = f"{METRICS_FILE} line {reader.line_num}"
            checked = parse_text_row(MetricRow, row, where)
            network, step = checked["network"], checked["step"]
            if step <= last.get(network, -1):
                raise RecordError(f"{where}: step {step} of {network} comes after step {last[network]}")
            last[network] = step
            rows.append(checked)
        return rows


def write_atomically(target: Path, text: str) -> None:
    """Write to a temporary name beside the target, then rename over it (the rename replaces a symlink or
    FIFO there rather than writing through it).

    The temporary name is this writer's alone (pid and a random token), and made with O_EXCL: a `tag` and
    the training process, or two `tag`s, never write into or rename each other's temporary."""
    temporary = target.with_name(f".{target.name}.scopelab-{os.getpid()}-{os.urandom(4).hex()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)  # ours by its name: a full disk gets its room back
        raise


def temporary_target(name: str) -> str | None:
    """The file a write_text temporary of this name was for, or None when it is no such temporary."""
    match = TEMPORARY.match(name)
    return match.group("target") if match else None


def check_runs_dir(runs_dir: Path) -> None:
    """The runs directory must be a writable directory (created when missing)."""
    if runs_dir.exists() and not runs_dir.is_dir():
        raise InputError(f"{runs_dir}: the runs directory is a file; expected a directory (--runs-dir).")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{runs_dir}: cannot create the runs directory ({error.strerror}).") from None
    # Try it: os.access says yes to root everywhere, even in /proc, where no directory can be made.
    import tempfile  # here and secrets below: only starting a run needs them, and `list` starts faster without

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".probe-", dir=runs_dir))
    except OSError as error:
        raise InputError(f"{runs_dir}: cannot make run directories in the runs directory ({error.strerror}).") from None


def mark_if_only_runs(runs_dir: Path) -> None:
    """Mark the runs directory as scopelab's when it holds nothing but runs, sweeps/ and .trash/: called once
    a new run (or sweep) is in it, so a directory scopelab just made, an empty one, and one made by a version
    before the marker are marked. A directory holding anything else stays unmarked: runs are still made
    there, but rm, restore and purge wait until the user marks it (scopelab mark-runs-dir)."""
    if not is_marked(runs_dir) and _holds_only_runs(runs_dir):
        try:
            mark(runs_dir)
        except OSError:
            pass  # a full disk: the run reports that itself; the next run marks the directory


def is_marked(runs_dir: Path) -> bool:
    return _mode(runs_dir / MARKER_FILE, stat.S_ISREG)


def mark(runs_dir: Path) -> None:
    write_atomically(runs_dir / MARKER_FILE, MARKER_TEXT)


def _holds_only_runs(runs_dir: Path) -> bool:
    """Only runs, sweeps/ and .trash/, and scopelab's own lock and note files; also a run a concurrent
    process has made but not yet written into (a real directory named like an id) and its writability probe
    (check_runs_dir), so that runs starting together do not keep each other from marking."""
    return all(
        ((RUN_ID.match(entry.name) or entry.name in (SWEEPS_DIR, TRASH_DIR)) and _mode(entry, stat.S_ISDIR))
        or entry.name.startswith(".probe-")
        or (entry.name in (TRASH_LOCK, MISSING_NOTED) and _mode(entry, stat.S_ISREG))  # scopelab's own
        for entry in runs_dir.iterdir()
    )


def create_run_dir(runs_dir: Path, config_name: str) -> RunDir:
    """Make a new run directory, named by the UTC time, so ids sort by creation in any time zone. mkdir is
    atomic, so concurrent runs never share one; a name still held by a run in the trash is given back and
    another taken (restore makes its name with mkdir too, so the two cannot cross)."""
    check_runs_dir(runs_dir)
    stamp = utc_stamp()
    candidate = f"{stamp}-{config_name}"
    while True:
        path = runs_dir / candidate
        try:
            path.mkdir()
            if not os.path.lexists(runs_dir / TRASH_DIR / candidate):
                return RunDir(path)
            path.rmdir()  # ours, made just now and empty
        except FileExistsError:
            pass
        import secrets

        candidate = f"{stamp}-{config_name}-{secrets.token_hex(2)}"


def utc_stamp() -> str:
    """The time a new id starts with. (tools/docs.py swaps in a fixed clock, so the docs show the same ids on
    every build.)"""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def is_run(path: Path) -> bool:
    """Whether a path is a run scopelab made (see the module's docstring); never follows a symlink."""
    return RUN_ID.match(path.name) is not None and _mode(path, stat.S_ISDIR) and _holds_a_record(path)


def _holds_a_record(path: Path) -> bool:
    return _mode(path / CONFIG_FILE, stat.S_ISREG) or _mode(path / SUMMARY_FILE, stat.S_ISREG)


def _mode(path: Path, test) -> bool:
    """Whether the path itself (a symlink is never followed) exists and passes the stat test."""
    try:
        return test(os.lstat(path).st_mode)
    except OSError:
        return False


def run_dirs(runs_dir: Path) -> list[RunDir]:
    """Every run in the runs directory (is_run), newest first (by name, which starts with the time)."""
    if runs_dir.exists() and not runs_dir.is_dir():
        raise InputError(f"{runs_dir}: the runs directory is a file; expected a directory (--runs-dir).")
    if not runs_dir.is_dir():
        return []
    with os.scandir(runs_dir) as entries:  # is_run, one stat fewer: scandir knows what is a directory
        found = [
            Path(entry.path)
            for entry in entries
            if RUN_ID.match(entry.name) and entry.is_dir(follow_symlinks=False) and _holds_a_record(Path(entry.path))
        ]
    return [RunDir(path) for path in sorted(found, key=lambda path: path.name, reverse=True)]


def sweeps_dir(runs_dir: Path) -> Path:
    return runs_dir / SWEEPS_DIR


def sweep_dirs(runs_dir: Path) -> list[RunDir]:
    """Every sweep directory (a real directory named like an id, with a sweep.json), newest first."""
    found = sweeps_dir(runs_dir)
    if not _mode(found, stat.S_ISDIR):
        return []
    return [
        RunDir(path)
        for path in sorted(found.iterdir(), reverse=True)
        if RUN_ID.match(path.name) and _mode(path, stat.S_ISDIR) and _mode(path / SWEEP_FILE, stat.S_ISREG)
    ]


# Checkpoint state files (scopelab.checkpoints writes them; `list` reads the newest): listed here, with the
# directory they live in, so reading a run never needs the checkpoint module.
STATE_PATTERN = re.compile(r"^state-(\d+)\.json$")
LEGACY_STATE = "state.json"  # one state for one checkpoint, as runs made before keeping two were written


def saved_states(run_dir: RunDir) -> list[Path]:
    """The state files, newest first (the legacy single state last)."""
    if not _mode(run_dir.ckpt_dir, stat.S_ISDIR):  # a symlinked ckpt/ would lead prune out of the run
        return []
    numbered = []
    for path in run_dir.ckpt_dir.iterdir():
        match = STATE_PATTERN.match(path.name)
        if match:
            numbered.append((int(match.group(1)), path))
    states = [path for _, path in sorted(numbered, reverse=True)]
    legacy = run_dir.ckpt_dir / LEGACY_STATE
    return states + [legacy] if legacy.exists() else states
