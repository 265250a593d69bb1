"""What `compare` found, as plain data: the groups of runs, a row of statistics per logged step and test
metric, the settings that differ and the verdicts. Selecting runs makes the groups, statistics fill the rows,
and the renderers and the plot read them; nothing here computes or prints."""

from __future__ import annotations

from dataclasses import dataclass

from scopelab.experiments import metric_of
from scopelab.metrics import Metric
from scopelab.report.stats import Difference, Stat
from scopelab.runs import Run


@dataclass
class Group:
    """Runs of one config (and grid point), pooled: repeats that differ only in their seed."""

    label: str
    runs: list[Run]  # oldest first


@dataclass(frozen=True)
class Row:
    kind: str  # "logged" (a step of metrics.csv) or "test" (a final metric of summary.json)
    network: str  # "" for test rows
    step: int | None
    metric: str
    values: dict[str, Stat]  # by group label; a group without this value is absent
    difference: Difference | None  # with exactly two groups that both have the value


@dataclass
class Comparison:
    experiment: str
    groups: list[Group]
    settings: list[tuple[str, list[str]]]  # the config keys, versions and device that differ: key, value per group
    rows: list[Row]
    verdicts: list[str]  # one line each: between two groups per test metric, then within each group

    @property
    def labels(self) -> list[str]:
        return [group.label for group in self.groups]

    @property
    def networks(self) -> list[str]:
        return list(dict.fromkeys(row.network for row in self.rows if row.kind == "logged"))

    def metric(self, name: str) -> Metric:
        """A test metric as the experiment declares it (its family module's METRICS)."""
        return metric_of(self.experiment, name)


def network_title(network: str) -> str:
    """net1 -> Network 1, as the article heads its blocks."""
    return f"Network {network[3:]}" if network.startswith("net") and network[3:].isdigit() else network
