"""The comparison built from groups of runs: a row of statistics per logged step and test metric (each
group's mean and spread, the difference of two groups), the settings that differ, and the verdicts."""

from __future__ import annotations

from typing import Any

from scopelab.dotted import flatten
from scopelab.errors import InputError
from scopelab.report import MISSING, yaml_scalar
from scopelab.report.comparison import Comparison, Group, Row
from scopelab.report.select import UNCOMPARED_KEYS
from scopelab.report.stats import describe, welch_difference
from scopelab.report.verdicts import comparison_verdicts
from scopelab.runs import RecordError, Run


def build_comparison(groups: list[Group]) -> Comparison:
    experiment = groups[0].runs[0].experiment
    rows = _rows(groups)
    verdicts = comparison_verdicts(experiment, groups, rows)
    return Comparison(experiment, groups, _settings_that_differ(groups), rows, verdicts)


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
    except RecordError as error:  # names the line and the field
        raise InputError(f"run {record.run_id}: {error}, so it cannot be compared.") from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        message = f"run {record.run_id}: its metrics.csv is unusable ({reason}), so it cannot be compared."
        raise InputError(message) from None


def _settings_that_differ(groups: list[Group]) -> list[tuple[str, list[str]]]:
    """Only what differs between the runs (config keys first, then versions and device): value per group."""
    settings = [[_settings(record) for record in group.runs] for group in groups]
    keys = list(dict.fromkeys(key for runs in settings for setting in runs for key in setting))
    differing = []
    for key in keys:
        values = [[yaml_scalar(setting.get(key, MISSING)) for setting in runs] for runs in settings]
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
