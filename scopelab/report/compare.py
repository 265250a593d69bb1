"""`scopelab compare`: runs chosen by id, prefix or config name (or the latest of each config), repeats
pooled into groups, a row of statistics per logged step and test metric, a verdict on each test metric,
and the article's tables of it all (text, markdown, csv, json)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scopelab.dotted import flatten
from scopelab.errors import InputError
from scopelab.experiments import ensemble_of, metric_of
from scopelab.metrics import DEFAULT_DECIMALS, Ensemble, Metric
from scopelab.report import MISSING, fixed
from scopelab.report.comparison import Comparison, Group, Row, network_title
from scopelab.report.listing import short_ids
from scopelab.report.stats import Difference, Stat, describe, mean_interval, welch_difference
from scopelab.report.tables import Table, to_csv, to_markdown, to_text
from scopelab.runs import SEED_KEY, Run, read_runs, resolve_runs

# Keys every run has its own value for: naming the runs, not what makes them differ.
UNCOMPARED_KEYS = ("name", "description")


# --- Choosing and grouping runs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareRequest:
    references: tuple[str, ...] = ()  # run ids, unique prefixes or config names; none: the latest of each config
    runs_dir: Path = Path("runs")
    fmt: str = "table"
    plot: Path | None = None
    each: bool = False  # one column per run, never pooled


def compare_report(request: CompareRequest, warn: Callable[[str], None] = lambda line: None) -> str:
    """The runs side by side (one comparison per experiment kind), in the requested format; with a plot
    file, draws the loss curves too. With no references, a completed run whose config.yaml is unusable is
    left out and `warn` hears of it, instead of failing the whole comparison."""
    records = read_runs(request.runs_dir)
    if not records:
        raise InputError(f"no runs in {request.runs_dir}/ yet; make some with: scopelab run tied_ae")
    if request.references:
        selections = [_referenced_runs(records, request.references, request.runs_dir)]
    else:
        selections = _latest_runs(_readable(records, warn), request.runs_dir)
    short = short_ids([record.run_id for record in records])
    comparisons = [build_comparison(_groups(runs, request.each, short)) for runs in selections]
    if request.plot:
        from scopelab.report.plot import plot_losses  # only when drawing: it is the one reader of matplotlib

        plot_losses(comparisons, request.plot)
    return RENDERERS[request.fmt](comparisons)


def _readable(records: list[Run], warn: Callable[[str], None]) -> list[Run]:
    usable = []
    for record in records:
        try:
            if record.status == "completed":
                record.config()
        except InputError as error:
            warn(f"skipped: {error}")
        else:
            usable.append(record)
    return usable


def _latest_runs(records: list[Run], runs_dir: Path) -> list[list[Run]]:
    """For each experiment kind, the latest completed run of every config and its repeats; configs in the
    order they were last run (so `run untied_ae; run tied_ae; compare` puts untied first, as the article)."""
    completed = [record for record in records if record.status == "completed"]
    if not completed:
        raise InputError(f"no completed runs in {runs_dir}/ to compare (see: scopelab list --runs-dir {runs_dir}).")
    selections = [_repeats_of_latest(completed, name) for name in dict.fromkeys(r.config_name for r in completed)]
    by_kind: dict[str, list[Run]] = {}
    for runs in sorted(selections, key=lambda runs: _finished(runs[-1])):
        by_kind.setdefault(runs[0].experiment, []).extend(runs)
    return [by_kind[kind] for kind in sorted(by_kind)]


def _finished(record: Run) -> int:
    return record.directory.record_mtime_ns


def _repeats_of_latest(completed: list[Run], config_name: str) -> list[Run]:
    """The latest completed run of a config with its repeats: the rest of its sweep, or else every completed
    run whose config differs only in the seed. One run per seed (the newest), so a re-run of the same seed
    cannot fake a tight confidence interval."""
    runs = [record for record in completed if record.config_name == config_name]
    latest = runs[0]
    if latest.sweep:
        runs = [record for record in runs if record.sweep == latest.sweep]
    else:
        runs = [record for record in runs if _fingerprint(record) == _fingerprint(latest)]
    newest_per_seed: dict[tuple, Run] = {}
    for record in runs:
        newest_per_seed.setdefault((_fingerprint(record), record.config().get(SEED_KEY)), record)
    return list(reversed(newest_per_seed.values()))  # oldest first: a sweep's members in their order


def _referenced_runs(records: list[Run], references: tuple[str, ...], runs_dir: Path) -> list[Run]:
    chosen: dict[str, Run] = {}
    kinds: dict[str, list[str]] = {}
    for reference in references:
        for record in _resolve(records, reference, runs_dir):
            chosen.setdefault(record.run_id, record)
            kinds.setdefault(record.experiment, [])
            if reference not in kinds[record.experiment]:
                kinds[record.experiment].append(reference)
    if len(kinds) > 1:
        listing = "; ".join(
            f"{', '.join(refs)} {'is' if len(refs) == 1 else 'are'} {kind}" for kind, refs in kinds.items()
        )
        raise InputError(f"runs of different experiments cannot share a table: {listing}.")
    return list(chosen.values())


def _resolve(records: list[Run], reference: str, runs_dir: Path) -> list[Run]:
    """A run id, else a config name (its latest completed run and repeats), else a unique run id prefix."""

    def latest_completed(named: list[Run]) -> list[Run]:
        completed = [record for record in named if record.status == "completed"]
        if not completed:
            raise InputError(
                f"config '{reference}' has no completed run in {runs_dir}/ (see: scopelab list --config {reference})."
            )
        return _repeats_of_latest(completed, reference)

    chosen = resolve_runs(runs_dir, reference, records, latest_completed)
    for record in chosen:
        if record.status == "broken":
            raise InputError(f"run {record.run_id} is broken ({record.reason}); it cannot be compared.")
    return chosen


def _groups(runs: list[Run], each: bool, short: dict[str, str]) -> list[Group]:
    """Pool completed repeats of one config into a group, groups in the order of their first run. When all
    runs fall into one group there is nothing to compare a pool with, so they stay apart (as with --each).
    A run named by id that did not complete stands alone: a sweep member that diverged and was re-run shares
    its sweep, grid point and seed with the re-run, and must not be averaged into it. With --each, and where
    two groups share a config name, a column is labelled by its (latest) run's short id."""
    pools: dict[tuple, list[Run]] = {}
    for record in runs:
        alone = each or record.status != "completed"
        key = (record.run_id,) if alone else (record.config_name, _fingerprint(record))
        pools.setdefault(key, []).append(record)
    if len(pools) == 1 and len(runs) > 1:
        pools = {(record.run_id,): [record] for record in runs}
    labels = [_group_label(pool) for pool in pools.values()]
    return [
        Group(label if labels.count(label) == 1 and not each else short[pool[-1].run_id], pool)
        for label, pool in zip(labels, pools.values())
    ]


def _group_label(runs: list[Run]) -> str:
    point = runs[0].grid_point
    if not point:
        return runs[0].config_name
    return f"{runs[0].config_name}[{','.join(f'{key}={_show(value)}' for key, value in point.items())}]"


def _fingerprint(record: Run) -> str:
    """The resolved config apart from its name and seed: runs with equal fingerprints are repeats."""
    config = {key: value for key, value in record.config().items() if key not in UNCOMPARED_KEYS + (SEED_KEY,)}
    return json.dumps(config, sort_keys=True, default=str)


# --- The comparison: rows of statistics per group -------------------------------------------------------------


def build_comparison(groups: list[Group]) -> Comparison:
    experiment = groups[0].runs[0].experiment
    rows = _rows(groups)
    return Comparison(experiment, groups, _settings_that_differ(groups), rows, _verdicts(experiment, groups, rows))


def _verdicts(experiment: str, groups: list[Group], rows: list[Row]) -> list[str]:
    """Between the two groups on each test metric, then within each group on its ensemble (if declared)."""
    between = [
        verdict(groups, row, metric_of(experiment, row.metric)) for row in rows if row.kind == "test" and row.difference
    ]
    ensemble = ensemble_of(experiment)
    if ensemble is None:
        return between
    within = [ensemble_verdict(group, ensemble, metric_of(experiment, ensemble.combined)) for group in groups]
    return between + [line for line in within if line]


def _rows(groups: list[Group]) -> list[Row]:
    logged: dict[tuple[str, int, str], dict[str, list[float]]] = {}
    final: dict[str, dict[str, list[float]]] = {}
    for group in groups:
        for record in group.runs:
            for entry in _read_metrics(record):
                for metric in ("loss", "accuracy"):
                    if entry[metric] is not None:
                        key = (entry["network"], entry["step"], metric)
                        logged.setdefault(key, {}).setdefault(group.label, []).append(entry[metric])
            for metric, value in record.metrics.items():
                final.setdefault(metric, {}).setdefault(group.label, []).append(value)
    networks = list(dict.fromkeys(network for network, _, _ in logged))
    order = sorted(logged, key=lambda key: (networks.index(key[0]), key[1], key[2] != "loss"))
    rows = [
        _row("logged", network, step, metric, logged[network, step, metric], groups) for network, step, metric in order
    ]
    return rows + [_row("test", "", None, metric, values, groups) for metric, values in final.items()]


def _row(
    kind: str, network: str, step: int | None, metric: str, values: dict[str, list[float]], groups: list[Group]
) -> Row:
    stats = {label: describe(numbers) for label, numbers in values.items()}
    difference = None
    if len(groups) == 2 and all(group.label in stats for group in groups):
        difference = welch_difference(stats[groups[0].label], stats[groups[1].label])
    return Row(kind, network, step, metric, stats, difference)


def _read_metrics(record: Run) -> list[dict]:
    try:
        return record.directory.read_metrics()
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        message = f"run {record.run_id}: its metrics.csv is unusable ({reason}), so it cannot be compared."
        raise InputError(message) from None


def _settings_that_differ(groups: list[Group]) -> list[tuple[str, list[str]]]:
    """Only what differs between the runs (config keys first, then versions and device): value per group."""
    settings = [[_settings(record) for record in group.runs] for group in groups]
    keys = list(dict.fromkeys(key for runs in settings for setting in runs for key in setting))
    differing = []
    for key in keys:
        values = [[_show(setting.get(key, MISSING)) for setting in runs] for runs in settings]
        # Differs between the groups: the seeds 0, 1, 2 on both sides are the same setting.
        if len({frozenset(column) for column in values}) > 1:
            differing.append((key, [", ".join(dict.fromkeys(column)) for column in values]))
    return differing


def _settings(record: Run) -> dict[str, Any]:
    config = {key: value for key, value in record.config().items() if key not in UNCOMPARED_KEYS}
    provenance = record.record.provenance
    versions = {"python": provenance.python, "scopelab": provenance.scopelab, **provenance.packages}
    environment = flatten({key: value for key, value in versions.items() if value}, "versions")
    return {**config, **environment, "device": record.record.device or MISSING}


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


# --- Rendering -----------------------------------------------------------------------------------------------


def _comparison_blocks(comparison: Comparison) -> list[Table]:
    """The article's layout: one block per network (a row per logged step), then the test metrics; a lone
    test row goes under the steps when the columns line up (one network, one metric)."""
    blocks = [_network_block(comparison, network) for network in comparison.networks]
    test_rows = [row for row in comparison.rows if row.kind == "test"]
    cells = [[comparison.metric(row.metric).label] + _stat_cells(comparison, row) for row in test_rows]
    logged_metrics = {row.metric for row in comparison.rows if row.kind == "logged"}
    if len(blocks) == 1 and len(logged_metrics) == 1:
        blocks[0].rows.extend(cells)
    elif test_rows:
        sections = {comparison.metric(row.metric).section for row in test_rows}
        title = sections.pop() if len(sections) == 1 else "test"
        header = ["metric"] + _headings(comparison, [""]) + (["delta"] if _has_delta(comparison) else [])
        blocks.append(Table(title, header, cells, set(range(1, len(header)))))
    return blocks


def _network_block(comparison: Comparison, network: str) -> Table:
    rows = [row for row in comparison.rows if row.kind == "logged" and row.network == network]
    metrics = list(dict.fromkeys(row.metric for row in rows))
    suffixes = [f" {metric}" if len(metrics) > 1 else "" for metric in metrics]
    header = ["step"] + _headings(comparison, suffixes)
    if _has_delta(comparison):
        header += [f"delta{suffix}" for suffix in suffixes]
    by_step: dict[int, dict[str, Row]] = {}
    for row in rows:
        by_step.setdefault(row.step, {})[row.metric] = row
    cells = [[str(step)] + _step_cells(comparison, metrics, by_step[step]) for step in by_step]
    return Table(
        network_title(network) if len(comparison.networks) > 1 else "", header, cells, set(range(1, len(header)))
    )


def _headings(comparison: Comparison, suffixes: list[str]) -> list[str]:
    pooled = any(len(group.runs) > 1 for group in comparison.groups)
    return [
        f"{group.label}{suffix}" + (f" (n={len(group.runs)})" if pooled else "")
        for group in comparison.groups
        for suffix in suffixes
    ]


def _has_delta(comparison: Comparison) -> bool:
    return len(comparison.groups) == 2


def _step_cells(comparison: Comparison, metrics: list[str], rows: dict[str, Row]) -> list[str]:
    """The logged values (metrics.csv's loss and accuracy, the same for every experiment) at one step."""
    cells = [
        _stat(rows[metric].values.get(label), DEFAULT_DECIMALS) if metric in rows else MISSING
        for label in comparison.labels
        for metric in metrics
    ]
    if _has_delta(comparison):
        cells += [_delta(rows[metric].difference if metric in rows else None, DEFAULT_DECIMALS) for metric in metrics]
    return cells


def _stat_cells(comparison: Comparison, row: Row) -> list[str]:
    decimals = comparison.metric(row.metric).decimals
    cells = [_stat(row.values.get(label), decimals) for label in comparison.labels]
    return cells + ([_delta(row.difference, decimals)] if _has_delta(comparison) else [])


def _stat(stat: Stat | None, decimals: int) -> str:
    if stat is None:
        return MISSING
    if stat.std is None:
        return fixed(stat.mean, decimals)
    return f"{fixed(stat.mean, decimals)} ± {fixed(stat.std, decimals)}"


def _delta(difference: Difference | None, decimals: int) -> str:
    return MISSING if difference is None else f"{difference.delta:+.{decimals}f}"


def _show(value: Any) -> str:
    """A config value as YAML writes it: true, null, 0.1."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _settings_block(comparison: Comparison) -> Table | None:
    if not comparison.settings:
        return None
    return Table(
        "settings that differ", ["key"] + comparison.labels, [[key] + values for key, values in comparison.settings]
    )


def _run_list(group: Group) -> str:
    ids = [record.run_id for record in group.runs]
    if len(ids) > 3:
        return f"{len(ids)} runs: {ids[0]}, {ids[1]} and {len(ids) - 2} more"
    return ", ".join(ids)


def _render_tables(comparisons: list[Comparison], markdown: bool) -> str:
    render_block = to_markdown if markdown else to_text
    bullet = "- " if markdown else "  "
    parts = []
    for comparison in comparisons:
        title = f"{comparison.experiment}: {' vs '.join(comparison.labels)}"
        head = [f"**{title}**", ""] if markdown else [title]
        head += [f"{bullet}{group.label}: {_run_list(group)}" for group in comparison.groups]
        blocks = [block for block in [_settings_block(comparison), *_comparison_blocks(comparison)] if block]
        sections = ["\n".join(head)] + [render_block(block) for block in blocks]
        verdicts = comparison.verdicts
        if verdicts:
            sections.append("\n".join(("- " if markdown else "") + line for line in verdicts))
        parts.append("\n\n".join(sections))
    return "\n\n".join(parts)


def _render_json(comparisons: list[Comparison]) -> str:
    return json.dumps({"comparisons": [_comparison_json(comparison) for comparison in comparisons]}, indent=2)


def _comparison_json(comparison: Comparison) -> dict:
    return {
        "experiment": comparison.experiment,
        "groups": [
            {
                "label": group.label,
                "config_name": group.runs[0].config_name,
                "grid_point": group.runs[0].grid_point,
                "n": len(group.runs),
                "runs": [record.run_id for record in group.runs],
            }
            for group in comparison.groups
        ],
        "settings_that_differ": {key: dict(zip(comparison.labels, values)) for key, values in comparison.settings},
        "rows": [
            {
                "kind": row.kind,
                "network": row.network or None,
                "step": row.step,
                "metric": row.metric,
                "values": {label: dataclasses.asdict(stat) for label, stat in row.values.items()},
                "difference": dataclasses.asdict(row.difference) if row.difference else None,
            }
            for row in comparison.rows
        ],
        "verdicts": comparison.verdicts,
    }


COMPARE_CSV_COLUMNS = (
    "experiment",
    "kind",
    "network",
    "step",
    "metric",
    "group",
    "n",
    "mean",
    "std",
    "ci_low",
    "ci_high",
)


def _render_csv(comparisons: list[Comparison]) -> str:
    """Long form, one number per line: a row per group and value, then a `difference` row (second - first)
    with its 95% CI when two groups are compared."""
    lines = []
    for comparison in comparisons:
        for row in comparison.rows:
            where = {
                "experiment": comparison.experiment,
                "kind": row.kind,
                "network": row.network,
                "step": row.step,
                "metric": row.metric,
            }
            for label, stat in row.values.items():
                lines.append({**where, "group": label, "n": stat.n, "mean": stat.mean, "std": stat.std})
            if row.difference:
                first, second = comparison.labels
                lines.append(
                    {
                        **where,
                        "kind": "difference",
                        "group": f"{second} - {first}",
                        "mean": row.difference.delta,
                        "ci_low": row.difference.low,
                        "ci_high": row.difference.high,
                    }
                )
    return to_csv(Table.of_records(lines, COMPARE_CSV_COLUMNS))


RENDERERS = {
    "table": lambda comparisons: _render_tables(comparisons, markdown=False),
    "markdown": lambda comparisons: _render_tables(comparisons, markdown=True),
    "json": _render_json,
    "csv": _render_csv,
}
