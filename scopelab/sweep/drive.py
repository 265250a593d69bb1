"""Running a sweep: its members through the chosen executor, each result recorded as it arrives, and the
sweep's end (completed, failed, or stopped by a signal) written to its record."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from typing import TYPE_CHECKING

from tqdm import tqdm

from scopelab.config import Config, load_config
from scopelab.errors import InputError, Interrupted, RunFailed
from scopelab.runs import SweepMember, utc_now
from scopelab.runs.directory import SWEEP_FILE, RunDir
from scopelab.signals import StopRequest
from scopelab.sweep.jobs import AUTO, choose
from scopelab.sweep.local import run_processes, run_serial
from scopelab.sweep.member import member_task
from scopelab.sweep.plan import Sweep, SweepRequest, create, reconcile, reopen, set_run
from scopelab.sweep.ray import run_ray

if TYPE_CHECKING:
    from scopelab.reproduce_request import ReproduceRequest


def run_sweep(request: SweepRequest, echo: Callable[[str], None]) -> RunDir:
    """Run the members of a new sweep (or the unfinished members of one); returns the sweep directory.

    Raises RunFailed when a member did not complete, Interrupted when SIGINT/SIGTERM stopped the sweep.
    The sweep is locked (scopelab.ownership) from before its record is read until the last is written.
    """
    check_executor(request)
    with ExitStack() as held:
        sweep = reopen(request, held, echo) if request.resume else create(request, held)
        todo = [member for member in sweep.record.members if member.status != "completed" and not member.removed]
        request, jobs = _with_jobs(request, sweep, todo)
        execute = executor_for(request.executor, request.jobs)
        _start(sweep, request, todo, echo)
        if jobs:
            echo(f"jobs: {jobs}")
        stop = StopRequest()
        progress = _Progress(sweep, len(todo), stop, echo, request.progress)
        try:
            with stop:
                if todo:
                    execute([member_task(sweep, member, request) for member in todo], request, progress.record, stop)
        finally:
            progress.close()
        return _finish(sweep, request, stop, echo)


def check_executor(request: SweepRequest | ReproduceRequest) -> None:
    """Refuse an executor that cannot run, before anything is written."""
    if request.executor == "ray":
        if request.jobs not in (1, AUTO):
            raise InputError(
                "--jobs is for the local executor; Ray runs as many members at once as the cluster's "
                "CPUs allow (CPUs per member: --threads)."
            )
        try:
            import ray  # noqa: F401
        except ImportError:
            raise InputError("--executor ray needs Ray, which is not installed: pip install 'scopelab[ray]'.") from None
    elif request.address:
        raise InputError("--address names a Ray cluster; use it with --executor ray.")


def _with_jobs(request: SweepRequest, sweep: Sweep, todo: list[SweepMember]) -> tuple[SweepRequest, str]:
    """The request with --jobs resolved for these members, and what was chosen when there is a choice to
    say (Ray schedules its own members)."""
    if request.executor == "ray":
        return replace(request, jobs=1), ""
    configs = _distinct_configs(sweep, todo) if request.jobs == AUTO else []
    jobs = choose(request.jobs, len(todo), configs, request.device, request.threads)
    chosen = replace(request, jobs=jobs.at_once, threads=jobs.threads, last_round_threads=jobs.last_round_threads)
    return chosen, jobs.why if len(todo) > 1 else ""


def _distinct_configs(sweep: Sweep, todo: list[SweepMember]) -> list[Config]:
    """One config per grid point (seeds do not change a model's size), for the memory bound of auto."""
    points = {tuple(o for o in member.overrides if not o.startswith("train.seed=")) for member in todo}
    return [load_config(sweep.directory.config_file, point) for point in points]


def executor_for(executor: str, jobs: int) -> Callable[..., None]:
    """The function that runs a list of member tasks: Ray, this process (one at a time), or worker processes."""
    if executor == "ray":
        return run_ray
    return run_serial if jobs == 1 else run_processes


def _start(sweep: Sweep, request: SweepRequest, todo: list[SweepMember], echo: Callable[[str], None]) -> None:
    """Mark the sweep running (by this process, on this host)."""
    record = sweep.record
    record.status, record.executor, record.jobs = "running", request.executor, request.jobs
    record.pid, record.host = os.getpid(), socket.gethostname()
    sweep.save()
    echo(f"sweep {record.sweep_id}: {len(todo)} of {len(record.members)} members to run")


class _Progress:
    """Each member's result as it arrives: into sweep.json, onto the progress bar, and as one line."""

    def __init__(self, sweep: Sweep, to_run: int, stop: StopRequest, echo: Callable[[str], None], show: bool):
        self.sweep, self.stop, self.echo = sweep, stop, echo
        total = len(sweep.record.members)
        self.done = itertools.count(total - to_run + 1)
        self.bar = tqdm(
            total=total,
            initial=total - to_run,
            file=sys.stderr,
            disable=None if show else True,  # None: tqdm turns itself off when stderr is no terminal
            unit="member",
            dynamic_ncols=True,
        )

    def record(self, result: dict) -> None:
        members = self.sweep.record.members
        member = members[result["member"]]
        set_run(member, result["run_id"], result["status"])
        member.error = result["error"]
        if result["status"] == "interrupted" and self.stop.signal_number is None:
            self.stop.stop(result.get("signal", signal.SIGINT))  # the trainer's own handler caught the signal
        self.sweep.save()
        self.bar.update(1)
        error = f": {result['error']}" if result["error"] else ""
        self.echo(f"[{next(self.done)}/{len(members)}] {result['status']} {result['run_id'] or '-'} "
                  f"{member.label}{error}")

    def close(self) -> None:
        self.bar.close()


def _finish(sweep: Sweep, request: SweepRequest, stop: StopRequest, echo: Callable[[str], None]) -> RunDir:
    """Write how the sweep ended; raise Interrupted when a signal stopped it, RunFailed when a member did not
    complete."""
    record = sweep.record
    members = [member for member in record.members if not member.removed]  # in the trash: left out, as by _start
    stopped = stop.signal_number is not None
    if stopped:
        reconcile(sweep, request.runs_dir)
    completed = sum(member.status == "completed" for member in members)
    record.status = "completed" if completed == len(members) else "interrupted" if stopped else "failed"
    record.ended_at, record.pid, record.host = utc_now(), None, None
    sweep.save()
    removed = len(record.members) - len(members)
    echo(f"sweep {record.sweep_id}: {completed} of {len(members)} members completed"
         + (f" ({removed} removed)" if removed else ""))
    again = f"scopelab sweep --resume {record.sweep_id} --runs-dir {request.runs_dir}"
    if stopped:
        name = signal.Signals(stop.signal_number).name
        raise Interrupted(stop.signal_number, f"sweep {record.sweep_id} stopped by {name}; finish it with: {again}")
    if completed < len(members):
        counts: dict[str, int] = {}
        for member in members:
            if member.status != "completed":
                counts[member.status] = counts.get(member.status, 0) + 1
        kinds = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        raise RunFailed(
            f"sweep {record.sweep_id}: {len(members) - completed} of {len(members)} members did not complete "
            f"({kinds}); see {sweep.directory.path / SWEEP_FILE}, run them again with: {again}"
        )
    return sweep.directory
