"""The Siamese network with `model.api: tf2`: towers are tf.Module objects. Shared, the right side calls the
very module the left side calls; independent, each side holds its own. The modules start from the tf1
graph's first values and train on its batches, so both APIs give the same numbers."""

from __future__ import annotations

import tensorflow as tf

from scopelab.api import EagerExperiment, EagerPhase, Forward, Mnist, make_optimizer, tf1_initial_values, unique
from scopelab_siamese import graph
from scopelab_siamese.family import SiameseConfig


class Tower(tf.Module):
    """784 -> hidden (relu) -> embedding, with the variables W_hid, b_hid, W_emb, b_emb of scope `name`."""

    def __init__(self, name: str, first: dict):
        super().__init__(name=name)
        with self.name_scope:
            self.layers = [(tf.Variable(first[f"{name}/W_{layer}"], name=f"W_{layer}"),
                            tf.Variable(first[f"{name}/b_{layer}"], name=f"b_{layer}")) for layer in ("hid", "emb")]

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        (w_hid, b_hid), (w_emb, b_emb) = self.layers
        with tf.name_scope(self.name):  # inside the caller's: left/tower, right/tower, as the tf1 graph's
            return tf.matmul(tf.nn.relu(tf.matmul(images, w_hid) + b_hid), w_emb) + b_emb


class Head(tf.Module):
    def __init__(self, first: dict):
        super().__init__(name="head")
        with self.name_scope:
            self.threshold = tf.Variable(first["head/threshold"], name="threshold")


def build(config: SiameseConfig, mnist: Mnist) -> EagerExperiment:
    model, train = config.model, config.train
    graph_experiment = graph.build(config, mnist)  # checks the data, batches it, draws the first values
    (graph_phase,) = graph_experiment.phases
    first = tf1_initial_values(graph_experiment)
    left_scope, right_scope = graph.tower_scopes(model)
    left = Tower(left_scope, first)
    right = left if right_scope == left_scope else Tower(right_scope, first)
    head = Head(first)

    def forward(images: tf.Tensor, labels: tf.Tensor) -> Forward:
        anchors, others, same, weight = graph.make_pairs(images, labels)
        with tf.name_scope("left"):
            left_embedding = left(anchors)
        with tf.name_scope("right"):
            right_embedding = right(others)
        with tf.name_scope("head"):
            logits = graph.head_logits(left_embedding, right_embedding, head.threshold)
        loss, accuracy, test = graph.pair_outputs(logits, same, weight)
        return Forward(loss, accuracy, test, logits)

    modules = [left, right, head]
    phase = EagerPhase(network=graph_phase.network, title=None, steps=graph_phase.steps, batches=graph_phase.batches,
                       modules=modules, variables=unique([v for module in modules for v in module.trainable_variables]),
                       optimizer=make_optimizer(train.optimizer, train.learning_rate), forward=forward)
    return EagerExperiment([phase], mnist.test, model.input_size, labels=True)
