"""Metrics mean what their experiment declares (its family module's METRICS), never what their name suggests.

A toy experiment family is registered for the test, with a higher-is-better `psnr` (not named acc*) and a
lower-is-better `error_rate`; its runs are written the way training writes them, without training, and read
back through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from scopelab import experiments, plugins
from scopelab.experiments import metric_of
from scopelab.metrics import DEFAULT_DECIMALS, Metric
from scopelab.runs import RunRecord, create_run_dir
from scopelab.trainer import _format_test

from conftest import cli

PSNR = Metric("psnr", higher_is_better=True, decimals=2, label="PSNR", short="psnr dB",
              phrase="peak signal-to-noise ratio", log="psnr (test)", section="test quality")
ERROR_RATE = Metric("error_rate", higher_is_better=False, decimals=3, label="errors", short="error rate",
                    phrase="test error rate", log="error rate (test)", section="test quality")
TOY = plugins.Family(name="toy", entry=plugins.EntryPoint("toy", "toy_family", "toy-package"), module=None,
                     metrics=(PSNR, ERROR_RATE), headline=("psnr",), ensemble=None, configs=None,
                     build_tf1=lambda config, mnist: None, build_tf2=None, validate=None)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(plugins._loaded, "toy", TOY)  # as if an installed plugin's family had been loaded


def toy_run(runs_dir: Path, config_name: str, seed: int, metrics: dict[str, float], experiment: str = "toy") -> str:
    """A completed run directory as the runner writes one: config.yaml, metrics.csv, summary.json."""
    run = create_run_dir(runs_dir, config_name)
    config = {"name": config_name, "experiment": experiment, "model": {"width": len(config_name)},
              "train": {"seed": seed}}
    run.write_text("config.yaml", yaml.safe_dump(config))
    # Loss and accuracy logged too, so the test metrics get a block of their own (under the section title).
    run.write_metrics([{"network": "toy", "step": step, "loss": 1.0 / (step + 1), "accuracy": 0.5} for step in (0, 10)])
    run.write_record(RunRecord(run.run_id, config_name, experiment, "completed", seed=seed, metrics=metrics,
                               steps_total={"toy": 10}))
    return run.run_id


def rows_of(output: str, title: str) -> list[list[str]]:
    """The rows of the text table under `title` (header and rule skipped), cells split on 2+ spaces."""
    lines = output.splitlines()
    start = lines.index(title) + 3
    end = next((index for index in range(start, len(lines)) if not lines[index].strip()), len(lines))
    return [re.split(r"\s{2,}", line.strip()) for line in lines[start:end]]


def cells_of(output: str, prefix: str) -> list[str]:
    """The cells of the one line starting with prefix, split on 2+ spaces."""
    (line,) = [line for line in output.splitlines() if line.startswith(prefix)]
    return re.split(r"\s{2,}", line)


def test_list_sorts_by_the_declared_direction_and_prints_the_declared_label(toy, runs_dir):
    for seed, (psnr, error_rate) in enumerate([(25.0, 0.04), (31.5, 0.09), (28.25, 0.02)]):
        toy_run(runs_dir, "toy_a", seed, {"psnr": psnr, "error_rate": error_rate})
    by_psnr = cli("list", "--runs", "--sort", "psnr", "--runs-dir", runs_dir)
    assert by_psnr.exit_code == 0, by_psnr.output
    # The headline metric, with its declared label and places, highest psnr first.
    assert re.findall(r"psnr dB \S+", by_psnr.stdout) == ["psnr dB 31.50", "psnr dB 28.25", "psnr dB 25.00"]
    rows = json.loads(cli("list", "--sort", "error_rate", "--format", "json", "--runs-dir", runs_dir).stdout)["runs"]
    assert [row["metrics"]["error_rate"] for row in rows] == [0.02, 0.04, 0.09]
    reverse = json.loads(cli("list", "--sort", "psnr", "--reverse", "--format", "json", "--runs-dir", runs_dir).stdout)
    assert [row["value"] for row in reverse["runs"]] == [25.0, 28.25, 31.5]


def test_compare_verdicts_and_tables_follow_the_declaration(toy, runs_dir):
    worse = [(20.0, 0.10), (20.5, 0.11), (21.0, 0.12)]
    better = [(25.0, 0.05), (25.5, 0.06), (26.0, 0.07)]
    for seed in range(3):
        toy_run(runs_dir, "toy_a", seed, dict(zip(("psnr", "error_rate"), worse[seed])))
        toy_run(runs_dir, "toy_b", seed, dict(zip(("psnr", "error_rate"), better[seed])))
    result = cli("compare", "toy_a", "toy_b", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    text = result.stdout
    # Both verdicts favour toy_b: the higher psnr and the lower error rate (Welch, n=3 a side, df=4).
    assert "toy_b beats toy_a on peak signal-to-noise ratio by 5.0 (95% CI 3.9 to 6.1, n=3 each)" in text
    assert "toy_b beats toy_a on test error rate by 0.050 (95% CI 0.027 to 0.073, n=3 each)" in text
    assert rows_of(text, "test quality") == [
        ["PSNR", "20.50 ± 0.50", "25.50 ± 0.50", "+5.00"],
        ["errors", "0.110 ± 0.010", "0.060 ± 0.010", "-0.050"],
    ]
    markdown = cli("compare", "toy_a", "toy_b", "--format", "markdown", "--runs-dir", runs_dir).stdout
    assert "| PSNR | 20.50 ± 0.50 | 25.50 ± 0.50 | +5.00 |" in markdown
    assert "- toy_b beats toy_a on test error rate by 0.050 (95% CI 0.027 to 0.073, n=3 each)" in markdown


def test_show_and_the_trainer_word_a_metric_as_declared(toy, runs_dir):
    run_id = toy_run(runs_dir, "toy_a", 0, {"psnr": 31.234, "error_rate": 0.0456})
    shown = cli("show", run_id, "--runs-dir", runs_dir).stdout
    assert cells_of(shown, "test psnr") == ["test psnr dB", "31.23"]
    assert cells_of(shown, "test error") == ["test error rate", "0.046"]
    assert _format_test(PSNR, 31.234) == "psnr (test) = 31.23"
    assert _format_test(metric_of("toy", "error_rate"), 0.0456) == "error rate (test) = 0.046"


def test_an_undeclared_experiment_gets_the_one_fallback(runs_dir):
    """No name is read for meaning: lower is better, labelled by its name, the default places, no headline."""
    assert metric_of("future", "psnr") == Metric("psnr", False, DEFAULT_DECIMALS, "psnr", "psnr", "psnr", "psnr")
    for seed, psnr in enumerate([25.0, 31.5, 28.25]):
        toy_run(runs_dir, "later", seed, {"psnr": psnr}, experiment="future")
    result = cli("list", "--runs", "--sort", "psnr", "--format", "json", "--runs-dir", runs_dir)
    rows = json.loads(result.stdout)["runs"]
    assert [row["metrics"]["psnr"] for row in rows] == [25.0, 28.25, 31.5]
    assert {row["metric"] for row in rows} == {None}
    shown = cli("show", rows[0]["run_id"], "--runs-dir", runs_dir).stdout
    assert cells_of(shown, "test psnr") == ["test psnr", "25.0000"]


def test_sorting_runs_whose_experiments_disagree_on_the_direction_is_refused(toy, runs_dir):
    toy_run(runs_dir, "toy_a", 0, {"psnr": 30.0})
    toy_run(runs_dir, "later", 0, {"psnr": 20.0}, experiment="future")  # undeclared: lower is better
    result = cli("list", "--sort", "psnr", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert "the runs' experiments disagree on which way psnr is better" in result.stderr


def test_every_family_declares_the_metrics_its_experiment_records():
    """The declarations cannot drift from the graphs: each built-in config's test metrics are declared."""
    from scopelab.config import load_config
    from scopelab.config_source import BUILTIN_DIR
    from scopelab.data import load_mnist

    mnist = load_mnist()  # the bundled copy: the built-in configs' train ranges need all of it
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        config = load_config(path)
        assert config.data.path is None, path.name
        family = plugins.family(config.experiment)
        declared = {metric.name for metric in family.metrics}
        recorded = {name for phase in experiments.build(config, mnist).phases for name in phase.test}
        assert recorded <= declared, path.name
        assert set(family.headline) <= declared and (family.ensemble is None or family.ensemble.combined in declared)
