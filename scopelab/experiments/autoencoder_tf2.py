"""The article's autoencoder with `model.api: tf2`: an Encoder and a Decoder module; tied, the
decoder is handed the encoder and computes with the encoder's own `W` object."""

from __future__ import annotations

import tensorflow as tf

from scopelab.config import AutoencoderConfig
from scopelab.data import Mnist
from scopelab.experiments import autoencoder
from scopelab.experiments.common import make_optimizer
from scopelab.experiments.eager import EagerExperiment, EagerPhase, Forward, tf1_initial_values, unique
from scopelab.modules import Decoder, Encoder, values_init


def build(config: AutoencoderConfig, mnist: Mnist) -> EagerExperiment:
    model, train = config.model, config.train
    # The tf1 graph checks the config against the data, slices and batches it, and draws the
    # first values; the modules start from those values and train on those batches.
    graph_experiment = autoencoder.build(config, mnist)
    (graph_phase,) = graph_experiment.phases
    init = values_init(tf1_initial_values(graph_experiment))
    encoder = Encoder(model.input_size, model.hidden_size, init)
    decoder = Decoder(model.hidden_size, model.input_size, init, tied_to=encoder if model.tied else None)

    def forward(images: tf.Tensor) -> Forward:
        logits = decoder(encoder(images))
        loss, per_image = autoencoder.reconstruction_loss(images, logits)
        return Forward(loss, None, {"test_loss": per_image}, logits)

    phase = EagerPhase(
        network=graph_phase.network,
        title=graph_phase.title,
        steps=graph_phase.steps,
        batches=graph_phase.batches,
        modules=[encoder, decoder],
        variables=unique(encoder.trainable_variables + decoder.trainable_variables),
        optimizer=make_optimizer(train.optimizer, train.learning_rate),
        forward=forward,
    )
    return EagerExperiment([phase], mnist.test, model.input_size, labels=False)
