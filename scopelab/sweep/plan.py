"""A sweep and its record: the request, creating a sweep (every member's config checked before anything is
written), reopening one to resume it, and reconciling its members with the runs they made."""

from __future__ import annotations

import itertools
import shlex
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from scopelab.config import Config, dump_config, load_config, overridden
from scopelab.errors import InputError
from scopelab.footprint import check_fits_in_memory
from scopelab.ownership import Ownership
from scopelab.runs import (
    SweepMember,
    SweepRecord,
    create_run_dir,
    mark_if_only_runs,
    resolve_sweep,
    run_dirs,
    sweeps_dir,
    utc_now,
)
from scopelab.runs.directory import CONFIG_FILE, SWEEP_FILE, RunDir
from scopelab.runs.reading import unreadable
from scopelab.signals import signals_deferred
from scopelab.sweep.grid import check_sweep_size, parse_grid, parse_seeds


@dataclass(frozen=True)
class SweepRequest:
    config_path: Path | None = None
    grid: tuple[str, ...] = ()  # KEY=V1,V2,... each
    seeds: str | None = None  # "N" (seeds 0..N-1) or "S1,S2,..."
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE, applied to every member
    runs_dir: Path = Path("runs")
    resume: str | None = None  # a sweep id or prefix to complete
    executor: str = "local"  # local | ray
    jobs: int | str = 1  # local: members at once ("auto": scopelab.sweep.jobs); 1 runs them in this process
    address: str | None = None  # ray: the cluster to join; None starts a local Ray
    threads: int = 0  # TensorFlow threads per member; 0: the cores shared out among the jobs
    last_round_threads: int = 0  # set with jobs (scopelab.sweep.jobs): the threads of a last, partial round
    device: str = "auto"
    progress: bool = True
    command: str | None = None  # for the record; None: this process's command line


@dataclass
class Sweep:
    directory: RunDir
    record: SweepRecord

    def save(self) -> None:
        self.directory.write_sweep(self.record)


def create(request: SweepRequest, held: ExitStack) -> Sweep:
    """Check every member's config before anything is written, then make the sweep directory."""
    if request.config_path is None:
        raise InputError("give a CONFIG file to sweep, or --resume SWEEP to finish a sweep.")
    grid = parse_grid(request.grid)
    seeds = parse_seeds(request.seeds) if request.seeds is not None else None
    check_sweep_size(grid, seeds)  # before any member's config is loaded
    set_keys = {text.partition("=")[0].strip() for text in request.overrides}
    for key in grid:
        if key in set_keys:
            raise InputError(f"--grid {key} and --set {key} both set it; keep one.")
    if seeds is not None and ("train.seed" in grid or "train.seed" in set_keys):
        raise InputError("--seeds sets train.seed for each member; drop train.seed from --set and --grid.")
    base = load_config(request.config_path, request.overrides)
    members = []
    points = itertools.product(*([(key, value) for value in values] for key, values in grid.items()))
    for index, (point, seed) in enumerate(itertools.product(points, seeds if seeds is not None else [None])):
        overrides = [f"{key}={value}" for key, value in point] + ([f"train.seed={seed}"] if seed is not None else [])
        # The base (file and --set) loaded above, so an error here is in a --grid value.
        config = load_config(request.config_path, (*request.overrides, *overrides), option="--grid")
        check_fits_in_memory(config)
        grid_point = overridden(config, [f"{key}={value}" for key, value in point])
        members.append(SweepMember(index, grid_point, config.train.seed, overrides))
    with signals_deferred():  # a stop leaves no sweep or a complete record, never half of one
        return _make_sweep(request, held, base, grid, seeds, members)


def _make_sweep(request: SweepRequest, held: ExitStack, base: Config, grid: dict, seeds: list[int] | None,
                members: list[SweepMember]) -> Sweep:
    directory = create_run_dir(sweeps_dir(request.runs_dir), base.name)
    held.enter_context(Ownership(directory.path, f"sweep {directory.run_id}"))
    mark_if_only_runs(request.runs_dir)  # before the sweep's first file, as a new run does
    directory.write_text(CONFIG_FILE, dump_config(base))
    record = SweepRecord(
        sweep_id=directory.run_id,
        config_name=base.name,
        config_file=str(request.config_path),
        overrides=list(request.overrides),
        grid=grid,
        seeds=seeds,
        command=_command(request),
        created_at=utc_now(),
        members=members,
    )
    sweep = Sweep(directory, record)
    sweep.save()
    return sweep


def reopen(request: SweepRequest, held: ExitStack, echo: Callable[[str], None]) -> Sweep:
    """The sweep to resume, locked, its members brought up to date with the runs they made."""
    if request.config_path or request.grid or request.seeds or request.overrides:
        raise InputError("--resume finishes a sweep as it was defined: give no CONFIG, --grid, --seeds or --set.")
    directory = resolve_sweep(request.runs_dir, request.resume)
    held.enter_context(Ownership(directory.path, f"sweep {directory.run_id}"))
    try:
        # Under the records lock: an `rm` of a member that checked the sweep idle just before we took its
        # owner lock writes its mark first, and we read it. Any later `rm` finds the sweep owned and refuses.
        with directory.records_locked():
            record = directory.read_sweep()
    except (OSError, ValueError) as error:  # a RecordError names the bad field
        raise InputError(f"sweep {directory.run_id}: {unreadable(SWEEP_FILE, error)}; it cannot be resumed.") from None
    sweep = Sweep(directory, record)
    if record.status == "running":  # we hold its lock, so the driver that wrote this is gone
        echo(f"sweep {directory.run_id} is stale (its driver is gone); resuming it")
    reconcile(sweep, request.runs_dir)
    record.resumed += 1
    record.resume_commands.append(_command(request))
    return sweep


def _command(request: SweepRequest) -> str:
    return request.command or shlex.join(["scopelab", *sys.argv[1:]])


def reconcile(sweep: Sweep, runs_dir: Path) -> None:
    """Take each unfinished member's status from its newest run: a killed sweep may not have recorded it."""
    runs = _member_runs(runs_dir, sweep.record.sweep_id)
    for member in sweep.record.members:
        if member.status != "completed" and not member.removed and member.index in runs:
            set_run(member, *runs[member.index])


def set_run(member: SweepMember, run_id: str | None, status: str) -> None:
    """Record a member's latest run; a run it replaces (one that diverged, say) stays listed."""
    if member.run_id and member.run_id != run_id:
        member.previous_runs.append(member.run_id)
    member.run_id, member.status = run_id, status


def _member_runs(runs_dir: Path, sweep_id: str) -> dict[int, tuple[str, str]]:
    """member index -> (run id, status) of the newest run each member of the sweep made."""
    found: dict[int, tuple[str, str]] = {}
    for run in run_dirs(runs_dir):  # newest first
        try:
            record = run.read_record()
        except (OSError, ValueError):
            continue
        if record.sweep == sweep_id and record.sweep_member is not None:
            found.setdefault(record.sweep_member, (run.run_id, record.status))
    return found
