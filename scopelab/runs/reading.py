"""Run directories read back for `list`, `show` and `compare`: the record, a status that also says when a
run is stale (its process is gone) or broken (no readable record), the user's annotations and the config.

Nothing here imports TensorFlow: `list` has to answer in well under a second for a thousand runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scopelab.dotted import flatten
from scopelab.errors import InputError
from scopelab.ownership import is_owned
from scopelab.runs.directory import SUMMARY_FILE, RunDir, run_dirs, saved_states, temporary_target
from scopelab.runs.record import RUN_STATUSES, SEED_KEY, Annotations, RecordError, RunRecord
from scopelab.safe_read import CONFIG_LIMIT, METRICS_LIMIT, RECORD_LIMIT, UnsafeFile, load_yaml, read_json, read_text

LIST_STATUSES = RUN_STATUSES + ("stale", "broken")


@dataclass
class Run:
    """One run directory as read back. `status` is the record's, except "stale" (says running, but its
    process is gone) and "broken" (no readable record, so `record` is None); `reason` says why."""

    directory: RunDir
    record: RunRecord | None
    status: str
    reason: str = ""
    _annotations: Annotations | None = field(default=None, repr=False)
    _config: dict | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.directory.run_id

    @property
    def config_name(self) -> str:
        """From the record; a broken run has none, so from the directory name (<date>-<time>-<config>)."""
        if self.record:
            return self.record.config_name
        parts = self.run_id.split("-", 2)
        return parts[2] if len(parts) == 3 else "?"

    @property
    def experiment(self) -> str:
        return self.record.experiment if self.record else "?"

    @property
    def metrics(self) -> dict[str, float]:
        return self.record.test_metrics if self.record else {}

    @property
    def sweep(self) -> str | None:
        return self.record.sweep if self.record else None

    @property
    def grid_point(self) -> dict:
        """The keys a sweep set for this run, without the seed (repeats of a point share a group)."""
        point = self.record.grid_point if self.record else {}
        return {key: value for key, value in point.items() if key != SEED_KEY}

    @property
    def overrides(self) -> dict[str, Any]:
        return self.record.overrides if self.record else {}

    @property
    def annotations(self) -> Annotations:
        """Tags and note (none when annotations.json is unreadable: a run must always list)."""
        if self._annotations is None:
            try:
                self._annotations = self.directory.read_annotations()
            except (OSError, ValueError):
                self._annotations = Annotations()
        return self._annotations

    def config(self) -> dict:
        """The resolved config.yaml as flat dotted keys (read once, only by compare)."""
        if self._config is None:
            self._config = flatten(_read_yaml(self.directory.config_file, self.run_id))
        return self._config


def read_runs(runs_dir: Path) -> list[Run]:
    """Every run in the runs directory, newest first, broken ones included; their records without the
    variables (`read_run` one run for those)."""
    return [read_run(run_dir, variables=False) for run_dir in run_dirs(runs_dir)]


def read_run(run_dir: RunDir, variables: bool = True) -> Run:
    try:
        record = run_dir.read_record(variables)
    except FileNotFoundError:
        # RunDir.write_text renames a finished temporary file into place; a leftover one means a killed write.
        interrupted = any(temporary_target(path.name) == SUMMARY_FILE for path in run_dir.path.iterdir())
        reason = f"{SUMMARY_FILE} write was interrupted" if interrupted else f"no {SUMMARY_FILE}"
        return Run(run_dir, None, "broken", reason)
    except OSError as error:
        return Run(run_dir, None, "broken", f"cannot read {SUMMARY_FILE} ({error.strerror})")
    except RecordError as error:
        return Run(run_dir, None, "broken", str(error))
    except UnsafeFile as error:
        return Run(run_dir, None, "broken", f"{SUMMARY_FILE} {error}")
    except ValueError as error:  # JSON syntax or encoding
        return Run(run_dir, None, "broken", f"{SUMMARY_FILE} is not valid JSON ({error})")
    if record.status == "running" and not is_owned(run_dir.path):
        # Liveness is the run's lock (scopelab.ownership); the pid and host are only for the reason.
        where = f"process {str(record.pid)[:20]} on {str(record.host)[:60]}"
        return Run(run_dir, record, "stale", f"{where} is gone (its lock is free)")
    return Run(run_dir, record, record.status, record.error or "")


def last_steps(run_dir: RunDir) -> dict[str, int] | None:
    """The last logged step of each network (None when metrics.csv is unreadable). Plain splitting, not the
    csv module: the file is ours, its fields never quoted, and this runs once per run in `list`."""
    steps: dict[str, int] = {}
    try:
        lines = read_text(run_dir.metrics_file, METRICS_LIMIT).splitlines()
        for line in lines[1:]:
            network, step = line.split(",", 2)[:2]
            steps[network] = max(steps.get(network, 0), int(step))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return steps


def steps_reached(run_dir: RunDir, steps_total: dict[str, int]) -> int | None:
    """The updates done at the latest checkpoint (the newest ckpt/state-*.json), over all networks: 0 before
    the first checkpoint, None when the state is unreadable. A state from before `done` was recorded says only
    the network and the step within it: the networks before it count whole (steps 0..N each, from steps_total)."""
    states = saved_states(run_dir)
    if not states:
        return 0
    try:
        state = read_json(states[0], RECORD_LIMIT)
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    done, phase, step = state.get("done"), state.get("phase"), state.get("step")
    if _count(done):
        return done
    earlier = list(steps_total.values())[:phase] if _count(phase) else []
    if _count(step) and len(earlier) == phase:
        return sum(last + 1 for last in earlier) + step
    return None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _read_yaml(path: Path, run_id: str) -> Any:
    import yaml

    try:
        return load_yaml(read_text(path, CONFIG_LIMIT))
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: UnsafeFile, UnicodeDecodeError
        raise InputError(f"run {run_id}: its config.yaml is missing or unreadable, so it cannot be compared.") from None
