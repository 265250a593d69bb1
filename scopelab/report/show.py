"""`scopelab show`: one run at a glance (text), or its whole record as one JSON object."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scopelab.experiments import metric_of
from scopelab.report import fixed
from scopelab.report.listing import duration, overrides_text, steps_text, total_updates
from scopelab.report.tables import Table, strict_json, to_text
from scopelab.runs import Provenance, RecordError, Run, find_run, is_number, last_steps, steps_reached


def show_report(runs_dir: Path, reference: str, fmt: str) -> str:
    run = find_run(runs_dir, reference)
    return strict_json(show_json(run)) if fmt == "json" else show_text(run, runs_dir)


def show_json(run: Run) -> dict:
    """The record as stored, plus what `list` works out (status, reason, steps), the annotations and the
    config's file under `config`."""
    record = run.record.to_json() if run.record else {}
    annotations = run.annotations
    steps, steps_problem = _logged_steps(run)
    return {
        **record,
        "id": run.run_id,
        "status": run.status,
        "reason": run.reason,
        "config": {"name": run.config_name, "file": run.record.config_file if run.record else None},
        "overrides": run.overrides,
        "test_metrics": run.metrics,
        "steps": steps,
        "steps_reason": steps_problem,  # why steps is null
        "tags": annotations.tags,
        "note": annotations.note,
        "provenance": _provenance(run.record.provenance) if run.record else None,
        "path": str(run.directory.path),
    }


def _provenance(provenance: Provenance) -> dict:
    """As recorded, but only the environment variables a run records now (older runs recorded every TF_*)."""
    from scopelab.provenance import recordable

    return {**dataclasses.asdict(provenance), "env": recordable(provenance.env)}


def show_text(run: Run, runs_dir: Path) -> str:
    record = run.record
    lines = [("run", run.run_id)]
    if record is None:
        lines.append(("status", f"{run.status}: {run.reason}"))
        return _aligned(lines)
    source = f" ({record.config_file})" if record.config_file else ""
    lines += [
        ("config", f"{record.config_name}{source}, experiment {record.experiment}"),
        ("overrides", overrides_text(record.overrides) or "none"),
        ("status", f"{run.status}: {run.reason}" if run.reason else run.status),
        ("steps", _steps(run)),
    ]
    for name, value in run.metrics.items():
        metric = metric_of(record.experiment, name)
        lines.append((metric.short if metric.short.startswith("test") else f"test {metric.short}",
                      fixed(value, metric.decimals)))
    speed = f", {record.steps_per_second} steps/s" if record.steps_per_second else ""
    resumed = f", resumed {record.resumed}x" if record.resumed else ""
    lines += [
        ("time", f"{record.started_at or '?'} to {record.ended_at or '...'} ({duration(record.wall_seconds)}{speed}"
                 f"{resumed})"),
        ("device", f"{record.device or '?'} (asked: {record.device_requested}), {record.threads or 'all'} threads"),
        ("host", f"{record.host or '?'} pid {record.pid or '?'}"),
        ("data", record.data or "?"),
    ]
    if record.sweep:
        lines.append(("sweep", f"{record.sweep} member {record.sweep_member}"))
    annotations = run.annotations
    lines += [("tags", ", ".join(annotations.tags) or "none"), ("note", annotations.note or "none")]
    lines += _provenance_lines(run)
    parts = [_aligned(lines)]
    if record.variables:
        parts.append(_variables(run))
    return "\n\n".join(parts)


def _logged_steps(run: Run) -> tuple[dict[str, int] | None, str | None]:
    """The last logged step of each network, or None and why not."""
    try:
        return last_steps(run.directory), None
    except OSError as error:
        return None, f"cannot read {run.directory.metrics_file.name} ({error.strerror})"
    except RecordError as error:  # names the line and the field
        return None, str(error)
    except ValueError as error:  # not a regular file, too big, not UTF-8
        return None, f"{run.directory.metrics_file.name} is unusable ({error})"


def _steps(run: Run) -> str:
    """Updates done of the run's total, as `list` shows them (31/31), then the last step each network logged."""
    reached, problem = _logged_steps(run)
    if reached is None:
        return f"? ({problem})"
    total = run.record.steps_total if run.record else {}
    try:
        done = steps_text(steps_reached(run.directory, total), total_updates(total))
    except ValueError as error:  # a RecordError: a checkpoint state with a bad field, named
        return f"? ({error})"
    logged = ", ".join(f"{network} {step}" for network, step in reached.items())
    return f"{done} (last logged step: {logged})" if logged else f"{done} (none logged)"


def _provenance_lines(run: Run) -> list[tuple[str, str]]:
    provenance = run.record.provenance
    git = provenance.git
    git_text = (
        f"{git.get('commit') or 'no commit'} on {git.get('branch') or 'detached HEAD'}"
        + (", uncommitted changes" if git.get("dirty") else "")
        if git
        else "none (the config is not in a git repository)"
    )
    packages = ", ".join(f"{name} {version}" for name, version in provenance.packages.items())
    build = provenance.tensorflow_build
    cuda = f"CUDA {build.get('cuda_version')}, cuDNN {build.get('cudnn_version')}" if build.get("cuda_version") else ""
    # The machine's description is free-form (its record type says only: a mapping), so each part is made text.
    machine = provenance.machine
    memory, gpus = machine.get("memory_bytes"), machine.get("gpus")
    machine_text = ", ".join(
        str(part)
        for part in (
            machine.get("cpu"),
            f"{machine['cores']} cores" if machine.get("cores") else "",
            f"{memory / 2**30:.1f} GiB" if is_number(memory) and 0 < memory < 2**80 else "",
            ", ".join(map(str, gpus)) if isinstance(gpus, list) else "",
        )
        if part
    )
    lines = [("command", provenance.command or "?")]
    lines += [("resumed by", command) for command in provenance.resume_commands]
    lines += [
        ("git", git_text),
        ("python", f"{provenance.python or '?'}, scopelab {provenance.scopelab or '?'}"),
        ("packages", packages or "?"),
    ]
    if cuda:
        lines.append(("tf build", cuda))
    lines.append(("machine", machine_text or "?"))
    env = _provenance(provenance)["env"]
    lines.append(("env", " ".join(f"{name}={value}" for name, value in env.items()) or "none set"))
    return lines


def _variables(run: Run) -> str:
    rows = [
        [
            variable.name,
            "x".join(str(size) for size in variable.shape),
            f"{variable.parameters:,}",
            ", ".join(variable.used_by),
            "shared" if variable.shared else "",
        ]
        for variable in run.record.variables
    ]
    title = f"variables ({run.record.param_count:,} parameters)"
    return to_text(Table(title, ["name", "shape", "parameters", "used by", ""], rows, right={2}))


def _aligned(lines: list[tuple[str, str]]) -> str:
    """Label and value, the values lined up: a table without a header."""
    return to_text(Table("", [], [list(line) for line in lines]))
