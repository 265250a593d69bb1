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


def test_help_does_not_import_tensorflow():
    script = "import sys; from scopelab.cli import main; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False"


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "scopelab", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "scopelab" in done.stdout
