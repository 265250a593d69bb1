"""`compare`'s choice of runs: those named (run ids, prefixes, config names), or else the latest completed run
of every config with its repeats, one selection per experiment kind; then a selection's repeats pooled
into groups."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from scopelab.errors import InputError
from scopelab.report import yaml_scalar
from scopelab.report.comparison import Group
from scopelab.runs import SEED_KEY, Run, resolve_runs

# Keys every run has its own value for: naming the runs, not what makes them differ.
UNCOMPARED_KEYS = ("name", "description")


def choose_runs(
    records: list[Run], references: tuple[str, ...], runs_dir: Path, warn: Callable[[str], None], each: bool = False
) -> list[list[Run]]:
    """The runs named (one selection), or with no references the latest completed run of every config and its
    repeats (a selection per experiment kind). Without references a completed run whose config.yaml is
    unusable is left out and `warn` hears of it, instead of failing the whole comparison. Re-runs of one seed
    count once (see _one_per_seed; `warn` hears which run was kept), except with --each, which pools nothing."""
    if not records:
        raise InputError(f"no runs in {runs_dir}/ yet; make some with: scopelab run tied_ae")
    if references:
        chosen = _referenced_runs(records, references, runs_dir, warn)
        return [chosen if each else _one_per_seed(chosen, warn)]
    return _latest_runs(_readable(records, warn), runs_dir, warn)


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


def _latest_runs(records: list[Run], runs_dir: Path, warn: Callable[[str], None]) -> list[list[Run]]:
    """For each experiment kind, the latest completed run of every config and its repeats; configs in the
    order they were last run (so `run untied_ae; run tied_ae; compare` puts untied first, as the article)."""
    completed = [record for record in records if record.status == "completed"]
    if not completed:
        raise InputError(f"no completed runs in {runs_dir}/ to compare (see: scopelab list --runs-dir {runs_dir}).")
    names = dict.fromkeys(record.config_name for record in completed)
    selections = [_repeats_of_latest(completed, name, warn) for name in names]
    by_kind: dict[str, list[Run]] = {}
    for runs in sorted(selections, key=lambda runs: _finished(runs[-1])):
        by_kind.setdefault(runs[0].experiment, []).extend(runs)
    return [by_kind[kind] for kind in sorted(by_kind)]


def _finished(record: Run) -> int:
    return record.directory.record_mtime_ns


def _repeats_of_latest(completed: list[Run], config_name: str, warn: Callable[[str], None]) -> list[Run]:
    """The latest completed run of a config with its repeats: the rest of its sweep, or else every completed
    run whose config differs only in the seed; one run per seed, oldest first."""
    runs = [record for record in completed if record.config_name == config_name]
    latest = runs[0]
    if latest.sweep:
        runs = [record for record in runs if record.sweep == latest.sweep]
    else:
        wanted = _fingerprint(latest)
        runs = [record for record in runs if _fingerprint(record) == wanted]
    return list(reversed(_one_per_seed(runs, warn)))  # oldest first: a sweep's members in their order


def _one_per_seed(runs: list[Run], warn: Callable[[str], None]) -> list[Run]:
    """Of completed runs with the same config name, config and seed, only the newest (ids sort by creation
    time): a re-run of a seed is not an independent repeat, and counting it would fake a tight confidence
    interval. `warn` hears one note per seed that had re-runs: which run was kept and which were dropped."""
    same: dict[tuple, list[Run]] = {}
    for record in runs:
        if record.status == "completed":
            key = (record.config_name, _fingerprint(record), record.config().get(SEED_KEY))
            same.setdefault(key, []).append(record)
    dropped = set()
    for (name, _, seed), group in same.items():
        if len(group) > 1:
            kept = max(group, key=lambda record: record.run_id)
            others = sorted((record.run_id for record in group if record is not kept), reverse=True)
            warn(f"note: {name} seed {seed} ran {len(group)} times with the same config; one repeat: kept "
                 f"{kept.run_id} (the newest), dropped {', '.join(others)}")
            dropped.update(others)
    return [record for record in runs if record.run_id not in dropped]


def _referenced_runs(
    records: list[Run], references: tuple[str, ...], runs_dir: Path, warn: Callable[[str], None]
) -> list[Run]:
    chosen: dict[str, Run] = {}
    kinds: dict[str, list[str]] = {}
    for reference in references:
        for record in _resolve(records, reference, runs_dir, warn):
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


def _resolve(records: list[Run], reference: str, runs_dir: Path, warn: Callable[[str], None]) -> list[Run]:
    """A run id, else a config name (its latest completed run and repeats), else a unique run id prefix."""

    def latest_completed(named: list[Run]) -> list[Run]:
        completed = [record for record in named if record.status == "completed"]
        if not completed:
            raise InputError(
                f"config '{reference}' has no completed run in {runs_dir}/ (see: scopelab list --config {reference})."
            )
        return _repeats_of_latest(completed, reference, warn)

    chosen = resolve_runs(runs_dir, reference, records, latest_completed)
    for record in chosen:
        if record.status == "broken":
            raise InputError(f"run {record.run_id} is broken ({record.reason}); it cannot be compared.")
    return chosen


def pool(runs: list[Run], each: bool, short: dict[str, str]) -> list[Group]:
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
    return f"{runs[0].config_name}[{','.join(f'{key}={yaml_scalar(value)}' for key, value in point.items())}]"


def _fingerprint(record: Run) -> str:
    """The resolved config apart from its name and seed: runs with equal fingerprints are repeats."""
    config = {key: value for key, value in record.config().items() if key not in UNCOMPARED_KEYS + (SEED_KEY,)}
    return json.dumps(config, sort_keys=True, default=str)
