"""A comparison in `compare`'s four formats: the article's tables as text or markdown (through the table
model), every number as long-form csv, or the whole comparison as json."""

from __future__ import annotations

import dataclasses

from scopelab.errors import escaped
from scopelab.metrics import DEFAULT_DECIMALS
from scopelab.report import MISSING, fixed
from scopelab.report.comparison import Comparison, Group, Row, network_title
from scopelab.report.stats import Difference, Stat
from scopelab.report.tables import Table, fit_text, strict_json, to_csv, to_markdown, to_text


def render(comparisons: list[Comparison], fmt: str) -> str:
    """The comparisons in one of COMPARE_FORMATS: table, markdown, csv or json."""
    return RENDERERS[fmt](comparisons)


def _render_tables(comparisons: list[Comparison], markdown: bool) -> str:
    render_block = to_markdown if markdown else to_text
    bullet = "- " if markdown else "  "
    fitted = _whole if markdown else fit_text  # markdown is pasted, not read on the terminal: never cut
    parts = []
    for comparison in comparisons:
        title = f"{comparison.experiment}: {' vs '.join(comparison.labels)}"
        # Labels are config names from records: escaped before they are fitted.
        head = [f"**{escaped(title)}**", ""] if markdown else [fit_text(escaped(title))]
        head += [fitted(escaped(f"{bullet}{group.label}: {_run_list(group)}"), "    ") for group in comparison.groups]
        blocks = [block for block in [_settings_block(comparison), *_comparison_blocks(comparison)] if block]
        sections = ["\n".join(head)] + [render_block(block) for block in blocks]
        verdicts = comparison.verdicts
        if verdicts:
            sections.append("\n".join(fitted(("- " if markdown else "") + escaped(line), "  ") for line in verdicts))
        parts.append("\n\n".join(sections))
    return "\n\n".join(parts)


def _whole(line: str, indent: str = "") -> str:
    return line


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


def _render_json(comparisons: list[Comparison]) -> str:
    return strict_json({"comparisons": [_comparison_json(comparison) for comparison in comparisons]})


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
