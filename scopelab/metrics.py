"""What a test metric means: the type an experiment family declares its metrics with (its family module's
METRICS, docs/PLUGINS.md), and the fallback for a metric nobody declared.

Reporting reads these declarations and never a metric's name: which way is better, how many places to
print, and the words each table uses for it all come from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DECIMALS = 4  # the article prints accuracies and logged values to 3 or 4 places


@dataclass(frozen=True)
class Metric:
    """One test metric (a value of summary.json's `metrics`). The labels differ because each place that
    prints a metric words it its own way, as the article's tables do."""

    name: str
    higher_is_better: bool
    decimals: int
    label: str  # its row in compare's (and the article's) test tables: "net 2"
    short: str  # list's metric column, and show after "test ": "acc net 2"
    phrase: str  # in a compare verdict: "... beats ... on test accuracy of net 2"
    log: str  # the trainer's line, before " = value": "accuracy (test) net 2"
    section: str = "test"  # compare's title for a block of test rows that all share it: "test accuracy"


def undeclared(name: str) -> Metric:
    """The one fallback for a metric its experiment does not declare (or of an experiment the registry does
    not know: a future family, a broken record): lower is better, every label its name, the default places.
    Nothing is guessed from the name."""
    return Metric(name, higher_is_better=False, decimals=DEFAULT_DECIMALS, label=name, short=name, phrase=name,
                  log=name)


@dataclass(frozen=True)
class Ensemble:
    """A combined prediction and the members it combines (mlp_pair's averaged networks): the article claims
    the combination beats the best of its members."""

    combined: str
    members: tuple[str, ...]

    def gain(self, metrics: Mapping[str, float], higher_is_better: bool) -> float | None:
        """How far the combination is ahead of its best member in one run (None unless it has them all);
        positive is better either way."""
        if not {self.combined, *self.members} <= metrics.keys():
            return None
        values = [metrics[member] for member in self.members]
        if higher_is_better:
            return metrics[self.combined] - max(values)
        return min(values) - metrics[self.combined]
