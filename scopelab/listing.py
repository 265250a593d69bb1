"""`scopelab list`: the configs on offer and the runs made, newest first, as a table, json or csv."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scopelab.errors import InputError
from scopelab.records import RunRecord, is_number, last_steps, read_records
from scopelab.report import Block, csv_text, fixed, text_block

# The one number `list` shows per run, best first: what the article reports for each experiment.
HEADLINE_METRICS = ("test_loss", "acc_averaged", "acc_net2", "acc_net1")
HEADLINE_LABELS = {
    "test_loss": "test loss",
    "acc_averaged": "acc averaged",
    "acc_net2": "acc net 2",
    "acc_net1": "acc net 1",
}
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
            return csv_text([_csv_run_row(row) for row in sections["runs"]], RUN_COLUMNS)
        return csv_text(sections["configs"], CONFIG_COLUMNS)
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
        return "\n".join(text_block(table))
    if not rows:
        filtered = request.config or request.status
        return f"runs: none {'match' if filtered else 'yet'} in {request.runs_dir}/"
    table = Block(
        f"runs in {request.runs_dir}/ (newest first)",
        ["run", "config", "status", "steps", "metric", "wall", "started", "note"],
        [_run_cells(row) for row in rows],
        right={3, 5},
    )
    return "\n".join(text_block(table))


def _run_cells(row: dict) -> list[str]:
    metric = f"{HEADLINE_LABELS[row['metric']]} {fixed(row['value'], row['metric'])}" if row["metric"] else ""
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
    if not is_number(seconds):
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
