"""`scopelab list` and `scopelab compare`: run directories read back into rows, statistics over repeated
runs, and tables (text, markdown, csv, json) and plots of them.

Nothing here imports TensorFlow: `list` has to answer in well under a second for a thousand runs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import socket
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from scopelab.errors import InputError
from scopelab.runs import RUN_ID_PATTERN, RunDir, resolve_run, run_dirs

RUN_STATUSES = ("running", "completed", "failed", "interrupted", "diverged")
LIST_STATUSES = RUN_STATUSES + ("stale", "broken")
LIST_FORMATS = ("table", "json", "csv")
COMPARE_FORMATS = ("table", "markdown", "csv", "json")
# The one number `list` shows per run, best first: what the article reports for each experiment.
HEADLINE_METRICS = ("test_loss", "acc_averaged", "acc_net2", "acc_net1")
HEADLINE_LABELS = {
    "test_loss": "test loss",
    "acc_averaged": "acc averaged",
    "acc_net2": "acc net 2",
    "acc_net1": "acc net 1",
}
METRIC_NAMES = {
    "test_loss": "test loss",
    "acc_net1": "test accuracy of net 1",
    "acc_net2": "test accuracy of net 2",
    "acc_averaged": "averaged test accuracy",
}
ROW_LABELS = {"test_loss": "test", "acc_net1": "net 1", "acc_net2": "net 2", "acc_averaged": "averaged"}
DECIMALS = {"test_loss": 6}  # the article prints the test loss to 6 places, everything else to 3 or 4
MISSING = "—"
# Keys every run has its own value for: naming the runs, not what makes them differ.
UNCOMPARED_KEYS = ("name", "description")
SEED_KEY = "train.seed"
CONFIG_COLUMNS = ("name", "experiment", "description", "file")
RUN_COLUMNS = (
    "run_id",
    "short_id",
    "config",
    "experiment",
    "status",
    "steps",
    "metric",
    "value",
    "wall_seconds",
    "started_at",
    "sweep",
    "note",
)


# --- Reading run directories ---------------------------------------------------------------------------


@dataclass
class RunRecord:
    """One run directory as list and compare see it. `status` is the summary's, except "stale" (says running,
    but its process is gone) and "broken" (no readable summary); `note` says why."""

    run_dir: RunDir
    summary: dict
    status: str
    note: str = ""
    _config: dict | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.run_dir.run_id

    @property
    def config_name(self) -> str:
        """From the summary; a broken run has none, so from the directory name (<date>-<time>-<config>)."""
        parts = self.run_id.split("-", 2)
        return str(self.summary.get("config_name") or (parts[2] if len(parts) == 3 else "?"))

    @property
    def experiment(self) -> str:
        return str(self.summary.get("experiment") or "?")

    @property
    def metrics(self) -> dict[str, float]:
        metrics = self.summary.get("metrics")
        if not isinstance(metrics, dict):
            return {}
        return {key: value for key, value in metrics.items() if _is_number(value)}

    @property
    def grid_point(self) -> dict:
        """The keys a sweep set for this run, without the seed (repeats of a point share a group)."""
        point = self.summary.get("grid_point")
        return {key: value for key, value in point.items() if key != SEED_KEY} if isinstance(point, dict) else {}

    def config(self) -> dict:
        """The resolved config.yaml as flat dotted keys (read once, only by compare)."""
        if self._config is None:
            self._config = flatten(_read_yaml(self.run_dir.path / "config.yaml", self.run_id))
        return self._config


def read_records(runs_dir: Path) -> list[RunRecord]:
    """Every run in the runs directory, newest first, broken ones included."""
    return [read_record(run_dir) for run_dir in run_dirs(runs_dir)]


def read_record(run_dir: RunDir) -> RunRecord:
    try:
        summary = run_dir.read_summary()
    except FileNotFoundError:
        # RunDir.write_text renames a finished temporary file into place; a leftover one means a killed write.
        interrupted = any(run_dir.path.glob(".summary.json.*.tmp"))
        note = "summary.json write was interrupted" if interrupted else "no summary.json"
        return RunRecord(run_dir, {}, "broken", note)
    except OSError as error:
        return RunRecord(run_dir, {}, "broken", f"cannot read summary.json ({error.strerror})")
    except ValueError as error:  # JSON syntax or encoding
        return RunRecord(run_dir, {}, "broken", f"summary.json is not valid JSON ({error})")
    if not isinstance(summary, dict) or summary.get("status") not in RUN_STATUSES:
        return RunRecord(
            run_dir, summary if isinstance(summary, dict) else {}, "broken", "summary.json has no valid status"
        )
    if summary["status"] == "running" and _process_gone(summary):
        return RunRecord(run_dir, summary, "stale", f"process {summary['pid']} on {summary['host']} is gone")
    return RunRecord(run_dir, summary, summary["status"], str(summary.get("error") or ""))


def _process_gone(summary: dict) -> bool:
    """Only a process on this host can be checked; elsewhere a running run stays running."""
    pid = summary.get("pid")
    if not isinstance(pid, int) or pid <= 0 or summary.get("host") != _hostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, but belongs to someone else
        return False
    return False


@cache
def _hostname() -> str:
    return socket.gethostname()


def last_steps(run_dir: RunDir) -> dict[str, int] | None:
    """The last logged step of each network (None when metrics.csv is unreadable). Plain splitting, not the
    csv module: the file is ours, its fields never quoted, and this runs once per run in `list`."""
    steps: dict[str, int] = {}
    try:
        lines = (run_dir.path / "metrics.csv").read_text(encoding="utf-8").splitlines()
        for line in lines[1:]:
            network, step = line.split(",", 2)[:2]
            steps[network] = max(steps.get(network, 0), int(step))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return steps


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as dotted keys: {"networks": [{"scope": "mlp1"}]} -> {"networks.0.scope": "mlp1"}."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _read_yaml(path: Path, run_id: str) -> Any:
    import yaml

    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise InputError(f"run {run_id}: its config.yaml is missing or unreadable, so it cannot be compared.") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- scopelab list -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListRequest:
    runs_dir: Path = Path("runs")
    configs_dir: Path = Path("configs")
    sections: tuple[str, ...] = ("configs", "runs")
    config: str | None = None
    status: str | None = None
    last: int | None = None
    fmt: str = "table"  # table | json | csv (csv holds one section: the runs, unless only configs are asked)


def list_report(request: ListRequest) -> str:
    """The configs on offer and the runs made (newest first), filtered, in the requested format."""
    sections: dict[str, list[dict]] = {}
    if "configs" in request.sections:
        sections["configs"] = [row for row in config_rows(request.configs_dir) if request.config in (None, row["name"])]
    if "runs" in request.sections:
        sections["runs"] = run_rows(request.runs_dir, request.config, request.status, request.last)
    if request.fmt == "json":
        return json.dumps(sections, indent=2)
    if request.fmt == "csv":
        if "runs" in sections:
            return _csv([_csv_run_row(row) for row in sections["runs"]], RUN_COLUMNS)
        return _csv(sections["configs"], CONFIG_COLUMNS)
    return "\n\n".join(_list_section_text(name, rows, request) for name, rows in sections.items())


def config_rows(configs_dir: Path) -> list[dict]:
    """Name, experiment and description of each config file; an invalid one says why instead."""
    from scopelab.config import load_config

    paths = sorted(configs_dir.glob("*.yaml")) + sorted(configs_dir.glob("*.yml")) if configs_dir.is_dir() else []
    rows = []
    for path in paths:
        try:
            config = load_config(path)
        except InputError as error:
            rows.append({"name": path.stem, "experiment": "invalid", "description": str(error), "file": str(path)})
        else:
            rows.append(
                {
                    "name": config.name,
                    "experiment": config.experiment,
                    "description": config.description,
                    "file": str(path),
                }
            )
    return rows


def run_rows(
    runs_dir: Path, config: str | None = None, status: str | None = None, last: int | None = None
) -> list[dict]:
    """One row per run, newest first: what `list` shows."""
    records = read_records(runs_dir)
    short = short_ids([record.run_id for record in records])
    chosen = [record for record in records if config in (None, record.config_name) and status in (None, record.status)]
    return [_run_row(record, short[record.run_id]) for record in chosen[:last]]


def _run_row(record: RunRecord, short_id: str) -> dict:
    metrics = record.metrics
    headline = next((name for name in HEADLINE_METRICS if name in metrics), None)
    summary = record.summary
    return {
        "run_id": record.run_id,
        "short_id": short_id,
        "config": record.config_name,
        "experiment": record.experiment,
        "status": record.status,
        "steps": last_steps(record.run_dir),
        "metric": headline,
        "value": metrics.get(headline) if headline else None,
        "wall_seconds": summary.get("wall_seconds"),
        "started_at": summary.get("started_at"),
        "sweep": summary.get("sweep"),
        "note": record.note,
    }


def short_ids(run_ids: list[str]) -> dict[str, str]:
    """The shortest prefix of each id that names only it (as git abbreviates), never shorter than the
    date-time stamp; an id that is a prefix of another stays whole (an exact id always wins)."""
    ordered = sorted(run_ids)
    short = {}
    for index, run_id in enumerate(ordered):
        neighbours = ordered[max(index - 1, 0) : index] + ordered[index + 1 : index + 2]
        shared = [len(os.path.commonprefix([run_id, other])) for other in neighbours]
        length = max([len("YYYYMMDD-HHMMSS")] + [common + 1 for common in shared])
        # A prefix ending in '-' reads like a typo: take one more character.
        short[run_id] = run_id[: length + 1] if run_id[:length].endswith("-") else run_id[:length]
    return short


def _list_section_text(name: str, rows: list[dict], request: ListRequest) -> str:
    if name == "configs":
        where = request.configs_dir
        if not rows:
            return f"configs: none in {where}/"
        table = Block(
            f"configs in {where}/",
            ["name", "experiment", "description"],
            [[row["name"], row["experiment"], row["description"]] for row in rows],
        )
        return "\n".join(_text_block(table))
    if not rows:
        filtered = request.config or request.status
        return f"runs: none {'match' if filtered else 'yet'} in {request.runs_dir}/"
    table = Block(
        f"runs in {request.runs_dir}/ (newest first)",
        ["run", "config", "status", "steps", "metric", "wall", "started", "note"],
        [_run_cells(row) for row in rows],
        right={3, 5},
    )
    return "\n".join(_text_block(table))


def _run_cells(row: dict) -> list[str]:
    metric = f"{HEADLINE_LABELS[row['metric']]} {_fixed(row['value'], row['metric'])}" if row["metric"] else ""
    note = row["note"] if len(row["note"]) <= 60 else row["note"][:57] + "..."
    return [
        row["short_id"],
        row["config"],
        row["status"],
        _steps_text(row["steps"]),
        metric,
        _duration(row["wall_seconds"]),
        _when(row["started_at"]),
        note,
    ]


def _csv_run_row(row: dict) -> dict:
    return {**row, "steps": _steps_text(row["steps"])}


def _steps_text(steps: dict[str, int] | None) -> str:
    """10000 for one network, 5000+5000 for two."""
    if steps is None:
        return "?"
    return "+".join(str(step) for step in steps.values())


def _duration(seconds: Any) -> str:
    if not _is_number(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _when(stamp: Any) -> str:
    """2026-11-27T10:15:00+0100 -> 2026-11-27 10:15 (the run's local time, as recorded)."""
    return f"{stamp[:10]} {stamp[11:16]}" if isinstance(stamp, str) and len(stamp) >= 16 else ""


# --- Statistics -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    n: int
    mean: float
    std: float | None  # the sample standard deviation (n - 1 in the denominator); None for one value


@dataclass(frozen=True)
class Difference:
    """The second group's mean minus the first's, with a 95% confidence interval by Welch's t when both
    groups have two or more runs (low = high = None otherwise)."""

    delta: float
    low: float | None = None
    high: float | None = None
    df: float | None = None


def describe(values: list[float]) -> Stat:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((value - mean) ** 2 for value in values) / (n - 1)) if n > 1 else None
    return Stat(n, mean, std)


def welch_difference(first: Stat, second: Stat, level: float = 0.95) -> Difference:
    """Welch's t interval: no assumption that the two groups have the same variance."""
    delta = second.mean - first.mean
    if first.std is None or second.std is None:
        return Difference(delta)
    first_var, second_var = first.std**2 / first.n, second.std**2 / second.n
    error = math.sqrt(first_var + second_var)
    if error == 0:  # every run gave the same number: the difference is exact
        return Difference(delta, delta, delta)
    df = (first_var + second_var) ** 2 / (first_var**2 / (first.n - 1) + second_var**2 / (second.n - 1))
    half = t_quantile(0.5 + level / 2, df) * error
    return Difference(delta, delta - half, delta + half, df)


def t_quantile(p: float, df: float) -> float:
    """The p-quantile (0.5 <= p < 1) of Student's t with df degrees of freedom, df fractional as Welch's is.
    Bisection on the CDF: slow by numerical standards (~60 CDF calls), exact to 1e-9, and no table."""
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        low, high = high, high * 2
    while high - low > 1e-10 * high:
        middle = (low + high) / 2
        low, high = (middle, high) if _t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


def _t_cdf(t: float, df: float) -> float:
    """P(T <= t) for t >= 0, through the regularized incomplete beta function."""
    return 1 - 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b). The continued fraction converges fast below the mean (a + 1) / (a + b + 2); above it,
    use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a)."""
    if x <= 0 or x >= 1:
        return max(0.0, min(1.0, x))
    if x > (a + 1) / (a + b + 2):
        return 1 - _incomplete_beta(b, a, 1 - x)
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    log_front = a * math.log(x) + b * math.log1p(-x) - math.log(a) - log_beta
    return math.exp(log_front) * _beta_continued_fraction(a, b, x)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """1 / (1 + d1 / (1 + d2 / (1 + ...))) by the modified Lentz method, where
    d(2m+1) = -(a+m)(a+b+m)x / ((a+2m)(a+2m+1)) and d(2m) = m(b-m)x / ((a+2m-1)(a+2m))."""
    tiny = 1e-300

    def guard(value: float) -> float:
        return value if abs(value) > tiny else tiny

    numerator_c, denominator_d = 1.0, 1 / guard(1 - (a + b) * x / (a + 1))
    result = denominator_d
    for m in range(1, 10_000):
        for term in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            denominator_d = 1 / guard(1 + term * denominator_d)
            numerator_c = guard(1 + term / numerator_c)
            factor = denominator_d * numerator_c
            result *= factor
        if abs(factor - 1) < 1e-15:
            break
    return result


# --- Choosing and grouping runs for compare ----------------------------------------------------------------


@dataclass(frozen=True)
class CompareRequest:
    references: tuple[str, ...] = ()  # run ids, unique prefixes or config names; none: the latest of each config
    runs_dir: Path = Path("runs")
    fmt: str = "table"
    plot: Path | None = None
    each: bool = False  # one column per run, never pooled


@dataclass
class Group:
    """Runs of one config (and grid point), pooled: repeats that differ only in their seed."""

    label: str
    runs: list[RunRecord]  # oldest first


def compare_report(request: CompareRequest) -> str:
    """The runs side by side (one comparison per experiment kind), in the requested format; with a plot
    file, draws the loss curves too."""
    records = read_records(request.runs_dir)
    if not records:
        raise InputError(f"no runs in {request.runs_dir}/ yet; make some with: scopelab run configs/tied_ae.yaml")
    if request.references:
        selections = [_referenced_runs(records, request.references, request.runs_dir)]
    else:
        selections = _latest_runs(records, request.runs_dir)
    comparisons = [build_comparison(_groups(runs, request.each)) for runs in selections]
    if request.plot:
        plot_losses(comparisons, request.plot)
    return RENDERERS[request.fmt](comparisons)


def _latest_runs(records: list[RunRecord], runs_dir: Path) -> list[list[RunRecord]]:
    """For each experiment kind, the latest completed run of every config and its repeats; configs in the
    order they were last run (so `run untied_ae; run tied_ae; compare` puts untied first, as the article)."""
    completed = [record for record in records if record.status == "completed"]
    if not completed:
        raise InputError(f"no completed runs in {runs_dir}/ to compare (see: scopelab list --runs-dir {runs_dir}).")
    selections = [_repeats_of_latest(completed, name) for name in dict.fromkeys(r.config_name for r in completed)]
    by_kind: dict[str, list[RunRecord]] = {}
    for runs in sorted(selections, key=lambda runs: _finished(runs[-1])):
        by_kind.setdefault(runs[0].experiment, []).extend(runs)
    return [by_kind[kind] for kind in sorted(by_kind)]


def _finished(record: RunRecord) -> int:
    """When the run last wrote its summary, to the nanosecond: run ids only tell the second it started."""
    return (record.run_dir.path / "summary.json").stat().st_mtime_ns


def _repeats_of_latest(completed: list[RunRecord], config_name: str) -> list[RunRecord]:
    """The latest completed run of a config with its repeats: the rest of its sweep, or else every completed
    run whose config differs only in the seed. One run per seed (the newest), so a re-run of the same seed
    cannot fake a tight confidence interval."""
    runs = [record for record in completed if record.config_name == config_name]
    latest = runs[0]
    sweep = latest.summary.get("sweep")
    if sweep:
        runs = [record for record in runs if record.summary.get("sweep") == sweep]
    else:
        runs = [record for record in runs if _fingerprint(record) == _fingerprint(latest)]
    newest_per_seed: dict[tuple, RunRecord] = {}
    for record in runs:
        newest_per_seed.setdefault((_fingerprint(record), record.config().get(SEED_KEY)), record)
    return list(reversed(newest_per_seed.values()))  # oldest first: a sweep's members in their order


def _referenced_runs(records: list[RunRecord], references: tuple[str, ...], runs_dir: Path) -> list[RunRecord]:
    chosen: dict[str, RunRecord] = {}
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


def _resolve(records: list[RunRecord], reference: str, runs_dir: Path) -> list[RunRecord]:
    """A run id, else a config name (its latest completed run and repeats), else a unique run id prefix."""
    by_id = {record.run_id: record for record in records}
    if reference not in by_id:
        names = {record.config_name for record in records if record.status != "broken"}
        if reference in names:
            completed = [record for record in records if record.status == "completed"]
            if not any(record.config_name == reference for record in completed):
                raise InputError(
                    f"config '{reference}' has no completed run in {runs_dir}/ "
                    f"(see: scopelab list --config {reference})."
                )
            return _repeats_of_latest(completed, reference)
        if RUN_ID_PATTERN.match(reference) and not any(run_id.startswith(reference) for run_id in by_id):
            raise InputError(f"no run or config '{reference}' in {runs_dir}/{_suggestion(reference, names, by_id)}.")
    record = by_id[resolve_run(runs_dir, reference).run_id]
    if record.status == "broken":
        raise InputError(f"run {record.run_id} is broken ({record.note}); it cannot be compared.")
    return [record]


def _suggestion(reference: str, names: set[str], run_ids: dict) -> str:
    import difflib

    close = difflib.get_close_matches(reference, sorted(names) + list(run_ids), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(candidate) for candidate in close)}?)" if close else ""


def _groups(runs: list[RunRecord], each: bool) -> list[Group]:
    """Pool repeats of one config into a group, groups in the order of their first run. When all runs fall
    into one group there is nothing to compare a pool with, so they stay apart (as with --each)."""
    pools: dict[tuple, list[RunRecord]] = {}
    for record in runs:
        key = (record.run_id,) if each else (record.config_name, _fingerprint(record))
        pools.setdefault(key, []).append(record)
    if len(pools) == 1 and len(runs) > 1:
        pools = {(record.run_id,): [record] for record in runs}
    labels = [_group_label(pool) for pool in pools.values()]
    # Two groups of one config name (changed by --set, say) are told apart by their latest run's id.
    return [
        Group(label if labels.count(label) == 1 else pool[-1].run_id, pool)
        for label, pool in zip(labels, pools.values())
    ]


def _group_label(runs: list[RunRecord]) -> str:
    point = runs[0].grid_point
    if not point:
        return runs[0].config_name
    return f"{runs[0].config_name}[{','.join(f'{key}={_show(value)}' for key, value in point.items())}]"


def _fingerprint(record: RunRecord) -> str:
    """The resolved config apart from its name and seed: runs with equal fingerprints are repeats."""
    config = {key: value for key, value in record.config().items() if key not in UNCOMPARED_KEYS + (SEED_KEY,)}
    return json.dumps(config, sort_keys=True, default=str)


# --- The comparison: rows of statistics per group -------------------------------------------------------------


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

    @property
    def labels(self) -> list[str]:
        return [group.label for group in self.groups]

    @property
    def networks(self) -> list[str]:
        return list(dict.fromkeys(row.network for row in self.rows if row.kind == "logged"))

    def verdicts(self) -> list[str]:
        return [verdict(self.groups, row) for row in self.rows if row.kind == "test" and row.difference]


def build_comparison(groups: list[Group]) -> Comparison:
    return Comparison(groups[0].runs[0].experiment, groups, _settings_that_differ(groups), _rows(groups))


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


def _read_metrics(record: RunRecord) -> list[dict]:
    try:
        return record.run_dir.read_metrics()
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"run {record.run_id}: its metrics.csv is unreadable, so it cannot be compared.") from None


def _settings_that_differ(groups: list[Group]) -> list[tuple[str, list[str]]]:
    """Only what differs between the runs (config keys first, then versions and device): value per group."""
    settings = [[_settings(record) for record in group.runs] for group in groups]
    keys = list(dict.fromkeys(key for runs in settings for setting in runs for key in setting))
    differing = []
    for key in keys:
        values = [[setting.get(key, MISSING) for setting in runs] for runs in settings]
        if len({_show(value) for column in values for value in column}) > 1:
            differing.append((key, [", ".join(dict.fromkeys(_show(value) for value in column)) for column in values]))
    return differing


def _settings(record: RunRecord) -> dict[str, Any]:
    config = {key: value for key, value in record.config().items() if key not in UNCOMPARED_KEYS}
    versions = record.summary.get("versions")
    environment = flatten(versions, "versions") if isinstance(versions, dict) else {}
    return {**config, **environment, "device": record.summary.get("device", MISSING)}


def verdict(groups: list[Group], row: Row) -> str:
    """One line: which group is better on a final metric, by how much, and how sure (the 95% CI)."""
    first, second = (group.label for group in groups)
    metric, difference = row.metric, row.difference
    counts = [row.values[first].n, row.values[second].n]
    sizes = f"n={counts[0]} each" if counts[0] == counts[1] else f"n={counts[0]} and {counts[1]}"
    name = METRIC_NAMES.get(metric, metric)
    if difference.delta == 0:
        return f"{first} and {second} are equal on {name} ({sizes})"
    higher_is_better = metric.startswith("acc")
    second_wins = (difference.delta > 0) == higher_is_better
    winner, loser = (second, first) if second_wins else (first, second)
    # The interval of the winner's lead: the difference (second - first), turned to point the winner's way.
    flip = second_wins != higher_is_better
    lead = -difference.delta if flip else difference.delta
    if difference.low is None:
        amount = _fixed(abs(lead), metric)
        return (
            f"{winner} is ahead of {loser} on {name} by {amount} "
            f"({sizes}: no confidence interval without repeats, e.g. --seeds 5)"
        )
    low, high = (-difference.high, -difference.low) if flip else (difference.low, difference.high)
    places = _ci_decimals(high - low, metric)
    interval = f"95% CI {low:.{places}f} to {high:.{places}f}, {sizes}"
    if low > 0:
        return f"{winner} beats {loser} on {name} by {lead:.{places}f} ({interval})"
    return (
        f"no clear difference between {first} and {second} on {name}: {winner} ahead by {lead:.{places}f} ({interval})"
    )


def _ci_decimals(width: float, metric: str) -> int:
    """Enough places to show the interval's half-width to two significant digits."""
    if width <= 0:
        return DECIMALS.get(metric, 4)
    return min(8, max(1, 1 - math.floor(math.log10(width / 2))))


# --- Rendering ----------------------------------------------------------------------------------------------


@dataclass
class Block:
    title: str
    header: list[str]
    rows: list[list[str]]
    right: set[int] = field(default_factory=set)  # columns of numbers, right-aligned in text


def _comparison_blocks(comparison: Comparison) -> list[Block]:
    """The article's layout: one block per network (a row per logged step), then the test metrics; a lone
    test row goes under the steps when the columns line up (one network, one metric)."""
    blocks = [_network_block(comparison, network) for network in comparison.networks]
    test_rows = [row for row in comparison.rows if row.kind == "test"]
    cells = [[ROW_LABELS.get(row.metric, row.metric)] + _stat_cells(comparison, row) for row in test_rows]
    logged_metrics = {row.metric for row in comparison.rows if row.kind == "logged"}
    if len(blocks) == 1 and len(logged_metrics) == 1:
        blocks[0].rows.extend(cells)
    elif test_rows:
        title = "test accuracy" if all(row.metric.startswith("acc") for row in test_rows) else "test"
        header = ["metric"] + _headings(comparison, [""]) + (["delta"] if _has_delta(comparison) else [])
        blocks.append(Block(title, header, cells, set(range(1, len(header)))))
    return blocks


def _network_block(comparison: Comparison, network: str) -> Block:
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
    return Block(
        _network_title(network) if len(comparison.networks) > 1 else "", header, cells, set(range(1, len(header)))
    )


def _network_title(network: str) -> str:
    """net1 -> Network 1, as the article heads its blocks."""
    return f"Network {network[3:]}" if network.startswith("net") and network[3:].isdigit() else network


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
    cells = [
        _stat(rows[metric].values.get(label), metric) if metric in rows else MISSING
        for label in comparison.labels
        for metric in metrics
    ]
    if _has_delta(comparison):
        cells += [_delta(rows[metric].difference if metric in rows else None, metric) for metric in metrics]
    return cells


def _stat_cells(comparison: Comparison, row: Row) -> list[str]:
    cells = [_stat(row.values.get(label), row.metric) for label in comparison.labels]
    return cells + ([_delta(row.difference, row.metric)] if _has_delta(comparison) else [])


def _stat(stat: Stat | None, metric: str) -> str:
    if stat is None:
        return MISSING
    if stat.std is None:
        return _fixed(stat.mean, metric)
    return f"{_fixed(stat.mean, metric)} ± {_fixed(stat.std, metric)}"


def _delta(difference: Difference | None, metric: str) -> str:
    return MISSING if difference is None else f"{difference.delta:+.{DECIMALS.get(metric, 4)}f}"


def _fixed(value: float | None, metric: str | None) -> str:
    return MISSING if value is None else f"{value:.{DECIMALS.get(metric, 4)}f}"


def _show(value: Any) -> str:
    """A config value as YAML writes it: true, null, 0.1."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _settings_block(comparison: Comparison) -> Block | None:
    if not comparison.settings:
        return None
    return Block(
        "settings that differ", ["key"] + comparison.labels, [[key] + values for key, values in comparison.settings]
    )


def _run_list(group: Group) -> str:
    ids = [record.run_id for record in group.runs]
    if len(ids) > 3:
        return f"{len(ids)} runs: {ids[0]}, {ids[1]} and {len(ids) - 2} more"
    return ", ".join(ids)


def _text_block(block: Block) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(block.header, *block.rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if index in block.right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths))
        ).rstrip()

    title = [block.title] if block.title else []
    return title + [line(block.header), line(["-" * width for width in widths])] + [line(row) for row in block.rows]


def _markdown_block(block: Block) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    rule = ["---:" if index in block.right else "---" for index in range(len(block.header))]
    title = [f"**{block.title}**", ""] if block.title else []
    return title + [line(block.header), "|" + "|".join(rule) + "|"] + [line(row) for row in block.rows]


def _render_tables(comparisons: list[Comparison], markdown: bool) -> str:
    render_block = _markdown_block if markdown else _text_block
    bullet = "- " if markdown else "  "
    parts = []
    for comparison in comparisons:
        title = f"{comparison.experiment}: {' vs '.join(comparison.labels)}"
        head = [f"**{title}**", ""] if markdown else [title]
        head += [f"{bullet}{group.label}: {_run_list(group)}" for group in comparison.groups]
        blocks = [block for block in [_settings_block(comparison), *_comparison_blocks(comparison)] if block]
        sections = ["\n".join(head)] + ["\n".join(render_block(block)) for block in blocks]
        verdicts = comparison.verdicts()
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
        "verdicts": comparison.verdicts(),
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
    return _csv(lines, COMPARE_CSV_COLUMNS)


def _csv(rows: list[dict], columns: tuple[str, ...] | None = None) -> str:
    buffer = io.StringIO()
    fieldnames = list(columns or (rows[0] if rows else []))
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
    return buffer.getvalue().rstrip("\n")


RENDERERS = {
    "table": lambda comparisons: _render_tables(comparisons, markdown=False),
    "markdown": lambda comparisons: _render_tables(comparisons, markdown=True),
    "json": _render_json,
    "csv": _render_csv,
}


# --- Plot ------------------------------------------------------------------------------------------------------


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
        title = comparison.experiment + (f": {_network_title(network)}" if len(comparison.networks) > 1 else "")
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
