"""The article's building blocks. Each makes its variables with `get_variable` inside a
`variable_scope`, so the scope (not the Python object) decides what is shared."""

from __future__ import annotations

import tensorflow as tf

tf1 = tf.compat.v1


def weight(name: str, shape: list[int], std: float, truncated: bool = True) -> tf.Variable:
    initializer = (
        tf1.truncated_normal_initializer(stddev=std) if truncated else tf1.random_normal_initializer(stddev=std)
    )
    return tf1.get_variable(name, shape, initializer=initializer)


def bias(name: str, size: int) -> tf.Variable:
    return tf1.get_variable(name, [size], initializer=tf1.zeros_initializer())


def encoder(x: tf.Tensor, hidden_size: int, init_std: float, scope: str = "encoder") -> tf.Tensor:
    """y = sigmoid(x W + b), with W and b made in `scope`."""
    with tf1.variable_scope(scope):
        w = weight("W", [int(x.shape[1]), hidden_size], init_std)
        b = bias("b", hidden_size)
        return tf.sigmoid(tf.matmul(x, w) + b)


def decoder_logits(
    y: tf.Tensor, output_size: int, init_std: float, tied_to: str | None = None, scope: str = "decoder"
) -> tf.Tensor:
    """The logits of x^ = sigmoid(y W~ + b~).

    Untied, W~ is a new `decoder/W`. Tied, the scope `tied_to` is reopened with reuse=True and its
    `W` is fetched, exactly as the article does, and used transposed. The bias is always new.
    """
    if tied_to is not None:
        with tf1.variable_scope(tied_to, reuse=True):
            w_shared = tf1.get_variable("W")
    with tf1.variable_scope(scope):
        if tied_to is None:
            w = weight("W", [int(y.shape[1]), output_size], init_std)
            return tf.matmul(y, w) + bias("b", output_size)
        # transpose_b lets the matmul read W transposed in place; a separate transpose op would copy
        # 490,000 floats every step (measured: ~5% of the tied step).
        return tf.matmul(y, w_shared, transpose_b=True) + bias("b", output_size)


def dense(
    x: tf.Tensor, size: int, init_std: float, suffix: str, activation=None, truncated: bool = True
) -> tuple[tf.Tensor, tf.Variable]:
    """A fully connected layer with variables `W_<suffix>` and `b_<suffix>` in the current scope."""
    w = weight(f"W_{suffix}", [int(x.shape[1]), size], init_std, truncated)
    b = bias(f"b_{suffix}", size)
    out = tf.matmul(x, w) + b
    return (activation(out) if activation else out), w
