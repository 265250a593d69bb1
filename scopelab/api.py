"""The stable API of experiment-family plugins (docs/PLUGINS.md), API version 1: the only scopelab module a
family module imports. What it names keeps its meaning within an API version; scopelab checks a family's
SCOPELAB_API against the versions it supports when it loads the family.

The declarations (metrics, config parts) import nothing heavy; the names that need TensorFlow or NumPy are
imported on first use, so a family module that imports this at its top stays cheap for `list` and `show`.
"""

from __future__ import annotations

import importlib
from typing import Any

from scopelab.config import Api, DataConfig, Optimizer, TrainConfig, check_slice
from scopelab.metrics import Ensemble, Metric
from scopelab.plugins import API_VERSION

# name -> the module that holds it, imported when the name is first read (PEP 562).
_LAZY = {
    "Experiment": "scopelab.experiments.common",  # what a tf1 build returns: the graph and its phases
    "Phase": "scopelab.experiments.common",  # one network trained for steps 0..steps
    "make_optimizer": "scopelab.experiments.common",  # train.optimizer's name -> a tf1 optimizer
    "check_pixels": "scopelab.experiments.common",  # model.input_size against the data
    "EagerExperiment": "scopelab.experiments.eager",  # what a tf2 build returns
    "EagerPhase": "scopelab.experiments.eager",
    "Forward": "scopelab.experiments.eager",
    "tf1_initial_values": "scopelab.experiments.eager",  # a tf1 build's first values: tf2 modules start there
    "unique": "scopelab.experiments.eager",  # each variable object once (what a phase's optimizer trains)
    "Mnist": "scopelab.data",  # the splits handed to build: train and test
    "Split": "scopelab.data",  # images (float32, [0, 1]) and labels (int32)
    "Batches": "scopelab.data",  # batches a pure function of seed and step (exact resume)
    "train_slice": "scopelab.data",  # a train range of a split, checked
    "weight": "scopelab.layers",  # get_variable with a (truncated) normal initializer
    "bias": "scopelab.layers",  # get_variable with zeros
    "dense": "scopelab.layers",  # x W + b, with W_<suffix> and b_<suffix> in the current variable scope
}

__all__ = ["API_VERSION", "Api", "DataConfig", "Ensemble", "Metric", "Optimizer", "TrainConfig", "check_slice",
           *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'scopelab.api' has no attribute '{name}'")
    return getattr(importlib.import_module(_LAZY[name]), name)
