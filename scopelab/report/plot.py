"""`compare --plot`: the loss curves of a comparison drawn with matplotlib, an optional dependency imported
only when a plot is asked for (pip install 'scopelab[plot]')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scopelab.errors import InputError
from scopelab.report.comparison import Comparison, Group, network_title


def plot_losses(comparisons: list[Comparison], path: Path) -> None:
    """The loss curves, one panel per network of each comparison; a pooled group is its mean with a ±1 std band."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("--plot needs matplotlib, which is not installed: pip install 'scopelab[plot]'.") from None
    panels = [(comparison, network) for comparison in comparisons for network in comparison.networks]
    if not panels:
        raise InputError(f"--plot {path}: the compared runs logged no losses to draw.")
    figure = Figure(figsize=(5 * len(panels), 4), layout="constrained")
    for axes, (comparison, network) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        means = [mean for group in comparison.groups for mean in _plot_group(axes, comparison, network, group)]
        low, high = min(means), max(means)
        # A loss that falls by orders of magnitude (the MLPs': 178 -> 4) reads better on a log axis.
        scale = "log" if low > 0 and high / low > 10 else "linear"
        title = comparison.experiment + (f": {network_title(network)}" if len(comparison.networks) > 1 else "")
        axes.set(title=title, xlabel="step", ylabel="loss (batch just trained on)", yscale=scale)
        axes.legend()
    try:
        figure.savefig(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot write the plot ({error}).") from None


def _plot_group(axes: Any, comparison: Comparison, network: str, group: Group) -> list[float]:
    """Draw one group's curve (and band); returns its means."""
    points = [
        (row.step, row.values[group.label])
        for row in comparison.rows
        if row.kind == "logged" and row.network == network and row.metric == "loss" and group.label in row.values
    ]
    steps = [step for step, _ in points]
    means = [stat.mean for _, stat in points]
    label = group.label + (f" (n={len(group.runs)})" if len(group.runs) > 1 else "")
    axes.plot(steps, means, marker="o", label=label)
    if len(group.runs) > 1:
        spread = [stat.std or 0.0 for _, stat in points]
        lower = [mean - std for mean, std in zip(means, spread)]
        upper = [mean + std for mean, std in zip(means, spread)]
        axes.fill_between(steps, lower, upper, alpha=0.2)
    return means
