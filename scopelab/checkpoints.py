"""Checkpoints that recover: the last two are kept, each with its own state file, and a resume takes the
newest one that is complete, saying so when it had to pass over a damaged one. No TensorFlow here: the
choice is made, and refused with one line, before a resume touches the run's record.

ckpt/
    state-<position>.json                       where training stood, the config's hash, the variables' name
    model-<position>.index, .data-00000-of-00001 TensorFlow's variables (with the optimizer's slots)
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scopelab.dotted import flatten
from scopelab.errors import InputError
from scopelab.runs import CONFIG_FILE, LOG_FILE, CheckpointState, RunDir, saved_states
from scopelab.runs.directory import METRICS_FILE, STATE_PATTERN, SUMMARY_FILE, temporary_target
from scopelab.runs.schema import RecordError, check_writable, parse
from scopelab.safe_read import RECORD_LIMIT, read_json

KEEP = 2
STATE_KEYS = ("phase", "step", "rows", "lines", "test_metrics", "checkpoint")
# Only what scopelab (or TensorFlow for it) writes is ever deleted, matched by its whole name: a user's
# loss_temperature.png or .notes.tmp beside them is not. TensorFlow saves model-<position>.index and
# .data-00000-of-00001 through model-<position>_temp/ and <file>.tempstate<number> files.
VARIABLES_FILE = re.compile(r"^(?P<name>model-\d+)\.(index|data-\d{5}-of-\d{5})$")
TF_TEMPORARY = re.compile(r"^model-\d+(_temp|\.(index|data-\d{5}-of-\d{5})\.tempstate\d+)$")
# The files the run's owner writes with RunDir.write_text (annotations.json is the user's, written by `tag`).
OWNER_FILES = (SUMMARY_FILE, METRICS_FILE, CONFIG_FILE, LOG_FILE)


class CheckpointProblem(Exception):
    """Why one checkpoint cannot be used; the message completes "<its state file> ..."."""


def config_hash(config_text: str) -> str:
    """The hash of the resolved config (config.yaml as written at the run's start)."""
    return hashlib.sha256(config_text.encode()).hexdigest()


def state_name(position: int) -> str:
    return f"state-{position}.json"


def read_state(run_dir: RunDir, path: Path) -> dict[str, Any]:
    """A state whose variables are all on disk; raises CheckpointProblem saying what is wrong."""
    try:
        state = read_json(path, RECORD_LIMIT)
        name = parse(CheckpointState, state, path.name).checkpoint  # every field checked
    except OSError as error:
        raise CheckpointProblem(f"cannot be read ({error.strerror})") from None
    except RecordError as error:
        raise CheckpointProblem(f"is unusable ({error})") from None
    except ValueError as error:
        raise CheckpointProblem(f"is not valid JSON, truncated or damaged ({error})") from None
    for suffix in (".index", ".data-00000-of-00001"):
        variables = run_dir.ckpt_dir / f"{name}{suffix}"
        if not variables.is_file() or variables.stat().st_size == 0:
            raise CheckpointProblem(f"names variables {variables.name} that are missing or empty")
    return state


def choose(run_dir: RunDir, warn: Callable[[str], None]) -> dict[str, Any] | None:
    """The newest usable state (None when the run never checkpointed); `warn` hears of each one passed
    over. Raises InputError when there are checkpoints and none is usable."""
    problems = []
    for path in saved_states(run_dir):
        try:
            state = read_state(run_dir, path)
        except CheckpointProblem as problem:
            problems.append(f"{path} {problem}")
            continue
        for problem in problems:
            warn(f"note: {problem}; resuming from the previous checkpoint, {path.name}.")
        return state
    if problems:
        raise InputError(
            f"run {run_dir.run_id}: {problems[0]}, and no earlier checkpoint is usable; "
            f"start it over in place with: scopelab run --resume {run_dir.run_id} --restart"
        )
    return None


def check_config(run_dir: RunDir, state: dict[str, Any], config: dict[str, Any], config_text: str) -> None:
    """Refuse to resume from a checkpoint trained with another config than config.yaml now holds."""
    recorded = state.get("config_hash")
    if recorded is None or recorded == config_hash(config_text):
        return  # a legacy checkpoint has no hash to compare
    before, after = flatten(state.get("config") or {}), flatten(config)
    keys = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
    raise InputError(
        f"run {run_dir.run_id}: its config.yaml was edited after its checkpoint was made "
        f"({shown or 'its text'} differ); undo the edit, or start over in place with --restart."
    )


def write_state(run_dir: RunDir, position: int, state: dict[str, Any]) -> None:
    """RecordError, and nothing written, for a state that `read_state` would refuse."""
    check_writable(CheckpointState, state, state_name(position))
    run_dir.write_text(f"ckpt/{state_name(position)}", json.dumps(state, indent=1))


def prune(run_dir: RunDir) -> None:
    """Keep the newest KEEP complete checkpoints; remove older ones and what killed writers left behind
    (only the run's owner calls this, so no temporary file here belongs to a live writer)."""
    kept: set[str] = set()
    for path in saved_states(run_dir):
        if len(kept) < KEEP:
            try:
                kept.add(read_state(run_dir, path)["checkpoint"])
                continue
            except CheckpointProblem:
                pass
        path.unlink(missing_ok=True)
    for path in _entries(run_dir.ckpt_dir):
        match = VARIABLES_FILE.match(path.name)
        if match and match.group("name") not in kept:
            _remove(path)
    remove_temporaries(run_dir)


def remove_all(run_dir: RunDir) -> None:
    """Every checkpoint (for a run started over), by name; ckpt/ itself stays."""
    for path in saved_states(run_dir):
        path.unlink(missing_ok=True)
    for path in _entries(run_dir.ckpt_dir):
        if VARIABLES_FILE.match(path.name):
            _remove(path)
    remove_temporaries(run_dir)


def remove_temporaries(run_dir: RunDir) -> None:
    """What a killed writer left: write_text's temporaries of the owner's files, TensorFlow's of a save."""
    for path in _entries(run_dir.path):
        if temporary_target(path.name) in OWNER_FILES:
            _remove(path)
    for path in _entries(run_dir.ckpt_dir):
        target = temporary_target(path.name)
        if (target is not None and STATE_PATTERN.match(target)) or TF_TEMPORARY.match(path.name):
            _remove(path)


def _entries(directory: Path) -> list[Path]:
    """The entries of a real directory; none of a symlink (it would lead out of the run) or a missing one."""
    try:
        if not stat.S_ISDIR(directory.lstat().st_mode):
            return []
        return list(directory.iterdir())
    except FileNotFoundError:
        return []


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
