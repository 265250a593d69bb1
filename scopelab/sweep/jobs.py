"""How many runs to train at once: `--jobs auto` (the default of sweep, run --seeds and reproduce) fills
the machine's cores, one process a run with its share of them, as far as memory and GPUs allow.

Why processes rather than one run on every core: on 2 cores, two 1-thread runs side by side do 1.3-1.8x the
work of one 2-thread run (these models are too small for TensorFlow's threads to keep both cores busy;
benchmarks/bench_jobs.py measures it first).
The thread count does not change the numbers of the tests' small graphs (tests/test_jobs.py checks it); at
the article's sizes some float32 sums split by thread count, and the test metrics agree to within 1e-9
(docs/sweeps.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scopelab.config import Config
from scopelab.footprint import available_bytes, estimated_bytes, size_text

AUTO = "auto"
# What a worker process holds besides its model: Python, TensorFlow and the MNIST splits. Measured as the
# peak RSS of `scopelab run smoke` (about 0.9 GB with TensorFlow 2.21 on CPU), rounded up.
PROCESS_BYTES = 1_200_000_000


@dataclass(frozen=True)
class Machine:
    cores: int
    memory: int | None  # bytes available now; None: unknown
    gpus: int


@dataclass(frozen=True)
class Jobs:
    """Runs at once and TensorFlow threads for each (0: every core, the single-process default)."""

    at_once: int
    threads: int
    why: str  # what `auto` chose and what bounded it, printed when the work starts ("" for a number)
    last_round_threads: int = 0  # threads for each member of a last, partial round (0: `threads`)


def this_machine() -> Machine:
    return Machine(cores(), available_bytes(), _visible_gpus())


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def choose(requested: int | str, runs: int, configs: Iterable[Config], device: str, threads: int,
           machine: Machine | None = None) -> Jobs:
    """`--jobs N` as asked (threads: the cores shared out); `auto`: as many as the cores, the memory (each
    run's estimated footprint plus a process), the GPUs (unless --device cpu) and the runs allow."""
    machine = machine or this_machine()
    if requested != AUTO:
        jobs = min(int(requested), max(runs, 1))
        if jobs == 1:
            return Jobs(1, threads, "")
        return Jobs(jobs, threads or max(1, machine.cores // jobs), "", _last_round(runs, jobs, threads, machine))
    bounds = {f"{machine.cores} cores": machine.cores // max(threads, 1), f"{runs} runs": runs}
    if machine.memory is not None:
        # A plugin's model has no estimate (None): its process is what counts.
        largest = max((estimated_bytes(config) or 0 for config in configs), default=0)
        bounds[f"{size_text(machine.memory)} of memory free"] = machine.memory // (PROCESS_BYTES + largest)
    if device != "cpu" and machine.gpus:
        bounds[f"{machine.gpus} GPUs"] = machine.gpus
    bound = min(bounds, key=bounds.get)
    jobs = max(1, bounds[bound])
    if jobs == 1:
        return Jobs(1, threads, f"auto: one at a time in this process ({bound})")
    each = threads or max(1, machine.cores // jobs)
    why = f"auto: {jobs} at once, {each} thread{'s' * (each > 1)} each ({bound})"
    last = _last_round(runs, jobs, threads, machine)
    if last:
        members = runs % jobs
        why += f"; the last {'run' if members == 1 else f'{members} runs'} {last} threads"
    return Jobs(jobs, each, why, last)


def _last_round(runs: int, jobs: int, threads: int, machine: Machine) -> int:
    """Threads for the members of a last round that leaves workers idle (five runs on two workers: the
    fifth trains alone), so that it gets the cores the finished workers free: a session's threads are fixed
    when it starts, so they are given then. 0 when every round is full, or --threads was given. This counts
    on the members being alike (the seeds of a config); a longer member still running beside the last round
    shares its cores with it."""
    members = runs % jobs
    if threads or not members:
        return 0
    last = max(1, machine.cores // members)
    return last if last > max(1, machine.cores // jobs) else 0


def _visible_gpus() -> int:
    """NVIDIA GPUs this process may use, without importing TensorFlow: CUDA_VISIBLE_DEVICES, else /dev."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([item for item in visible.split(",") if item.strip() and item.strip() != "-1"])
    return len([path for path in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", path.name)])
