"""Run directories read back into records for `list` and `compare`: the summary, a status that also says
when a run is stale (its process is gone) or broken (no readable summary), and the resolved config.

Nothing here imports TensorFlow: `list` has to answer in well under a second for a thousand runs.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from scopelab.errors import InputError
from scopelab.runs import RunDir, run_dirs

RUN_STATUSES = ("running", "completed", "failed", "interrupted", "diverged")
LIST_STATUSES = RUN_STATUSES + ("stale", "broken")
SEED_KEY = "train.seed"


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
        return {key: value for key, value in metrics.items() if is_number(value)}

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
    if summary["status"] == "running" and process_gone(summary):
        return RunRecord(run_dir, summary, "stale", f"process {summary['pid']} on {summary['host']} is gone")
    return RunRecord(run_dir, summary, summary["status"], str(summary.get("error") or ""))


def process_gone(summary: dict) -> bool:
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


def is_number(value: Any) -> bool:
    """A finite int or float: not a bool (JSON's true), nor the NaN a diverged run records."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
