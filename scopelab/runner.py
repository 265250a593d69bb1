"""`scopelab run`: config -> data -> graph -> run directory -> trainer -> summary.

All input is checked before the run directory is made, so bad input leaves nothing behind.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scopelab.config import Config, dump_config, load_config, overridden
from scopelab.config_source import source_label
from scopelab.data import load_mnist
from scopelab.errors import InputError, Interrupted, RunFailed
from scopelab.quiet_tf import import_tensorflow
from scopelab.runs import RunDir, RunRecord, Variable, create_run_dir, process_gone, resolve_run, utc_now

RESUMABLE = ("interrupted", "failed", "running")


@dataclass(frozen=True)
class RunRequest:
    config_path: Path | None
    overrides: tuple[str, ...] = ()
    runs_dir: Path = Path("runs")
    device: str = "auto"  # auto | cpu | gpu
    resume: str | None = None  # a run id or prefix to continue
    threads: int = 0
    progress: bool = True
    command: str | None = None  # for the record; None: this process's command line
    # A sweep member: its config_path is the sweep's copy of source_file, with base_overrides applied.
    source_file: Path | None = None
    base_overrides: tuple[str, ...] = ()
    sweep: str | None = None
    sweep_member: int | None = None
    grid_point: dict = field(default_factory=dict)


def run(
    request: RunRequest, echo: Callable[[str], None], on_run_dir: Callable[[RunDir], None] = lambda run_dir: None
) -> RunDir:
    """Train one config into a new run directory (or continue one); returns the run directory.

    on_run_dir hears of the run directory as soon as it exists, so a caller knows it even if the run fails.
    """
    if request.resume:
        run_dir = resolve_run(request.runs_dir, request.resume)
        config = _resumable_config(run_dir)
    else:
        config = load_config(request.config_path, request.overrides)
        run_dir = None
    mnist = load_mnist(config.data.path)
    tf = import_tensorflow()
    use_gpu = _choose_device(tf, request.device)
    from scopelab.experiments import build
    from scopelab.provenance import collect
    from scopelab.tensorboard import Board, config_hparams
    from scopelab.trainer import Diverged, TrainOptions, train

    experiment = build(config, mnist)
    command = request.command or shlex.join(["scopelab", *sys.argv[1:]])
    if run_dir is None:
        run_dir = create_run_dir(request.runs_dir, config.name)
        run_dir.write_text("config.yaml", dump_config(config))
        record = _new_record(run_dir, config, request, experiment, mnist.source)
        record.provenance = collect(request.source_file or request.config_path, command, tf, use_gpu)
    else:
        record = run_dir.read_record()
        record.resumed += 1
        record.error = None
        record.provenance.resume_commands.append(command)
    record.threads = request.threads
    record.status, record.pid, record.host = "running", os.getpid(), socket.gethostname()
    record.device = "gpu" if use_gpu else "cpu"
    run_dir.write_record(record)
    on_run_dir(run_dir)

    options = TrainOptions(
        config.train.log_every, config.train.checkpoint_every, use_gpu, request.threads, request.progress
    )
    board = Board(run_dir.tb_dir, experiment.graph, run_dir.run_id, config_hparams(config))
    started = time.time()
    status = "failed"
    try:
        result = train(experiment, run_dir, options, echo, board.add_row)
        board.add_test(result.state.test_metrics, experiment.phases[-1].steps)
        status = "completed"
    except (Interrupted, KeyboardInterrupt) as stop:
        # KeyboardInterrupt: Ctrl-C before the trainer's own handler was in place (nothing trained yet).
        number = stop.signal_number if isinstance(stop, Interrupted) else signal.SIGINT
        name = signal.Signals(number).name
        status = "interrupted"
        _finish(run_dir, record, started, status, error=f"stopped by {name}")
        raise Interrupted(
            number,
            f"run {run_dir.run_id} stopped by {name} after a checkpoint; continue it with: "
            f"scopelab run --resume {run_dir.run_id} --runs-dir {request.runs_dir}",
        ) from None
    except Diverged as error:
        status = "diverged"
        _finish(run_dir, record, started, status, error=str(error))
        raise RunFailed(f"run {run_dir.run_id} diverged: {error}; the metrics so far are in {run_dir.path}.") from None
    except BaseException as error:
        _finish(run_dir, record, started, "failed", error=f"{type(error).__name__}: {error}")
        raise RunFailed(f"run {run_dir.run_id} failed: {type(error).__name__}: {error}") from error
    finally:
        board.close(status)
    record.metrics = result.state.test_metrics
    # What this process did: a resumed run starts at its checkpoint and runs only the rest.
    record.started_from = result.started_from
    record.steps_run = result.steps_run
    record.steps_per_second = round(result.steps_run / result.train_seconds, 2) if result.train_seconds else None
    record.devices = result.devices
    _finish(run_dir, record, started, status)
    return run_dir


def _finish(run_dir: RunDir, record: RunRecord, started: float, status: str, error: str | None = None) -> None:
    record.wall_seconds = round(record.wall_seconds + time.time() - started, 2)
    record.status, record.ended_at = status, utc_now()
    if error:
        record.error = error
    run_dir.write_record(record)


def _resumable_config(run_dir: RunDir) -> Config:
    try:
        record = run_dir.read_record()
    except (OSError, ValueError):
        raise InputError(
            f"run {run_dir.run_id}: its summary.json is missing or unreadable, so it cannot be resumed."
        ) from None
    if record.status not in RESUMABLE:
        raise InputError(f"run {run_dir.run_id} is {record.status}; only an interrupted or failed run can be resumed.")
    if record.status == "running" and not process_gone(record.pid, record.host):
        raise InputError(
            f"run {run_dir.run_id} is still running (pid {record.pid} on {record.host}); "
            "stop it first, or resume it once its process is gone."
        )
    return load_config(run_dir.path / "config.yaml")


def _choose_device(tf, device: str) -> bool:
    """Whether to let the session use the GPU; asking for a GPU that is not there is bad usage."""
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if device == "gpu" and not has_gpu:
        raise InputError("--device gpu: TensorFlow sees no GPU on this machine; use --device cpu or auto.")
    return has_gpu and device != "cpu"


def _new_record(run_dir: RunDir, config: Config, request: RunRequest, experiment, data_source: str) -> RunRecord:
    variables = [Variable(**variable) for variable in experiment.variables()]
    overrides = (*request.base_overrides, *request.overrides)
    source = request.source_file or request.config_path
    return RunRecord(
        run_id=run_dir.run_id,
        config_name=config.name,
        config_file=source_label(source) if source else None,
        experiment=config.experiment,
        description=config.description,
        status="running",
        overrides=overridden(config, overrides),
        seed=config.train.seed,
        steps_total={phase.network: phase.steps for phase in experiment.phases},
        device_requested=request.device,
        data=data_source,
        variables=variables,
        param_count=sum(variable.parameters for variable in variables),
        sweep=request.sweep,
        sweep_member=request.sweep_member,
        grid_point=request.grid_point,
        started_at=utc_now(),
    )
