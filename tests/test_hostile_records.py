"""Records anyone can edit (issue 21, items 12, 13, 18): every field of summary.json, sweep.json,
annotations.json, a checkpoint's state and metrics.csv is checked when read; a bad one makes that run or
sweep broken, naming the file and the field, and every command goes on with the rest. What scopelab prints
from records is escaped (text), neutralised (csv) and strict (json). No TensorFlow: fake runs, in process.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import subprocess
import tempfile
import traceback
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scopelab.cli import main
from scopelab.runs import NOTE_LIMIT, Annotations, RunDir, RunRecord, SweepMember, SweepRecord, Variable
from scopelab.runs.directory import mark

from conftest import cli

GOOD, OTHER, BROKEN = "20260101-000001-tied_ae", "20260101-000002-tied_ae", "20260101-000003-tied_ae"
SWEEP_ID = "20260101-000000-tied_ae"
CONFIG = "name: tied_ae\nexperiment: autoencoder\ntrain: {seed: %d}\n"
METRICS = "network,step,loss,accuracy\nautoencoder,0,0.5,\nautoencoder,10,0.25,\n"


def record(run_id: str, seed: int, **changes) -> dict:
    made = RunRecord(run_id, "tied_ae", "autoencoder", "completed", seed=seed, metrics={"test_loss": 0.2 + seed / 100},
                     steps_total={"autoencoder": 10}, started_at="2026-01-01T00:00:01+00:00", wall_seconds=3.5,
                     variables=[Variable("encoder/W", [784, 8], 6272, "encoder", ["encoder", "decoder"], True)],
                     sweep=SWEEP_ID, sweep_member=seed)
    made.provenance.command = "scopelab run tied_ae"
    made.provenance.machine = {"cpu": "cpu", "cores": 2, "memory_bytes": 8 << 30, "gpus": []}
    return {**made.to_json(), **changes}


def state(done: int = 11) -> dict:
    return {"phase": 0, "step": 11, "rows": [], "lines": [], "test_metrics": {}, "checkpoint": "model-11",
            "done": done, "config_hash": "0" * 64, "config": {}}


def sweep_record() -> dict:
    members = [SweepMember(index, {}, index, [f"train.seed={index}"], run_id, "completed")
               for index, run_id in enumerate((GOOD, OTHER))]
    return SweepRecord(SWEEP_ID, "tied_ae", seeds=[0, 1], created_at="2026-01-01T00:00:00+00:00",
                       status="completed", members=members).to_json()


def base_files() -> dict[str, object]:
    """Relative path -> JSON data (or text, for metrics.csv and configs): two good runs of one sweep."""
    files: dict[str, object] = {f"sweeps/{SWEEP_ID}/sweep.json": sweep_record()}
    for seed, run_id in enumerate((GOOD, OTHER)):
        files[f"{run_id}/summary.json"] = record(run_id, seed)
        files[f"{run_id}/annotations.json"] = Annotations(["baseline"], "a note").to_json()
        files[f"{run_id}/ckpt/state-11.json"] = state()
        files[f"{run_id}/metrics.csv"] = METRICS
        files[f"{run_id}/config.yaml"] = CONFIG % seed
    return files


def write_files(runs_dir: Path, files: dict[str, object]) -> None:
    for name, data in files.items():
        path = runs_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data if isinstance(data, str) else json.dumps(data))


def invoke(*args: str, **kwargs):
    """The CLI in process; an exception is kept (never raised) so that a test can say it was a traceback."""
    return CliRunner().invoke(main, [str(arg) for arg in args], **kwargs)


def at_most_one_line(result, args: tuple) -> None:
    """The contract: exit 0 or 2, no traceback, and at most one line on stderr."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: {''.join(traceback.format_exception(*result.exc_info))}")
    assert result.exit_code in (0, 2), (args, result.stderr)
    assert len(result.stderr.splitlines()) <= 1, result.stderr


def strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def runs(tmp_path) -> Path:
    runs_dir = tmp_path / "runs"
    write_files(runs_dir, base_files())
    mark(runs_dir)  # a runs directory scopelab made: rm, restore and purge act in it
    return runs_dir


# --- item 18: one bad record takes down nothing else --------------------------------------------------------


@pytest.mark.parametrize("missing", ["config_name", "experiment"])
def test_a_summary_without_a_required_field_is_broken_and_every_command_goes_on(runs, missing):
    (runs / BROKEN).mkdir()
    summary = record(BROKEN, 2)
    del summary[missing]
    (runs / BROKEN / "summary.json").write_text(json.dumps(summary))
    where = ("--runs-dir", runs)

    listed = cli("list", "--runs", "--format", "json", *where)
    rows = {row["run_id"]: row for row in strict(listed.stdout)["runs"]}
    assert rows[BROKEN]["status"] == "broken"
    assert rows[BROKEN]["reason"] == f"summary.json: field '{missing}' is missing"
    assert rows[GOOD]["status"] == "completed"
    shown = cli("show", BROKEN, *where)
    assert shown.exit_code == 0 and f"broken: summary.json: field '{missing}' is missing" in shown.stdout
    assert cli("show", GOOD, *where).exit_code == 0
    assert cli("compare", GOOD, OTHER, *where).exit_code == 0
    assert cli("compare", *where).exit_code == 0
    assert cli("tag", GOOD, "kept", *where).exit_code == 0
    assert cli("rm", OTHER, "--yes", *where).exit_code == 0
    completion = complete(runs, "show ")
    assert completion.exit_code == 0 and GOOD in completion.stdout and BROKEN in completion.stdout
    # board: its choice of runs and the metrics it declares (serving needs TensorBoard: not here)
    from scopelab.board import chosen_runs
    from scopelab.hparams import declared_metrics

    assert {run.run_id for run in chosen_runs(runs, ("tied_ae",))} == {GOOD}  # OTHER was removed above
    assert declared_metrics(RunDir(runs / BROKEN)) == () and declared_metrics(RunDir(runs / GOOD))


def complete(runs: Path, line: str):
    """Click's shell-completion protocol, as bash's completion script drives it."""
    words = f"scopelab {line}"
    env = {"_SCOPELAB_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1),
           "SCOPELAB_RUNS_DIR": str(runs)}
    return CliRunner().invoke(main, [], prog_name="scopelab", env=env)


def test_a_sweep_record_with_a_missing_field_is_a_broken_sweep_and_rm_goes_on(runs):
    path = runs / "sweeps" / SWEEP_ID / "sweep.json"
    sweep = json.loads(path.read_text())
    del sweep["config_name"]
    path.write_text(json.dumps(sweep))

    listed = cli("list", "--sweeps", "--format", "json", "--runs-dir", runs)
    (row,) = strict(listed.stdout)["sweeps"]
    assert row["status"] == "broken" and row["reason"] == "sweep.json: field 'config_name' is missing"
    removed = cli("rm", GOOD, "--yes", "--runs-dir", runs)
    assert removed.exit_code == 0 and (runs / ".trash" / GOOD).is_dir()
    resumed = cli("sweep", "--resume", SWEEP_ID, "--runs-dir", runs)
    assert resumed.exit_code == 2 and resumed.stderr == (
        f"Error: sweep {SWEEP_ID}: sweep.json: field 'config_name' is missing; it cannot be resumed.\n")


def test_a_set_index_beyond_the_networks_is_one_line(tmp_path):
    result = cli("config", "show", "mlp_shared", "--set", "networks.2.steps=5")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "'networks.2' is not an index of the 2-item list" in result.stderr


@pytest.mark.parametrize(
    ("file", "field", "value", "reason"),
    [
        ("summary.json", "wall_seconds", "fast", "field 'wall_seconds' is 'fast'; expected a finite number"),
        ("summary.json", "wall_seconds", float("nan"), "summary.json: field 'wall_seconds' is nan; expected a finite"),
        ("summary.json", "steps_total", {"autoencoder": -1}, "summary.json: field 'steps_total.autoencoder' is -1"),
        ("summary.json", "pid", 2**70, "summary.json: field 'pid' is an integer of 71 bits"),
        ("summary.json", "provenance", {"packages": {"tensorflow": 2}}, "field 'provenance.packages.tensorflow' is 2"),
        ("summary.json", "variables", [{"shape": [1]}], "summary.json: field 'variables.0.name' is missing"),
        ("annotations.json", "tags", ["ok", "no spaces"], "annotations.json: field 'tags.1' is 'no spaces'"),
        ("annotations.json", "note", 7, "annotations.json: field 'note' is 7; expected text"),
        ("ckpt/state-11.json", "done", "11", "ckpt/state-11.json: field 'done' is '11'; expected an integer"),
    ],
)
def test_a_bad_field_makes_the_run_broken_naming_the_file_and_the_field(runs, file, field, value, reason):
    path = runs / GOOD / file
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))
    rows = {row["run_id"]: row for row in strict(cli("list", "--runs", "--format", "json", "--runs-dir", runs).stdout)
            ["runs"]}
    shown = cli("show", GOOD, "--runs-dir", runs)
    if field == "variables":  # list leaves the variables unread; show reads them
        assert rows[GOOD]["status"] == "completed" and reason in shown.stdout
    else:
        assert rows[GOOD]["status"] == "broken" and reason in rows[GOOD]["reason"]
    assert rows[OTHER]["status"] == "completed"
    assert shown.exit_code == 0


def test_a_bad_metrics_row_is_named_by_line_and_field(runs):
    (runs / GOOD / "metrics.csv").write_text(METRICS + "autoencoder,twenty,0.1,\n")
    shown = cli("show", GOOD, "--runs-dir", runs)
    assert "? (metrics.csv line 4: field 'step' is 'twenty'; expected an integer)" in shown.stdout
    compared = cli("compare", GOOD, OTHER, "--runs-dir", runs)
    assert compared.exit_code == 2
    assert compared.stderr == (f"Error: run {GOOD}: metrics.csv line 4: field 'step' is 'twenty'; expected an integer, "
                               "so it cannot be compared.\n")


# --- writes that would not read back are refused ---------------------------------------------------------------


def test_a_note_or_tags_beyond_what_is_read_back_are_refused(runs):
    before = (runs / GOOD / "annotations.json").read_bytes()
    result = cli("note", GOOD, "x" * (NOTE_LIMIT + 1), "--runs-dir", runs)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "field 'note' is 'xxx" in result.stderr and f"at most {NOTE_LIMIT:,} characters" in result.stderr
    assert cli("note", GOOD, "x" * NOTE_LIMIT, "--runs-dir", runs).exit_code == 0
    before = (runs / GOOD / "annotations.json").read_bytes()
    result = cli("tag", GOOD, *[f"t{index}" for index in range(100)], "--runs-dir", runs)
    assert result.exit_code == 2 and "field 'tags' is a list; expected a list of at most 100 items" in result.stderr
    assert (runs / GOOD / "annotations.json").read_bytes() == before
    assert cli("show", GOOD, "--runs-dir", runs).exit_code == 0


# --- item 12: text from records is escaped, csv neutralised --------------------------------------------------

FORGED = "fine\nstatus     completed\x1b[2J\x1b]0;owned\x07\r"


def test_a_note_cannot_forge_a_line_or_reach_the_terminal(runs):
    (runs / GOOD / "annotations.json").write_text(json.dumps({"tags": [], "note": FORGED}))
    summary = json.loads((runs / GOOD / "summary.json").read_text())
    summary.update(status="failed", error="died\nstatus     completed", description="\x1b[31mred")
    (runs / GOOD / "summary.json").write_text(json.dumps(summary))
    for args in (("show", GOOD), ("list", "--runs"), ("compare", GOOD, OTHER), ("compare", GOOD, OTHER, "--format",
                                                                                 "markdown")):
        output = cli(*args, "--runs-dir", runs).stdout
        assert "\x1b" not in output and "\x07" not in output and "\r" not in output, args
        assert not any(line.startswith("status     completed") for line in output.splitlines()), args
    shown = cli("show", GOOD, "--runs-dir", runs).stdout
    assert "note       fine\\nstatus     completed\\x1b[2J\\x1b]0;owned\\x07\\r" in shown
    assert "status     failed: died\\nstatus     completed" in shown


@pytest.mark.parametrize("note", ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(runs, note):
    (runs / GOOD / "annotations.json").write_text(json.dumps({"tags": [], "note": note}))
    output = cli("list", "--runs", "--format", "csv", "--runs-dir", runs).stdout
    (row,) = [row for row in csv.DictReader(io.StringIO(output)) if row["run_id"] == GOOD]
    assert row["note"].startswith("'") and "\t" not in output and "\r" not in output
    assert row["status"] == "completed" and row["value"] == "0.2"  # the other cells are as they were


# --- item 13: json output is strict ----------------------------------------------------------------------------


def test_compare_json_of_a_diverged_run_is_strict_json_with_null_and_a_reason(runs):
    (runs / GOOD / "metrics.csv").write_text(METRICS + "autoencoder,20,inf,\n")
    (runs / OTHER / "metrics.csv").write_text(METRICS + "autoencoder,20,nan,\n")
    result = cli("compare", GOOD, OTHER, "--each", "--format", "json", "--runs-dir", runs)
    assert result.exit_code == 0 and "Infinity" not in result.stdout and "NaN" not in result.stdout
    rows = strict(result.stdout)["comparisons"][0]["rows"]
    (last,) = [row for row in rows if row["step"] == 20]
    values = list(last["values"].values())
    assert {value["mean"] for value in values} == {None}
    assert sorted(value["non_finite"]["mean"] for value in values) == ["inf", "nan"]


def test_show_json_of_a_diverged_run_is_strict_json(runs):
    summary = json.loads((runs / GOOD / "summary.json").read_text())
    summary.update(status="diverged", metrics={"test_loss": float("nan")})
    (runs / GOOD / "summary.json").write_text(json.dumps(summary))
    shown = strict(cli("show", GOOD, "--format", "json", "--runs-dir", runs).stdout)
    assert shown["metrics"] == {"test_loss": None, "non_finite": {"test_loss": "nan"}} and shown["status"] == "diverged"


# --- item 18: a directory scopelab cannot change ---------------------------------------------------------------


@contextmanager
def unwritable(directory: Path):
    """A directory no one may change: read-only permissions, or for root (whom permissions do not stop) the
    immutable attribute."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode != 0:
        pytest.skip("running as root on a filesystem without chattr +i: no way to make a directory unwritable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


@pytest.mark.parametrize(
    ("args", "locked"),
    [
        (("tag", GOOD, "new"), GOOD),
        (("note", GOOD, "new"), GOOD),
        (("rm", GOOD, "--yes"), "."),
        (("restore", OTHER), "."),
        (("purge", "--yes"), ".trash"),
    ],
)
def test_a_directory_that_cannot_be_changed_is_one_line_naming_it(runs, args, locked):
    assert cli("rm", OTHER, "--yes", "--runs-dir", runs).exit_code == 0  # something to restore and purge
    before = sorted(str(path.relative_to(runs)) for path in runs.rglob("*"))
    with unwritable(runs / locked):
        result = cli(*args, "--runs-dir", runs)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert str(runs) in result.stderr and ("Permission denied" in result.stderr or "not permitted" in result.stderr)
    if args[0] == "purge":  # it was told to delete: what it could not is still in the trash
        assert (runs / ".trash" / OTHER).is_dir()
    else:  # unchanged, but for the empty lock files scopelab keeps (docs/reliability.md)
        after = [path for path in sorted(str(path.relative_to(runs)) for path in runs.rglob("*"))
                 if Path(path).name not in ("owner.lock", ".records.lock", ".trash.lock") or path in before]
        assert after == before


# --- the property: hostile values anywhere, every reader survives ----------------------------------------------

DELETE = object()
junk = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.sampled_from(["\x1b[2J", "=cmd|' /C calc'!A0", "\n" * 3, "\u2028", "x" * 20_000, "", "completed", "..", "/"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def paths(data: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path in nested JSON data: each field, and each field of a nested record."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


BASE = base_files()
TARGETS = [(name, path) for name, data in BASE.items() if not isinstance(data, str) for path in paths(data)]
METRIC_CELLS = ["autoencoder", "-1", "1e999", "nan", "", "x" * 300, "\x1b[2J", "=1+1", "3.5", "10", '"a,b"']


@st.composite
def hostile_files(draw) -> dict[str, object]:
    files = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        name, path = draw(st.sampled_from(TARGETS))
        parent = files[name]
        for key in path[:-1]:  # an earlier change may have replaced or deleted part of the path
            parent = parent[key] if isinstance(parent, (dict, list)) and _has(parent, key) else None
        if not (isinstance(parent, (dict, list)) and _has(parent, path[-1])):
            continue
        value = draw(st.one_of(st.just(DELETE), junk))
        if value is DELETE and isinstance(parent, dict):
            del parent[path[-1]]
        elif value is not DELETE:
            parent[path[-1]] = value
    if draw(st.booleans()):  # a metrics.csv row of hostile cells
        row = ",".join(draw(st.lists(st.sampled_from(METRIC_CELLS), min_size=1, max_size=5)))
        files[f"{draw(st.sampled_from([GOOD, OTHER]))}/metrics.csv"] = METRICS + row + "\n"
    if draw(st.booleans()):  # not a mapping at all
        files[draw(st.sampled_from(sorted(name for name in BASE if name.endswith(".json"))))] = draw(junk)
    return files


def _has(container: dict | list, key: object) -> bool:
    return key in container if isinstance(container, dict) else isinstance(key, int) and key < len(container)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_files())
def test_hostile_values_in_any_field_never_take_a_command_down(files):
    with tempfile.TemporaryDirectory() as workdir:
        runs_dir = Path(workdir) / "runs"
        write_files(runs_dir, files)
        where = ("--runs-dir", runs_dir)
        for args in (
            ("list", "--runs"), ("list", "--runs", "--format", "json"), ("list", "--runs", "--format", "csv"),
            ("list", "--sweeps"), ("list", "--sweeps", "--format", "json"), ("list", "--sweeps", "--format", "csv"),
            ("show", GOOD), ("show", OTHER, "--format", "json"), ("show", "tied_ae"),
            ("compare",), ("compare", GOOD, OTHER), ("compare", GOOD, OTHER, "--format", "json"),
            ("compare", GOOD, OTHER, "--each", "--format", "csv"), ("list", "--runs", "--sort", "test_loss"),
        ):
            result = invoke(*args, *where)
            at_most_one_line(result, args)
            assert "\x1b" not in result.output, args
            if "json" in args and result.exit_code == 0:
                strict(result.stdout)
        completion = complete(runs_dir, "show 2026")
        assert completion.exit_code == 0 and completion.exception is None or isinstance(completion.exception,
                                                                                        SystemExit)


def test_every_record_scopelab_writes_reads_back(tmp_path):
    """The writer's check is the reader's: the records of a real-looking sweep pass it."""
    for name, data in BASE.items():
        if name.endswith("summary.json"):
            assert RunRecord.from_json(data).check_writable() == data
        elif name.endswith("sweep.json"):
            assert SweepRecord.from_json(data).check_writable() == data
    run_dir = RunDir(tmp_path)
    run_dir.write_annotations(Annotations(["a"], "n" * NOTE_LIMIT))
    assert run_dir.read_annotations().note == "n" * NOTE_LIMIT
