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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scopelab.errors import InputError
from scopelab.ownership import is_owned
from scopelab.runs import (
    MARKER_FILE,
    SWEEPS_DIR,
    TRASH_DIR,
    Annotations,
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
)

TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/+-]{0,63}$")
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# --- tags and notes ---------------------------------------------------------------------------------------------


def tag(runs_dir: Path, reference: str, tags: tuple[str, ...], remove: bool) -> str:
    """Add tags to a run (or remove them); returns the run's tags after."""
    run = find_run(runs_dir, reference)
    for name in tags:
        if not TAG_PATTERN.match(name):
            raise InputError(
                f"tag '{name}': use letters, digits and _ . : / + - (at most 64, starting with a letter or digit)."
            )
    annotations = _annotations(run)
    if remove:
        missing = [name for name in tags if name not in annotations.tags]
        if missing:
            raise InputError(f"run {run.run_id} has no tag {', '.join(repr(name) for name in missing)}.")
        annotations.tags = [name for name in annotations.tags if name not in tags]
    else:
        annotations.tags += [name for name in dict.fromkeys(tags) if name not in annotations.tags]
    run.directory.write_annotations(annotations)
    return f"{run.run_id}: tags {', '.join(annotations.tags) or '(none)'}"


def note(runs_dir: Path, reference: str, text: str | None) -> str:
    """Set a run's note (None clears it)."""
    run = find_run(runs_dir, reference)
    if text is not None and not text.strip():
        raise InputError("the note is empty; give some text, or --clear to remove the note.")
    annotations = _annotations(run)
    annotations.note = text.strip() if text else ""
    run.directory.write_annotations(annotations)
    return f"{run.run_id}: note {'set' if text else 'cleared'}"


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
    trash = trash_dir(request.runs_dir)
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
        if os.path.lexists(trash / run.run_id):
            raise InputError(f"run {run.run_id} is already in {trash}; purge or restore it first.")
        _check_sweep_idle(request.runs_dir, run)
    return chosen


def remove(runs_dir: Path, runs: list[Run], echo: Callable[[str], None]) -> None:
    """Move the runs to the trash; a sweep that had them marks those members removed."""
    trash = trash_dir(runs_dir)
    trash.mkdir(exist_ok=True)
    for run in runs:
        os.rename(run.directory.path, trash / run.run_id)
        _mark_in_sweep(runs_dir, run, removed=True)
        echo(f"moved {run.run_id} to {trash}/")


def select_for_restore(runs_dir: Path, references: tuple[str, ...]) -> list[Run]:
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


def restore(runs_dir: Path, runs: list[Run], echo: Callable[[str], None]) -> None:
    for run in runs:
        # Take the name first with mkdir, as a new run does (runs.create_run_dir): whichever comes second
        # sees it taken. The rename then replaces this empty directory.
        try:
            (runs_dir / run.run_id).mkdir()
        except FileExistsError:
            raise InputError(f"run {run.run_id}: {runs_dir / run.run_id} exists, so it cannot be restored.") from None
        os.rename(run.directory.path, runs_dir / run.run_id)
        _mark_in_sweep(runs_dir, run, removed=False)
        echo(f"restored {run.run_id} to {runs_dir}/")


def trashed(runs_dir: Path) -> list[Path]:
    """The runs in the trash (runs.is_run): what purge deletes."""
    require_marked(runs_dir)
    trash = trash_dir(runs_dir)
    return sorted(path for path in trash.iterdir() if is_run(path)) if trash.is_dir() else []


def purge(runs_dir: Path, echo: Callable[[str], None]) -> None:
    """Delete the runs in the trash, for good; anything else there is left, and named."""
    for path in trashed(runs_dir):
        shutil.rmtree(path)  # a real directory (is_run); rmtree removes symlinks inside it, never their targets
        echo(f"deleted {path.name}")
    others = sorted(path.name for path in trash_dir(runs_dir).iterdir() if not is_run(path))
    if others:
        echo(f"left {len(others)} entries in {trash_dir(runs_dir)}/ that are not runs: {', '.join(others[:5])}")


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


def _check_sweep_idle(runs_dir: Path, run: Run) -> None:
    """A running sweep rewrites its sweep.json, which would undo the mark that a member was removed."""
    found = _sweep_of(runs_dir, run)
    if found is None:
        return
    directory, record = found
    if record.status == "running" and is_owned(directory.path):
        raise InputError(
            f"run {run.run_id} belongs to sweep {record.sweep_id}, which is still running; remove it once the "
            "sweep has finished."
        )


def _mark_in_sweep(runs_dir: Path, run: Run, removed: bool) -> None:
    found = _sweep_of(runs_dir, run)
    if found is None:
        return
    directory, record = found
    for member in record.members:
        if member.run_id == run.run_id:
            member.removed = removed
            directory.write_sweep(record)
            return


def _sweep_of(runs_dir: Path, run: Run) -> tuple[RunDir, SweepRecord] | None:
    """The sweep a run is a member of, with its record; None when there is none or no readable record
    to keep consistent."""
    if not run.sweep:
        return None
    try:
        directory = resolve_sweep(runs_dir, run.sweep)
        return directory, directory.read_sweep()
    except (InputError, OSError, ValueError):
        return None
