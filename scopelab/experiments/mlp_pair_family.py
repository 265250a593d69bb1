"""The mlp_pair family, as its entry point declares it (scopelab's pyproject.toml): schema, test metrics and
their ensemble, checks, and the builders, which import TensorFlow only when called."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scopelab.metrics import Ensemble, Metric

if TYPE_CHECKING:
    from scopelab.config import MlpPairConfig
    from scopelab.data import Mnist
    from scopelab.experiments.common import Experiment
    from scopelab.experiments.eager import EagerExperiment

SCOPELAB_API = 1


def _accuracy(name: str, label: str, phrase: str) -> Metric:
    return Metric(name, higher_is_better=True, decimals=4, label=label, short=f"acc {label}", phrase=phrase,
                  log=f"accuracy (test) {label}", section="test accuracy")


METRICS = (
    _accuracy("acc_net1", "net 1", "test accuracy of net 1"),
    _accuracy("acc_net2", "net 2", "test accuracy of net 2"),
    _accuracy("acc_averaged", "averaged", "averaged test accuracy"),
)
# The averaged prediction when there is one (independent networks); else network 2, trained last.
HEADLINE = ("acc_averaged", "acc_net2", "acc_net1")
ENSEMBLE = Ensemble("acc_averaged", ("acc_net1", "acc_net2"))


def __getattr__(name: str) -> Any:
    """SCHEMA when first read (by a config): scopelab.config brings YAML, which reading METRICS needs not."""
    if name == "SCHEMA":
        from scopelab.config import MlpPairConfig

        return MlpPairConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def validate(config: MlpPairConfig, require: Any) -> None:
    from scopelab.config import SCOPE_PATTERN, check_sizes, check_slice

    model, train = config.model, config.train
    check_sizes(config, require)
    require(model.num_classes >= 2, "model.num_classes", "an integer >= 2")
    require(model.weight_decay >= 0, "model.weight_decay", "a number >= 0")
    for index, network in enumerate(config.networks):
        prefix = f"networks.{index}"
        require(bool(SCOPE_PATTERN.match(network.scope)), f"{prefix}.scope",
                "a scope name: a letter, then letters, digits or '_'")
        require(network.steps >= 1, f"{prefix}.steps", "an integer >= 1")
        require(network.learning_rate > 0, f"{prefix}.learning_rate", "a number > 0")
        check_slice(require, prefix, network.train_start, network.train_stop, train.batch_size)
    first, second = (network.scope for network in config.networks)
    if config.sharing == "shared":
        require(second == first, "networks.1.scope", f"'{first}', network 1's scope (sharing: shared reuses it)")
    else:
        require(second != first, "networks.1.scope", f"a scope other than '{first}' (sharing: independent)")


def build(config: MlpPairConfig, mnist: Mnist) -> Experiment:
    from scopelab.experiments import mlp_pair

    return mlp_pair.build(config, mnist)


def build_tf2(config: MlpPairConfig, mnist: Mnist) -> EagerExperiment:
    from scopelab.experiments import mlp_pair_tf2

    return mlp_pair_tf2.build(config, mnist)
