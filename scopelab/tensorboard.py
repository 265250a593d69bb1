"""TensorBoard events for a run's tb/: the graph once, the HParams session, then scalars on logged rows only.

Scalars are written as Summary protos built in Python, so the graph gains no summary ops and a
training step that is not logged costs nothing here. The HParams records come from the tensorboard
package's own hparams summary API; without that package (the `tensorboard` extra) a run writes
the graph and scalars alone and says so once per runs directory (a marker file there remembers it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import tensorflow as tf

from scopelab.config import Config, config_to_dict
from scopelab.hparams import FINAL_STATUSES, scalar_hparams, test_tag
from scopelab.runs.directory import MISSING_NOTED

tf1 = tf.compat.v1



class Board:
    """One event file writer; `close` it in every outcome so the last events reach the disk."""

    def __init__(self, tb_dir: Path, graph: tf.Graph, run_id: str, hparams: dict[str, Any]):
        # FileWriter refuses to start in eager mode; inside the graph's context it is in graph mode.
        with graph.as_default():
            self._writer = tf1.summary.FileWriter(str(tb_dir), graph=graph)
        self._plugin = _hparams_plugin(tb_dir.parent.parent)
        if self._plugin:
            summary_v2 = self._plugin[0]
            # trial_id: one HParams row per run, named by its run id (repeats of a setting differ in the seed).
            self._add(summary_v2.hparams_pb(hparams, trial_id=run_id))
            self._writer.flush()  # a run in progress shows in HParams from its first moment
        self._closed = False

    def add_row(self, row: dict) -> None:
        """A metrics row: `<network>/loss` (and `<network>/accuracy`) at the row's step."""
        values = [tf1.Summary.Value(tag=f"{row['network']}/loss", simple_value=row["loss"])]
        if row["accuracy"] is not None:
            values.append(tf1.Summary.Value(tag=f"{row['network']}/accuracy", simple_value=row["accuracy"]))
        self._writer.add_summary(tf1.Summary(value=values), row["step"])
        self._writer.flush()  # rows are rare (every log_every steps): let TensorBoard show them at once

    def add_test(self, metrics: dict[str, float], step: int) -> None:
        """The final test metrics, as `test/<name>`: the HParams table shows their last values as metrics (named
        by their declaration under `scopelab board`, see scopelab.hparams)."""
        values = [tf1.Summary.Value(tag=test_tag(name), simple_value=value) for name, value in metrics.items()]
        self._writer.add_summary(tf1.Summary(value=values), step)

    def close(self, status: str) -> None:
        """End the HParams session with the run's status (if final) and flush everything; once."""
        if self._closed:
            return
        self._closed = True
        if self._plugin and status in FINAL_STATUSES:
            summary_v1, api_pb2 = self._plugin[1:]
            self._add(summary_v1.session_end_pb(api_pb2.Status.Value(FINAL_STATUSES[status])))
        self._writer.close()

    def _add(self, summary) -> None:
        # The hparams API builds tensorboard's own Summary class; the writer takes it serialized.
        self._writer.add_summary(summary.SerializeToString())


def config_hparams(config: Config) -> dict[str, Any]:
    """The resolved config's scalar settings under dotted names (`model.tied`, `networks.1.optimizer`)."""
    return scalar_hparams(config_to_dict(config))


def _hparams_plugin(runs_dir: Path) -> tuple | None:
    """The hparams summary modules (v2 for the session start, v1 for its end), or None without tensorboard:
    then a note, the first time in this runs directory (every run would repeat it otherwise)."""
    try:
        from tensorboard.plugins.hparams import api_pb2, summary, summary_v2
    except ImportError:
        marker = runs_dir / MISSING_NOTED
        if not marker.exists():
            hint = "pip install 'scopelab[tensorboard]'"
            print(f"note: no HParams for TensorBoard without the tensorboard package: {hint} (said once for "
                  f"{runs_dir}/).", file=sys.stderr)
            try:
                marker.touch()
            except OSError:  # a runs directory we cannot write to holds no runs either; say it next time
                pass
        return None
    return summary_v2, summary, api_pb2
