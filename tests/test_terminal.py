"""Tables fit the terminal: every table command run in a real pseudo-terminal of 80 and 120 columns prints no
line wider than it; --wide, a pipe and CliRunner print everything whole (the same bytes)."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from test_reproduce import write_all, write_run

from scopelab.report.tables import ELLIPSIS, Table, fit

from conftest import cli

LONG_NOTE = "a note long enough that no narrow terminal holds it: the learning rate was raised after step 8000"


def in_terminal(columns: int, *args: str) -> str:
    """stdout of `scopelab ARGS` run on a pseudo-terminal `columns` wide (TIOCSWINSZ), as the user sees it."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([sys.executable, "-m", "scopelab", *args], stdin=subprocess.DEVNULL, stdout=slave,
                               stderr=subprocess.DEVNULL, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"})
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal's last writer, it has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait() == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")  # the terminal turns \n into \r\n


def piped(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "scopelab", *args], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """The article's four configs, three seeds each (runs written with known numbers: nothing trains), one
    tagged and noted, so `list` has every optional column."""
    runs_dir = tmp_path_factory.mktemp("terminal") / "runs"
    write_all(runs_dir, seeds=3, shifts=(-0.01, 0.0, 0.01))
    run = sorted(runs_dir.iterdir())[-1].name
    assert cli("tag", run, "baseline", "article", "reproduced", "--runs-dir", runs_dir).exit_code == 0
    assert cli("note", run, LONG_NOTE, "--runs-dir", runs_dir).exit_code == 0
    return runs_dir


def commands(runs_dir: Path) -> dict[str, list[str]]:
    run = sorted(runs_dir.iterdir())[-1].name
    where = ["--runs-dir", str(runs_dir)]
    return {
        "list": ["list", *where],
        "show": ["show", run, *where],
        "compare": ["compare", *where],
        "compare two": ["compare", "untied_ae", "tied_ae", *where],
        "reproduce": ["reproduce", "--quick", "--seeds", "3", *where],
        "config show": ["config", "show", "tied_ae"],
    }


# Each of these prints lines wider than 80 columns when nothing is cut: checked below, so a fit that does
# nothing fails the test.
@pytest.mark.parametrize("name", ["list", "show", "compare", "compare two", "reproduce"])
@pytest.mark.parametrize("columns", [80, 120])
def test_report_tables_fit_the_terminal(runs_dir, name, columns):
    args = commands(runs_dir)[name]
    whole = piped(*args)
    assert max(map(len, whole.splitlines())) > 80
    shown = in_terminal(columns, *args)
    assert max(map(len, shown.splitlines())) <= columns
    assert in_terminal(columns, *args, "--wide") == whole  # --wide: as a script reads it


def test_a_pipe_gets_what_clirunner_gets(runs_dir):
    for args in commands(runs_dir).values():
        assert piped(*args) == cli(*args).stdout


def test_list_at_80_columns_keeps_ids_whole_and_says_what_it_left_out(runs_dir):
    shown = in_terminal(80, "list", "--runs", "--runs-dir", runs_dir)
    for line in cli("list", "--runs", "--runs-dir", runs_dir).stdout.splitlines()[3:]:
        assert line.split()[0] in shown  # the short id, whole
    assert "(note, tags, started left out to fit the terminal: --wide shows them)" in shown
    wider = in_terminal(120, "list", "--runs", "--runs-dir", runs_dir)
    assert "left out" not in wider and "a note lo" + ELLIPSIS in wider  # at 120 all fit, shortened


def test_verdicts_wrap_rather_than_cut(runs_dir):
    shown = in_terminal(80, *commands(runs_dir)["reproduce"])
    whole = piped(*commands(runs_dir)["reproduce"])
    verdicts = whole[whole.index("\nverdicts\n"):]
    assert " ".join(shown[shown.index("\nverdicts\n"):].split()) == " ".join(verdicts.split())


def test_the_article_tables_wrap_their_row_labels_rather_than_cut_them(runs_dir):
    shown = in_terminal(80, *commands(runs_dir)["reproduce"])
    assert ELLIPSIS not in shown
    assert "\n(ran 250) loss " in shown and "\n0) accuracy " in shown  # each label's end on a line of its own


def test_config_show_folds_yaml_that_reads_back_the_same():
    import yaml

    shown = in_terminal(80, "config", "show", "tied_ae")
    whole = piped("config", "show", "tied_ae")
    assert max(map(len, whole.splitlines())) > 80 >= max(map(len, shown.splitlines()))
    assert yaml.safe_load(shown) == yaml.safe_load(whole)


@pytest.mark.parametrize("args", [["scopes"], ["scopes", "--api", "tf2"], ["inspect", "tied_ae"]])
def test_tensorflow_tables_fit_the_terminal(args):
    """At 80 columns only: each builds a graph (seconds), and 120 asks less of the same fitting."""
    shown = in_terminal(80, *args)
    assert "name" in shown and max(map(len, shown.splitlines())) <= 80


def test_fit_shortens_the_columns_that_give_in_their_order_and_keeps_the_rest():
    table = Table("t", ["id", "text", "more", "n"],
                  [["20261127-100000", "x" * 30, "y" * 30, "12345"]], right={3}, give=(2, 1))
    fitted = fit(table, 60)
    assert fitted.rows[0][0] == "20261127-100000" and fitted.rows[0][3] == "12345"
    assert fitted.rows[0][2] == "y" * 9 + ELLIPSIS  # the first to give goes down to FLOOR first
    assert fitted.rows[0][1] == "x" * 23 + ELLIPSIS  # 15 + 24 + 10 + 5 + 6 spaces = 60


# --- the small things a first hour runs into ----------------------------------------------------------------


def test_an_error_in_a_built_in_config_names_it_builtin_not_its_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./configs/smoke.yaml: the built-in one is read
    result = cli("config", "show", "smoke", "--set", "model.hidden_size=-1")
    assert result.exit_code == 2
    assert result.stderr == "Error: builtin:smoke: key 'model.hidden_size' is -1; expected an integer >= 1.\n"


def test_sort_suggests_the_key_meant(runs_dir):
    result = cli("list", "--sort", "test_los", "--runs-dir", runs_dir)
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "--sort test_los: no such column or test metric (did you mean 'test_loss'?)" in result.stderr


def test_show_and_list_give_the_same_steps(tmp_path):
    run = write_run(tmp_path, "tied_ae", 0)
    summary = json.loads((run.path / "summary.json").read_text())
    (run.path / "summary.json").write_text(json.dumps({**summary, "steps_total": {"autoencoder": 500}}))
    run.ckpt_dir.mkdir()
    state = {"phase": 1, "step": 0, "rows": [], "lines": [], "test_metrics": {}, "checkpoint": "model-501", "done": 501}
    (run.ckpt_dir / "state-500.json").write_text(json.dumps(state))  # the last checkpoint: every update done
    listed = cli("list", "--runs", "--runs-dir", tmp_path).stdout
    shown = cli("show", run.run_id, "--runs-dir", tmp_path).stdout
    assert " 501/501 " in listed
    assert "steps      501/501 (last logged step: autoencoder 500)" in shown
