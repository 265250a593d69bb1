"""`scopelab compare`: runs chosen by id, prefix or config name (or the latest of each config), repeats
pooled into groups, a row of statistics per logged step and test metric, a verdict on each test metric,
and the article's tables of it all (text, markdown, csv, json)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scopelab.report.compare_render import render
from scopelab.report.listing import short_ids
from scopelab.report.rows import build_comparison
from scopelab.report.select import choose_runs, pool
from scopelab.runs import read_runs


@dataclass(frozen=True)
class CompareRequest:
    references: tuple[str, ...] = ()  # run ids, unique prefixes or config names; none: the latest of each config
    runs_dir: Path = Path("runs")
    fmt: str = "table"
    plot: Path | None = None
    each: bool = False  # one column per run, never pooled


def compare_report(request: CompareRequest, warn: Callable[[str], None] = lambda line: None) -> str:
    """The runs side by side (one comparison per experiment kind), in the requested format; with a plot
    file, draws the loss curves too. `warn` hears of runs left out and re-runs of a seed counted once
    (see select.choose_runs)."""
    records = read_runs(request.runs_dir)
    selections = choose_runs(records, request.references, request.runs_dir, warn, request.each)
    short = short_ids([record.run_id for record in records])
    comparisons = [build_comparison(pool(runs, request.each, short)) for runs in selections]
    if request.plot:
        from scopelab.report.plot import plot_losses  # only when drawing: it is the one reader of matplotlib

        plot_losses(comparisons, request.plot)
    return render(comparisons, request.fmt)
