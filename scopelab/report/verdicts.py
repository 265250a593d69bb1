"""`compare`'s verdicts, one line each: which of two groups is better on a test metric and how sure (Welch's
95% interval), and whether a group's ensemble beats its best member (paired within each run). Which way is
better and how many places to print come from the experiment's declared metrics."""

from __future__ import annotations

import math

from scopelab.experiments import ensemble_of, metric_of
from scopelab.metrics import Ensemble, Metric
from scopelab.report.comparison import Group, Row
from scopelab.report.stats import describe, mean_interval


def comparison_verdicts(experiment: str, groups: list[Group], rows: list[Row]) -> list[str]:
    """Between the two groups on each test metric, then within each group on its ensemble (if declared)."""
    between = [
        verdict(groups, row, metric_of(experiment, row.metric)) for row in rows if row.kind == "test" and row.difference
    ]
    ensemble = ensemble_of(experiment)
    if ensemble is None:
        return between
    within = [ensemble_verdict(group, ensemble, metric_of(experiment, ensemble.combined)) for group in groups]
    return between + [line for line in within if line]


def verdict(groups: list[Group], row: Row, metric: Metric) -> str:
    """One line: which group is better on a final metric, by how much, and how sure (the 95% CI)."""
    first, second = (group.label for group in groups)
    difference = row.difference
    counts = [row.values[first].n, row.values[second].n]
    sizes = f"n={counts[0]} each" if counts[0] == counts[1] else f"n={counts[0]} and {counts[1]}"
    name = metric.phrase
    if difference.delta == 0:
        return f"{first} and {second} are equal on {name} ({sizes})"
    higher = metric.higher_is_better
    second_wins = (difference.delta > 0) == higher
    winner, loser = (second, first) if second_wins else (first, second)
    # The interval of the winner's lead: the difference (second - first), turned to point the winner's way.
    flip = second_wins != higher
    lead = -difference.delta if flip else difference.delta
    if difference.low is None:
        return (
            f"{second} - {first} on {name}: {difference.delta:+.{metric.decimals}f}; with {sizes} no test of "
            "the difference is possible (it needs two or more runs a side, e.g. --seeds 5)"
        )
    low, high = (-difference.high, -difference.low) if flip else (difference.low, difference.high)
    places = _ci_decimals(high - low, metric.decimals)
    interval = f"95% CI {low:.{places}f} to {high:.{places}f}, {sizes}"
    if low > 0:
        return f"{winner} beats {loser} on {name} by {lead:.{places}f} ({interval})"
    return (
        f"no clear difference between {first} and {second} on {name}: {winner} ahead by {lead:.{places}f} ({interval})"
    )


def ensemble_verdict(group: Group, ensemble: Ensemble, combined: Metric) -> str | None:
    """The article's claim for independent networks: the averaged prediction (`combined`) beats the better
    of its two networks. Paired within each run (the same two networks), so the spread between runs cancels."""
    gains = [gain for run in group.runs if (gain := ensemble.gain(run.metrics, combined.higher_is_better)) is not None]
    if not gains:
        return None
    stat = describe(gains)
    subject = f"{group.label}: the averaged prediction"
    interval = mean_interval(stat)
    if interval is None:
        side = "ahead of" if stat.mean >= 0 else "behind"
        return (
            f"{subject} is {side} the better single network by {abs(stat.mean):.{combined.decimals}f} "
            "(n=1: no confidence interval)"
        )
    low, high = interval
    places = _ci_decimals(high - low, combined.decimals)
    detail = f"(95% CI {low:.{places}f} to {high:.{places}f}, paired over n={stat.n} runs)"
    if low > 0:
        return f"{subject} beats the better single network by {stat.mean:.{places}f} {detail}"
    if high < 0:
        return f"{subject} trails the better single network by {-stat.mean:.{places}f} {detail}"
    return f"{subject}: no clear gain over the better single network, {stat.mean:+.{places}f} {detail}"


def _ci_decimals(width: float, decimals: int) -> int:
    """Enough places to show the interval's half-width to two significant digits (else the metric's own)."""
    if width <= 0:
        return decimals
    return min(8, max(1, 1 - math.floor(math.log10(width / 2))))
