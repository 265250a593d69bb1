"""The article's MLP pair with `model.api: tf2`: shared, network 2 is the very module object of
network 1 (trained on by a second optimizer); independent, each network is a module of its own."""

from __future__ import annotations

import tensorflow as tf

from scopelab.config import MlpPairConfig
from scopelab.data import Mnist
from scopelab.experiments import mlp_pair
from scopelab.experiments.common import make_optimizer
from scopelab.experiments.eager import EagerExperiment, EagerPhase, Forward, tf1_initial_values
from scopelab.modules import Mlp, values_init


def build(config: MlpPairConfig, mnist: Mnist) -> EagerExperiment:
    model = config.model
    # The tf1 graph checks the config against the data, slices and batches it, and draws the
    # first values; the modules start from those values and train on those batches.
    graph_experiment = mlp_pair.build(config, mnist)
    init = values_init(tf1_initial_values(graph_experiment))
    sizes = [model.input_size, model.hidden_size, model.hidden_size, model.num_classes]
    phases: list[EagerPhase] = []
    for index, (network, graph_phase) in enumerate(zip(config.networks, graph_experiment.phases)):
        shared = config.sharing == "shared" and index > 0
        net = phases[0].modules[0] if shared else Mlp(sizes, init, network.scope)
        last_independent = config.sharing == "independent" and index == len(config.networks) - 1
        phases.append(EagerPhase(
            network=graph_phase.network,
            title=graph_phase.title,
            steps=graph_phase.steps,
            batches=graph_phase.batches,
            modules=[net],
            variables=list(net.trainable_variables),
            optimizer=make_optimizer(network.optimizer, network.learning_rate),
            forward=_forward(net, f"net{index + 1}", model.weight_decay),
            test_note=graph_phase.test_note,
            combined_test=_averaged if last_independent else None,
        ))
    return EagerExperiment(phases, mnist.test, model.input_size, labels=True)


def _forward(net: Mlp, name: str, weight_decay: float):
    def forward(images: tf.Tensor, labels: tf.Tensor) -> Forward:
        logits = net(images)
        loss, right, accuracy = mlp_pair.classifier_loss(name, logits, labels, net.decayed, weight_decay)
        return Forward(loss, accuracy, {f"acc_{name}": right}, logits)

    return forward


def _averaged(outs: list[Forward], labels: tf.Tensor) -> dict[str, tf.Tensor]:
    """The ensemble's test accuracy: the mean of every network's softmax output."""
    return {"acc_averaged": mlp_pair.correct(mlp_pair.averaged([out.logits for out in outs]), labels)}
