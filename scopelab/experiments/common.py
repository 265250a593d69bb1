"""What a builder hands the trainer: the graph, its placeholders and one Phase per network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from scopelab.data import Batches, Split
from scopelab.errors import InputError
from scopelab.inspector import variable_uses

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

    def variables(self) -> list[dict]:
        """Name, shape, parameters, owning scope and users of every trainable variable, found by
        walking the graph (the name scopes that read it; shared when read in two places)."""
        return [variable.summary() for variable in variable_uses(self)]


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
