"""The command line: each command parses its options and calls one function. No TensorFlow here."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scopelab.errors import InputError, Interrupted, RunFailed

RUNS_DIR = click.option(
    "--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
    help="Where run directories live.",
)


class _Group(click.Group):
    """Turns scopelab's errors into one line on stderr and a fixed exit code (traceback with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (InputError, RunFailed, Interrupted) as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {error}", err=True)
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
              help="TensorFlow threads per pool; 0 lets TensorFlow use every core.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(config: Path | None, overrides: tuple[str, ...], runs_dir: Path, device: str, resume: str | None,
        threads: int, quiet: bool) -> None:
    """Train the experiment a CONFIG describes and record it in a new run directory.

    \b
    Example:
      scopelab run configs/tied_ae.yaml
      scopelab run configs/untied_ae.yaml --set train.steps=2000 --set train.seed=1
      scopelab run --resume 20261127-101500-tied_ae
    """
    from scopelab.runner import RunRequest
    from scopelab.runner import run as run_experiment

    if (config is None) == (resume is None):
        raise InputError("give a CONFIG file to run, or --resume RUN to continue a run (not both).")
    if resume and overrides:
        raise InputError("--set cannot change a resumed run: it continues with the config it started with.")
    request = RunRequest(config, overrides, runs_dir, device, resume, threads, progress=not quiet)
    run_dir = run_experiment(request, echo=_echo)
    click.echo(f"run directory: {run_dir.path}")


def _echo(text: str) -> None:
    """Print a table line above the progress bar instead of through it."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stdout)
