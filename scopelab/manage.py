"""Managing runs after the fact: tags and notes (annotations.json), and the trash (`rm`, `restore`, `purge`).

Every command checks all its arguments before it changes anything, so bad input leaves the disk as it was.
Nothing but `purge` deletes a run, and `purge` only what `rm` put in the trash. `rm`, `restore` and `purge`
act only in a runs directory scopelab marked (runs.directory.MARKER_FILE), only on what runs.is_run
recognises, and never through a symlink: a symlinked .trash is refused, a symlinked entry is no run.
"""

from __future__ import annotations

import calendar
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scopelab.errors import InputError, escaped
from scopelab.ownership import Ownership, exclusive, is_owned
from scopelab.runs import (
    MARKER_FILE,
    SWEEPS_DIR,
    TAG_PATTERN,
    TRASH_DIR,
    Annotations,
    RecordError,
    Run,
    RunDir,
    SweepRecord,
    find_run,
    is_marked,
    is_run,
    mark,
    read_run,
    read_runs,
    resolve_run,
    resolve_sweep,
    run_dirs,
)
from scopelab.runs.directory import TRASH_LOCK

AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# --- tags and notes ---------------------------------------------------------------------------------------------


def tag(runs_dir: Path, reference: str, tags: tuple[str, ...], remove: bool) -> str:
    """Add tags to a run (or remove them); returns the run's tags after."""
    run = find_run(runs_dir, reference)
    for name in tags:
        if not TAG_PATTERN.fullmatch(name):
            raise InputError(
                f"tag '{name}': use letters, digits and _ . : / + - (at most 64, starting with a letter or digit)."
            )

    def change(annotations: Annotations) -> None:
        if remove:
            missing = [name for name in tags if name not in annotations.tags]
            if missing:
                raise InputError(f"run {run.run_id} has no tag {', '.join(repr(name) for name in missing)}.")
            annotations.tags = [name for name in annotations.tags if name not in tags]
        else:
            annotations.tags += [name for name in dict.fromkeys(tags) if name not in annotations.tags]

    annotations = _change_annotations(run, change)
    return escaped(f"{run.run_id}: tags {', '.join(annotations.tags) or '(none)'}")


def note(runs_dir: Path, reference: str, text: str | None) -> str:
    """Set a run's note (None clears it)."""
    run = find_run(runs_dir, reference)
    if text is not None and not text.strip():
        raise InputError("the note is empty; give some text, or --clear to remove the note.")

    def change(annotations: Annotations) -> None:
        annotations.note = text.strip() if text else ""

    _change_annotations(run, change)
    return escaped(f"{run.run_id}: note {'set' if text else 'cleared'}")


def _change_annotations(run: Run, change: Callable[[Annotations], None]) -> Annotations:
    """Read, change and write annotations.json under the run's records lock: concurrent `tag` and `note`
    commands each read what the one before wrote, so none loses another's change."""
    change(_annotations(run))  # a dry run first: a change refused leaves the disk as it was, not even a lock file
    with run.directory.records_locked():
        annotations = _annotations(run)
        change(annotations)
        try:
            run.directory.write_annotations(annotations)
        except RecordError as error:  # what would not read back (a note too long, too many tags)
            raise InputError(f"run {run.run_id}: not written: {error}.") from None
        except OSError as error:
            if not run.directory.path.is_dir():  # `rm` moved it between our read and our write
                raise InputError(f"run {run.run_id} was moved or removed meanwhile; nothing was changed.") from None
            raise InputError(
                f"run {run.run_id}: cannot write its annotations.json ({error.strerror}); nothing was changed."
            ) from None
    return annotations


def _annotations(run: Run) -> Annotations:
    try:
        return run.directory.read_annotations()
    except (OSError, ValueError):
        raise InputError(f"run {run.run_id}: its annotations.json is unreadable; fix or delete it first.") from None


# --- the trash --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoveRequest:
    runs_dir: Path
    references: tuple[str, ...] = ()  # ids or unique prefixes
    status: str | None = None
    older_than: str | None = None  # e.g. 7d
    config: str | None = None


def trash_dir(runs_dir: Path) -> Path:
    """The trash; refused when it is a symlink or not a directory, which would take runs out of the runs
    directory (rm) or delete what it points to (purge)."""
    trash = runs_dir / TRASH_DIR
    try:
        mode = os.lstat(trash).st_mode
    except FileNotFoundError:
        return trash
    if not stat.S_ISDIR(mode):
        what = "a symlink" if stat.S_ISLNK(mode) else "not a directory"
        raise InputError(f"{trash} is {what}; scopelab keeps its trash only in a real directory: move it away.")
    return trash


def require_marked(runs_dir: Path) -> None:
    """rm, restore and purge move and delete: only in a directory that scopelab marked as a runs directory."""
    if runs_dir.is_dir() and not is_marked(runs_dir):
        raise InputError(
            f"{runs_dir} has no {MARKER_FILE}, so it is not known to be a runs directory and nothing in it is "
            f"moved or deleted; if it is one, mark it with: scopelab mark-runs-dir --runs-dir {runs_dir}"
        )


def mark_runs_dir(runs_dir: Path) -> str:
    """Mark an existing directory as a runs directory (one made before scopelab marked them)."""
    if not runs_dir.is_dir():
        raise InputError(f"{runs_dir}: no such directory to mark as a runs directory.")
    entries = [entry for entry in runs_dir.iterdir() if entry.name not in (MARKER_FILE, TRASH_DIR, SWEEPS_DIR)]
    runs = sum(1 for entry in entries if is_run(entry))
    try:
        mark(runs_dir)
    except OSError as error:
        raise InputError(f"{runs_dir}: cannot write {MARKER_FILE} ({error.strerror}).") from None
    others = len(entries) - runs
    return f"marked {runs_dir} as a runs directory: {runs} run(s), and {others} other entries that are never touched."


def select_for_removal(request: RemoveRequest) -> list[Run]:
    """The runs named (or all, when only filters are given) that pass every filter. Raises InputError if one
    of them cannot be removed: its process is alive, or its sweep is still running."""
    if not (request.references or request.status or request.older_than or request.config):
        raise InputError("name the runs to remove, or select them with --status, --older-than or --config.")
    require_marked(request.runs_dir)
    trash_dir(request.runs_dir)  # refused when a symlink or a file
    age = parse_age(request.older_than) if request.older_than else None
    if request.references:
        named = {resolve_run(request.runs_dir, reference).run_id for reference in request.references}
        runs = [read_run(RunDir(request.runs_dir / run_id)) for run_id in sorted(named, reverse=True)]
    else:
        runs = read_runs(request.runs_dir)
    chosen = [
        run
        for run in runs
        if request.status in (None, run.status)
        and request.config in (None, run.config_name)
        and (age is None or _age_seconds(run) > age)
    ]
    for run in chosen:
        if run.status == "running":  # its lock is held (scopelab.ownership): a live process owns it
            raise InputError(
                f"run {run.run_id} is still running (pid {run.record.pid} on {run.record.host}); stop it first."
            )
        if is_owned(run.directory.path):  # a run being started: locked, its first summary.json not yet written
            raise InputError(f"run {run.run_id} is in use by another scopelab process (it is being started or "
                             "resumed); stop it first.")
        _check_trash_free(request.runs_dir, run)
        sweep = _sweep_dir(request.runs_dir, run)
        if sweep:
            _check_sweep_idle(run, sweep)
    return chosen


def remove(runs_dir: Path, runs: list[Run], echo: Callable[[str], None]) -> None:
    """Move the runs to the trash; a sweep that had them marks those members removed.

    What select_for_removal checked may have changed since (the user was asked in between), so it is checked
    again holding the locks: the trash's, each run's owner lock (a run being created or resumed is live, even
    while its record still says it was interrupted) and the records lock of each sweep the runs belong to."""
    trash = trash_dir(runs_dir)
    with _trash_locked(runs_dir), ExitStack() as held:
        for run in runs:
            if not run.directory.path.is_dir():
                raise InputError(f"run {run.run_id} is no longer in {runs_dir}/ (removed meanwhile?); nothing moved.")
            held.enter_context(Ownership(run.directory.path, f"run {run.run_id}"))
            _check_trash_free(runs_dir, run)
        sweeps = _lock_sweeps(runs_dir, runs, held)
        with _one_line_os_errors():
            trash.mkdir(exist_ok=True)
        for run in runs:
            with _one_line_os_errors():
                os.rename(run.directory.path, trash / run.run_id)
            _mark_in_sweep(sweeps, run, removed=True)
            echo(escaped(f"moved {run.run_id} to {trash}/"))  # any directory name, as found on disk


def restore(runs_dir: Path, references: tuple[str, ...], echo: Callable[[str], None]) -> None:
    """Move runs back from the trash, holding the trash's lock: a `purge` cannot delete one half way."""
    _select_for_restore(runs_dir, references)  # a dry run first: refused input leaves not even a lock file
    with _trash_locked(runs_dir), ExitStack() as held:
        runs = _select_for_restore(runs_dir, references)
        sweeps = _lock_sweeps(runs_dir, runs, held)
        for run in runs:
            # Take the name first with mkdir, as a new run does (runs.create_run_dir): whichever comes second
            # sees it taken. The rename then replaces this empty directory.
            with _one_line_os_errors():
                try:
                    (runs_dir / run.run_id).mkdir()
                except FileExistsError:
                    raise InputError(
                        f"run {run.run_id}: {runs_dir / run.run_id} exists, so it cannot be restored."
                    ) from None
                os.rename(run.directory.path, runs_dir / run.run_id)
            _mark_in_sweep(sweeps, run, removed=False)
            echo(escaped(f"restored {run.run_id} to {runs_dir}/"))


def _select_for_restore(runs_dir: Path, references: tuple[str, ...]) -> list[Run]:
    require_marked(runs_dir)
    trash = trash_dir(runs_dir)
    chosen = []
    for reference in references:
        try:
            run = read_run(resolve_run(trash, reference))
        except InputError:
            raise InputError(f"no run '{reference}' in the trash ({trash}/; see: scopelab list --trash).") from None
        if os.path.lexists(runs_dir / run.run_id):
            raise InputError(f"run {run.run_id}: {runs_dir / run.run_id} exists, so it cannot be restored.")
        chosen.append(run)
    return chosen


def trashed(runs_dir: Path) -> list[Path]:
    """The runs in the trash (runs.is_run): what purge deletes."""
    require_marked(runs_dir)
    trash = trash_dir(runs_dir)
    with _one_line_os_errors():
        return sorted(path for path in trash.iterdir() if is_run(path)) if trash.is_dir() else []


@contextmanager
def _one_line_os_errors() -> Iterator[None]:
    """A directory that cannot be changed (no permission, read-only) as one line naming it and the cause; what
    was done before it stays done, and was said."""
    try:
        yield
    except OSError as error:
        where = error.filename or "the runs directory"
        raise InputError(f"{where}: {error.strerror or error}; nothing more was changed.") from None


def purge(runs_dir: Path, names: list[str], echo: Callable[[str], None]) -> None:
    """Delete for good the runs named (those the user agreed to) that are still in the trash, holding the
    trash's lock: a `restore` either ran before (the run is back, and left alone) or waits and finds it gone."""
    trash = trash_dir(runs_dir)
    with _trash_locked(runs_dir):
        for name in names:
            path = trash / name
            with _one_line_os_errors():
                if is_run(path):  # a real directory; rmtree removes symlinks inside it, never their targets
                    shutil.rmtree(path)
                else:
                    echo(escaped(f"{name} is no longer in the trash (restored meanwhile); left alone"))
                    continue
            echo(escaped(f"deleted {name}"))
        with _one_line_os_errors():
            others = sorted(path.name for path in trash.iterdir() if not is_run(path)) if trash.is_dir() else []
    if others:
        echo(escaped(f"left {len(others)} entries in {trash}/ that are not runs: {', '.join(others[:5])}"))


def _trash_locked(runs_dir: Path) -> AbstractContextManager[None]:
    if not runs_dir.is_dir():
        run_dirs(runs_dir)  # a file in the way says so
        raise InputError(f"{runs_dir}: no runs directory, so no trash in it.")
    return exclusive(runs_dir / TRASH_LOCK, f"the trash of {runs_dir}")


def _check_trash_free(runs_dir: Path, run: Run) -> None:
    if os.path.lexists(trash_dir(runs_dir) / run.run_id):
        raise InputError(f"run {run.run_id} is already in {trash_dir(runs_dir)}; purge or restore it first.")


def parse_age(text: str) -> float:
    """7d -> seconds in 7 days (units s, m, h, d, w)."""
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match:
        raise InputError(f"--older-than {text}: expected a number and a unit (s, m, h, d, w), e.g. 7d or 12h.")
    return int(match.group(1)) * AGE_UNITS[match.group(2)]


def _age_seconds(run: Run) -> float:
    """Since the run started (its record), else since its directory was made (the id's time stamp)."""
    started = run.record.started_at if run.record else None
    try:
        if started:
            return time.time() - datetime.fromisoformat(started).timestamp()
        return time.time() - calendar.timegm(time.strptime(run.run_id[:15], "%Y%m%d-%H%M%S"))  # ids are UTC
    except ValueError:
        return time.time() - run.directory.path.stat().st_mtime


def _check_sweep_idle(run: Run, sweep: RunDir) -> None:
    """A sweep being driven rewrites its sweep.json, which would undo the mark that a member was removed.
    Its driver holds the sweep's owner lock (scopelab.ownership) from before it reads the record."""
    if is_owned(sweep.path):
        raise InputError(
            f"run {run.run_id} belongs to sweep {sweep.run_id}, which is still running; remove it once the "
            "sweep has finished."
        )


def _lock_sweeps(runs_dir: Path, runs: list[Run], held: ExitStack) -> dict[str, tuple[RunDir, SweepRecord]]:
    """The sweeps the runs belong to, by run id: each one's records lock held, checked idle and its record read
    under the lock (a `sweep --resume` reads it under the same lock, after taking the sweep's owner lock).
    A sweep without a readable record is left out: there is no record to keep consistent."""
    records: dict[Path, SweepRecord | None] = {}
    found = {}
    for run in runs:
        sweep = _sweep_dir(runs_dir, run)
        if sweep is None:
            continue
        if sweep.path not in records:
            held.enter_context(sweep.records_locked())
            # Idle before we read, not after: a driver that wrote the record and ended in between would find
            # its last record overwritten by the one we read (a finished sweep left `running`). Once idle under
            # this lock, a new driver waits for it before it reads, so the record cannot change under us.
            _check_sweep_idle(run, sweep)
            try:
                records[sweep.path] = sweep.read_sweep()
            except (OSError, ValueError):
                records[sweep.path] = None
        record = records[sweep.path]
        if record is not None:
            found[run.run_id] = (sweep, record)
    return found


def _mark_in_sweep(sweeps: dict[str, tuple[RunDir, SweepRecord]], run: Run, removed: bool) -> None:
    if run.run_id not in sweeps:
        return
    directory, record = sweeps[run.run_id]
    for member in record.members:
        if member.run_id == run.run_id:
            member.removed = removed
            with _one_line_os_errors():
                directory.write_sweep(record)
            return


def _sweep_dir(runs_dir: Path, run: Run) -> RunDir | None:
    """The directory of the sweep a run is a member of; None when it has none (or it is gone)."""
    if not run.sweep:
        return None
    try:
        return resolve_sweep(runs_dir, run.sweep)
    except InputError:
        return None
