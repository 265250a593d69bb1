"""The run record: format version, provenance, overrides, and run directories of scopelab 0.1 (the fixture)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from scopelab.runs import RecordError, RunRecord, SweepRecord

from conftest import cli, only_run, summary_of, tiny_autoencoder, write_config

LEGACY = Path(__file__).parent / "fixtures" / "legacy_runs"
LEGACY_ID = "20261127-124555-legacy"


@pytest.fixture
def legacy_runs(tmp_path, mnist_dir) -> Path:
    """A copy of the scopelab 0.1 run directory, its config pointed at this session's synthetic data."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(LEGACY, runs_dir, ignore=shutil.ignore_patterns("README.md"))
    config_file = runs_dir / LEGACY_ID / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["data"]["path"] = str(mnist_dir)
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return runs_dir


def test_a_new_run_records_version_provenance_and_overrides(tmp_path, mnist_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("TF_DETERMINISTIC_OPS", "1")
    monkeypatch.setenv("SCOPELAB_TEST_MARK", "on")
    monkeypatch.setenv("UNRELATED_SECRET", "never recorded")
    (tmp_path / "plain dir").mkdir()
    config = write_config(tmp_path / "plain dir" / "ae.yaml", tiny_autoencoder(mnist_dir))
    args = ("run", config, "--set", "train.learning_rate=0.2", "--set", "model.tied=false", "--runs-dir", runs_dir,
            "--quiet")
    before = datetime.now().astimezone()
    result = cli(*args)
    assert result.exit_code == 0, result.output
    summary = summary_of(only_run(runs_dir))
    assert summary["format_version"] == 2
    assert summary["overrides"] == {"train.learning_rate": 0.2, "model.tied": False}
    provenance = summary["provenance"]
    assert provenance["command"] == shlex.join(["scopelab", *map(str, args)])  # the space in the path is quoted
    assert shlex.split(provenance["command"])[2] == str(config)
    assert provenance["git"] is None  # tmp_path is in no repository
    assert provenance["packages"]["tensorflow"] and provenance["packages"]["PyYAML"]
    assert provenance["python"] and provenance["scopelab"]
    assert "is_cuda_build" in provenance["tensorflow_build"]
    assert provenance["machine"]["cores"] >= 1 and provenance["machine"]["memory_bytes"] > 0
    assert provenance["env"]["TF_DETERMINISTIC_OPS"] == "1"
    assert "SCOPELAB_TEST_MARK" not in provenance["env"]  # an allowlist by name, not a SCOPELAB_* prefix
    assert "UNRELATED_SECRET" not in json.dumps(summary)
    started, ended = (datetime.fromisoformat(summary[key]) for key in ("started_at", "ended_at"))
    assert started.utcoffset() == timedelta(0) and summary["started_at"].endswith("+00:00")
    assert before - timedelta(seconds=1) <= started <= ended
    assert summary["steps_total"] == {"autoencoder": 30}


def test_git_state_of_the_config_repository(tmp_path, mnist_dir, runs_dir):
    repo = tmp_path / "repo"
    repo.mkdir()
    config = write_config(repo / "ae.yaml", tiny_autoencoder(mnist_dir))
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "exp"], check=True)
    subprocess.run([*git, "add", "ae.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "config"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    config.write_text(config.read_text() + "# edited\n")
    result = cli("run", config, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("next: scopelab show ")  # only the hint: no progress bar, no warning
    assert summary_of(only_run(runs_dir))["provenance"]["git"] == {"commit": commit, "branch": "exp", "dirty": True}


def test_resume_keeps_the_provenance_and_adds_its_command(legacy_runs):
    result = cli("run", "--resume", LEGACY_ID, "--runs-dir", legacy_runs, "--quiet")
    assert result.exit_code == 0, result.output
    summary = summary_of(legacy_runs / LEGACY_ID)
    assert summary["status"] == "completed" and summary["resumed"] == 1 and summary["format_version"] == 2
    provenance = summary["provenance"]
    # What scopelab 0.1 recorded is kept (its plain-joined command, its versions); the resume is added.
    assert provenance["command"].endswith("run legacy.yaml --runs-dir runs --quiet")
    assert provenance["python"] == "3.11.7" and provenance["packages"] == {"tensorflow": "2.21.0"}
    assert provenance["resume_commands"] == [f"scopelab run --resume {LEGACY_ID} --runs-dir {legacy_runs} --quiet"]
    assert summary["metrics"]["test_loss"] > 0
    steps = [row.split(",")[1] for row in (legacy_runs / LEGACY_ID / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["0", "10", "20", "30", "40"]  # continued from the checkpoint: no step logged twice


def test_the_old_format_lists_shows_and_compares(legacy_runs, tmp_path, mnist_dir):
    listing = json.loads(cli("list", "--runs", "--format", "json", "--runs-dir", legacy_runs).stdout)["runs"]
    assert [(run["run_id"], run["status"], run["steps"]) for run in listing] == [
        (LEGACY_ID, "interrupted", 21)  # steps 0..20 done at its checkpoint (a state without `done`)
    ]
    shown = cli("show", LEGACY_ID, "--format", "json", "--runs-dir", legacy_runs)
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert record["status"] == "interrupted" and record["reason"] == "stopped by SIGINT"
    assert record["config"] == {"name": "legacy", "file": "legacy.yaml"} and record["overrides"] == {}
    assert record["provenance"]["packages"] == {"tensorflow": "2.21.0"} and record["provenance"]["git"] is None
    text = cli("show", "legacy", "--runs-dir", legacy_runs).stdout
    assert "autoencoder 20" in text and "stopped by SIGINT" in text and "encoder/W" in text
    config = write_config(tmp_path / "legacy.yaml", tiny_autoencoder(mnist_dir, train={"steps": 20}))
    assert cli("run", config, "--runs-dir", legacy_runs, "--quiet").exit_code == 0
    compared = cli("compare", LEGACY_ID, "legacy", "--each", "--format", "json", "--runs-dir", legacy_runs)
    assert compared.exit_code == 0, compared.output
    (comparison,) = json.loads(compared.stdout)["comparisons"]
    assert [group["runs"][0] == LEGACY_ID for group in comparison["groups"]] == [True, False]
    losses = [row for row in comparison["rows"] if row["step"] == 20 and row["metric"] == "loss"]
    assert len(losses[0]["values"]) == 2


def test_records_round_trip_and_refuse_what_they_cannot_read():
    legacy = json.loads((LEGACY / LEGACY_ID / "summary.json").read_text())
    record = RunRecord.from_json(legacy)
    assert record.provenance.command.endswith("--quiet") and record.variables[0].name == "encoder/W"
    assert RunRecord.from_json(record.to_json()) == record
    assert RunRecord.from_json({**record.to_json(), "from_a_later_issue": 1}).to_json()["from_a_later_issue"] == 1
    with pytest.raises(RecordError, match="format version 3"):
        RunRecord.from_json({**record.to_json(), "format_version": 3})
    with pytest.raises(RecordError, match="field 'status' is 'done'"):
        RunRecord.from_json({**record.to_json(), "status": "done"})
    sweep = {"sweep_id": "s", "config_name": "c", "members": [{"index": 0, "status": "completed"}],
             "resume_command": "scopelab sweep --resume s"}
    upgraded = SweepRecord.from_json(sweep)
    assert upgraded.resume_commands == ["scopelab sweep --resume s"] and upgraded.members[0].status == "completed"
    assert upgraded.to_json()["format_version"] == 2


def test_runs_and_sweeps_are_resolved_with_one_wording(tmp_path):
    from scopelab.errors import InputError
    from scopelab.runs import RunDir, find_run, resolve_run, resolve_sweep

    runs_dir = tmp_path / "runs"
    for run_id, config_name in (("20261127-100000-tied_ae", "tied_ae"), ("20261127-110000-tied_ae", "tied_ae")):
        (runs_dir / run_id).mkdir(parents=True)
        RunDir(runs_dir / run_id).write_record(RunRecord(run_id, config_name, "autoencoder", "completed"))
    for sweep_id in ("20261127-120000-a", "20261127-130000-b"):
        (runs_dir / "sweeps" / sweep_id).mkdir(parents=True)
        RunDir(runs_dir / "sweeps" / sweep_id).write_sweep(SweepRecord(sweep_id, "a", status="completed"))

    def error(call, *args) -> str:
        with pytest.raises(InputError) as raised:
            call(*args)
        return str(raised.value)

    sweeps = runs_dir / "sweeps"
    assert error(resolve_run, runs_dir, "2026") == (
        f"run '2026' is ambiguous in {runs_dir}: 2 runs match: 20261127-110000-tied_ae, 20261127-100000-tied_ae."
    )
    assert error(resolve_sweep, runs_dir, "2026") == (
        f"sweep '2026' is ambiguous in {sweeps}: 2 sweeps match: 20261127-130000-b, 20261127-120000-a."
    )
    assert error(resolve_run, runs_dir, "2099") == f"no run '2099' in {runs_dir}."
    assert error(resolve_sweep, runs_dir, "2099") == f"no sweep '2099' in {sweeps}."
    assert error(resolve_sweep, runs_dir, "../a").startswith("'../a' is not a sweep id (letters, digits")
    # A command that also takes a config name says so, and suggests the close ones.
    expected = f"no run or config 'tied_aee' in {runs_dir} (did you mean 'tied_ae'?)."
    assert error(find_run, runs_dir, "tied_aee") == expected
    assert find_run(runs_dir, "tied_ae").run_id == "20261127-110000-tied_ae"
    assert resolve_sweep(runs_dir, "20261127-12").run_id == "20261127-120000-a"
