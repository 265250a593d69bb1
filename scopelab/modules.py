"""The article's building blocks the TensorFlow 2 way (`model.api: tf2`).

Each block is a `tf.Module` that makes its variables inside its own name scope, so they are named
as `layers.py` names them (`encoder/W`, `mlp1/W_hid_1`). Nothing is looked up by name: a block
that shares a variable is handed the object that holds it. The name scope only names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import tensorflow as tf

# Where a variable's first value comes from: (full name, shape, kind) -> value; kind is
# "truncated" (truncated normal), "normal" or "zeros", the initializers `layers.py` uses.
Init = Callable[[str, list[int], str], object]


def values_init(values: Mapping[str, np.ndarray]) -> Init:
    """Take each variable's first value from `values`, keyed by full name (e.g. "encoder/W")."""

    def init(name: str, shape: list[int], kind: str) -> np.ndarray:
        value = values[name]
        if list(value.shape) != shape:
            raise ValueError(f"the starting value of {name} has shape {list(value.shape)}, the variable {shape}")
        return value

    return init


class Block(tf.Module):
    """A module whose variables are made in its own name scope from `init`."""

    def __init__(self, name: str, init: Init):
        super().__init__(name=name)
        self._init = init

    def _variable(self, name: str, shape: list[int], kind: str) -> tf.Variable:
        with self.name_scope:
            return tf.Variable(self._init(f"{self.name}/{name}", shape, kind), name=name, dtype=tf.float32)


class Encoder(Block):
    """y = sigmoid(x W + b): the autoencoder's encoder, `encoder/W` and `encoder/b`."""

    def __init__(self, input_size: int, hidden_size: int, init: Init, name: str = "encoder"):
        super().__init__(name, init)
        self.W = self._variable("W", [input_size, hidden_size], "truncated")
        self.b = self._variable("b", [hidden_size], "zeros")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        with self.name_scope:
            return tf.sigmoid(tf.matmul(x, self.W) + self.b)


class Decoder(Block):
    """The logits of x^ = sigmoid(y W~ + b~).

    Given an encoder (tied), W~ is that encoder's own `W` object, read transposed: this module
    holds the very variable the encoder holds, which is all that sharing is in TensorFlow 2.
    Untied, it makes its own `decoder/W`. The bias is always its own.
    """

    def __init__(self, hidden_size: int, output_size: int, init: Init, tied_to: Encoder | None = None,
                 name: str = "decoder"):
        super().__init__(name, init)
        self.tied = tied_to is not None
        self.W = tied_to.W if tied_to is not None else self._variable("W", [hidden_size, output_size], "truncated")
        self.b = self._variable("b", [output_size], "zeros")

    def __call__(self, y: tf.Tensor) -> tf.Tensor:
        with self.name_scope:
            # transpose_b reads W transposed in place, as layers.decoder_logits does.
            return tf.matmul(y, self.W, transpose_b=self.tied) + self.b


class Mlp(Block):
    """The article's `mk_NN_model` as an object: 784-625-625-10, relu, variables W_<layer>, b_<layer>."""

    def __init__(self, sizes: list[int], init: Init, name: str):
        super().__init__(name, init)
        suffixes = [f"hid_{index + 1}" for index in range(len(sizes) - 2)] + ["RO"]
        self.layers = []
        for suffix, fan_in, fan_out in zip(suffixes, sizes, sizes[1:]):
            kind = "normal" if suffix == "RO" else "truncated"
            self.layers.append((self._variable(f"W_{suffix}", [fan_in, fan_out], kind),
                                self._variable(f"b_{suffix}", [fan_out], "zeros")))

    @property
    def decayed(self) -> list[tf.Variable]:
        """The hidden layers' weights, which take weight decay."""
        return [w for w, _ in self.layers[:-1]]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        with self.name_scope:
            for w, b in self.layers[:-1]:
                x = tf.nn.relu(tf.matmul(x, w) + b)
            w, b = self.layers[-1]
            return tf.matmul(x, w) + b
