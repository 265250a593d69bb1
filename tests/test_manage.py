"""Managing runs through the CLI: show, tag, note, rm / restore / purge, sorted and filtered lists, sweeps,
SCOPELAB_RUNS_DIR and shell completion. Mostly on run directories written here through the record type (no
TensorFlow needed); tagging during training and `show` of a real run use tiny real runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.shell_completion import ShellComplete

from scopelab.cli import main
from scopelab.ownership import Ownership
from scopelab.runs import Annotations, RunDir, RunRecord, SweepMember, SweepRecord, mark

from conftest import cli, only_run, summary_of, tiny_autoencoder, write_config

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def make_run(
    runs_dir: Path, run_id: str, config_name: str = "cfg", status: str = "completed", experiment: str = "autoencoder",
    **fields,
) -> RunDir:
    """A run directory as scopelab writes it, without training: record, config.yaml and one logged row."""
    path = runs_dir / run_id
    path.mkdir(parents=True)
    mark(runs_dir)  # as scopelab marks every runs directory it makes
    run = RunDir(path)
    config = {"name": config_name, "experiment": experiment, "model": {"tied": True}, "train": {"seed": 0}}
    run.write_text("config.yaml", yaml.safe_dump(config))
    run.write_text("metrics.csv", "network,step,loss,accuracy\nautoencoder,10,0.5,\n")
    stamp = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:{run_id[11:13]}:{run_id[13:15]}+00:00"
    fields.setdefault("started_at", stamp)
    run.write_record(RunRecord(run_id, config_name, experiment, status, **fields))
    return run


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under a directory and its bytes: to check that a refused command changed nothing."""
    return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture
def three_runs(runs_dir) -> Path:
    make_run(runs_dir, "20261120-100000-ae", "ae", metrics={"test_loss": 0.20}, overrides={"train.learning_rate": 0.1})
    make_run(runs_dir, "20261121-100000-ae", "ae", metrics={"test_loss": 0.15}, overrides={"train.learning_rate": 0.3})
    make_run(runs_dir, "20261122-100000-mlp", "mlp", "failed", error="RuntimeError: out of memory")
    return runs_dir


# --- show -------------------------------------------------------------------------------------------------------


def test_show_a_real_run_as_text_and_json(tmp_path, mnist_dir, runs_dir):
    config = write_config(tmp_path / "ae.yaml", tiny_autoencoder(mnist_dir))
    assert cli("run", config, "--set", "train.seed=3", "--runs-dir", runs_dir, "--quiet").exit_code == 0
    run = only_run(runs_dir)
    assert cli("tag", "ae", "best", "--runs-dir", runs_dir).exit_code == 0
    assert cli("note", run.name[:15], "a first try", "--runs-dir", runs_dir).exit_code == 0
    shown = cli("show", "ae", "--format", "json", "--runs-dir", runs_dir)
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert {"id", "status", "config", "overrides", "test_metrics", "tags", "note", "provenance"} <= set(record)
    assert record["id"] == run.name and record["status"] == "completed" and record["overrides"] == {"train.seed": 3}
    assert record["test_metrics"] == summary_of(run)["metrics"] and record["tags"] == ["best"]
    assert record["note"] == "a first try" and record["config"] == {"name": "ae", "file": str(config)}
    assert {"git", "command", "packages", "python", "machine", "env"} <= set(record["provenance"])
    text = cli("show", run.name, "--runs-dir", runs_dir).stdout
    lines = dict(line.split("  ", 1) for line in text.split("\n\n")[0].splitlines())
    assert lines["run"].strip() == run.name and lines["overrides"].strip() == "train.seed=3"
    assert lines["steps"].strip() == "31/31 (last logged step: autoencoder 30)" and lines["tags"].strip() == "best"
    assert lines["test loss"].strip() == f"{record['test_metrics']['test_loss']:.6f}"
    assert lines["command"].strip() == f"scopelab run {config} --set train.seed=3 --runs-dir {runs_dir} --quiet"
    assert "encoder/W" in text and "shared" in text


def test_show_of_an_unknown_run_is_one_line(three_runs):
    assert "no run or config 'nothing'" in one_error_line(cli("show", "nothing", "--runs-dir", three_runs))
    assert "ambiguous" in one_error_line(cli("show", "2026112", "--runs-dir", three_runs))


# --- tags and notes ---------------------------------------------------------------------------------------------


def test_tags_and_notes_are_kept_apart_from_the_record(three_runs):
    before = (three_runs / "20261121-100000-ae" / "summary.json").read_bytes()
    assert cli("tag", "20261121", "best", "lr-sweep", "best", "--runs-dir", three_runs).exit_code == 0
    assert cli("tag", "20261120", "lr-sweep", "--runs-dir", three_runs).exit_code == 0
    assert cli("note", "20261121", "keep: the article's number", "--runs-dir", three_runs).exit_code == 0
    assert (three_runs / "20261121-100000-ae" / "summary.json").read_bytes() == before
    annotations = json.loads((three_runs / "20261121-100000-ae" / "annotations.json").read_text())
    assert annotations["tags"] == ["best", "lr-sweep"] and annotations["note"] == "keep: the article's number"
    tagged = json.loads(cli("list", "--tag", "lr-sweep", "--format", "json", "--runs-dir", three_runs).stdout)
    assert [run["run_id"] for run in tagged["runs"]] == ["20261121-100000-ae", "20261120-100000-ae"]
    table = cli("list", "--runs", "--runs-dir", three_runs).stdout
    assert "best,lr-sweep" in table and "keep: the article's number" in table
    assert cli("tag", "20261121", "best", "--remove", "--runs-dir", three_runs).exit_code == 0
    assert cli("note", "20261121", "--clear", "--runs-dir", three_runs).exit_code == 0
    after = json.loads((three_runs / "20261121-100000-ae" / "annotations.json").read_text())
    assert after["tags"] == ["lr-sweep"] and after["note"] == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (("tag", "nothing", "x"), "no run or config 'nothing'"),
        (("tag", "20261121", "best", "--remove"), "has no tag 'best'"),
        (("tag", "20261121", "two words"), "tag 'two words'"),
        (("tag", "20261121", "ok", "_bad"), "tag '_bad'"),
        (("note", "20261121"), "--clear"),
        (("note", "20261121", "text", "--clear"), "--clear"),
        (("note", "20261121", "   "), "empty"),
    ],
)
def test_bad_tag_and_note_arguments_change_nothing(three_runs, args, message):
    before = snapshot(three_runs)
    assert message in one_error_line(cli(*args, "--runs-dir", three_runs))
    assert snapshot(three_runs) == before


def test_a_tag_added_while_the_run_trains_survives_its_summary(tmp_path, mnist_dir, runs_dir):
    config = tiny_autoencoder(mnist_dir, train={"steps": 3000, "log_every": 100})
    path = write_config(tmp_path / "long.yaml", config)
    process = subprocess.Popen(
        [sys.executable, "-m", "scopelab", "run", str(path), "--runs-dir", str(runs_dir), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )
    for line in process.stdout:
        if line.startswith("step, loss = 100"):
            break
    run = only_run(runs_dir)
    assert summary_of(run)["status"] == "running"
    tagged = cli("tag", run.name, "mid-training", "--runs-dir", runs_dir)
    noted = cli("note", run.name, "tagged while it ran", "--runs-dir", runs_dir)
    assert tagged.exit_code == 0 and noted.exit_code == 0
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert summary_of(run)["status"] == "completed" and "step, loss = 3000" in out  # it went on after the tag
    shown = json.loads(cli("show", run.name, "--format", "json", "--runs-dir", runs_dir).stdout)
    assert shown["tags"] == ["mid-training"] and shown["note"] == "tagged while it ran"


# --- rm, restore, purge -----------------------------------------------------------------------------------------


def test_rm_restore_and_purge(three_runs):
    moved = cli("rm", "20261122", "--yes", "--runs-dir", three_runs)
    assert moved.exit_code == 0, moved.output
    assert moved.stdout == f"moved 20261122-100000-mlp to {three_runs / '.trash'}/\n"
    assert not (three_runs / "20261122-100000-mlp").exists()
    listed = json.loads(cli("list", "--runs", "--format", "json", "--runs-dir", three_runs).stdout)["runs"]
    assert [run["run_id"] for run in listed] == ["20261121-100000-ae", "20261120-100000-ae"]
    trash = json.loads(cli("list", "--trash", "--format", "json", "--runs-dir", three_runs).stdout)["runs"]
    assert [run["run_id"] for run in trash] == ["20261122-100000-mlp"]
    restored = cli("restore", "20261122", "--runs-dir", three_runs)
    assert restored.exit_code == 0 and (three_runs / "20261122-100000-mlp" / "summary.json").is_file()
    assert cli("rm", "--config", "ae", "--yes", "--runs-dir", three_runs).exit_code == 0
    trashed = sorted(path.name for path in (three_runs / ".trash").iterdir())
    assert trashed == ["20261120-100000-ae", "20261121-100000-ae"]
    purged = cli("purge", "--yes", "--runs-dir", three_runs)
    assert purged.exit_code == 0 and list((three_runs / ".trash").iterdir()) == []
    assert [path.name for path in three_runs.iterdir() if not path.name.startswith(".")] == ["20261122-100000-mlp"]


def test_rm_filters_by_status_and_age(runs_dir):
    old = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() - 10 * 86400))
    new = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() - 3600))
    make_run(runs_dir, f"{old}-a", status="failed")
    make_run(runs_dir, f"{old}-b")
    make_run(runs_dir, f"{new}-c", status="failed")
    result = cli("rm", "--status", "failed", "--older-than", "7d", "--yes", "--runs-dir", runs_dir)
    assert result.exit_code == 0 and result.stdout.splitlines() == [f"moved {old}-a to {runs_dir / '.trash'}/"]
    assert cli("rm", "--older-than", "2h", "--status", "completed", "--yes", "--runs-dir", runs_dir).exit_code == 0
    assert sorted(path.name for path in (runs_dir / ".trash").iterdir()) == [f"{old}-a", f"{old}-b"]
    assert "no run matches" in cli("rm", "--older-than", "30d", "--yes", "--runs-dir", runs_dir).stdout


def test_rm_asks_on_a_terminal(three_runs, monkeypatch):
    monkeypatch.setattr("scopelab.cli._interactive", lambda: True)
    declined = CliRunnerInput("n\n").invoke("rm", "20261120", "--runs-dir", three_runs)
    assert declined.exit_code == 0 and (three_runs / "20261120-100000-ae").is_dir()  # a "no" is not a failure
    assert declined.stdout.endswith("nothing removed.\n")
    accepted = CliRunnerInput("y\n").invoke("rm", "20261120", "--runs-dir", three_runs)
    assert accepted.exit_code == 0 and not (three_runs / "20261120-100000-ae").exists()
    assert "Move 1 run(s) to the trash: 20261120-100000-ae?" in accepted.stdout


class CliRunnerInput:
    """The CLI with text typed on its standard input."""

    def __init__(self, text: str):
        self.text = text

    def invoke(self, *args):
        from click.testing import CliRunner

        return CliRunner().invoke(main, [str(arg) for arg in args], input=self.text)


def test_refused_removals_change_nothing(three_runs):
    make_run(three_runs, "20261123-100000-alive", status="running", pid=os.getpid(), host=socket.gethostname())
    cases = [
        (("rm", "20261120"), "without a terminal; add --yes"),
        (("rm", "--yes"), "name the runs"),
        (("rm", "20261123", "--yes"), "still running"),
        (("rm", "20261120", "20261123", "--yes"), "still running"),
        (("rm", "nothing", "--yes"), "no run 'nothing'"),
        (("rm", "--older-than", "soon", "--yes"), "--older-than soon"),
        (("rm", "--older-than", "7", "--yes"), "--older-than 7"),
        (("restore", "20261120"), "in the trash"),
        (("purge",), "the trash is empty"),
    ]
    with Ownership(three_runs / "20261123-100000-alive", "test"):  # as a live trainer holds its run
        before = snapshot(three_runs)
        for args, message in cases:
            result = cli(*args, "--runs-dir", three_runs)
            if args == ("purge",):
                assert result.exit_code == 0 and message in result.stdout
                continue
            assert message in one_error_line(result), args
            assert snapshot(three_runs) == before, args
    assert cli("rm", "20261120", "--yes", "--runs-dir", three_runs).exit_code == 0
    assert "without a terminal" in one_error_line(cli("purge", "--runs-dir", three_runs))
    make_run(three_runs, "20261120-100000-ae")
    assert "exists" in one_error_line(cli("restore", "20261120-100000-ae", "--runs-dir", three_runs))


def test_removing_a_sweep_member_marks_it_in_the_sweep(runs_dir):
    sweep_id = "20261124-090000-ae"
    members = []
    for index, rate in enumerate((0.1, 0.3)):
        run_id = f"20261124-10000{index}-ae"
        make_run(runs_dir, run_id, "ae", metrics={"test_loss": 0.2 - index / 100}, sweep=sweep_id, sweep_member=index,
                 grid_point={"train.learning_rate": rate}, overrides={"train.learning_rate": rate})
        members.append(SweepMember(index, {"train.learning_rate": rate}, 0, [f"train.learning_rate={rate}"], run_id,
                                   "completed"))
    sweep_dir = RunDir(runs_dir / "sweeps" / sweep_id)
    sweep_dir.path.mkdir(parents=True)
    sweep_dir.write_sweep(SweepRecord(sweep_id, "ae", grid={"train.learning_rate": ["0.1", "0.3"]}, seeds=None,
                                      status="completed", members=members))
    listed = cli("list", "--sweep", "20261124-09", "--runs-dir", runs_dir).stdout
    assert "train.learning_rate=0.1" in listed and "train.learning_rate=0.3" in listed
    assert cli("rm", "20261124-100001", "--yes", "--runs-dir", runs_dir).exit_code == 0
    record = json.loads((sweep_dir.path / "sweep.json").read_text())
    assert [member["removed"] for member in record["members"]] == [False, True]
    sweeps = json.loads(cli("list", "--sweeps", "--format", "json", "--runs-dir", runs_dir).stdout)["sweeps"]
    assert sweeps[0]["members"] == {"completed": 1, "removed": 1}
    assert "1 completed, 1 removed" in cli("list", "--sweeps", "--runs-dir", runs_dir).stdout
    compared = json.loads(cli("compare", "ae", "--format", "json", "--runs-dir", runs_dir).stdout)
    assert [group["runs"] for group in compared["comparisons"][0]["groups"]] == [["20261124-100000-ae"]]
    assert cli("restore", "20261124-100001", "--runs-dir", runs_dir).exit_code == 0
    record = json.loads((sweep_dir.path / "sweep.json").read_text())
    assert [member["removed"] for member in record["members"]] == [False, False]


# --- list: sorting, overrides, the environment ------------------------------------------------------------------


def test_list_sorts_by_metric_direction_and_column(runs_dir):
    make_run(runs_dir, "20261120-100000-ae", "ae", metrics={"test_loss": 0.20})
    make_run(runs_dir, "20261121-100000-ae", "ae", metrics={"test_loss": 0.15})
    # Which way is better is the experiment's to say (its family module's METRICS): accuracies are mlp_pair's.
    make_run(runs_dir, "20261122-100000-mlp", "mlp", experiment="mlp_pair", metrics={"acc_averaged": 0.97})
    make_run(runs_dir, "20261123-100000-mlp", "mlp", experiment="mlp_pair", metrics={"acc_averaged": 0.98})

    def order(*args):
        result = cli("list", "--format", "json", "--runs-dir", runs_dir, *args)
        assert result.exit_code == 0, result.output
        return [run["run_id"][:8] for run in json.loads(result.stdout)["runs"]]

    assert order("--sort", "test_loss") == ["20261121", "20261120", "20261123", "20261122"]  # lowest loss first
    assert order("--sort", "acc_averaged") == ["20261123", "20261122", "20261121", "20261120"]  # highest first
    assert order("--sort", "acc_averaged", "--reverse", "--top", "2") == ["20261122", "20261123"]
    assert order("--sort", "config", "--top", "1") == ["20261121"]
    assert order("--sort", "run") == ["20261120", "20261121", "20261122", "20261123"]
    before = snapshot(runs_dir)
    assert "--sort speed" in one_error_line(cli("list", "--sort", "speed", "--runs-dir", runs_dir))
    assert snapshot(runs_dir) == before


def test_every_command_with_runs_dir_reads_the_environment(three_runs, monkeypatch):
    monkeypatch.setenv("SCOPELAB_RUNS_DIR", str(three_runs))
    assert "20261121" in cli("list", "--runs").stdout
    assert json.loads(cli("show", "20261121", "--format", "json").stdout)["id"] == "20261121-100000-ae"
    assert cli("tag", "20261121", "env").exit_code == 0
    assert cli("rm", "20261122", "--yes").exit_code == 0 and cli("restore", "20261122").exit_code == 0
    for name, command in main.commands.items():
        if any(param.name == "runs_dir" for param in command.params):
            option = next(param for param in command.params if param.name == "runs_dir")
            assert option.envvar == "SCOPELAB_RUNS_DIR", name


def test_shell_completion_offers_run_ids_and_config_names(three_runs, monkeypatch, tmp_path):
    monkeypatch.setenv("SCOPELAB_RUNS_DIR", str(three_runs))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mnist_big.yaml").write_text("experiment: autoencoder\n")
    complete = ShellComplete(main, {}, "scopelab", "_SCOPELAB_COMPLETE")
    shown = [item.value for item in complete.get_completions(["show"], "")]
    assert shown == ["20261122-100000-mlp", "20261121-100000-ae", "20261120-100000-ae", "ae", "mlp"]
    assert [item.value for item in complete.get_completions(["tag"], "2026112")][0] == "20261122-100000-mlp"
    assert [item.value for item in complete.get_completions(["list", "--config"], "m")] == ["mlp", "mnist_big"]
    assert [item.value for item in complete.get_completions(["rm"], "202611")] == [
        "20261122-100000-mlp", "20261121-100000-ae", "20261120-100000-ae"
    ]


def test_show_tag_note_and_rm_do_not_import_tensorflow(three_runs):
    script = (
        "import sys\n"
        "from scopelab.cli import main\n"
        "for args in (['show', '20261121'], ['tag', '20261121', 'x'], ['note', '20261121', 'y'],\n"
        "             ['rm', '20261120', '--yes'], ['restore', '20261120'], ['list', '--sweeps']):\n"
        "    try:\n"
        "        main([*args, '--runs-dir', sys.argv[1]])\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 0, (args, stop.code)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(three_runs)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False"
    assert RunDir(three_runs / "20261121-100000-ae").read_annotations() == Annotations(["x"], "y")
