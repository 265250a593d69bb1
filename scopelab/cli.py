"""The command line: each command parses its options and calls one function. No TensorFlow here."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scopelab.errors import InputError, Interrupted, RunFailed
from scopelab.records import LIST_STATUSES
from scopelab.report import COMPARE_FORMATS, LIST_FORMATS

RUNS_DIR = click.option(
    "--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
    help="Where run directories live.",
)
SEEDS = click.option(
    "--seeds", metavar="N|S1,S2,...",
    help="Run once per seed: N means seeds 0..N-1, or list them (0,1,2). The runs form a sweep (<runs-dir>/sweeps/).",
)
JOBS = click.option(
    "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
    help="Members to run at once, each in its own process with its share of the cores.",
)


class _Group(click.Group):
    """Turns scopelab's errors into one line on stderr and a fixed exit code (traceback with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (InputError, RunFailed, Interrupted) as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            label = "Stopped" if isinstance(error, Interrupted) else "Error"
            click.echo(f"{label}: {error}", err=True)
            sys.exit(error.exit_code)


@click.group(cls=_Group)
@click.version_option(package_name="scopelab")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Reproduce the TensorFlow variable-scope experiments (tied autoencoder, shared MLPs).

    \b
    Example:
      scopelab run configs/tied_ae.yaml
      scopelab list
    """
    ctx.obj = {"debug": debug}


@main.command()
@click.argument("config", type=click.Path(path_type=Path), required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key (repeatable), e.g. --set train.steps=200.")
@RUNS_DIR
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where to train: the GPU when TensorFlow sees one (auto), or force one.")
@click.option("--resume", metavar="RUN", help="Continue an interrupted or failed run (id or unique prefix).")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="TensorFlow threads per pool; 0: every core (with --seeds and --jobs N: cores / N).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and its variables; train and write nothing.")
@SEEDS
@JOBS
def run(config: Path | None, overrides: tuple[str, ...], runs_dir: Path, device: str, resume: str | None,
        threads: int, quiet: bool, dry_run: bool, seeds: str | None, jobs: int) -> None:
    """Train the experiment a CONFIG describes and record it in a new run directory.

    \b
    Example:
      scopelab run configs/tied_ae.yaml
      scopelab run configs/untied_ae.yaml --set train.steps=2000 --set train.seed=1
      scopelab run --resume 20261127-101500-tied_ae
      scopelab run configs/mlp_shared.yaml --dry-run
      scopelab run configs/tied_ae.yaml --seeds 5 --jobs 2
    """
    from scopelab.runner import RunRequest
    from scopelab.runner import run as run_experiment

    if (config is None) == (resume is None):
        raise InputError("give a CONFIG file to run, or --resume RUN to continue a run (not both).")
    if resume and overrides:
        raise InputError("--set cannot change a resumed run: it continues with the config it started with.")
    if seeds is not None and not (resume or dry_run):
        from scopelab.sweep import SweepRequest, run_sweep

        request = SweepRequest(config, seeds=seeds, overrides=overrides, runs_dir=runs_dir, jobs=jobs,
                               threads=threads, device=device, progress=not quiet)
        click.echo(f"sweep directory: {run_sweep(request, echo=_echo).path}")
        return
    if seeds is not None or jobs != 1:
        raise InputError("--seeds (and --jobs) start a group of new runs: give a CONFIG, not --resume or --dry-run.")
    if dry_run:
        from scopelab.inspector import dry_run as describe

        click.echo(describe(str(config) if config else resume, overrides, runs_dir))
        return
    request = RunRequest(config, overrides, runs_dir, device, resume, threads, progress=not quiet)
    run_dir = run_experiment(request, echo=_echo)
    click.echo(f"run directory: {run_dir.path}")


@main.command(name="list")
@RUNS_DIR
@click.option("--configs-dir", type=click.Path(path_type=Path), default=Path("configs"), show_default=True,
              help="Where config files live.")
@click.option("--configs", "only_configs", is_flag=True, help="Show only the configs.")
@click.option("--runs", "only_runs", is_flag=True, help="Show only the runs.")
@click.option("--config", "config_name", metavar="NAME", help="Only the runs (and config) of this config name.")
@click.option("--status", type=click.Choice(LIST_STATUSES), help="Only runs with this status.")
@click.option("--last", type=click.IntRange(min=1), metavar="N", help="Only the N newest runs.")
@click.option("--format", "fmt", type=click.Choice(LIST_FORMATS), default="table", show_default=True,
              help="csv holds one section: the runs, or the configs with --configs.")
def list_command(runs_dir: Path, configs_dir: Path, only_configs: bool, only_runs: bool, config_name: str | None,
                 status: str | None, last: int | None, fmt: str) -> None:
    """Show the configs on offer and the runs made, newest first.

    A run whose summary is missing or unreadable shows as broken; one still marked running whose
    process is gone shows as stale.

    \b
    Example:
      scopelab list
      scopelab list --runs --status completed --last 5
      scopelab list --config tied_ae --format json
    """
    from scopelab.listing import ListRequest, list_report

    sections = tuple(name for name, only in (("configs", only_configs), ("runs", only_runs)) if only)
    request = ListRequest(runs_dir, configs_dir, sections or ("configs", "runs"), config_name, status, last, fmt)
    click.echo(list_report(request))


@main.command()
@click.argument("references", nargs=-1, metavar="[RUN|CONFIG]...")
@RUNS_DIR
@click.option("--format", "fmt", type=click.Choice(COMPARE_FORMATS), default="table", show_default=True,
              help="markdown pastes into a README; csv and json hold every number.")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.png",
              help="Also draw the loss curves into this image (needs: pip install 'scopelab[plot]').")
@click.option("--each", is_flag=True, help="One column per run: do not pool repeats of a config.")
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
    from scopelab.compare import CompareRequest, compare_report

    click.echo(compare_report(CompareRequest(references, runs_dir, fmt, plot, each)))
    if plot:
        click.echo(f"wrote {plot}", err=True)  # stderr: stdout stays a clean table, csv or json


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True, help="markdown pastes into a README.")
def scopes(fmt: str) -> None:
    """Show how TensorFlow names things under name_scope and variable_scope, and when reuse is refused.

    Runs the article's naming sequence in a fresh graph: every name shown is the one TensorFlow gives
    now, and the reuse error is TensorFlow's own message.

    \b
    Example:
      scopelab scopes
      scopelab scopes --format markdown
    """
    from scopelab.scopes import show

    click.echo(show(fmt))


@main.command()
@click.argument("target", metavar="CONFIG_OR_RUN")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key (repeatable), e.g. --set model.tied=false.")
@RUNS_DIR
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def inspect(target: str, overrides: tuple[str, ...], runs_dir: Path, fmt: str) -> None:
    """Show the variables of a config's graph (or a run's) and where the graph uses them.

    Builds the graph without training: shape and parameters of each variable, totals per scope, and
    the name scopes whose ops read it, found by walking the graph (a tied or shared weight is read in
    two places). CONFIG_OR_RUN is a config file, a run directory, or a run id (or unique prefix).

    \b
    Example:
      scopelab inspect configs/tied_ae.yaml
      scopelab inspect configs/mlp_shared.yaml --format json
      scopelab inspect 20261127-101500-tied_ae
    """
    from scopelab.inspector import inspect as inspect_target

    click.echo(inspect_target(target, overrides, runs_dir, fmt))


@main.command()
@click.argument("config", type=click.Path(path_type=Path), required=False)
@click.option("--grid", multiple=True, metavar="KEY=V1,V2,...",
              help="Run each value of a config key (repeatable: the members are the product of the grids).")
@SEEDS
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key for every member (repeatable).")
@RUNS_DIR
@click.option("--resume", metavar="SWEEP",
              help="Run the members of a sweep that did not complete (id or unique prefix).")
@JOBS
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this machine, --jobs at once; ray: one Ray task per member (pip install 'scopelab[ray]').")
@click.option("--address", metavar="HOST:PORT",
              help="The Ray cluster to join ('auto': the one running here); default: start a local Ray.")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="TensorFlow threads (Ray: CPUs) per member; 0: the cores shared out among --jobs (Ray: 1).")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where members train (Ray: gpu gives each member a GPU).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(config: Path | None, grid: tuple[str, ...], seeds: str | None, overrides: tuple[str, ...], runs_dir: Path,
          resume: str | None, jobs: int, executor: str, address: str | None, threads: int, device: str,
          quiet: bool) -> None:
    """Run a CONFIG for every combination of --grid values and --seeds; each member is an ordinary run.

    The sweep's record (the command, each member's overrides, run id and status) is
    <runs-dir>/sweeps/<sweep-id>/sweep.json. A member that fails does not stop the others; the
    command exits 1 if any did not complete, and --resume runs just those again.

    \b
    Example:
      scopelab sweep configs/tied_ae.yaml --grid train.learning_rate=0.03,0.1,0.3 --grid model.tied=true,false \\
          --seeds 3 --jobs 2
      scopelab sweep --resume 20261127-101500-tied_ae
      scopelab sweep configs/mlp_shared.yaml --seeds 5 --executor ray --address 10.0.0.5:6379
    """
    from scopelab.sweep import SweepRequest, run_sweep

    request = SweepRequest(config, grid, seeds, overrides, runs_dir, resume, executor, jobs, address, threads, device,
                           progress=not quiet)
    click.echo(f"sweep directory: {run_sweep(request, echo=_echo).path}")


def _echo(text: str) -> None:
    """Print a table line above the progress bar instead of through it."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stdout)
