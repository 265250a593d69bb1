"""Managing runs after the fact: tags and notes (annotations.json), and the trash (`rm`, `restore`, `purge`).

Every command checks all its arguments before it changes anything, so bad input leaves the disk as it was.
Nothing but `purge` deletes a run, and `purge` only what `rm` put in the trash.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scopelab.errors import InputError
from scopelab.ownership import is_owned
from scopelab.runs import (
    TRASH_DIR,
    Annotations,
    Run,
    RunDir,
    SweepRecord,
    find_run,
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
    return runs_dir / TRASH_DIR


def select_for_removal(request: RemoveRequest) -> list[Run]:
    """The runs named (or all, when only filters are given) that pass every filter. Raises InputError if one
    of them cannot be removed: its process is alive, or its sweep is still running."""
    if not (request.references or request.status or request.older_than or request.config):
        raise InputError("name the runs to remove, or select them with --status, --older-than or --config.")
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
            raise InputError(f"run {run.run_id} is still running (a live process is starting it); stop it first.")
        if (trash_dir(request.runs_dir) / run.run_id).exists():
            trash = trash_dir(request.runs_dir)
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
    trash = trash_dir(runs_dir)
    chosen = []
    for reference in references:
        try:
            run = read_run(resolve_run(trash, reference))
        except InputError:
            raise InputError(f"no run '{reference}' in the trash ({trash}/; see: scopelab list --trash).") from None
        if (runs_dir / run.run_id).exists():
            raise InputError(f"run {run.run_id}: {runs_dir / run.run_id} exists, so it cannot be restored.")
        chosen.append(run)
    return chosen


def restore(runs_dir: Path, runs: list[Run], echo: Callable[[str], None]) -> None:
    for run in runs:
        os.rename(run.directory.path, runs_dir / run.run_id)
        _mark_in_sweep(runs_dir, run, removed=False)
        echo(f"restored {run.run_id} to {runs_dir}/")


def trashed(runs_dir: Path) -> list[Path]:
    trash = trash_dir(runs_dir)
    return sorted(path for path in trash.iterdir()) if trash.is_dir() else []


def purge(runs_dir: Path, echo: Callable[[str], None]) -> None:
    """Delete everything in the trash, for good."""
    for path in trashed(runs_dir):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        echo(f"deleted {path.name}")


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
        return time.time() - time.mktime(time.strptime(run.run_id[:15], "%Y%m%d-%H%M%S"))
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
