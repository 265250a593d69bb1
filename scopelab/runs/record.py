"""The records a run directory holds, as types: `summary.json` (RunRecord, written by the training process),
`annotations.json` (Annotations, written only by `scopelab tag` and `note`) and a sweep's `sweep.json`
(SweepRecord). Only this module knows their keys; everything else reads and writes these types.

Format versions: files written by scopelab 0.1 have no `format_version` and count as version 1; they
are read (and rewritten on resume) as version 2. A file from a newer scopelab is refused, not guessed at.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any

FORMAT_VERSION = 2
RUN_STATUSES = ("running", "completed", "failed", "interrupted", "diverged")
SEED_KEY = "train.seed"


class RecordError(ValueError):
    """A record file that is not one this version can read; the message says why."""


def utc_now() -> str:
    """ISO 8601 in UTC with the zone, e.g. 2026-11-27T10:15:00+00:00."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_number(value: Any) -> bool:
    """A finite int or float: not a bool (JSON's true), nor the NaN a diverged run records."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Provenance:
    """What produced a run: the code, the command, the software and the machine."""

    command: str = ""  # re-pasteable (shlex.join)
    resume_commands: list[str] = field(default_factory=list)  # one per `--resume`, in order
    git: dict | None = None  # commit, branch, dirty of the repository holding the config file; None outside one
    python: str = ""
    scopelab: str = ""
    packages: dict[str, str] = field(default_factory=dict)  # distribution name -> version
    tensorflow_build: dict[str, Any] = field(default_factory=dict)  # tf.sysconfig.get_build_info(): CUDA, cuDNN
    machine: dict[str, Any] = field(default_factory=dict)  # cpu, cores, memory_bytes, gpus, system
    env: dict[str, str] = field(default_factory=dict)  # the allowlist of scopelab.provenance, never a secret


@dataclass
class Variable:
    """A trainable variable of the run's graph and the name scopes that compute with it."""

    name: str
    shape: list[int] = field(default_factory=list)
    parameters: int = 0
    scope: str = ""
    used_by: list[str] = field(default_factory=list)
    shared: bool = False


@dataclass
class RunRecord:
    """summary.json: one run as its training process records it (and rewrites it, at start, resume and end)."""

    run_id: str
    config_name: str
    experiment: str
    status: str  # one of RUN_STATUSES
    config_file: str | None = None  # the file the config came from (None: unknown)
    description: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)  # key -> resolved value, for --set and the grid point
    seed: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # test metrics; NaN when diverged
    steps_total: dict[str, int] = field(default_factory=dict)  # network -> last step
    error: str | None = None  # why it failed, diverged or was interrupted
    started_at: str | None = None
    ended_at: str | None = None
    wall_seconds: float = 0.0  # summed over the run and its resumes
    steps_per_second: float | None = None
    resumed: int = 0
    started_from: dict[str, Any] = field(default_factory=dict)  # network and step where the last process began
    steps_run: int | None = None  # steps the last process trained (a resumed run: only the rest)
    restarted: int = 0  # times `run --resume RUN --restart` started it over in place
    device: str | None = None  # cpu | gpu, as chosen
    device_requested: str = "auto"
    devices: list[str] = field(default_factory=list)  # what the session saw
    threads: int = 0
    pid: int | None = None
    host: str | None = None
    data: str = ""
    data_checksum: str | None = None  # scopelab.data.data_checksum of what it trained on; None: an older run
    variables: list[Variable] = field(default_factory=list)
    param_count: int = 0
    sweep: str | None = None
    sweep_member: int | None = None
    grid_point: dict[str, Any] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept as found

    @property
    def test_metrics(self) -> dict[str, float]:
        """The metrics that are numbers (not the NaN of a diverged run)."""
        return {name: value for name, value in self.metrics.items() if is_number(value)}

    def to_json(self) -> dict:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Any, variables: bool = True) -> RunRecord:
        """variables=False leaves the variables out: `list` reads a thousand records and shows none of them."""
        data = _versioned(data, "summary.json")
        if data.get("status") not in RUN_STATUSES:
            raise RecordError("summary.json has no valid status")
        if not isinstance(data.get("run_id"), str):
            raise RecordError("summary.json has no run_id")
        if "format_version" not in data:
            data = _upgrade_run_v1(data)
        values, extra = _fields(cls, data, {"provenance", "variables"})
        values["provenance"] = _dataclass_from(Provenance, data.get("provenance"))
        listed = data.get("variables")
        if variables and isinstance(listed, list):
            values["variables"] = [
                _dataclass_from(Variable, item) for item in listed if isinstance(item, dict) and "name" in item
            ]
        return cls(**values, extra=extra)


def _upgrade_run_v1(data: dict) -> dict:
    """scopelab 0.1 kept the versions and the command at the top level, and no overrides."""
    data = dict(data)
    versions = data.pop("versions", None)
    versions = versions if isinstance(versions, dict) else {}
    packages = {"tensorflow": versions["tensorflow"]} if isinstance(versions.get("tensorflow"), str) else {}
    data["provenance"] = {
        "command": data.pop("command", ""),
        "python": versions.get("python", ""),
        "scopelab": versions.get("scopelab", ""),
        "packages": packages,
    }
    point = data.get("grid_point")
    data.setdefault("overrides", dict(point) if isinstance(point, dict) else {})
    return data


@dataclass
class Annotations:
    """annotations.json: the user's tags and note. Only `scopelab tag` and `note` write it, never the run."""

    tags: list[str] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict:
        return {"format_version": 1, "tags": self.tags, "note": self.note}

    @classmethod
    def from_json(cls, data: Any) -> Annotations:
        if not isinstance(data, dict):
            raise RecordError("annotations.json is not a mapping")
        tags = data.get("tags")
        note = data.get("note")
        return cls(
            [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else [],
            note if isinstance(note, str) else "",
        )


@dataclass
class SweepMember:
    """One point of a sweep's grid at one seed, and the run that made it."""

    index: int
    grid_point: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    overrides: list[str] = field(default_factory=list)  # KEY=VALUE, the grid point and the seed
    run_id: str | None = None
    status: str = "pending"  # pending, or the status of its run
    error: str | None = None
    previous_runs: list[str] = field(default_factory=list)  # runs it replaced (a diverged one, say)
    removed: bool = False  # its run is in the trash (`scopelab rm`): compare and resume leave it out

    @property
    def label(self) -> str:
        parts = [f"{key}={value}" for key, value in self.grid_point.items()]
        return " ".join([*parts, f"seed={self.seed}"])


@dataclass
class SweepRecord:
    """sweep.json: the sweep as defined (command, grid, seeds) and each member's latest run."""

    sweep_id: str
    config_name: str
    config_file: str | None = None
    overrides: list[str] = field(default_factory=list)  # --set, applied to every member
    grid: dict[str, list[str]] = field(default_factory=dict)
    seeds: list[int] | None = None
    command: str = ""
    resume_commands: list[str] = field(default_factory=list)
    created_at: str | None = None
    ended_at: str | None = None
    status: str = "pending"
    executor: str = "local"
    jobs: int = 1
    resumed: int = 0
    pid: int | None = None  # of the process running the sweep, while it runs
    host: str | None = None
    members: list[SweepMember] = field(default_factory=list)
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def member_counts(self) -> dict[str, int]:
        """Members by status ("removed" for one whose run is in the trash)."""
        counts: dict[str, int] = {}
        for member in self.members:
            status = "removed" if member.removed else member.status
            counts[status] = counts.get(status, 0) + 1
        return counts

    def to_json(self) -> dict:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Any) -> SweepRecord:
        data = _versioned(data, "sweep.json")
        if not isinstance(data.get("sweep_id"), str) or not isinstance(data.get("members"), list):
            raise RecordError("sweep.json has no sweep_id or members")
        if "format_version" not in data:
            data = dict(data)
            command = data.pop("resume_command", None)  # 0.1 kept only the latest
            data["resume_commands"] = [command] if isinstance(command, str) else []
        values, extra = _fields(cls, data, {"members"})
        members = []
        for member in data["members"]:
            if not isinstance(member, dict) or not isinstance(member.get("index"), int):
                raise RecordError("sweep.json has a member without an index")
            members.append(_dataclass_from(SweepMember, member))
        return cls(**values, members=members, extra=extra)


def _versioned(data: Any, name: str) -> dict:
    if not isinstance(data, dict):
        raise RecordError(f"{name} is not a mapping")
    version = data.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RecordError(f"{name} has format version {version}; this scopelab reads up to {FORMAT_VERSION}")
    return data


def _fields(cls: type, data: dict, skip: set[str]) -> tuple[dict, dict]:
    """The dataclass's fields found in data (with the right JSON type; else the default), and the rest."""
    schema = _schema(cls)
    values = {}
    extra = {}
    for name, value in data.items():
        spec = schema.get(name)
        if spec is None:
            extra[name] = value
            continue
        kind, nullable, numeric = spec
        if value is None:
            fits = nullable
        else:  # bool is an int to isinstance, but JSON's true is no number
            fits = isinstance(value, kind) and not (numeric and value.__class__ is bool)
        if fits and name not in skip:
            values[name] = value
    values.pop("format_version", None)  # read as found, written as the current version
    return values, extra


def _dataclass_from(cls: type, data: Any) -> Any:
    values, _ = _fields(cls, data if isinstance(data, dict) else {}, set())
    return cls(**values)


KINDS = {"dict": dict, "Provenance": dict, "list": list, "str": str, "float": (int, float), "int": int, "bool": bool}


@cache
def _schema(cls: type) -> dict[str, tuple[Any, bool, bool]]:
    """For each field: the JSON type that suits it, whether null does, whether it is a number. From the field's
    declared type (a string under postponed annotations), once per class: `list` reads a thousand records."""
    schema = {}
    for item in dataclasses.fields(cls):
        if item.name != "extra":
            hint = str(item.type)
            kind = next((kind for prefix, kind in KINDS.items() if hint.startswith(prefix)), object)
            schema[item.name] = (kind, "None" in hint, kind in (int, (int, float)))
    return schema


def _to_json(record: Any) -> dict:
    data = {"format_version": FORMAT_VERSION}
    for item in dataclasses.fields(record):
        if item.name not in ("extra", "format_version"):
            value = getattr(record, item.name)
            data[item.name] = (
                [dataclasses.asdict(element) for element in value]
                if item.name in ("members", "variables")
                else dataclasses.asdict(value)
                if dataclasses.is_dataclass(value)
                else value
            )
    return {**record.extra, **data}
