"""The article's figures (scopelab/article_figures.yaml) beside the measured ones: the autoencoder loss table,
the MLP table and a verdict on each of the article's three claims, as text, markdown or json.

With several seeds a measured cell is mean ± std over the runs, and "in 95%" says whether the article's
figure lies in the 95% prediction interval of one more run, mean ± t(0.975, n-1)·std·sqrt(1 + 1/n): the
article's figure is a single run, so it is set against where a single run falls, not against the mean's
(much narrower) confidence interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from scopelab.experiments import ensemble_of, metric_of
from scopelab.report import MISSING, fixed
from scopelab.report.stats import Stat, describe, mean_interval, t_quantile, welch_difference
from scopelab.report.tables import Table, fit_text, strict_json, to_markdown, to_text

if TYPE_CHECKING:
    from scopelab.reproduce_request import ReproduceRequest, Target

FIGURES_FILE = Path(__file__).parent.parent / "article_figures.yaml"  # package data beside the configs


def load_figures() -> dict:
    return yaml.safe_load(FIGURES_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Cell:
    """One figure of the article against the measured values of the same thing (one per seed)."""

    label: str
    config: str
    article: float | None
    stat: Stat | None
    decimals: int

    def inside(self) -> bool | None:
        """Whether the article's figure is in the 95% prediction interval of one run (None: cannot tell)."""
        if self.article is None or self.stat is None or self.stat.std is None:
            return None
        half = t_quantile(0.975, self.stat.n - 1) * self.stat.std * math.sqrt(1 + 1 / self.stat.n)
        return self.stat.mean - half <= self.article <= self.stat.mean + half

    def measured(self) -> str:
        if self.stat is None:
            return MISSING
        mean = f"{self.stat.mean:.{self.decimals}f}"
        return mean if self.stat.std is None else f"{mean} ± {self.stat.std:.{self.decimals}f}"

    def as_json(self) -> dict:
        stat = self.stat
        return {"label": self.label, "config": self.config, "article": self.article,
                "mean": stat.mean if stat else None, "std": stat.std if stat else None, "n": stat.n if stat else 0,
                "inside_95": self.inside()}


@dataclass(frozen=True)
class Verdict:
    claim: str
    holds: bool | None  # None: not clear (the 95% interval of the difference takes in zero)
    detail: str

    def text(self, cut: str) -> str:
        """cut: why the verdict may not stand for the article's setting (empty when it does)."""
        word = {True: "reproduced", False: "NOT reproduced", None: "not clear"}[self.holds]
        return f"{self.claim}: {word}; {self.detail}" + (f" ({cut})" if cut else "")


class Results:
    """The measured values of every target, by config: test metrics and logged rows, one entry per seed."""

    def __init__(self, targets: list[Target], divisor: int):
        self.divisor = divisor  # the measured step that stands for the article's step s is s // divisor
        self.runs: dict[str, list[str]] = {}
        self.metrics: dict[str, list[dict]] = {}
        self.rows: dict[str, list[list[dict]]] = {}
        for target in targets:
            self.runs.setdefault(target.name, []).append(target.run.run_id)
            self.metrics.setdefault(target.name, []).append(target.run.read_record().test_metrics)
            self.rows.setdefault(target.name, []).append(target.run.read_metrics())

    def test(self, config: str, metric: str) -> Stat | None:
        return _stat([metrics.get(metric) for metrics in self.metrics[config]])

    def logged(self, config: str, network: str, article_step: int, key: str) -> Stat | None:
        """The value logged at the step that stands for the article's step."""
        step = article_step // self.divisor
        return _stat([_at(rows, network, step, key) for rows in self.rows[config]])

    def ran(self, article_step: int) -> str:
        """' (ran 50)' when the steps were cut, so that a row says which step it measured."""
        return f" (ran {article_step // self.divisor})" if self.divisor != 1 else ""

    def per_run(self, config: str, network: str, step: int | str, key: str) -> list[float]:
        """One value per run; step "last" is each network's final logged step."""
        values = []
        for rows in self.rows[config]:
            mine = [row for row in rows if row["network"] == network]
            row = mine[-1] if step == "last" and mine else next((r for r in mine if r["step"] == step), None)
            if row is not None and row[key] is not None:
                values.append(row[key])
        return values


def _stat(values: list[float | None]) -> Stat | None:
    present = [value for value in values if value is not None]
    return describe(present) if present else None


def _at(rows: list[dict], network: str, step: int, key: str) -> float | None:
    return next((row[key] for row in rows if row["network"] == network and row["step"] == step), None)


def autoencoder_cells(results: Results, figures: dict) -> list[list[Cell]]:
    """One row per logged step of the article, then the test loss; one cell per config (untied, tied)."""
    article = figures["autoencoder"]
    names = list(article)
    steps = sorted({int(step) for name in names for step in article[name]["loss"]})
    rows = []
    for step in steps:
        rows.append([Cell(f"{step}{results.ran(step)}", name, article[name]["loss"].get(step),
                          results.logged(name, "autoencoder", step, "loss"), 4) for name in names])
    test = metric_of("autoencoder", "test_loss")
    rows.append([Cell(test.label, name, article[name]["test_loss"], results.test(name, test.name), test.decimals)
                 for name in names])
    return rows


def mlp_cells(results: Results, figures: dict) -> list[list[Cell]]:
    """Each network's first and last logged loss and accuracy, then the test accuracies; shared, independent."""
    article = figures["mlp_pair"]
    names = list(article)
    rows = []
    for network in ("net1", "net2"):
        for step in sorted({int(step) for name in names for step in article[name]["steps"][network]}):
            for key, decimals in (("loss", 3), ("accuracy", 3)):
                label = f"{_network(network)} step {step}{results.ran(step)} {key}"
                rows.append([Cell(label, name, article[name]["steps"][network][step][key],
                                  results.logged(name, network, step, key), decimals) for name in names])
    for metric in (metric_of("mlp_pair", name) for name in ("acc_net1", "acc_net2", "acc_averaged")):
        cells = [Cell(f"{metric.section} {metric.label}", name, article[name]["test"].get(metric.name),
                      results.test(name, metric.name), metric.decimals) for name in names]
        rows.append(cells)
    return rows


def _network(network: str) -> str:
    return network.replace("net", "net ")


def verdicts(results: Results, figures: dict) -> list[Verdict]:
    return [_tied_verdict(results, figures), _sharing_verdict(results, figures), _averaging_verdict(results, figures)]


def _tied_verdict(results: Results, figures: dict) -> Verdict:
    claim = "tied weights end below untied (test loss)"
    untied, tied = (results.test(name, "test_loss") for name in ("untied_ae", "tied_ae"))
    if untied is None or tied is None:
        return Verdict(claim, None, "cannot tell: a run of untied_ae or tied_ae recorded no test loss")
    article = figures["autoencoder"]
    detail = (f"tied {tied.mean:.6f}, untied {untied.mean:.6f} "
              f"(article: {article['tied_ae']['test_loss']:.6f}, {article['untied_ae']['test_loss']:.6f})")
    difference = welch_difference(untied, tied)  # tied - untied
    if difference.low is None:
        return Verdict(claim, tied.mean < untied.mean, f"{detail}; one run each, so no test of the difference")
    interval = f"95% CI of the difference {difference.low:+.6f} to {difference.high:+.6f}, n={tied.n} each"
    holds = True if difference.high < 0 else False if difference.low > 0 else None
    return Verdict(claim, holds, f"{detail}; {interval}")


def _sharing_verdict(results: Results, figures: dict) -> Verdict:
    """Shared network 2 inherits network 1's training: its first loss is nearer network 1's last loss (of the
    same run) than the first loss of a network 2 that starts fresh (the independent pair's, averaged over its
    runs). Decided in each run of mlp_shared; not clear when the runs disagree."""
    claim = "shared network 2 starts from network 1's low loss"
    runs = len(results.rows["mlp_shared"])
    starts = results.per_run("mlp_shared", "net2", 0, "loss")
    inherited = results.per_run("mlp_shared", "net1", "last", "loss")
    fresh = results.per_run("mlp_averaged", "net2", 0, "loss")
    if len(starts) != runs or len(inherited) != runs or not fresh:
        return Verdict(claim, None, "cannot tell: a run of mlp_shared or mlp_averaged logged no loss at network 2's "
                                    "first step or network 1's last")
    fresh_mean = describe(fresh).mean
    nearer = [abs(start - last) < abs(start - fresh_mean) for start, last in zip(starts, inherited)]
    shared, independent = figures["mlp_pair"]["mlp_shared"]["steps"], figures["mlp_pair"]["mlp_averaged"]["steps"]
    article = (shared["net2"][0]["loss"], shared["net1"][max(shared["net1"])]["loss"], independent["net2"][0]["loss"])
    detail = (f"its first loss {describe(starts).mean:.3f}, network 1's last {describe(inherited).mean:.3f}, an "
              f"independent network 2's first {fresh_mean:.3f} (article: {article[0]:.3f}, {article[1]:.3f}, "
              f"{article[2]:.3f})")
    if runs > 1:
        detail += f"; nearer network 1's last in {sum(nearer)} of {runs} runs"
    holds = True if all(nearer) else False if not any(nearer) else None
    return Verdict(claim, holds, detail)


def _averaging_verdict(results: Results, figures: dict) -> Verdict:
    """Paired within each run of mlp_averaged (the same two networks), so the spread between runs cancels."""
    claim = "averaging beats the better single network (test accuracy)"
    gains = [gain for metrics in results.metrics["mlp_averaged"] if (gain := _gain(metrics)) is not None]
    if not gains:
        return Verdict(claim, None, "cannot tell: no run of mlp_averaged recorded all three test accuracies")
    stat = describe(gains)
    detail = f"gain {stat.mean:+.4f} (article: {_gain(figures['mlp_pair']['mlp_averaged']['test']):+.4f})"
    interval = mean_interval(stat)
    if interval is None:
        return Verdict(claim, stat.mean > 0, f"{detail}; one run, so no test of the gain")
    low, high = interval
    holds = True if low > 0 else False if high < 0 else None
    return Verdict(claim, holds, f"{detail}; 95% CI {low:+.4f} to {high:+.4f}, paired over n={stat.n} runs")


def _gain(metrics: dict) -> float | None:
    """The averaged prediction's test accuracy over the better single network's (mlp_pair's ensemble)."""
    ensemble = ensemble_of("mlp_pair")
    return ensemble.gain(metrics, metric_of("mlp_pair", ensemble.combined).higher_is_better)


def render(targets: list[Target], figures: dict, request: ReproduceRequest, divisor: int) -> str:
    results = Results(targets, divisor)
    cut = ""
    if divisor > 1:
        cut = f"steps cut to 1/{divisor} by --quick: a check of the install, not the article's setting"
    tables = {"autoencoder": autoencoder_cells(results, figures), "mlp_pair": mlp_cells(results, figures)}
    found = verdicts(results, figures)
    if request.fmt == "json":
        return strict_json(
            {
                "source": figures["source"],
                "quick": request.quick,
                "seeds": list(range(request.seeds)),
                "runs": results.runs,
                "reused": [target.run.run_id for target in targets if target.reused],
                "tables": {kind: [[cell.as_json() for cell in row] for row in rows] for kind, rows in tables.items()},
                "verdicts": [{"claim": v.claim, "holds": v.holds, "text": v.text(cut)} for v in found],
            }
        )
    markdown = request.fmt == "markdown"
    many = request.seeds > 1
    blocks = [
        _block("Autoencoder: batch loss by step, then test loss", "step", tables["autoencoder"], many),
        _block("Two MLPs: shared (mlp_shared) and independent, averaged (mlp_averaged)", "", tables["mlp_pair"], many),
    ]
    lines = [_heading(request, cut) if markdown else fit_text(_heading(request, cut))]
    for block in blocks:
        lines += ["", to_markdown(block) if markdown else to_text(block)]
    lines += ["", "**Verdicts**", ""] if markdown else ["", "verdicts"]
    bullet = "- " if markdown else "  "
    lines += [bullet + verdict.text(cut) if markdown else fit_text(bullet + verdict.text(cut), "    ")
              for verdict in found]
    return "\n".join(lines)


def _heading(request: ReproduceRequest, cut: str) -> str:
    seeds = "seed 0" if request.seeds == 1 else f"seeds 0-{request.seeds - 1}, mean ± std"
    return f"The article's figures beside scopelab's ({seeds}{'; ' + cut if cut else ''})."


def _block(title: str, first: str, rows: list[list[Cell]], many: bool) -> Table:
    header = [first]
    for cell in rows[0]:
        header += [f"{cell.config} article", f"{cell.config} measured"] + (["in 95%"] if many else [])
    body = []
    for row in rows:
        line = [row[0].label]
        for cell in row:
            article = fixed(cell.article, cell.decimals)
            line += [article, cell.measured()] + ([_yes_no(cell.inside())] if many else [])
        body.append(line)
    numbers = set(range(1, len(header)))
    return Table(title, header, body, right=numbers, fold={0})  # a row's label wraps, never cut


def _yes_no(value: Any) -> str:
    return MISSING if value is None else "yes" if value else "no"
