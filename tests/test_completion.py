"""Shell completion through click's own protocol (_SCOPELAB_COMPLETE=bash_complete, COMP_WORDS, COMP_CWORD), as
bash asks it: config names wherever a config is taken, run ids wherever a run is, trash ids for `restore`;
and `scopelab completion SHELL` prints a script that shell loads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_reproduce import write_all

from scopelab.cli import main
from scopelab.config_source import builtin_names
from scopelab.runs.directory import mark

from conftest import cli

BUILT_IN = set(builtin_names())


def complete(words: str, runs_dir: Path | None = None) -> list[str]:
    """What bash offers for the last word of `words` (a trailing space: a new, empty word)."""
    env = {"_SCOPELAB_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    if runs_dir is not None:
        env["SCOPELAB_RUNS_DIR"] = str(runs_dir)
    result = CliRunner().invoke(main, [], env=env, prog_name="scopelab", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """The article's four configs, one run each (written, not trained), and one run of them in the trash."""
    runs_dir = tmp_path_factory.mktemp("completion") / "runs"
    write_all(runs_dir)
    mark(runs_dir)  # a runs directory scopelab made: rm acts in it
    assert cli("rm", "20261127-100000-mlp_shared", "--yes", "--runs-dir", runs_dir).exit_code == 0
    return runs_dir


@pytest.mark.parametrize("words", ["scopelab run ", "scopelab sweep ", "scopelab config show ", "scopelab inspect "])
def test_config_names_complete_wherever_a_config_is_taken(words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./configs/ holds one config of the user's own
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "wide.yaml").write_text("base: tied_ae\n")
    offered = set(complete(words))
    assert BUILT_IN | {"wide"} <= offered
    assert set(complete(words + "ti")) >= {"tied_ae"} and "untied_ae" not in complete(words + "ti")


def test_a_config_path_is_left_to_the_shell():
    result = CliRunner().invoke(main, [], prog_name="scopelab", env={
        "_SCOPELAB_COMPLETE": "bash_complete", "COMP_WORDS": "scopelab run configs/", "COMP_CWORD": "2"})
    assert result.stdout.splitlines() == ["file,configs/"]  # bash then completes the path itself


def test_config_copy_offers_the_built_in_configs():
    assert set(complete("scopelab config copy ")) == BUILT_IN


@pytest.mark.parametrize("words", ["scopelab show ", "scopelab tag ", "scopelab note ", "scopelab compare ",
                                   "scopelab board ", "scopelab rm ", "scopelab run --resume ",
                                   "scopelab inspect "])
def test_run_ids_complete_wherever_a_run_is_taken(words, runs_dir):
    offered = complete(words + "2026", runs_dir)
    assert set(offered) == {"20261127-100000-untied_ae", "20261127-100000-tied_ae", "20261127-100000-mlp_averaged"}


def test_config_names_of_runs_complete_where_they_name_a_run(runs_dir):
    assert {"tied_ae", "untied_ae", "mlp_averaged"} <= set(complete("scopelab compare ", runs_dir))
    assert "mlp_shared" in complete("scopelab list --config mlp", runs_dir)  # the built-in on offer, too


def test_restore_offers_only_the_trash(runs_dir):
    assert complete("scopelab restore ", runs_dir) == ["20261127-100000-mlp_shared"]
    assert complete("scopelab show 20261127-100000-m", runs_dir) == ["20261127-100000-mlp_averaged"]


def test_the_runs_dir_given_on_the_command_line_is_the_one_read(runs_dir, tmp_path):
    assert complete(f"scopelab restore --runs-dir {runs_dir} ", tmp_path / "elsewhere") == [
        "20261127-100000-mlp_shared"]
    assert complete("scopelab restore ", tmp_path / "elsewhere") == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script_its_shell_loads(shell):
    result = cli("completion", shell)
    assert result.exit_code == 0
    assert "_SCOPELAB_COMPLETE" in result.stdout and f"{shell}_complete" in result.stdout


def test_the_bash_script_loads_and_registers_scopelab():
    script = cli("completion", "bash").stdout
    done = subprocess.run(["bash", "-c", f"{script}\ncomplete -p scopelab"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "scopelab" in done.stdout


def test_help_says_how_to_install_completion():
    assert "scopelab completion --help" in cli("--help").stdout
    help_text = cli("completion", "--help").stdout
    assert """eval "$(scopelab completion bash)\"""" in help_text and "completions/scopelab.fish" in help_text


def test_an_unknown_shell_is_one_line_and_exit_2():
    result = cli("completion", "tcsh")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
