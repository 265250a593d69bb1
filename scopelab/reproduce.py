"""`scopelab reproduce`: the article's four experiments, each run once per seed (or found already run), then
set beside the article's own figures (scopelab.report.article renders that).

With `--jobs 1` every run trains in this one process, so TensorFlow is imported once for the whole
reproduction; otherwise every run still to make, of every config and seed, goes to one pool of worker
processes (`--jobs auto` by default: as many as the cores allow) or to Ray, through the sweep executors.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from scopelab.config import Config, config_to_dict, load_config
from scopelab.config_source import builtin_path
from scopelab.data import data_checksum
from scopelab.errors import InputError, Interrupted, RunFailed
from scopelab.reproduce_request import ReproduceRequest, Target
from scopelab.runs import RunDir, run_dirs
from scopelab.sweep.grid import check_members

ARTICLE_CONFIGS = ("untied_ae", "tied_ae", "mlp_shared", "mlp_averaged")
QUICK_DIVISOR = 20  # --quick: this fraction of every network's steps (and of the logging interval)


def reproduce(request: ReproduceRequest, echo: Callable[[str], None]) -> str:
    """Run what is missing, then the article's tables and verdicts in the requested format."""
    from scopelab.report.article import load_figures, render

    figures = load_figures()
    targets = plan(request, echo)
    todo = [target for target in targets if target.run is None]
    reused = len(targets) - len(todo)
    if reused:
        echo(f"reproduce: {reused} of {len(targets)} runs found done in {request.runs_dir}/ (--rerun runs them again)")
    if todo:
        _train(todo, request, echo)
    return render(targets, figures, request, QUICK_DIVISOR if request.quick else 1)


def plan(request: ReproduceRequest, echo: Callable[[str], None] = lambda line: None) -> list[Target]:
    """Every config at every seed, each matched with a completed run of the identical resolved config trained
    on the identical data (its recorded data checksum); `echo` hears of runs passed over for their data."""
    configs = len(ARTICLE_CONFIGS)
    count = configs * request.seeds
    check_members(count, f"--seeds {request.seeds}: {count:,} runs ({configs} configs x {request.seeds:,} seeds)")
    targets = []
    for name in ARTICLE_CONFIGS:
        path = builtin_path(name)
        overrides = quick_overrides(load_config(path)) if request.quick else ()
        for seed in range(request.seeds):
            config = load_config(path, (*overrides, f"train.seed={seed}"))
            targets.append(Target(name, seed, overrides, config))
    if request.rerun:
        run_dirs(request.runs_dir)  # still refuse a runs directory that is a file
        return targets
    done = _completed_runs(request.runs_dir)
    checksums: dict[str | None, str] = {}  # data.path -> its checksum now (the article's configs share one)
    unchecked, other_data = [], []
    for target in targets:
        path = target.config.data.path
        if path not in checksums:
            checksums[path] = data_checksum(path)
        wanted = config_to_dict(target.config)
        same_config = [(run, checksum) for run, plain, checksum in done.get(target.name, []) if plain == wanted]
        target.run = next((run for run, checksum in same_config if checksum == checksums[path]), None)
        target.reused = target.run is not None
        if target.run is None:
            unchecked += [run.run_id for run, checksum in same_config if checksum is None]
            other_data += [run.run_id for run, checksum in same_config if checksum is not None]
    if other_data:
        echo(f"reproduce: not reused, trained on other data (their data checksum differs): {_ids(other_data)}")
    if unchecked:
        echo(f"reproduce: not reused, made by an older scopelab that recorded no data checksum, so what they "
             f"trained on cannot be checked: {_ids(unchecked)}")
    return targets


def _ids(run_ids: list[str]) -> str:
    shown = ", ".join(run_ids[:3])
    return shown if len(run_ids) <= 3 else f"{shown} and {len(run_ids) - 3} more"


def quick_overrides(config: Config) -> tuple[str, ...]:
    """`--set` options for one twentieth of each network's steps, logged as often relative to its length."""
    log_every = f"train.log_every={max(1, config.train.log_every // QUICK_DIVISOR)}"
    if config.experiment == "autoencoder":
        return (f"train.steps={max(1, config.train.steps // QUICK_DIVISOR)}", log_every)
    steps = [f"networks.{i}.steps={max(1, net.steps // QUICK_DIVISOR)}" for i, net in enumerate(config.networks)]
    return (*steps, log_every)


def _completed_runs(runs_dir: Path) -> dict[str, list[tuple[RunDir, dict, str | None]]]:
    """config name -> (run, resolved config, data checksum) of its completed runs, newest first. A run of an
    article config that cannot be read is an error: reproduce cannot tell whether it already holds a result."""
    found: dict[str, list[tuple[RunDir, dict, str | None]]] = {}
    for run in run_dirs(runs_dir):
        name = _config_name(run)
        if name is None:
            continue
        try:
            record = run.read_record()
        except (OSError, ValueError, TypeError):  # not JSON, not a run record, a required key missing
            record = None
        if record is None:
            raise InputError(
                f"run {run.run_id} in {runs_dir}/ is broken (its summary.json is missing or unreadable), so "
                f"reproduce cannot tell whether it holds a result of {name}; remove it, or pass --rerun."
            )
        if record.status != "completed":
            continue
        try:
            plain = config_to_dict(load_config(run.config_file))
        except InputError as error:
            raise InputError(f"run {run.run_id}: its config.yaml cannot be read back ({error}); remove it, "
                             "or pass --rerun.") from None
        found.setdefault(name, []).append((run, plain, record.data_checksum))
    return found


def _config_name(run: RunDir) -> str | None:
    """The article config a run directory (<date>-<time>-<config>[-<suffix>]) belongs to, if any."""
    parts = run.run_id.split("-", 2)
    tail = parts[2] if len(parts) == 3 else ""
    return next((name for name in ARTICLE_CONFIGS if tail == name or tail.startswith(f"{name}-")), None)


def _train(todo: list[Target], request: ReproduceRequest, echo: Callable[[str], None]) -> None:
    """The missing runs: here one after another, or all of them in one pool of workers (or on Ray)."""
    from scopelab.sweep.drive import check_executor
    from scopelab.sweep.jobs import choose

    check_executor(request)
    if request.executor == "ray":  # Ray schedules the runs on its CPUs
        _run_in_pool(todo, request, echo)
        return
    jobs = choose(request.jobs, len(todo), [target.config for target in todo], request.device, request.threads)
    if len(todo) > 1 and jobs.why:
        echo(f"jobs: {jobs.why}")
    if request.executor == "local" and jobs.at_once == 1:
        _run_here(todo, request, echo)
    else:
        _run_in_pool(todo, replace(request, jobs=jobs.at_once, threads=jobs.threads,
                                   last_round_threads=jobs.last_round_threads), echo)


def _run_here(todo: list[Target], request: ReproduceRequest, echo: Callable[[str], None]) -> None:
    """One after another in this process: TensorFlow is imported once, not once per run."""
    from scopelab.runner import RunRequest
    from scopelab.runner import run as run_experiment

    for index, target in enumerate(todo, 1):
        echo(f"[{index}/{len(todo)}] {target.name} seed {target.seed}: training")
        run_request = RunRequest(
            builtin_path(target.name),
            (*target.overrides, f"train.seed={target.seed}"),
            request.runs_dir,
            request.device,
            threads=request.threads,
            progress=request.progress,
        )
        target.run = run_experiment(run_request, echo=lambda line: None)
        echo(f"[{index}/{len(todo)}] {target.name} seed {target.seed}: {target.run.run_id}, "
             f"{target.run.read_record().wall_seconds} s")


def _run_in_pool(todo: list[Target], request: ReproduceRequest, echo: Callable[[str], None]) -> None:
    """Every missing run of every config and seed in one pool, --jobs at a time (or on Ray): one line per
    run as it ends. A run that does not complete fails the reproduction after the others have run."""
    from scopelab.signals import StopRequest
    from scopelab.sweep.drive import executor_for
    from scopelab.sweep.member import run_task

    tasks = [run_task(index, builtin_path(target.name), [*target.overrides, f"train.seed={target.seed}"], request)
             for index, target in enumerate(todo)]
    ended = iter(range(1, len(todo) + 1))
    failed: list[str] = []

    def record(result: dict) -> None:
        target = todo[result["member"]]
        if result["status"] == "completed":
            target.run = RunDir(request.runs_dir / result["run_id"])
            wall = f", {target.run.read_record().wall_seconds} s"
        else:
            failed.append(f"{target.name} seed {target.seed} {result['status']}: {result['error']}")
            wall = f": {result['error']}"
        echo(f"[{next(ended)}/{len(todo)}] {target.name} seed {target.seed}: {result['status']} "
             f"{result['run_id'] or '-'}{wall}")
        if result["status"] == "interrupted" and stop.signal_number is None:
            stop.stop(result.get("signal", signal.SIGINT))  # the run's own handler caught the signal

    with StopRequest() as stop:
        executor_for(request.executor, request.jobs)(tasks, request, record, stop)
    if stop.signal_number is not None:
        raise Interrupted(stop.signal_number, f"reproduce stopped by {signal.Signals(stop.signal_number).name}; "
                                              "run it again to train what is missing")
    if failed:
        raise RunFailed(f"reproduce: {len(failed)} of {len(todo)} runs did not complete ({'; '.join(failed)}).")
