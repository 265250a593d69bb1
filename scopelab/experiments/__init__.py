"""The experiment registry: config `experiment` name -> its family: the module whose `build(config, mnist)`
makes the graph (`<module>_tf2`: the modules of `model.api: tf2`), and the test metrics it records.

The metrics are declared here, not in the experiment modules, because those import TensorFlow at module
level and `list`, `show` and `compare` read the declarations without it. Modules are imported on demand,
so nothing here pulls in TensorFlow.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scopelab.metrics import Ensemble, Metric, undeclared

if TYPE_CHECKING:
    from scopelab.config import Config
    from scopelab.data import Mnist
    from scopelab.experiments.common import Experiment
    from scopelab.experiments.eager import EagerExperiment


@dataclass(frozen=True)
class Family:
    module: str
    metrics: tuple[Metric, ...]
    headline: tuple[str, ...]  # the one metric `list` shows: the first of these a run has
    ensemble: Ensemble | None = None


def _accuracy(name: str, label: str, phrase: str) -> Metric:
    return Metric(name, higher_is_better=True, decimals=4, label=label, short=f"acc {label}", phrase=phrase,
                  log=f"accuracy (test) {label}", section="test accuracy")


FAMILIES = {
    "autoencoder": Family(
        module="scopelab.experiments.autoencoder",
        # The article prints the test loss to 6 places.
        metrics=(Metric("test_loss", higher_is_better=False, decimals=6, label="test", short="test loss",
                        phrase="test loss", log="loss (test)"),),
        headline=("test_loss",),
    ),
    "mlp_pair": Family(
        module="scopelab.experiments.mlp_pair",
        metrics=(
            _accuracy("acc_net1", "net 1", "test accuracy of net 1"),
            _accuracy("acc_net2", "net 2", "test accuracy of net 2"),
            _accuracy("acc_averaged", "averaged", "averaged test accuracy"),
        ),
        # The averaged prediction when there is one (independent networks); else network 2, trained last.
        headline=("acc_averaged", "acc_net2", "acc_net1"),
        ensemble=Ensemble("acc_averaged", ("acc_net1", "acc_net2")),
    ),
}


def build(config: Config, mnist: Mnist) -> Experiment | EagerExperiment:
    """Build the experiment: with `model.api: tf1` its graph (in its own tf.Graph), with `tf2` its
    modules (eager variables, the `_tf2` module of the family); no training, no printing."""
    suffix = "_tf2" if config.model.api == "tf2" else ""
    return importlib.import_module(FAMILIES[config.experiment].module + suffix).build(config, mnist)


def metric_of(experiment: str, name: str) -> Metric:
    """The metric `name` as `experiment` declares it; scopelab.metrics.undeclared when it does not."""
    family = FAMILIES.get(experiment)
    declared = {metric.name: metric for metric in family.metrics} if family else {}
    return declared.get(name) or undeclared(name)


def headline_of(experiment: str, names: Iterable[str]) -> str | None:
    """Of the metrics a run has, the one its experiment puts first (None for an experiment not declared)."""
    family = FAMILIES.get(experiment)
    present = set(names)
    return next((name for name in family.headline if name in present), None) if family else None


def ensemble_of(experiment: str) -> Ensemble | None:
    family = FAMILIES.get(experiment)
    return family.ensemble if family else None


def declared_names() -> set[str]:
    """Every metric name any family declares."""
    return {metric.name for family in FAMILIES.values() for metric in family.metrics}
