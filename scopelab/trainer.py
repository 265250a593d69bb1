"""The training loop: runs each phase's steps, logs when due, checkpoints, resumes, stops on NaN and
on SIGINT/SIGTERM. It knows nothing about how the experiment is built: the experiment's engine (a tf1
Session, or tf2 eager functions) runs the steps and saves the variables. Of which experiment it runs it
knows only the family's name, to print the test metrics as that family declares them."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from tqdm import tqdm

from scopelab.checkpoints import STATE_KEYS, prune, write_state
from scopelab.data import Split
from scopelab.errors import Interrupted, RunFailed
from scopelab.experiments import metric_of
from scopelab.metrics import Metric
from scopelab.runs import LOG_FILE, RunDir
from scopelab.signals import StopRequest

if TYPE_CHECKING:
    from scopelab.experiments.common import Experiment, Phase
    from scopelab.experiments.eager import EagerExperiment, EagerPhase

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
    experiment: str = ""  # its family's declared METRICS word the test lines


class Engine(Protocol):
    """What runs an experiment's steps (experiments.common.GraphEngine, experiments.eager.EagerEngine).
    Phases are named by index; batches are numpy arrays; checkpoints are files in a directory."""

    devices: list[str]
    threads: int  # TensorFlow's threads per op in effect (0: one per core)

    def initialize(self) -> None: ...
    def restore(self, path: str) -> None: ...
    def step(self, index: int, images: np.ndarray, labels: np.ndarray) -> float: ...
    def measure(self, index: int, images: np.ndarray, labels: np.ndarray) -> tuple[float, float | None]: ...
    def test(self, index: int, images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]: ...
    def save(self, directory: Path, position: int) -> str: ...


@dataclass
class TrainResult:
    state: TrainState
    started_from: dict  # {"network", "step"}: where this process began (a resumed run: its checkpoint)
    steps_run: int  # by this process (fewer than the total when resumed)
    train_seconds: float
    devices: list[str]
    threads: int


def train(
    experiment: Experiment | EagerExperiment,
    run_dir: RunDir,
    options: TrainOptions,
    on_line: Callable[[str], None],
    on_row: Callable[[dict], None] = lambda row: None,
) -> TrainResult:
    """Train every phase to its last step; raises Diverged or Interrupted after saving what it has.

    The experiment's engine runs the steps: a tf1 Session on its graph, or tf2 eager functions.
    """
    resumed = options.resume_state
    state = TrainState(**{key: resumed[key] for key in STATE_KEYS}) if resumed else TrainState()
    started_from = _started_from(experiment, state)
    with experiment.engine(options.use_gpu, options.threads) as engine, StopRequest() as stop:
        if state.checkpoint:
            engine.restore(str(run_dir.ckpt_dir / state.checkpoint))
        else:
            engine.initialize()
        loop = _Loop(experiment, engine, run_dir, options, state, stop, on_line, on_row)
        started = time.perf_counter()
        try:
            for index in range(state.phase, len(experiment.phases)):
                loop.run_phase(index)
        finally:
            loop.bar.close()
        return TrainResult(state, started_from, loop.steps_run, time.perf_counter() - started, engine.devices,
                           engine.threads)


def _started_from(experiment: Experiment | EagerExperiment, state: TrainState) -> dict:
    """Where this process begins: {"network", "step"}."""
    if state.phase < len(experiment.phases):
        return {"network": experiment.phases[state.phase].network, "step": state.step}
    # Every phase was done before a crash: nothing left to run.
    return {"network": experiment.phases[-1].network, "step": experiment.phases[-1].steps + 1}


class _Loop:
    """One process's training: the engine, where it stands (`state`, saved in every checkpoint), the
    progress bar, and the table it prints and keeps in log.txt."""

    def __init__(
        self,
        experiment: Experiment | EagerExperiment,
        engine: Engine,
        run_dir: RunDir,
        options: TrainOptions,
        state: TrainState,
        stop: StopRequest,
        on_line: Callable[[str], None],
        on_row: Callable[[dict], None],
    ):
        self.experiment, self.engine, self.run_dir, self.options = experiment, engine, run_dir, options
        self.state, self.stop, self.on_line, self.on_row = state, stop, on_line, on_row
        phases = experiment.phases
        self.done = sum(phase.steps + 1 for phase in phases[: state.phase]) + state.step  # over all phases
        self.steps_run = 0  # by this process
        self.bar = tqdm(
            total=sum(phase.steps + 1 for phase in phases),
            initial=self.done,
            file=sys.stderr,
            mininterval=0.5,
            disable=None if options.progress else True,  # None: off by itself when stderr is not a terminal
            unit="step",
            dynamic_ncols=True,
        )

    def run_phase(self, index: int) -> None:
        """The phase's steps from where the state stands to its last, then its test metrics and a checkpoint."""
        phase = self.experiment.phases[index]
        if self.state.step == 0 and phase.title:
            self.emit(f"{phase.title} :")
        for step in range(self.state.step, phase.steps + 1):
            self.run_step(index, phase, step)
        results = _evaluate(self.engine, index, self.experiment.test_split)
        self.state.test_metrics.update(results)
        for name, value in results.items():
            self.emit(_format_test(metric_of(self.options.experiment, name), value))
        if phase.test_note:
            self.emit(phase.test_note)
        self.state.phase, self.state.step = index + 1, 0
        self.save()

    def run_step(self, index: int, phase: Phase | EagerPhase, step: int) -> None:
        """One update; then, when due, a logged row, a checkpoint, or a checkpoint and a stop on a signal."""
        images, labels = phase.batches.batch(step)
        loss = self.engine.step(index, images, labels)
        self.steps_run += 1
        self.done += 1
        if not math.isfinite(loss):
            raise Diverged(f"the loss of {phase.network} became {loss} at step {step}")
        if step % self.options.log_every == 0 or step == phase.steps:
            # The loss (and accuracy) of the batch just trained on, after the update, as the article logs.
            loss, accuracy = self.engine.measure(index, images, labels)
            row = {"network": phase.network, "step": step, "loss": loss, "accuracy": accuracy}
            self.state.rows.append(row)
            self.run_dir.write_metrics(self.state.rows)
            self.on_row(row)
            self.emit(_format_row(row))
        self.state.step = step + 1
        self.bar.update(1)
        if self.stop.signal_number is not None:
            self.save()
            raise Interrupted(self.stop.signal_number)
        if self.state.step % self.options.checkpoint_every == 0:
            self.save()

    def emit(self, text: str) -> None:
        """Print a table line and keep log.txt in step with it (lines are rare: every log_every steps)."""
        self.state.lines.append(text)
        self.run_dir.write_text(LOG_FILE, "\n".join(self.state.lines) + "\n")
        self.on_line(text)

    def save(self) -> None:
        _save(self.engine, self.run_dir, self.state, self.done, self.options)


def _format_row(row: dict) -> str:
    if row["accuracy"] is None:
        return f"step, loss = {row['step']}: {row['loss']:.4f}"
    return f"step, loss, accuracy = {row['step']}: {row['loss']:.3f}, {row['accuracy']:.3f}"


def _format_test(metric: Metric, value: float) -> str:
    return f"{metric.log} = {value:.{metric.decimals}f}"


def _evaluate(engine: Engine, index: int, split: Split) -> dict[str, float]:
    """Means over the whole test set, in chunks (each test metric holds one value per example)."""
    totals: dict[str, float] = {}
    for start in range(0, len(split), EVAL_CHUNK):
        values = engine.test(index, split.images[start : start + EVAL_CHUNK], split.labels[start : start + EVAL_CHUNK])
        for name, per_example in values.items():
            totals[name] = totals.get(name, 0.0) + float(np.sum(per_example, dtype=np.float64))
    return {name: total / len(split) for name, total in totals.items()}


def _save(engine: Engine, run_dir: RunDir, state: TrainState, position: int, options: TrainOptions) -> None:
    """Variables first, then the state that names them, then the oldest pair goes: a kill at any point
    leaves at least the previous complete pair (scopelab.checkpoints)."""
    run_dir.ckpt_dir.mkdir(exist_ok=True)
    path = engine.save(run_dir.ckpt_dir, position)
    state.checkpoint = path.rsplit("/", 1)[-1]
    state.done = position
    write_state(run_dir, position, {**state.__dict__, **options.fingerprint})
    prune(run_dir)
