"""The article's pair of MLP classifiers (784-625-625-10): one set of weights shared by both
networks, or two independent networks whose softmax outputs are averaged."""

from __future__ import annotations

import tensorflow as tf

from scopelab.config import MlpModel, MlpPairConfig
from scopelab.data import Batches, Mnist, train_slice
from scopelab.experiments.common import Experiment, Phase, check_pixels, make_optimizer
from scopelab.layers import dense

tf1 = tf.compat.v1


def mk_nn_model(images: tf.Tensor, scope: str, reuse: bool, model: MlpModel) -> tuple[tf.Tensor, list[tf.Variable]]:
    """The article's `mk_NN_model`: logits, and the hidden weights that take weight decay."""
    with tf1.variable_scope(scope, reuse=reuse):
        hidden_1, w_hid_1 = dense(images, model.hidden_size, model.init_std, "hid_1", tf.nn.relu)
        hidden_2, w_hid_2 = dense(hidden_1, model.hidden_size, model.init_std, "hid_2", tf.nn.relu)
        logits, _ = dense(hidden_2, model.num_classes, model.init_std, "RO", truncated=False)
    return logits, [w_hid_1, w_hid_2]


def correct(probabilities: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """1.0 where the most probable class is the label, else 0.0 (its mean is the accuracy)."""
    return tf.cast(tf.equal(tf.argmax(probabilities, axis=1, output_type=tf.int32), labels), tf.float32)


def averaged(logits: list[tf.Tensor]) -> tf.Tensor:
    """The ensemble's prediction: the mean of the networks' softmax outputs."""
    return tf.add_n([tf.nn.softmax(each) for each in logits]) / len(logits)


def classifier_loss(
    name: str, logits: tf.Tensor, labels: tf.Tensor, decayed: list[tf.Variable], weight_decay: float
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """A network's loss, per-example correctness and accuracy, in name scope `name` (the tf2
    modules use it too)."""
    with tf.name_scope(name):
        # Summed softmax cross-entropy from the logits: equal to the article's
        # -sum(y * log(softmax)) where that is finite, but it never takes log(0).
        cross_entropy = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        loss = cross_entropy + weight_decay * tf.add_n([tf.nn.l2_loss(w) for w in decayed])
        right = correct(logits, labels)
        return loss, right, tf.reduce_mean(right)


def build(config: MlpPairConfig, mnist: Mnist) -> Experiment:
    model, train = config.model, config.train
    check_pixels(mnist.train, model.input_size)
    graph = tf.Graph()
    phases, all_logits = [], []
    with graph.as_default():
        tf1.set_random_seed(train.seed)
        images = tf1.placeholder(tf.float32, [None, model.input_size], name="images")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        for index, network in enumerate(config.networks):
            key = f"networks.{index}"
            split = train_slice(mnist.train, network.train_start, network.train_stop, f"{key}.train_start/train_stop")
            batches = Batches(split, train.batch_size, seed=train.seed, stream=index, key="train.batch_size")
            reuse = config.sharing == "shared" and index > 0
            logits, decayed = mk_nn_model(images, network.scope, reuse, model)
            all_logits.append(logits)
            loss, right, accuracy = classifier_loss(f"net{index + 1}", logits, labels, decayed, model.weight_decay)
            variables = tf1.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES, scope=f"{network.scope}/")
            with tf1.name_scope(f"train_net{index + 1}"):
                train_op = make_optimizer(network.optimizer, network.learning_rate).minimize(loss, var_list=variables)
            test = {f"acc_net{index + 1}": right}
            if config.sharing == "independent" and index == len(config.networks) - 1:
                test["acc_averaged"] = correct(averaged(all_logits), labels)
            note = None
            if config.sharing == "shared" and index == 0:
                note = "(measured right after network 1's training: network 2 goes on to train these same weights)"
            phases.append(
                Phase(
                    f"net{index + 1}",
                    f"Network No.{index + 1}",
                    network.steps,
                    batches,
                    train_op,
                    loss,
                    accuracy,
                    test,
                    note,
                )
            )
    return Experiment(graph, images, labels, phases, mnist.test)
