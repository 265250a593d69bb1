"""The one place that turns what a user typed into runs and sweeps: a full id, a unique prefix of one, or
(where a command takes it) a config name, with one wording for every error.

Only plain names are taken: never a path outside the runs directory.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path

from scopelab.errors import InputError
from scopelab.runs.directory import RunDir, is_run, run_dirs, sweep_dirs, sweeps_dir
from scopelab.runs.reading import Run, read_run, read_runs

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # also what a config name may be (scopelab.config)
SHOWN_MATCHES = 5  # an ambiguous prefix names this many of its matches


def resolve_run(runs_dir: Path, reference: str, configs: list[str] | None = None) -> RunDir:
    """A run by full id or unique prefix. `configs`: the config names the reference could also have been
    (it was none of them); a reference that matches nothing then says so, and suggests close names."""
    _check_id(reference, "run")
    if not runs_dir.is_dir():
        run_dirs(runs_dir)  # a file in the way says so
        raise InputError(f"{runs_dir}: no runs directory, so no run '{reference}'.")
    exact = runs_dir / reference
    if is_run(exact):
        return RunDir(exact)
    runs = run_dirs(runs_dir)
    if configs is None or any(run.run_id.startswith(reference) for run in runs):
        return _unique("run", runs, reference, runs_dir)
    close = difflib.get_close_matches(reference, sorted(configs) + [run.run_id for run in runs], n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(candidate) for candidate in close)}?)" if close else ""
    raise InputError(f"no run or config '{reference}' in {runs_dir}{hint}.")


def resolve_sweep(runs_dir: Path, reference: str) -> RunDir:
    """A sweep by full id or unique prefix, under <runs-dir>/sweeps/."""
    _check_id(reference, "sweep")
    return _unique("sweep", sweep_dirs(runs_dir), reference, sweeps_dir(runs_dir))


def resolve_runs(
    runs_dir: Path, reference: str, runs: list[Run], of_config: Callable[[list[Run]], list[Run]]
) -> list[Run]:
    """A run id, else a config name, else a unique run id prefix, among `runs` (read_runs of runs_dir). For
    a config name, `of_config` chooses among its readable runs (newest first): the commands differ in that."""
    by_id = {run.run_id: run for run in runs}
    if reference in by_id:
        return [by_id[reference]]
    configs = {run.config_name for run in runs if run.record}
    if reference in configs:
        return of_config([run for run in runs if run.record and run.config_name == reference])
    return [by_id[resolve_run(runs_dir, reference, sorted(configs)).run_id]]


def find_run(runs_dir: Path, reference: str) -> Run:
    """One run, read whole: by id, else by config name (its latest run), else by unique id prefix."""
    if not RUN_ID_PATTERN.match(reference) or is_run(runs_dir / reference):
        return read_run(resolve_run(runs_dir, reference))  # no need to read every run
    (found,) = resolve_runs(runs_dir, reference, read_runs(runs_dir), lambda named: named[:1])
    return read_run(found.directory)


def _check_id(reference: str, kind: str) -> None:
    if not RUN_ID_PATTERN.match(reference):
        raise InputError(f"'{reference}' is not a {kind} id (letters, digits, '.', '_' and '-' only).")


def _unique(kind: str, candidates: list[RunDir], reference: str, where: Path) -> RunDir:
    """The candidate whose id is the reference, else the one it is a prefix of."""
    matches = [candidate for candidate in candidates if candidate.run_id.startswith(reference)]
    exact = [candidate for candidate in matches if candidate.run_id == reference]
    if exact:
        return exact[0]
    if not matches:
        raise InputError(f"no {kind} '{reference}' in {where}.")
    if len(matches) > 1:
        names = ", ".join(match.run_id for match in matches[:SHOWN_MATCHES])
        more = len(matches) - SHOWN_MATCHES
        names += f" and {more} more" if more > 0 else ""
        raise InputError(f"{kind} '{reference}' is ambiguous in {where}: {len(matches)} {kind}s match: {names}.")
    return matches[0]
