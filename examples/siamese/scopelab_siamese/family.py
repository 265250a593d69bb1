"""The `siamese` family as scopelab loads it: its config schema, its test metrics, its checks, its configs
and its builder. Only scopelab.api is imported here, and TensorFlow only when the graph is built, so that
`scopelab list` and `show` read these declarations without it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scopelab.api import Api, DataConfig, Metric, TrainConfig

SCOPELAB_API = 1
CONFIGS = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class SiameseModel:
    input_size: int = 784
    hidden_size: int = 128
    embedding_size: int = 32
    init_std: float = 0.05
    # shared: both towers are one set of weights (variable_scope reuse); independent: one set per tower.
    sharing: Literal["shared", "independent"] = "shared"
    api: Api = "tf1"  # tf2: the towers are tf.Module objects (graph_tf2.py); the same numbers


@dataclass(frozen=True)
class SiameseConfig:
    name: str = ""
    description: str = ""
    experiment: Literal["siamese"] = "siamese"
    model: SiameseModel = SiameseModel()
    train: TrainConfig = TrainConfig(steps=2000, batch_size=64, optimizer="adam", learning_rate=0.001,
                                     log_every=200, checkpoint_every=500)
    data: DataConfig = DataConfig()


SCHEMA = SiameseConfig
METRICS = (
    Metric("pair_accuracy", higher_is_better=True, decimals=4, label="pairs", short="pair acc",
           phrase="test pair accuracy", log="pair accuracy (test)", section="test pair accuracy"),
    Metric("test_loss", higher_is_better=False, decimals=4, label="loss", short="test loss",
           phrase="test pair loss", log="pair loss (test)"),
)
HEADLINE = ("pair_accuracy",)


def validate(config: SiameseConfig, require: Any) -> None:
    model, train = config.model, config.train
    for key in ("input_size", "hidden_size", "embedding_size"):
        require(getattr(model, key) >= 1, f"model.{key}", "an integer >= 1")
    require(model.init_std > 0, "model.init_std", "a number > 0")
    require(train.steps >= 1, "train.steps", "an integer >= 1")
    require(train.batch_size >= 2, "train.batch_size", "an integer >= 2 (pairs are made within a batch)")
    require(train.learning_rate > 0, "train.learning_rate", "a number > 0")


def build(config: SiameseConfig, mnist: Any) -> Any:
    from scopelab_siamese import graph

    return graph.build(config, mnist)


def build_tf2(config: SiameseConfig, mnist: Any) -> Any:
    from scopelab_siamese import graph_tf2

    return graph_tf2.build(config, mnist)
