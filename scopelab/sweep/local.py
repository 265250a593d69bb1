"""The local executors: members one after another in this process (`--jobs 1`), or in `--jobs` worker
processes at once, each worker running member after member."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from scopelab.signals import StopRequest
from scopelab.sweep.jobs import cores
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
    """`jobs` worker processes (`python -m scopelab.sweep`), each taking the next member when it is done.

    A worker imports TensorFlow once for all the members it runs (a short member costs little more than
    that import). A member that crashes its worker's interpreter (or is killed for memory) fails alone:
    the next member gets a fresh worker. Results reach `on_result` on this thread, one at a time.
    """
    jobs = min(request.jobs, len(tasks)) or 1
    # Share the cores out so that N sessions do not each start a thread per core; the members of a last,
    # partial round share them among fewer (scopelab.sweep.jobs).
    threads = request.threads or max(1, cores() // jobs)
    last_round = len(tasks) % jobs if request.last_round_threads else 0
    todo = deque({**task, "threads": request.last_round_threads if position >= len(tasks) - last_round else threads}
                 for position, task in enumerate(tasks))
    workers = _Workers(todo, _environment(request.device), stop)
    stop.on_signal = workers.forward
    slots = [threading.Thread(target=workers.serve, daemon=True) for _ in range(jobs)]
    for slot in slots:
        slot.start()
    finished = 0
    while finished < jobs:
        result = workers.results.get()
        if result is None:
            finished += 1
        else:
            on_result(result)


def _environment(device: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if device != "cpu":
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"  # else the first member takes all of a shared GPU's memory
    return env


class _Workers:
    """The members still to run, the worker processes running them, and their results as they come."""

    def __init__(self, todo: deque[dict], env: dict[str, str], stop: StopRequest):
        self.todo, self.env, self.stop = todo, env, stop  # each task with its threads
        self.parent = os.getpid()  # each worker asks for SIGTERM when it dies (signals.die_with_parent)
        self.running: set[_Worker] = set()
        self.lock = threading.RLock()  # forward() runs in a signal handler, maybe while this thread holds it
        self.results: queue.Queue[dict | None] = queue.Queue()  # None: a slot has finished

    def forward(self, number: int) -> None:
        with self.lock:
            for worker in self.running:
                worker.process.send_signal(number)

    def serve(self) -> None:
        """One slot: a worker runs the members it is handed until none are left or the sweep stops."""
        worker = None
        try:
            while (task := self._next()) is not None:
                worker = worker or self._start()
                result = worker.run(task)
                if result is None:  # the worker died with this member: it fails alone
                    result = lost(task, f"its process exited with code {worker.process.returncode}: {worker.tail()}")
                    if self.stop.event.is_set():  # stopped before the trainer could catch the signal
                        result["status"] = "interrupted"
                    self._retire(worker)
                    worker = None
                self.results.put(result)
        finally:
            if worker is not None:
                self._retire(worker)
            self.results.put(None)

    def _next(self) -> dict | None:
        with self.lock:  # a stop signal is forwarded under this lock: no member starts after it
            if self.stop.event.is_set() or not self.todo:
                return None
            return self.todo.popleft()

    def _start(self) -> _Worker:
        with self.lock:
            worker = _Worker(self.parent, self.env)
            self.running.add(worker)
            return worker

    def _retire(self, worker: _Worker) -> None:
        with self.lock:
            self.running.discard(worker)
        worker.close()


class _Worker:
    """One `python -m scopelab.sweep` process: a task in as a JSON line on stdin, its result out as one on
    stdout; stderr kept (its last lines) to say why the worker died, if it does."""

    def __init__(self, parent: int, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scopelab.sweep", str(parent)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.errors: deque[str] = deque(maxlen=3)
        # Read stderr as it comes: a worker that lives for many members would otherwise fill the pipe and block.
        self.reader = threading.Thread(target=self._read_errors, daemon=True)
        self.reader.start()

    def run(self, task: dict) -> dict | None:
        """The member's result; None when the worker died before reporting it."""
        try:
            self.process.stdin.write(json.dumps(task) + "\n")
            self.process.stdin.flush()
        except OSError:  # it died between members
            self.process.wait()
            return None
        line = self.process.stdout.readline()
        try:
            return json.loads(line)
        except ValueError:
            self.process.wait()
            return None

    def tail(self) -> str:
        self.reader.join(timeout=5)
        return " | ".join(line.strip() for line in self.errors if line.strip())

    def close(self) -> None:
        """No more members: the worker exits when its stdin closes."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait()

    def _read_errors(self) -> None:
        for line in self.process.stderr:
            self.errors.append(line)
