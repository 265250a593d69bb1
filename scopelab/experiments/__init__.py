"""The experiment registry: config `experiment` name -> the module whose `build(config, mnist)`
makes the graph. Modules are imported on demand so nothing here pulls in TensorFlow."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scopelab.config import Config
    from scopelab.data import Mnist
    from scopelab.experiments.common import Experiment

REGISTRY = {
    "autoencoder": "scopelab.experiments.autoencoder",
    "mlp_pair": "scopelab.experiments.mlp_pair",
}


def build(config: Config, mnist: Mnist) -> Experiment:
    """Build the experiment's graph (in its own tf.Graph); no training, no printing."""
    return importlib.import_module(REGISTRY[config.experiment]).build(config, mnist)
