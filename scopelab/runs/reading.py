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
from scopelab.runs.directory import ANNOTATIONS_FILE, SUMMARY_FILE, RunDir, run_dirs, saved_states, temporary_target
from scopelab.runs.record import RUN_STATUSES, SEED_KEY, Annotations, CheckpointState, RecordError, RunRecord
from scopelab.runs.schema import parse
from scopelab.safe_read import CONFIG_LIMIT, RECORD_LIMIT, UnsafeFile, load_yaml, read_json, read_text

LIST_STATUSES = RUN_STATUSES + ("stale", "broken")


@dataclass
class Run:
    """One run directory as read back. `status` is the record's, except "stale" (says running, but its
    process is gone) and "broken" (no readable record, so `record` is None; or a readable record beside
    unreadable annotations); `reason` says why."""

    directory: RunDir
    record: RunRecord | None
    status: str
    reason: str = ""
    annotations: Annotations = field(default_factory=Annotations)  # none when unreadable: the run is broken
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
    """The run's record and annotations, every field checked: a bad one makes the run broken, saying why."""
    try:
        record = run_dir.read_record(variables)
    except FileNotFoundError:
        # RunDir.write_text renames a finished temporary file into place; a leftover one means a killed write.
        interrupted = any(temporary_target(path.name) == SUMMARY_FILE for path in run_dir.path.iterdir())
        reason = f"{SUMMARY_FILE} write was interrupted" if interrupted else f"no {SUMMARY_FILE}"
        return Run(run_dir, None, "broken", reason)
    except (OSError, ValueError) as error:
        return Run(run_dir, None, "broken", unreadable(SUMMARY_FILE, error))
    try:
        annotations = run_dir.read_annotations()
    except (OSError, ValueError) as error:
        return Run(run_dir, record, "broken", unreadable(ANNOTATIONS_FILE, error))
    if record.status == "running" and not is_owned(run_dir.path):
        # Liveness is the run's lock (scopelab.ownership); the pid and host are only for the reason.
        where = f"process {record.pid} on {(record.host or '?')[:60]}"
        return Run(run_dir, record, "stale", f"{where} is gone (its lock is free)", annotations)
    return Run(run_dir, record, record.status, record.error or "", annotations)


def unreadable(file: str, error: OSError | ValueError) -> str:
    """Why a record file could not be used, naming it."""
    if isinstance(error, OSError):
        return f"cannot read {file} ({error.strerror})"
    if isinstance(error, RecordError):  # names the file and the field already
        return str(error)
    if isinstance(error, UnsafeFile):
        return f"{file} {error}"
    return f"{file} is not valid JSON ({error})"  # its syntax, or its encoding


def last_steps(run_dir: RunDir) -> dict[str, int]:
    """The last logged step of each network (none before the first is logged). Raises ValueError (a
    RecordError naming the line and field) or OSError when metrics.csv is unusable."""
    try:
        rows = run_dir.read_metrics()
    except FileNotFoundError:
        return {}
    return {row["network"]: row["step"] for row in rows}  # steps increase: read_metrics checks


def steps_reached(run_dir: RunDir, steps_total: dict[str, int]) -> int:
    """The updates done at the latest checkpoint (the newest ckpt/state-*.json), over all networks: 0 before
    the first checkpoint. A state from before `done` was recorded says only the network and the step within
    it: the networks before it count whole (steps 0..N each, from steps_total). Raises RecordError, naming
    the state file, when it is unusable."""
    states = saved_states(run_dir)
    if not states:
        return 0
    file = f"{states[0].parent.name}/{states[0].name}"
    try:
        state = parse(CheckpointState, read_json(states[0], RECORD_LIMIT), file)
    except (OSError, ValueError) as error:
        raise RecordError(unreadable(file, error)) from None
    if state.done is not None:
        return state.done
    earlier = list(steps_total.values())[: state.phase]
    if len(earlier) != state.phase:
        raise RecordError(f"{file}: field 'phase' is {state.phase}; the run has {len(steps_total)} networks")
    return sum(last + 1 for last in earlier) + state.step


def _read_yaml(path: Path, run_id: str) -> Any:
    import yaml

    try:
        return load_yaml(read_text(path, CONFIG_LIMIT))
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: UnsafeFile, UnicodeDecodeError
        raise InputError(f"run {run_id}: its config.yaml is missing or unreadable, so it cannot be compared.") from None
