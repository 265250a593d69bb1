"""Sweeps: one config run for every point of a grid of overrides times seeds; each member is an ordinary run.

runs/sweeps/<sweep-id>/
    sweep.json    the command, the grid and seeds, and each member: overrides, grid point, seed, run id, status
    config.yaml   the base config (file plus --set), which every member and every resume starts from

Members run one after another in this process, in N local processes (`--jobs N`) or as Ray tasks
(`--executor ray`). A member that fails is recorded and the others go on; `--resume` runs again only
the members that did not complete (continuing a member's run from its checkpoint where it can).
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from scopelab.config import Config, dump_config, load_config, overridden
from scopelab.errors import InputError, Interrupted, RunFailed
from scopelab.footprint import check_fits_in_memory
from scopelab.ownership import Ownership
from scopelab.runner import RESUMABLE, RunRequest
from scopelab.runner import run as run_experiment
from scopelab.runs import SweepMember, SweepRecord, create_run_dir, resolve_sweep, run_dirs, sweeps_dir, utc_now
from scopelab.runs.directory import SWEEP_FILE, RunDir
from scopelab.signals import StopRequest, die_with_parent, signals_deferred, stop_at_once


@dataclass(frozen=True)
class SweepRequest:
    config_path: Path | None = None
    grid: tuple[str, ...] = ()  # KEY=V1,V2,... each
    seeds: str | None = None  # "N" (seeds 0..N-1) or "S1,S2,..."
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE, applied to every member
    runs_dir: Path = Path("runs")
    resume: str | None = None  # a sweep id or prefix to complete
    executor: str = "local"  # local | ray
    jobs: int = 1  # local: members at once; 1 runs them in this process
    address: str | None = None  # ray: the cluster to join; None starts a local Ray
    threads: int = 0  # TensorFlow threads per member; 0: the cores shared out among the jobs
    device: str = "auto"
    progress: bool = True
    command: str | None = None  # for the record; None: this process's command line


@dataclass
class _Sweep:
    directory: RunDir
    record: SweepRecord

    def save(self) -> None:
        self.directory.write_sweep(self.record)


def run_sweep(request: SweepRequest, echo: Callable[[str], None]) -> RunDir:
    """Run the members of a new sweep (or the unfinished members of one); returns the sweep directory.

    Raises RunFailed when a member did not complete, Interrupted when SIGINT/SIGTERM stopped the sweep.
    The sweep is locked (scopelab.ownership) from before its record is read until the last is written.
    """
    execute = _executor(request)
    with ExitStack() as held:
        sweep = _reopen(request, held, echo) if request.resume else _create(request, held)
        return _drive(sweep, request, execute, echo)


def _drive(sweep: _Sweep, request: SweepRequest, execute: Callable[..., None], echo: Callable[[str], None]) -> RunDir:
    record = sweep.record
    sweep_id, members = record.sweep_id, record.members
    todo = [member for member in members if member.status != "completed" and not member.removed]
    record.status, record.executor, record.jobs = "running", request.executor, request.jobs
    record.pid, record.host = os.getpid(), socket.gethostname()
    sweep.save()
    done = itertools.count(len(members) - len(todo) + 1)
    echo(f"sweep {sweep_id}: {len(todo)} of {len(members)} members to run")
    bar = tqdm(
        total=len(members),
        initial=len(members) - len(todo),
        file=sys.stderr,
        disable=None if request.progress else True,  # None: tqdm turns itself off when stderr is no terminal
        unit="member",
        dynamic_ncols=True,
    )
    stop = StopRequest()

    def on_result(result: dict) -> None:
        member = members[result["member"]]
        _set_run(member, result["run_id"], result["status"])
        member.error = result["error"]
        if result["status"] == "interrupted" and stop.signal_number is None:
            stop.stop(result.get("signal", signal.SIGINT))  # the trainer's own handler caught the signal
        sweep.save()
        bar.update(1)
        error = f": {result['error']}" if result["error"] else ""
        echo(f"[{next(done)}/{len(members)}] {result['status']} {result['run_id'] or '-'} {member.label}{error}")

    try:
        with stop:
            if todo:
                execute([_task(sweep, member, request) for member in todo], request, on_result, stop)
    finally:
        bar.close()
    if stop.signal_number is not None:
        _reconcile(sweep, request.runs_dir)
    completed = _completed(record)
    stopped = stop.signal_number is not None
    record.status = "completed" if completed == len(members) else "interrupted" if stopped else "failed"
    record.ended_at, record.pid, record.host = utc_now(), None, None
    sweep.save()
    echo(f"sweep {sweep_id}: {completed} of {len(members)} members completed")
    again = f"scopelab sweep --resume {sweep_id} --runs-dir {request.runs_dir}"
    if stopped:
        name = signal.Signals(stop.signal_number).name
        raise Interrupted(stop.signal_number, f"sweep {sweep_id} stopped by {name}; finish it with: {again}")
    if completed < len(members):
        counts: dict[str, int] = {}
        for member in members:
            if member.status != "completed":
                counts[member.status] = counts.get(member.status, 0) + 1
        kinds = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        raise RunFailed(
            f"sweep {sweep_id}: {len(members) - completed} of {len(members)} members did not complete "
            f"({kinds}); see {sweep.directory.path / SWEEP_FILE}, run them again with: {again}"
        )
    return sweep.directory


def _completed(record: SweepRecord) -> int:
    return sum(member.status == "completed" for member in record.members)


def _set_run(member: SweepMember, run_id: str | None, status: str) -> None:
    """Record a member's latest run; a run it replaces (one that diverged, say) stays listed."""
    if member.run_id and member.run_id != run_id:
        member.previous_runs.append(member.run_id)
    member.run_id, member.status = run_id, status


def run_member(task: dict) -> dict:
    """Run one member (in whichever process or Ray worker got it) and report its run id and status."""
    request = RunRequest(
        Path(task["config"]),
        tuple(task["overrides"]),
        Path(task["runs_dir"]),
        task["device"],
        task["resume"],
        task["threads"],
        progress=False,
        command=task["command"],
        source_file=Path(task["source_file"]) if task["source_file"] else None,
        base_overrides=tuple(task["base_overrides"]),
        sweep=task["sweep"],
        sweep_member=task["member"],
        grid_point=task["grid_point"],
    )
    made: list[RunDir] = []
    result = {"member": task["member"], "run_id": task["resume"], "status": "completed", "error": None}
    try:
        run_experiment(request, echo=lambda line: None, on_run_dir=made.append)
    except Interrupted as error:
        result.update(status="interrupted", error=str(error), signal=error.signal_number)
    except (InputError, RunFailed) as error:
        result.update(status="failed", error=str(error))
    except Exception as error:  # whatever breaks one member must not stop the others
        result.update(status="failed", error=f"{type(error).__name__}: {error}")
    if made:
        result["run_id"] = made[0].run_id
        try:
            status = made[0].read_record().status
        except (OSError, ValueError):  # the run's directory is gone or its record unwritten: keep ours
            status = None
        if result["status"] == "failed" and status in ("diverged", "interrupted"):
            result["status"] = status  # the run's summary tells a divergence from a crash
    return result


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


# --- creating and reopening a sweep ---------------------------------------------------------------


def _create(request: SweepRequest, held: ExitStack) -> _Sweep:
    """Check every member's config before anything is written, then make the sweep directory."""
    if request.config_path is None:
        raise InputError("give a CONFIG file to sweep, or --resume SWEEP to finish a sweep.")
    grid = _parse_grid(request.grid)
    seeds = _parse_seeds(request.seeds) if request.seeds is not None else None
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
                members: list[SweepMember]) -> _Sweep:
    directory = create_run_dir(sweeps_dir(request.runs_dir), base.name)
    held.enter_context(Ownership(directory.path, f"sweep {directory.run_id}"))
    directory.write_text("config.yaml", dump_config(base))
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
    sweep = _Sweep(directory, record)
    sweep.save()
    return sweep


def _reopen(request: SweepRequest, held: ExitStack, echo: Callable[[str], None]) -> _Sweep:
    if request.config_path or request.grid or request.seeds or request.overrides:
        raise InputError("--resume finishes a sweep as it was defined: give no CONFIG, --grid, --seeds or --set.")
    directory = resolve_sweep(request.runs_dir, request.resume)
    held.enter_context(Ownership(directory.path, f"sweep {directory.run_id}"))
    try:
        record = directory.read_sweep()
    except (OSError, ValueError):
        raise InputError(f"sweep {directory.run_id}: its {SWEEP_FILE} is missing or unreadable.") from None
    sweep = _Sweep(directory, record)
    if record.status == "running":  # we hold its lock, so the driver that wrote this is gone
        echo(f"sweep {directory.run_id} is stale (its driver is gone); resuming it")
    _reconcile(sweep, request.runs_dir)
    record.resumed += 1
    record.resume_commands.append(_command(request))
    return sweep


def _command(request: SweepRequest) -> str:
    return request.command or shlex.join(["scopelab", *sys.argv[1:]])


def _reconcile(sweep: _Sweep, runs_dir: Path) -> None:
    """Take each unfinished member's status from its newest run: a killed sweep may not have recorded it."""
    runs = _member_runs(runs_dir, sweep.record.sweep_id)
    for member in sweep.record.members:
        if member.status != "completed" and not member.removed and member.index in runs:
            _set_run(member, *runs[member.index])


def _parse_seeds(text: str) -> list[int]:
    """`5` -> seeds 0..4; `0,1,2` -> exactly those seeds."""
    expected = f"--seeds {text}: expected a count N (seeds 0..N-1) or a comma-separated list, e.g. 5 or 0,1,2."
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # "7," is the one seed 7
    if not parts or not all(part.isdigit() for part in parts):
        raise InputError(expected)
    if "," not in text:
        count = int(parts[0])
        if count < 1:
            raise InputError(expected)
        return list(range(count))
    seeds = [int(part) for part in parts]
    if len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds {text}: a seed is repeated.")
    return seeds


def _parse_grid(items: tuple[str, ...]) -> dict[str, list[str]]:
    grid: dict[str, list[str]] = {}
    for text in items:
        key, sep, values = text.partition("=")
        key = key.strip()
        choices = [value.strip() for value in values.split(",")]
        if not sep or not key or "" in choices:
            raise InputError(f"--grid {text}: expected KEY=V1,V2,..., e.g. --grid train.learning_rate=0.03,0.1.")
        if key in grid:
            raise InputError(f"--grid {key} is given twice; list all its values in one --grid.")
        if len(set(choices)) != len(choices):
            raise InputError(f"--grid {text}: a value is repeated.")
        grid[key] = choices
    return grid


def _task(sweep: _Sweep, member: SweepMember, request: SweepRequest) -> dict:
    """What a worker needs to run a member: plain JSON, so it crosses process and machine boundaries."""
    config = (sweep.directory.path / "config.yaml").resolve()
    runs_dir = request.runs_dir.resolve()
    # A run stopped part way continues from its checkpoint; one that diverged or never started runs anew.
    resume = member.run_id if member.run_id and member.status in RESUMABLE else None
    command = ["scopelab", "run", str(config)]
    for override in member.overrides:
        command += ["--set", override]
    return {
        "sweep": sweep.record.sweep_id,
        "member": member.index,
        "config": str(config),
        # Absolute: a Ray worker runs elsewhere, and the run's git state is looked up from this file.
        "source_file": str(Path(sweep.record.config_file).resolve()) if sweep.record.config_file else None,
        "base_overrides": sweep.record.overrides,
        "overrides": [] if resume else member.overrides,
        "resume": resume,
        "runs_dir": str(runs_dir),
        "device": request.device,
        "threads": request.threads,
        "grid_point": member.grid_point,
        "command": shlex.join([*command, "--runs-dir", str(runs_dir)]),
    }


def _executor(request: SweepRequest) -> Callable[..., None]:
    """Pick and check the executor before anything is written."""
    if request.executor == "ray":
        if request.jobs != 1:
            raise InputError(
                "--jobs is for the local executor; Ray runs as many members at once as the cluster's "
                "CPUs allow (CPUs per member: --threads)."
            )
        try:
            import ray  # noqa: F401
        except ImportError:
            raise InputError("--executor ray needs Ray, which is not installed: pip install 'scopelab[ray]'.") from None
        return _run_ray
    if request.address:
        raise InputError("--address names a Ray cluster; use it with --executor ray.")
    return _run_serial if request.jobs == 1 else _run_processes


def _lost(task: dict, error: str) -> dict:
    """A member whose worker died before reporting; a resume finds its run, if it made one, by its summary."""
    return {"member": task["member"], "run_id": task["resume"], "status": "failed", "error": error}


def _run_serial(tasks: list[dict], request: SweepRequest, on_result: Callable[[dict], None], stop: StopRequest) -> None:
    """In this process, one after another: no start-up cost per member."""
    for task in tasks:
        if stop.event.is_set():
            return
        on_result(run_member(task))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run_processes(
    tasks: list[dict], request: SweepRequest, on_result: Callable[[dict], None], stop: StopRequest
) -> None:
    """Each member in its own `python -m scopelab.sweep` process, at most `jobs` at once.

    A process per member costs a TensorFlow import, but a member that crashes the interpreter (or is
    killed for memory) takes only itself down.
    """
    jobs = min(request.jobs, len(tasks)) or 1
    # Share the cores out so that N sessions do not each start a thread per core.
    threads = request.threads or max(1, _cores() // jobs)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if request.device != "cpu":
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"  # else the first member takes all of a shared GPU's memory
    children: set[subprocess.Popen] = set()
    parent = os.getpid()  # each member asks for SIGTERM when it dies (signals.die_with_parent)
    lock = threading.Lock()

    def forward(number: int) -> None:
        for child in list(children):
            child.send_signal(number)

    def one(task: dict) -> dict | None:
        with lock:
            if stop.event.is_set():
                return None
            child = subprocess.Popen(
                [sys.executable, "-m", "scopelab.sweep", json.dumps({**task, "threads": threads, "parent": parent})],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            children.add(child)
        out, err = child.communicate()
        with lock:
            children.discard(child)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            tail = " | ".join(err.strip().splitlines()[-3:])
            result = _lost(task, f"its process exited with code {child.returncode}: {tail}")
            if stop.event.is_set():  # stopped before the trainer could catch the signal
                result["status"] = "interrupted"
            return result

    stop.on_signal = forward
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in as_completed([pool.submit(one, task) for task in tasks]):
            result = future.result()
            if result is not None:
                on_result(result)


def _run_ray(tasks: list[dict], request: SweepRequest, on_result: Callable[[dict], None], stop: StopRequest) -> None:
    """One Ray task per member, with its CPUs (and GPU when asked) declared; Ray does the scheduling.

    Workers write run directories under the same runs directory, so on a cluster it must be a path
    every node shares (and scopelab must be installed on every node).
    """
    import ray

    started = not ray.is_initialized()
    if started:
        try:
            # Members print nothing worth forwarding: each one's record is its run directory.
            ray.init(address=request.address, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as error:
            where = f"--address {request.address}" if request.address else "a local Ray instance"
            raise InputError(f"{where}: cannot start or join Ray ({error}).") from None
    cpus = request.threads or 1
    remote = ray.remote(run_member).options(num_cpus=cpus, num_gpus=1 if request.device == "gpu" else 0)
    try:
        pending = {remote.remote({**task, "threads": cpus}): task for task in tasks}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            if stop.event.is_set():
                for ref in pending:
                    ray.cancel(ref)
                return
            for ref in ready:
                task = pending.pop(ref)
                try:
                    on_result(ray.get(ref))
                except ray.exceptions.RayError as error:  # the worker died and Ray's retries ran out
                    on_result(_lost(task, f"Ray: {error}"))
    finally:
        if started:
            ray.shutdown()


if __name__ == "__main__":
    # A worker process of the local executor: run the member given as JSON, report on the last stdout line.
    member_task = json.loads(sys.argv[1])
    die_with_parent(member_task["parent"])
    with stop_at_once():
        print(json.dumps(run_member(member_task)))
