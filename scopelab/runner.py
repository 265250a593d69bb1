"""`scopelab run`: config -> data -> graph -> run directory -> trainer -> summary.

All input is checked before the run directory is made, so bad input leaves nothing behind.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scopelab import __version__
from scopelab.config import Config, dump_config, load_config
from scopelab.data import load_mnist
from scopelab.errors import InputError, Interrupted, RunFailed
from scopelab.quiet_tf import import_tensorflow
from scopelab.records import process_gone
from scopelab.runs import RunDir, create_run_dir, resolve_run

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
    # Extra keys for summary.json, e.g. the sweep and grid point a run belongs to.
    summary_extra: dict = field(default_factory=dict)


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
    from scopelab.tensorboard import Board
    from scopelab.trainer import Diverged, TrainOptions, train

    experiment = build(config, mnist)
    if run_dir is None:
        run_dir = create_run_dir(request.runs_dir, config.name)
        run_dir.write_text("config.yaml", dump_config(config))
        summary = _new_summary(run_dir, config, request, experiment.variables(), mnist.source)
    else:
        summary = run_dir.read_summary()
        summary["resumed"] = summary.get("resumed", 0) + 1
        summary.pop("error", None)
    summary.update(request.summary_extra)
    summary.update(status="running", pid=os.getpid(), host=socket.gethostname(), device="gpu" if use_gpu else "cpu")
    run_dir.write_json("summary.json", summary)
    on_run_dir(run_dir)

    options = TrainOptions(
        config.train.log_every, config.train.checkpoint_every, use_gpu, request.threads, request.progress
    )
    board = Board(run_dir.tb_dir, experiment.graph)
    started = time.time()
    try:
        result = train(experiment, run_dir, options, echo, board.add_row)
        board.add_test(result.state.test_metrics, experiment.phases[-1].steps)
    except (Interrupted, KeyboardInterrupt) as stop:
        # KeyboardInterrupt: Ctrl-C before the trainer's own handler was in place (nothing trained yet).
        number = stop.signal_number if isinstance(stop, Interrupted) else signal.SIGINT
        name = signal.Signals(number).name
        _finish(run_dir, summary, started, "interrupted", error=f"stopped by {name}")
        raise Interrupted(
            number,
            f"run {run_dir.run_id} stopped by {name} after a checkpoint; continue it with: "
            f"scopelab run --resume {run_dir.run_id} --runs-dir {request.runs_dir}",
        ) from None
    except Diverged as error:
        _finish(run_dir, summary, started, "diverged", error=str(error))
        raise RunFailed(f"run {run_dir.run_id} diverged: {error}; the metrics so far are in {run_dir.path}.") from None
    except BaseException as error:
        _finish(run_dir, summary, started, "failed", error=f"{type(error).__name__}: {error}")
        raise RunFailed(f"run {run_dir.run_id} failed: {type(error).__name__}: {error}") from error
    finally:
        board.close()
    summary.update(
        metrics=result.state.test_metrics,
        steps_per_second=round(result.steps_run / result.train_seconds, 2) if result.train_seconds else None,
        devices=result.devices,
    )
    _finish(run_dir, summary, started, "completed")
    return run_dir


def _finish(run_dir: RunDir, summary: dict, started: float, status: str, error: str | None = None) -> None:
    summary["wall_seconds"] = round(summary.get("wall_seconds", 0) + time.time() - started, 2)
    summary.update(status=status, ended_at=_now())
    if error:
        summary["error"] = error
    run_dir.write_json("summary.json", summary)


def _resumable_config(run_dir: RunDir) -> Config:
    try:
        summary = run_dir.read_summary()
        status = summary["status"]
    except (OSError, ValueError, TypeError, KeyError):
        raise InputError(
            f"run {run_dir.run_id}: its summary.json is missing or unreadable, so it cannot be resumed."
        ) from None
    if status not in RESUMABLE:
        raise InputError(f"run {run_dir.run_id} is {status}; only an interrupted or failed run can be resumed.")
    if status == "running" and not process_gone(summary):
        raise InputError(
            f"run {run_dir.run_id} is still running (pid {summary.get('pid')} on {summary.get('host')}); "
            "stop it first, or resume it once its process is gone."
        )
    return load_config(run_dir.path / "config.yaml")


def _choose_device(tf, device: str) -> bool:
    """Whether to let the session use the GPU; asking for a GPU that is not there is bad usage."""
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if device == "gpu" and not has_gpu:
        raise InputError("--device gpu: TensorFlow sees no GPU on this machine; use --device cpu or auto.")
    return has_gpu and device != "cpu"


def _new_summary(run_dir: RunDir, config: Config, request: RunRequest, variables: list[dict], data_source: str) -> dict:
    import tensorflow as tf

    return {
        "run_id": run_dir.run_id,
        "config_name": config.name,
        "config_file": str(request.config_path),
        "experiment": config.experiment,
        "description": config.description,
        "status": "running",
        "metrics": {},
        "seed": config.train.seed,
        "device_requested": request.device,
        "data": data_source,
        "variables": variables,
        "param_count": sum(variable["parameters"] for variable in variables),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "scopelab": __version__},
        "command": " ".join(sys.argv),
        "started_at": _now(),
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
