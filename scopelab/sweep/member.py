"""One sweep member as its worker sees it: the task (plain JSON, so it crosses process and machine
boundaries), running it as an ordinary run, and the result it reports back."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from scopelab.errors import InputError, Interrupted, RunFailed
from scopelab.runner import RESUMABLE, RunRequest
from scopelab.runner import run as run_experiment
from scopelab.runs import SweepMember
from scopelab.runs.directory import RunDir

if TYPE_CHECKING:
    from scopelab.reproduce_request import ReproduceRequest
    from scopelab.sweep.plan import Sweep, SweepRequest


def member_task(sweep: Sweep, member: SweepMember, request: SweepRequest) -> dict:
    """What a worker needs to run a sweep's member."""
    # A run stopped part way continues from its checkpoint; one that diverged or never started runs anew.
    resume = member.run_id if member.run_id and member.status in RESUMABLE else None
    return run_task(
        member.index,
        sweep.directory.config_file,
        [] if resume else member.overrides,
        request,
        sweep=sweep.record.sweep_id,
        # Absolute: a Ray worker runs elsewhere, and the run's git state is looked up from this file.
        source_file=str(Path(sweep.record.config_file).resolve()) if sweep.record.config_file else None,
        base_overrides=sweep.record.overrides,
        resume=resume,
        grid_point=member.grid_point,
        shown_overrides=member.overrides,
    )


def run_task(index: int, config: Path, overrides: list[str], request: SweepRequest | ReproduceRequest, *,
             sweep: str | None = None, source_file: str | None = None, base_overrides: list[str] | None = None,
             resume: str | None = None, grid_point: dict | None = None,
             shown_overrides: list[str] | None = None) -> dict:
    """One run as plain JSON (it crosses process and machine boundaries); `index` names it in the result."""
    config, runs_dir = config.resolve(), request.runs_dir.resolve()
    command = ["scopelab", "run", str(config)]
    for override in overrides if shown_overrides is None else shown_overrides:
        command += ["--set", override]
    return {
        "sweep": sweep,
        "member": index,
        "config": str(config),
        "source_file": source_file,
        "base_overrides": base_overrides or [],
        "overrides": overrides,
        "resume": resume,
        "runs_dir": str(runs_dir),
        "device": request.device,
        "threads": request.threads,
        "grid_point": grid_point or {},
        "command": shlex.join([*command, "--runs-dir", str(runs_dir)]),
    }


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
        sweep_member=task["member"] if task["sweep"] else None,
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


def lost(task: dict, error: str) -> dict:
    """A member whose worker died before reporting; a resume finds its run, if it made one, by its summary."""
    return {"member": task["member"], "run_id": task["resume"], "status": "failed", "error": error}


# Members that need no shared disk (the Ray executor): the task carries the config's text and, for a resume,
# the run directory as bytes; the member trains in a scratch directory of its own machine and returns its run
# directory as bytes, which the driver writes into the runs directory.


def ship_task(task: dict) -> dict:
    """The task with what a worker on another machine cannot read from the driver's disk."""
    shipped = {**task, "config_text": Path(task["config"]).read_text()}
    if task["resume"]:
        shipped["run_tar"] = pack(Path(task["runs_dir"]) / task["resume"])
    return shipped


def run_shipped_member(task: dict) -> dict:
    """Run a shipped task in a scratch directory and return its result with the run directory as bytes."""
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="scopelab-member-"))
    try:
        config = scratch / "config.yaml"
        config.write_text(task["config_text"])
        runs_dir = scratch / "runs"
        runs_dir.mkdir()
        if task["resume"]:
            unpack(task["run_tar"], runs_dir / task["resume"])
        local = {key: value for key, value in task.items() if key not in ("config_text", "run_tar")}
        result = run_member({**local, "config": str(config), "runs_dir": str(runs_dir)})
        if result["run_id"] and (runs_dir / result["run_id"]).is_dir():
            result["run_tar"] = pack(runs_dir / result["run_id"])  # an interrupted or failed run comes back too
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def land(result: dict, task: dict) -> dict:
    """Write a shipped-back run directory into the runs directory: extracted beside it under a hidden name,
    then renamed into place, so a reader sees no run or a whole one. A resumed run's old copy is swapped out."""
    import secrets
    import shutil

    data = result.pop("run_tar", None)
    if data is None:
        return result
    runs_dir = Path(task["runs_dir"])
    incoming = runs_dir / f".incoming-{secrets.token_hex(4)}"
    unpack(data, incoming)
    target = runs_dir / result["run_id"]
    if task["resume"] == result["run_id"] and target.exists():
        old = runs_dir / f".replaced-{secrets.token_hex(4)}"
        target.rename(old)
        incoming.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return result
    if target.exists():
        # Two workers started runs of one config in the same second, each choosing the same id in its scratch.
        result["run_id"] = f"{result['run_id']}-{secrets.token_hex(2)}"
        arrived = RunDir(incoming)
        record = arrived.read_record()
        record.run_id = result["run_id"]
        arrived.write_record(record)
        target = runs_dir / result["run_id"]
    incoming.rename(target)
    return result


def pack(directory: Path) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(directory, arcname=".")
    return buffer.getvalue()


def unpack(data: bytes, directory: Path) -> None:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        archive.extractall(directory, filter="data")  # no absolute paths, links out or devices
