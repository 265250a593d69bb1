"""The Siamese graph: each image of a batch is paired with the nearest later image of its own digit and the
nearest of another digit (balanced pairs, made in the graph so that a batch stays a pure function of seed
and step), each side goes through a tower, and a learned threshold on the squared distance of the two
embeddings says "same digit" or not (logistic loss).

Shared, the right tower reopens the left tower's variable scope with reuse=True: one set of weights, read
by both towers' name scopes. Independent, each tower makes its own.
"""

from __future__ import annotations

import tensorflow as tf

from scopelab.api import Batches, Experiment, Mnist, Phase, check_pixels, dense, make_optimizer
from scopelab_siamese.family import SiameseConfig, SiameseModel

tf1 = tf.compat.v1


def tower(images: tf.Tensor, side: str, scope: str, reuse: bool, model: SiameseModel) -> tf.Tensor:
    """784 -> hidden (relu) -> embedding, with its ops in name scope `side` and its variables in `scope`."""
    with tf1.name_scope(side), tf1.variable_scope(scope, reuse=reuse):
        hidden, _ = dense(images, model.hidden_size, model.init_std, "hid", tf.nn.relu)
        embedding, _ = dense(hidden, model.embedding_size, model.init_std, "emb")
    return embedding


def partners(labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """For each example, the index of the nearest later example (cyclically) of the same label and of
    another label, and whether there is one."""
    count = tf.shape(labels)[0]
    index = tf.range(count)
    offset = tf.math.floormod(index[None, :] - index[:, None], count)  # 0 on the diagonal
    same = tf.equal(labels[:, None], labels[None, :])

    def nearest(mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        distance = tf.where(mask, offset, count + 1)
        return tf.argmin(distance, axis=1, output_type=tf.int32), tf.reduce_any(mask, axis=1)

    positive, has_positive = nearest(same & (offset > 0))
    negative, has_negative = nearest(tf.logical_not(same))
    return positive, has_positive, negative, has_negative


def make_pairs(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Each example twice as an anchor: with its positive partner, then with its negative one. Returns the
    anchors, their partners, 1.0 where a pair is of one digit, and 1.0 where the pair exists."""
    with tf.name_scope("pairs"):
        positive, has_positive, negative, has_negative = partners(labels)
        others = tf.gather(images, tf.concat([positive, negative], axis=0))
        anchors = tf.concat([images, images], axis=0)
        same = tf.concat([tf.ones_like(has_positive, tf.float32), tf.zeros_like(has_negative, tf.float32)], 0)
        weight = tf.cast(tf.concat([has_positive, has_negative], axis=0), tf.float32)
    return anchors, others, same, weight


def head_logits(left: tf.Tensor, right: tf.Tensor, threshold: tf.Tensor) -> tf.Tensor:
    """The logit of "same digit": positive when the embeddings are closer (squared) than the threshold."""
    return threshold - tf.reduce_sum(tf.square(left - right), axis=1)


def pair_outputs(logits: tf.Tensor, same: tf.Tensor, weight: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, dict]:
    """The batch's loss and pair accuracy, and the test metrics: one value per example (its positive and its
    negative pair), so that their mean over the test set is the mean over its pairs."""
    with tf.name_scope("loss"):
        pair_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=same, logits=logits)
        right_answer = tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), same), tf.float32)
        loss = tf.reduce_sum(pair_loss * weight) / tf.reduce_sum(weight)
        accuracy = tf.reduce_sum(right_answer * weight) / tf.reduce_sum(weight)
        per_example = tf.maximum(tf.reduce_sum(tf.reshape(weight, [2, -1]), axis=0), 1.0)
        test_loss = tf.reduce_sum(tf.reshape(pair_loss * weight, [2, -1]), axis=0) / per_example
        test_accuracy = tf.reduce_sum(tf.reshape(right_answer * weight, [2, -1]), axis=0) / per_example
    return loss, accuracy, {"pair_accuracy": test_accuracy, "test_loss": test_loss}


def tower_scopes(model: SiameseModel) -> tuple[str, str]:
    return ("tower", "tower") if model.sharing == "shared" else ("tower_left", "tower_right")


def build(config: SiameseConfig, mnist: Mnist) -> Experiment:
    model, train = config.model, config.train
    check_pixels(mnist.train, model.input_size)
    batches = Batches(mnist.train, train.batch_size, seed=train.seed)
    left_scope, right_scope = tower_scopes(model)
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(train.seed)
        images = tf1.placeholder(tf.float32, [None, model.input_size], name="images")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        anchors, others, same, weight = make_pairs(images, labels)
        left = tower(anchors, "left", left_scope, False, model)
        right = tower(others, "right", right_scope, left_scope == right_scope, model)
        with tf1.variable_scope("head"):
            threshold = tf1.get_variable("threshold", [], initializer=tf1.constant_initializer(1.0))
            logits = head_logits(left, right, threshold)
        loss, accuracy, test = pair_outputs(logits, same, weight)
        train_op = make_optimizer(train.optimizer, train.learning_rate).minimize(loss)
    phase = Phase(network="siamese", title=None, steps=train.steps, batches=batches, train_op=train_op, loss=loss,
                  accuracy=accuracy, test=test)
    return Experiment(graph, images, labels, [phase], mnist.test)
