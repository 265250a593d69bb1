"""`scopelab list --format csv|json --all-keys`: one row per run with every resolved config key, every test
metric, status, tags, note and provenance summary, the same columns for every run (autoencoders and MLP
pairs in one file)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from test_reproduce import write_all

from scopelab.report.listing import EXPORT_COLUMNS

from conftest import cli, summary_of

TIED = "20261127-100000-tied_ae"
SHARED = "20261127-100000-mlp_shared"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """The article's four configs, one run each (written, not trained); one tagged and noted, one with the
    provenance a real run records."""
    runs_dir = tmp_path_factory.mktemp("export") / "runs"
    write_all(runs_dir)
    assert cli("tag", TIED, "baseline", "article", "--runs-dir", runs_dir).exit_code == 0
    assert cli("note", TIED, 'lr 0.1, "quoted", and a comma', "--runs-dir", runs_dir).exit_code == 0
    summary = summary_of(runs_dir / SHARED)
    summary["provenance"] = {"git": {"commit": "0123abcd", "branch": "main", "dirty": True},
                             "packages": {"tensorflow": "2.21.0", "numpy": "2.4.6"}}
    (runs_dir / SHARED / "summary.json").write_text(json.dumps(summary))
    return runs_dir


def exported(runs_dir: Path, fmt: str, *args: str) -> str:
    result = cli("list", "--format", fmt, "--all-keys", "--runs-dir", runs_dir, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_csv_has_one_row_per_run_and_the_same_columns_for_every_family(runs_dir):
    rows = list(csv.reader(io.StringIO(exported(runs_dir, "csv"))))
    header, body = rows[0], rows[1:]
    assert len(body) == 4 and {len(row) for row in body} == {len(header)}
    assert len(set(header)) == len(header) and header[: len(EXPORT_COLUMNS)] == list(EXPORT_COLUMNS)
    # Keys of both families, and the metrics of both: the union, empty where a run has none.
    for key in ("config.model.tied", "config.train.steps", "config.networks.1.scope", "config.sharing",
                "metric.test_loss", "metric.acc_averaged"):
        assert key in header
    by_id = {row["run_id"]: row for row in csv.DictReader(io.StringIO(exported(runs_dir, "csv")))}
    tied, shared = by_id[TIED], by_id[SHARED]
    assert tied["config.model.tied"] == "true" and tied["config.networks.1.scope"] == ""
    assert shared["config.networks.1.scope"] == "mlp1" and shared["config.model.tied"] == ""
    assert float(tied["metric.test_loss"]) == summary_of(runs_dir / TIED)["metrics"]["test_loss"]
    assert float(shared["metric.acc_net2"]) == summary_of(runs_dir / SHARED)["metrics"]["acc_net2"]
    assert tied["tags"] == "baseline,article" and tied["note"] == 'lr 0.1, "quoted", and a comma'
    assert (shared["git_commit"], shared["git_dirty"], shared["tensorflow"]) == ("0123abcd", "true", "2.21.0")
    assert tied["status"] == "completed" and tied["git_commit"] == ""


def test_json_is_a_list_of_flat_objects_with_numbers_as_numbers(runs_dir):
    rows = json.loads(exported(runs_dir, "json"))
    assert len(rows) == 4 and len({tuple(row) for row in rows}) == 1  # the same keys, in the same order
    tied = next(row for row in rows if row["run_id"] == TIED)
    assert tied["config.model.tied"] is True and tied["config.train.steps"] == 500  # --quick's
    assert tied["config.networks.0.steps"] is None and tied["tags"] == ["baseline", "article"]
    assert isinstance(tied["metric.test_loss"], float)


def test_the_filters_of_list_choose_the_rows(runs_dir):
    rows = json.loads(exported(runs_dir, "json", "--config", "tied_ae"))
    assert [row["run_id"] for row in rows] == [TIED]
    assert not any(key.startswith("config.networks") for key in rows[0])  # only the keys of the runs chosen


def test_all_keys_without_csv_or_json_is_an_error_of_one_line(runs_dir):
    result = cli("list", "--all-keys", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert result.stderr == "Error: --all-keys exports every key of every run: give --format csv or --format json.\n"


def test_list_without_all_keys_is_unchanged(runs_dir):
    plain = cli("list", "--runs", "--format", "csv", "--runs-dir", runs_dir).stdout
    assert "config.model.tied" not in plain and plain.splitlines()[0].startswith("run_id,short_id,")
