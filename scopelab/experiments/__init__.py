"""The experiment registry: config `experiment` name -> the module whose `build(config, mnist)`
makes the graph (`<module>_tf2`: the modules of `model.api: tf2`). Modules are imported on demand so
nothing here pulls in TensorFlow."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scopelab.config import Config
    from scopelab.data import Mnist
    from scopelab.experiments.common import Experiment
    from scopelab.experiments.eager import EagerExperiment

REGISTRY = {
    "autoencoder": "scopelab.experiments.autoencoder",
    "mlp_pair": "scopelab.experiments.mlp_pair",
}


def build(config: Config, mnist: Mnist) -> Experiment | EagerExperiment:
    """Build the experiment: with `model.api: tf1` its graph (in its own tf.Graph), with `tf2` its
    modules (eager variables, the `_tf2` module of the family); no training, no printing."""
    suffix = "_tf2" if config.model.api == "tf2" else ""
    return importlib.import_module(REGISTRY[config.experiment] + suffix).build(config, mnist)
