"""The Ray executor's own decisions, against a stand-in for Ray: what it declares per member, a Ray that
cannot start, a worker that dies, a stop while members are pending. (test_sweep.py runs a real local Ray.)"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from scopelab.errors import InputError
from scopelab.signals import StopRequest
from scopelab.sweep import ray as ray_executor


class WorkerDied(Exception):
    pass


class Cancelled(Exception):
    pass


class FakeRay:
    """Just the calls scopelab makes; each task's result (or WorkerDied) is set up front, by member."""

    exceptions = SimpleNamespace(RayError=WorkerDied, TaskCancelledError=Cancelled)

    def __init__(self, outcomes: dict[int, object], init_error: Exception | None = None):
        self.outcomes, self.init_error = outcomes, init_error
        self.options, self.cancelled, self.shut_down, self.inits = [], [], False, []

    def is_initialized(self) -> bool:
        return False

    def init(self, **options) -> None:
        self.inits.append(options)
        if self.init_error:
            raise self.init_error

    def shutdown(self) -> None:
        self.shut_down = True

    def remote(self, function):
        def with_options(**options):
            self.options.append(options)
            return SimpleNamespace(remote=lambda task: task["member"])  # a task's ref is its member number

        return SimpleNamespace(options=with_options)

    def wait(self, refs: list, num_returns: int, timeout: float):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        outcome = self.outcomes[ref]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def cancel(self, ref) -> None:
        self.cancelled.append(ref)


@pytest.fixture(autouse=True)
def no_shipping(monkeypatch):
    """The executor's decisions only: what a member carries to its node and back is test_ray_cluster.py's."""
    monkeypatch.setattr(ray_executor, "ship_task", lambda task: task)
    monkeypatch.setattr(ray_executor, "land", lambda result, task: result)


def tasks(count: int) -> list[dict]:
    return [{"member": member, "resume": f"run-{member}"} for member in range(count)]


def request(**changes) -> SimpleNamespace:
    return SimpleNamespace(**{"address": None, "threads": 0, "device": "cpu", **changes})


def test_each_member_is_a_task_with_its_cpus_and_a_dead_worker_is_a_failed_member(monkeypatch):
    fake = FakeRay({0: {"member": 0, "status": "completed"}, 1: WorkerDied("node lost")})
    monkeypatch.setitem(sys.modules, "ray", fake)
    results = []
    ray_executor.run_ray(tasks(2), request(threads=3, device="gpu"), results.append, StopRequest())
    assert results == [{"member": 0, "status": "completed"},
                       {"member": 1, "run_id": "run-1", "status": "failed", "error": "Ray: node lost"}]
    assert fake.options == [{"num_cpus": 3, "num_gpus": 1}] and fake.shut_down  # it started Ray, so it stops it


def test_a_stop_cancels_the_pending_members(monkeypatch):
    # Ray's cancel reaches a member not yet started as TaskCancelledError: it is dropped, and so reported by
    # nobody (a running member stops at a checkpoint and comes back: test_ray_cluster.py runs that for real).
    fake = FakeRay({0: Cancelled("cancelled"), 1: Cancelled("cancelled")})
    monkeypatch.setitem(sys.modules, "ray", fake)
    stop, results = StopRequest(), []
    stop.stop(2)
    ray_executor.run_ray(tasks(2), request(), results.append, stop)
    assert results == [] and fake.cancelled == [0, 1] and fake.shut_down


@pytest.mark.parametrize("address, where", [(None, "a local Ray instance"),
                                            ("10.0.0.9:6379", "--address 10.0.0.9:6379")])
def test_a_ray_that_cannot_start_is_one_line(monkeypatch, address, where):
    fake = FakeRay({}, init_error=ConnectionError("no GCS answered"))
    monkeypatch.setitem(sys.modules, "ray", fake)
    with pytest.raises(InputError) as raised:
        ray_executor.run_ray(tasks(1), request(address=address), lambda result: None, StopRequest())
    assert str(raised.value) == f"{where}: cannot start or join Ray (no GCS answered)."
    assert fake.inits[0]["address"] == address and fake.options == []
