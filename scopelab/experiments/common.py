"""What a builder hands the trainer: the graph, its placeholders and one Phase per network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from scopelab.data import Batches, Split
from scopelab.errors import InputError
from scopelab.experiments.uses import VariableUses, graph_uses

tf1 = tf.compat.v1


@dataclass
class Phase:
    """One network trained for steps 0..steps; `test` metrics are measured right after it."""

    network: str  # the `network` column of metrics.csv
    title: str | None  # the article's block header ("Network No.1 :"), None for a single network
    steps: int
    batches: Batches
    train_op: Any
    loss: tf.Tensor
    accuracy: tf.Tensor | None
    test: dict[str, tf.Tensor]  # per-example means over the test set, e.g. {"test_loss": ...}
    test_note: str | None = None  # printed under the test metrics, to say when they were taken


@dataclass
class Experiment:
    graph: tf.Graph
    images: tf.Tensor
    labels: tf.Tensor | None
    phases: list[Phase]
    test_split: Split

    def variable_uses(self) -> list[VariableUses]:
        """Every trainable variable of the graph with the ops that use it."""
        with self.graph.as_default():
            trainable = tf1.trainable_variables()
        return graph_uses(
            self.graph,
            [(variable.op.name, tuple(int(d) for d in variable.shape), variable.handle) for variable in trainable],
            {phase.network: phase.loss for phase in self.phases},
            [t for p in self.phases for t in (p.accuracy, *p.test.values()) if t is not None],
        )

    def variables(self) -> list[dict]:
        """Name, shape, parameters, owning scope and users of every trainable variable, found by
        walking the graph (the name scopes that read it; shared when read in two places)."""
        return [variable.summary() for variable in self.variable_uses()]

    def held_by(self) -> None:
        """tf1 variables belong to variable scopes, not to objects: nothing to list (see tf2)."""
        return None

    def engine(self, use_gpu: bool, threads: int) -> GraphEngine:
        return GraphEngine(self, use_gpu, threads)


class GraphEngine:
    """Runs an Experiment's graph in a tf1 Session for the trainer, one phase (by index) at a time."""

    def __init__(self, experiment: Experiment, use_gpu: bool, threads: int):
        self.experiment = experiment
        config = tf1.ConfigProto(
            intra_op_parallelism_threads=threads,
            inter_op_parallelism_threads=threads,
            use_per_session_threads=True,  # and TF_OVERRIDE_GLOBAL_THREADPOOL (scopelab.quiet_tf)
            device_count=None if use_gpu else {"GPU": 0},
            # Take GPU memory as needed, not all of it up front: sweeps run several members on one card.
            gpu_options=tf1.GPUOptions(allow_growth=True),
        )
        with experiment.graph.as_default():
            self._saver = tf1.train.Saver(max_to_keep=None)  # scopelab.checkpoints.prune keeps the last two
            self._initializer = tf1.global_variables_initializer()
        experiment.graph.finalize()  # any op made during training would be a leak: make it an error
        self._session = tf1.Session(graph=experiment.graph, config=config)
        self.threads = threads  # its own pools: as asked
        self.devices = [device.name for device in self._session.list_devices()]

    def __enter__(self) -> GraphEngine:
        self._session.__enter__()  # makes the graph the default one, which the Saver needs
        return self

    def __exit__(self, *exc) -> None:
        self._session.__exit__(*exc)

    def initialize(self) -> None:
        self._session.run(self._initializer)

    def restore(self, path: str) -> None:
        self._saver.restore(self._session, path)

    def step(self, index: int, images: np.ndarray, labels: np.ndarray) -> float:
        phase = self.experiment.phases[index]
        _, loss = self._session.run((phase.train_op, phase.loss), self._feed(images, labels))
        return float(loss)

    def measure(self, index: int, images: np.ndarray, labels: np.ndarray) -> tuple[float, float | None]:
        phase = self.experiment.phases[index]
        if phase.accuracy is None:
            return float(self._session.run(phase.loss, self._feed(images, labels))), None
        loss, accuracy = self._session.run((phase.loss, phase.accuracy), self._feed(images, labels))
        return float(loss), float(accuracy)

    def test(self, index: int, images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
        return self._session.run(self.experiment.phases[index].test, self._feed(images, labels))

    def save(self, directory: Path, position: int) -> str:
        return self._saver.save(self._session, str(directory / "model"), global_step=position,
                                write_meta_graph=False, write_state=False)

    def _feed(self, images: np.ndarray, labels: np.ndarray) -> dict:
        """The one place batches enter the graph: numpy arrays fed to the placeholders. Holding the
        training set in the graph and feeding only indices saved 1-2% of an autoencoder step and
        ~3.5% of an MLP step on CPU (benchmarks/bench_step.py, "tf1 data in graph"): too little for
        a second copy of the data in memory. Not yet measured on a GPU (benchmarks/gpu_check.sh does)."""
        feed = {self.experiment.images: images}
        if self.experiment.labels is not None:
            feed[self.experiment.labels] = labels
        return feed


def make_optimizer(name: str, learning_rate: float) -> tf1.train.Optimizer:
    """The TF1 optimizers with TF's own defaults (Adagrad starts its accumulators at 0.1)."""
    optimizers = {
        "adagrad": lambda: tf1.train.AdagradOptimizer(learning_rate),
        "adam": lambda: tf1.train.AdamOptimizer(learning_rate),
        "sgd": lambda: tf1.train.GradientDescentOptimizer(learning_rate),
        "momentum": lambda: tf1.train.MomentumOptimizer(learning_rate, momentum=0.9),
        "rmsprop": lambda: tf1.train.RMSPropOptimizer(learning_rate),
    }
    return optimizers[name]()


def check_pixels(split: Split, input_size: int) -> None:
    if split.images.shape[1] != input_size:
        raise InputError(
            f"config key 'model.input_size' is {input_size}, but the data has {split.images.shape[1]} pixels per image."
        )
