"""`scopelab list`: the configs on offer and the runs made, newest first, as a table, json or csv."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scopelab import plugins
from scopelab.errors import InputError
from scopelab.experiments import declared_names, headline_of, metric_of
from scopelab.ownership import is_owned
from scopelab.report import fixed, yaml_scalar
from scopelab.report.tables import Table, strict_json, to_csv, to_text
from scopelab.runs import (
    TRASH_DIR,
    RecordError,
    Run,
    SweepRecord,
    is_number,
    read_runs,
    resolve_sweep,
    steps_reached,
    sweep_dirs,
)

CONFIG_COLUMNS = ("name", "experiment", "source", "description", "file")
RUN_COLUMNS = (
    "run_id",
    "short_id",
    "config",
    "experiment",
    "overrides",
    "status",
    "reason",
    "steps",
    "total_steps",
    "metric",
    "value",
    "wall_seconds",
    "started_at",
    "sweep",
    "tags",
    "note",
)
SWEEP_COLUMNS = ("sweep_id", "config", "grid", "seeds", "status", "members", "created_at")
# --sort KEY for a column: the value it sorts by (ascending; --reverse for descending). Metrics sort best first.
SORT_COLUMNS: dict[str, Callable[[dict], Any]] = {
    "run": lambda row: row["run_id"],
    "config": lambda row: row["config"],
    "status": lambda row: row["status"],
    "steps": lambda row: row["steps"] or 0,
    "wall": lambda row: row["wall_seconds"] if is_number(row["wall_seconds"]) else -1,
    "started": lambda row: row["started_at"] or "",
}


@dataclass(frozen=True)
class ListRequest:
    runs_dir: Path = Path("runs")
    configs_dir: Path = Path("configs")
    sections: tuple[str, ...] = ("configs", "runs")
    config: str | None = None
    status: str | None = None
    last: int | None = None
    fmt: str = "table"  # table | json | csv (csv holds one section: the runs, unless only configs are asked)
    sort: str | None = None  # a column of SORT_COLUMNS or a test metric
    reverse: bool = False
    top: int | None = None
    tag: str | None = None
    sweep: str | None = None  # a sweep id or prefix: only its members
    trash: bool = False  # the runs in <runs-dir>/.trash/ instead
    all_keys: bool = False  # csv or json: one flat row per run with every config key and test metric (export)


def list_report(request: ListRequest) -> str:
    """The configs on offer and the runs made (newest first), filtered, in the requested format."""
    sections: dict[str, list[dict]] = {}
    if "configs" in request.sections:
        # The plugins' configs when the configs alone are asked for: a plain `list` reads no package metadata.
        rows = config_rows(request.configs_dir, with_plugins=request.sections == ("configs",))
        sections["configs"] = [row for row in rows if request.config in (None, row["name"])]
    if "runs" in request.sections:
        sections["runs"] = run_rows(request)
    if request.all_keys:
        return export(request)
    if request.fmt == "json":
        return strict_json(sections)
    if request.fmt == "csv":
        if "runs" in sections:
            return to_csv(Table.of_records([_csv_run_row(row) for row in sections["runs"]], RUN_COLUMNS))
        return to_csv(Table.of_records(sections["configs"], CONFIG_COLUMNS))
    return "\n\n".join(_list_section_text(name, rows, request) for name, rows in sections.items())


# The export's first columns; then `config.<dotted key>` and `metric.<name>` columns, the union over the runs.
EXPORT_COLUMNS = ("run_id", "config", "experiment", "status", "reason", "steps", "total_steps", "wall_seconds",
                  "started_at", "sweep", "tags", "note", "git_commit", "git_dirty", "tensorflow")


def export(request: ListRequest) -> str:
    """Every run that passes the filters as one flat row, csv or json (a list of objects): the list columns,
    the provenance summary, every resolved config key and every test metric. The columns are the same for
    every row (the union over the runs, empty where a run has no such key), so a spreadsheet or
    pandas.read_csv / read_json takes it as it is."""
    if request.fmt not in ("csv", "json"):
        raise InputError("--all-keys exports every key of every run: give --format csv or --format json.")
    rows = [_export_row(row, request.runs_dir / TRASH_DIR if request.trash else request.runs_dir)
            for row in run_rows(request)]
    config_keys = sorted({key for row in rows for key in row if key.startswith("config.")})
    metric_keys = sorted({key for row in rows for key in row if key.startswith("metric.")})
    columns = [*EXPORT_COLUMNS, *config_keys, *metric_keys]
    if request.fmt == "json":
        return strict_json([{column: row.get(column) for column in columns} for row in rows])
    return to_csv(Table.of_records([_csv_export_row(row) for row in rows], columns))


def _export_row(row: dict, runs_dir: Path) -> dict:
    from scopelab.runs import RunDir, read_run

    run = read_run(RunDir(runs_dir / row["run_id"]), variables=False)
    provenance = run.record.provenance if run.record else None
    git = (provenance.git if provenance else None) or {}
    try:
        config = run.config()
    except InputError:  # a broken run: its row says so, without config keys
        config = {}
    return {
        **{column: row.get(column) for column in EXPORT_COLUMNS},
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "tensorflow": provenance.packages.get("tensorflow") if provenance else None,
        **{f"config.{key}": value for key, value in config.items()},
        **{f"metric.{name}": value for name, value in row["metrics"].items()},
    }


def _csv_export_row(row: dict) -> dict:
    """Lists and mappings as csv holds them: tags comma-joined; a config value as YAML would write it."""
    return {key: ",".join(value) if key == "tags" else yaml_scalar(value) if isinstance(value, bool) else value
            for key, value in row.items()}


def config_rows(configs_dir: Path, with_plugins: bool = False) -> list[dict]:
    """Name, experiment, source and description of each config in configs_dir, then of each built-in one
    (source "built-in"; "built-in, shadowed" when a local file of that name is what `run NAME` takes), then
    with_plugins of each one an installed plugin ships (source "plugin PACKAGE"), and a row for each plugin
    that cannot be loaded. A local file that is a built-in one (the clone's configs/ links to them) is
    listed once, as built-in. An invalid config says why instead of a description."""
    from scopelab.config_source import BUILTIN_DIR, BUILTIN_PREFIX, builtin_names, plugin_configs

    paths = sorted(configs_dir.glob("*.yaml")) + sorted(configs_dir.glob("*.yml")) if configs_dir.is_dir() else []
    local = [path for path in paths if path.resolve().parent != BUILTIN_DIR]
    rows = [_config_row(path, "local", str(path)) for path in local]
    shadowed = {path.stem for path in local}
    for name in builtin_names():
        source = "built-in, shadowed" if name in shadowed else "built-in"
        rows.append(_config_row(BUILTIN_DIR / f"{name}.yaml", source, BUILTIN_PREFIX + name))
    if with_plugins:
        shipped, faults = plugin_configs()
        for name, path in shipped.items():
            package = next(family.entry.package for family in plugins.loaded() if family.configs == path.parent)
            source = f"plugin {package}, shadowed" if name in shadowed else f"plugin {package}"
            rows.append(_config_row(path, source, BUILTIN_PREFIX + name))
        rows += [{"name": "?", "experiment": "invalid", "source": "plugin", "description": str(fault), "file": ""}
                 for fault in faults]
    return rows


def _config_row(path: Path, source: str, file: str) -> dict:
    from scopelab.config import load_config

    try:
        config = load_config(path)
    except InputError as error:
        return {"name": path.stem, "experiment": "invalid", "source": source, "description": str(error), "file": file}
    return {"name": config.name, "experiment": config.experiment, "source": source,
            "description": config.description, "file": file}


def run_rows(request: ListRequest) -> list[dict]:
    """One row per run that passes the filters: newest first, or sorted by request.sort."""
    runs = read_runs(request.runs_dir / TRASH_DIR if request.trash else request.runs_dir)
    short = short_ids([run.run_id for run in runs])
    sweep = resolve_sweep(request.runs_dir, request.sweep).run_id if request.sweep else None
    chosen = [
        run
        for run in runs
        if request.config in (None, run.config_name)
        and sweep in (None, run.sweep)
        and (request.tag is None or request.tag in run.annotations.tags)
    ]
    # The status is known once the row is made: an unusable checkpoint state makes a run broken.
    rows = [_run_row(run, short[run.run_id]) for run in chosen]
    rows = [row for row in rows if request.status in (None, row["status"])][: request.last]
    if request.sort:
        rows = sort_rows(rows, request.sort, request.reverse)
    elif request.reverse:
        rows.reverse()
    return rows[: request.top]


def sort_rows(rows: list[dict], key: str, reverse: bool) -> list[dict]:
    """By a column, or by a test metric best first (which way is better: as the runs' experiments declare it,
    scopelab.experiments); runs without it go last."""
    if key in SORT_COLUMNS:
        return sorted(rows, key=SORT_COLUMNS[key], reverse=reverse)
    known = declared_names(row["experiment"] for row in rows) | {name for row in rows for name in row["metrics"]}
    if key not in known:
        import difflib

        metrics = ", ".join(sorted(known))
        close = difflib.get_close_matches(key, [*SORT_COLUMNS, *sorted(known)], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise InputError(
            f"--sort {key}: no such column or test metric{hint} (columns: {', '.join(SORT_COLUMNS)}; metrics: "
            f"{metrics})."
        )
    present = [row for row in rows if key in row["metrics"]]
    higher = {metric_of(row["experiment"], key).higher_is_better for row in present}
    if len(higher) > 1:
        raise InputError(
            f"--sort {key}: the runs' experiments disagree on which way {key} is better; choose runs of one "
            "experiment (e.g. --config)."
        )
    best_first = sorted(present, key=lambda row: row["metrics"][key], reverse=higher == {True})
    missing = [row for row in rows if key not in row["metrics"]]
    return (best_first[::-1] if reverse else best_first) + missing


def _run_row(run: Run, short_id: str) -> dict:
    metrics = run.metrics
    status, reason = run.status, run.reason
    try:
        steps = steps_reached(run.directory, run.record.steps_total if run.record else {})
    except RecordError as error:  # the newest ckpt/state-*.json, naming its bad field
        steps, status, reason = None, "broken", str(error)
    headline = headline_of(run.experiment, metrics)
    record = run.record
    annotations = run.annotations
    return {
        "run_id": run.run_id,
        "short_id": short_id,
        "config": run.config_name,
        "experiment": run.experiment,
        "overrides": run.overrides,
        "status": status,
        "reason": reason,
        "steps": steps,
        "total_steps": total_updates(record.steps_total) if record else None,
        "metric": headline,
        "value": metrics.get(headline) if headline else None,
        "metrics": metrics,
        "wall_seconds": record.wall_seconds if record else None,
        "started_at": record.started_at if record else None,
        "sweep": run.sweep,
        "tags": annotations.tags,
        "note": annotations.note,
    }


def sweep_rows(runs_dir: Path) -> list[dict]:
    """One row per sweep, newest first: what `list --sweeps` shows (an unreadable sweep.json says so)."""
    rows = []
    for directory in sweep_dirs(runs_dir):
        try:
            record = directory.read_sweep()
        except (OSError, ValueError) as error:
            rows.append({"sweep_id": directory.run_id, "config": "?", "grid": {}, "seeds": None,
                         "status": "broken", "members": {}, "created_at": None, "reason": str(error)})
            continue
        row = _sweep_row(record)
        if record.status == "running" and not is_owned(directory.path):
            row["status"] = "stale"  # its driver is gone (scopelab.ownership); `sweep --resume` finishes it
        rows.append(row)
    return rows


def _sweep_row(record: SweepRecord) -> dict:
    return {
        "sweep_id": record.sweep_id,
        "config": record.config_name,
        "grid": record.grid,
        "seeds": record.seeds,
        "status": record.status,
        "members": record.member_counts(),
        "created_at": record.created_at,
    }


def sweeps_report(runs_dir: Path, fmt: str) -> str:
    rows = sweep_rows(runs_dir)
    if fmt == "json":
        return strict_json({"sweeps": rows})
    if fmt == "csv":
        return to_csv(Table.of_records([_csv_sweep_row(row) for row in rows], SWEEP_COLUMNS))
    if not rows:
        return f"sweeps: none yet in {runs_dir}/"
    cells = [
        [row["sweep_id"], row["config"], _grid_text(row), row["status"], _counts_text(row["members"]),
         _when(row["created_at"])]
        for row in rows
    ]
    table = Table(f"sweeps in {runs_dir}/ (newest first)", ["sweep", "config", "grid", "status", "members", "created"],
                  cells, give=(2, 4, 1, 5), drop=(5, 1))  # the sweep id holds its start and config already
    return to_text(table)


def _csv_sweep_row(row: dict) -> dict:
    return {**row, "grid": _grid_text(row), "seeds": " ".join(map(str, row["seeds"] or [])),
            "members": _counts_text(row["members"])}


def _grid_text(row: dict) -> str:
    """train.learning_rate=0.03,0.1 x 3 seeds"""
    parts = [f"{key}={','.join(values)}" for key, values in row["grid"].items()]
    if row["seeds"]:
        parts.append(f"{len(row['seeds'])} seeds")
    return " x ".join(parts)


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))


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
        if not rows:
            return f"configs: none named {request.config}"
        table = Table(
            f"configs: in {request.configs_dir}/ and built in (scopelab run NAME)",
            ["name", "experiment", "source", "description"],
            [[row["name"], row["experiment"], row["source"], row["description"]] for row in rows],
            give=(3, 2),
        )
        return to_text(table)
    where = request.runs_dir / TRASH_DIR if request.trash else request.runs_dir
    if not rows:
        filtered = request.config or request.status or request.tag or request.sweep
        return f"runs: none {'match' if filtered else 'yet'} in {where}/"
    order = f"by {request.sort}" if request.sort else "newest first"
    columns = ["run", "config", "overrides", "status", "steps", "metric", "wall", "started", "tags", "note", "why"]
    cells = [_run_cells(row) for row in rows]
    # Columns that only some runs fill (overrides, tags, note, why) are left out when no run does.
    keep = [index for index, column in enumerate(columns) if column not in OPTIONAL or any(row[index] for row in cells)]
    table = Table(
        f"runs in {where}/ ({order})",
        [columns[index] for index in keep],
        [[row[index] for index in keep] for row in cells],
        right={keep.index(columns.index(column)) for column in ("steps", "wall")},
        give=_positions(GIVE, columns, keep),
        drop=_positions(DROP, columns, keep),
    )
    return to_text(table)


OPTIONAL = ("overrides", "tags", "note", "why")
# On a narrow terminal these columns are left out (in this order) rather than shorten the others; then
# these are shortened, the first first. The run's short id, status, steps, wall and start are never cut.
DROP = ("note", "tags", "overrides", "started")
GIVE = ("why", "note", "tags", "overrides", "config", "metric")


def _positions(names: tuple[str, ...], columns: list[str], keep: list[int]) -> tuple[int, ...]:
    """Where the named columns are among those kept."""
    return tuple(keep.index(columns.index(name)) for name in names if columns.index(name) in keep)


def _run_cells(row: dict) -> list[str]:
    metric = ""
    if row["metric"]:
        declared = metric_of(row["experiment"], row["metric"])
        metric = f"{declared.short} {fixed(row['value'], declared.decimals)}"
    return [
        row["short_id"],
        row["config"],
        _clip(overrides_text(row["overrides"]), 40),
        row["status"],
        steps_text(row["steps"], row["total_steps"]),
        metric,
        duration(row["wall_seconds"]),
        _when(row["started_at"]),
        ",".join(row["tags"]),
        _clip(row["note"], 40),
        _clip(row["reason"], 60),
    ]


def overrides_text(overrides: dict) -> str:
    """train.learning_rate=0.1 train.seed=2, as --set would take them."""
    return " ".join(f"{key}={yaml_scalar(value)}" for key, value in overrides.items())


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())  # a note may hold line breaks; a table cell may not
    return text if len(text) <= width else text[: width - 3] + "..."


def _csv_run_row(row: dict) -> dict:
    return {**row, "overrides": overrides_text(row["overrides"]), "tags": ",".join(row["tags"])}


def total_updates(steps_total: dict[str, int]) -> int | None:
    """Steps 0..N of each network: N + 1 updates each (None for a record that does not say)."""
    return sum(steps + 1 for steps in steps_total.values()) if steps_total else None


def steps_text(steps: int | None, total: int | None) -> str:
    """Updates done (at the latest checkpoint) of the run's total: 4000/10001."""
    return f"{'?' if steps is None else steps}/{'?' if total is None else total}"


def duration(seconds: Any) -> str:
    if not is_number(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _when(stamp: Any) -> str:
    """2026-11-27T10:15:00+00:00 -> 2026-11-27 10:15 (in the zone recorded: UTC since format version 2)."""
    return f"{stamp[:10]} {stamp[11:16]}" if isinstance(stamp, str) and len(stamp) >= 16 else ""

