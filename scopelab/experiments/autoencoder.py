"""The article's autoencoder, tied or untied: 784 -> 625 (sigmoid) -> 784 (sigmoid)."""

from __future__ import annotations

import tensorflow as tf

from scopelab.config import AutoencoderConfig
from scopelab.data import Batches, Mnist, train_slice
from scopelab.experiments.common import Experiment, Phase, check_pixels, make_optimizer
from scopelab.layers import decoder_logits, encoder

tf1 = tf.compat.v1


def reconstruction_loss(images: tf.Tensor, logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The batch's mean loss and each image's, in name scope `loss` (the tf2 modules use it too)."""
    with tf.name_scope("loss"):
        # Cross-entropy from the logits: the same value as the article's mean BCE of the
        # sigmoid output, but it never takes log(0), so it cannot turn into NaN or inf.
        per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits)
        return tf.reduce_mean(per_pixel), tf.reduce_mean(per_pixel, axis=1)


def build(config: AutoencoderConfig, mnist: Mnist) -> Experiment:
    model, train = config.model, config.train
    check_pixels(mnist.train, model.input_size)
    split = train_slice(mnist.train, config.data.train_start, config.data.train_stop, "data.train_start/train_stop")
    batches = Batches(split, train.batch_size, seed=train.seed)
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(train.seed)
        images = tf1.placeholder(tf.float32, [None, model.input_size], name="images")
        hidden = encoder(images, model.hidden_size, model.init_std)
        logits = decoder_logits(hidden, model.input_size, model.init_std, tied_to="encoder" if model.tied else None)
        loss, per_image = reconstruction_loss(images, logits)
        train_op = make_optimizer(train.optimizer, train.learning_rate).minimize(loss)
    phase = Phase(
        network="autoencoder",
        title=None,
        steps=train.steps,
        batches=batches,
        train_op=train_op,
        loss=loss,
        accuracy=None,
        test={"test_loss": per_image},
    )
    return Experiment(graph, images, None, [phase], mnist.test)
