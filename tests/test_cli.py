"""The command line as a whole: help for every command, a fast start, and python -m."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scopelab.cli import main

from conftest import cli


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help_with_an_example(command):
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and f"scopelab {command} " in result.stdout
    assert main.commands[command].get_short_help_str()


def in_fresh_python(script: str, timeout: int) -> subprocess.CompletedProcess:
    """`script` in a new interpreter (so sys.modules shows what it imported), with `cli(ARGS)`: the real CLI,
    asserted to exit 0."""
    prelude = (
        "import sys\n"
        "from scopelab.cli import main\n"
        "def cli(args):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, (args, done.code)\n"
    )
    return subprocess.run([sys.executable, "-c", prelude + script], capture_output=True, text=True, timeout=timeout)


def test_help_does_not_import_tensorflow():
    # Every command's --help really runs (click exits 0 after printing it), then sys.modules is read.
    done = in_fresh_python(
        "for command in [[], *[[name] for name in main.commands]]:\n"
        "    cli([*command, '--help'])\n"
        "print('tensorflow' in sys.modules)\n",
        timeout=300,  # a bound for a starved machine, not a pause
    )
    assert done.returncode == 0, done.stderr
    assert "Example:" in done.stdout and "scopelab inspect " in done.stdout  # the help was printed
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_tensorflow_loads_without_keras_and_keras_still_imports_after(tmp_path):
    """A run imports TensorFlow without the Keras (and scikit-learn) that TensorFlow loads eagerly for
    nothing scopelab uses (scopelab.quiet_tf); Keras itself still works afterwards (`scopes` needs it)."""
    done = in_fresh_python(
        f"cli(['run', 'smoke', '--set', 'train.steps=2', '--quiet', '--runs-dir', {str(tmp_path)!r}])\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
        "import keras\n"
        "print(keras.optimizers.Adam.__name__)\n",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-2:] == ["True False", "Adam"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["list", "--status", "finished"], "Invalid value for '--status': 'finished' is not one of"),
        (["run", "--jobs", "0"], "Invalid value for '--jobs': '0' is neither 'auto' nor a whole number of at least 1."),
        (["compare", "--format", "xml"], "Invalid value for '--format': 'xml' is not one of"),
        (["run", "configs/tied_ae.yaml", "--bogus"], "No such option '--bogus'"),
        (["--bogus"], "No such option '--bogus'"),
        (["nosuch"], "No such command 'nosuch'"),
        (["inspect"], "Missing argument 'CONFIG_OR_RUN'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2_and_point_to_help(args, fragment, tmp_path):
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {fragment}")
    # The pointer names the subcommand's help when the error is in a subcommand ("main" is CliRunner's name).
    command = args[0] if args[0] in main.commands else None
    assert line.endswith(f"(see 'main {command} --help')" if command else "(see 'main --help')")


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "scopelab", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "scopelab" in done.stdout
