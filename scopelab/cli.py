"""The command line: each command parses its options and calls one function. No TensorFlow here."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from scopelab import completion
from scopelab.completion import RUNS_DIR_ENV
from scopelab.errors import InputError, Interrupted, RunFailed, escaped
from scopelab.report import COMPARE_FORMATS, LIST_FORMATS, REPRODUCE_FORMATS
from scopelab.runs import LIST_STATUSES

F = TypeVar("F", bound=Callable[..., Any])  # a command's function
Option = Callable[[F], F]  # what click.option returns: a decorator that adds one option
RUNS_DIR = click.option(
    "--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True, envvar=RUNS_DIR_ENV,
    show_envvar=True, help="Where run directories live.",
)


# Options used by more than one command, each defined once. Where commands word an option's help for
# what it does there, the factory takes that help; everything else about the option is the same.


def overrides_option(help_text: str = "Override a config key (repeatable), e.g. --set train.steps=200.") -> Option:
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=help_text)


def threads_option(help_text: str) -> Option:
    # A thread per count in each of TensorFlow's pools: 10,000 once made a 4.5 s run take 340 s.
    return click.option("--threads", type=click.IntRange(min=0, max=256), default=0, show_default=True, help=help_text)


def format_option(choices: Sequence[str], help_text: str | None = None, default: str = "table") -> Option:
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
                        help=help_text)


def config_name_option(help_text: str) -> Option:
    return click.option("--config", "config_name", metavar="NAME", shell_complete=completion.run_config_names,
                        help=help_text)


def options(*decorators: Option) -> Option:
    """Several options as one decorator, listed in --help in the order given."""
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


SEEDS = click.option(
    "--seeds", metavar="N|S1,S2,...",
    help="Run once per seed: N means seeds 0..N-1, or list them (0,1,2). The runs form a sweep (<runs-dir>/sweeps/).",
)


class JobsParam(click.ParamType):
    """--jobs: 'auto' or a whole number of at least 1."""

    name = "auto|N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, int) or str(value).strip().lower() == "auto":
            return value if isinstance(value, int) else "auto"
        if str(value).strip().isdigit() and int(value) >= 1:
            return int(value)
        self.fail(f"'{value}' is neither 'auto' nor a whole number of at least 1.", param, ctx)


_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
JOBS = click.option(
    "--jobs", type=JobsParam(), default="auto", show_default=True,
    help=f"Runs at once, each in a worker process with its share of the cores (the runs of a last, short round "
    f"share the cores it leaves idle). auto: as many as the cores "
    f"(here {_CORES}), the memory and the GPUs allow; it prints what it chose. 1: one after another in this process.",
)
EXECUTOR = click.option(
    "--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
    help="local: this machine, --jobs at once; ray: one Ray task per member (pip install 'scopelab[ray]').",
)
ADDRESS = click.option(
    "--address", metavar="HOST:PORT",
    help="The Ray cluster to join ('auto': the one running here); default: start a local Ray.",
)
DEVICE = click.option(
    "--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
    help="Where to train: the GPU when TensorFlow sees one (auto), or force one (Ray: gpu gives each run a GPU).",
)
QUIET = click.option("--quiet", is_flag=True, help="No progress bar (it is off anyway when stderr is not a terminal).")
STATUS = click.option("--status", type=click.Choice(LIST_STATUSES), help="Only runs with this status.")
YES = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")


def _fit_tables(ctx: click.Context, param: click.Parameter, wide: bool) -> None:
    if not ctx.resilient_parsing:  # completing a command line prints no table
        from scopelab.report.tables import fit_to_terminal

        fit_to_terminal(wide)


WIDE = click.option("--wide", is_flag=True, expose_value=False, callback=_fit_tables,
                    help="Print tables whole on a terminal too (there they are cut to fit; to a pipe or file, never).")
# Commands that run many members (sweep, reproduce): how many at once, where, and how loudly.
EXECUTION = options(
    JOBS, EXECUTOR, ADDRESS,
    threads_option("TensorFlow threads (Ray: CPUs) per member; 0: the cores shared out among --jobs (Ray: 1)."),
    DEVICE, QUIET,
)


@contextmanager
def _one_line_usage() -> Iterator[None]:
    """Click prints a usage error as usage, hint, blank line and message; make it the one line that
    scopelab's own errors are, naming the command's --help. Exit code 2 as before."""
    try:
        yield
    except click.UsageError as error:
        if error.ctx is None:  # already one line
            raise
        message = " ".join(error.format_message().split())
        raise click.UsageError(f"{message} (see '{error.ctx.command_path} --help')") from None


class _Group(click.Group):
    """Turns scopelab's errors into one line on stderr and a fixed exit code (traceback with --debug)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The command line as typed, for the run's provenance (re-pasteable: shlex-quoted).
        ctx.meta.setdefault("command", shlex.join(["scopelab", *args]))
        return super().parse_args(ctx, args)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        with _one_line_usage():  # scopelab's own options: `scopelab --bogus`
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context):
        try:
            with _one_line_usage():  # the command's name and options, and values checked on the way
                return super().invoke(ctx)
        except (InputError, RunFailed, Interrupted) as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            label = "Stopped" if isinstance(error, Interrupted) else "Error"
            click.echo(f"{label}: {error}", err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:  # Ctrl-C before a command's own handling (while importing): not click's "Aborted!"
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo("Stopped: interrupted by SIGINT.", err=True)
            sys.exit(130)


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """Without importing TensorFlow: its version comes from the installed package's metadata."""
    if not value or ctx.resilient_parsing:
        return
    # Here, not at the top: importing importlib.metadata took about a third of `scopelab --help`'s start-up.
    import platform
    from importlib import metadata

    from scopelab import __version__

    tensorflow = "not installed"
    for distribution in ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"):
        try:
            tensorflow = metadata.version(distribution)
            break
        except metadata.PackageNotFoundError:
            continue
    click.echo(f"scopelab {__version__} (TensorFlow {tensorflow}, Python {platform.python_version()})")
    ctx.exit()


@click.group(cls=_Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the versions of scopelab, TensorFlow and Python, and exit.")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Reproduce the TensorFlow variable-scope experiments (tied autoencoder, shared MLPs).

    \b
    Example:
      scopelab list                  # the built-in experiments, and your runs
      scopelab run tied_ae
      scopelab reproduce --quick     # the article's tables, at 1/20 of the steps

    Tab completion: `scopelab completion --help` says how to install it.
    """
    ctx.obj = {"debug": debug}
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())  # bare `scopelab`: the help, and success


@main.command()
@click.argument("config", required=False, shell_complete=completion.configs)
@overrides_option()
@RUNS_DIR
@DEVICE
@click.option("--resume", metavar="RUN", shell_complete=completion.run_ids,
              help="Continue an interrupted or failed run (id or unique prefix).")
@click.option("--restart", is_flag=True,
              help="With --resume: start the run over in place from step 0 (when its checkpoints are unusable).")
@threads_option("TensorFlow threads per pool; 0: every core (with --seeds and --jobs N: cores / N).")
@QUIET
@click.option("--dry-run", is_flag=True, help="Print the resolved config and its variables; train and write nothing.")
@SEEDS
@JOBS
def run(config: str | None, overrides: tuple[str, ...], runs_dir: Path, device: str, resume: str | None,
        restart: bool, threads: int, quiet: bool, dry_run: bool, seeds: str | None, jobs: int | str) -> None:
    """Train the experiment a CONFIG describes and record it in a new run directory.

    CONFIG is a file, a name in ./configs/ (tied_ae: ./configs/tied_ae.yaml) or a built-in config's name.

    \b
    Example:
      scopelab run tied_ae
      scopelab run untied_ae --set train.steps=2000 --set train.seed=1
      scopelab run my_configs/wide.yaml
      scopelab run --resume 20261127-101500-tied_ae
      scopelab run --resume 20261127-101500-tied_ae --restart
      scopelab run mlp_shared --dry-run
      scopelab run tied_ae --seeds 5 --jobs 2
    """
    from scopelab.signals import stop_at_once  # here: --help and list need no signal handling

    with stop_at_once():  # the trainer (or a sweep) takes over the stop signals once it runs
        _run(config, overrides, runs_dir, device, resume, restart, threads, quiet, dry_run, seeds, jobs)


def _run(config: str | None, overrides: tuple[str, ...], runs_dir: Path, device: str, resume: str | None,
         restart: bool, threads: int, quiet: bool, dry_run: bool, seeds: str | None, jobs: int | str) -> None:
    from scopelab.config_source import resolve_config
    from scopelab.runner import RunRequest
    from scopelab.runner import run as run_experiment

    if (config is None) == (resume is None):
        raise InputError("give a CONFIG to run, or --resume RUN to continue a run (not both).")
    if resume and overrides:
        raise InputError("--set cannot change a resumed run: it continues with the config it started with.")
    path = resolve_config(config) if config else None
    if seeds is not None and not (resume or dry_run):
        from scopelab.sweep import SweepRequest, run_sweep

        request = SweepRequest(path, seeds=seeds, overrides=overrides, runs_dir=runs_dir, jobs=jobs,
                               threads=threads, device=device, progress=not quiet, command=_command())
        click.echo(f"sweep directory: {run_sweep(request, echo=_echo).path}")
        from scopelab.config import load_config

        _hint(f"compare {load_config(path, overrides).name}", runs_dir)
        return
    if seeds is not None or jobs not in (1, "auto"):
        raise InputError("--seeds (and --jobs) start a group of new runs: give a CONFIG, not --resume or --dry-run.")
    if dry_run:
        from scopelab.inspector import dry_run as describe

        click.echo(describe(str(path) if path else resume, overrides, runs_dir))
        return
    request = RunRequest(path, overrides, runs_dir, device, resume, threads, progress=not quiet, command=_command(),
                         restart=restart)
    run_dir = run_experiment(request, echo=_echo)
    click.echo(f"run directory: {run_dir.path}")
    _hint(f"show {run_dir.run_id}", runs_dir)


@main.command(name="list")
@RUNS_DIR
@click.option("--configs-dir", type=click.Path(path_type=Path), default=Path("configs"), show_default=True,
              help="Where config files live.")
@click.option("--configs", "only_configs", is_flag=True,
              help="Show only the configs, the ones installed plugins ship included.")
@click.option("--runs", "only_runs", is_flag=True, help="Show only the runs.")
@config_name_option("Only the runs (and config) of this config name.")
@STATUS
@click.option("--tag", metavar="TAG", help="Only runs with this tag.")
@click.option("--sweep", metavar="SWEEP", shell_complete=completion.sweep_ids,
              help="Only the members of this sweep (id or unique prefix).")
@click.option("--last", type=click.IntRange(min=1), metavar="N", help="Only the N newest runs.")
@click.option("--sort", metavar="KEY",
              help="Order by a column (run, config, status, steps, wall, started) or a test metric, best first "
                   "(test_loss: lowest; acc_averaged: highest).")
@click.option("--reverse", is_flag=True, help="The other way round.")
@click.option("--top", type=click.IntRange(min=1), metavar="N", help="Only the first N after sorting.")
@click.option("--sweeps", "only_sweeps", is_flag=True, help="List the sweeps instead: config, grid, members by status.")
@click.option("--trash", is_flag=True, help="List the runs in the trash (<runs-dir>/.trash/) instead.")
@format_option(LIST_FORMATS, "csv holds one section: the runs, or the configs with --configs.")
@click.option("--all-keys", is_flag=True,
              help="With --format csv or json: export one row per run with every config key, test metric, tag, "
                   "note and its git commit and TensorFlow version (the same columns for every run).")
@WIDE
def list_command(runs_dir: Path, configs_dir: Path, only_configs: bool, only_runs: bool, config_name: str | None,
                 status: str | None, tag: str | None, sweep: str | None, last: int | None, sort: str | None,
                 reverse: bool, top: int | None, only_sweeps: bool, trash: bool, fmt: str, all_keys: bool) -> None:
    """Show the configs on offer and the runs made, newest first.

    A run whose summary is missing or unreadable shows as broken; one still marked running whose
    process is gone shows as stale.

    \b
    Example:
      scopelab list
      scopelab list --runs --status completed --last 5
      scopelab list --config tied_ae --format json
      scopelab list --runs --sort test_loss --top 3
      scopelab list --sweeps
      scopelab list --format csv --all-keys > runs.csv
    """
    from scopelab.report.listing import ListRequest, list_report, sweeps_report

    if only_sweeps:
        click.echo(sweeps_report(runs_dir, fmt))
        return
    sections = tuple(name for name, only in (("configs", only_configs), ("runs", only_runs)) if only)
    if trash or sort or top or tag or sweep or all_keys:
        sections = ("runs",)  # these only concern runs
    request = ListRequest(runs_dir, configs_dir, sections or ("configs", "runs"), config_name, status, last, fmt,
                          sort, reverse, top, tag, sweep, trash, all_keys)
    click.echo(list_report(request))


@main.command()
@click.argument("run", metavar="RUN", shell_complete=completion.runs)
@RUNS_DIR
@format_option(["text", "json"], "json: the whole record as one object.", default="text")
@WIDE
def show(run: str, runs_dir: Path, fmt: str) -> None:
    """Show one run at a glance: config, overrides, status, metrics, provenance, variables, tags, note.

    RUN is a run id, a unique prefix of one, or a config name (meaning its latest run).

    \b
    Example:
      scopelab show tied_ae
      scopelab show 20261127-101500 --format json
    """
    from scopelab.report.show import show_report

    click.echo(show_report(runs_dir, run, fmt))


@main.command()
@click.argument("run", metavar="RUN", shell_complete=completion.runs)
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@click.option("--remove", is_flag=True, help="Remove these tags instead of adding them.")
@RUNS_DIR
def tag(run: str, tags: tuple[str, ...], remove: bool, runs_dir: Path) -> None:
    """Add tags to a run (or --remove them); `list --tag TAG` selects by them.

    Tags live in the run's annotations.json, which the training process never writes: a run can be
    tagged while it trains.

    \b
    Example:
      scopelab tag tied_ae baseline article
      scopelab tag 20261127-101500 baseline --remove
    """
    from scopelab.manage import tag as tag_run

    click.echo(tag_run(runs_dir, run, tags, remove))


@main.command()
@click.argument("run", metavar="RUN", shell_complete=completion.runs)
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove the note.")
@RUNS_DIR
def note(run: str, text: str | None, clear: bool, runs_dir: Path) -> None:
    """Set a run's note (one free text, shown by `show` and `list`), or --clear it.

    \b
    Example:
      scopelab note tied_ae "lr 0.1 diverges after 8k steps without clipping"
      scopelab note tied_ae --clear
    """
    from scopelab.manage import note as note_run

    if clear == (text is not None):
        raise InputError("give the note's TEXT, or --clear to remove it (not both).")
    click.echo(note_run(runs_dir, run, text))


@main.command()
@click.argument("references", nargs=-1, metavar="[RUN]...", shell_complete=completion.run_ids)
@STATUS
@click.option("--older-than", metavar="AGE", help="Only runs started longer ago than AGE, e.g. 7d, 12h, 30m.")
@config_name_option("Only runs of this config name.")
@YES
@RUNS_DIR
def rm(references: tuple[str, ...], status: str | None, older_than: str | None, config_name: str | None, yes: bool,
       runs_dir: Path) -> None:
    """Move runs to the trash (<runs-dir>/.trash/); `restore` brings them back, `purge` deletes them.

    RUN is a run id or a unique prefix; the filters select among the runs named, or among all runs
    when none is named. A run whose process is still alive is refused. Asks before moving anything
    (on a terminal; elsewhere give --yes).

    \b
    Example:
      scopelab rm 20261127-101500
      scopelab rm --status failed --older-than 7d --yes
    """
    from scopelab.manage import RemoveRequest, remove, select_for_removal

    chosen = select_for_removal(RemoveRequest(runs_dir, references, status, older_than, config_name))
    if not chosen:
        click.echo("no run matches; nothing moved.")
        return
    if _confirm(f"Move {len(chosen)} run(s) to the trash: {', '.join(run.run_id for run in chosen)}?", yes):
        remove(runs_dir, chosen, click.echo)


@main.command()
@click.argument("references", nargs=-1, required=True, metavar="RUN...", shell_complete=completion.trash_ids)
@RUNS_DIR
def restore(references: tuple[str, ...], runs_dir: Path) -> None:
    """Move runs back from the trash (`scopelab list --trash` shows what is there).

    \b
    Example:
      scopelab restore 20261127-101500
    """
    from scopelab.manage import restore as restore_runs

    restore_runs(runs_dir, references, click.echo)


@main.command()
@YES
@RUNS_DIR
def purge(yes: bool, runs_dir: Path) -> None:
    """Delete the runs in the trash for good.

    \b
    Example:
      scopelab purge --yes
    """
    from scopelab.manage import purge as purge_trash
    from scopelab.manage import trashed

    found = trashed(runs_dir)
    if not found:
        click.echo("the trash is empty.")
        return
    if _confirm(f"Delete {len(found)} run(s) in {runs_dir}/.trash/ for good?", yes):
        purge_trash(runs_dir, [path.name for path in found], click.echo)


@main.command(name="mark-runs-dir")
@RUNS_DIR
def mark_runs_dir(runs_dir: Path) -> None:
    """Mark a runs directory made before scopelab marked them, so that rm, restore and purge act in it.

    scopelab marks each runs directory it creates (a .scopelab-runs file) and refuses to move or delete
    anything in an unmarked one. Even in a marked directory it touches only runs, never other files.

    \b
    Example:
      scopelab mark-runs-dir --runs-dir old_runs
    """
    from scopelab.manage import mark_runs_dir as mark

    click.echo(mark(runs_dir))


def _confirm(question: str, yes: bool) -> bool:
    """Go on with --yes or when the user says so on a terminal; with no terminal to ask, refuse. A "no" is
    the user's choice, not a failure: "nothing removed" and exit 0."""
    if yes:
        return True
    if not _interactive():
        raise InputError("not asking for confirmation without a terminal; add --yes to go ahead.")
    if click.confirm(escaped(question)):  # it names runs by their directories
        return True
    click.echo("nothing removed.")
    return False


def _interactive() -> bool:
    return sys.stdin.isatty()


@main.command()
@click.argument("references", nargs=-1, metavar="[RUN|CONFIG]...", shell_complete=completion.runs)
@RUNS_DIR
@format_option(COMPARE_FORMATS, "markdown pastes into a README; csv and json hold every number.")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.png",
              help="Also draw the loss curves into this image (needs: pip install 'scopelab[plot]').")
@click.option("--each", is_flag=True, help="One column per run: do not pool repeats of a config.")
@WIDE
def compare(references: tuple[str, ...], runs_dir: Path, fmt: str, plot: Path | None, each: bool) -> None:
    """Set runs side by side: loss per logged step, test metrics, and what differs in their configs.

    RUN is a run id or a unique prefix of one; CONFIG a config name, meaning its latest completed run
    and that run's repeats (same config, other seeds), pooled as mean ± std with n. With no argument:
    for each experiment kind, the latest completed run of every config. For two groups of repeats the
    difference of each test metric comes with a 95% confidence interval (Welch's t) and a verdict.

    \b
    Example:
      scopelab compare
      scopelab compare untied_ae tied_ae --format markdown
      scopelab compare 20261127-101500 20261127-102000 --plot losses.png
    """
    from scopelab.report.compare import CompareRequest, compare_report

    request = CompareRequest(references, runs_dir, fmt, plot, each)
    click.echo(compare_report(request, warn=lambda line: click.echo(line, err=True)))
    if plot:
        click.echo(f"wrote {plot}", err=True)  # stderr: stdout stays a clean table, csv or json


@main.command()
@format_option(["table", "markdown", "json"], "markdown pastes into a README.")
@click.option("--api", type=click.Choice(["tf1", "tf2"]), default="tf1", show_default=True,
              help="tf2: each row next to what TensorFlow 2 does for the same intent.")
@WIDE
def scopes(fmt: str, api: str) -> None:
    """Show how TensorFlow names things under name_scope and variable_scope, and when reuse is refused.

    Runs the article's naming sequence in a fresh graph: every name shown is the one TensorFlow gives
    now, and the reuse error is TensorFlow's own message. With --api tf2, each step sits next to its
    TensorFlow 2 counterpart (eager name scopes, tf.Module, Keras paths, holding the object, the
    track_tf1_style_variables shim), run just now too.

    \b
    Example:
      scopelab scopes
      scopelab scopes --format markdown
      scopelab scopes --api tf2
    """
    from scopelab.scopes import show

    click.echo(show(fmt, api))


@main.command()
@click.argument("target", metavar="CONFIG_OR_RUN", shell_complete=completion.configs_or_runs)
@overrides_option("Override a config key (repeatable), e.g. --set model.tied=false.")
@RUNS_DIR
@format_option(["table", "json"])
@WIDE
def inspect(target: str, overrides: tuple[str, ...], runs_dir: Path, fmt: str) -> None:
    """Show the variables of a config's graph (or a run's) and where the graph uses them.

    Builds the graph without training: shape and parameters of each variable, totals per scope, and
    the name scopes whose ops read it, found by walking the graph (a tied or shared weight is read in
    two places). CONFIG_OR_RUN is a config (a file, a name in ./configs/ or a built-in name), a run
    directory, or a run id (or unique prefix).

    \b
    Example:
      scopelab inspect tied_ae
      scopelab inspect mlp_shared --format json
      scopelab inspect 20261127-101500-tied_ae
    """
    from scopelab.inspector import inspect as inspect_target

    click.echo(inspect_target(target, overrides, runs_dir, fmt))


@main.command()
@click.argument("config", required=False, shell_complete=completion.configs)
@click.option("--grid", multiple=True, metavar="KEY=V1,V2,...",
              help="Run each value of a config key (repeatable: the members are the product of the grids).")
@SEEDS
@overrides_option("Override a config key for every member (repeatable).")
@RUNS_DIR
@click.option("--resume", metavar="SWEEP", shell_complete=completion.sweep_ids,
              help="Run the members of a sweep that did not complete (id or unique prefix).")
@EXECUTION
def sweep(config: str | None, grid: tuple[str, ...], seeds: str | None, overrides: tuple[str, ...], runs_dir: Path,
          resume: str | None, jobs: int | str, executor: str, address: str | None, threads: int, device: str,
          quiet: bool) -> None:
    """Run a CONFIG for every combination of --grid values and --seeds; each member is an ordinary run.

    CONFIG is a file, a name in ./configs/ or a built-in config's name, as for `run`.

    The sweep's record (the command, each member's overrides, run id and status) is
    <runs-dir>/sweeps/<sweep-id>/sweep.json. A member that fails does not stop the others; the
    command exits 1 if any did not complete, and --resume runs just those again.

    \b
    Example:
      scopelab sweep tied_ae --grid train.learning_rate=0.03,0.1,0.3 --grid model.tied=true,false --seeds 3 --jobs 2
      scopelab sweep --resume 20261127-101500-tied_ae
      scopelab sweep mlp_shared --seeds 5 --executor ray --address 10.0.0.5:6379
    """
    from scopelab.signals import stop_at_once

    with stop_at_once():  # until the sweep's own handler takes over
        from scopelab.config_source import resolve_config
        from scopelab.sweep import SweepRequest, run_sweep

        path = resolve_config(config) if config else None
        request = SweepRequest(path, grid, seeds, overrides, runs_dir, resume, executor, jobs, address, threads,
                               device, progress=not quiet, command=_command())
        click.echo(f"sweep directory: {run_sweep(request, echo=_echo).path}")


@main.command()
@click.argument("references", nargs=-1, metavar="[RUN|CONFIG]...", shell_complete=completion.runs)
@RUNS_DIR
@click.option("--port", type=click.IntRange(1, 65535), default=6006, show_default=True,
              help="The port TensorBoard listens on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address TensorBoard listens on (0.0.0.0: every interface, open to anyone who reaches it).")
def board(references: tuple[str, ...], runs_dir: Path, port: int, host: str) -> None:
    """Open the runs in TensorBoard: scalars, graphs and the HParams table, each run named by its id.

    RUN is a run id or a unique prefix of one; CONFIG a config name, meaning all its runs. With no
    argument: every run in the runs directory, including runs started while board is up. Prints the
    URL; Ctrl-C stops it. Needs: pip install 'scopelab[tensorboard]'.

    \b
    Example:
      scopelab board
      scopelab board tied_ae untied_ae --port 6007
      scopelab board 20261127-101500 --host 0.0.0.0
    """
    from scopelab.board import BoardRequest, serve

    serve(BoardRequest(references, runs_dir, port, host), echo=click.echo)


@main.command()
@RUNS_DIR
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Run every config with seeds 0..N-1: mean ± std, and whether the article's figure is in the 95% "
              "interval of one run.")
@click.option("--rerun", is_flag=True, help="Train again even where a completed run of the identical config exists.")
@click.option("--quick", is_flag=True, help="One twentieth of the steps: checks an install in well under a minute.")
@format_option(REPRODUCE_FORMATS, "markdown pastes into a README; json holds every number.")
@EXECUTION
@WIDE
def reproduce(runs_dir: Path, seeds: int, rerun: bool, quick: bool, fmt: str, jobs: int | str, executor: str,
              address: str | None, threads: int, device: str, quiet: bool) -> None:
    """Run the article's four experiments and set its figures beside the measured ones.

    Runs the built-in untied_ae, tied_ae, mlp_shared and mlp_averaged (a config that already has a
    completed run of the identical resolved config in the runs directory is not run again), then prints
    the article's autoencoder loss table and MLP table next to the measured values and a verdict on each
    of its three claims. The runs still to make (every config, every seed) share one pool of --jobs
    worker processes; with --jobs 1 they train one after another in this process.

    \b
    Example:
      scopelab reproduce --quick
      scopelab reproduce --format markdown
      scopelab reproduce --seeds 5 --jobs 2
    """
    from scopelab.reproduce import reproduce as run_reproduction
    from scopelab.reproduce_request import ReproduceRequest

    request = ReproduceRequest(runs_dir, seeds, rerun, quick, jobs, executor, address, threads, device,
                               progress=not quiet, fmt=fmt)
    click.echo(run_reproduction(request, echo=lambda text: click.echo(text, err=True)))


@main.group()
def export() -> None:
    """Write runs into another tool's store.

    \b
    Example:
      scopelab export mlflow --tracking-uri http://mlflow.example:5000
    """


@export.command(name="mlflow")
@click.argument("references", nargs=-1, metavar="[RUN|CONFIG]...", shell_complete=completion.runs)
@RUNS_DIR
@click.option("--tracking-uri", metavar="URI",
              help="The MLflow tracking server or store; default: MLflow's own (MLFLOW_TRACKING_URI, else "
              "MLflow 3's ./mlflow.db).")
@click.option("--experiment", default="scopelab", show_default=True, help="The MLflow experiment to write into.")
def export_mlflow(references: tuple[str, ...], runs_dir: Path, tracking_uri: str | None, experiment: str) -> None:
    """Write runs into MLflow: config keys as parameters, every logged step and the test metrics as metrics,
    tags, note, status, seed, sweep and provenance as tags, config.yaml, log.txt and summary.json as artifacts.

    RUN is a run id or a unique prefix of one; CONFIG a config name, meaning all its runs. With no argument:
    every run. Exporting a run again updates its MLflow run (found by the tag scopelab.run_id). Needs:
    pip install 'scopelab[mlflow]'.

    \b
    Example:
      scopelab export mlflow --tracking-uri http://127.0.0.1:5000
      scopelab export mlflow tied_ae untied_ae --experiment variable-scopes
    """
    from scopelab.export_mlflow import ExportRequest, export_runs

    count = export_runs(ExportRequest(references, runs_dir, tracking_uri, experiment), echo=click.echo)
    click.echo(f"{count} run{'s' if count != 1 else ''} in MLflow experiment '{experiment}'")


@main.group()
def config() -> None:
    """Look at the built-in configs and copy one to edit.

    \b
    Example:
      scopelab config show tied_ae
      scopelab config copy tied_ae
    """


@config.command(name="show")
@click.argument("name", metavar="CONFIG", shell_complete=completion.configs)
@overrides_option()
@WIDE
def config_show(name: str, overrides: tuple[str, ...]) -> None:
    """Print a CONFIG with every default filled in and its base applied: what a run would record.

    CONFIG is a file, a name in ./configs/ or a built-in config's name, as for `run`.

    \b
    Example:
      scopelab config show tied_ae
      scopelab config show configs/wide.yaml --set train.steps=200
    """
    from scopelab.config import dump_config, load_config
    from scopelab.config_source import resolve_config, source_label
    from scopelab.report.tables import fit_width

    path = resolve_config(name)
    click.echo(f"# {source_label(path)}, resolved\n{dump_config(load_config(path, overrides), fit_width())}", nl=False)


@config.command(name="copy")
@click.argument("name", metavar="NAME", shell_complete=completion.builtins)
@click.argument("dest", required=False, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
def config_copy(name: str, dest: Path | None, force: bool) -> None:
    """Write the built-in config NAME to DEST (default: ./configs/NAME.yaml) for editing.

    The copy is the built-in file as shipped, comments included; `scopelab run NAME` then runs the copy,
    since ./configs/NAME.yaml comes before the built-in.

    \b
    Example:
      scopelab config copy tied_ae
      scopelab config copy mlp_shared my_configs/wide.yaml --force
    """
    from scopelab.config_source import copy_builtin

    click.echo(f"wrote {copy_builtin(name, dest, force)}")


@main.command(name="completion")
@click.argument("shell", type=click.Choice(completion.SHELLS))
def completion_command(shell: str) -> None:
    """Print the script that makes SHELL complete scopelab's commands, options, config names and run ids.

    Install it once, then open a new shell.

    \b
    Example:
      echo 'eval "$(scopelab completion bash)"' >> ~/.bashrc
      echo 'eval "$(scopelab completion zsh)"' >> ~/.zshrc
      scopelab completion fish > ~/.config/fish/completions/scopelab.fish
    """
    click.echo(completion.script(shell, main))


def _command() -> str:
    return click.get_current_context().meta["command"]


def _hint(command: str, runs_dir: Path) -> None:
    """The command to look at what was just made, on stderr: stdout ends with its directory, for scripts."""
    click.echo(f"next: {_again()} {command}{_runs_dir_option(runs_dir)}", err=True)


def _again() -> str:
    """scopelab as the user's shell will find it again, for a hint to copy: `scopelab` when that is this one;
    else the path typed (`.venv/bin/scopelab`: the virtual environment not activated), or `python -m scopelab`."""
    import shutil

    typed = Path(sys.argv[0])
    if typed.name == "__main__.py" and typed.parent.name == "scopelab":
        return f"{shlex.quote(sys.executable)} -m scopelab"
    found = shutil.which("scopelab")
    if typed.name != "scopelab" or (found and Path(found).resolve() == typed.resolve()):
        return "scopelab"  # on PATH; or called from Python (a test's CliRunner), which has no command to repeat
    return shlex.quote(sys.argv[0])


def _runs_dir_option(runs_dir: Path) -> str:
    """' --runs-dir DIR' for a hint to copy, unless it is the default."""
    return "" if runs_dir == Path("runs") else f" --runs-dir {shlex.quote(str(runs_dir))}"


def _echo(text: str) -> None:
    """Print a table line above the progress bar instead of through it."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stdout)
