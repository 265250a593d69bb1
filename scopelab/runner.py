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
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scopelab import checkpoints
from scopelab.config import Config, config_to_dict, dump_config, load_config, overridden
from scopelab.config_source import source_label
from scopelab.data import Mnist, load_mnist
from scopelab.errors import InputError, Interrupted, RunFailed
from scopelab.failures import full_text, one_line
from scopelab.footprint import check_fits_in_memory
from scopelab.ownership import LOCK_FILE, Ownership
from scopelab.quiet_tf import import_tensorflow
from scopelab.runs import (
    CONFIG_FILE,
    SUMMARY_FILE,
    RunDir,
    RunRecord,
    Variable,
    check_runs_dir,
    create_run_dir,
    mark_if_only_runs,
    resolve_run,
    utc_now,
)
from scopelab.signals import signals_deferred

if TYPE_CHECKING:
    from scopelab.trainer import TrainOptions, TrainResult

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
    restart: bool = False  # with resume: start the run over in place (its checkpoints are unusable, say)


def run(
    request: RunRequest, echo: Callable[[str], None], on_run_dir: Callable[[RunDir], None] = lambda run_dir: None
) -> RunDir:
    """Train one config into a new run directory (or continue one); returns the run directory.

    on_run_dir hears of the run directory as soon as it exists, so a caller knows it even if the run fails.
    The run is locked (scopelab.ownership) from before its status is read until its last record is written.
    """
    if request.restart and not request.resume:
        raise InputError("--restart starts a run over in place: give it with --resume RUN.")
    with ExitStack() as held:
        resume_state = None
        if request.resume:
            run_dir = resolve_run(request.runs_dir, request.resume)
            held.enter_context(Ownership(run_dir.path, f"run {run_dir.run_id}"))
            config = _resumable_config(run_dir)
            check_fits_in_memory(config)
            if not request.restart:
                resume_state = checkpoints.choose(run_dir, warn=_warn)
                if resume_state:
                    checkpoints.check_config(run_dir, resume_state, config_to_dict(config), dump_config(config))
        else:
            config = load_config(request.config_path, request.overrides)
            check_fits_in_memory(config)
            run_dir = None
        return _run_owned(request, config, run_dir, resume_state, held, echo, on_run_dir)


def _run_owned(
    request: RunRequest,
    config: Config,
    run_dir: RunDir | None,
    resume_state: dict | None,
    held: ExitStack,
    echo: Callable[[str], None],
    on_run_dir: Callable[[RunDir], None],
) -> RunDir:
    """With the input checked (and a resumed run locked): build, record the start, train, record the end."""
    mnist = load_mnist(config.data.path)
    if run_dir is None:
        check_runs_dir(request.runs_dir)  # after all input is checked: it makes the runs directory
    elif not request.restart:
        _check_same_data(run_dir, mnist)
    tf = import_tensorflow()
    use_gpu = _choose_device(tf, request.device)
    _set_eager_threads(tf, request.threads)
    # Every module training needs is imported before the run directory exists (_train uses them): an
    # import that fails then leaves nothing behind, not a run stuck at "running".
    import scopelab.tensorboard  # noqa: F401
    from scopelab.experiments import build
    from scopelab.trainer import TrainOptions

    experiment = build(config, mnist)
    with signals_deferred():
        run_dir, record = _record_start(request, config, run_dir, held, experiment, mnist, tf, use_gpu)
        on_run_dir(run_dir)
    fingerprint = {"config_hash": checkpoints.config_hash(dump_config(config)), "config": config_to_dict(config)}
    options = TrainOptions(
        config.train.log_every, config.train.checkpoint_every, use_gpu, request.threads, request.progress,
        resume_state, fingerprint, config.experiment,
    )
    _train(experiment, config, run_dir, record, options, request.runs_dir, echo)
    return run_dir


def _train(
    experiment, config: Config, run_dir: RunDir, record: RunRecord, options: TrainOptions, runs_dir: Path,
    echo: Callable[[str], None],
) -> None:
    """Train with TensorBoard events alongside, and record how it ended in summary.json: a stop, a
    divergence or a crash is recorded, then raised as Interrupted or RunFailed with one line to show."""
    from scopelab.tensorboard import Board, config_hparams
    from scopelab.trainer import Diverged, train

    started = time.time()
    board = None
    status = "failed"
    try:
        board = Board(run_dir.tb_dir, experiment.graph, run_dir.run_id, config_hparams(config))
        result = train(experiment, run_dir, options, echo, board.add_row)
        board.add_test(result.state.test_metrics, experiment.phases[-1].steps)
        status = "completed"
    except (Interrupted, KeyboardInterrupt) as stop:
        # KeyboardInterrupt: Ctrl-C before the trainer's own handler was in place (nothing trained yet).
        number = stop.signal_number if isinstance(stop, Interrupted) else signal.SIGINT
        name = signal.Signals(number).name
        status = "interrupted"
        unrecorded = _finish(run_dir, record, started, status, error=f"stopped by {name}")
        raise Interrupted(
            number,
            f"run {run_dir.run_id} stopped by {name} after a checkpoint{unrecorded}; continue it with: "
            f"scopelab run --resume {run_dir.run_id} --runs-dir {runs_dir}",
        ) from None
    except Diverged as error:
        status = "diverged"
        unrecorded = _finish(run_dir, record, started, status, error=str(error))
        raise RunFailed(
            f"run {run_dir.run_id} diverged: {error}{unrecorded}; the metrics so far are in {run_dir.path}."
        ) from None
    except BaseException as error:
        reason = one_line(error)
        _quietly(lambda: checkpoints.remove_temporaries(run_dir))  # a failed save's leftovers, first: room
        _append_log(run_dir, full_text(error))
        unrecorded = _finish(run_dir, record, started, "failed", error=reason)
        raise RunFailed(f"run {run_dir.run_id} failed: {reason}{unrecorded}") from error
    finally:
        if board is not None:
            _quietly(lambda: board.close(status))
    _record_completed(run_dir, record, result, started)


def _record_completed(run_dir: RunDir, record: RunRecord, result: TrainResult, started: float) -> None:
    record.metrics = result.state.test_metrics
    # What this process did: a resumed run starts at its checkpoint and runs only the rest.
    record.started_from = result.started_from
    record.steps_run = result.steps_run
    record.steps_per_second = round(result.steps_run / result.train_seconds, 2) if result.train_seconds else None
    record.devices = result.devices
    record.threads = result.threads  # as asked, except where TensorFlow had fixed them (tf2, an earlier run)
    unrecorded = _finish(run_dir, record, started, "completed")
    if unrecorded:
        raise RunFailed(f"run {run_dir.run_id} trained to the end{unrecorded}")


def _record_start(
    request: RunRequest, config: Config, run_dir: RunDir | None, held: ExitStack, experiment, mnist: Mnist, tf,
    use_gpu: bool,
) -> tuple[RunDir, RunRecord]:
    """Make (or reopen) the run directory and write its first record. A new run that cannot be recorded
    (disk full, runs directory gone) is removed again: one line, exit 1, nothing left behind."""
    from scopelab.provenance import collect

    new = run_dir is None
    command = request.command or shlex.join(["scopelab", *sys.argv[1:]])
    try:
        if new:
            run_dir = create_run_dir(request.runs_dir, config.name)
            held.enter_context(Ownership(run_dir.path, f"run {run_dir.run_id}"))
            # Marked before config.yaml makes this a run: rm never meets a held run in an unmarked directory.
            mark_if_only_runs(request.runs_dir)
            run_dir.write_text(CONFIG_FILE, dump_config(config))
        else:
            checkpoints.remove_temporaries(run_dir)
        if new or request.restart:
            previous = None if new else run_dir.read_record()
            if previous is not None:
                _start_over(run_dir)
            record = _new_record(run_dir, config, request, experiment, mnist)
            record.provenance = collect(request.source_file or request.config_path, command, tf, use_gpu)
            if previous is not None:  # --restart: a new start, but the same run and where its config came from
                record.config_file, record.restarted = previous.config_file, previous.restarted + 1
        else:
            record = run_dir.read_record()
            record.resumed += 1
            record.error = None
            record.provenance.resume_commands.append(command)
        record.threads = request.threads
        record.status, record.pid, record.host = "running", os.getpid(), socket.gethostname()
        record.device = "gpu" if use_gpu else "cpu"
        run_dir.write_record(record)
    except OSError as error:
        if new and run_dir is not None:
            _quietly(lambda: _remove_new_run(run_dir))
        elif run_dir is not None:
            _quietly(lambda: checkpoints.remove_temporaries(run_dir))
        where = run_dir.run_id if run_dir is not None else request.runs_dir
        raise RunFailed(f"{one_line(error)}: cannot record run {where}; nothing was trained.") from None
    return run_dir, record


def _remove_new_run(run_dir: RunDir) -> None:
    """Take back a run directory this process made a moment ago: its files by name, then the directory
    (left, if anything else is in it)."""
    checkpoints.remove_temporaries(run_dir)
    for name in (CONFIG_FILE, SUMMARY_FILE, LOCK_FILE):
        (run_dir.path / name).unlink(missing_ok=True)
    run_dir.path.rmdir()


def _start_over(run_dir: RunDir) -> None:
    """--restart: everything training made goes, by its own names (a user's file in the run stays);
    config.yaml stays, and the run starts from step 0."""
    from scopelab.hparams import EVENT_FILES

    checkpoints.remove_all(run_dir)
    events = run_dir.tb_dir.glob(EVENT_FILES) if not run_dir.tb_dir.is_symlink() else ()
    for path in (*events, run_dir.metrics_file, run_dir.log_file):
        path.unlink(missing_ok=True)


def _finish(run_dir: RunDir, record: RunRecord, started: float, status: str, error: str | None = None) -> str:
    """Record how the run ended. Returns "" or, when even that cannot be written (disk full, directory
    gone), a clause for the message: the old record stays, and since the lock goes with this process the
    run then lists as stale and resumes from its last checkpoint."""
    record.wall_seconds = round(record.wall_seconds + time.time() - started, 2)
    record.status, record.ended_at = status, utc_now()
    if error:
        record.error = error
    try:
        run_dir.write_record(record)
    except OSError as failure:
        _quietly(lambda: checkpoints.remove_temporaries(run_dir))
        return f" (and its summary.json could not be updated: {one_line(failure)}; it resumes from its last checkpoint)"
    return ""


def _append_log(run_dir: RunDir, text: str) -> None:
    """The whole error, traceback and all, at the end of log.txt (best effort: the disk may be full)."""
    def append() -> None:
        with open(run_dir.log_file, "a", encoding="utf-8") as handle:
            handle.write(text)

    _quietly(append)


def _quietly(action: Callable[[], object]) -> None:
    """Clean-up on a failure path: an OSError here must not hide the failure being reported."""
    try:
        action()
    except OSError:
        pass


def _warn(text: str) -> None:
    print(text, file=sys.stderr)


def _resumable_config(run_dir: RunDir) -> Config:
    try:
        record = run_dir.read_record()
    except (OSError, ValueError):
        raise InputError(
            f"run {run_dir.run_id}: its summary.json is missing or unreadable, so it cannot be resumed."
        ) from None
    if record.status not in RESUMABLE:  # "running" is resumable: we hold its lock, so its process is gone
        raise InputError(f"run {run_dir.run_id} is {record.status}; only an interrupted or failed run can be resumed.")
    return load_config(run_dir.config_file)


def _check_same_data(run_dir: RunDir, mnist: Mnist) -> None:
    """A run resumed on other data (SCOPELAB_DATA moved, files changed) would be half one data set and half
    another, under the checksum of the first: refuse it. A run too old to have recorded one cannot be checked."""
    recorded = run_dir.read_record().data_checksum
    if recorded is not None and recorded != mnist.checksum:
        raise InputError(
            f"run {run_dir.run_id} trained on data with checksum {recorded}, but {mnist.source} has "
            f"{mnist.checksum}; resume it with the data it started on (data.path or SCOPELAB_DATA), or --restart it."
        )


def _set_eager_threads(tf, threads: int) -> None:
    """tf2's threads: fixed by the first eager op of the process, so set before the experiment makes its
    variables (a tf1 session takes its threads from its own config)."""
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # an earlier run in this process fixed them: the run records what it got (EagerEngine.threads)


def _choose_device(tf, device: str) -> bool:
    """Whether to let the session use the GPU; asking for a GPU that is not there is bad usage."""
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if device == "gpu" and not has_gpu:
        raise InputError("--device gpu: TensorFlow sees no GPU on this machine; use --device cpu or auto.")
    use_gpu = has_gpu and device != "cpu"
    if has_gpu and not use_gpu:
        # tf2 variables are placed when made, before a session config could keep them off the GPU.
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:
            pass  # TensorFlow already runs in this process (tests): tf2 steps still run under /CPU:0
    return use_gpu


def _new_record(run_dir: RunDir, config: Config, request: RunRequest, experiment, mnist: Mnist) -> RunRecord:
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
        data=mnist.source,
        data_checksum=mnist.checksum,
        variables=variables,
        param_count=sum(variable.parameters for variable in variables),
        sweep=request.sweep,
        sweep_member=request.sweep_member,
        grid_point=request.grid_point,
        started_at=utc_now(),
    )
