"""What a builder hands the trainer: the graph, its placeholders and one Phase per network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from scopelab.data import Batches, Split
from scopelab.errors import InputError

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
    # variable name -> the parts of the model that use it; two or more means shared
    used_by: dict[str, list[str]] = field(default_factory=dict)

    def variables(self) -> list[dict]:
        """Name, shape, parameters, owning scope and users of every trainable variable."""
        with self.graph.as_default():
            trainable = tf1.trainable_variables()
        rows = []
        for variable in trainable:
            name = variable.op.name
            users = self.used_by.get(name, [])
            rows.append({
                "name": name,
                "shape": [int(d) for d in variable.shape],
                "parameters": int(np.prod(variable.shape)),
                "scope": name.rsplit("/", 1)[0],
                "used_by": users,
                "shared": len(users) > 1,
            })
        return rows


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
