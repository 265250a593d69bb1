"""TensorBoard events for a run's tb/: the graph once, then scalars on logged rows only.

Scalars are written as Summary protos built in Python, so the graph gains no summary ops and a
training step that is not logged costs nothing here.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

tf1 = tf.compat.v1


class Board:
    """One event file writer; `close` it in every outcome so the last events reach the disk."""

    def __init__(self, tb_dir: Path, graph: tf.Graph):
        # FileWriter refuses to start in eager mode; inside the graph's context it is in graph mode.
        with graph.as_default():
            self._writer = tf1.summary.FileWriter(str(tb_dir), graph=graph)

    def add_row(self, row: dict) -> None:
        """A metrics row: `<network>/loss` (and `<network>/accuracy`) at the row's step."""
        values = [tf1.Summary.Value(tag=f"{row['network']}/loss", simple_value=row["loss"])]
        if row["accuracy"] is not None:
            values.append(tf1.Summary.Value(tag=f"{row['network']}/accuracy", simple_value=row["accuracy"]))
        self._writer.add_summary(tf1.Summary(value=values), row["step"])
        self._writer.flush()  # rows are rare (every log_every steps): let TensorBoard show them at once

    def add_test(self, metrics: dict[str, float], step: int) -> None:
        """The final test metrics, as `test/<name>`."""
        values = [tf1.Summary.Value(tag=f"test/{name}", simple_value=value) for name, value in metrics.items()]
        self._writer.add_summary(tf1.Summary(value=values), step)

    def close(self) -> None:
        self._writer.close()
