"""The local executors: members one after another in this process (`--jobs 1`), or each in a process of
its own, `--jobs` at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

from scopelab.signals import StopRequest
from scopelab.sweep.member import lost, run_member

if TYPE_CHECKING:
    from scopelab.sweep.plan import SweepRequest


def run_serial(tasks: list[dict], request: SweepRequest, on_result: Callable[[dict], None], stop: StopRequest) -> None:
    """In this process, one after another: no start-up cost per member."""
    for task in tasks:
        if stop.event.is_set():
            return
        on_result(run_member(task))


def run_processes(
    tasks: list[dict], request: SweepRequest, on_result: Callable[[dict], None], stop: StopRequest
) -> None:
    """Each member in its own `python -m scopelab.sweep` process, at most `jobs` at once.

    A process per member costs a TensorFlow import, but a member that crashes the interpreter (or is
    killed for memory) takes only itself down.
    """
    jobs = min(request.jobs, len(tasks)) or 1
    # Share the cores out so that N sessions do not each start a thread per core.
    threads = request.threads or max(1, _cores() // jobs)
    processes = _MemberProcesses(threads, _environment(request.device), stop)
    stop.on_signal = processes.forward
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in as_completed([pool.submit(processes.run, task) for task in tasks]):
            result = future.result()
            if result is not None:
                on_result(result)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _environment(device: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if device != "cpu":
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"  # else the first member takes all of a shared GPU's memory
    return env


class _MemberProcesses:
    """The member processes running now, started from the pool's threads, so that a stop signal reaches each."""

    def __init__(self, threads: int, env: dict[str, str], stop: StopRequest):
        self.threads, self.env, self.stop = threads, env, stop
        self.parent = os.getpid()  # each member asks for SIGTERM when it dies (signals.die_with_parent)
        self.children: set[subprocess.Popen] = set()
        self.lock = threading.Lock()

    def forward(self, number: int) -> None:
        for child in list(self.children):
            child.send_signal(number)

    def run(self, task: dict) -> dict | None:
        """One member's process, from start to its reported result; None when the sweep stopped first."""
        with self.lock:
            if self.stop.event.is_set():
                return None
            child = subprocess.Popen(
                [sys.executable, "-m", "scopelab.sweep",
                 json.dumps({**task, "threads": self.threads, "parent": self.parent})],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=self.env,
            )
            self.children.add(child)
        out, err = child.communicate()
        with self.lock:
            self.children.discard(child)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            tail = " | ".join(err.strip().splitlines()[-3:])
            result = lost(task, f"its process exited with code {child.returncode}: {tail}")
            if self.stop.event.is_set():  # stopped before the trainer could catch the signal
                result["status"] = "interrupted"
            return result
