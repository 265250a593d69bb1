"""The Ray executor (`--executor ray`): one Ray task per member, on a local Ray or a cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from scopelab.errors import InputError
from scopelab.signals import StopRequest
from scopelab.sweep.member import land, lost, run_shipped_member, ship_task

if TYPE_CHECKING:
    from scopelab.sweep.plan import SweepRequest


def run_ray(tasks: list[dict], request: SweepRequest, on_result: Callable[[dict], None], stop: StopRequest) -> None:
    """One Ray task per member, with its CPUs (and GPU when asked) declared; Ray does the scheduling.

    No node needs the driver's disk: a member gets the config's text (and a resumed run's directory) as
    bytes, trains in a scratch directory on its node and sends its run directory back through Ray's
    object store; the driver writes it into the runs directory. scopelab must be installed on every node.
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
    remote = ray.remote(run_shipped_member).options(num_cpus=cpus, num_gpus=1 if request.device == "gpu" else 0)
    try:
        pending = {remote.remote(ship_task({**task, "threads": cpus})): task for task in tasks}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            if stop.event.is_set():
                _stop_members(ray, pending, on_result)
                return
            for ref in ready:
                task = pending.pop(ref)
                _collect(ray, ref, task, on_result)
    finally:
        if started:
            ray.shutdown()


def _stop_members(ray, pending: dict, on_result: Callable[[dict], None]) -> None:
    """Ray's cancel delivers SIGINT to a running member, which stops at a checkpoint like any run and sends
    its directory back (so `sweep --resume` continues it on any node); a member not yet started is dropped."""
    for ref in pending:
        ray.cancel(ref)
    for ref, task in pending.items():
        try:
            _collect(ray, ref, task, on_result)
        except ray.exceptions.TaskCancelledError:
            continue


def _collect(ray, ref, task: dict, on_result: Callable[[dict], None]) -> None:
    try:
        result = ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        raise
    except ray.exceptions.RayError as error:  # the worker died and Ray's retries ran out
        on_result(lost(task, f"Ray: {error}"))
        return
    on_result(land(result, task))
