"""Shell completion: what each argument offers when the user presses Tab, and the script a shell loads.

click asks these functions in a process of its own (`_SCOPELAB_COMPLETE=bash_complete scopelab ...`), with
the command line parsed so far in ctx.params; they read only directory listings and small records.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # imported where a completion needs it: --help should not pay for click's completion module
    from click.shell_completion import CompletionItem

RUNS_DIR_ENV = "SCOPELAB_RUNS_DIR"
SHELLS = ("bash", "zsh", "fish")


def script(shell: str, command: click.Command) -> str:
    """The completion script that `eval` (bash, zsh) or `source` (fish) loads."""
    from click.shell_completion import get_completion_class

    completion = get_completion_class(shell)(command, {}, "scopelab", "_SCOPELAB_COMPLETE")
    return completion.source()


def _runs_dir_of(ctx: click.Context) -> Path:
    """The runs directory the command line names so far (it is parsed for real only later)."""
    return Path(ctx.params.get("runs_dir") or os.environ.get(RUNS_DIR_ENV) or "runs")


def runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Run ids and config names (a config name means its latest run)."""
    return [name for name in [*_run_ids(_runs_dir_of(ctx)), *_run_config_names(ctx)] if name.startswith(incomplete)]


def run_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [run_id for run_id in _run_ids(_runs_dir_of(ctx)) if run_id.startswith(incomplete)]


def trash_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """The runs in the trash, for `restore`."""
    from scopelab.runs import TRASH_DIR

    return [run_id for run_id in _run_ids(_runs_dir_of(ctx) / TRASH_DIR) if run_id.startswith(incomplete)]


def sweep_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from scopelab.runs import sweep_dirs

    runs_dir = _runs_dir_of(ctx)
    names = [sweep.run_id for sweep in sweep_dirs(runs_dir)] if runs_dir.is_dir() else []
    return [name for name in names if name.startswith(incomplete)]


def configs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str | CompletionItem]:
    """What a CONFIG argument takes: the names in ./configs/, the built-in names, or a file's path (the shell
    completes a path once the word looks like one)."""
    from scopelab.config_source import LOCAL_DIR, builtin_names

    if "/" in incomplete or incomplete.startswith(".") or incomplete.endswith((".yaml", ".yml")):
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]
    local = [path.stem for path in LOCAL_DIR.glob("*.y*ml")] if LOCAL_DIR.is_dir() else []
    return sorted(name for name in {*local, *builtin_names()} if name.startswith(incomplete))


def configs_or_runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str | CompletionItem]:
    """`inspect`: a config, or a run id."""
    return [*configs(ctx, param, incomplete), *run_ids(ctx, param, incomplete)]


def builtins(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """`config copy`: the built-in configs."""
    from scopelab.config_source import builtin_names

    return [name for name in builtin_names() if name.startswith(incomplete)]


def run_config_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """The configs on offer and the config names the runs used (`list --config`, `rm --config`)."""
    configs_dir = Path(ctx.params.get("configs_dir") or "configs")
    names = {path.stem for path in configs_dir.glob("*.y*ml")} if configs_dir.is_dir() else set()
    return sorted(name for name in names | set(_run_config_names(ctx)) if name.startswith(incomplete))


def _run_ids(runs_dir: Path) -> list[str]:
    from scopelab.runs import run_dirs

    return [run.run_id for run in run_dirs(runs_dir)] if runs_dir.is_dir() else []


def _run_config_names(ctx: click.Context) -> list[str]:
    from scopelab.runs import read_runs

    runs_dir = _runs_dir_of(ctx)
    return sorted({run.config_name for run in read_runs(runs_dir) if run.record}) if runs_dir.is_dir() else []
