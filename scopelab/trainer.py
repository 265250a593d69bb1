"""The session loop: runs each phase's steps, logs when due, checkpoints, resumes, stops on NaN and
on SIGINT/SIGTERM. It knows nothing about which experiment it runs."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from scopelab.checkpoints import STATE_KEYS, prune, write_state
from scopelab.errors import Interrupted, RunFailed
from scopelab.experiments.common import Experiment, Phase
from scopelab.runs import RunDir
from scopelab.signals import StopRequest

tf1 = tf.compat.v1
EVAL_CHUNK = 2000


class Diverged(RunFailed):
    pass


@dataclass
class TrainState:
    """Where training stands: all a checkpoint needs besides the variables (the batches of a step
    are a pure function of the seed and the step, so there is no shuffle state to keep)."""

    phase: int = 0
    step: int = 0  # the next step to run in that phase
    rows: list[dict] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # the table as printed, for log.txt
    test_metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: str | None = None
    done: int = 0  # updates run over all phases at this checkpoint: what `list` shows as steps reached


@dataclass(frozen=True)
class TrainOptions:
    log_every: int
    checkpoint_every: int
    use_gpu: bool
    threads: int = 0  # 0: TensorFlow's choice (all cores)
    progress: bool = True
    resume_state: dict | None = None  # the checkpoint's state to continue from (scopelab.checkpoints.choose)
    fingerprint: dict = field(default_factory=dict)  # the config's hash and content, kept in every state


@dataclass
class TrainResult:
    state: TrainState
    started_from: dict  # {"network", "step"}: where this process began (a resumed run: its checkpoint)
    steps_run: int  # by this process (fewer than the total when resumed)
    train_seconds: float
    devices: list[str]


def train(
    experiment: Experiment,
    run_dir: RunDir,
    options: TrainOptions,
    on_line: Callable[[str], None],
    on_row: Callable[[dict], None] = lambda row: None,
) -> TrainResult:
    """Train every phase to its last step; raises Diverged or Interrupted after saving what it has."""
    session_config = tf1.ConfigProto(
        intra_op_parallelism_threads=options.threads,
        inter_op_parallelism_threads=options.threads,
        device_count=None if options.use_gpu else {"GPU": 0},
        # Take GPU memory as needed, not all of it up front: sweeps run several members on one card.
        gpu_options=tf1.GPUOptions(allow_growth=True),
    )
    with experiment.graph.as_default():
        saver = tf1.train.Saver(max_to_keep=None)  # scopelab.checkpoints.prune keeps the last two
        initializer = tf1.global_variables_initializer()
    experiment.graph.finalize()  # any op made during training would be a leak: make it an error
    resumed = options.resume_state
    state = TrainState(**{key: resumed[key] for key in STATE_KEYS}) if resumed else TrainState()
    if state.phase < len(experiment.phases):
        started_from = {"network": experiment.phases[state.phase].network, "step": state.step}
    else:  # every phase was done before a crash: nothing left to run
        started_from = {"network": experiment.phases[-1].network, "step": experiment.phases[-1].steps + 1}

    def emit(text: str) -> None:
        """Print a table line and keep log.txt in step with it (lines are rare: every log_every steps)."""
        state.lines.append(text)
        run_dir.write_text("log.txt", "\n".join(state.lines) + "\n")
        on_line(text)

    stop = StopRequest()
    total = sum(phase.steps + 1 for phase in experiment.phases)
    done = sum(phase.steps + 1 for phase in experiment.phases[: state.phase]) + state.step
    steps_run = 0
    with tf1.Session(graph=experiment.graph, config=session_config) as session, stop:
        devices = [device.name for device in session.list_devices()]
        if state.checkpoint:
            saver.restore(session, str(run_dir.ckpt_dir / state.checkpoint))
        else:
            session.run(initializer)
        bar = tqdm(
            total=total,
            initial=done,
            file=sys.stderr,
            mininterval=0.5,
            disable=None if options.progress else True,  # None: off by itself when stderr is not a terminal
            unit="step",
            dynamic_ncols=True,
        )
        started = time.perf_counter()
        try:
            for index in range(state.phase, len(experiment.phases)):
                phase = experiment.phases[index]
                if state.step == 0 and phase.title:
                    emit(f"{phase.title} :")
                for step in range(state.step, phase.steps + 1):
                    feed = _feed(experiment, *phase.batches.batch(step))
                    _, loss = session.run((phase.train_op, phase.loss), feed)
                    steps_run += 1
                    done += 1
                    if not math.isfinite(loss):
                        raise Diverged(f"the loss of {phase.network} became {loss} at step {step}")
                    if step % options.log_every == 0 or step == phase.steps:
                        row = _log_row(session, phase, feed, step)
                        state.rows.append(row)
                        run_dir.write_metrics(state.rows)
                        on_row(row)
                        emit(_format_row(row))
                    state.step = step + 1
                    bar.update(1)
                    if stop.signal_number is not None:
                        _save(session, saver, run_dir, state, done, options)
                        raise Interrupted(stop.signal_number)
                    if state.step % options.checkpoint_every == 0:
                        _save(session, saver, run_dir, state, done, options)
                results = _evaluate(session, experiment, phase.test)
                state.test_metrics.update(results)
                for name, value in results.items():
                    emit(_format_test(name, value))
                if phase.test_note:
                    emit(phase.test_note)
                state.phase, state.step = index + 1, 0
                _save(session, saver, run_dir, state, done, options)
        finally:
            bar.close()
        return TrainResult(state, started_from, steps_run, time.perf_counter() - started, devices)


def _feed(experiment: Experiment, images: np.ndarray, labels: np.ndarray) -> dict:
    """The one place batches enter the graph: numpy arrays fed to the placeholders. Holding the
    training set in the graph and feeding only indices saved 1-2% of an autoencoder step and ~3.5%
    of an MLP step on CPU (benchmarks/bench_step.py, "tf1 data in graph"): too little for a second
    copy of the data in memory. Not yet measured on a GPU (benchmarks/gpu_check.sh does)."""
    feed = {experiment.images: images}
    if experiment.labels is not None:
        feed[experiment.labels] = labels
    return feed


def _log_row(session: tf1.Session, phase: Phase, feed: dict, step: int) -> dict:
    """The loss (and accuracy) of the batch just trained on, after the update, as the article logs."""
    if phase.accuracy is None:
        loss, accuracy = session.run(phase.loss, feed), None
    else:
        loss, accuracy = session.run((phase.loss, phase.accuracy), feed)
        accuracy = float(accuracy)
    return {"network": phase.network, "step": step, "loss": float(loss), "accuracy": accuracy}


def _format_row(row: dict) -> str:
    if row["accuracy"] is None:
        return f"step, loss = {row['step']}: {row['loss']:.4f}"
    return f"step, loss, accuracy = {row['step']}: {row['loss']:.3f}, {row['accuracy']:.3f}"


def _format_test(name: str, value: float) -> str:
    if name == "test_loss":
        return f"loss (test) = {value:.6f}"
    label = "averaged" if name == "acc_averaged" else name.removeprefix("acc_").replace("net", "net ")
    return f"accuracy (test) {label} = {value:.4f}"


def _evaluate(session: tf1.Session, experiment: Experiment, tensors: dict[str, tf.Tensor]) -> dict[str, float]:
    """Means over the whole test set, in chunks (each tensor holds one value per example)."""
    split = experiment.test_split
    totals = dict.fromkeys(tensors, 0.0)
    for start in range(0, len(split), EVAL_CHUNK):
        feed = _feed(experiment, split.images[start : start + EVAL_CHUNK], split.labels[start : start + EVAL_CHUNK])
        for name, values in session.run(tensors, feed).items():
            totals[name] += float(np.sum(values, dtype=np.float64))
    return {name: total / len(split) for name, total in totals.items()}


def _save(
    session: tf1.Session, saver: tf1.train.Saver, run_dir: RunDir, state: TrainState, position: int,
    options: TrainOptions,
) -> None:
    """Variables first, then the state that names them, then the oldest pair goes: a kill at any point
    leaves at least the previous complete pair (scopelab.checkpoints)."""
    run_dir.ckpt_dir.mkdir(exist_ok=True)
    path = saver.save(
        session, str(run_dir.ckpt_dir / "model"), global_step=position, write_meta_graph=False, write_state=False
    )
    state.checkpoint = path.rsplit("/", 1)[-1]
    state.done = position
    write_state(run_dir, position, {**state.__dict__, **options.fingerprint})
    prune(run_dir)
