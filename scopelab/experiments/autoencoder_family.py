"""The autoencoder family, as its entry point declares it (scopelab's pyproject.toml): schema, test metric,
checks, and the builders, which import TensorFlow only when called."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scopelab.metrics import Metric

if TYPE_CHECKING:
    from scopelab.config import AutoencoderConfig
    from scopelab.data import Mnist
    from scopelab.experiments.common import Experiment
    from scopelab.experiments.eager import EagerExperiment

SCOPELAB_API = 1
# The article prints the test loss to 6 places.
METRICS = (Metric("test_loss", higher_is_better=False, decimals=6, label="test", short="test loss",
                  phrase="test loss", log="loss (test)"),)


def __getattr__(name: str) -> Any:
    """SCHEMA when first read (by a config): scopelab.config brings YAML, which reading METRICS needs not."""
    if name == "SCHEMA":
        from scopelab.config import AutoencoderConfig

        return AutoencoderConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def validate(config: AutoencoderConfig, require: Any) -> None:
    from scopelab.config import check_sizes, check_slice

    train = config.train
    check_sizes(config, require)
    require(train.steps >= 1, "train.steps", "an integer >= 1")
    require(train.learning_rate > 0, "train.learning_rate", "a number > 0")
    check_slice(require, "data", config.data.train_start, config.data.train_stop, train.batch_size)


def build(config: AutoencoderConfig, mnist: Mnist) -> Experiment:
    from scopelab.experiments import autoencoder

    return autoencoder.build(config, mnist)


def build_tf2(config: AutoencoderConfig, mnist: Mnist) -> EagerExperiment:
    from scopelab.experiments import autoencoder_tf2

    return autoencoder_tf2.build(config, mnist)
